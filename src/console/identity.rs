//! Whose rights each request uses. Local mode: the kubeconfig of the person
//! who started the console, as `kubectl interdict` would. Bearer mode: a
//! client built for each request from the cluster's address and CA plus the
//! request's own bearer token, so the API server authorises every call as the
//! moderator; the console's ServiceAccount is never used for them.

use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use kube::api::{Api, PostParams};
use kube::config::{AuthInfo, KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use super::args::{AuthMode, ConsoleArgs};
use crate::plugin::session::{GlobalArgs, Session};

pub enum Access {
    /// One client for every request, with the name lifts and decisions are
    /// recorded as typed by (the kubeconfig user, as the plugin records it).
    Local {
        client: Client,
        actor: String,
        /// Who the API server says these credentials are, for the header.
        shown: String,
        namespace: String,
    },
    /// The cluster to call; credentials come with each request.
    Bearer { base: Box<Config> },
}

impl Access {
    pub async fn new(args: &ConsoleArgs) -> Result<Access, String> {
        match args.mode() {
            AuthMode::Local => {
                let global = GlobalArgs {
                    kubeconfig: args.kubeconfig.clone(),
                    context: args.context.clone(),
                    namespace: None,
                    output: None,
                    lookup: crate::plugin::bans::Lookup::Auto,
                };
                let session = Session::connect(&global).await.map_err(|e| e.to_string())?;
                let authenticated = who_am_i(&session.client).await?;
                let actor = session
                    .user
                    .clone()
                    .unwrap_or_else(|| authenticated.clone());
                let shown = if authenticated == actor {
                    actor.clone()
                } else {
                    format!("{authenticated} (kubeconfig user {actor})")
                };
                Ok(Access::Local {
                    client: session.client,
                    actor,
                    shown,
                    namespace: session.namespace,
                })
            }
            AuthMode::Bearer => {
                let base = match &args.kubeconfig {
                    Some(path) => {
                        let kubeconfig = Kubeconfig::read_from(path).map_err(|e| {
                            format!("cannot read kubeconfig {}: {e}", path.display())
                        })?;
                        Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                            .await
                            .map_err(|e| format!("cannot use kubeconfig {}: {e}", path.display()))?
                    }
                    None => Config::incluster().map_err(|e| {
                        format!(
                            "bearer mode needs the pod's cluster address (or --kubeconfig): {e}"
                        )
                    })?,
                };
                Ok(Access::Bearer {
                    base: Box::new(base),
                })
            }
        }
    }

    /// The namespace forms start with.
    pub fn default_namespace(&self) -> String {
        match self {
            Access::Local { namespace, .. } => namespace.clone(),
            Access::Bearer { base } => base.default_namespace.clone(),
        }
    }

    /// The client for one request, the name lifts and decisions record,
    /// and who the page says the moderator is.
    /// `Err` holds the status to answer with and why.
    pub async fn caller(
        &self,
        bearer: Option<&str>,
    ) -> Result<(Client, String, String), (u16, String)> {
        match (self, bearer) {
            (
                Access::Local {
                    client,
                    actor,
                    shown,
                    ..
                },
                _,
            ) => Ok((client.clone(), actor.clone(), shown.clone())),
            (Access::Bearer { base }, Some(token)) => {
                let mut config = (**base).clone();
                // Only the request's token: no client certificate, token file
                // or exec plugin of the console's own may come along.
                config.auth_info =
                    serde_json::from_value::<AuthInfo>(serde_json::json!({ "token": token }))
                        .map_err(|e| (400, format!("cannot use the bearer token: {e}")))?;
                let client = Client::try_from(config)
                    .map_err(|e| (502, format!("cannot build a client: {e}")))?;
                let actor = who_am_i(&client).await.map_err(|e| {
                    // A token the API server does not accept is the caller's problem.
                    let status = if e.contains("401") { 401 } else { 502 };
                    (status, e)
                })?;
                Ok((client, actor.clone(), actor))
            }
            (Access::Bearer { .. }, None) => Err((401, "no bearer token".to_string())),
        }
    }
}

/// The user name the API server knows these credentials by
/// (SelfSubjectReview, which every authenticated user may create).
pub async fn who_am_i(client: &Client) -> Result<String, String> {
    let review = Api::<SelfSubjectReview>::all(client.clone())
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await
        .map_err(|e| match e {
            kube::Error::Api(status) if status.code == 401 => {
                "the API server does not accept these credentials (401 Unauthorized)".to_string()
            }
            other => format!("cannot ask the API server who this is: {other}"),
        })?;
    review
        .status
        .and_then(|s| s.user_info)
        .and_then(|u| u.username)
        .ok_or_else(|| "the API server did not say who this is".to_string())
}
