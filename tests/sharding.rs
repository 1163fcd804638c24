//! Large blocklists are split across several ConfigMaps under a size limit;
//! readers merging the mounted shards see exactly every ban, and one change
//! rewrites one shard.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::{TestNamespace, eventually};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::ResourceExt;
use kube::api::{ListParams, Patch, PatchParams, PostParams};

const COUNT: usize = 120;
const LIMIT: usize = 6 * 1024;

async fn shards(ns: &TestNamespace) -> Vec<ConfigMap> {
    let list = ns
        .api::<ConfigMap>()
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    list.into_iter()
        .filter(|cm| cm.name_any().starts_with("interdict-blocklist"))
        .collect()
}

/// What a pod sees with every shard projected into one volume; nothing while
/// the shards listed are not one complete set (caught in the middle of a
/// publish that changes the shard count), which the reader refuses.
fn read_as_mounted(shards: &[ConfigMap]) -> BTreeSet<String> {
    let dir = tempfile::tempdir().unwrap();
    let mut projected = BTreeMap::new();
    for cm in shards {
        for (key, value) in cm.data.clone().unwrap_or_default() {
            assert!(
                projected.insert(key.clone(), value).is_none(),
                "key {key} in two shards"
            );
        }
    }
    common::mount::kubelet_publish(dir.path(), &projected);
    match interdict::reader::load_dir(dir.path()) {
        Ok(contents) => contents.entries.into_iter().map(|e| e.id).collect(),
        Err(interdict::reader::ReadError::Shards { .. }) => BTreeSet::new(),
        Err(error) => panic!("{error}"),
    }
}

#[tokio::test]
async fn blocklists_shard_under_the_limit_and_readers_merge_them() {
    let ns = TestNamespace::new("shards").await;
    let _operator = ns.operator_with(&[
        "--max-shards",
        "16",
        "--shard-max-bytes",
        &LIMIT.to_string(),
    ]);
    let bans = ns.api::<interdict::api::UserBan>();
    for i in 0..COUNT {
        let ban: interdict::api::UserBan = serde_json::from_value(serde_json::json!({
            "apiVersion": "interdict.dev/v1alpha1", "kind": "UserBan",
            "metadata": { "name": format!("ban-{i:03}") },
            "spec": { "subject": { "userId": format!("user-{i}") }, "reason": { "code": "spam" }, "message": "Suspended for spam." }
        }))
        .unwrap();
        bans.create(&PostParams::default(), &ban).await.unwrap();
    }
    let expected: BTreeSet<String> = (0..COUNT).map(|i| format!("UserBan/ban-{i:03}")).collect();
    let published = eventually(
        "every ban across the shards",
        Duration::from_secs(60),
        || async {
            let shards = shards(&ns).await;
            (read_as_mounted(&shards) == expected).then_some(shards)
        },
    )
    .await;
    assert!(published.len() > 1, "needs several shards at {LIMIT} bytes");
    for cm in &published {
        let size: usize = cm.data.as_ref().unwrap().values().map(String::len).sum();
        assert!(size <= LIMIT, "{} holds {size} bytes", cm.name_any());
        assert_eq!(
            cm.labels()
                .get("app.kubernetes.io/managed-by")
                .map(String::as_str),
            Some("interdict")
        );
    }

    // Settle, then change one ban: one shard is rewritten, the others keep their version.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let versions = |shards: &[ConfigMap]| -> BTreeMap<String, String> {
        shards
            .iter()
            .map(|cm| (cm.name_any(), cm.resource_version().unwrap()))
            .collect()
    };
    let before = versions(&shards(&ns).await);
    let patch = serde_json::json!({ "spec": { "message": "Edited." } });
    bans.patch("ban-042", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let after = eventually("the edit published", Duration::from_secs(20), || async {
        let shards = shards(&ns).await;
        let edited = shards.iter().any(|cm| {
            cm.data
                .as_ref()
                .unwrap()
                .values()
                .any(|v| v.contains("Edited."))
        });
        edited.then(|| versions(&shards))
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after_settled = versions(&shards(&ns).await);
    assert_eq!(after, after_settled);
    let rewritten = before
        .iter()
        .filter(|(name, version)| after.get(*name) != Some(version))
        .count();
    assert_eq!(
        rewritten, 1,
        "one ban change rewrites one shard: {before:?} -> {after:?}"
    );
    ns.cleanup().await;
}

/// A namespace whose blocklist needs more shards than allowed is reported
/// (the bans' Ready condition, a Warning Event, a metric), never published
/// truncated; raising --max-shards publishes it.
#[tokio::test]
async fn a_blocklist_too_large_for_its_shards_is_reported_not_truncated() {
    let ns = TestNamespace::new("too-large").await;
    let port = common::http::free_port();
    let metrics = format!("127.0.0.1:{port}");
    let limit = (LIMIT / 4).to_string();
    let mut operator = ns.operator_with(&[
        "--max-shards",
        "2",
        "--shard-max-bytes",
        &limit,
        "--metrics-addr",
        &metrics,
    ]);
    let bans = ns.api::<interdict::api::UserBan>();
    let count = 40;
    for i in 0..count {
        let ban: interdict::api::UserBan = serde_json::from_value(serde_json::json!({
            "apiVersion": "interdict.dev/v1alpha1", "kind": "UserBan",
            "metadata": { "name": format!("big-{i:03}") },
            "spec": { "subject": { "userId": format!("user-{i}") }, "reason": { "code": "spam" }, "message": "Suspended for spam." }
        }))
        .unwrap();
        bans.create(&PostParams::default(), &ban).await.unwrap();
    }
    let message = eventually(
        "the bans to say the blocklist is too large",
        Duration::from_secs(60),
        || async {
            let ban = bans.get("big-000").await.ok()?;
            let ready = ban
                .status?
                .conditions
                .into_iter()
                .find(|c| c.type_ == "Ready" && c.reason == "BlocklistTooLarge")?;
            Some(ready.message)
        },
    )
    .await;
    assert!(message.contains("--max-shards"), "{message}");
    let events = ns
        .api::<k8s_openapi::api::events::v1::Event>()
        .list(&ListParams::default())
        .await
        .unwrap();
    assert!(
        events
            .items
            .iter()
            .any(|e| e.reason.as_deref() == Some("BlocklistTooLarge")),
        "a Warning Event"
    );
    let (_, body) = common::http::http(port, "GET", "/metrics").unwrap();
    assert!(
        body.lines()
            .any(|l| l.starts_with("interdict_blocklist_too_large")
                && l.contains(&ns.name)
                && l.ends_with(" 1")),
        "{body}"
    );
    // What was published while it still fitted stays; nothing over the limit
    // was written.
    for cm in shards(&ns).await {
        let bytes: usize = cm
            .data
            .iter()
            .flat_map(|d| d.values())
            .map(String::len)
            .sum();
        assert!(bytes <= LIMIT / 4, "{} holds {bytes} bytes", cm.name_any());
    }

    operator.stop();
    let _operator = ns.operator_with(&["--max-shards", "16", "--shard-max-bytes", &limit]);
    let expected: BTreeSet<String> = (0..count).map(|i| format!("UserBan/big-{i:03}")).collect();
    eventually("every ban published", Duration::from_secs(60), || async {
        let shards = shards(&ns).await;
        (!shards.is_empty() && read_as_mounted(&shards) == expected).then_some(())
    })
    .await;
    ns.cleanup().await;
}
