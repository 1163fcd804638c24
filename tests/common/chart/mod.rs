//! The Helm chart (`charts/interdict`) as the chart tests see it: `helm` from
//! `hack/helm-bin.sh` (`$HELM`, or a build from the Go module, cached), the
//! chart rendered with `helm template`, and the rendered documents read back.

pub mod apply;
pub mod docs;
pub mod rbac;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use super::{output_text, repo_root};

pub const BLOCKLIST: &str = "interdict-blocklist";
/// The chart's default `maxShards`.
pub const DEFAULT_SHARDS: u32 = 16;
/// Both notification sinks, the email with SMTP credentials; the Secrets
/// `interdict-webhook` (key `signing-secret`) and `interdict-smtp` (keys
/// `username`, `password`) are referenced, not created, by the chart.
pub const NOTIFICATIONS: &str = "\
sessionRevocationRetention: 1d12h
notifications:
  webhook:
    url: https://hooks.example.com/interdict?token=abc
    secretName: interdict-webhook
    secretKey: signing-secret
    timeoutSeconds: 7
  email:
    host: smtp.example.com
    port: 465
    tls: tls
    from: \"Moderation <moderation@example.com>\"
    helloName: operator.example.com
    credentialsSecretName: interdict-smtp
    timeoutSeconds: 20
";
/// The Kubernetes version `helm template` and `helm lint` assume (the test cluster's).
pub const KUBE_VERSION: &str = "v1.34.4";

pub fn chart() -> PathBuf {
    repo_root().join("charts/interdict")
}

pub fn helm_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let script = repo_root().join("hack/helm-bin.sh");
        let output = Command::new(&script)
            .stderr(Stdio::inherit())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(
            output.status.success(),
            "hack/helm-bin.sh could not provide helm (see its messages above): set HELM to a \
             helm v3 binary, or install Go so the script can build helm from its module"
        );
        let path = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        assert!(
            path.is_file(),
            "hack/helm-bin.sh printed {path:?}, which is not a file"
        );
        path
    })
}

pub fn helm(args: &[&str]) -> Output {
    let home = std::env::temp_dir().join("interdict-chart-test-helm-home");
    Command::new(helm_binary())
        .args(args)
        // Keep the user's helm configuration and repositories out of the test.
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_DATA_HOME", home.join("data"))
        .env_remove("KUBECONFIG")
        .output()
        .expect("run helm")
}

/// A values file in a temporary directory (kept alive by the returned guard).
pub fn values_file(yaml: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("values.yaml");
    std::fs::write(&path, yaml).unwrap();
    let path = path.to_str().unwrap().to_string();
    (dir, path)
}

/// `helm template RELEASE charts/interdict -n NAMESPACE ARGS...`; must succeed.
pub fn template(release: &str, namespace: &str, args: &[&str]) -> String {
    let chart = chart();
    let mut full = vec![
        "template",
        release,
        chart.to_str().unwrap(),
        "--namespace",
        namespace,
        "--kube-version",
        KUBE_VERSION,
    ];
    full.extend_from_slice(args);
    let output = helm(&full);
    assert!(
        output.status.success(),
        "helm {full:?} failed: {}",
        output_text(&output)
    );
    String::from_utf8(output.stdout).unwrap()
}
