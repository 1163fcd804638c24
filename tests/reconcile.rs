//! The controller against a real API server: blocklists, statuses, Events,
//! expiry, scheduled starts, repair and restarts.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use common::{TestNamespace, apply_ok, cluster, eventually};
use interdict::api::{Phase, UserBan};
use interdict::core::BlocklistDocument;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};

const BLOCKLIST: &str = "interdict-blocklist";

async fn blocklist(ns: &TestNamespace) -> Option<ConfigMap> {
    ns.api::<ConfigMap>().get_opt(BLOCKLIST).await.unwrap()
}

fn document(cm: &ConfigMap) -> BlocklistDocument {
    BlocklistDocument::parse(&cm.data.as_ref().unwrap()["blocklist.json"]).unwrap()
}

fn ids(cm: &ConfigMap) -> Vec<String> {
    document(cm).entries.into_iter().map(|e| e.id).collect()
}

async fn wait_for_ids(ns: &TestNamespace, expected: &[&str], timeout: Duration) -> ConfigMap {
    eventually(&format!("blocklist with {expected:?}"), timeout, || async {
        blocklist(ns).await.filter(|cm| ids(cm) == expected)
    })
    .await
}

async fn phase(ns: &TestNamespace, name: &str) -> Option<Phase> {
    ns.api::<UserBan>()
        .get(name)
        .await
        .unwrap()
        .status
        .and_then(|s| s.phase)
}

async fn events_for(ns: &TestNamespace, name: &str) -> Vec<String> {
    let events: Api<Event> = ns.api();
    let mut list: Vec<Event> = events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .collect();
    list.sort_by_key(|e| e.metadata.creation_timestamp.clone().map(|t| t.0));
    list.into_iter().filter_map(|e| e.reason).collect()
}

fn ban(name: &str, extra: &str) -> String {
    format!(
        "apiVersion: interdict.dev/v1alpha1\nkind: UserBan\nmetadata: {{name: {name}}}\nspec:\n  subject: {{userId: \"{name}\"}}\n  reason: {{code: spam}}\n{extra}"
    )
}

#[tokio::test]
async fn bans_become_a_blocklist_with_status_and_events() {
    let ns = TestNamespace::new("reconcile-basic").await;
    let _operator = ns.operator();
    apply_ok(&ns.name, &ban("perm", "  message: Go away\n"));
    apply_ok(
        &ns.name,
        "apiVersion: interdict.dev/v1alpha1\nkind: UserBan\nmetadata: {name: mail}\nspec:\n  subject: {email: \" Eve+Spam@Example.ORG\"}\n  duration: 7d\n  reason: {code: fraud}\n",
    );
    let future = (Utc::now() + chrono::Duration::hours(2))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    apply_ok(
        &ns.name,
        &ban(
            "later",
            &format!("  startsAt: \"{future}\"\n  duration: 1h\n"),
        ),
    );

    let cm = wait_for_ids(
        &ns,
        &["UserBan/later", "UserBan/mail", "UserBan/perm"],
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(
        cm.metadata.labels.as_ref().unwrap()["app.kubernetes.io/managed-by"],
        "interdict"
    );
    let data = cm.data.clone().unwrap();
    let all_text: String = data.values().cloned().collect();
    assert!(
        !all_text.to_lowercase().contains("eve"),
        "an email must never be published in clear"
    );
    assert!(all_text.contains(&interdict::core::email::hash_email("eve@example.org")));
    assert_eq!(
        data["suspended-user-ids.txt"], "perm\n",
        "scheduled bans are not in the plain lists yet"
    );

    let scheduled = document(&cm)
        .entries
        .into_iter()
        .find(|e| e.id == "UserBan/later")
        .unwrap();
    assert_eq!(
        scheduled.from.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        future
    );
    assert_eq!(
        scheduled.until,
        Some(scheduled.from + chrono::Duration::hours(1))
    );

    eventually("phases", Duration::from_secs(10), || async {
        (phase(&ns, "perm").await == Some(Phase::Active)
            && phase(&ns, "mail").await == Some(Phase::Active)
            && phase(&ns, "later").await == Some(Phase::Scheduled))
        .then_some(())
    })
    .await;
    let later = ns.api::<UserBan>().get("later").await.unwrap();
    let status = later.status.unwrap();
    assert_eq!(status.observed_generation, later.metadata.generation);
    let ready = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("True", "Scheduled")
    );
    assert_eq!(status.subject.as_deref(), Some("userId:later"));

    eventually(
        "Applied and Scheduled events",
        Duration::from_secs(10),
        || async {
            (events_for(&ns, "perm").await == ["Applied"]
                && events_for(&ns, "later").await == ["Scheduled"])
            .then_some(())
        },
    )
    .await;

    // kubectl, as a platform team uses it.
    let table = cluster().kubectl_ok(&["get", "ub", "-n", &ns.name]);
    let header = table.lines().next().unwrap();
    for column in [
        "NAME", "SUBJECT", "MODE", "PHASE", "EXPIRES", "REASON", "AGE",
    ] {
        assert!(
            header.contains(column),
            "kubectl get ub lacks {column}: {table}"
        );
    }
    assert!(
        table.lines().any(|l| l.starts_with("perm")
            && l.contains("userId:perm")
            && l.contains("Suspend")
            && l.contains("Active")),
        "{table}"
    );
    cluster().kubectl_ok(&[
        "wait",
        "--for=condition=Ready",
        "-n",
        &ns.name,
        "ub/perm",
        "--timeout=30s",
    ]);
    ns.cleanup().await;
}

#[tokio::test]
async fn feature_blocks_and_category_listing() {
    let ns = TestNamespace::new("reconcile-fb").await;
    let _operator = ns.operator();
    apply_ok(
        &ns.name,
        "apiVersion: interdict.dev/v1alpha1\nkind: FeatureBlock\nmetadata: {name: mentor}\nspec:\n  subject: {userId: \"123\"}\n  features: [mentorship-service]\n  scopes: [{kind: academy, name: downtown-miami}]\n  reason: {code: abuse}\n",
    );
    apply_ok(&ns.name, &ban("u1", ""));
    wait_for_ids(
        &ns,
        &["FeatureBlock/mentor", "UserBan/u1"],
        Duration::from_secs(20),
    )
    .await;
    cluster().kubectl_ok(&[
        "wait",
        "--for=condition=Ready",
        "-n",
        &ns.name,
        "fb/mentor",
        "--timeout=30s",
    ]);
    let table = cluster().kubectl_ok(&["get", "fb", "-n", &ns.name]);
    let header = table.lines().next().unwrap();
    for column in ["SUBJECT", "FEATURES", "SCOPES", "PHASE", "EXPIRES", "AGE"] {
        assert!(
            header.contains(column),
            "kubectl get fb lacks {column}: {table}"
        );
    }
    assert!(
        table.contains("mentorship-service") && table.contains("academy=downtown-miami"),
        "{table}"
    );
    let both = cluster().kubectl_ok(&["get", "interdict", "-A"]);
    assert!(
        both.contains("mentor") && both.contains("u1"),
        "kubectl get interdict -A lists both kinds: {both}"
    );
    ns.cleanup().await;
}

#[tokio::test]
async fn short_ban_expires_on_time_with_an_event() {
    let ns = TestNamespace::new("reconcile-expiry").await;
    let operator = ns.operator();
    apply_ok(&ns.name, &ban("brief", "  duration: 15s\n"));
    wait_for_ids(&ns, &["UserBan/brief"], Duration::from_secs(20)).await;
    let until = eventually("expiresAt in status", Duration::from_secs(10), || async {
        ns.api::<UserBan>()
            .get("brief")
            .await
            .unwrap()
            .status
            .and_then(|s| s.expires_at)
    })
    .await;
    // Within 2 s of the expiry: out of the blocklist, Expired, with its Event.
    let deadline = until + chrono::Duration::seconds(2);
    let wait = (deadline - Utc::now()).to_std().unwrap_or_default() + Duration::from_millis(50);
    let result = tokio::time::timeout(wait, async {
        loop {
            let cm = blocklist(&ns).await.unwrap();
            if ids(&cm).is_empty() && phase(&ns, "brief").await == Some(Phase::Expired) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(
        result.is_ok(),
        "not expired within 2 s of {until}; log:\n{}",
        operator.log()
    );
    eventually("Expired event", Duration::from_secs(5), || async {
        (events_for(&ns, "brief").await == ["Applied", "Expired"]).then_some(())
    })
    .await;
    let actions: Vec<String> = operator
        .audit_lines()
        .iter()
        .filter(|l| l["name"] == "brief")
        .map(|l| l["action"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        actions,
        ["Applied", "Expired"],
        "one audit line per transition"
    );
    ns.cleanup().await;
}

#[tokio::test]
async fn expiry_missed_while_down_is_applied_at_start_up() {
    let ns = TestNamespace::new("reconcile-down").await;
    let mut operator = ns.operator();
    apply_ok(&ns.name, &ban("gone", "  duration: 3s\n"));
    apply_ok(&ns.name, &ban("stays", ""));
    wait_for_ids(
        &ns,
        &["UserBan/gone", "UserBan/stays"],
        Duration::from_secs(20),
    )
    .await;
    operator.stop();
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        phase(&ns, "gone").await,
        Some(Phase::Active),
        "nobody updated it while the operator was down"
    );
    let restarted = std::time::Instant::now();
    let _operator = ns.operator();
    wait_for_ids(&ns, &["UserBan/stays"], Duration::from_secs(5)).await;
    eventually(
        "Expired at start-up",
        Duration::from_secs(5).saturating_sub(restarted.elapsed()),
        || async { (phase(&ns, "gone").await == Some(Phase::Expired)).then_some(()) },
    )
    .await;
    eventually("Expired event", Duration::from_secs(5), || async {
        events_for(&ns, "gone")
            .await
            .contains(&"Expired".to_string())
            .then_some(())
    })
    .await;
    ns.cleanup().await;
}

#[tokio::test]
async fn scheduled_ban_starts_on_time() {
    let ns = TestNamespace::new("reconcile-start").await;
    let _operator = ns.operator();
    let start = Utc::now() + chrono::Duration::seconds(6);
    let start_text = start.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    apply_ok(
        &ns.name,
        &ban("soon", &format!("  startsAt: \"{start_text}\"\n")),
    );
    let cm = wait_for_ids(&ns, &["UserBan/soon"], Duration::from_secs(20)).await;
    assert_eq!(cm.data.unwrap()["suspended-user-ids.txt"], "");
    eventually("Scheduled", Duration::from_secs(5), || async {
        (phase(&ns, "soon").await == Some(Phase::Scheduled)).then_some(())
    })
    .await;
    eventually("Active after start", Duration::from_secs(10), || async {
        (phase(&ns, "soon").await == Some(Phase::Active)).then_some(())
    })
    .await;
    let cm = blocklist(&ns).await.unwrap();
    assert_eq!(cm.data.unwrap()["suspended-user-ids.txt"], "soon\n");
    eventually("Activated event", Duration::from_secs(5), || async {
        (events_for(&ns, "soon").await == ["Scheduled", "Activated"]).then_some(())
    })
    .await;
    ns.cleanup().await;
}

/// A namespace the operator is told to serve gets a valid, empty blocklist
/// before its first ban, so pods mounting it find one ("loaded and empty",
/// not "nothing loaded").
#[tokio::test]
async fn a_listed_namespace_without_bans_gets_an_empty_blocklist() {
    let ns = TestNamespace::new("reconcile-empty").await;
    let _operator = ns.operator();
    let cm = eventually("an empty blocklist", Duration::from_secs(20), || async {
        blocklist(&ns).await
    })
    .await;
    let document = document(&cm);
    assert!(document.entries.is_empty() && document.exemptions.is_empty());
    let dir = tempfile::tempdir().unwrap();
    common::mount::kubelet_publish(dir.path(), cm.data.as_ref().unwrap());
    let contents = interdict::reader::load_dir(dir.path()).expect("a valid blocklist");
    assert!(contents.entries.is_empty());
    ns.cleanup().await;
}

#[tokio::test]
async fn edited_or_deleted_blocklist_is_repaired() {
    let ns = TestNamespace::new("reconcile-repair").await;
    let _operator = ns.operator();
    apply_ok(&ns.name, &ban("victim", ""));
    let original = wait_for_ids(&ns, &["UserBan/victim"], Duration::from_secs(20))
        .await
        .data
        .unwrap();
    let api = ns.api::<ConfigMap>();

    api.delete(BLOCKLIST, &DeleteParams::default())
        .await
        .unwrap();
    eventually("recreated after delete", Duration::from_secs(5), || async {
        blocklist(&ns)
            .await
            .filter(|cm| cm.data.as_ref() == Some(&original))
    })
    .await;

    let tampered =
        serde_json::json!({ "data": { "blocklist.json": "{}", "blocklist-evil.json": "{}" } });
    api.patch(BLOCKLIST, &PatchParams::default(), &Patch::Merge(&tampered))
        .await
        .unwrap();
    eventually("repaired after edit", Duration::from_secs(5), || async {
        blocklist(&ns)
            .await
            .filter(|cm| cm.data.as_ref() == Some(&original))
    })
    .await;

    let unlabelled =
        serde_json::json!({ "metadata": { "labels": { "app.kubernetes.io/managed-by": null } } });
    api.patch(
        BLOCKLIST,
        &PatchParams::default(),
        &Patch::Merge(&unlabelled),
    )
    .await
    .unwrap();
    eventually("label restored", Duration::from_secs(5), || async {
        blocklist(&ns).await.filter(|cm| {
            cm.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("app.kubernetes.io/managed-by"))
                .map(String::as_str)
                == Some("interdict")
        })
    })
    .await;
    ns.cleanup().await;
}

#[tokio::test]
async fn restart_with_nothing_changed_writes_nothing() {
    let ns = TestNamespace::new("reconcile-restart").await;
    let mut operator = ns.operator();
    apply_ok(&ns.name, &ban("one", "  duration: 30d\n"));
    apply_ok(&ns.name, &ban("two", ""));
    wait_for_ids(
        &ns,
        &["UserBan/one", "UserBan/two"],
        Duration::from_secs(20),
    )
    .await;
    cluster().kubectl_ok(&[
        "wait",
        "--for=condition=Ready",
        "-n",
        &ns.name,
        "ub/one",
        "ub/two",
        "--timeout=30s",
    ]);
    let versions = || async {
        let cm = blocklist(&ns)
            .await
            .unwrap()
            .metadata
            .resource_version
            .unwrap();
        let bans: BTreeMap<String, String> = ns
            .api::<UserBan>()
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|b| {
                (
                    b.metadata.name.unwrap(),
                    b.metadata.resource_version.unwrap(),
                )
            })
            .collect();
        (cm, bans)
    };
    // Let any in-flight write settle before taking the reference.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = versions().await;
    operator.stop();
    let operator = ns.operator();
    eventually("operator synced", Duration::from_secs(10), || async {
        operator.log().contains("bans loaded").then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        versions().await,
        before,
        "a restart must not write anything; log:\n{}",
        operator.log()
    );
    ns.cleanup().await;
}

/// With the operator gone (uninstalled), a ban's finalizer would keep
/// `kubectl delete` waiting for ever; the documented uninstall path
/// (`hack/release-finalizers.sh`) releases it and the deletion completes.
#[tokio::test]
async fn uninstalling_leaves_no_ban_stuck() {
    let ns = TestNamespace::new("uninstall").await;
    let mut operator = ns.operator();
    apply_ok(
        &ns.name,
        "apiVersion: interdict.dev/v1alpha1\nkind: UserBan\nmetadata: {name: left}\nspec:\n  subject: {userId: \"1\"}\n  reason: {code: spam}\n---\napiVersion: interdict.dev/v1alpha1\nkind: FeatureBlock\nmetadata: {name: behind}\nspec:\n  subject: {userId: \"2\"}\n  features: [comments]\n  reason: {code: spam}\n",
    );
    cluster().kubectl_ok(&[
        "wait",
        "--for=condition=Ready",
        "-n",
        &ns.name,
        "ub/left",
        "fb/behind",
        "--timeout=30s",
    ]);
    operator.kill();

    cluster().kubectl_ok(&[
        "delete",
        "-n",
        &ns.name,
        "ub/left",
        "fb/behind",
        "--wait=false",
    ]);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stuck = ns.api::<UserBan>().get("left").await.unwrap();
    assert!(
        stuck.metadata.deletion_timestamp.is_some(),
        "deleted, but held by the finalizer while no operator runs"
    );

    let output = std::process::Command::new(common::repo_root().join("hack/release-finalizers.sh"))
        .args(["--namespace", &ns.name, "--kubeconfig"])
        .arg(&cluster().kubeconfig)
        .env("KUBECTL", common::kubectl_binary())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("2 object(s) released"), "{stdout}");
    eventually(
        "both deletions to complete",
        Duration::from_secs(20),
        || async {
            let ban = ns.api::<UserBan>().get_opt("left").await.unwrap();
            let block = ns
                .api::<interdict::api::FeatureBlock>()
                .get_opt("behind")
                .await
                .unwrap();
            (ban.is_none() && block.is_none()).then_some(())
        },
    )
    .await;
    ns.cleanup().await;
}
