//! Moderation on a real control plane: appeals, lifting, deletion records,
//! exemptions, session revocation after a ban, review dates.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{TestNamespace, apply, apply_ok, cluster, eventually};
use interdict::api::{BanAppeal, Phase, UserBan};
use interdict::core::BlocklistDocument;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::events::v1::Event;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use serde_json::{Value, json};

async fn document(ns: &TestNamespace) -> Option<BlocklistDocument> {
    let cm = ns
        .api::<ConfigMap>()
        .get_opt("interdict-blocklist")
        .await
        .ok()??;
    BlocklistDocument::parse(&cm.data?.remove("blocklist.json")?).ok()
}

async fn ids(ns: &TestNamespace) -> Vec<String> {
    document(ns)
        .await
        .map(|d| d.entries.into_iter().map(|e| e.id).collect())
        .unwrap_or_default()
}

async fn phase(ns: &TestNamespace, name: &str) -> Option<Phase> {
    ns.api::<UserBan>().get(name).await.ok()?.status?.phase
}

async fn reasons(ns: &TestNamespace, kind: &str, name: &str) -> Vec<String> {
    let list = ns
        .api::<Event>()
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    let mut events: Vec<Event> = list
        .into_iter()
        .filter(|e| {
            e.regarding
                .as_ref()
                .is_some_and(|r| r.name.as_deref() == Some(name) && r.kind.as_deref() == Some(kind))
        })
        .collect();
    events.sort_by_key(|e| e.metadata.creation_timestamp.clone().map(|t| t.0));
    events.into_iter().filter_map(|e| e.reason).collect()
}

async fn has_events(ns: &TestNamespace, kind: &str, name: &str, wanted: &[&str]) {
    eventually(
        &format!("{wanted:?} on {kind} {name}"),
        // Past the status worker's longest deferral (30 s while a namespace
        // stays busy): Events are written with the statuses.
        Duration::from_secs(45),
        || async {
            let found = reasons(ns, kind, name).await;
            wanted
                .iter()
                .all(|w| found.iter().any(|f| f == w))
                .then_some(())
        },
    )
    .await;
}

/// `interdict check` on the namespace's blocklist, as a reader would see it.
async fn check(ns: &TestNamespace, dir: &Path, args: &[&str]) -> Value {
    let cm = ns
        .api::<ConfigMap>()
        .get("interdict-blocklist")
        .await
        .unwrap();
    common::mount::kubelet_publish(dir, &cm.data.unwrap());
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_interdict"))
        .args(["check", "--dir", dir.to_str().unwrap()])
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn ban(name: &str, subject: &str, extra: &str) -> String {
    format!(
        "apiVersion: interdict.dev/v1alpha1\nkind: UserBan\nmetadata: {{name: {name}}}\nspec:\n  subject: {subject}\n  reason: {{code: spam}}\n{extra}"
    )
}

fn appeal(name: &str, ban: &str) -> String {
    format!(
        "apiVersion: interdict.dev/v1alpha1\nkind: BanAppeal\nmetadata: {{name: {name}}}\nspec:\n  banRef: {{kind: UserBan, name: {ban}}}\n  statement: It was my little brother.\n"
    )
}

#[tokio::test]
async fn appeal_approved_lifts_the_ban_and_decisions_are_final() {
    let ns = TestNamespace::new("appeals").await;
    let _operator = ns.operator();
    apply_ok(
        &ns.name,
        &ban(
            "appealable",
            "{userId: \"1\"}",
            "  appeal: {allowed: true, instructions: Reply to the email.}\n",
        ),
    );
    apply_ok(&ns.name, &ban("final", "{userId: \"2\"}", ""));
    eventually("both published", Duration::from_secs(20), || async {
        (ids(&ns).await == ["UserBan/appealable", "UserBan/final"]).then_some(())
    })
    .await;

    apply_ok(&ns.name, &appeal("please", "appealable"));
    apply_ok(&ns.name, &appeal("please-too", "final"));
    let appeals = ns.api::<BanAppeal>();
    let status = |name: &'static str| {
        let appeals = appeals.clone();
        async move { appeals.get(name).await.ok()?.status }
    };
    eventually("appeal pending", Duration::from_secs(15), || async {
        status("please")
            .await
            .filter(|s| s.phase == Some(interdict::api::AppealPhase::Pending))
    })
    .await;
    let refused = eventually("appeal refused", Duration::from_secs(15), || async {
        status("please-too")
            .await
            .filter(|s| s.phase == Some(interdict::api::AppealPhase::Refused))
    })
    .await;
    assert!(
        refused.conditions[0]
            .message
            .contains("does not allow appeals"),
        "{:?}",
        refused.conditions
    );
    has_events(&ns, "BanAppeal", "please", &["AppealReceived"]).await;
    has_events(&ns, "UserBan", "appealable", &["AppealReceived"]).await;
    has_events(&ns, "BanAppeal", "please-too", &["AppealRefused"]).await;

    // The statement cannot change after submission.
    let edited = apply(
        &ns.name,
        &appeal("please", "appealable").replace("little brother", "cat"),
    );
    assert!(!edited.status.success());
    assert!(String::from_utf8_lossy(&edited.stderr).contains("spec.statement cannot change"));

    // A reviewer approves: the ban is lifted, unedited, and leaves the blocklist.
    let before = ns.api::<UserBan>().get("appealable").await.unwrap();
    let decision = json!({ "spec": { "decision": { "outcome": "Approved", "reviewer": "mod-ann", "notes": "First offence" } } });
    appeals
        .patch("please", &PatchParams::default(), &Patch::Merge(&decision))
        .await
        .unwrap();
    eventually("ban lifted", Duration::from_secs(15), || async {
        (phase(&ns, "appealable").await == Some(Phase::Lifted)).then_some(())
    })
    .await;
    let after = ns.api::<UserBan>().get("appealable").await.unwrap();
    assert_eq!(
        after.spec, before.spec,
        "the ban object itself is not edited"
    );
    assert_eq!(
        after.status.as_ref().unwrap().lifted_by.as_deref(),
        Some("BanAppeal/please")
    );
    eventually("out of the blocklist", Duration::from_secs(15), || async {
        let doc = document(&ns).await?;
        let lifted = doc.entries.iter().find(|e| e.id == "UserBan/appealable");
        // Kept only as an ended entry for session revocation.
        lifted
            .is_none_or(|e| !e.in_force(chrono::Utc::now()))
            .then_some(())
    })
    .await;
    has_events(&ns, "UserBan", "appealable", &["AppealApproved", "Lifted"]).await;
    has_events(&ns, "BanAppeal", "please", &["AppealApproved"]).await;

    // The decision is final.
    let change = json!({ "spec": { "decision": { "outcome": "Denied", "reviewer": "mod-bob" } } });
    let error = appeals
        .patch("please", &PatchParams::default(), &Patch::Merge(&change))
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("spec.decision is final"),
        "{error}"
    );
    ns.cleanup().await;
}

#[tokio::test]
async fn lifting_and_deleting_leave_a_record() {
    let ns = TestNamespace::new("lift").await;
    let operator = ns.operator();
    apply_ok(&ns.name, &ban("to-lift", "{userId: \"1\"}", ""));
    apply_ok(&ns.name, &ban("to-delete", "{userId: \"2\"}", ""));
    eventually("published", Duration::from_secs(20), || async {
        (ids(&ns).await == ["UserBan/to-delete", "UserBan/to-lift"]).then_some(())
    })
    .await;
    // Lifted once it is on the record as in force (its status follows the
    // blocklist, after a burst has settled).
    eventually("in force", Duration::from_secs(20), || async {
        (phase(&ns, "to-lift").await == Some(Phase::Active)).then_some(())
    })
    .await;
    apply_ok(
        &ns.name,
        &ban(
            "to-lift",
            "{userId: \"1\"}",
            "  lift: {reason: Mistaken identity, by: mod-ann}\n",
        ),
    );
    eventually("lifted", Duration::from_secs(15), || async {
        (phase(&ns, "to-lift").await == Some(Phase::Lifted)).then_some(())
    })
    .await;
    // Honoured once: taking the lift out again does not bring the ban back.
    apply_ok(&ns.name, &ban("to-lift", "{userId: \"1\"}", ""));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(phase(&ns, "to-lift").await, Some(Phase::Lifted));
    has_events(&ns, "UserBan", "to-lift", &["Applied", "Lifted"]).await;

    ns.api::<UserBan>()
        .delete("to-delete", &DeleteParams::default())
        .await
        .unwrap();
    eventually("deleted ban gone", Duration::from_secs(15), || async {
        let gone = ns
            .api::<UserBan>()
            .get_opt("to-delete")
            .await
            .unwrap()
            .is_none();
        let unpublished = !ids(&ns).await.contains(&"UserBan/to-delete".to_string());
        (gone && unpublished).then_some(())
    })
    .await;
    has_events(&ns, "UserBan", "to-delete", &["Deleted"]).await;
    let audit = operator.audit_lines();
    assert!(
        audit
            .iter()
            .any(|l| l["name"] == "to-delete" && l["action"] == "Deleted"),
        "audit line for the deletion"
    );
    assert!(
        audit
            .iter()
            .any(|l| l["name"] == "to-lift" && l["action"] == "Lifted")
    );
    ns.cleanup().await;
}

#[tokio::test]
async fn exemptions_win_over_bans() {
    let ns = TestNamespace::new("exempt").await;
    let _operator = ns.operator();
    let dir = tempfile::tempdir().unwrap();
    apply_ok(&ns.name, &ban("range", "{ip: 10.0.0.0/8}", ""));
    apply_ok(&ns.name, &ban("user-7", "{userId: \"7\"}", ""));
    apply_ok(
        &ns.name,
        "apiVersion: interdict.dev/v1alpha1\nkind: BanExemption\nmetadata: {name: office}\nspec:\n  subject: {ip: 10.1.2.3}\n  reason: {code: office-network}\n---\napiVersion: interdict.dev/v1alpha1\nkind: BanExemption\nmetadata: {name: vip}\nspec:\n  subject: {userId: \"7\"}\n  reason: {code: staff}\n",
    );
    eventually("exemptions published", Duration::from_secs(20), || async {
        let doc = document(&ns).await?;
        (doc.exemptions.len() == 2
            && doc
                .entries
                .iter()
                .map(|e| e.id.as_str())
                .collect::<Vec<_>>()
                == ["UserBan/range"])
        .then_some(())
    })
    .await;
    let inside = check(
        &ns,
        dir.path(),
        &["--feature", "comments", "--ip", "10.1.2.3"],
    )
    .await;
    assert_eq!(
        inside["allowed"], true,
        "an exempt IP inside a banned CIDR is allowed: {inside}"
    );
    let other = check(
        &ns,
        dir.path(),
        &["--feature", "comments", "--ip", "10.9.9.9"],
    )
    .await;
    assert_eq!(other["allowed"], false, "{other}");
    let user = check(&ns, dir.path(), &["--feature", "comments", "--user", "7"]).await;
    assert_eq!(
        user["allowed"], true,
        "a banned-and-exempt user is allowed: {user}"
    );
    // Statuses follow the blocklist.
    let status = eventually(
        "exemptedBy in the status",
        Duration::from_secs(10),
        || async {
            ns.api::<UserBan>()
                .get("user-7")
                .await
                .ok()?
                .status
                .filter(|s| s.exempted_by.as_deref() == Some("BanExemption/vip"))
        },
    )
    .await;
    assert!(
        status.conditions[0]
            .message
            .contains("BanExemption/vip exempts this subject"),
        "{:?}",
        status.conditions
    );
    has_events(&ns, "UserBan", "user-7", &["Exempted"]).await;
    has_events(&ns, "BanExemption", "office", &["Applied"]).await;
    ns.cleanup().await;
}

/// A ban of an exempt subject is announced as exempted (phase, Event, audit
/// line; no Applied, so no notification asking to revoke sessions), and as
/// applied once the exemption goes.
#[tokio::test]
async fn a_ban_of_an_exempt_subject_is_announced_as_exempted() {
    let ns = TestNamespace::new("exempt-phase").await;
    let operator = ns.operator();
    apply_ok(
        &ns.name,
        "apiVersion: interdict.dev/v1alpha1\nkind: BanExemption\nmetadata: {name: staff}\nspec:\n  subject: {userId: \"8\"}\n  reason: {code: staff}\n",
    );
    eventually(
        "the exemption published",
        Duration::from_secs(20),
        || async { (document(&ns).await?.exemptions.len() == 1).then_some(()) },
    )
    .await;
    apply_ok(&ns.name, &ban("user-8", "{userId: \"8\"}", ""));
    eventually("the Exempted phase", Duration::from_secs(20), || async {
        (phase(&ns, "user-8").await == Some(Phase::Exempted)).then_some(())
    })
    .await;
    has_events(&ns, "UserBan", "user-8", &["Exempted"]).await;
    let applied = |operator: &common::Operator| {
        operator
            .audit_lines()
            .iter()
            .filter(|l| l["name"] == "user-8" && l["action"] == "Applied")
            .count()
    };
    assert!(
        !reasons(&ns, "UserBan", "user-8")
            .await
            .contains(&"Applied".to_string()),
        "an exempted ban is not announced as applied"
    );
    assert_eq!(applied(&operator), 0, "{:?}", operator.audit_lines());

    ns.api::<interdict::api::BanExemption>()
        .delete("staff", &DeleteParams::default())
        .await
        .unwrap();
    eventually("the ban in force", Duration::from_secs(20), || async {
        (phase(&ns, "user-8").await == Some(Phase::Active)).then_some(())
    })
    .await;
    has_events(&ns, "UserBan", "user-8", &["Exempted", "Applied"]).await;
    assert_eq!(ids(&ns).await, ["UserBan/user-8"]);
    // Deleting the exemption is on the record too.
    has_events(&ns, "BanExemption", "staff", &["Deleted"]).await;
    let deleted = operator
        .audit_lines()
        .iter()
        .filter(|l| l["kind"] == "BanExemption" && l["name"] == "staff" && l["action"] == "Deleted")
        .count();
    assert_eq!(deleted, 1, "{:?}", operator.audit_lines());
    ns.cleanup().await;
}

#[tokio::test]
async fn sessions_stay_revoked_for_the_retention_window() {
    let ns = TestNamespace::new("sessions").await;
    let _operator = ns.operator_with(&["--session-revocation-retention", "6s"]);
    let dir = tempfile::tempdir().unwrap();
    apply_ok(
        &ns.name,
        &ban("brief", "{userId: \"5\"}", "  duration: 3s\n"),
    );
    let during = eventually("published", Duration::from_secs(20), || async {
        let doc = document(&ns).await?;
        doc.entries.into_iter().find(|e| e.id == "UserBan/brief")
    })
    .await;
    let revoked = during
        .revoke_sessions_before
        .expect("Suspend revokes sessions");
    let denied = check(&ns, dir.path(), &["--feature", "comments", "--user", "5"]).await;
    assert_eq!(denied["allowed"], false);
    eventually("expired", Duration::from_secs(10), || async {
        (phase(&ns, "brief").await == Some(Phase::Expired)).then_some(())
    })
    .await;
    let after = check(&ns, dir.path(), &["--feature", "comments", "--user", "5"]).await;
    assert_eq!(after["allowed"], true, "{after}");
    assert_eq!(
        after["revokeSessionsBefore"]
            .as_str()
            .map(|t| t.parse::<chrono::DateTime<chrono::Utc>>().unwrap()),
        Some(revoked),
        "sessions from before the ban stay invalid after it: {after}"
    );
    let kept = document(&ns).await.unwrap();
    assert!(kept.entries.is_empty(), "the ended ban left the entries");
    assert_eq!(
        kept.revocations.len(),
        1,
        "its session revocation stays for the window"
    );
    assert_eq!(kept.revocations[0].before, revoked);
    eventually(
        "revocation dropped after the retention window",
        Duration::from_secs(15),
        || async {
            document(&ns)
                .await
                .filter(|d| d.revocations.is_empty())
                .map(|_| ())
        },
    )
    .await;
    let later = check(&ns, dir.path(), &["--feature", "comments", "--user", "5"]).await;
    assert_eq!(later, json!({ "allowed": true }), "{later}");
    ns.cleanup().await;
}

#[tokio::test]
async fn review_due_on_schedule() {
    let ns = TestNamespace::new("review").await;
    let _operator = ns.operator();
    apply_ok(
        &ns.name,
        &ban("forever", "{userId: \"9\"}", "  reviewAfter: 4s\n"),
    );
    eventually("published", Duration::from_secs(20), || async {
        (ids(&ns).await == ["UserBan/forever"]).then_some(())
    })
    .await;
    let due = |status: &interdict::api::BanStatus| {
        status
            .conditions
            .iter()
            .any(|c| c.type_ == "ReviewDue" && c.status == "True")
    };
    let early = eventually("status written", Duration::from_secs(10), || async {
        ns.api::<UserBan>()
            .get("forever")
            .await
            .ok()?
            .status
            .filter(|s| s.review_at.is_some())
    })
    .await;
    assert!(!due(&early), "not due yet: {:?}", early.conditions);
    let review_at = early.review_at.expect("review time in status");
    eventually("ReviewDue", Duration::from_secs(15), || async {
        ns.api::<UserBan>()
            .get("forever")
            .await
            .ok()?
            .status
            .filter(|s| due(s))
            .map(|_| ())
    })
    .await;
    assert!(chrono::Utc::now() >= review_at);
    has_events(&ns, "UserBan", "forever", &["ReviewDue"]).await;
    let table = cluster().kubectl_ok(&["get", "ub", "-n", &ns.name]);
    assert!(
        table.lines().next().unwrap().contains("REVIEW-DUE"),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("forever") && l.contains("True")),
        "{table}"
    );
    ns.cleanup().await;
}

#[tokio::test]
async fn moderation_examples_apply_and_behave() {
    let ns = TestNamespace::new("moderation-examples").await;
    let _operator = ns.operator();
    let examples = common::repo_root().join("examples");
    cluster().kubectl_ok(&["apply", "-n", &ns.name, "-f", examples.to_str().unwrap()]);
    cluster().kubectl_ok(&[
        "apply",
        "-n",
        &ns.name,
        "-f",
        examples.join("moderation").to_str().unwrap(),
    ]);
    cluster().kubectl_ok(&[
        "wait",
        "--for=condition=Ready",
        "-n",
        &ns.name,
        "ub,fb,bex,bap",
        "--all",
        "--timeout=60s",
    ]);
    let appeal = ns.api::<BanAppeal>().get("appeal-user-9001").await.unwrap();
    assert_eq!(
        appeal.status.unwrap().phase,
        Some(interdict::api::AppealPhase::Pending)
    );
    eventually("lifted example", Duration::from_secs(10), || async {
        (phase(&ns, "mistaken-user-778").await == Some(Phase::Lifted)).then_some(())
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let exempt = check(
        &ns,
        dir.path(),
        &["--feature", "comments", "--ip", "203.0.113.10"],
    )
    .await;
    assert_eq!(exempt["allowed"], true, "{exempt}");
    let banned = check(
        &ns,
        dir.path(),
        &["--feature", "comments", "--ip", "203.0.113.77"],
    )
    .await;
    assert_eq!(banned["allowed"], false, "{banned}");
    ns.cleanup().await;
}

#[tokio::test]
async fn retention_deletes_ended_records_after_their_period_and_keeps_held_ones() {
    let ns = TestNamespace::new("retention").await;
    let operator = ns.operator_with(&["--retention", "2s", "--session-revocation-retention", "1s"]);
    let short = |name: &str, user: &str, annotations: &str| {
        format!(
            "apiVersion: interdict.dev/v1alpha1\nkind: UserBan\nmetadata: {{name: {name}, annotations: {{{annotations}}}}}\nspec:\n  subject: {{userId: \"{user}\"}}\n  reason: {{code: spam}}\n  duration: 1s\n"
        )
    };
    apply_ok(&ns.name, &short("ended", "1", ""));
    apply_ok(
        &ns.name,
        &short("held", "2", "interdict.dev/legal-hold: \"true\""),
    );
    apply_ok(
        &ns.name,
        &short("own-period", "3", "interdict.dev/retention: 1h"),
    );
    apply_ok(&ns.name, &ban("in-force", "{userId: \"4\"}", ""));
    // An approved appeal keeps its ban lifted: it stays while the ban exists.
    apply_ok(
        &ns.name,
        &ban("appealed", "{userId: \"5\"}", "  appeal: {allowed: true}\n"),
    );
    apply_ok(&ns.name, &appeal("please", "appealed"));
    let decision =
        json!({ "spec": { "decision": { "outcome": "Approved", "reviewer": "mod-ann" } } });
    ns.api::<BanAppeal>()
        .patch("please", &PatchParams::default(), &Patch::Merge(&decision))
        .await
        .unwrap();

    let bans = ns.api::<UserBan>();
    eventually(
        "the ended bans are deleted",
        Duration::from_secs(60),
        || async {
            let ended = bans.get_opt("ended").await.unwrap();
            let appealed = bans.get_opt("appealed").await.unwrap();
            (ended.is_none() && appealed.is_none()).then_some(())
        },
    )
    .await;
    // The appeal goes at the next sweep once its ban is gone.
    eventually(
        "the decided appeal is deleted",
        Duration::from_secs(90),
        || async {
            ns.api::<BanAppeal>()
                .get_opt("please")
                .await
                .unwrap()
                .is_none()
                .then_some(())
        },
    )
    .await;
    for kept in ["held", "own-period", "in-force"] {
        assert!(
            bans.get_opt(kept).await.unwrap().is_some(),
            "{kept} was deleted"
        );
    }
    let held = bans.get("held").await.unwrap();
    assert_eq!(held.status.unwrap().phase, Some(Phase::Expired));

    let lines = operator.audit_lines();
    let retained: Vec<&Value> = lines
        .iter()
        .filter(|l| l["action"] == "RetentionPassed")
        .collect();
    let names: Vec<&str> = retained.iter().filter_map(|l| l["name"].as_str()).collect();
    assert!(
        names.contains(&"ended") && names.contains(&"appealed") && names.contains(&"please"),
        "{names:?}"
    );
    assert_eq!(
        names.iter().filter(|n| **n == "ended").count(),
        1,
        "one final line per object"
    );
    assert!(
        retained[0]["message"].as_str().unwrap().contains("kept 2s"),
        "{}",
        retained[0]
    );
    ns.cleanup().await;
}
