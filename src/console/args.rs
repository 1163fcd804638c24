//! `interdict console`'s flags. Two ways to know who the moderator is: the
//! caller's own kubeconfig on their machine (local, the default), or the
//! bearer token an authenticating proxy puts on each request (in a cluster).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

/// Whose rights a request is made with.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMode {
    /// The kubeconfig of the user who started the console; the page is only
    /// reachable on 127.0.0.1 through the one-time link printed at start.
    Local,
    /// Each request's `Authorization: Bearer` token, set by an authenticating
    /// proxy in front; the console has no rights of its own.
    Bearer,
}

#[derive(Args, Debug, Clone)]
pub struct ConsoleArgs {
    /// Local mode: the port on 127.0.0.1 (0: any free port; the URL printed
    /// at start names it).
    #[arg(long, default_value_t = 0, value_name = "PORT")]
    pub port: u16,

    /// `local` (default): act with your kubeconfig, serve 127.0.0.1 only.
    /// `bearer`: act with each request's bearer token (behind an
    /// authenticating proxy; see docs/console.md).
    #[arg(long, value_enum, default_value_t = AuthMode::Local, env = "INTERDICT_CONSOLE_AUTH")]
    pub auth: AuthMode,

    /// The same as --auth=bearer: how the chart runs the console in a pod.
    #[arg(long, conflicts_with = "auth")]
    pub in_cluster: bool,

    /// Bearer mode: the address to listen on.
    #[arg(
        long,
        default_value = "0.0.0.0:8080",
        value_name = "ADDR",
        env = "INTERDICT_CONSOLE_LISTEN"
    )]
    pub listen: SocketAddr,

    /// Bearer mode: the URL moderators open (the proxy's), e.g.
    /// https://moderation.example.com. Form posts must come from this origin.
    #[arg(long, value_name = "URL", env = "INTERDICT_CONSOLE_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Local mode: the kubeconfig (default KUBECONFIG, else ~/.kube/config).
    /// Bearer mode: only its cluster address and CA are used (default: the
    /// pod's in-cluster address), never its credentials.
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,

    /// Local mode: the kubeconfig context (default its current context).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,

    /// Namespaces to search and list (repeatable or comma-separated).
    /// Default: every namespace the moderator may list, else the
    /// kubeconfig context's namespace.
    #[arg(
        short = 'n',
        long = "namespace",
        value_name = "NAMESPACE",
        value_delimiter = ',',
        env = "INTERDICT_CONSOLE_NAMESPACES"
    )]
    pub namespaces: Vec<String>,

    /// The blocklist ConfigMap's name (the operator's --blocklist-name), for
    /// "what does this user see".
    #[arg(
        long,
        default_value = "interdict-blocklist",
        env = "INTERDICT_BLOCKLIST_NAME"
    )]
    pub blocklist_name: String,
}

impl ConsoleArgs {
    pub fn mode(&self) -> AuthMode {
        if self.in_cluster {
            AuthMode::Bearer
        } else {
            self.auth
        }
    }
}
