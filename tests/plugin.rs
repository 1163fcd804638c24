//! `kubectl interdict` on a real control plane, run as a user runs it (the
//! built binary with `--kubeconfig`): bans and their dry runs, emails never
//! stored in clear, lifting by subject, a subject's record across
//! namespaces, `why` against `interdict check`, appeals and an RBAC refusal,
//! and imports (a bad row writes nothing; a good one is labelled, idempotent,
//! undone and exported back).

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::principal::{Principal, Rule};
use common::{TestNamespace, apply_ok, cluster, eventually, output_text};
use interdict::api::{AppealPhase, BanAppeal, FeatureBlock, Phase, UserBan};
use interdict::core::email::hash_email;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::ListParams;
use serde_json::Value;

/// `kubectl-interdict ARGS` with the given kubeconfig, standard input closed.
fn plugin_with(kubeconfig: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubectl-interdict"))
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run kubectl-interdict")
}

fn plugin(args: &[&str]) -> Output {
    plugin_with(&cluster().kubeconfig, args)
}

/// Runs the plugin, asserts it succeeded, returns its standard output.
fn plugin_ok(args: &[&str]) -> String {
    let output = plugin(args);
    assert!(
        output.status.success(),
        "kubectl-interdict {args:?} exited {}: {}",
        output.status,
        output_text(&output)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

async fn user_ban(ns: &TestNamespace, name: &str) -> Option<UserBan> {
    ns.api::<UserBan>().get_opt(name).await.unwrap()
}

async fn phase_of(ns: &TestNamespace, name: &str) -> Option<Phase> {
    user_ban(ns, name).await?.status?.phase
}

async fn count(ns: &TestNamespace) -> usize {
    let params = ListParams::default();
    ns.api::<UserBan>().list(&params).await.unwrap().items.len()
        + ns.api::<FeatureBlock>()
            .list(&params)
            .await
            .unwrap()
            .items
            .len()
}

#[tokio::test]
async fn ban_silence_and_block_write_what_their_dry_runs_print() {
    let ns = TestNamespace::new("plugin-ban").await;
    let n = ns.name.as_str();

    // A client dry run prints YAML that kubectl applies as is, and sends nothing.
    let manifest = plugin_ok(&[
        "ban",
        "-n",
        n,
        "--user",
        "123",
        "--for",
        "7d",
        "--reason",
        "spam",
        "--message",
        "Suspended for spam.",
        "--appealable",
        "--dry-run",
    ]);
    assert!(
        user_ban(&ns, "spam-user-123").await.is_none(),
        "a dry run writes nothing"
    );
    apply_ok(n, &manifest);
    let applied = user_ban(&ns, "spam-user-123").await.expect("applied");
    assert_eq!(applied.spec.duration.as_deref(), Some("7d"));
    assert!(applied.spec.appeal.unwrap().allowed);

    // The same ban again is refused, naming it: an existing ban is never overwritten.
    let again = plugin(&[
        "ban", "-n", n, "--user", "123", "--for", "7d", "--reason", "spam",
    ]);
    assert_eq!(again.status.code(), Some(1), "{}", output_text(&again));
    assert!(output_text(&again).contains("userban.interdict.dev/spam-user-123 already exists"));

    // A server dry run goes through admission and stores nothing.
    let server = plugin_ok(&[
        "silence",
        "-n",
        n,
        "--user",
        "9",
        "--until",
        "2099-01-01",
        "--reason",
        "spam",
        "--dry-run=server",
    ]);
    assert!(
        server.contains("spam-user-9 created (server dry run)"),
        "{server}"
    );
    assert!(user_ban(&ns, "spam-user-9").await.is_none());

    // Real writes, with every kind of flag.
    let silenced = json(&plugin_ok(&[
        "silence",
        "-n",
        n,
        "--username",
        "loud",
        "--for",
        "12h",
        "--starts",
        "2099-01-01",
        "--reason",
        "abuse",
        "--notes",
        "ticket 7",
        "-o",
        "json",
    ]));
    assert_eq!(silenced["metadata"]["name"], "abuse-username-loud");
    let stored = user_ban(&ns, "abuse-username-loud").await.unwrap();
    assert_eq!(format!("{:?}", stored.spec.mode), "Silence");
    assert_eq!(stored.spec.reason.notes.as_deref(), Some("ticket 7"));
    assert_eq!(
        stored.spec.starts_at.unwrap().to_rfc3339(),
        "2099-01-01T00:00:00+00:00"
    );

    let block_args = [
        "block",
        "-n",
        n,
        "--user",
        "124",
        "--feature",
        "mentorship-service",
        "--feature",
        "comments",
        "--scope",
        "academy=downtown-miami",
        "--permanent",
        "--reason",
        "abuse",
        "--name",
        "mentor-124",
    ];
    let block_yaml = plugin_ok(&[&block_args[..], &["--dry-run"]].concat());
    assert!(block_yaml.contains("kind: FeatureBlock"), "{block_yaml}");
    let created = plugin_ok(&block_args);
    assert_eq!(
        created.trim(),
        "featureblock.interdict.dev/mentor-124 created"
    );
    let block = ns.api::<FeatureBlock>().get("mentor-124").await.unwrap();
    assert_eq!(block.spec.features, ["mentorship-service", "comments"]);
    assert_eq!(block.spec.scopes[0].name, "downtown-miami");

    // Bad flags are usage errors (exit 2) and write nothing.
    let before = count(&ns).await;
    for bad in [
        &[
            "ban", "-n", n, "--user", "1", "--for", "7x", "--reason", "spam",
        ][..],
        &[
            "ban", "-n", n, "--user", "1", "--for", "7d", "--reason", "Spam!",
        ],
        &[
            "ban",
            "-n",
            n,
            "--ip",
            "0.0.0.0/0",
            "--for",
            "7d",
            "--reason",
            "spam",
        ],
        &[
            "block",
            "-n",
            n,
            "--user",
            "1",
            "--feature=-x",
            "--for",
            "7d",
            "--reason",
            "spam",
        ],
    ] {
        let output = plugin(bad);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{bad:?}: {}",
            output_text(&output)
        );
    }
    assert_eq!(count(&ns).await, before);
    ns.cleanup().await;
}

#[tokio::test]
async fn an_email_is_stored_only_as_its_hash() {
    let ns = TestNamespace::new("plugin-email").await;
    let n = ns.name.as_str();
    let address = "Alice+promo@Example.org";
    let dry = plugin_ok(&[
        "ban",
        "-n",
        n,
        "--email",
        address,
        "--for",
        "30d",
        "--reason",
        "spam",
        "--dry-run",
    ]);
    let written = plugin_ok(&[
        "ban", "-n", n, "--email", address, "--for", "30d", "--reason", "spam", "-o", "json",
    ]);
    let hash = hash_email("alice@example.org");
    let name = json(&written)["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let stored = user_ban(&ns, &name).await.unwrap();
    assert_eq!(stored.spec.subject.email.as_deref(), Some(hash.as_str()));
    // Nothing the plugin printed or the API server holds has the address.
    let raw = cluster().kubectl_ok(&["get", "ub", &name, "-n", n, "-o", "json"]);
    for text in [&dry, &written, &raw] {
        assert!(!text.to_lowercase().contains("alice"), "{text}");
    }
    // `who --email` finds it by the hash.
    let record = json(&plugin_ok(&[
        "who", "-n", n, "--email", address, "-o", "json",
    ]));
    assert_eq!(record[0]["name"], name.as_str());
    assert_eq!(record[0]["subject"], format!("email:{hash}"));
    ns.cleanup().await;
}

#[tokio::test]
async fn lift_by_subject_lifts_every_ban_of_it_in_force() {
    let ns = TestNamespace::new("plugin-lift").await;
    let n = ns.name.as_str();
    let _operator = ns.operator();
    plugin_ok(&[
        "ban", "-n", n, "--user", "7", "--for", "7d", "--reason", "spam",
    ]);
    plugin_ok(&[
        "silence",
        "-n",
        n,
        "--user",
        "7",
        "--permanent",
        "--reason",
        "abuse",
    ]);
    plugin_ok(&[
        "block",
        "-n",
        n,
        "--user",
        "7",
        "--feature",
        "comments",
        "--for",
        "1d",
        "--reason",
        "abuse",
    ]);
    plugin_ok(&[
        "ban", "-n", n, "--user", "8", "--for", "7d", "--reason", "spam",
    ]);
    eventually("bans active", Duration::from_secs(30), || async {
        (phase_of(&ns, "spam-user-7").await == Some(Phase::Active)).then_some(())
    })
    .await;

    let lifted = plugin_ok(&[
        "lift",
        "-n",
        n,
        "--user",
        "7",
        "--reason",
        "Mistaken identity",
        "--by",
        "ann",
    ]);
    assert_eq!(lifted.lines().count(), 3, "{lifted}");
    for name in ["spam-user-7", "abuse-user-7"] {
        let lift = user_ban(&ns, name).await.unwrap().spec.lift.unwrap();
        assert_eq!(
            (lift.by.as_deref(), lift.reason.as_str()),
            (Some("ann"), "Mistaken identity")
        );
    }
    let block = ns
        .api::<FeatureBlock>()
        .get("abuse-user-7-comments")
        .await
        .unwrap();
    assert!(block.spec.lift.is_some());
    assert!(
        user_ban(&ns, "spam-user-8")
            .await
            .unwrap()
            .spec
            .lift
            .is_none(),
        "another subject"
    );
    eventually("lifted", Duration::from_secs(30), || async {
        (phase_of(&ns, "spam-user-7").await == Some(Phase::Lifted)).then_some(())
    })
    .await;

    // Nothing left to lift: exit 1, and `unban` by name of an ended ban changes nothing.
    let none = plugin(&["lift", "-n", n, "--user", "7", "--reason", "again"]);
    assert_eq!(none.status.code(), Some(1), "{}", output_text(&none));
    assert!(output_text(&none).contains("nothing to lift"));
    let by_name = plugin(&[
        "unban",
        "-n",
        n,
        "ub/spam-user-8",
        "--reason",
        "appeal by mail",
    ]);
    assert!(by_name.status.success(), "{}", output_text(&by_name));
    assert!(
        user_ban(&ns, "spam-user-8")
            .await
            .unwrap()
            .spec
            .lift
            .is_some()
    );
    ns.cleanup().await;
}

#[tokio::test]
async fn who_shows_a_subject_across_namespaces() {
    let first = TestNamespace::new("plugin-who-a").await;
    let second = TestNamespace::new("plugin-who-b").await;
    let _operator = first.operator();
    let (a, b) = (first.name.as_str(), second.name.as_str());
    plugin_ok(&[
        "ban",
        "-n",
        a,
        "--user",
        "42",
        "--for",
        "7d",
        "--reason",
        "spam",
        "--appealable",
    ]);
    plugin_ok(&[
        "block",
        "-n",
        b,
        "--user",
        "42",
        "--feature",
        "uploads",
        "--permanent",
        "--reason",
        "abuse",
    ]);
    plugin_ok(&[
        "lift",
        "-n",
        b,
        "fb/abuse-user-42-uploads",
        "--reason",
        "done",
        "--by",
        "bob",
    ]);
    plugin_ok(&[
        "ban", "-n", b, "--user", "43", "--for", "7d", "--reason", "spam",
    ]);
    eventually(
        "status in the first namespace",
        Duration::from_secs(30),
        || async { (phase_of(&first, "spam-user-42").await == Some(Phase::Active)).then_some(()) },
    )
    .await;

    let rows = json(&plugin_ok(&["who", "--user", "42", "-A", "-o", "json"]));
    let rows: Vec<&Value> = rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["namespace"] == a || r["namespace"] == b)
        .collect();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let ban = rows.iter().find(|r| r["namespace"] == a).unwrap();
    assert_eq!(
        (&ban["kind"], &ban["phase"], &ban["appeal"]),
        (&"UserBan".into(), &"Active".into(), &"allowed".into())
    );
    let block = rows.iter().find(|r| r["namespace"] == b).unwrap();
    assert_eq!(
        (&block["what"], &block["liftedBy"]),
        (&"uploads".into(), &"bob".into())
    );

    let table = plugin_ok(&["history", "--user", "42", "-A"]);
    let header = table.lines().next().unwrap();
    assert!(
        header.starts_with("NAMESPACE ") && header.contains("LIFTED-BY"),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with(b) && l.contains("fb/abuse-user-42-uploads")),
        "{table}"
    );
    let here = json(&plugin_ok(&["who", "-n", a, "--user", "42", "-o", "json"]));
    assert_eq!(
        here.as_array().unwrap().len(),
        1,
        "only the namespace without -A"
    );
    first.cleanup().await;
    second.cleanup().await;
}

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

#[tokio::test]
async fn an_import_with_one_bad_row_writes_nothing() {
    let ns = TestNamespace::new("plugin-import-bad").await;
    let n = ns.name.as_str();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bans.csv");
    std::fs::write(
        &file,
        "user,reason,duration\n1,spam,7d\n2,spam,7 days\n3,abuse,1d\n",
    )
    .unwrap();
    let output = plugin(&["import", "-n", n, file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{}", output_text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("line 3, column duration"), "{stderr}");
    assert!(stderr.contains("nothing imported"), "{stderr}");
    assert_eq!(count(&ns).await, 0);
    ns.cleanup().await;
}

const IMPORT: &str = "\
kind,mode,user,email,ip,duration,until,reason,message,features,scopes,appealable,name
UserBan,,101,,,7d,,spam,Suspended for spam.,,,true,
UserBan,Silence,102,,,,2099-01-01,abuse,,,,,
FeatureBlock,,103,,,,,abuse,,comments;uploads,page=/p/1,,
,,,mallory@example.org,,30d,,fraud,,,,,
,,,,203.0.113.0/24,12h,,brute-force,,,,,office-nat
";

#[tokio::test]
async fn an_import_is_labelled_idempotent_undone_and_exported_back() {
    let ns = TestNamespace::new("plugin-import").await;
    let copy = TestNamespace::new("plugin-import-copy").await;
    let n = ns.name.as_str();
    let _operator = ns.operator();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bans.csv");
    std::fs::write(&file, IMPORT).unwrap();
    let file = file.to_str().unwrap();

    let dry = plugin_ok(&["import", "-n", n, file, "--dry-run"]);
    assert_eq!(dry.matches("---\n").count(), 5, "{dry}");
    assert!(!dry.contains("mallory"), "{dry}");
    assert_eq!(count(&ns).await, 0);

    let imported = plugin_ok(&["import", "-n", n, file]);
    let batch = imported
        .split_whitespace()
        .nth(1)
        .unwrap()
        .trim_end_matches(':')
        .to_string();
    assert!(
        batch.starts_with("import-") && imported.contains("applied 5 of 5"),
        "{imported}"
    );
    let selector = format!("interdict.dev/batch={batch}");
    let labelled = ListParams::default().labels(&selector);
    let bans = ns.api::<UserBan>().list(&labelled).await.unwrap().items;
    let blocks = ns
        .api::<FeatureBlock>()
        .list(&labelled)
        .await
        .unwrap()
        .items;
    assert_eq!((bans.len(), blocks.len()), (4, 1));
    let email = bans
        .iter()
        .find(|b| b.spec.subject.email.is_some())
        .unwrap();
    assert_eq!(
        email.spec.subject.email.as_deref(),
        Some(hash_email("mallory@example.org").as_str())
    );

    // Again: the same batch, and no spec changed (the operator's status
    // writes move resourceVersion, the generation counts spec changes).
    let again = plugin_ok(&["import", "-n", n, file]);
    assert!(again.contains(&format!("batch {batch}:")), "{again}");
    let after = ns.api::<UserBan>().list(&labelled).await.unwrap().items;
    assert_eq!(after.len(), 4);
    for ban in &after {
        assert_eq!(ban.metadata.generation, Some(1), "a re-run changes nothing");
    }

    // Exported and imported elsewhere, the same specs.
    let exported = plugin_ok(&["export", "-n", n, "--batch", &batch]);
    assert_eq!(exported.lines().count(), 6, "{exported}");
    assert!(!exported.contains("mallory"), "{exported}");
    let export_file = dir.path().join("export.csv");
    std::fs::write(&export_file, &exported).unwrap();
    plugin_ok(&["import", "-n", &copy.name, export_file.to_str().unwrap()]);
    for ban in &bans {
        let name = ban.metadata.name.as_deref().unwrap();
        let twin = copy.api::<UserBan>().get(name).await.unwrap();
        assert_eq!(twin.spec, ban.spec, "{name}");
    }
    let twin = copy
        .api::<FeatureBlock>()
        .get(blocks[0].metadata.name.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(twin.spec, blocks[0].spec);
    let jsonl = plugin_ok(&["export", "-n", n, "--batch", &batch, "-o", "jsonl"]);
    assert_eq!(jsonl.lines().count(), 5);
    assert_eq!(json(jsonl.lines().next().unwrap())["kind"], "UserBan");

    // Undo lifts them all, keeping the objects.
    let undone = plugin_ok(&["undo", "-n", n, "--batch", &batch, "--by", "ann"]);
    assert!(
        undone.contains("lifted 5, already ended 0, failed 0 (of 5)"),
        "{undone}"
    );
    let reason = format!("undo batch {batch}");
    for ban in ns.api::<UserBan>().list(&labelled).await.unwrap().items {
        assert_eq!(ban.spec.lift.map(|l| l.reason), Some(reason.clone()));
    }
    let block = ns
        .api::<FeatureBlock>()
        .list(&labelled)
        .await
        .unwrap()
        .items
        .remove(0);
    assert_eq!(block.spec.lift.map(|l| l.reason), Some(reason));
    eventually("every ban lifted", Duration::from_secs(30), || async {
        let items = ns.api::<UserBan>().list(&labelled).await.ok()?.items;
        items
            .iter()
            .all(|b| b.status.as_ref().and_then(|s| s.phase) == Some(Phase::Lifted))
            .then_some(())
    })
    .await;
    let twice = plugin_ok(&["undo", "-n", n, "--batch", &batch]);
    assert!(twice.contains("lifted 0, already ended 5"), "{twice}");
    // Importing again after an undo does not take the lifts back.
    plugin_ok(&["import", "-n", n, file]);
    let still = user_ban(&ns, bans[0].metadata.name.as_deref().unwrap())
        .await
        .unwrap();
    assert!(still.spec.lift.is_some());
    assert_eq!(count(&ns).await, 5, "undo lifts, it never deletes");
    ns.cleanup().await;
    copy.cleanup().await;
}

#[test]
fn help_names_every_verb_and_the_exit_codes() {
    let output = Command::new(env!("CARGO_BIN_EXE_kubectl-interdict"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    for verb in [
        "ban",
        "silence",
        "block",
        "lift",
        "unban",
        "who",
        "why",
        "appeals",
        "decide",
        "import",
        "undo",
        "export",
        "completion",
    ] {
        assert!(help.contains(verb), "{verb}: {help}");
        let verb_help = Command::new(env!("CARGO_BIN_EXE_kubectl-interdict"))
            .args([verb, "--help"])
            .output()
            .unwrap();
        assert!(verb_help.status.success(), "{verb} --help");
    }
    assert!(help.contains("Exit codes: 0"), "{help}");
}
