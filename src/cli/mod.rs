//! The `interdict` command line.

pub mod audit;
mod check;
mod hash_email;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use audit::AuditArgs;
pub use check::CheckArgs;
pub use hash_email::HashEmailArgs;

#[derive(Parser, Debug)]
#[command(
    name = "interdict",
    version,
    about = "Bans, suspensions and feature blocks for the users of your applications, as Kubernetes resources"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// One value per process, parsed at start-up: boxing `run`'s many flags would
// only move a few hundred bytes to the heap.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the controller against the cluster of the current kubeconfig (or in-cluster config).
    Run(RunArgs),
    /// Print the CustomResourceDefinitions and their admission policy as YAML (what `crds/` holds).
    Crds,
    /// Answer one decision from a blocklist directory; prints one JSON object.
    Check(CheckArgs),
    /// Serve decisions over HTTP from a blocklist directory (the decision sidecar).
    Serve(ServeArgs),
    /// Read the record after the fact: reports for compliance reviews (the
    /// default), `audit subject` for data-subject requests, `audit verify`
    /// to check the hash chain of audit files.
    Audit(AuditArgs),
    /// Print the hash a ban can name an email by (`spec.subject.email:
    /// sha256:...`), and with a key the keyed form blocklists then carry.
    HashEmail(HashEmailArgs),
    /// The moderation web page: search subjects, ban, silence, block, lift,
    /// decide appeals, see recent activity and what a user sees, with your
    /// own Kubernetes rights. Local mode (default) serves 127.0.0.1 with the
    /// one-time link it prints; see docs/console.md.
    Console(crate::console::ConsoleArgs),
}

/// `--email-hash-key-file`, shared by `run`, `serve`, `check` and `hash-email`.
#[derive(Args, Debug, Clone, Default)]
pub struct EmailKeyArg {
    /// File holding the key of keyed email hashes, shared by the operator and
    /// the applications (a mounted Secret). The content, without surrounding
    /// blanks, is the key; at least 16 bytes. See docs/security.md.
    #[arg(long, value_name = "FILE", env = "INTERDICT_EMAIL_HASH_KEY_FILE")]
    pub email_hash_key_file: Option<PathBuf>,
}

impl EmailKeyArg {
    /// The key, if a file was given; an unreadable or too short key is an
    /// error that names the file.
    pub fn load(&self) -> Result<Option<crate::core::EmailKey>, String> {
        self.email_hash_key_file
            .as_deref()
            .map(crate::reader::read_email_key)
            .transpose()
            .map_err(|e| e.to_string())
    }
}

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Blocklist directory: where the ConfigMap is mounted.
    #[arg(long, value_name = "DIR", env = "INTERDICT_BLOCKLIST_DIR")]
    pub dir: PathBuf,

    /// Address to listen on. Keep it on loopback when the sidecar shares the pod.
    #[arg(
        long,
        default_value = "127.0.0.1:8080",
        value_name = "ADDR",
        env = "INTERDICT_LISTEN"
    )]
    pub listen: std::net::SocketAddr,

    /// Also serve /healthz, /readyz and /metrics, and no decisions, on this
    /// address, e.g. 0.0.0.0:8081: kubelet probes the pod's IP, which a
    /// loopback --listen never sees.
    #[arg(long, value_name = "ADDR", env = "INTERDICT_METRICS_ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,

    /// How often to look for a new copy of the directory.
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    pub reload_interval_ms: u64,

    /// Most connections served at once. Past it, new clients wait in the
    /// kernel's accept queue until a connection closes.
    #[arg(long, default_value_t = 4096, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,

    /// Close a connection whose request headers are not complete this long after
    /// it starts waiting for a request (e.g. 500ms, 5s, 1m).
    #[arg(long, default_value = "5s", value_name = "DURATION", value_parser = crate::serve::parse_timeout)]
    pub header_timeout: std::time::Duration,

    /// Close a connection on which no byte has moved either way for this long.
    #[arg(long, default_value = "60s", value_name = "DURATION", value_parser = crate::serve::parse_timeout)]
    pub idle_timeout: std::time::Duration,

    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, env = "INTERDICT_LOG_FORMAT")]
    pub log_format: LogFormat,

    /// Before the first blocklist has loaded (an empty or broken mount),
    /// answer decisions as if nobody were banned. Default: 503 with the
    /// reason, so nothing is allowed by mistake.
    #[arg(long, env = "INTERDICT_FAIL_OPEN")]
    pub fail_open: bool,

    /// The operator's offense intake (`interdict run --intake-addr`), e.g.
    /// `http://interdict-intake.interdict-system:8082`: `POST /v1/offenses`
    /// on the sidecar passes reports on there. Unset: reporting answers 503.
    #[arg(long, value_name = "URL", env = "INTERDICT_OPERATOR_URL")]
    pub operator_url: Option<String>,

    /// The pod's ServiceAccount token, sent with each report (re-read every
    /// time: kubelet rotates it).
    #[arg(
        long,
        default_value = "/var/run/secrets/kubernetes.io/serviceaccount/token",
        value_name = "PATH",
        env = "INTERDICT_TOKEN_FILE"
    )]
    pub token_file: PathBuf,

    /// Namespace reports and appeals are filed in, and whose blocklist
    /// --watch-api follows. Default: the pod's own namespace.
    #[arg(long, value_name = "NAMESPACE", env = "POD_NAMESPACE")]
    pub namespace: Option<String>,

    /// Also watch the namespace's blocklist ConfigMaps on the API server (with
    /// the pod's ServiceAccount, which needs get, list and watch on them): a
    /// new ban is answered in well under a second instead of after kubelet's
    /// 60–90 s mount refresh. The mounted --dir is followed until the first
    /// copy arrives and whenever the watch fails.
    #[arg(long, env = "INTERDICT_WATCH_API")]
    pub watch_api: bool,

    /// Name of the blocklist ConfigMap (the operator's --blocklist-name).
    #[arg(
        long,
        default_value = "interdict-blocklist",
        env = "INTERDICT_BLOCKLIST_NAME"
    )]
    pub blocklist_name: String,

    /// The operator's --max-shards: how many shard ConfigMaps --watch-api follows.
    #[arg(long, default_value_t = 16, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=256))]
    pub max_shards: u32,

    /// The operator's email key: a query's email also matches entries keyed with it.
    #[command(flatten)]
    pub email_key: EmailKeyArg,
}

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Namespace to watch; repeat for several. Default: every namespace.
    #[arg(
        long = "namespace",
        short = 'n',
        value_name = "NAMESPACE",
        env = "INTERDICT_NAMESPACES",
        value_delimiter = ','
    )]
    pub namespaces: Vec<String>,

    /// Name of the blocklist ConfigMap kept in each namespace that has bans.
    #[arg(
        long,
        default_value = "interdict-blocklist",
        env = "INTERDICT_BLOCKLIST_NAME"
    )]
    pub blocklist_name: String,

    /// Label selector of the namespaces that get a blocklist before their first
    /// ban (an empty one), when every namespace is watched: pods mounting it
    /// then always find a valid blocklist. Namespaces given with --namespace
    /// always get one; "" turns the label off.
    #[arg(
        long,
        default_value = "interdict.dev/blocklist=enabled",
        value_name = "SELECTOR",
        env = "INTERDICT_BLOCKLIST_NAMESPACE_LABEL"
    )]
    pub blocklist_namespace_label: String,

    /// Most ConfigMaps one namespace's blocklist may be split into
    /// (`NAME`, `NAME-1`, ...; pods mount them with one projected volume). A
    /// blocklist starts as one ConfigMap and doubles its shard count only when a
    /// shard would pass --shard-max-bytes: 16 × 800 KiB holds about 60k bans.
    #[arg(long, default_value_t = 16, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=256))]
    pub max_shards: u32,

    /// Split the blocklist when a ConfigMap's data would exceed this many bytes
    /// (the API server refuses objects over 1 MiB).
    #[arg(long, default_value_t = 800 * 1024, value_name = "BYTES")]
    pub shard_max_bytes: usize,

    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, env = "INTERDICT_LOG_FORMAT")]
    pub log_format: LogFormat,

    /// Also append every audit line to this file (audit lines always go to
    /// stdout), each sealed into a hash chain (`interdict audit verify`).
    #[arg(long, value_name = "FILE", env = "INTERDICT_AUDIT_LOG")]
    pub audit_log: Option<PathBuf>,

    /// Rotate the --audit-log file before a line would take it past this many
    /// bytes: FILE becomes FILE.1 (older ones FILE.2, ...) and the chain goes
    /// on in a new FILE. 0: never rotate.
    #[arg(
        long,
        default_value_t = 100 * 1024 * 1024,
        value_name = "BYTES",
        env = "INTERDICT_AUDIT_LOG_MAX_BYTES"
    )]
    pub audit_log_max_bytes: u64,

    /// Rotated --audit-log files kept (FILE.1 ... FILE.K); the oldest beyond
    /// them is deleted at each rotation.
    #[arg(
        long,
        default_value_t = 10,
        value_name = "K",
        env = "INTERDICT_AUDIT_LOG_KEEP",
        value_parser = clap::value_parser!(u32).range(1..=10_000)
    )]
    pub audit_log_keep: u32,

    /// Passes over one namespace start at most this often: a change after a quiet
    /// spell is written at once, a burst becomes a few writes.
    #[arg(long, default_value_t = 50, value_name = "MS")]
    pub debounce_ms: u64,

    /// Serve /metrics, /healthz and /readyz on this address (e.g. 0.0.0.0:9090).
    #[arg(long, value_name = "ADDR", env = "INTERDICT_METRICS_ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,

    /// Run several replicas: only the holder of the leader Lease reconciles.
    #[arg(long)]
    pub leader_elect: bool,

    /// Name of the leader Lease.
    #[arg(long, default_value = "interdict-leader", value_name = "NAME")]
    pub lease_name: String,

    /// Namespace whose bans apply to every namespace that opts in (global bans).
    #[arg(long, value_name = "NAMESPACE", env = "INTERDICT_GLOBAL_NAMESPACE")]
    pub global_namespace: Option<String>,

    /// Label selector of the namespaces that receive global bans.
    #[arg(
        long,
        default_value = "interdict.dev/global-bans=true",
        value_name = "SELECTOR"
    )]
    pub global_opt_in_label: String,

    /// After a blocklist change, annotate the pods that mount it so kubelet
    /// refreshes the mount at once instead of within 60–90 s. Needs `patch` on pods.
    #[arg(long)]
    pub nudge_pods: bool,

    /// Delete ended bans, decided appeals and ended exemptions this long after
    /// they ended (e.g. `90d`), each with a final Event and audit line; an
    /// object's `interdict.dev/retention` annotation overrides the period and
    /// `interdict.dev/legal-hold: "true"` keeps it. Unset: nothing is deleted.
    /// Needs `delete` on the four kinds.
    #[arg(long, value_name = "DURATION", env = "INTERDICT_RETENTION", value_parser = parse_retention)]
    pub retention: Option<chrono::Duration>,

    /// How long an ended ban keeps "sessions issued before T are invalid" in
    /// the blocklist, so sessions from before the ban stay dead after it.
    #[arg(long, default_value = "7d", value_name = "DURATION", value_parser = parse_retention)]
    pub session_revocation_retention: chrono::Duration,

    /// Notification sinks (webhook, email) as a YAML file; see docs/notifications.md.
    #[arg(long, value_name = "FILE", env = "INTERDICT_NOTIFY_CONFIG")]
    pub notify_config: Option<PathBuf>,

    /// Namespace of the leader Lease (in a pod: its own namespace). Default: `default`.
    #[arg(long, value_name = "NAMESPACE", env = "POD_NAMESPACE")]
    pub lease_namespace: Option<String>,

    /// Take offense reports for BanPolicies (`POST /v1/offenses`) on this
    /// address, e.g. 0.0.0.0:8082. Callers authenticate with their
    /// ServiceAccount token and need `create` on `offenses.interdict.dev` in
    /// the reported namespace. Unset: no intake, policies count nothing.
    #[arg(long, value_name = "ADDR", env = "INTERDICT_INTAKE_ADDR")]
    pub intake_addr: Option<std::net::SocketAddr>,

    /// The URL other replicas use to pass reports on to this one while it
    /// leads (written on the leader Lease). Default: `http://$POD_IP:<port>`
    /// in a pod, else the bound address.
    #[arg(long, value_name = "URL", env = "INTERDICT_INTAKE_ADVERTISE_URL")]
    pub intake_advertise_url: Option<String>,

    /// Serve the pod-wiring admission webhook (HTTPS, `POST /mutate-pods`) on
    /// this address, e.g. 0.0.0.0:9443: pods annotated `interdict.dev/inject:
    /// "true"` get the blocklist volume, and the decision sidecar when also
    /// annotated `interdict.dev/sidecar: "true"`. Every replica serves it,
    /// leader or not. Unset: no webhook. See docs/applications.md.
    #[arg(
        long,
        value_name = "ADDR",
        env = "INTERDICT_WEBHOOK_ADDR",
        requires = "webhook_cert_dir"
    )]
    pub webhook_addr: Option<std::net::SocketAddr>,

    /// Directory with the webhook's certificate and key, `tls.crt` and
    /// `tls.key` (a mounted Secret, e.g. from cert-manager). Checked every 10 s
    /// and used from the next connection when they change.
    #[arg(long, value_name = "DIR", env = "INTERDICT_WEBHOOK_CERT_DIR")]
    pub webhook_cert_dir: Option<PathBuf>,

    /// Image of the decision sidecar the webhook adds (usually the operator's
    /// own image). Unset: pods asking for the sidecar are refused, naming this flag.
    #[arg(long, value_name = "IMAGE", env = "INTERDICT_SIDECAR_IMAGE")]
    pub sidecar_image: Option<String>,

    /// The offense intake the injected sidecars report to (their
    /// `--operator-url`), e.g. `http://interdict-intake.interdict-system:8082`.
    #[arg(long, value_name = "URL", env = "INTERDICT_SIDECAR_OPERATOR_URL")]
    pub sidecar_operator_url: Option<String>,

    /// Most subjects one BanPolicy tracks at once; past it the subject whose
    /// latest offense is oldest is dropped (counted in
    /// `interdict_policy_subjects_dropped`). About 200 bytes each.
    #[arg(long, default_value_t = 100_000, value_name = "COUNT")]
    pub policy_max_subjects: usize,

    /// Publish email subjects keyed (`hmac-sha256:<key id>:<hex>`) instead of
    /// as plain `sha256:` hashes; statuses, Events, audit lines and
    /// notifications show the keyed form too. Readers need the same key.
    #[command(flatten)]
    pub email_key: EmailKeyArg,
}

fn parse_retention(text: &str) -> Result<chrono::Duration, String> {
    crate::core::duration::parse_duration(text).map_err(|e| e.to_string())
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}
