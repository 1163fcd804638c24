//! The cluster a command talks to, chosen as kubectl chooses it:
//! `--kubeconfig` (else `KUBECONFIG`, else `~/.kube/config`, else the pod's
//! in-cluster credentials), `--context` (else the current context), and
//! `-n` (else the context's namespace, else `default`).

use std::path::PathBuf;

use clap::Args;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use super::bans::Lookup;
use super::error::{PluginError, Result};
use super::output::OutputFormat;

/// Flags every verb takes, placed before or after the verb as with kubectl.
#[derive(Args, Debug, Clone, Default)]
pub struct GlobalArgs {
    /// Path to the kubeconfig file to use.
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,

    /// The kubeconfig context to use.
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,

    /// The namespace to act in (default: the context's namespace).
    #[arg(short = 'n', long, global = true, value_name = "NAMESPACE")]
    pub namespace: Option<String>,

    /// Output format: table (default), json or yaml; csv or jsonl for export.
    #[arg(
        short = 'o',
        long = "output",
        global = true,
        value_enum,
        value_name = "FORMAT"
    )]
    pub output: Option<OutputFormat>,

    /// How `who` and `lift` find a subject's bans: auto (field selectors, or
    /// the operator's interdict.dev/subject label on clusters without
    /// selectable fields), fields, or labels.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "auto",
        value_name = "HOW"
    )]
    pub lookup: Lookup,
}

/// A connected client, with the namespace and user name it acts as.
pub struct Session {
    pub client: Client,
    pub namespace: String,
    /// The kubeconfig context's user (its `user` entry), when there is one.
    pub user: Option<String>,
}

impl Session {
    pub async fn connect(global: &GlobalArgs) -> Result<Session> {
        let unreadable = |e: &dyn std::fmt::Display| {
            PluginError::failed(format!("cannot load the kubeconfig: {e}"))
        };
        let kubeconfig = match &global.kubeconfig {
            Some(path) => Some(Kubeconfig::read_from(path).map_err(|e| {
                PluginError::failed(format!("cannot read kubeconfig {}: {e}", path.display()))
            })?),
            None => Kubeconfig::read().ok(),
        };
        let (config, user) = match kubeconfig {
            Some(kubeconfig) => {
                let context_name = global
                    .context
                    .clone()
                    .or_else(|| kubeconfig.current_context.clone());
                let user = context_name.as_ref().and_then(|name| {
                    kubeconfig
                        .contexts
                        .iter()
                        .find(|c| &c.name == name)
                        .and_then(|c| c.context.as_ref()?.user.clone())
                });
                let missing = global
                    .context
                    .as_ref()
                    .filter(|wanted| !kubeconfig.contexts.iter().any(|c| &c.name == *wanted));
                if let Some(wanted) = missing {
                    return Err(PluginError::usage(format!(
                        "context {wanted:?} is not in the kubeconfig"
                    )));
                }
                let options = KubeConfigOptions {
                    context: global.context.clone(),
                    ..KubeConfigOptions::default()
                };
                let config = Config::from_custom_kubeconfig(kubeconfig, &options)
                    .await
                    .map_err(|e| unreadable(&e))?;
                (config, user)
            }
            None if global.context.is_some() => {
                return Err(PluginError::usage(
                    "--context needs a kubeconfig, and none was found (--kubeconfig, KUBECONFIG or ~/.kube/config)",
                ));
            }
            None => (Config::incluster().map_err(|e| {
                PluginError::failed(format!(
                    "no kubeconfig found (--kubeconfig, KUBECONFIG or ~/.kube/config) and not in a pod: {e}"
                ))
            })?, None),
        };
        let namespace = global
            .namespace
            .clone()
            .unwrap_or_else(|| config.default_namespace.clone());
        let client = Client::try_from(config)
            .map_err(|e| PluginError::failed(format!("cannot build a client: {e}")))?;
        Ok(Session {
            client,
            namespace,
            user,
        })
    }

    /// Who a lift or a decision is recorded as typed by: `--by` or
    /// `--reviewer` when given, else the kubeconfig user. (The API server
    /// records who really made the change on its own, in
    /// `interdict.dev/lifted-by` and `decided-by`.)
    pub fn actor(&self, given: Option<&str>, flag: &str) -> Result<String> {
        given
            .map(str::to_string)
            .or_else(|| self.user.clone())
            .ok_or_else(|| {
                PluginError::usage(format!(
                    "the kubeconfig context names no user: give {flag} NAME"
                ))
            })
    }
}
