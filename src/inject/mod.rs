//! Pod wiring by annotation: a mutating admission webhook that gives a pod the
//! blocklist volume (every shard, one projected volume) and, when asked, the
//! decision sidecar, so application manifests carry two annotations instead of
//! a copied block of YAML that goes stale when `--max-shards` changes.
//!
//! `annotations` reads what a pod asks for, `patch` turns a pod into JSONPatch
//! operations, `sidecar` builds the volume and the container: all three are
//! plain functions of data. `review` answers one AdmissionReview; `tls` keeps
//! the serving certificate fresh as cert-manager rotates it; `serve` wires them
//! to the HTTPS listener every replica runs (leader or not: nothing here
//! touches the cluster).

mod annotations;
mod patch;
mod review;
mod sidecar;
mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use annotations::{Asked, CONTAINERS, INJECT, MOUNT_PATH, Refusal, SIDECAR, WATCH_API, asked};
pub use patch::wire;
pub use review::{Answer, encode, review};
pub use sidecar::{
    DEFAULT_MOUNT_PATH, SIDECAR_LISTEN, SIDECAR_NAME, SIDECAR_PROBE_PORT, VOLUME, blocklist_volume,
    sidecar_container,
};
pub use tls::{CertFiles, TlsError};

/// Where the API server sends pods (the webhook's `clientConfig` path).
pub const MUTATE_PODS_PATH: &str = "/mutate-pods";

/// How often the certificate files are checked for a new pair. kubelet takes
/// 60–90 s to publish a renewed Secret, and cert-manager renews weeks ahead.
const CERT_RELOAD_INTERVAL: Duration = Duration::from_secs(10);

/// What the webhook needs to know about the operator's own configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// The blocklist ConfigMap (shard 0); further shards are `NAME-1`, ...
    pub blocklist_name: String,
    /// Shards a namespace's blocklist may grow to: the volume lists them all.
    pub max_shards: u32,
    /// Image of the injected sidecar. None: pods asking for it are refused,
    /// naming the flag, rather than given a container that cannot start.
    pub sidecar_image: Option<String>,
    /// The operator's offense intake, passed to the sidecar as `--operator-url`.
    pub operator_url: Option<String>,
}

/// Binds `addr` with the certificate pair in `cert_dir` (`tls.crt`, `tls.key`)
/// and returns the bound address and the serving future. A pair that cannot be
/// read fails here, at start-up; a later bad pair is logged and the previous
/// one kept.
pub async fn bind(
    addr: SocketAddr,
    cert_dir: PathBuf,
    settings: Settings,
    client: Option<kube::Client>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(SocketAddr, impl Future<Output = ()> + Send), String> {
    let certs = Arc::new(CertFiles::load(&cert_dir).map_err(|e| e.to_string())?);
    let reloading = certs.clone().reload_every(CERT_RELOAD_INTERVAL);
    let settings = Arc::new(settings);
    let post: crate::http::PostHandler = Arc::new(move |posted: crate::http::Posted| {
        let settings = settings.clone();
        let client = client.clone();
        Box::pin(async move {
            match posted.path.as_str() {
                MUTATE_PODS_PATH => {
                    let answer = review(&posted.body, &settings);
                    answer.log();
                    answer.response
                }
                crate::actor::MUTATE_INTERDICT_PATH => crate::actor::review(&posted.body)
                    .unwrap_or_else(|error| {
                        tracing::warn!(%error, "unreadable admission review");
                        crate::http::Response::error(400, error)
                    }),
                crate::actor::RECORD_DELETION_PATH => match &client {
                    Some(client) => crate::actor::record_deletion(client, &posted.body)
                        .await
                        .unwrap_or_else(|error| {
                            tracing::warn!(%error, "unreadable admission review");
                            crate::http::Response::error(400, error)
                        }),
                    None => {
                        crate::http::Response::error(503, "this server records no deletions".into())
                    }
                },
                other => crate::http::Response::error(
                    404,
                    format!(
                        "no endpoint {other}; POST AdmissionReviews to {MUTATE_PODS_PATH} or {}",
                        crate::actor::MUTATE_INTERDICT_PATH
                    ),
                ),
            }
        })
    });
    let get: crate::http::Handler = Arc::new(|_: &str, path: &str, _: &str| {
        crate::http::Response::error(
            405,
            format!("{path}: the webhook takes AdmissionReviews by POST on {MUTATE_PODS_PATH}"),
        )
    });
    let (bound, serving) = crate::http::bind_tls(
        addr,
        get,
        post,
        crate::http::Limits::default(),
        certs.server_config(),
        shutdown,
    )
    .await?;
    let serving = async move {
        serving.await;
        reloading.abort();
    };
    Ok((bound, serving))
}
