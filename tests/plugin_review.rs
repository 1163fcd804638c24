//! `kubectl interdict why`, `appeals` and `decide` on a real control plane:
//! the answer `interdict check` gives on the same ConfigMaps, the appeal
//! queue, a decision, and a refusal for a reviewer without `decide`.

mod common;

use std::process::Command;
use std::time::Duration;

use common::plugin::{json, phase_of, plugin, plugin_ok, plugin_with};
use common::principal::{Principal, Rule};
use common::{TestNamespace, apply_ok, eventually, output_text};
use interdict::api::{AppealPhase, BanAppeal, Phase};
use k8s_openapi::api::core::v1::ConfigMap;
use serde_json::Value;

/// `interdict check` on the namespace's ConfigMaps, published as kubelet does.
async fn check(ns: &TestNamespace, args: &[&str]) -> Value {
    let cm = ns
        .api::<ConfigMap>()
        .get("interdict-blocklist")
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    common::mount::kubelet_publish(dir.path(), &cm.data.unwrap());
    let output = Command::new(env!("CARGO_BIN_EXE_interdict"))
        .args(["check", "--dir", dir.path().to_str().unwrap()])
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", output_text(&output));
    json(&String::from_utf8(output.stdout).unwrap())
}

#[tokio::test]
async fn why_gives_the_answer_check_gives_on_the_same_data() {
    let ns = TestNamespace::new("plugin-why").await;
    let n = ns.name.as_str();
    let _operator = ns.operator();
    plugin_ok(&[
        "silence",
        "-n",
        n,
        "--user",
        "5",
        "--for",
        "7d",
        "--reason",
        "spam",
        "--message",
        "Silenced for a week.",
    ]);
    plugin_ok(&[
        "block",
        "-n",
        n,
        "--user",
        "5",
        "--feature",
        "uploads",
        "--scope",
        "page=/p/1",
        "--permanent",
        "--reason",
        "abuse",
    ]);
    plugin_ok(&[
        "ban",
        "-n",
        n,
        "--email",
        "eve@example.org",
        "--until",
        "2099-01-01",
        "--starts",
        "2098-01-01",
        "--reason",
        "fraud",
    ]);
    eventually(
        "three entries published",
        Duration::from_secs(30),
        || async {
            let cm = ns
                .api::<ConfigMap>()
                .get_opt("interdict-blocklist")
                .await
                .ok()??;
            let doc = cm.data?.remove("blocklist.json")?;
            (doc.matches("\"id\":").count() == 3).then_some(())
        },
    )
    .await;

    // Within the week of the silence, long before the scheduled ban.
    let soon = (chrono::Utc::now() + chrono::Duration::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let at = ["--at", soon.as_str()];
    for query in [
        &["--user", "5", "--feature", "comments"][..],
        &["--user", "5", "--feature", "read"],
        &[
            "--user",
            "5",
            "--feature",
            "uploads",
            "--scope",
            "page=/p/1",
        ],
        &["--email", "Eve+x@Example.org", "--feature", "login"],
        &["--user", "6", "--feature", "login"],
    ] {
        let args = [query, &at[..]].concat();
        let why = json(&plugin_ok(
            &[&["why", "-n", n, "-o", "json"][..], &args].concat(),
        ));
        assert_eq!(why, check(&ns, &args).await, "{query:?}");
    }
    let denied = plugin_ok(
        &[
            &["why", "-n", n, "--user", "5", "--feature", "comments"][..],
            &at[..],
        ]
        .concat(),
    );
    assert!(
        denied.starts_with("DENIED: userId:5 may not use comments"),
        "{denied}"
    );
    assert!(
        denied.contains("Silenced for a week.") && denied.contains("Notices:"),
        "{denied}"
    );
    ns.cleanup().await;
}

#[tokio::test]
async fn appeals_are_queued_and_decided_and_a_reviewer_without_decide_is_told_why() {
    let ns = TestNamespace::new("plugin-appeals").await;
    let n = ns.name.as_str();
    let _operator = ns.operator();
    plugin_ok(&[
        "ban",
        "-n",
        n,
        "--user",
        "11",
        "--for",
        "30d",
        "--reason",
        "spam",
        "--appealable",
        "--appeal-instructions",
        "Reply to the email.",
    ]);
    apply_ok(
        n,
        "apiVersion: interdict.dev/v1alpha1\nkind: BanAppeal\nmetadata: {name: please}\nspec:\n  banRef: {kind: UserBan, name: spam-user-11}\n  statement: It was my little brother, who borrowed my laptop for a whole week.\n",
    );
    eventually("appeal pending", Duration::from_secs(30), || async {
        let appeal = ns.api::<BanAppeal>().get("please").await.ok()?;
        (appeal.status?.phase == Some(AppealPhase::Pending)).then_some(())
    })
    .await;
    let queue = json(&plugin_ok(&["appeals", "-n", n, "-o", "json"]));
    assert_eq!(queue[0]["name"], "please");
    assert_eq!(queue[0]["ban"], "spam-user-11");
    let table = plugin_ok(&["appeals", "-n", n]);
    assert!(
        table.contains("ub/spam-user-11") && table.contains('…'),
        "the statement is cut: {table}"
    );

    // A principal that may patch appeals but not decide them is refused, plainly.
    let patcher = Principal::new(
        n,
        "patcher",
        &[Rule {
            group: "interdict.dev",
            resources: &["banappeals"],
            verbs: &["get", "list", "patch"],
        }],
    );
    let refused = plugin_with(
        &patcher.kubeconfig,
        &["decide", "-n", n, "please", "--approve"],
    );
    assert_eq!(refused.status.code(), Some(1), "{}", output_text(&refused));
    let message = output_text(&refused);
    assert!(
        message.contains("may not decide appeals") && message.contains("decide verb"),
        "{message}"
    );
    assert!(
        ns.api::<BanAppeal>()
            .get("please")
            .await
            .unwrap()
            .spec
            .decision
            .is_none()
    );

    let decided = plugin_ok(&[
        "decide",
        "-n",
        n,
        "bap/please",
        "--approve",
        "--notes",
        "First offence",
        "--reviewer",
        "ann",
    ]);
    assert!(
        decided.contains("approved") && decided.contains("ub/spam-user-11"),
        "{decided}"
    );
    let decision = ns
        .api::<BanAppeal>()
        .get("please")
        .await
        .unwrap()
        .spec
        .decision
        .unwrap();
    assert_eq!(
        (
            format!("{:?}", decision.outcome),
            decision.reviewer.as_str()
        ),
        ("Approved".into(), "ann")
    );
    eventually(
        "ban lifted by the approval",
        Duration::from_secs(30),
        || async { (phase_of(&ns, "spam-user-11").await == Some(Phase::Lifted)).then_some(()) },
    )
    .await;
    assert_eq!(
        json(&plugin_ok(&["appeals", "-n", n, "-o", "json"])),
        Value::Array(vec![])
    );
    let twice = plugin(&["decide", "-n", n, "please", "--deny"]);
    assert_eq!(twice.status.code(), Some(1));
    assert!(output_text(&twice).contains("decisions are final"));
    ns.cleanup().await;
}
