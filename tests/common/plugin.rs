//! `kubectl-interdict` as a user runs it against the test cluster, and the
//! look-ups its tests make afterwards.

use std::path::Path;
use std::process::{Command, Output};

use interdict::api::{FeatureBlock, Phase, UserBan};
use kube::api::ListParams;
use serde_json::Value;

use super::{TestNamespace, cluster, output_text};

/// `kubectl-interdict ARGS` with the given kubeconfig, standard input closed.
pub fn plugin_with(kubeconfig: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubectl-interdict"))
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run kubectl-interdict")
}

pub fn plugin(args: &[&str]) -> Output {
    plugin_with(&cluster().kubeconfig, args)
}

/// Runs the plugin, asserts it succeeded, returns its standard output.
pub fn plugin_ok(args: &[&str]) -> String {
    let output = plugin(args);
    assert!(
        output.status.success(),
        "kubectl-interdict {args:?} exited {}: {}",
        output.status,
        output_text(&output)
    );
    String::from_utf8(output.stdout).unwrap()
}

pub fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

pub async fn user_ban(ns: &TestNamespace, name: &str) -> Option<UserBan> {
    ns.api::<UserBan>().get_opt(name).await.unwrap()
}

pub async fn phase_of(ns: &TestNamespace, name: &str) -> Option<Phase> {
    user_ban(ns, name).await?.status?.phase
}

pub async fn count(ns: &TestNamespace) -> usize {
    let params = ListParams::default();
    ns.api::<UserBan>().list(&params).await.unwrap().items.len()
        + ns.api::<FeatureBlock>()
            .list(&params)
            .await
            .unwrap()
            .items
            .len()
}
