//! The pieces a wired pod gets: the projected blocklist volume and the
//! decision sidecar, as docs/applications.md shows them by hand.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMapProjection, Container, EnvVar, EnvVarSource, HTTPGetAction,
    ObjectFieldSelector, Probe, ProjectedVolumeSource, ResourceRequirements, SeccompProfile,
    SecurityContext, Volume, VolumeMount, VolumeProjection,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::Settings;

/// The volume the webhook adds (and recognises on a pod it already wired).
pub const VOLUME: &str = "interdict-blocklist";
/// The sidecar container's name (and how a pod that has one is recognised).
pub const SIDECAR_NAME: &str = "interdict";
/// Where the blocklist is mounted unless the pod says otherwise.
pub const DEFAULT_MOUNT_PATH: &str = "/etc/interdict";
/// Where the sidecar answers the application: loopback only, so decisions
/// about the pod's users are not offered to the whole cluster network.
pub const SIDECAR_LISTEN: &str = "127.0.0.1:8080";
/// The sidecar's probe and metrics port on the pod's address: kubelet probes
/// the pod IP, which a loopback listener never sees.
pub const SIDECAR_PROBE_PORT: u16 = 8081;
/// The non-root user of the operator image.
const IMAGE_USER: i64 = 65532;

/// One projected volume over every shard `NAME`, `NAME-1`, ... up to
/// `max_shards - 1`. Each source is optional: the pod starts before the
/// namespace has a blocklist, and shards appear as the blocklist grows.
pub fn blocklist_volume(settings: &Settings) -> Volume {
    let sources = (0..settings.max_shards.max(1))
        .map(|index| VolumeProjection {
            config_map: Some(ConfigMapProjection {
                name: crate::controller::shard_name(&settings.blocklist_name, index),
                optional: Some(true),
                ..ConfigMapProjection::default()
            }),
            ..VolumeProjection::default()
        })
        .collect();
    Volume {
        name: VOLUME.to_string(),
        projected: Some(ProjectedVolumeSource {
            sources: Some(sources),
            ..ProjectedVolumeSource::default()
        }),
        ..Volume::default()
    }
}

pub fn blocklist_mount(volume: &str, mount_path: &str) -> VolumeMount {
    VolumeMount {
        name: volume.to_string(),
        mount_path: mount_path.to_string(),
        read_only: Some(true),
        ..VolumeMount::default()
    }
}

/// `interdict serve` as a native sidecar (an init container that keeps
/// running): it starts before the app containers, and in a Job it ends when
/// they do instead of keeping the pod alive.
pub fn sidecar_container(
    image: &str,
    volume: &str,
    mount_path: &str,
    watch_api: bool,
    settings: &Settings,
) -> Container {
    let mut args: Vec<String> = [
        "serve",
        "--dir",
        mount_path,
        "--listen",
        SIDECAR_LISTEN,
        "--metrics-addr",
        &format!("0.0.0.0:{SIDECAR_PROBE_PORT}"),
    ]
    .map(String::from)
    .to_vec();
    if let Some(url) = &settings.operator_url {
        args.extend(["--operator-url".to_string(), url.clone()]);
    }
    if watch_api {
        // The shard names the operator writes; the pod's ServiceAccount
        // needs the chart's blocklist-reader role in its namespace.
        args.extend([
            "--watch-api".to_string(),
            "--blocklist-name".to_string(),
            settings.blocklist_name.clone(),
            "--max-shards".to_string(),
            settings.max_shards.to_string(),
        ]);
    }
    let probe = |path: &str| Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_string()),
            port: IntOrString::Int(SIDECAR_PROBE_PORT.into()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(5),
        ..Probe::default()
    };
    Container {
        name: SIDECAR_NAME.to_string(),
        image: Some(image.to_string()),
        args: Some(args),
        // Offense reports are filed in the pod's namespace; the token file
        // that would also tell it is absent when the pod opts out of tokens.
        env: Some(vec![EnvVar {
            name: "POD_NAMESPACE".to_string(),
            value_from: Some(EnvVarSource {
                field_ref: Some(ObjectFieldSelector {
                    field_path: "metadata.namespace".to_string(),
                    ..ObjectFieldSelector::default()
                }),
                ..EnvVarSource::default()
            }),
            ..EnvVar::default()
        }]),
        restart_policy: Some("Always".to_string()),
        volume_mounts: Some(vec![blocklist_mount(volume, mount_path)]),
        readiness_probe: Some(probe("/readyz")),
        liveness_probe: Some(probe("/healthz")),
        // Requests only: the sidecar holds the blocklist in memory, and a
        // limit would turn a grown blocklist into an OOM-killed pod.
        resources: Some(ResourceRequirements {
            requests: Some(BTreeMap::from([
                ("cpu".to_string(), Quantity("10m".to_string())),
                ("memory".to_string(), Quantity("32Mi".to_string())),
            ])),
            ..ResourceRequirements::default()
        }),
        security_context: Some(SecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(IMAGE_USER),
            run_as_group: Some(IMAGE_USER),
            read_only_root_filesystem: Some(true),
            allow_privilege_escalation: Some(false),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".to_string()]),
                ..Capabilities::default()
            }),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".to_string(),
                ..SeccompProfile::default()
            }),
            ..SecurityContext::default()
        }),
        ..Container::default()
    }
}
