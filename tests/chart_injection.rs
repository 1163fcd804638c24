//! The chart's pod-wiring webhook (`injection.*`) rendered with `helm
//! template`, no cluster: the webhook configuration, its Service and
//! certificate (Helm-generated or from cert-manager), and the operator's flags
//! and mounts. `tests/inject.rs` runs the same configuration on an API server.

mod common;

use std::path::Path;
use std::process::Command;

use clap::Parser;
use common::chart::docs::{
    args, container, documents, has_flag, name, of_kind, volume, volume_mount,
};
use common::chart::{KUBE_VERSION, chart, helm, template, values_file};
use common::output_text;
use serde_yaml::Value;

/// Rendered with `values`, the actors webhook off (tested on its own below),
/// so the pod-wiring webhook is the only one.
fn rendered(values: &str) -> Vec<Value> {
    let (_dir, file) = values_file(&format!("actors:\n  enabled: false\n{values}"));
    documents(&template("interdict", "interdict-system", &["-f", &file]))
}

fn one<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let found = of_kind(docs, kind);
    assert_eq!(found.len(), 1, "one {kind}");
    found[0]
}

fn webhook(docs: &[Value]) -> &Value {
    let configuration = one(docs, "MutatingWebhookConfiguration");
    let webhooks = configuration["webhooks"].as_sequence().unwrap();
    assert_eq!(webhooks.len(), 1);
    &webhooks[0]
}

/// The `values` of the namespace selector's expression with `operator`.
fn selector_values(webhook: &Value, operator: &str) -> Option<Vec<String>> {
    webhook["namespaceSelector"]["matchExpressions"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|e| e["operator"].as_str() == Some(operator))
        .map(|e| {
            assert_eq!(e["key"].as_str(), Some("kubernetes.io/metadata.name"));
            e["values"]
                .as_sequence()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect()
        })
}

/// A base64 value of a rendered Secret or caBundle, decoded.
fn decoded(value: &Value) -> Vec<u8> {
    let text = value.as_str().expect("a base64 string");
    let k8s_openapi::ByteString(bytes) = serde_json::from_value(serde_json::json!(text)).unwrap();
    bytes
}

fn openssl_ok(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        output_text(&output)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn injection_is_off_by_default() {
    let docs = documents(&template("interdict", "interdict-system", &[]));
    let configurations = of_kind(&docs, "MutatingWebhookConfiguration");
    assert_eq!(configurations.len(), 1, "only the actors webhook");
    assert_eq!(name(configurations[0]), "interdict-actors");
    let args = args(&docs);
    assert!(!args.iter().any(|a| a == "--sidecar-image"), "{args:?}");
}

#[test]
fn the_actors_webhook_signs_every_interdict_kind() {
    let docs = documents(&template("interdict", "interdict-system", &[]));
    let configuration = one(&docs, "MutatingWebhookConfiguration");
    let webhook = &configuration["webhooks"][0];
    assert_eq!(webhook["name"].as_str(), Some("actors.interdict.dev"));
    assert_eq!(webhook["failurePolicy"].as_str(), Some("Ignore"));
    assert_eq!(
        webhook["clientConfig"]["service"]["path"].as_str(),
        Some(interdict::actor::MUTATE_INTERDICT_PATH)
    );
    let rules = serde_yaml::to_string(&webhook["rules"]).unwrap();
    for resource in ["userbans", "featureblocks", "banappeals", "banexemptions"] {
        assert!(rules.contains(resource), "{rules}");
    }
    let args = args(&docs);
    for present in ["--webhook-addr", "--webhook-cert-dir"] {
        assert!(args.iter().any(|a| a == present), "{present}: {args:?}");
    }
}

#[test]
fn no_webhook_at_all_when_both_are_off() {
    let docs = rendered("");
    assert!(of_kind(&docs, "MutatingWebhookConfiguration").is_empty());
    assert!(of_kind(&docs, "Secret").is_empty());
    assert!(
        !of_kind(&docs, "Service")
            .iter()
            .any(|s| name(s) == "interdict-webhook")
    );
    assert!(container(&docs)["lifecycle"].is_null());
    let args = args(&docs);
    for absent in ["--webhook-addr", "--webhook-cert-dir", "--sidecar-image"] {
        assert!(!args.iter().any(|a| a == absent), "{absent}: {args:?}");
    }
}

#[test]
fn the_webhook_its_service_certificate_and_flags() {
    let docs = rendered("injection:\n  enabled: true\n");
    let webhook = webhook(&docs);
    assert_eq!(webhook["name"].as_str(), Some("pods.inject.interdict.dev"));
    assert_eq!(webhook["failurePolicy"].as_str(), Some("Ignore"));
    assert_eq!(webhook["sideEffects"].as_str(), Some("None"));
    assert_eq!(webhook["timeoutSeconds"].as_u64(), Some(5));
    assert_eq!(webhook["reinvocationPolicy"].as_str(), Some("Never"));
    assert_eq!(
        serde_yaml::to_string(&webhook["admissionReviewVersions"]).unwrap(),
        "- v1\n"
    );
    let rule = &webhook["rules"][0];
    assert_eq!(rule["operations"][0].as_str(), Some("CREATE"));
    assert_eq!(rule["resources"][0].as_str(), Some("pods"));
    assert_eq!(rule["apiGroups"][0].as_str(), Some(""));
    assert!(webhook["rules"][1].is_null());
    let service = &webhook["clientConfig"]["service"];
    assert_eq!(service["name"].as_str(), Some("interdict-webhook"));
    assert_eq!(service["namespace"].as_str(), Some("interdict-system"));
    assert_eq!(
        service["path"].as_str(),
        Some(interdict::inject::MUTATE_PODS_PATH)
    );
    assert_eq!(service["port"].as_u64(), Some(443));
    assert_eq!(
        selector_values(webhook, "NotIn").unwrap(),
        ["kube-system", "interdict-system"]
    );
    assert_eq!(selector_values(webhook, "In"), None, "every namespace");
    let condition = webhook["matchConditions"][0]["expression"]
        .as_str()
        .unwrap();
    assert!(condition.contains("'interdict.dev/'"), "{condition}");

    // The Service sends 443 to the container's webhook port.
    let services = of_kind(&docs, "Service");
    let webhook_service = services
        .iter()
        .find(|s| name(s) == "interdict-webhook")
        .expect("a webhook Service");
    let port = &webhook_service["spec"]["ports"][0];
    assert_eq!(port["port"].as_u64(), Some(443));
    assert_eq!(port["targetPort"].as_str(), Some("webhook"));
    let container = container(&docs);
    let ports = container["ports"].as_sequence().unwrap();
    let webhook_port = ports
        .iter()
        .find(|p| p["name"].as_str() == Some("webhook"))
        .expect("a webhook container port");
    assert_eq!(webhook_port["containerPort"].as_u64(), Some(9443));

    // The operator's flags, which it accepts as rendered.
    let args = args(&docs);
    assert!(
        has_flag(&args, "--webhook-addr", "0.0.0.0:9443"),
        "{args:?}"
    );
    assert!(
        has_flag(&args, "--webhook-cert-dir", "/etc/interdict/webhook"),
        "{args:?}"
    );
    assert!(
        has_flag(&args, "--sidecar-image", "interdict:0.1.0"),
        "{args:?}"
    );
    assert!(
        has_flag(&args, "--blocklist-name", "interdict-blocklist"),
        "{args:?}"
    );
    assert!(has_flag(&args, "--max-shards", "16"), "{args:?}");
    assert!(
        has_flag(
            &args,
            "--sidecar-operator-url",
            "http://interdict-intake.interdict-system.svc:8082"
        ),
        "{args:?}"
    );
    let cli =
        interdict::cli::Cli::try_parse_from(std::iter::once("interdict".to_string()).chain(args))
            .unwrap_or_else(|e| panic!("the operator refuses the chart's arguments: {e}"));
    let interdict::cli::Command::Run(run) = cli.command else {
        panic!("not `interdict run`");
    };
    assert_eq!(run.webhook_addr, Some("0.0.0.0:9443".parse().unwrap()));

    // A stopping pod keeps answering while it leaves the Service's endpoints.
    assert_eq!(
        container["lifecycle"]["preStop"]["sleep"]["seconds"].as_u64(),
        Some(5)
    );

    // The certificate Secret, as a directory kubelet keeps fresh.
    let mount = volume_mount(&docs, "/etc/interdict/webhook");
    assert_eq!(mount["readOnly"].as_bool(), Some(true));
    assert!(
        mount["subPath"].is_null(),
        "a subPath mount is never refreshed"
    );
    let tls = volume(&docs, mount["name"].as_str().unwrap());
    assert_eq!(
        tls["secret"]["secretName"].as_str(),
        Some("interdict-webhook-tls")
    );

    // Helm's CA signs a certificate for the Service's names, the API server
    // is told to trust that CA, and the operator accepts the pair.
    let secret = one(&docs, "Secret");
    assert_eq!(name(secret), "interdict-webhook-tls");
    assert_eq!(secret["type"].as_str(), Some("kubernetes.io/tls"));
    assert_eq!(
        decoded(&webhook["clientConfig"]["caBundle"]),
        decoded(&secret["data"]["ca.crt"])
    );
    let dir = tempfile::tempdir().unwrap();
    for key in ["ca.crt", "tls.crt", "tls.key"] {
        std::fs::write(dir.path().join(key), decoded(&secret["data"][key])).unwrap();
    }
    openssl_ok(dir.path(), &["verify", "-CAfile", "ca.crt", "tls.crt"]);
    let names = openssl_ok(
        dir.path(),
        &["x509", "-in", "tls.crt", "-noout", "-ext", "subjectAltName"],
    );
    for dns in [
        "interdict-webhook.interdict-system.svc",
        "interdict-webhook.interdict-system.svc.cluster.local",
    ] {
        assert!(names.contains(&format!("DNS:{dns}")), "{names}");
    }
    interdict::inject::CertFiles::load(dir.path())
        .unwrap_or_else(|e| panic!("the operator refuses the chart's certificate: {e}"));
}

#[test]
fn failure_policy_namespaces_and_sidecar_image_are_values() {
    let docs = rendered(
        "watchNamespaces: [apps, shop]\n\
         policies:\n  enabled: false\n\
         injection:\n  enabled: true\n  failurePolicy: Fail\n  timeoutSeconds: 2\n  \
         excludeNamespaces: [legacy, kube-system]\n  \
         sidecar:\n    image: registry.example/interdict-sidecar:1\n",
    );
    let webhook = webhook(&docs);
    assert_eq!(webhook["failurePolicy"].as_str(), Some("Fail"));
    assert_eq!(webhook["timeoutSeconds"].as_u64(), Some(2));
    assert_eq!(
        selector_values(webhook, "NotIn").unwrap(),
        ["kube-system", "interdict-system", "legacy"]
    );
    assert_eq!(selector_values(webhook, "In").unwrap(), ["apps", "shop"]);
    let args = args(&docs);
    assert!(
        has_flag(
            &args,
            "--sidecar-image",
            "registry.example/interdict-sidecar:1"
        ),
        "{args:?}"
    );
    assert!(
        !args.iter().any(|a| a == "--sidecar-operator-url"),
        "no intake, no URL: {args:?}"
    );
}

#[test]
fn cert_manager_issues_the_certificate_and_injects_the_ca() {
    let docs = rendered("injection:\n  enabled: true\n  certManager:\n    enabled: true\n");
    assert!(
        of_kind(&docs, "Secret").is_empty(),
        "cert-manager writes the Secret"
    );
    let configuration = one(&docs, "MutatingWebhookConfiguration");
    assert_eq!(
        configuration["metadata"]["annotations"]["cert-manager.io/inject-ca-from"].as_str(),
        Some("interdict-system/interdict-webhook")
    );
    assert!(webhook(&docs)["clientConfig"]["caBundle"].is_null());
    let certificate = one(&docs, "Certificate");
    assert_eq!(name(certificate), "interdict-webhook");
    assert_eq!(
        certificate["spec"]["secretName"].as_str(),
        Some("interdict-webhook-tls")
    );
    let dns: Vec<&str> = certificate["spec"]["dnsNames"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        dns.contains(&"interdict-webhook.interdict-system.svc"),
        "{dns:?}"
    );
    let issuer = one(&docs, "Issuer");
    assert!(issuer["spec"]["selfSigned"].is_mapping());
    assert_eq!(
        certificate["spec"]["issuerRef"]["name"].as_str(),
        Some(name(issuer))
    );

    // An issuer of the cluster's own: no Issuer from the chart.
    let docs = rendered(
        "injection:\n  enabled: true\n  certManager:\n    enabled: true\n    \
         issuerRef: {name: corp-ca, kind: ClusterIssuer}\n",
    );
    assert!(of_kind(&docs, "Issuer").is_empty());
    let issuer_ref = &one(&docs, "Certificate")["spec"]["issuerRef"];
    assert_eq!(issuer_ref["name"].as_str(), Some("corp-ca"));
    assert_eq!(issuer_ref["kind"].as_str(), Some("ClusterIssuer"));
}

#[test]
fn invalid_injection_values_are_rejected_naming_the_value() {
    let chart = chart();
    let cases = [
        (
            "injection:\n  failurePolicy: Sometimes\n",
            "'/injection/failurePolicy'",
        ),
        (
            "injection:\n  timeoutSeconds: 31\n",
            "'/injection/timeoutSeconds'",
        ),
        ("injection:\n  port: 0\n", "'/injection/port'"),
        ("injection:\n  enable: true\n", "'enable' not allowed"),
        (
            "injection:\n  certManager:\n    issuerRef: {kind: ClusterIssuer}\n",
            "missing property 'name'",
        ),
    ];
    for (yaml, named) in cases {
        let (_dir, values) = values_file(yaml);
        let output = helm(&[
            "template",
            "interdict",
            chart.to_str().unwrap(),
            "--kube-version",
            KUBE_VERSION,
            "-f",
            &values,
        ]);
        let message = output_text(&output);
        assert!(
            !output.status.success(),
            "helm template accepted {yaml:?}: {message}"
        );
        assert!(
            message.contains("schema") && message.contains(named),
            "the error for {yaml:?} should be a schema error naming {named}: {message}"
        );
    }
}
