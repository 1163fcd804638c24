//! Keyed email hashes on a real API server: an operator given
//! `--email-hash-key-file` publishes, shows and records email subjects only
//! in the keyed form, whether the ban was written with the address or with
//! its `sha256:` hash; every reader holding the key (`interdict check`, the
//! Python reader, the sidecar) still denies the address as typed, and one
//! without it says it cannot match. The chart's opt-in admission policy
//! refuses addresses in clear.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::chart::docs::{documents, kind};
use common::chart::{template, values_file};
use common::http::{free_port, http, json};
use common::metrics::Scrape;
use common::{TestNamespace, apply, apply_ok, cluster, eventually, unique};
use interdict::api::{BanExemption, FeatureBlock, UserBan};
use interdict::core::email::hash_email;
use interdict::core::{BlocklistDocument, EmailKey};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::events::v1::Event;
use kube::api::ListParams;
use serde_json::Value;

const KEY: &str = "keyed-email-integration-key-0123456789";
/// Written into a ban as typed.
const TYPED: &str = "Typed.Person+promo@Example.org";
/// Never given to the cluster: the ban names it by its `sha256:` hash.
const HASHED: &str = "hashed.person@example.org";
/// Exempt, written as typed.
const EXEMPT: &str = "Exempt.Person@Example.org";

fn key_file(dir: &Path) -> String {
    let path = dir.join("email-hash-key");
    // A trailing newline, as `kubectl create secret --from-file` keeps it.
    std::fs::write(&path, format!("{KEY}\n")).unwrap();
    path.to_str().unwrap().to_string()
}

/// What must appear nowhere: each address (any case, with or without its
/// tag) and its unkeyed hash (with or without the prefix).
fn forbidden() -> Vec<String> {
    let mut out = Vec::new();
    for address in [TYPED, HASHED, EXEMPT] {
        let canonical = interdict::core::email::canonical_email(address);
        let local = canonical.split('@').next().unwrap().to_string();
        let hash = hash_email(address);
        out.extend([
            address.to_lowercase(),
            canonical,
            local,
            hash[7..].to_string(),
        ]);
    }
    out
}

fn assert_clean(what: &str, text: &str) {
    let lowered = text.to_lowercase();
    for needle in forbidden() {
        assert!(
            !lowered.contains(&needle),
            "{what} contains {needle:?}:\n{text}"
        );
    }
}

fn bans(namespace: &str) -> String {
    let hashed = hash_email(HASHED)
        .to_uppercase()
        .replace("SHA256:", "sha256:");
    format!(
        "apiVersion: interdict.dev/v1alpha1
kind: UserBan
metadata: {{name: ban-one, namespace: {namespace}}}
spec:
  subject: {{email: \"{TYPED}\"}}
  reason: {{code: spam}}
  message: Suspended for spam
---
apiVersion: interdict.dev/v1alpha1
kind: FeatureBlock
metadata: {{name: block-two, namespace: {namespace}}}
spec:
  subject: {{email: \"{hashed}\"}}
  features: [comments]
  reason: {{code: abuse}}
---
apiVersion: interdict.dev/v1alpha1
kind: BanExemption
metadata: {{name: exempt-three, namespace: {namespace}}}
spec:
  subject: {{email: \"{EXEMPT}\"}}
  reason: {{code: maintenance}}
"
    )
}

async fn published(ns: &TestNamespace) -> Option<ConfigMap> {
    let cm = ns
        .api::<ConfigMap>()
        .get_opt("interdict-blocklist")
        .await
        .unwrap()?;
    let document =
        BlocklistDocument::parse(&cm.data.as_ref()?["blocklist.json"]).expect("a v1 document");
    (document.entries.len() == 2 && document.exemptions.len() == 1).then_some(cm)
}

/// `interdict check` on `dir`: the decision and stderr.
fn check(dir: &Path, args: &[&str]) -> (Value, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_interdict"))
        .args(["check", "--dir"])
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "check failed: {stderr}");
    (serde_json::from_slice(&output.stdout).unwrap(), stderr)
}

/// The Python reader with the key file, as an application would use it.
fn python_decide(dir: &Path, key_file: &str, email: &str, feature: &str) -> Value {
    let script = r#"
import json, sys
from interdict_blocklist import Blocklist, EmailKey, Query
blocklist = Blocklist(sys.argv[1], background=False, email_key=EmailKey.from_file(sys.argv[2]),
                      require_initial=True)
decision = blocklist.decide(Query(feature=sys.argv[4], email=sys.argv[3]))
print(json.dumps({"decision": decision.to_json(), "stats": blocklist.stats()}))
"#;
    let output = Command::new("python3")
        .args(["-c", script])
        .arg(dir)
        .args([key_file, email, feature])
        .env("PYTHONPATH", common::repo_root().join("clients/python"))
        .output()
        .expect("python3 runs the Python reader");
    assert!(
        output.status.success(),
        "python: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'_' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn a_keyed_operator_shows_no_address_and_no_unkeyed_hash_and_readers_with_the_key_deny() {
    let ns = TestNamespace::new("keyed-email").await;
    let keys = tempfile::tempdir().unwrap();
    let key_path = key_file(keys.path());
    let key = EmailKey::new(KEY.as_bytes()).unwrap();
    let metrics_port = free_port();
    let operator = ns.operator_with(&[
        "--email-hash-key-file",
        &key_path,
        "--metrics-addr",
        &format!("127.0.0.1:{metrics_port}"),
    ]);
    apply_ok(&ns.name, &bans(&ns.name));

    // The blocklist: keyed forms only.
    let cm = eventually("the keyed blocklist", Duration::from_secs(30), || async {
        published(&ns).await
    })
    .await;
    let data = cm.data.clone().unwrap();
    let text: String = data.values().cloned().collect();
    assert_clean("the blocklist ConfigMap", &text);
    for address in [TYPED, HASHED, EXEMPT] {
        assert!(
            text.contains(&key.hash_email(address)),
            "{address}'s keyed hash is published:\n{text}"
        );
    }

    // Statuses, shortened keyed form.
    let short = |address: &str| {
        let keyed = key.hash_email(address);
        format!("email:{}…", &keyed[..12 + 8 + 1 + 12])
    };
    let ban = eventually("ban-one's status", Duration::from_secs(30), || async {
        let ban = ns.api::<UserBan>().get("ban-one").await.unwrap();
        ban.status.as_ref()?.subject.as_ref()?;
        Some(ban)
    })
    .await;
    assert_eq!(
        ban.status.as_ref().unwrap().subject.as_deref(),
        Some(short(TYPED).as_str())
    );
    // The spec keeps what the moderator typed: the check below would see it.
    let spec = serde_json::to_string(&ban.spec).unwrap().to_lowercase();
    assert!(spec.contains(&TYPED.to_lowercase()), "{spec}");
    let block = eventually("block-two's status", Duration::from_secs(30), || async {
        let block = ns.api::<FeatureBlock>().get("block-two").await.unwrap();
        block.status.as_ref()?.subject.as_ref()?;
        Some(block)
    })
    .await;
    assert_eq!(
        block.status.as_ref().unwrap().subject.as_deref(),
        Some(short(HASHED).as_str()),
        "a ban written with the hash is shown like one written with the address"
    );
    let exemption = eventually(
        "the exemption's status",
        Duration::from_secs(30),
        || async {
            let exemption = ns.api::<BanExemption>().get("exempt-three").await.unwrap();
            exemption.status.as_ref()?.subject.as_ref()?;
            Some(exemption)
        },
    )
    .await;
    for (what, status) in [
        (
            "ban-one's status",
            serde_json::to_string(&ban.status).unwrap(),
        ),
        (
            "block-two's status",
            serde_json::to_string(&block.status).unwrap(),
        ),
        (
            "the exemption's status",
            serde_json::to_string(&exemption.status).unwrap(),
        ),
    ] {
        assert_clean(what, &status);
    }

    // Events, audit lines, metrics and the log.
    let events = eventually("the bans' Events", Duration::from_secs(30), || async {
        let events: Vec<Event> = ns
            .api::<Event>()
            .list(&ListParams::default())
            .await
            .unwrap()
            .items;
        let regarding = |name: &str| {
            events
                .iter()
                .any(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        };
        (regarding("ban-one") && regarding("block-two")).then_some(events)
    })
    .await;
    let notes: Vec<String> = events.iter().filter_map(|e| e.note.clone()).collect();
    assert!(
        notes.iter().any(|n| n.contains(&short(TYPED))),
        "an Event names the keyed subject: {notes:?}"
    );
    assert_clean("the Events", &serde_json::to_string(&events).unwrap());
    let audit = eventually(
        "audit lines of both bans",
        Duration::from_secs(30),
        || async {
            let lines = operator.audit_lines();
            let keyed = |address: &str| {
                let subject = format!("email:{}", key.hash_email(address));
                lines.iter().any(|l| l["subject"] == subject)
            };
            (keyed(TYPED) && keyed(HASHED)).then_some(lines)
        },
    )
    .await;
    assert_clean("the audit lines", &serde_json::to_string(&audit).unwrap());
    let scrape = Scrape::get(metrics_port).expect("the operator's /metrics");
    assert!(scrape.text.contains("interdict_"), "{}", scrape.text);
    assert_clean("the operator's /metrics", &scrape.text);
    assert!(
        operator.log().contains(key.id()),
        "the log names the key id"
    );
    assert_clean("the operator's log", &operator.log());

    // Readers, on the ConfigMap as kubelet mounts it.
    let mount = tempfile::tempdir().unwrap();
    common::mount::kubelet_publish(mount.path(), &data.into_iter().collect());

    let (decision, _) = check(
        mount.path(),
        &[
            "--feature",
            "chat",
            "--email",
            "typed.person@example.org",
            "--email-hash-key-file",
            &key_path,
        ],
    );
    assert_eq!(decision["allowed"], false, "{decision}");
    assert_eq!(decision["ban"], "UserBan/ban-one");
    let (decision, _) = check(
        mount.path(),
        &[
            "--feature",
            "comments",
            "--email",
            &hash_email(HASHED),
            "--email-hash-key-file",
            &key_path,
        ],
    );
    assert_eq!(decision["ban"], "FeatureBlock/block-two", "{decision}");
    let (decision, warning) = check(
        mount.path(),
        &["--feature", "chat", "--email", "typed.person@example.org"],
    );
    assert_eq!(decision["allowed"], true, "without the key: {decision}");
    assert!(
        warning.contains(&format!("keyed with key {}", key.id())),
        "a reader without the key says why it cannot match: {warning}"
    );

    let python = python_decide(mount.path(), &key_path, TYPED, "chat");
    assert_eq!(python["decision"]["allowed"], false, "{python}");
    assert_eq!(python["decision"]["ban"], "UserBan/ban-one");
    assert_eq!(python["stats"]["emailKeyMismatches"], 0);

    let port = free_port();
    let sidecar_metrics = free_port();
    let mut sidecar = Command::new(env!("CARGO_BIN_EXE_interdict"))
        .args(["serve", "--dir", mount.path().to_str().unwrap()])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--metrics-addr", &format!("127.0.0.1:{sidecar_metrics}")])
        .args(["--email-hash-key-file", &key_path])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    eventually("the sidecar is ready", Duration::from_secs(20), || async {
        (http(port, "GET", "/readyz")?.0 == 200).then_some(())
    })
    .await;
    let decision = json(
        port,
        &format!("/v1/decision?feature=chat&email={}", encode(TYPED)),
    )
    .unwrap();
    assert_eq!(decision["allowed"], false, "{decision}");
    assert_eq!(decision["ban"], "UserBan/ban-one");
    let scrape = Scrape::get(sidecar_metrics).unwrap();
    assert_eq!(
        scrape.value("interdict_blocklist_email_key_mismatches", &[]),
        Some(0.0)
    );
    let _ = sidecar.kill();
    let _ = sidecar.wait();

    // `hash-email` prints what a moderator writes, and what the cluster shows.
    let mut hashing = Command::new(env!("CARGO_BIN_EXE_interdict"))
        .args(["hash-email", "-", "--email-hash-key-file", &key_path])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    writeln!(hashing.stdin.take().unwrap(), "{TYPED}").unwrap();
    let printed = hashing.wait_with_output().unwrap();
    assert!(printed.status.success());
    assert_eq!(
        String::from_utf8(printed.stdout).unwrap(),
        format!("{}\n{}\n", hash_email(TYPED), key.hash_email(TYPED))
    );
    ns.cleanup().await;
}

#[tokio::test]
async fn the_crd_takes_a_hash_and_names_the_field_for_a_bad_one() {
    let ns = TestNamespace::new("email-rule").await;
    let ban = |name: &str, email: &str| {
        format!(
            "apiVersion: interdict.dev/v1alpha1\nkind: UserBan\nmetadata: {{name: {name}}}\nspec:\n  subject: {{email: \"{email}\"}}\n  reason: {{code: spam}}\n"
        )
    };
    apply_ok(&ns.name, &ban("hashed", &hash_email(HASHED)));
    let refused = apply(&ns.name, &ban("short-hash", "sha256:7a64adf28737"));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("spec.subject.email must be an address like name@domain, or its hash")
            && stderr.contains("interdict hash-email"),
        "{stderr}"
    );
    ns.cleanup().await;
}

#[tokio::test]
async fn the_chart_policy_refuses_clear_emails_and_keeps_stored_ones_editable() {
    let ns = TestNamespace::new("clear-emails").await;
    let release = format!("kp-{}", unique());
    let ban = |name: &str, email: &str| {
        format!(
            "apiVersion: interdict.dev/v1alpha1\nkind: UserBan\nmetadata: {{name: {name}}}\nspec:\n  subject: {{email: \"{email}\"}}\n  reason: {{code: spam}}\n"
        )
    };
    // Stored before the policy: its updates must still go through.
    apply_ok(&ns.name, &ban("earlier", TYPED));

    let (_dir, values) = values_file(&format!(
        "watchNamespaces: [{}]\nprivacy:\n  rejectClearEmails: true\n",
        ns.name
    ));
    let rendered = template(&release, "interdict-system", &["-f", &values]);
    let policy: String = documents(&rendered)
        .iter()
        .filter(|d| kind(d).starts_with("ValidatingAdmissionPolicy"))
        .map(|d| format!("---\n{}", serde_yaml::to_string(d).unwrap()))
        .collect();
    assert_eq!(
        policy.matches("\nkind: ValidatingAdmissionPolicy").count(),
        2
    );
    let applied = cluster().kubectl_input(&["apply", "-f", "-"], &policy);
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );

    // Policies take effect within a moment: ask with a server-side dry run
    // until it refuses, so no object is created meanwhile.
    let refusal = eventually("the policy refuses", Duration::from_secs(30), || async {
        let output = cluster().kubectl_input(
            &["apply", "--dry-run=server", "-n", &ns.name, "-f", "-"],
            &ban("clear", "Someone@Example.org"),
        );
        (!output.status.success()).then(|| String::from_utf8_lossy(&output.stderr).into_owned())
    })
    .await;
    assert!(
        refusal.contains("spec.subject.email must be the address's hash")
            && refusal.contains("interdict hash-email"),
        "{refusal}"
    );
    assert!(!refusal.contains("someone"), "{refusal}");
    apply_ok(&ns.name, &ban("hashed", &hash_email(HASHED)));
    cluster().kubectl_ok(&[
        "annotate",
        "-n",
        &ns.name,
        "userban",
        "earlier",
        "example.com/reviewed=yes",
    ]);
    let changed = apply(&ns.name, &ban("earlier", "Other.Person@Example.org"));
    assert!(
        !changed.status.success(),
        "a stored address cannot be replaced by another clear one"
    );

    for kind in [
        "validatingadmissionpolicybinding",
        "validatingadmissionpolicy",
    ] {
        cluster().kubectl_ok(&[
            "delete",
            kind,
            &format!("{release}-interdict-reject-clear-emails"),
        ]);
    }
    ns.cleanup().await;
}
