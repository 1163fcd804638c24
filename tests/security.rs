//! The security defects found by trying the product as an attacker, each
//! replayed as the least-privileged principal that would try it: an
//! application or appellant that may only create appeals, a reviewer without
//! the decide permission, an application that owns ConfigMaps, a moderator.

mod common;

use std::time::Duration;

use common::http::{free_port, http};
use common::principal::{Principal, Rule};
use common::{TestNamespace, apply_ok, eventually};
use interdict::api::{BanAppeal, Phase, UserBan};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::events::v1::Event;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

const GROUP: &str = "interdict.dev";

fn appealable_ban(name: &str) -> String {
    format!(
        "apiVersion: interdict.dev/v1alpha1\nkind: UserBan\nmetadata: {{name: {name}}}\n\
         spec:\n  subject: {{userId: \"{name}\"}}\n  reason: {{code: spam}}\n  appeal: {{allowed: true}}\n"
    )
}

fn appeal(name: &str, ban: &str, decided: bool) -> String {
    let decision = if decided {
        "  decision: {outcome: Approved, reviewer: someone}\n"
    } else {
        ""
    };
    format!(
        "apiVersion: interdict.dev/v1alpha1\nkind: BanAppeal\nmetadata: {{name: {name}}}\n\
         spec:\n  banRef: {{kind: UserBan, name: {ban}}}\n  statement: It was not me.\n{decision}"
    )
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

async fn ban_phase(ns: &TestNamespace, name: &str) -> Option<Phase> {
    ns.api::<UserBan>().get(name).await.ok()?.status?.phase
}

/// Admission policies take effect a moment after they are created (the API
/// server's policy informer): wait until a dry run of `manifest` as
/// `principal` is refused, so the real attempt below is not a race.
async fn until_refused(principal: &Principal, manifest: &str) {
    eventually(
        "the appeal-decision admission policy to take effect",
        Duration::from_secs(30),
        || async {
            let output = principal.kubectl(
                &[
                    "create",
                    "--dry-run=server",
                    "-n",
                    &principal.namespace,
                    "-f",
                    "-",
                ],
                manifest,
            );
            (!output.status.success()).then_some(())
        },
    )
    .await;
}

/// Item 1: a principal allowed only to create appeals cannot create one that
/// is born decided; a reviewer needs the `decide` verb to set a decision, on
/// update as on create; with it, the decision is honoured.
#[tokio::test]
async fn only_a_decider_can_decide_an_appeal() {
    let ns = TestNamespace::new("sec-decide").await;
    let _operator = ns.operator();
    apply_ok(&ns.name, &appealable_ban("victim"));
    eventually("the ban in force", Duration::from_secs(30), || async {
        (ban_phase(&ns, "victim").await == Some(Phase::Active)).then_some(())
    })
    .await;

    let appellant = Principal::new(
        &ns.name,
        "appellant",
        &[Rule {
            group: GROUP,
            resources: &["banappeals"],
            verbs: &["create"],
        }],
    );
    until_refused(&appellant, &appeal("born-decided", "victim", true)).await;
    let born_decided = appellant.kubectl(
        &["create", "-n", &ns.name, "-f", "-"],
        &appeal("born-decided", "victim", true),
    );
    assert!(
        !born_decided.status.success(),
        "an appellant created an approved appeal"
    );
    let refusal = stderr(&born_decided);
    assert!(
        refusal.contains("spec.decision")
            && refusal.contains("decide")
            && refusal.contains(&appellant.username()),
        "the refusal names the field, the permission and the user: {refusal}"
    );
    let appeals = ns.api::<BanAppeal>();
    assert!(appeals.get_opt("born-decided").await.unwrap().is_none());

    let filed = appellant.kubectl(
        &["create", "-n", &ns.name, "-f", "-"],
        &appeal("honest", "victim", false),
    );
    assert!(filed.status.success(), "{}", stderr(&filed));

    // A reviewer who may patch appeals but not decide them.
    let patcher = Principal::new(
        &ns.name,
        "patcher",
        &[Rule {
            group: GROUP,
            resources: &["banappeals"],
            verbs: &["get", "patch"],
        }],
    );
    let decision = json!({"spec": {"decision": {"outcome": "Approved", "reviewer": "patcher"}}});
    let patched = patcher.client().await;
    let refused = kube::Api::<BanAppeal>::namespaced(patched, &ns.name)
        .patch("honest", &PatchParams::default(), &Patch::Merge(&decision))
        .await;
    match refused {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 403, "{status:?}");
            assert!(status.message.contains("decide"), "{}", status.message);
        }
        other => panic!("a reviewer without decide set a decision: {other:?}"),
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        ban_phase(&ns, "victim").await,
        Some(Phase::Active),
        "no refused attempt may lift the ban"
    );

    // A decider: the same patch goes through and the operator lifts the ban.
    let decider = Principal::new(
        &ns.name,
        "decider",
        &[Rule {
            group: GROUP,
            resources: &["banappeals"],
            verbs: &["get", "patch", "decide"],
        }],
    );
    kube::Api::<BanAppeal>::namespaced(decider.client().await, &ns.name)
        .patch("honest", &PatchParams::default(), &Patch::Merge(&decision))
        .await
        .expect("a decider decides");
    eventually(
        "the approved appeal to lift the ban",
        Duration::from_secs(30),
        || async { (ban_phase(&ns, "victim").await == Some(Phase::Lifted)).then_some(()) },
    )
    .await;
    ns.cleanup().await;
}

fn metric(port: u16, name: &str, labels: &str) -> Option<f64> {
    let (_, body) = http(port, "GET", "/metrics")?;
    body.lines()
        .find(|l| l.starts_with(name) && l.contains(labels))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

async fn ready_reason(ns: &TestNamespace, name: &str) -> Option<(String, String, String)> {
    let ban = ns.api::<UserBan>().get(name).await.ok()?;
    let ready = ban
        .status?
        .conditions
        .into_iter()
        .find(|c| c.type_ == "Ready")?;
    Some((ready.status, ready.reason, ready.message))
}

/// Item 2: a ConfigMap with the blocklist's name that the operator did not
/// make is never written: the bans say why they are not Ready, a Warning Event
/// names the ConfigMap, a metric counts it. Once it is gone, publishing resumes.
#[tokio::test]
async fn a_foreign_configmap_is_never_taken_over() {
    let ns = TestNamespace::new("sec-foreign-cm").await;
    let app = Principal::new(
        &ns.name,
        "app",
        &[Rule {
            group: "",
            resources: &["configmaps"],
            verbs: &["create", "get"],
        }],
    );
    let theirs = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "interdict-blocklist"},
        "data": {"app.properties": "color=blue\n"},
    });
    let created = app.kubectl(&["create", "-n", &ns.name, "-f", "-"], &theirs.to_string());
    assert!(created.status.success(), "{}", stderr(&created));

    let port = free_port();
    let metrics = format!("127.0.0.1:{port}");
    let operator = ns.operator_with(&["--metrics-addr", &metrics]);
    let moderator = Principal::new(
        &ns.name,
        "moderator",
        &[Rule {
            group: GROUP,
            resources: &["userbans"],
            verbs: &["create", "get"],
        }],
    );
    let ban = moderator.apply(&appealable_ban("spammer"));
    assert!(ban.status.success(), "{}", stderr(&ban));

    let (status, _, message) = eventually(
        "the ban to report the conflict",
        Duration::from_secs(30),
        || async {
            ready_reason(&ns, "spammer")
                .await
                .filter(|(_, reason, _)| reason == "BlocklistConflict")
        },
    )
    .await;
    assert_eq!(status, "False");
    assert!(
        message.contains(&format!("ConfigMap {}/interdict-blocklist", ns.name)),
        "{message}"
    );
    let events = ns
        .api::<Event>()
        .list(&ListParams::default())
        .await
        .unwrap();
    let warning = events
        .items
        .iter()
        .find(|e| e.reason.as_deref() == Some("BlocklistConflict"))
        .expect("a BlocklistConflict Event");
    let regarding = warning.regarding.as_ref().expect("regarding");
    assert_eq!(regarding.kind.as_deref(), Some("ConfigMap"));
    assert_eq!(regarding.name.as_deref(), Some("interdict-blocklist"));
    assert_eq!(warning.type_.as_deref(), Some("Warning"));
    let labels = format!("namespace=\"{}\"", ns.name);
    assert_eq!(
        metric(port, "interdict_blocklist_conflicts", &labels),
        Some(1.0)
    );
    let cm = ns
        .api::<ConfigMap>()
        .get("interdict-blocklist")
        .await
        .unwrap();
    assert_eq!(
        cm.data.unwrap_or_default(),
        [("app.properties".to_string(), "color=blue\n".to_string())].into(),
        "the application's ConfigMap is untouched"
    );
    assert!(cm.metadata.labels.unwrap_or_default().is_empty());

    // The owner moves its data away: the operator publishes and recovers.
    ns.api::<ConfigMap>()
        .delete("interdict-blocklist", &Default::default())
        .await
        .unwrap();
    eventually(
        "the ban Ready once the name is free",
        Duration::from_secs(60),
        || async {
            ready_reason(&ns, "spammer")
                .await
                .filter(|(status, _, _)| status == "True")
        },
    )
    .await;
    let ours = ns
        .api::<ConfigMap>()
        .get("interdict-blocklist")
        .await
        .unwrap();
    assert!(ours.data.unwrap_or_default().contains_key("blocklist.json"));
    assert_eq!(
        metric(port, "interdict_blocklist_conflicts", &labels),
        Some(0.0)
    );
    // Text logs written to a file carry no terminal colour codes.
    let log = operator.log();
    assert!(log.contains("blocklist written"), "{log}");
    assert!(!log.contains('\u{1b}'), "ANSI escape codes in a log file");
    ns.cleanup().await;
}

fn moderator(ns: &TestNamespace) -> Principal {
    Principal::new(
        &ns.name,
        "moderator",
        &[Rule {
            group: GROUP,
            resources: &["userbans", "featureblocks", "banexemptions"],
            verbs: &["create", "get", "list"],
        }],
    )
}

/// Item 3: a very wide IP range is refused unless acknowledged; the error says how.
#[tokio::test]
async fn wide_ip_ranges_need_an_acknowledgement() {
    let ns = TestNamespace::new("sec-wide").await;
    let moderator = moderator(&ns);
    for (index, (kind, range)) in [
        ("UserBan", "0.0.0.0/0"),
        ("UserBan", "10.0.0.0/7"),
        ("FeatureBlock", "::/0"),
        ("BanExemption", "2001:db8::/31"),
    ]
    .into_iter()
    .enumerate()
    {
        let extra = if kind == "FeatureBlock" {
            "  features: [comments]\n"
        } else {
            ""
        };
        let manifest = format!(
            "apiVersion: interdict.dev/v1alpha1\nkind: {kind}\nmetadata: {{name: wide}}\n\
             spec:\n  subject: {{ip: \"{range}\"}}\n  reason: {{code: typo}}\n{extra}"
        );
        let refused = moderator.apply(&manifest);
        assert!(!refused.status.success(), "{kind} {range} was accepted");
        let message = stderr(&refused);
        assert!(
            message.contains("spec.subject.ip") && message.contains("acknowledgeWideRange: true"),
            "{message}"
        );
        let acknowledged = manifest.replace(
            &format!("{{ip: \"{range}\"}}"),
            &format!("{{ip: \"{range}\", acknowledgeWideRange: true}}"),
        );
        let name = format!("wide-{index}");
        let acknowledged = acknowledged.replace("name: wide}", &format!("name: {name}}}"));
        let accepted = moderator.apply(&acknowledged);
        assert!(accepted.status.success(), "{}", stderr(&accepted));
    }
    let narrow = moderator.apply(
        "apiVersion: interdict.dev/v1alpha1\nkind: UserBan\nmetadata: {name: narrow}\n\
         spec:\n  subject: {ip: 10.0.0.0/8}\n  reason: {code: abuse}\n",
    );
    assert!(narrow.status.success(), "{}", stderr(&narrow));
    ns.cleanup().await;
}

/// Item 4: control characters never get in, wherever they would be published.
#[tokio::test]
async fn control_characters_are_refused_and_nothing_is_stored() {
    let ns = TestNamespace::new("sec-ctl").await;
    let moderator = moderator(&ns);
    let cases = [
        (
            "UserBan",
            "subject: {username: \"mallory\\nalice\"}",
            "username",
        ),
        ("UserBan", "subject: {userId: \"1\\u0000\"}", "userId"),
        (
            "UserBan",
            "subject: {email: \"a\\u0007@example.org\"}",
            "email",
        ),
        (
            "UserBan",
            "subject: {keyFingerprint: \"ab\\u2028cd\"}",
            "keyFingerprint",
        ),
        (
            "UserBan",
            "subject: {userId: \"1\"}\n  message: \"first\\r\\nsecond\"",
            "message",
        ),
        (
            "FeatureBlock",
            "subject: {userId: \"1\"}\n  features: [comments]\n  scopes: [{kind: page, name: \"/a\\n/b\"}]",
            "scope name",
        ),
        (
            "UserBan",
            "subject: {userId: \"1\"}\n  appeal: {allowed: true, instructions: \"\\u001b[31mred\"}",
            "appeal.instructions",
        ),
    ];
    for (index, (kind, spec, field)) in cases.iter().enumerate() {
        let manifest = format!(
            "apiVersion: interdict.dev/v1alpha1\nkind: {kind}\nmetadata: {{name: ctl-{index}}}\n\
             spec:\n  {spec}\n  reason: {{code: spam}}\n"
        );
        let refused = moderator.apply(&manifest);
        assert!(!refused.status.success(), "case {index} ({field}) accepted");
        let message = stderr(&refused);
        assert!(
            message.contains(field) && message.contains("control characters"),
            "case {index}: {message}"
        );
    }
    let stored = ns
        .api::<UserBan>()
        .list(&ListParams::default())
        .await
        .unwrap();
    assert!(stored.items.is_empty(), "nothing invalid is stored");

    // Free text may span lines.
    let notes = moderator.apply(
        "apiVersion: interdict.dev/v1alpha1\nkind: UserBan\nmetadata: {name: notes}\n\
         spec:\n  subject: {userId: \"1\"}\n  reason: {code: spam, notes: \"line one\\nline two\"}\n",
    );
    assert!(notes.status.success(), "{}", stderr(&notes));
    let _ = ns
        .api::<UserBan>()
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "interdict.dev/v1alpha1", "kind": "UserBan",
                "metadata": {"name": "typed"},
                "spec": {"subject": {"username": "x\ny"}, "reason": {"code": "spam"}},
            }))
            .unwrap(),
        )
        .await
        .expect_err("the typed client is refused the same way");
    ns.cleanup().await;
}
