//! Notifications end to end: the operator on the dev cluster, a real webhook
//! receiver process and a real SMTP server. Every transition arrives once per
//! sink, signed; a receiver that was down gets everything once it is back; an
//! operator killed between attempts neither loses nor duplicates.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::smtp::SmtpSink;
use common::webhook::{Receiver, SECRET};
use common::{Operator, TestNamespace, apply_ok, eventually};
use interdict::api::{AppealPhase, BanAppeal, UserBan};
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

fn config(dir: &Path, webhook_port: u16, smtp_port: u16) -> PathBuf {
    let secret = dir.join("secret");
    std::fs::write(&secret, SECRET).unwrap();
    let path = dir.join("notify.yaml");
    let mut file = std::fs::File::create(&path).unwrap();
    writeln!(
        file,
        "webhook:\n  url: http://127.0.0.1:{webhook_port}/hooks/interdict\n  secretFile: {}\n  timeoutSeconds: 2\nemail:\n  host: 127.0.0.1\n  port: {smtp_port}\n  tls: none\n  from: Moderation <moderation@example.com>\n  helloName: operator.example.com",
        secret.display()
    )
    .unwrap();
    path
}

fn operator(ns: &TestNamespace, config: &Path) -> Operator {
    ns.operator_with(&["--notify-config", config.to_str().unwrap()])
}

fn ban(name: &str, subject: &str, extra: &str) -> String {
    format!(
        "apiVersion: interdict.dev/v1alpha1\nkind: UserBan\nmetadata: {{name: {name}}}\nspec:\n  subject: {subject}\n  reason: {{code: spam}}\n  message: Please stop.\n{extra}"
    )
}

/// How many deliveries each (event, ban) got.
fn counts(deliveries: &[(String, String, String)]) -> BTreeMap<(String, String), usize> {
    let mut counts = BTreeMap::new();
    for (event, name, _) in deliveries {
        *counts.entry((event.clone(), name.clone())).or_insert(0) += 1;
    }
    counts
}

async fn records(ns: &TestNamespace, name: &str) -> Vec<interdict::api::NotificationRecord> {
    ns.api::<UserBan>()
        .get(name)
        .await
        .ok()
        .and_then(|b| b.status)
        .map(|s| s.notifications)
        .unwrap_or_default()
}

async fn appeal_pending(ns: &TestNamespace, name: &str) {
    eventually("appeal pending", Duration::from_secs(20), || async {
        ns.api::<BanAppeal>()
            .get(name)
            .await
            .ok()?
            .status?
            .phase
            .filter(|p| *p == AppealPhase::Pending)
    })
    .await;
}

#[tokio::test]
async fn every_transition_is_delivered_once_per_sink() {
    let ns = TestNamespace::new("notify").await;
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(&dir.path().join("hooks.jsonl"), 0);
    let smtp = SmtpSink::start();
    let _operator = operator(&ns, &config(dir.path(), receiver.port, smtp.port));

    apply_ok(
        &ns.name,
        &ban(
            "mailed",
            "{email: Eve+spam@Example.org}",
            "  duration: 4s\n  appeal: {allowed: true, instructions: Reply to appeals@example.org.}\n",
        ),
    );
    apply_ok(
        &ns.name,
        &ban("quiet", "{userId: \"3\"}", "  notify: false\n"),
    );
    apply_ok(
        &ns.name,
        &ban("appealed", "{userId: \"4\"}", "  appeal: {allowed: true}\n"),
    );
    apply_ok(
        &ns.name,
        "apiVersion: interdict.dev/v1alpha1\nkind: BanAppeal\nmetadata: {name: mine}\nspec:\n  banRef: {kind: UserBan, name: appealed}\n  statement: Sorry.\n",
    );
    appeal_pending(&ns, "mine").await;
    let decision = json!({ "spec": { "decision": { "outcome": "Approved", "reviewer": "mod" } } });
    ns.api::<BanAppeal>()
        .patch("mine", &PatchParams::default(), &Patch::Merge(&decision))
        .await
        .unwrap();

    let expected: BTreeSet<(String, String)> = [
        ("Applied", "mailed"),
        ("Expired", "mailed"),
        ("Applied", "appealed"),
        ("AppealReceived", "appealed"),
        ("AppealApproved", "appealed"),
        ("Lifted", "appealed"),
    ]
    .iter()
    .map(|(e, n)| (e.to_string(), n.to_string()))
    .collect();
    eventually(
        "every transition delivered",
        Duration::from_secs(30),
        || async {
            let got: BTreeSet<(String, String)> =
                counts(&receiver.deliveries()).into_keys().collect();
            (got == expected).then_some(())
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let deliveries = receiver.deliveries();
    assert!(
        counts(&deliveries).values().all(|n| *n == 1),
        "exactly once each: {deliveries:?}"
    );
    assert!(
        !deliveries.iter().any(|(_, name, _)| name == "quiet"),
        "spec.notify: false silences a ban"
    );

    // Email goes only where an address is known: the two transitions of "mailed".
    eventually("two emails", Duration::from_secs(10), || async {
        (smtp.count() == 2).then_some(())
    })
    .await;
    let (message, envelope) = smtp.message(1);
    let text = message.to_string();
    assert!(
        envelope.to_string().contains("eve@example.org")
            || envelope.to_string().contains("Eve+spam@Example.org"),
        "{envelope}"
    );
    assert!(
        text.contains("4 seconds"),
        "the email states the duration: {text}"
    );
    assert!(
        text.contains("Reply to appeals@example.org."),
        "the email carries the appeal instructions: {text}"
    );
    let delivered = records(&ns, "mailed").await;
    assert!(
        delivered.iter().all(|r| r.state == "Delivered"),
        "{delivered:?}"
    );
    ns.cleanup().await;
}

#[tokio::test]
async fn receiver_down_then_up_and_operator_killed_between_attempts() {
    let ns = TestNamespace::new("notify-outage").await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("hooks.jsonl");
    let mut receiver = Receiver::start(&out, 0);
    let port = receiver.port;
    receiver.stop();
    let smtp = SmtpSink::start();
    let config = config(dir.path(), port, smtp.port);
    let mut first = operator(&ns, &config);

    apply_ok(&ns.name, &ban("during-outage", "{userId: \"1\"}", ""));
    // Attempts fail while the receiver is down; the record says so.
    let pending = eventually(
        "a failed attempt recorded",
        Duration::from_secs(20),
        || async {
            let records = records(&ns, "during-outage").await;
            records
                .into_iter()
                .find(|r| r.state == "Pending" && r.attempts >= 1)
        },
    )
    .await;
    // Killed between two attempts: the restart must resend with the same key.
    first.kill();
    let _second = operator(&ns, &config);
    tokio::time::sleep(Duration::from_secs(25)).await;
    let receiver = Receiver::start(&out, port);
    eventually(
        "delivered after the outage",
        Duration::from_secs(70),
        || async { (!receiver.deliveries().is_empty()).then_some(()) },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let deliveries = receiver.deliveries();
    assert_eq!(deliveries.len(), 1, "received once: {deliveries:?}");
    assert_eq!(deliveries[0].0, "Applied");
    assert_eq!(
        deliveries[0].2, pending.key,
        "the same idempotency key as before the restart"
    );
    let settled = records(&ns, "during-outage").await;
    assert!(
        settled
            .iter()
            .any(|r| r.key == pending.key && r.state == "Delivered"),
        "{settled:?}"
    );
    ns.cleanup().await;
}

/// An appeal's outcome reaches the appellant: the webhook payload carries the
/// decision and the reviewer's notes, and email goes to the address given in
/// the appeal (the ban's subject has none).
#[tokio::test]
async fn appeal_decisions_reach_the_appellant_with_the_reviewers_notes() {
    let ns = TestNamespace::new("notify-appeal").await;
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(&dir.path().join("hooks.jsonl"), 0);
    let smtp = SmtpSink::start();
    let _operator = operator(&ns, &config(dir.path(), receiver.port, smtp.port));
    apply_ok(
        &ns.name,
        &ban(
            "contested",
            "{userId: \"9\"}",
            "  appeal: {allowed: true}\n",
        ),
    );
    apply_ok(
        &ns.name,
        "apiVersion: interdict.dev/v1alpha1\nkind: BanAppeal\nmetadata: {name: plea}\nspec:\n  banRef: {kind: UserBan, name: contested}\n  statement: Not me.\n  contact: {email: appellant@example.org}\n",
    );
    appeal_pending(&ns, "plea").await;
    // Once the ban's own writes have come back through the watch, nothing
    // but the decision is news for the ban (a denial changes no lift).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let notes = "The logs show the same device on all three accounts.";
    let decision = json!({ "spec": { "decision": { "outcome": "Denied", "reviewer": "mod", "notes": notes } } });
    ns.api::<BanAppeal>()
        .patch("plea", &PatchParams::default(), &Patch::Merge(&decision))
        .await
        .unwrap();

    let denied = eventually("the denial delivered", Duration::from_secs(30), || async {
        receiver.received().into_iter().find_map(|request| {
            let payload: Value = serde_json::from_str(request["body"].as_str()?).ok()?;
            (payload["event"] == "AppealDenied").then_some(payload)
        })
    })
    .await;
    assert_eq!(denied["appealDecision"]["name"], "plea", "{denied}");
    assert_eq!(denied["appealDecision"]["outcome"], "Denied", "{denied}");
    assert_eq!(denied["appealDecision"]["notes"], notes, "{denied}");

    // Received and denied, both to the appellant's address.
    eventually("two emails", Duration::from_secs(20), || async {
        (smtp.count() == 2).then_some(())
    })
    .await;
    let mails: Vec<(Value, Value)> = (1..=2).map(|n| smtp.message(n)).collect();
    for (_, envelope) in &mails {
        assert!(
            envelope.to_string().contains("appellant@example.org"),
            "{envelope}"
        );
    }
    let denial = mails
        .iter()
        .map(|(message, _)| message.to_string())
        .find(|text| text.contains("Your appeal was denied"))
        .expect("the denial by email");
    assert!(
        denial.contains(notes),
        "the email carries the reviewer's notes: {denial}"
    );
    ns.cleanup().await;
}
