//! The rendered chart on the test cluster: applied as `kubectl` applies it,
//! asked what its ServiceAccount may do, and removed.

use std::process::Output;

use super::super::{cluster, output_text};

/// kubectl against the test cluster with `input` on its standard input.
pub fn kubectl_stdin(args: &[&str], input: &str) -> Output {
    cluster().kubectl_input(args, input)
}

pub fn kubectl_apply_server_side(manifests: &str) {
    let output = kubectl_stdin(
        &[
            "apply",
            "--server-side",
            "--field-manager=interdict-chart-test",
            "-f",
            "-",
        ],
        manifests,
    );
    assert!(
        output.status.success(),
        "the rendered chart was not accepted: {}",
        output_text(&output)
    );
}

pub fn create_namespace(name: &str) {
    cluster().kubectl_ok(&["create", "namespace", name]);
}

pub fn delete_namespaces(names: &[&str]) {
    for name in names {
        let _ = cluster()
            .kubectl()
            .args(["delete", "namespace", name, "--wait=false"])
            .output();
    }
}

pub fn delete_cluster_objects(release: &str) {
    let _ = cluster()
        .kubectl()
        .args([
            "delete",
            "clusterrole,clusterrolebinding,mutatingwebhookconfiguration",
            "-l",
            &format!("app.kubernetes.io/instance={release}"),
            "--wait=false",
        ])
        .output();
}

pub fn assert_deployment_stored(namespace: &str, name: &str) {
    let replicas = cluster().kubectl_ok(&[
        "get",
        "deployment",
        name,
        "-n",
        namespace,
        "-o",
        "jsonpath={.spec.replicas}",
    ]);
    assert_eq!(replicas, "2");
}

/// `kubectl auth can-i` as the chart's ServiceAccount.
pub fn can_i(service_account: &str, args: &[&str]) -> bool {
    let mut full = vec!["auth", "can-i", "--as", service_account];
    full.extend_from_slice(args);
    let output = cluster().kubectl().args(&full).output().expect("kubectl");
    match String::from_utf8_lossy(&output.stdout).trim() {
        "yes" => true,
        "no" => false,
        other => panic!("kubectl {full:?}: {other} {}", output_text(&output)),
    }
}
