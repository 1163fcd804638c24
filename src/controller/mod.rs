//! The controller: watches bans, keeps each namespace's blocklist and the bans'
//! statuses right, and wakes itself for every scheduled start and expiry.

mod audit;
mod blocklist;
mod error;
mod namespace;
mod queue;
mod reasons;
mod sources;
mod status;

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use tokio::sync::Semaphore;
use tokio::time::Instant;

pub use audit::{AUDIT_FORMAT, AuditRecord, AuditSink};
pub use blocklist::{FIELD_MANAGER, MANAGED_BY, MANAGED_BY_LABEL};
pub use error::Error;

use crate::cli::RunArgs;
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
    pub recorder: Recorder,
    pub audit: AuditSink,
    pub blocklist_name: String,
    stores: Arc<Stores>,
}

/// Entry point of `interdict run`.
pub fn main(args: RunArgs) -> ExitCode {
    init_logging(args.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(%error, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: RunArgs) -> Result<(), String> {
    let client = Client::try_default().await.map_err(|e| {
        format!("cannot configure a Kubernetes client (KUBECONFIG or in-cluster): {e}")
    })?;
    let audit = AuditSink::open(args.audit_log.as_deref())
        .map_err(|e| format!("cannot open audit log {:?}: {e}", args.audit_log))?;
    let queue = Arc::new(Queue::default());
    let (stores, feeding) = sources::watch(
        &client,
        &args.namespaces,
        &args.blocklist_name,
        queue.clone(),
        Duration::from_millis(args.debounce_ms),
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
        _ = shutdown_signal() => return Ok(()),
    }
    tracing::info!("bans loaded; reconciling");

    let instance = std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .ok();
    let ctx = Arc::new(Context {
        recorder: Recorder::new(
            client.clone(),
            Reporter {
                controller: "interdict".into(),
                instance,
            },
        ),
        client,
        audit,
        blocklist_name: args.blocklist_name.clone(),
        stores,
    });
    let failures: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let slots = Arc::new(Semaphore::new(CONCURRENCY));
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        let batch = tokio::select! {
            batch = queue.next_batch() => batch,
            _ = &mut shutdown => break,
        };
        for namespace in batch {
            let Ok(slot) = slots.clone().acquire_owned().await else {
                break;
            };
            let (ctx, queue, failures) = (ctx.clone(), queue.clone(), failures.clone());
            tokio::spawn(async move {
                let outcome = namespace::reconcile(&ctx, &namespace).await;
                let next = after_reconcile(&ctx, &namespace, outcome, &failures).await;
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
    feeder.abort();
    Ok(())
}

fn instant_at(at: DateTime<Utc>) -> Instant {
    let wait = (at - Utc::now()).to_std().unwrap_or(Duration::ZERO);
    Instant::now() + wait.min(MAX_SLEEP)
}

/// Turns a reconcile's outcome into the next wake-up. Errors are retried with
/// exponential backoff per namespace and reported once per failure as a Warning
/// Event; they never stop the controller or other namespaces.
async fn after_reconcile(
    ctx: &Context,
    namespace: &str,
    outcome: Result<Option<DateTime<Utc>>, Error>,
    failures: &Mutex<HashMap<String, u32>>,
) -> Option<Instant> {
    match outcome {
        Ok(next) => {
            failures.lock().expect("failures lock").remove(namespace);
            next.map(instant_at)
        }
        Err(error) => {
            let attempt = {
                let mut failures = failures.lock().expect("failures lock");
                let count = failures.entry(namespace.to_string()).or_insert(0);
                *count += 1;
                *count
            };
            let backoff =
                Duration::from_millis(500 * 2u64.saturating_pow(attempt.min(20))).min(MAX_BACKOFF);
            tracing::warn!(namespace, attempt, retry_in = ?backoff, "reconcile failed: {error}");
            let blocklist = ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("ConfigMap".into()),
                name: Some(ctx.blocklist_name.clone()),
                namespace: Some(namespace.to_string()),
                ..ObjectReference::default()
            };
            let event = Event {
                type_: EventType::Warning,
                reason: reasons::RECONCILE_FAILED.into(),
                note: Some(truncate(&error.to_string(), 1000)),
                action: "Reconcile".into(),
                secondary: None,
            };
            if let Err(e) = ctx.recorder.publish(&event, &blocklist).await {
                tracing::warn!(namespace, error = %e, "cannot publish Warning Event");
            }
            Some(Instant::now() + backoff)
        }
    }
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}
