//! The chart's RBAC is enough for the operator itself: the binary runs with a
//! token of the chart's ServiceAccount and the Deployment's own arguments.

mod common;

use common::chart::apply::{
    create_namespace, delete_cluster_objects, delete_namespaces, kubectl_apply_server_side,
};
use common::chart::docs::{args, documents, kind, name, of_kind};
use common::chart::{BLOCKLIST, template};
use common::cluster::kubectl_as;
use common::http::free_port;
use common::metrics::Scrape;
use common::operator::{Operator, command, test_logs};
use common::principal::kubeconfig_with_token;
use common::{cluster, output_text, repo_root, unique};
use serde_yaml::Value;

/// The chart's RBAC is enough and no more: the operator binary, run as a local
/// process with a token of the chart's ServiceAccount (TokenRequest API) and the
/// Deployment's own arguments, reconciles every example; the same identity is
/// refused Secrets and ConfigMaps it does not own.
#[tokio::test]
async fn operator_runs_with_only_the_charts_service_account() {
    let id = unique();
    let release_ns = format!("chart-sa-{id}");
    let apps = format!("chart-sa-apps-{id}");
    let release = format!("sa-{id}");
    create_namespace(&release_ns);
    create_namespace(&apps);
    let set = format!("watchNamespaces={{{apps}}}");
    let docs = documents(&template(&release, &release_ns, &["--set", &set]));
    let rbac: Vec<&Value> = docs
        .iter()
        .filter(|d| {
            [
                "ServiceAccount",
                "Role",
                "RoleBinding",
                "ClusterRole",
                "ClusterRoleBinding",
            ]
            .contains(&kind(d))
        })
        .collect();
    let manifests: String = rbac
        .iter()
        .map(|d| format!("---\n{}", serde_yaml::to_string(d).unwrap()))
        .collect();
    kubectl_apply_server_side(&manifests);

    let account = of_kind(&docs, "ServiceAccount")[0];
    let token = cluster().kubectl_ok(&[
        "create",
        "token",
        name(account),
        "-n",
        &release_ns,
        "--duration=1h",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = kubeconfig_with_token(token.trim(), dir.path());

    // The Deployment's arguments, with a free port for the metrics endpoint.
    let port = free_port();
    let mut arguments = args(&docs);
    if let Some(at) = arguments.iter().position(|a| a == "--metrics-addr") {
        arguments[at + 1] = format!("127.0.0.1:{port}");
    }
    // The admission webhooks (actors, on by default) on loopback, with a
    // certificate of the test's own in place of the chart's Secret.
    let pki = tempfile::tempdir().unwrap();
    let certs = tempfile::tempdir().unwrap();
    if let Some(at) = arguments.iter().position(|a| a == "--webhook-addr") {
        arguments[at + 1] = format!("127.0.0.1:{}", free_port());
        common::certs::make_ca(pki.path(), "chart-operator-ca");
        common::certs::issue(pki.path(), certs.path());
    }
    if let Some(at) = arguments.iter().position(|a| a == "--webhook-cert-dir") {
        arguments[at + 1] = certs.path().to_str().unwrap().to_string();
    }
    assert_eq!(
        arguments.first().map(String::as_str),
        Some("run"),
        "{arguments:?}"
    );
    let mut operator = command(&kubeconfig);
    operator
        .args(&arguments)
        .env("POD_NAMESPACE", &release_ns)
        .env("POD_NAME", format!("{release}-0"))
        .env("RUST_LOG", "info,kube=warn");
    let mut operator = Operator::spawn(operator, &test_logs(), &release_ns);

    let examples = repo_root().join("examples");
    cluster().kubectl_ok(&["apply", "-n", &apps, "-f", examples.to_str().unwrap()]);
    let waited = cluster()
        .kubectl()
        .args([
            "wait",
            "--for=condition=Ready",
            "-n",
            &apps,
            "ub,fb",
            "--all",
            "--timeout=60s",
        ])
        .output()
        .unwrap();
    let operator_log = operator.log();
    assert!(
        waited.status.success(),
        "examples not reconciled as the ServiceAccount: {}\n{operator_log}",
        output_text(&waited)
    );
    let published = cluster().kubectl_ok(&[
        "get",
        "configmap",
        BLOCKLIST,
        "-n",
        &apps,
        "-o",
        "jsonpath={.data.blocklist\\.json}",
    ]);
    let applied = cluster()
        .kubectl_ok(&["get", "ub,fb", "-n", &apps, "-o", "name"])
        .lines()
        .count();
    assert_eq!(
        published.matches("\"id\":").count(),
        applied,
        "every example is in the blocklist"
    );
    let events = cluster().kubectl_ok(&["get", "events.events.k8s.io", "-n", &apps, "-o", "name"]);
    assert!(
        events.lines().count() >= applied,
        "an Event per applied ban: {events}"
    );
    assert!(
        !operator_log.to_lowercase().contains("forbidden"),
        "no permission was missing: {operator_log}"
    );

    // Its metrics describe what it just did.
    let metrics = Scrape::get(port).expect("metrics endpoint");
    let text = &metrics.text;
    let value = |name: &str, labels: &[(&str, &str)]| -> f64 {
        metrics
            .value(name, labels)
            .unwrap_or_else(|| panic!("no {name} {labels:?} in:\n{text}"))
    };
    assert_eq!(value("interdict_leader", &[]), 1.0);
    assert_eq!(
        value(
            "interdict_entries",
            &[("mode", "Suspend"), ("phase", "Scheduled")]
        ),
        1.0,
        "{text}"
    );
    let active: f64 = ["Suspend", "Silence", "FeatureBlock"]
        .iter()
        .map(|mode| value("interdict_entries", &[("mode", mode), ("phase", "Active")]))
        .sum();
    assert_eq!(active + 1.0, applied as f64, "{text}");
    assert!(
        value("interdict_transitions_total", &[("type", "Applied")]) >= active,
        "{text}"
    );
    assert!(
        value("interdict_blocklist_bytes", &[("namespace", &apps)]) > 1000.0,
        "{text}"
    );
    assert!(
        value("interdict_reconcile_duration_seconds_count", &[]) >= 1.0,
        "{text}"
    );
    assert!(
        value(
            "interdict_reconciles_total",
            &[("kind", "UserBan"), ("result", "success")]
        ) >= 1.0,
        "{text}"
    );
    assert!(text.contains("interdict_expiry_lag_seconds"), "{text}");

    // The same identity, asked directly, is refused what it does not need.
    cluster().kubectl_ok(&[
        "create",
        "configmap",
        "someone-elses",
        "-n",
        &apps,
        "--from-literal=a=b",
    ]);
    cluster().kubectl_ok(&[
        "create",
        "secret",
        "generic",
        "credentials",
        "-n",
        &apps,
        "--from-literal=a=b",
    ]);
    let as_operator = |command: &[&str]| {
        let output = kubectl_as(&kubeconfig).args(command).output().unwrap();
        (output.status.success(), output_text(&output))
    };
    for command in [
        vec!["get", "secret", "credentials", "-n", &apps],
        vec!["get", "secrets", "-n", &apps],
        vec![
            "patch",
            "configmap",
            "someone-elses",
            "-n",
            &apps,
            "--type=merge",
            "-p",
            "{\"data\":{\"a\":\"c\"}}",
        ],
        vec!["delete", "configmap", BLOCKLIST, "-n", &apps],
        vec![
            "create",
            "configmap",
            "new-one",
            "-n",
            &apps,
            "--from-literal=a=b",
        ],
        vec!["get", "configmaps", "-n", &apps],
        vec!["get", "userbans", "-n", &release_ns],
    ] {
        let (succeeded, output) = as_operator(&command);
        assert!(
            !succeeded,
            "the operator's identity may {command:?}: {output}"
        );
        assert!(
            output.contains("Forbidden") || output.contains("forbidden"),
            "{command:?}: {output}"
        );
    }

    operator.kill();
    delete_cluster_objects(&release);
    delete_namespaces(&[&release_ns, &apps]);
}
