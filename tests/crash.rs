//! Crashes between two writes leave nothing unrecorded and nothing recorded
//! twice: the operator is killed (SIGKILL) at each step between a transition's
//! audit line, its Event, its status and its finalizer, restarted, and every
//! transition ends with exactly one audit line and one Event, in an audit file
//! whose hash chain runs unbroken across the kill. Deletions racing a start
//! are recorded once each.

mod common;

use std::path::Path;
use std::time::Duration;

use common::webhook::{Receiver, SECRET};
use common::{Operator, TestNamespace, apply_ok, cluster, eventually};
use interdict::api::UserBan;
use k8s_openapi::api::events::v1::Event;
use kube::api::{DeleteParams, ListParams};

fn audit_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The audit file's chain verifies: the restarted operator continued it.
fn assert_chain_intact(path: &Path) {
    let text = std::fs::read(path).unwrap();
    let report = interdict::audit::verify::verify_all([("audit.jsonl", text.as_slice())], false);
    assert!(report.ok && report.from_genesis, "{report:?}");
}

fn count(lines: &[serde_json::Value], name: &str, action: &str) -> usize {
    lines
        .iter()
        .filter(|l| l["name"] == name && l["action"] == action)
        .count()
}

async fn event_count(ns: &TestNamespace, name: &str, reason: &str) -> usize {
    ns.api::<Event>()
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .filter(|e| {
            e.reason.as_deref() == Some(reason)
                && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name)
        })
        .count()
}

fn operator(ns: &TestNamespace, audit: &Path, failpoint: Option<&str>) -> Operator {
    let audit = audit.to_str().unwrap();
    let env: Vec<(&str, &str)> = failpoint
        .map(|p| ("INTERDICT_FAILPOINT", p))
        .into_iter()
        .collect();
    Operator::start_with_env(
        &cluster().kubeconfig,
        &ns.name,
        &["--audit-log", audit],
        &env,
    )
}

fn ban(name: &str) -> String {
    format!(
        "apiVersion: interdict.dev/v1alpha1\nkind: UserBan\nmetadata: {{name: {name}}}\n\
         spec:\n  subject: {{userId: \"{name}\"}}\n  reason: {{code: spam}}\n"
    )
}

async fn crash_while_applying(point: &str) {
    let ns = TestNamespace::new(&format!("crash-{point}")).await;
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let mut first = operator(&ns, &audit, Some(point));
    apply_ok(&ns.name, &ban("victim"));
    assert!(
        first.wait_exit(Duration::from_secs(30)),
        "the operator did not reach the failpoint {point}: {}",
        first.log()
    );
    let _second = operator(&ns, &audit, None);
    cluster().kubectl_ok(&[
        "wait",
        "--for=condition=Ready",
        "-n",
        &ns.name,
        "ub/victim",
        "--timeout=30s",
    ]);
    // Give a late duplicate time to show.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let lines = audit_lines(&audit);
    assert_eq!(count(&lines, "victim", "Applied"), 1, "{point}: {lines:?}");
    assert_chain_intact(&audit);
    assert_eq!(
        event_count(&ns, "victim", "Applied").await,
        1,
        "{point}: one Applied Event"
    );
    ns.cleanup().await;
}

#[tokio::test]
async fn killed_after_the_audit_line() {
    crash_while_applying("after-audit").await;
}

#[tokio::test]
async fn killed_after_the_records_before_the_status() {
    crash_while_applying("after-record").await;
}

#[tokio::test]
async fn killed_after_the_status() {
    crash_while_applying("after-status").await;
}

/// Killed after a ban's application was recorded (audit line, Event) and
/// before its status, then the ban is lifted while no operator runs: the next
/// start finds it over with no stored phase, records the application again
/// under the same id (nothing twice), and notifies it as well as the lift.
#[tokio::test]
async fn killed_after_the_records_then_lifted_while_down() {
    let ns = TestNamespace::new("crash-lifted").await;
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let hooks = dir.path().join("hooks.jsonl");
    let receiver = Receiver::start(&hooks, 0);
    let secret = dir.path().join("secret");
    std::fs::write(&secret, SECRET).unwrap();
    let notify = dir.path().join("notify.yaml");
    std::fs::write(
        &notify,
        format!(
            "webhook:\n  url: http://127.0.0.1:{}/hooks/interdict\n  secretFile: {}\n",
            receiver.port,
            secret.display()
        ),
    )
    .unwrap();
    let args = [
        "--audit-log",
        audit.to_str().unwrap(),
        "--notify-config",
        notify.to_str().unwrap(),
    ];
    let start = |failpoint: &[(&str, &str)]| {
        Operator::start_with_env(&cluster().kubeconfig, &ns.name, &args, failpoint)
    };
    let mut first = start(&[("INTERDICT_FAILPOINT", "after-record")]);
    apply_ok(&ns.name, &ban("victim"));
    assert!(
        first.wait_exit(Duration::from_secs(30)),
        "the operator did not reach the failpoint: {}",
        first.log()
    );
    apply_ok(
        &ns.name,
        &format!(
            "{}  lift: {{reason: Mistaken identity, by: mod-ann}}\n",
            ban("victim")
        ),
    );
    let _second = start(&[]);
    let notified = |event: &str| {
        receiver
            .deliveries()
            .iter()
            .filter(|(e, name, _)| e == event && name == "victim")
            .count()
    };
    eventually(
        "the application and the lift notified",
        Duration::from_secs(30),
        || async { (notified("Applied") == 1 && notified("Lifted") == 1).then_some(()) },
    )
    .await;
    // Give a late duplicate time to show.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!((notified("Applied"), notified("Lifted")), (1, 1));
    let lines = audit_lines(&audit);
    assert_eq!(count(&lines, "victim", "Applied"), 1, "{lines:?}");
    assert_eq!(count(&lines, "victim", "Lifted"), 1, "{lines:?}");
    assert_chain_intact(&audit);
    assert_eq!(event_count(&ns, "victim", "Applied").await, 1);
    assert_eq!(event_count(&ns, "victim", "Lifted").await, 1);
    ns.cleanup().await;
}

#[tokio::test]
async fn killed_before_the_finalizer_is_removed() {
    let ns = TestNamespace::new("crash-delete").await;
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let mut first = operator(&ns, &audit, Some("before-finalizer-removal"));
    apply_ok(&ns.name, &ban("gone"));
    cluster().kubectl_ok(&[
        "wait",
        "--for=condition=Ready",
        "-n",
        &ns.name,
        "ub/gone",
        "--timeout=30s",
    ]);
    ns.api::<UserBan>()
        .delete("gone", &DeleteParams::default())
        .await
        .unwrap();
    assert!(first.wait_exit(Duration::from_secs(30)), "{}", first.log());
    let _second = operator(&ns, &audit, None);
    eventually(
        "the deletion to complete",
        Duration::from_secs(30),
        || async {
            ns.api::<UserBan>()
                .get_opt("gone")
                .await
                .unwrap()
                .is_none()
                .then_some(())
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let lines = audit_lines(&audit);
    assert_eq!(count(&lines, "gone", "Deleted"), 1, "{lines:?}");
    assert_chain_intact(&audit);
    assert_eq!(event_count(&ns, "gone", "Deleted").await, 1);
    ns.cleanup().await;
}

/// Many bans deleted while the operator is down are each recorded once when
/// it starts (its first passes race over the same deletions).
#[tokio::test]
async fn deletions_seen_at_start_are_recorded_once_each() {
    let ns = TestNamespace::new("crash-many").await;
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let names: Vec<String> = (0..200).map(|i| format!("b{i}")).collect();
    let mut first = operator(&ns, &audit, None);
    let manifests: String = names.iter().map(|n| format!("---\n{}", ban(n))).collect();
    apply_ok(&ns.name, &manifests);
    cluster().kubectl_ok(&[
        "wait",
        "--for=condition=Ready",
        "-n",
        &ns.name,
        "ub",
        "--all",
        "--timeout=120s",
    ]);
    first.stop();
    cluster().kubectl_ok(&["delete", "ub", "--all", "-n", &ns.name, "--wait=false"]);
    let _second = operator(&ns, &audit, None);
    eventually(
        "every deletion to complete",
        Duration::from_secs(120),
        || async {
            ns.api::<UserBan>()
                .list(&ListParams::default())
                .await
                .unwrap()
                .items
                .is_empty()
                .then_some(())
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let lines = audit_lines(&audit);
    for name in &names {
        assert_eq!(count(&lines, name, "Deleted"), 1, "{name}");
    }
    assert_chain_intact(&audit);
    ns.cleanup().await;
}
