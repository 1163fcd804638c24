//! `interdict audit` for a caller with less than every permission, and with
//! no API server to reach: the refusal names the verb, the resource and the
//! namespace, and a subject request lists what it could not search.

mod common;

use common::audit::{audit, scene};
use common::principal::{Principal, Rule};
use common::{TestNamespace, apply_ok, cluster};
use serde_json::{Value, json};

#[tokio::test]
async fn refusals_and_an_unreachable_server_are_said_plainly() {
    let ns = TestNamespace::new("audit-rbac").await;
    apply_ok(&ns.name, &scene(None));
    let reader = Principal::new(
        &ns.name,
        "ban-reader",
        &[Rule {
            group: "interdict.dev",
            resources: &["userbans"],
            verbs: &["get", "list"],
        }],
    );
    let kubeconfig = reader.kubeconfig.to_str().unwrap();
    let namespace = ns.name.as_str();
    let report = |args: &[&str]| {
        let mut all = vec!["--kubeconfig", kubeconfig, "-n", namespace];
        all.extend_from_slice(args);
        audit(&cluster().kubeconfig, &all)
    };
    let refused = report(&[]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert_eq!(
        refused.stderr.trim(),
        format!(
            "error: you may not list featureblocks in namespace {namespace} (name the kinds you may read with --kind)"
        )
    );
    let events = report(&["--kind", "ub"]);
    assert_eq!(events.code, 1);
    assert!(
        events.stderr.contains(&format!(
            "you may not list events in namespace {namespace} (leave Events out with --no-events)"
        )),
        "{}",
        events.stderr
    );
    let allowed = report(&["--kind", "ub", "--no-events", "--summary", "-o", "json"]);
    assert_eq!(allowed.code, 0, "{}", allowed.stderr);
    let summary: Value = serde_json::from_str(&allowed.stdout).unwrap();
    assert_eq!(summary["summary"]["bans"]["total"], 5);

    // A subject request lists what it could not read instead of failing.
    let subject = report(&["subject", "--user", "1", "-o", "json"]);
    assert_eq!(
        subject.code, 2,
        "verb after flags is a usage error: {}",
        subject.stderr
    );
    let subject = audit(
        &cluster().kubeconfig,
        &[
            "subject",
            "--kubeconfig",
            kubeconfig,
            "-n",
            namespace,
            "--user",
            "1",
            "-o",
            "json",
        ],
    );
    assert_eq!(subject.code, 0, "{}", subject.stderr);
    let document: Value = serde_json::from_str(&subject.stdout).unwrap();
    assert_eq!(document["bans"][0]["name"], "spam-1");
    let gaps: Vec<&str> = document["searched"]["notSearched"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["why"].as_str().unwrap())
        .collect();
    assert!(
        gaps.contains(&format!("you may not list banappeals in namespace {namespace}").as_str()),
        "{gaps:?}"
    );
    assert!(
        gaps.contains(&format!("you may not list configmaps in namespace {namespace}").as_str()),
        "{gaps:?}"
    );
    assert!(subject.stderr.contains("warning: not searched:"));

    // Nothing listens on port 1: the failure names the API server.
    let dir = tempfile::tempdir().unwrap();
    let nowhere = dir.path().join("kubeconfig");
    let config = json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1", "insecure-skip-tls-verify": true}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u", "namespace": "apps"}}],
        "current-context": "x",
    });
    std::fs::write(&nowhere, config.to_string()).unwrap();
    let unreachable = audit(&nowhere, &[]);
    assert_eq!(unreachable.code, 1);
    assert!(
        unreachable.stderr.starts_with(
            "error: cannot list userbans in namespace apps: the API server cannot be reached"
        ),
        "{}",
        unreachable.stderr
    );
    ns.cleanup().await;
}
