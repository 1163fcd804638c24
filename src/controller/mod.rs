//! The controller: watches bans, keeps each namespace's blocklist and the bans'
//! statuses right, and wakes itself for every scheduled start and expiry.

mod appeals;
mod assess;
mod audit;
mod ban;
mod ban_sync;
mod blocklist;
mod compiled;
mod error;
mod events;
mod failpoint;
mod finalizer;
mod incremental;
mod ingest;
mod leader;
mod metrics;
mod namespace;
mod notifications;
mod nudge;
mod own_writes;
mod publish;
mod queue;
mod reasons;
mod record;
mod settled;
mod sources;
mod status;
mod status_worker;
mod status_write;
mod watch_health;

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::{Semaphore, oneshot, watch};
use tokio::time::Instant;

pub use audit::{AUDIT_FORMAT, AuditRecord, AuditSink};
pub use blocklist::{FIELD_MANAGER, MANAGED_BY, MANAGED_BY_LABEL};
pub use error::Error;

use crate::cli::RunArgs;
use crate::http::Response;
use crate::process::{init_logging, shutdown_signal};
use queue::Queue;
use sources::Stores;

/// Namespaces reconciled at once; each pass is a handful of API calls.
const CONCURRENCY: usize = 4;
/// Far-future transitions are re-armed at least this often, which also bounds
/// the effect of a wall-clock jump.
const MAX_SLEEP: Duration = Duration::from_secs(3600);
const MAX_BACKOFF: Duration = Duration::from_secs(300);

pub struct Context {
    pub client: Client,
    pub events: events::EventSink,
    pub audit: AuditSink,
    pub blocklist_name: String,
    /// Size limit and shard count of each namespace's blocklist.
    pub shards: crate::core::shard::Limits,
    pub metrics: Arc<metrics::Metrics>,
    pub nudge_pods: bool,
    /// Where notifications go; none when the operator runs without `--notify-config`.
    pub sinks: Option<Arc<crate::notify::Sinks>>,
    /// How long an ended ban's session revocation stays published.
    pub session_retention: chrono::Duration,
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
    changes: Arc<ingest::Changes>,
    /// Each namespace's model, kept between passes.
    models: Mutex<HashMap<String, incremental::NamespaceState>>,
}

/// Entry point of `interdict run`.
pub fn main(args: RunArgs) -> ExitCode {
    init_logging(args.log_format);
    crate::process::run_to_exit(run(args))
}

/// Resolves once the shutdown signal has been seen.
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopping| *stopping).await;
}

/// `/readyz` fails while the bans are loading and while a watch is failing
/// (the API server unreachable, say): the operator then cannot see changes.
fn health_handler(
    metrics: Arc<metrics::Metrics>,
    ready: Arc<AtomicBool>,
    watches: Arc<watch_health::WatchHealth>,
) -> crate::http::Handler {
    Arc::new(move |_method: &str, path: &str, _query: &str| match path {
        "/metrics" => {
            metrics.set_watches_healthy(watches.unhealthy().is_empty());
            Response {
                status: 200,
                content_type: "application/openmetrics-text; version=1.0.0; charset=utf-8",
                body: metrics.render(),
            }
        }
        "/healthz" => Response::text(200, "ok\n"),
        "/readyz" if !ready.load(Ordering::Acquire) => Response::text(503, "loading bans\n"),
        "/readyz" => match watches.unhealthy().as_slice() {
            [] => Response::text(200, "ok\n"),
            failing => Response::text(
                503,
                failing
                    .iter()
                    .map(|(watch, error)| format!("watch of {watch} failing: {error}\n"))
                    .collect::<String>(),
            ),
        },
        _ => Response::error(
            404,
            format!("no endpoint {path}; try /metrics, /healthz, /readyz"),
        ),
    })
}

/// `interdict-blocklist`, `interdict-blocklist-1`, ...: shard 0 keeps the plain name.
pub fn shard_name(base: &str, index: u32) -> String {
    if index == 0 {
        base.to_string()
    } else {
        format!("{base}-{index}")
    }
}

fn shard_names(base: &str, count: u32) -> Vec<String> {
    (0..count.max(1)).map(|i| shard_name(base, i)).collect()
}

impl Context {
    pub fn shard_name(&self, index: u32) -> String {
        shard_name(&self.blocklist_name, index)
    }
}

/// This process's name in the lease and in Events.
fn identity() -> String {
    std::env::var("POD_NAME").unwrap_or_else(|_| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        format!("{}-{}", host.trim(), std::process::id())
    })
}

async fn run(args: RunArgs) -> Result<(), String> {
    let client = Client::try_default().await.map_err(|e| {
        format!("cannot configure a Kubernetes client (KUBECONFIG or in-cluster): {e}")
    })?;
    let audit = AuditSink::open(args.audit_log.as_deref())
        .map_err(|e| format!("cannot open audit log {:?}: {e}", args.audit_log))?;
    let sinks = match &args.notify_config {
        Some(path) => {
            let config = crate::notify::NotifyConfig::from_file(path).map_err(|e| e.to_string())?;
            let sinks = crate::notify::Sinks::from_config(&config).map_err(|e| e.to_string())?;
            tracing::info!(sinks = ?sinks.configured(), "notifications enabled");
            Some(Arc::new(sinks))
        }
        None => None,
    };
    let metrics = Arc::new(metrics::Metrics::default());
    let ready = Arc::new(AtomicBool::new(false));
    let watches = Arc::new(watch_health::WatchHealth::default());
    let changes = Arc::new(ingest::Changes::default());
    let (stop_tx, stop) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    if let Some(addr) = args.metrics_addr {
        let handler = health_handler(metrics.clone(), ready.clone(), watches.clone());
        let (bound, serving) = crate::http::bind(addr, handler, stopped(stop.clone())).await?;
        tracing::info!(listen = %bound, "serving /metrics, /healthz and /readyz");
        tokio::spawn(serving);
    }

    let queue = Arc::new(Queue::default());
    let debounce = Duration::from_millis(args.debounce_ms);
    let written = Arc::new(own_writes::OwnWrites::new(queue.clone(), debounce));
    let (stores, feeding) = sources::watch(
        &client,
        sources::Observers {
            own: written.clone(),
            health: watches.clone(),
            changes: changes.clone(),
        },
        &args.namespaces,
        &shard_names(&args.blocklist_name, args.max_shards),
        args.global_namespace
            .clone()
            .map(|namespace| sources::GlobalBans {
                namespace,
                opt_in_selector: args.global_opt_in_label.clone(),
            }),
        queue.clone(),
        debounce,
    );
    let feeder = tokio::spawn(feeding);
    let scope = if args.namespaces.is_empty() {
        "all namespaces".to_string()
    } else {
        args.namespaces.join(",")
    };
    tracing::info!(%scope, blocklist = %args.blocklist_name, "starting; loading bans");
    tokio::select! {
        _ = stores.wait_until_ready() => {}
        _ = stopped(stop.clone()) => return Ok(()),
    }
    ready.store(true, Ordering::Release);
    tracing::info!("bans loaded");

    // Standbys keep their caches warm, so a takeover starts from loaded bans.
    let mut leadership = None;
    if args.leader_elect {
        let namespace = args
            .lease_namespace
            .clone()
            .unwrap_or_else(|| "default".to_string());
        let mut elector =
            leader::LeaderElector::new(client.clone(), &namespace, &args.lease_name, &identity());
        tokio::select! {
            _ = elector.acquire() => {}
            _ = stopped(stop.clone()) => return Ok(()),
        }
        let (release_tx, release_rx) = oneshot::channel::<()>();
        let holding = tokio::spawn(async move {
            tokio::select! {
                _ = elector.hold() => false,
                _ = release_rx => {
                    elector.release().await;
                    true
                }
            }
        });
        leadership = Some((release_tx, holding));
    }
    metrics.set_leader(true);
    // Whatever happened while standing by, every namespace gets a fresh look.
    for namespace in stores.all_namespaces() {
        queue.schedule(&namespace, Instant::now());
    }
    tracing::info!("reconciling");

    let ctx = Arc::new(Context {
        events: events::EventSink::new(client.clone(), identity()),
        client,
        audit,
        blocklist_name: args.blocklist_name.clone(),
        shards: crate::core::shard::Limits {
            max_bytes: args.shard_max_bytes,
            min_count: 1,
            max_count: args.max_shards,
        },
        metrics: metrics.clone(),
        nudge_pods: args.nudge_pods,
        session_retention: args.session_revocation_retention,
        settled: settled::Settled::default(),
        written,
        sinks,
        stores,
        queue: queue.clone(),
        failures: Mutex::default(),
        status_workers: status_worker::StatusWorkers::default(),
        published: publish::Published::default(),
        compiled: compiled::CompiledBans::default(),
        changes,
        models: Mutex::default(),
    });
    let slots = Arc::new(Semaphore::new(CONCURRENCY));
    let lost = async {
        match leadership.as_mut() {
            Some((_, holding)) => {
                let _ = holding.await;
            }
            None => std::future::pending().await,
        }
    };
    tokio::pin!(lost);
    let mut outcome = Ok(());
    loop {
        let batch = tokio::select! {
            batch = queue.next_batch() => batch,
            _ = stopped(stop.clone()) => break,
            _ = &mut lost => {
                outcome = Err("lost the leader lease; exiting so that a fresh start re-joins the election".to_string());
                break;
            }
        };
        for namespace in batch {
            let Ok(slot) = slots.clone().acquire_owned().await else {
                break;
            };
            let (ctx, queue) = (ctx.clone(), queue.clone());
            tokio::spawn(async move {
                let started = std::time::Instant::now();
                let result = namespace::reconcile(&ctx, &namespace).await;
                ctx.metrics.reconciled(
                    "Blocklist",
                    result.is_ok(),
                    Some(started.elapsed().as_secs_f64()),
                );
                let next = match result {
                    Ok(next) => {
                        ctx.forget_failures(&namespace);
                        next.map(instant_at)
                    }
                    Err(error) => Some(after_failure(&ctx, &namespace, &namespace, error).await),
                };
                if let Some(at) = next {
                    queue.schedule(&namespace, at);
                }
                queue.done(&namespace);
                drop(slot);
            });
        }
    }
    tracing::info!("shutting down; finishing reconciles in progress");
    let _ = slots.acquire_many(CONCURRENCY as u32).await;
    ctx.status_workers.stop().await;
    metrics.set_leader(false);
    if outcome.is_ok()
        && let Some((release, holding)) = leadership
    {
        // Only now, with nothing in flight, may a standby start writing.
        let _ = release.send(());
        let _ = holding.await;
    }
    feeder.abort();
    outcome
}

fn instant_at(at: DateTime<Utc>) -> Instant {
    let wait = (at - Utc::now()).to_std().unwrap_or(Duration::ZERO);
    Instant::now() + wait.min(MAX_SLEEP)
}

impl Context {
    fn forget_failures(&self, key: &str) {
        self.failures.lock().expect("failures lock").remove(key);
    }
}

/// When to retry after a failure: exponential backoff per `key` (a namespace,
/// or a namespace's statuses), reported once per failure as a Warning Event on
/// the blocklist. Failures never stop the controller or other namespaces.
async fn after_failure(ctx: &Context, namespace: &str, key: &str, error: Error) -> Instant {
    let attempt = {
        let mut failures = ctx.failures.lock().expect("failures lock");
        let count = failures.entry(key.to_string()).or_insert(0);
        *count += 1;
        *count
    };
    let backoff =
        Duration::from_millis(500 * 2u64.saturating_pow(attempt.min(20))).min(MAX_BACKOFF);
    tracing::warn!(namespace, attempt, retry_in = ?backoff, "reconcile failed: {error}");
    let blocklist = ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("ConfigMap".into()),
        name: Some(
            error
                .configmap()
                .map_or_else(|| ctx.blocklist_name.clone(), str::to_string),
        ),
        namespace: Some(namespace.to_string()),
        ..ObjectReference::default()
    };
    let note = record::truncate(&error.to_string(), 1000);
    if let Err(e) = ctx
        .events
        .publish(&blocklist, true, error.reason(), &note, None)
        .await
    {
        tracing::warn!(namespace, error = %e, "cannot publish Warning Event");
    }
    Instant::now() + backoff
}
