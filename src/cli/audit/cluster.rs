//! Reading the cluster for `interdict audit`: the client from a kubeconfig as
//! kubectl finds it, and the lists a report needs, page by page. A refusal
//! is said in plain words, naming the verb, the resource and the namespace.

use std::fmt::Debug;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config, Resource};
use serde::de::DeserializeOwned;

use crate::api::{BanAppeal, BanExemption, BanPolicy, FeatureBlock, UserBan};
use crate::audit::report::objects::Objects;

/// How to reach the cluster and where to read, as kubectl spells it.
#[derive(Args, Debug, Clone, Default)]
pub struct ClusterArgs {
    /// The kubeconfig to use. Default: $KUBECONFIG, else ~/.kube/config, else
    /// the pod's service account.
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,

    /// The kubeconfig context to use. Default: its current context.
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,

    /// Namespace to read; repeat (or separate with commas) for several.
    /// Default: the context's namespace (for `audit subject`: every
    /// namespace the caller may read).
    #[arg(
        short = 'n',
        long = "namespace",
        value_name = "NAMESPACE",
        value_delimiter = ','
    )]
    pub namespaces: Vec<String>,

    /// Read every namespace.
    #[arg(short = 'A', long, conflicts_with = "namespaces")]
    pub all_namespaces: bool,
}

impl ClusterArgs {
    /// Whether any flag asks for the cluster.
    pub fn any(&self) -> bool {
        self.kubeconfig.is_some()
            || self.context.is_some()
            || !self.namespaces.is_empty()
            || self.all_namespaces
    }
}

/// Where to list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every namespace at once (needs cluster-wide `list`).
    All,
    Namespaces(Vec<String>),
}

impl Scope {
    /// For reports: the namespaces named, else what the context names.
    pub fn of(args: &ClusterArgs, default_namespace: &str) -> Scope {
        if args.all_namespaces {
            Scope::All
        } else if args.namespaces.is_empty() {
            Scope::Namespaces(vec![default_namespace.to_string()])
        } else {
            let mut namespaces = args.namespaces.clone();
            namespaces.sort();
            namespaces.dedup();
            Scope::Namespaces(namespaces)
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Scope::All => "every namespace".into(),
            Scope::Namespaces(namespaces) => namespaces.join(", "),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot load the kubeconfig: {0}")]
    Kubeconfig(String),
    #[error("you may not {verb} {resource} {place}")]
    Forbidden {
        verb: &'static str,
        resource: String,
        place: String,
    },
    #[error("the API server does not serve {resource}: are the Interdict CRDs installed?")]
    NotServed { resource: String },
    #[error("the API server did not accept the credentials of the kubeconfig: {0}")]
    Unauthorized(String),
    #[error("cannot list {resource} {place}: {message}")]
    Failed {
        resource: String,
        place: String,
        message: String,
    },
}

impl ClusterError {
    pub fn is_forbidden(&self) -> bool {
        matches!(self, ClusterError::Forbidden { .. })
    }
}

fn place(namespace: Option<&str>) -> String {
    match namespace {
        Some(namespace) => format!("in namespace {namespace}"),
        None => "in every namespace (cluster-wide)".into(),
    }
}

fn refusal(error: kube::Error, resource: &str, namespace: Option<&str>) -> ClusterError {
    match error {
        kube::Error::Api(status) if status.code == 403 => ClusterError::Forbidden {
            verb: "list",
            resource: resource.to_string(),
            place: place(namespace),
        },
        kube::Error::Api(status) if status.code == 404 => ClusterError::NotServed {
            resource: resource.to_string(),
        },
        kube::Error::Api(status) if status.code == 401 => {
            ClusterError::Unauthorized(status.message.clone())
        }
        kube::Error::Api(status) => ClusterError::Failed {
            resource: resource.to_string(),
            place: place(namespace),
            message: status.message.clone(),
        },
        other => ClusterError::Failed {
            resource: resource.to_string(),
            place: place(namespace),
            message: format!("the API server cannot be reached ({other})"),
        },
    }
}

/// A client as kubectl would make one, and the namespace its context names.
pub async fn connect(args: &ClusterArgs) -> Result<(Client, String), ClusterError> {
    let options = KubeConfigOptions {
        context: args.context.clone(),
        ..KubeConfigOptions::default()
    };
    let loaded = match &args.kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path)
                .map_err(|e| ClusterError::Kubeconfig(format!("{}: {e}", path.display())))?;
            Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|e| e.to_string())
        }
        None if args.context.is_some() => Config::from_kubeconfig(&options)
            .await
            .map_err(|e| e.to_string()),
        None => Config::infer().await.map_err(|e| e.to_string()),
    };
    let mut config = loaded.map_err(ClusterError::Kubeconfig)?;
    // A report is one short conversation: an unreachable server should say so
    // in seconds, not after kube's defaults meant for watches.
    config.connect_timeout = Some(Duration::from_secs(10));
    config.read_timeout = Some(Duration::from_secs(60));
    let namespace = config.default_namespace.clone();
    let client = Client::try_from(config).map_err(|e| ClusterError::Kubeconfig(e.to_string()))?;
    Ok((client, namespace))
}

/// Lists every `K` in `namespace` (`None`: everywhere), page by page.
pub async fn list<K>(
    client: &Client,
    namespace: Option<&str>,
    resource: &str,
) -> Result<Vec<K>, ClusterError>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Debug,
{
    let api: Api<K> = match namespace {
        Some(namespace) => Api::namespaced(client.clone(), namespace),
        None => Api::all(client.clone()),
    };
    list_pages(&api, ListParams::default(), namespace, resource).await
}

async fn list_pages<K>(
    api: &Api<K>,
    params: ListParams,
    namespace: Option<&str>,
    resource: &str,
) -> Result<Vec<K>, ClusterError>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let mut items = Vec::new();
    let mut params = params.limit(500);
    loop {
        let page = api
            .list(&params)
            .await
            .map_err(|e| refusal(e, resource, namespace))?;
        items.extend(page.items);
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => return Ok(items),
        }
    }
}

/// The names of every namespace, for a search that may not list everywhere at once.
pub async fn namespaces(client: &Client) -> Result<Vec<String>, ClusterError> {
    let api: Api<Namespace> = Api::all(client.clone());
    let list = list_pages(&api, ListParams::default(), None, "namespaces").await;
    let mut names: Vec<String> = list
        .map_err(|e| match e {
            ClusterError::Forbidden { resource, .. } => ClusterError::Forbidden {
                verb: "list",
                resource,
                place: "(a cluster-wide permission)".into(),
            },
            other => other,
        })?
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    names.sort();
    Ok(names)
}

/// The blocklist ConfigMaps the operator manages in `namespace`: selected
/// by its label, so no other ConfigMap's data is read.
pub async fn blocklists(
    client: &Client,
    namespace: Option<&str>,
    name_prefix: &str,
) -> Result<Vec<ConfigMap>, ClusterError> {
    let api: Api<ConfigMap> = match namespace {
        Some(namespace) => Api::namespaced(client.clone(), namespace),
        None => Api::all(client.clone()),
    };
    let params = ListParams::default().labels("app.kubernetes.io/managed-by=interdict");
    let found = list_pages(&api, params, namespace, "configmaps").await?;
    Ok(found
        .into_iter()
        .filter(|c| {
            c.metadata
                .name
                .as_deref()
                .is_some_and(|n| n.starts_with(name_prefix))
        })
        .collect())
}

/// One kind of what a report reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    UserBans,
    FeatureBlocks,
    BanAppeals,
    BanExemptions,
    BanPolicies,
    Events,
}

impl Part {
    pub const ALL: [Part; 6] = [
        Part::UserBans,
        Part::FeatureBlocks,
        Part::BanAppeals,
        Part::BanExemptions,
        Part::BanPolicies,
        Part::Events,
    ];

    /// The resource as RBAC names it.
    pub fn resource(self) -> &'static str {
        match self {
            Part::UserBans => "userbans",
            Part::FeatureBlocks => "featureblocks",
            Part::BanAppeals => "banappeals",
            Part::BanExemptions => "banexemptions",
            Part::BanPolicies => "banpolicies",
            Part::Events => "events",
        }
    }

    /// The kind listed, for the parts that are Interdict kinds.
    pub fn kind(self) -> Option<&'static str> {
        match self {
            Part::UserBans => Some("UserBan"),
            Part::FeatureBlocks => Some("FeatureBlock"),
            Part::BanAppeals => Some("BanAppeal"),
            Part::BanExemptions => Some("BanExemption"),
            Part::BanPolicies => Some("BanPolicy"),
            Part::Events => None,
        }
    }

    /// Lists this part in one place into `objects`.
    pub async fn list_into(
        self,
        client: &Client,
        namespace: Option<&str>,
        objects: &mut Objects,
    ) -> Result<(), ClusterError> {
        let resource = self.resource();
        match self {
            Part::UserBans => objects
                .user_bans
                .extend(list::<UserBan>(client, namespace, resource).await?),
            Part::FeatureBlocks => objects
                .feature_blocks
                .extend(list::<FeatureBlock>(client, namespace, resource).await?),
            Part::BanAppeals => objects
                .appeals
                .extend(list::<BanAppeal>(client, namespace, resource).await?),
            Part::BanExemptions => objects
                .exemptions
                .extend(list::<BanExemption>(client, namespace, resource).await?),
            Part::BanPolicies => objects
                .policies
                .extend(list::<BanPolicy>(client, namespace, resource).await?),
            Part::Events => objects
                .events
                .extend(list::<Event>(client, namespace, resource).await?),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error(code: u16) -> kube::Error {
        kube::Error::Api(Box::new(kube::core::Status {
            code,
            message: "no".into(),
            ..Default::default()
        }))
    }

    #[test]
    fn refusals_are_said_plainly() {
        assert_eq!(
            refusal(api_error(403), "userbans", Some("apps")).to_string(),
            "you may not list userbans in namespace apps"
        );
        assert_eq!(
            refusal(api_error(403), "events", None).to_string(),
            "you may not list events in every namespace (cluster-wide)"
        );
        assert!(refusal(api_error(403), "x", None).is_forbidden());
        assert_eq!(
            refusal(api_error(404), "banpolicies", Some("apps")).to_string(),
            "the API server does not serve banpolicies: are the Interdict CRDs installed?"
        );
        assert!(
            refusal(api_error(401), "userbans", None)
                .to_string()
                .contains("credentials")
        );
        assert_eq!(
            refusal(api_error(500), "userbans", Some("apps")).to_string(),
            "cannot list userbans in namespace apps: no"
        );
    }

    #[test]
    fn the_scope_follows_the_flags_like_kubectl() {
        let none = ClusterArgs::default();
        assert!(!none.any());
        assert_eq!(
            Scope::of(&none, "team"),
            Scope::Namespaces(vec!["team".into()])
        );
        let all = ClusterArgs {
            all_namespaces: true,
            ..ClusterArgs::default()
        };
        assert!(all.any());
        assert_eq!(Scope::of(&all, "team"), Scope::All);
        let some = ClusterArgs {
            namespaces: vec!["b".into(), "a".into(), "b".into()],
            ..ClusterArgs::default()
        };
        assert_eq!(
            Scope::of(&some, "team"),
            Scope::Namespaces(vec!["a".into(), "b".into()])
        );
        assert_eq!(Scope::of(&some, "team").describe(), "a, b");
    }
}
