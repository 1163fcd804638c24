//! Convergence after a fault: as soon as a fault ends, a permanent ban is
//! created (by the test's own client, not through the fault proxy) and the
//! time until the namespace's published blocklist holds it is that fault's
//! convergence time: how long the operator takes to act again on a change.

use std::time::{Duration, Instant};

use interdict::api::UserBan;
use interdict::core::BlocklistDocument;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ListParams, PostParams};
use kube::{Api, Client};
use serde_json::json;

/// Creates ban `name` in `namespace` and waits for it in the blocklist; `None`
/// if it is not published within `timeout`.
pub async fn converge(
    client: Client,
    namespace: String,
    name: String,
    timeout: Duration,
) -> Option<Duration> {
    let start = Instant::now();
    let bans: Api<UserBan> = Api::namespaced(client.clone(), &namespace);
    let ban: UserBan = serde_json::from_value(json!({
        "apiVersion": "interdict.dev/v1alpha1", "kind": "UserBan",
        "metadata": {"name": name},
        "spec": {"subject": {"userId": format!("probe-{name}")}, "reason": {"code": "spam"}},
    }))
    .unwrap();
    loop {
        match bans.create(&PostParams::default(), &ban).await {
            Ok(_) => break,
            Err(kube::Error::Api(status)) if status.code == 409 => break,
            Err(_) if start.elapsed() < timeout => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(_) => return None,
        }
    }
    let id = format!("UserBan/{name}");
    let maps: Api<ConfigMap> = Api::namespaced(client, &namespace);
    while start.elapsed() < timeout {
        if let Ok(list) = maps.list(&ListParams::default()).await {
            let published = list
                .items
                .iter()
                .filter(|cm| {
                    cm.metadata
                        .name
                        .as_deref()
                        .is_some_and(|n| n.starts_with("interdict-blocklist"))
                })
                .flat_map(|cm| cm.data.iter().flatten())
                .filter(|(key, _)| key.ends_with(".json"))
                .filter_map(|(_, text)| BlocklistDocument::parse(text).ok())
                .any(|doc| doc.entries.iter().any(|e| e.id == id));
            if published {
                return Some(start.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// The highest resident set size the process `pid` has had (VmHWM), in bytes.
pub fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
