//! The chart's moderation console (`console.enabled`): off by default; when
//! on, a Deployment running `interdict console --in-cluster` behind the proxy
//! the values name, a ServiceAccount that no binding grants anything and that
//! mounts no token, and pods the operator's selectors never pick. No cluster.

mod common;

use common::chart::docs::{documents, kind, name, of_kind, strings};
use common::chart::{KUBE_VERSION, chart, helm, template};
use common::output_text;
use serde_yaml::Value;

const PUBLIC_URL: &str = "https://moderation.example.com";

fn console_docs(extra: &str) -> Vec<Value> {
    let set = format!("console.enabled=true,console.publicUrl={PUBLIC_URL}{extra}");
    documents(&template("mod", "interdict-system", &["--set", &set]))
}

fn console<'a>(docs: &'a [Value], wanted: &str) -> &'a Value {
    docs.iter()
        .find(|d| kind(d) == wanted && name(d) == "mod-interdict-console")
        .unwrap_or_else(|| panic!("no {wanted} mod-interdict-console"))
}

#[test]
fn the_console_is_off_by_default() {
    let docs = documents(&template("mod", "interdict-system", &[]));
    assert!(
        !docs.iter().any(|d| name(d).ends_with("-console")),
        "nothing of the console is rendered by default"
    );
}

#[test]
fn the_console_runs_with_the_moderators_tokens_and_no_rights_of_its_own() {
    let docs = console_docs(",watchNamespaces={apps,shop}");
    let deployment = console(&docs, "Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    let args = strings(&pod["containers"][0]["args"]);
    assert_eq!(
        args,
        [
            "console",
            "--in-cluster",
            "--listen",
            "0.0.0.0:8080",
            "--public-url",
            PUBLIC_URL,
            "--blocklist-name",
            "interdict-blocklist",
            "--namespace",
            "apps",
            "--namespace",
            "shop",
        ]
    );
    // The command line the chart writes is one `interdict console` accepts.
    use clap::Parser;
    let parsed = interdict::cli::Cli::try_parse_from(
        std::iter::once("interdict".to_string()).chain(args.iter().cloned()),
    )
    .unwrap_or_else(|e| panic!("interdict refuses the chart's arguments: {e}"));
    let interdict::cli::Command::Console(console_args) = parsed.command else {
        panic!("not the console command");
    };
    assert_eq!(console_args.mode(), interdict::console::AuthMode::Bearer);

    // No token of its own: not mounted, and no binding names the account.
    assert_eq!(pod["automountServiceAccountToken"], Value::Bool(false));
    let account = console(&docs, "ServiceAccount");
    assert_eq!(account["automountServiceAccountToken"], Value::Bool(false));
    assert_eq!(pod["serviceAccountName"], "mod-interdict-console");
    for binding in of_kind(&docs, "RoleBinding")
        .into_iter()
        .chain(of_kind(&docs, "ClusterRoleBinding"))
    {
        let subjects = serde_yaml::to_string(&binding["subjects"]).unwrap();
        assert!(
            !subjects.contains("mod-interdict-console"),
            "{} grants the console rights: {subjects}",
            name(binding)
        );
    }
    let mounted = serde_yaml::to_string(&pod["volumes"]).unwrap();
    assert!(
        mounted.contains("kube-root-ca.crt") && !mounted.contains("serviceAccountToken"),
        "{mounted}"
    );

    // The operator's Services and PodDisruptionBudget never select console pods.
    let labels = &deployment["spec"]["template"]["metadata"]["labels"];
    let selected = |selector: &Value| {
        selector
            .as_mapping()
            .unwrap()
            .iter()
            .all(|(k, v)| &labels[k.as_str().unwrap()] == v)
    };
    for service in of_kind(&docs, "Service") {
        let picks = selected(&service["spec"]["selector"]);
        assert_eq!(
            picks,
            name(service) == "mod-interdict-console",
            "{}",
            name(service)
        );
    }
    for budget in of_kind(&docs, "PodDisruptionBudget") {
        assert!(!selected(&budget["spec"]["selector"]["matchLabels"]));
    }
}

#[test]
fn the_console_needs_its_public_url_and_lints() {
    let chart = chart();
    let chart = chart.to_str().unwrap();
    let missing = helm(&[
        "template",
        "mod",
        chart,
        "--kube-version",
        KUBE_VERSION,
        "--set",
        "console.enabled=true",
    ]);
    assert!(!missing.status.success());
    assert!(
        output_text(&missing).contains("/console/publicUrl"),
        "{}",
        output_text(&missing)
    );
    let set =
        format!("console.enabled=true,console.publicUrl={PUBLIC_URL},console.namespaces={{apps}}");
    let lint = helm(&[
        "lint",
        "--strict",
        chart,
        "--kube-version",
        KUBE_VERSION,
        "--set",
        &set,
    ]);
    assert!(lint.status.success(), "{}", output_text(&lint));
}
