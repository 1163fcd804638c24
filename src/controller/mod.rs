//! The controller: watches bans, keeps each namespace's blocklist and the bans'
//! statuses right, and wakes itself for every scheduled start and expiry.
//!
//! One flow: `sources` (watches) → `changes` → `pass` (`incremental`, on the
//! namespace's model) → `blocklist` (publish) / `status_worker` (statuses,
//! Events, audit lines, notifications). Beside it, `policies`: the offense
//! intake and the leader's automatic bans. This file only declares the
//! modules and the context they share; `run` wires them together.

mod appeals;
mod assess;
mod audit;
mod ban;
mod ban_sync;
mod blocklist;
pub mod cache;
mod changes;
mod compiled;
mod error;
mod events;
mod failpoint;
mod finalizer;
mod health;
mod incremental;
mod ingest;
mod leader;
mod metrics;
mod notifications;
mod nudge;
mod own_writes;
mod pass;
mod policies;
mod policy_metrics;
mod publish;
mod queue;
mod reasons;
mod record;
mod retention;
mod retry;
mod reviewed;
mod run;
mod settled;
mod sources;
mod status;
mod status_worker;
mod status_write;
mod watch_health;
mod whole_pass;

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use kube::Client;

pub use audit::{AUDIT_FORMAT, AuditRecord, AuditSink};
pub use blocklist::{FIELD_MANAGER, MANAGED_BY, MANAGED_BY_LABEL};
pub use error::Error;

use crate::cli::RunArgs;
use crate::process::init_logging;
use queue::Queue;
use sources::Stores;

pub struct Context {
    pub client: Client,
    pub events: events::EventSink,
    pub audit: Arc<AuditSink>,
    pub blocklist_name: String,
    /// Size limit and shard count of each namespace's blocklist.
    pub shards: crate::core::shard::Limits,
    pub metrics: Arc<metrics::Metrics>,
    pub nudge_pods: bool,
    /// Where notifications go; none when the operator runs without `--notify-config`.
    pub sinks: Option<Arc<crate::notify::Sinks>>,
    /// How long an ended ban's session revocation stays published.
    pub session_retention: chrono::Duration,
    /// `--email-hash-key-file`: email subjects are published keyed with it.
    pub email_key: Option<crate::core::EmailKey>,
    settled: settled::Settled,
    written: Arc<own_writes::OwnWrites>,
    stores: Arc<Stores>,
    queue: Arc<Queue>,
    /// Consecutive failures by namespace (and by namespace's statuses), for backoff.
    failures: Mutex<HashMap<String, u32>>,
    status_workers: status_worker::StatusWorkers,
    published: publish::Published,
    compiled: compiled::CompiledBans,
    /// What changed in each namespace since its last pass.
    changes: Arc<changes::Changes>,
    /// Each namespace's model, kept between passes.
    models: Mutex<HashMap<String, incremental::NamespaceState>>,
}

/// Entry point of `interdict run`.
pub fn main(args: RunArgs) -> ExitCode {
    init_logging(args.log_format);
    crate::process::run_to_exit(run::run(args))
}

/// `interdict-blocklist`, `interdict-blocklist-1`, ...: shard 0 keeps the plain name.
pub fn shard_name(base: &str, index: u32) -> String {
    if index == 0 {
        base.to_string()
    } else {
        format!("{base}-{index}")
    }
}

pub fn shard_names(base: &str, count: u32) -> Vec<String> {
    (0..count.max(1)).map(|i| shard_name(base, i)).collect()
}

impl Context {
    pub fn shard_name(&self, index: u32) -> String {
        shard_name(&self.blocklist_name, index)
    }
}
