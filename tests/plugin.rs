//! `kubectl interdict` on a real control plane, run as a user runs it (the
//! built binary with `--kubeconfig`): bans and their dry runs, emails never
//! stored in clear, lifting by subject, a subject's record across namespaces.
//! Appeals and `why`: tests/plugin_review.rs; imports: tests/plugin_import.rs.

mod common;

use std::process::Command;
use std::time::Duration;

use common::plugin::{count, json, phase_of, plugin, plugin_ok, user_ban};
use common::{TestNamespace, apply_ok, cluster, eventually, output_text};
use interdict::api::{FeatureBlock, Phase};
use interdict::core::email::hash_email;
use serde_json::Value;

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

#[tokio::test]
async fn who_finds_a_subject_in_three_namespaces_by_field_and_by_label() {
    let spaces = [
        TestNamespace::new("plugin-who3-a").await,
        TestNamespace::new("plugin-who3-b").await,
        TestNamespace::new("plugin-who3-c").await,
    ];
    let names: Vec<&str> = spaces.iter().map(|s| s.name.as_str()).collect();
    // The operator keeps the subject label clusters without field selectors use.
    let _operator = common::Operator::start(&cluster().kubeconfig, &names.join(","), &[]);
    for ns in &spaces {
        plugin_ok(&[
            "ban", "-n", &ns.name, "--user", "77", "--for", "1d", "--reason", "spam",
        ]);
    }
    plugin_ok(&[
        "ban",
        "-n",
        names[1],
        "--ip",
        "10.9.0.0/16",
        "--for",
        "1d",
        "--reason",
        "spam",
    ]);
    let namespaces_found = |args: &[&str]| -> std::collections::BTreeSet<String> {
        let rows = json(&plugin_ok(args));
        rows.as_array()
            .unwrap()
            .iter()
            .filter_map(|row| row["namespace"].as_str().map(str::to_string))
            .filter(|ns| names.contains(&ns.as_str()))
            .collect()
    };
    let by_field = namespaces_found(&["who", "--user", "77", "-A", "-o", "json"]);
    assert_eq!(by_field.len(), 3, "{by_field:?}");
    let by_label = eventually("every ban labelled", Duration::from_secs(30), || async {
        let found = namespaces_found(&[
            "who", "--user", "77", "-A", "-o", "json", "--lookup", "labels",
        ]);
        (found.len() == 3).then_some(found)
    })
    .await;
    assert_eq!(by_label, by_field);
    // The label holds the network's one spelling: host bits typed or not.
    let by_typed_ip = eventually("the IP ban labelled", Duration::from_secs(30), || async {
        let found = namespaces_found(&[
            "who",
            "--ip",
            "10.9.8.7/16",
            "-A",
            "-o",
            "json",
            "--lookup",
            "labels",
        ]);
        (!found.is_empty()).then_some(found)
    })
    .await;
    assert_eq!(
        by_typed_ip.into_iter().collect::<Vec<_>>(),
        vec![names[1].to_string()]
    );
    for ns in spaces {
        ns.cleanup().await;
    }
}
