//! Fault injection: a seeded workload of creates, lifts, deletions, appeals
//! and approvals (timed, scheduled and permanent bans, two namespaces) runs
//! against two operator replicas with leader election (`faults/replicas.rs`)
//! while faults strike (`faults/inject.rs`): the leader killed, kube-apiserver
//! or etcd restarted, etcd paused, the network to the API server slowed,
//! partitioned or reset (`faults/proxy.rs`), the webhook receiver down,
//! failing or slow. Once the faults stop and the system settles, the
//! invariants (`faults/invariants.rs`, `notified.rs`, `readers_final.rs`) must
//! hold; every violation is reported with the seed that replays it.
//!
//! `make test` runs one short seed per test; `make chaos` runs more
//! (`INTERDICT_FAULT_SEEDS`, `INTERDICT_FAULT_MIXED_SEEDS`,
//! `INTERDICT_FAULT_STEPS`) and writes the figures of docs/reliability.md.

#[path = "faults/audit_disk.rs"]
mod audit_disk;
mod common;
#[path = "faults/inject.rs"]
mod inject;
#[path = "faults/invariants.rs"]
mod invariants;
#[path = "faults/notified.rs"]
mod notified;
#[path = "faults/operations.rs"]
mod operations;
#[path = "faults/probe.rs"]
mod probe;
#[path = "faults/proxy.rs"]
mod proxy;
#[path = "common/readers.rs"]
mod readers;
#[path = "faults/readers_final.rs"]
mod readers_final;
#[path = "faults/replicas.rs"]
mod replicas;
#[path = "faults/report.rs"]
mod report;
#[path = "faults/workload.rs"]
mod workload;

use std::time::{Duration, Instant};

use common::webhook::Receiver;
use common::{Operator, TestNamespace, cluster};
use inject::{Targets, inject, notify_config, upstream};
use k8s_openapi::api::events::v1::Event;
use operations::{apply, observe};
use proxy::FaultProxy;
use replicas::Replicas;
use workload::{Fault, Step};

/// How long a ban created right after a fault may take to be published.
const CONVERGENCE_TIMEOUT: Duration = Duration::from_secs(120);
/// An operator process holding a few dozen bans stays well under this.
const MEMORY_BOUND: u64 = 200 << 20;

/// Runs `seed` with `faults`; returns the violations and prints the figures.
async fn run(seed: u64, steps: usize, faults: &[Fault], env: &[(&str, &str)]) -> Vec<String> {
    let namespaces = vec![
        TestNamespace::new("faults-a").await,
        TestNamespace::new("faults-b").await,
    ];
    let names: Vec<String> = namespaces.iter().map(|n| n.name.clone()).collect();
    let client = cluster().client().await;
    let proxy = FaultProxy::start(upstream(&cluster().kubeconfig)).await;
    let kubeconfig = proxy.kubeconfig(&cluster().kubeconfig, &common::operator::test_logs());
    let sinks = tempfile::tempdir().unwrap();
    let receiver_out = sinks.path().join("hooks.jsonl");
    let receiver = Receiver::start(&receiver_out, 0);
    let smtp_dir = sinks.path().join("mail");
    std::fs::create_dir_all(&smtp_dir).unwrap();
    let smtp = inject::smtp(&smtp_dir, &receiver_out, 0);
    let notify = notify_config(sinks.path(), receiver.port, smtp.port);
    let args = vec!["--notify-config".to_string(), notify.display().to_string()];
    let audit = faults
        .contains(&Fault::AuditDiskFull)
        .then(audit_disk::AuditDisk::mount);
    let audit_dir = audit.as_ref().map(|disk| disk.path().to_path_buf());
    let mut targets = Targets {
        proxy,
        receiver,
        receiver_out,
        smtp,
        smtp_dir,
        audit,
    };
    let mut replicas = Replicas::new(names.clone(), env, args, audit_dir, kubeconfig);
    let plan: Vec<Step> = workload::plan(seed, steps, names.len(), faults, 25);
    let started = Instant::now();
    let (mut applied, mut injected, mut probes) = (0, Vec::new(), Vec::new());
    for (index, step) in plan.iter().enumerate() {
        if apply(&step.op, index, &names, &client).await {
            applied += 1;
        }
        if let Some(fault) = step.fault {
            if !inject(fault, &mut replicas, &client, &mut targets).await {
                // Counted only when it happened; the probe runs all the same.
                eprintln!(
                    "faults: seed {seed}: step {index}: {fault:?} found no live leader to kill"
                );
            } else {
                injected.push(fault);
            }
            let probe = probe::converge(
                client.clone(),
                names[0].clone(),
                format!("probe{index:03}"),
                CONVERGENCE_TIMEOUT,
            );
            probes.push((fault, index, tokio::spawn(probe)));
        }
        tokio::time::sleep(Duration::from_millis(step.pause_ms)).await;
        replicas.revive();
    }
    let workload_time = started.elapsed();
    let mut converged: Vec<(Fault, Duration)> = Vec::new();
    let mut unconverged = Vec::new();
    for (fault, index, probe) in probes {
        match probe.await.ok().flatten() {
            Some(took) => converged.push((fault, took)),
            None => unconverged.push(format!(
                "after {fault:?} (step {index}) a new ban was not published within {}s",
                CONVERGENCE_TIMEOUT.as_secs()
            )),
        }
    }
    // Nothing changes by time alone once the longest timed ban has ended.
    for _ in 0..workload::LONGEST_SECONDS {
        tokio::time::sleep(Duration::from_secs(1)).await;
        replicas.revive();
    }
    let settling = Instant::now();
    let mut violations = Vec::new();
    let mut repeated_keys = 0;
    while settling.elapsed() < Duration::from_secs(90) {
        replicas.revive();
        violations.clear();
        repeated_keys = 0;
        let now = chrono::Utc::now();
        let deliveries = targets.receiver.deliveries();
        let emailed: std::collections::BTreeSet<String> = targets.smtp.keys().into_iter().collect();
        for ns in &names {
            match observe(&client, ns).await {
                Some(observed) => {
                    violations.extend(invariants::state(&observed, now));
                    let (missed, repeated) = notified::check(&observed, &deliveries, &emailed);
                    violations.extend(missed);
                    repeated_keys += repeated;
                }
                None => violations.push(format!("{ns}: cannot read the namespace")),
            }
        }
        if violations.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let settled_in = settling.elapsed();
    violations.extend(unconverged);
    // No unbounded growth: a few dozen bans never need more than this.
    let peaks: Vec<u64> = replicas
        .slots
        .iter()
        .flatten()
        .filter_map(|o| probe::peak_rss(o.pid()?))
        .collect();
    for peak in &peaks {
        if *peak > MEMORY_BOUND {
            violations.push(format!(
                "an operator process peaked at {} MiB (bound {} MiB)",
                peak >> 20,
                MEMORY_BOUND >> 20
            ));
        }
    }
    let mut all_events = Vec::new();
    let mut python = readers::Python::start();
    for ns in &names {
        if let Some(observed) = observe(&client, ns).await {
            violations.extend(invariants::events(&observed));
            violations.extend(readers_final::agree(&observed, &mut python));
            all_events.extend(observed.events);
        }
    }
    let lines: Vec<Vec<serde_json::Value>> = replicas.all().map(Operator::audit_lines).collect();
    let events: Vec<&Event> = all_events.iter().collect();
    let (audit_violations, repeated_across) = invariants::audit(&lines, &events);
    violations.extend(audit_violations);
    let logs: Vec<(String, String)> = replicas
        .all()
        .map(|o| (o.stderr.display().to_string(), o.log()))
        .collect();
    violations.extend(invariants::logs(&logs));
    let mut refused_appends = 0;
    if let Some(disk) = &targets.audit {
        violations.extend(disk.verify());
        refused_appends = logs
            .iter()
            .map(|(_, log)| log.matches(audit_disk::REFUSED_APPEND).count())
            .sum();
        if injected.contains(&Fault::AuditDiskFull) && refused_appends == 0 {
            violations.push(
                "the audit disk was full and no append was refused: the fault tested nothing"
                    .to_string(),
            );
        }
    }
    let convergence: Vec<String> = converged
        .iter()
        .map(|(fault, took)| format!("{fault:?} {:.1}s", took.as_secs_f64()))
        .collect();
    eprintln!(
        "faults: seed {seed}: {applied}/{steps} operations in {:.1}s, faults {:?}, {} leaders killed, {} processes restarted after exiting, converged after each fault in [{}], settled {:.1}s after the last timed end, peak RSS {} MiB, {} audit ids repeated across processes (same id), {} notifications delivered again (same key), {} audit appends refused, {} violation(s)",
        workload_time.as_secs_f64(),
        injected,
        replicas.restarts,
        replicas.revived,
        convergence.join(", "),
        settled_in.as_secs_f64(),
        peaks.iter().max().copied().unwrap_or(0) >> 20,
        repeated_across,
        repeated_keys,
        refused_appends,
        violations.len()
    );
    report::write(&report::Run {
        seed,
        faults: faults.to_vec(),
        steps,
        applied,
        injected: injected.clone(),
        convergence: converged.clone(),
        workload_seconds: workload_time.as_secs_f64(),
        settled_seconds: settled_in.as_secs_f64(),
        peak_rss_bytes: peaks.iter().max().copied().unwrap_or(0),
        refused_appends,
        violations: violations.clone(),
        broken: env.iter().map(|(_, v)| v.to_string()).collect(),
    });
    drop(replicas);
    for ns in namespaces {
        ns.cleanup().await;
    }
    violations
        .into_iter()
        .map(|v| format!("seed {seed}: {v}"))
        .collect()
}

/// The seeds to run: `INTERDICT_FAULT_SEEDS` (all mixed:
/// `INTERDICT_FAULT_MIXED_SEEDS` first), else seed 1.
fn seeds(mixed: bool) -> Vec<u64> {
    let var = |name| std::env::var(name).ok();
    mixed
        .then(|| var("INTERDICT_FAULT_MIXED_SEEDS"))
        .flatten()
        .or_else(|| var("INTERDICT_FAULT_SEEDS"))
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1])
}

fn steps() -> usize {
    std::env::var("INTERDICT_FAULT_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30)
}

async fn check(faults: &[Fault], mixed: bool) {
    let mut violations = Vec::new();
    for seed in seeds(mixed) {
        violations.extend(run(seed, steps(), faults, &[]).await);
    }
    assert!(
        violations.is_empty(),
        "{} violation(s):\n{}",
        violations.len(),
        violations.join("\n")
    );
}

// One test per fault kind, and all mixed. They share one control plane, so
// they run one at a time (an API server restart would disturb the others).
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test]
async fn leader_killed_at_random_moments() {
    let _one = SERIAL.lock().await;
    check(&[Fault::KillLeader], false).await;
}

#[tokio::test]
async fn api_server_restarted() {
    let _one = SERIAL.lock().await;
    check(&[Fault::RestartApiServer], false).await;
}

#[tokio::test]
async fn etcd_paused() {
    let _one = SERIAL.lock().await;
    check(&[Fault::PauseEtcd], false).await;
}

#[tokio::test]
async fn etcd_restarted() {
    let _one = SERIAL.lock().await;
    check(&[Fault::RestartEtcd], false).await;
}

#[tokio::test]
async fn network_slow() {
    let _one = SERIAL.lock().await;
    check(&[Fault::SlowNetwork], false).await;
}

#[tokio::test]
async fn network_partitioned() {
    let _one = SERIAL.lock().await;
    check(&[Fault::PartitionNetwork], false).await;
}

#[tokio::test]
async fn connections_reset() {
    let _one = SERIAL.lock().await;
    check(&[Fault::ResetConnections], false).await;
}

#[tokio::test]
async fn every_fault_mixed() {
    let _one = SERIAL.lock().await;
    check(&Fault::ALL, true).await;
}

#[tokio::test]
async fn notification_receivers_down_failing_or_slow() {
    let _one = SERIAL.lock().await;
    check(&Fault::RECEIVERS, false).await;
}

#[tokio::test]
async fn audit_disk_full() {
    let _one = SERIAL.lock().await;
    check(&[Fault::AuditDiskFull], false).await;
}

/// The checker itself: a build that writes no Event (a failpoint compiled
/// into test builds only) must be reported, with no fault at all.
#[tokio::test]
async fn the_checker_reports_a_build_that_skips_events() {
    let _one = SERIAL.lock().await;
    let violations = run(7, 12, &[], &[("INTERDICT_FAILPOINT", "skip-events")]).await;
    assert!(
        violations.iter().any(|v| v.contains("has no Event")),
        "the checker missed the missing Events: {violations:?}"
    );
}
