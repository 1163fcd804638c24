//! `--nudge-pods`: pods that mount the blocklist are annotated after each change
//! (so kubelet refreshes the mount at once); other pods are left alone.

mod common;

use std::time::Duration;

use common::{TestNamespace, apply_ok, eventually};
use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use kube::ResourceExt;
use kube::api::PostParams;

const ANNOTATION: &str = "interdict.dev/blocklist-hash";

fn pod(name: &str, configmap: &str) -> Pod {
    serde_json::from_value(serde_json::json!({
        "metadata": { "name": name },
        "spec": {
            "automountServiceAccountToken": false,
            "containers": [{ "name": "app", "image": "example.invalid/app:1",
                             "volumeMounts": [{ "name": "blocklist", "mountPath": "/etc/interdict" }] }],
            "volumes": [{ "name": "blocklist", "configMap": { "name": configmap, "optional": true } }]
        }
    }))
    .unwrap()
}

async fn annotation(ns: &TestNamespace, name: &str) -> Option<String> {
    ns.api::<Pod>()
        .get(name)
        .await
        .ok()?
        .annotations()
        .get(ANNOTATION)
        .cloned()
}

fn ban(name: &str) -> String {
    format!(
        "apiVersion: interdict.dev/v1alpha1\nkind: UserBan\nmetadata: {{name: {name}}}\nspec:\n  subject: {{userId: \"{name}\"}}\n  reason: {{code: spam}}\n"
    )
}

#[tokio::test]
async fn pods_mounting_the_blocklist_are_nudged_after_each_change() {
    let ns = TestNamespace::new("nudge").await;
    // No controller-manager here creates the default ServiceAccount pods need.
    let account: ServiceAccount =
        serde_json::from_value(serde_json::json!({ "metadata": { "name": "default" } })).unwrap();
    ns.api::<ServiceAccount>()
        .create(&PostParams::default(), &account)
        .await
        .unwrap();
    ns.api::<Pod>()
        .create(
            &PostParams::default(),
            &pod("reader", "interdict-blocklist"),
        )
        .await
        .unwrap();
    ns.api::<Pod>()
        .create(&PostParams::default(), &pod("bystander", "something-else"))
        .await
        .unwrap();
    let _operator = ns.operator_with(&["--nudge-pods"]);

    apply_ok(&ns.name, &ban("first"));
    let first = eventually("reader nudged", Duration::from_secs(20), || async {
        annotation(&ns, "reader").await
    })
    .await;
    apply_ok(&ns.name, &ban("second"));
    eventually("reader nudged again", Duration::from_secs(20), || async {
        annotation(&ns, "reader")
            .await
            .filter(|hash| *hash != first)
    })
    .await;
    assert_eq!(
        annotation(&ns, "bystander").await,
        None,
        "pods not mounting the blocklist are left alone"
    );
    ns.cleanup().await;
}
