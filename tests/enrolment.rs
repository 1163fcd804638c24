//! With every namespace watched, a namespace labelled
//! `interdict.dev/blocklist=enabled` gets a valid, empty blocklist before its
//! first ban, so a pod mounting it starts ready; an unlabelled namespace
//! without bans gets none. Its own test binary: the operator here watches every
//! namespace of its control plane.

mod common;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::http::{free_port, http, json};
use common::operator::Operator;
use common::{TestNamespace, cluster, eventually};
use interdict::core::BlocklistDocument;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::json;

const LABEL: &str = "interdict.dev/blocklist";

async fn label(ns: &TestNamespace) {
    let namespaces: Api<Namespace> = Api::all(ns.client.clone());
    let patch = json!({ "metadata": { "labels": { LABEL: "enabled" } } });
    namespaces
        .patch(&ns.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
}

async fn blocklist(ns: &TestNamespace) -> Option<ConfigMap> {
    ns.api::<ConfigMap>()
        .get_opt("interdict-blocklist")
        .await
        .unwrap()
}

#[tokio::test]
async fn labelled_namespaces_get_an_empty_blocklist_and_pods_start_ready() {
    let early = TestNamespace::new("enrolled-early").await;
    label(&early).await;
    let plain = TestNamespace::new("not-enrolled").await;
    let mut command = common::operator::command(&cluster().kubeconfig);
    command
        .arg("run")
        .env("RUST_LOG", "info,interdict=debug,kube=warn");
    let _operator = Operator::spawn(command, &common::operator::test_logs(), &early.name);

    let cm = eventually(
        "the labelled namespace's blocklist",
        Duration::from_secs(60),
        || async { blocklist(&early).await },
    )
    .await;
    let data: BTreeMap<String, String> = cm.data.clone().unwrap_or_default();
    let document = BlocklistDocument::parse(&data["blocklist.json"]).unwrap();
    assert!(document.entries.is_empty());
    assert_eq!(document.namespace, early.name);

    // A namespace labelled later gets one too.
    let late = TestNamespace::new("enrolled-late").await;
    label(&late).await;
    eventually(
        "the late namespace's blocklist",
        Duration::from_secs(30),
        || async { blocklist(&late).await },
    )
    .await;
    assert!(
        blocklist(&plain).await.is_none(),
        "an unlabelled namespace without bans gets none"
    );

    // Mounted as kubelet would, the empty blocklist makes the sidecar ready and
    // its answers real ones.
    let dir = tempfile::tempdir().unwrap();
    common::mount::kubelet_publish(dir.path(), &data);
    let port = free_port();
    let mut sidecar = Command::new(env!("CARGO_BIN_EXE_interdict"))
        .args(["serve", "--dir", dir.path().to_str().unwrap()])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    eventually("the sidecar is ready", Duration::from_secs(20), || async {
        (http(port, "GET", "/readyz")?.0 == 200).then_some(())
    })
    .await;
    let decision = json(port, "/v1/decision?feature=comments&user=1").unwrap();
    assert_eq!(decision, json!({"allowed": true}));
    let _ = sidecar.kill();
    let _ = sidecar.wait();
    for ns in [early, plain, late] {
        ns.cleanup().await;
    }
}
