//! `interdict run`: the watches, the leader election, and the loop that
//! passes over namespaces as they change or come due.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::Client;
use tokio::sync::{Semaphore, oneshot, watch};
use tokio::time::Instant;

use super::health::health_handler;
use super::queue::Queue;
use super::retry::{after_failure, instant_at};
use super::{
    AuditSink, Context, changes, compiled, events, leader, metrics, own_writes, pass, policies,
    publish, retention, settled, shard_names, sources, status_worker, watch_health,
};
use crate::cli::RunArgs;
use crate::process::shutdown_signal;

/// Namespaces reconciled at once; each pass is a handful of API calls.
const CONCURRENCY: usize = 4;

/// Resolves once the shutdown signal has been seen.
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopping| *stopping).await;
}

/// This process's name in the lease and in Events.
fn identity() -> String {
    std::env::var("POD_NAME").unwrap_or_else(|_| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        format!("{}-{}", host.trim(), std::process::id())
    })
}

/// The pod-wiring webhook, on every replica: it needs no cluster access and
/// no lease, only the flags that say what a blocklist is called. It answers
/// until the process exits, not only until the stop signal: the Service
/// keeps sending a stopping pod requests for a moment, and with the usual
/// `failurePolicy: Ignore` each refused connection is a pod created unwired.
async fn serve_webhook(
    addr: std::net::SocketAddr,
    args: &RunArgs,
    client: Client,
) -> Result<(), String> {
    let dir = args
        .webhook_cert_dir
        .clone()
        .ok_or("--webhook-addr needs --webhook-cert-dir")?;
    let settings = crate::inject::Settings {
        blocklist_name: args.blocklist_name.clone(),
        max_shards: args.max_shards,
        sidecar_image: args.sidecar_image.clone(),
        operator_url: args.sidecar_operator_url.clone(),
    };
    if settings.sidecar_image.is_none() {
        tracing::warn!("no --sidecar-image: pods asking for the decision sidecar will be refused");
    }
    let (bound, serving) =
        crate::inject::bind(addr, dir, settings, Some(client), std::future::pending()).await?;
    tracing::info!(listen = %bound, path = crate::inject::MUTATE_PODS_PATH, "serving the pod-wiring webhook");
    tokio::spawn(serving);
    Ok(())
}

pub async fn run(args: RunArgs) -> Result<(), String> {
    let email_key = args.email_key.load()?;
    if let Some(key) = &email_key {
        tracing::info!(
            key_id = key.id(),
            "email subjects are published keyed (hmac-sha256)"
        );
    }
    let client = Client::try_default().await.map_err(|e| {
        format!("cannot configure a Kubernetes client (KUBECONFIG or in-cluster): {e}")
    })?;
    let rotation = crate::audit::Rotation {
        max_bytes: args.audit_log_max_bytes,
        keep: args.audit_log_keep,
    };
    let audit = Arc::new(
        AuditSink::open(args.audit_log.as_deref(), rotation)
            .map_err(|e| format!("cannot open audit log {:?}: {e}", args.audit_log))?,
    );
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
    let changes = Arc::new(changes::Changes::default());
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
    if let Some(addr) = args.webhook_addr {
        serve_webhook(addr, &args, client.clone()).await?;
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
        sources::Served {
            namespaces: &args.namespaces,
            enrol_selector: &args.blocklist_namespace_label,
        },
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
    let (policy_stores, policy_watch) = policies::watch_policies(&client, &args.namespaces);
    let policy_feeder = tokio::spawn(policy_watch);
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

    let leading = Arc::new(AtomicBool::new(false));
    let engine = Arc::new(
        policies::PolicyEngine::new(
            client.clone(),
            policy_stores,
            stores.clone(),
            events::EventSink::new(client.clone(), identity()),
            audit.clone(),
            metrics.clone(),
            args.policy_max_subjects,
        )
        .with_email_key(email_key.clone()),
    );
    let lease_namespace = args
        .lease_namespace
        .clone()
        .unwrap_or_else(|| "default".to_string());
    let intake_url = match args.intake_addr {
        Some(addr) => {
            let lookup = args.leader_elect.then(|| {
                policies::LeaderLookup::new(client.clone(), &lease_namespace, &args.lease_name)
            });
            let intake = Arc::new(policies::Intake::new(
                engine.clone(),
                client.clone(),
                leading.clone(),
                lookup,
            ));
            let (bound, serving) = crate::http::bind_with_posts(
                addr,
                Arc::new(|_: &str, _: &str, _: &str| {
                    crate::http::Response::error(
                        405,
                        format!("POST offense batches to {}", policies::OFFENSES_PATH),
                    )
                }),
                Some(crate::http::AsyncRoutes::posts(intake.handler())),
                crate::http::Limits::default(),
                stopped(stop.clone()),
            )
            .await?;
            tracing::info!(listen = %bound, "taking offense reports on POST {}", policies::OFFENSES_PATH);
            tokio::spawn(serving);
            Some(args.intake_advertise_url.clone().unwrap_or_else(|| {
                match std::env::var("POD_IP") {
                    Ok(ip) if !ip.is_empty() => format!("http://{ip}:{}", bound.port()),
                    _ => format!("http://{bound}"),
                }
            }))
        }
        None => None,
    };

    // Standbys keep their caches warm, so a takeover starts from loaded bans.
    let mut leadership = None;
    if args.leader_elect {
        let mut elector = leader::LeaderElector::new(
            client.clone(),
            &lease_namespace,
            &args.lease_name,
            &identity(),
        )
        .advertising(intake_url.clone());
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
    leading.store(true, Ordering::Release);
    let policy_statuses = {
        let engine = engine.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                engine.write_statuses(chrono::Utc::now()).await;
            }
        })
    };
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
        email_key,
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
    let retention = args.retention.map(|period| {
        tokio::spawn(retention::run(
            ctx.clone(),
            retention::Policy {
                period: Some(period),
            },
        ))
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
                let result = pass::reconcile(&ctx, &namespace).await;
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
    leading.store(false, Ordering::Release);
    policy_statuses.abort();
    if let Some(retention) = retention {
        retention.abort();
    }
    // The counts since the last tick would otherwise be lost with this
    // process (not after losing the lease: the new leader writes them now).
    if outcome.is_ok() {
        engine.write_statuses(chrono::Utc::now()).await;
    }
    if outcome.is_ok()
        && let Some((release, holding)) = leadership
    {
        // Only now, with nothing in flight, may a standby start writing.
        let _ = release.send(());
        let _ = holding.await;
    }
    feeder.abort();
    policy_feeder.abort();
    outcome
}
