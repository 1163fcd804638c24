//! Global bans: bans in the global namespace reach every namespace that opts in
//! with a label, marked global, and no other.

mod common;

use std::time::Duration;

use common::{TestNamespace, apply_ok, eventually};
use interdict::core::{BlocklistDocument, Entry};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, Patch, PatchParams};

const OPT_IN: &str = "interdict.dev/global-bans";

async fn entries(ns: &TestNamespace) -> Option<Vec<Entry>> {
    let cm = ns
        .api::<ConfigMap>()
        .get_opt("interdict-blocklist")
        .await
        .ok()??;
    let text = cm.data?.remove("blocklist.json")?;
    Some(BlocklistDocument::parse(&text).ok()?.entries)
}

async fn ids(ns: &TestNamespace) -> Vec<String> {
    entries(ns)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|e| e.id)
        .collect()
}

async fn label(ns: &TestNamespace, value: Option<&str>) {
    let namespaces: Api<Namespace> = Api::all(ns.client.clone());
    let patch = serde_json::json!({ "metadata": { "labels": { OPT_IN: value } } });
    namespaces
        .patch(&ns.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
}

#[tokio::test]
async fn global_bans_reach_opted_in_namespaces_only() {
    let global = TestNamespace::new("global").await;
    let opted_in = TestNamespace::new("opted-in").await;
    let opted_out = TestNamespace::new("opted-out").await;
    label(&opted_in, Some("true")).await;
    let _operator = global.operator_with(&[
        "--namespace",
        &opted_in.name,
        "--namespace",
        &opted_out.name,
        "--global-namespace",
        &global.name,
    ]);
    apply_ok(
        &global.name,
        "apiVersion: interdict.dev/v1alpha1\nkind: UserBan\nmetadata: {name: botnet}\nspec:\n  subject: {ip: 198.51.100.0/24}\n  reason: {code: abuse}\n",
    );
    apply_ok(
        &opted_out.name,
        "apiVersion: interdict.dev/v1alpha1\nkind: UserBan\nmetadata: {name: local}\nspec:\n  subject: {userId: \"9\"}\n  reason: {code: spam}\n",
    );
    let global_id = format!("{}/UserBan/botnet", global.name);

    let published = eventually(
        "global ban in the opted-in namespace",
        Duration::from_secs(20),
        || async {
            entries(&opted_in)
                .await
                .and_then(|e| e.into_iter().find(|e| e.id == global_id))
        },
    )
    .await;
    assert!(published.global, "marked global: {published:?}");
    eventually(
        "the global namespace's own blocklist",
        Duration::from_secs(10),
        || async { (ids(&global).await == ["UserBan/botnet"]).then_some(()) },
    )
    .await;
    eventually(
        "opted-out namespace has only its own ban",
        Duration::from_secs(10),
        || async { (ids(&opted_out).await == ["UserBan/local"]).then_some(()) },
    )
    .await;

    // Opting in and out later takes effect without a restart.
    label(&opted_out, Some("true")).await;
    eventually("opted in later", Duration::from_secs(10), || async {
        // Entries are sorted by id, byte order.
        (ids(&opted_out).await == ["UserBan/local".to_string(), global_id.clone()]).then_some(())
    })
    .await;
    label(&opted_in, None).await;
    eventually("opted out later", Duration::from_secs(10), || async {
        ids(&opted_in).await.is_empty().then_some(())
    })
    .await;

    for ns in [global, opted_in, opted_out] {
        ns.cleanup().await;
    }
}
