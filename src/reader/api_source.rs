//! Watch mode: the blocklist read straight from the namespace's ConfigMaps on
//! the API server, so a new ban reaches the application in well under a second
//! instead of kubelet's 60–90 s mount refresh. The mounted directory stays the
//! fallback: it is followed before the first copy arrives and whenever the
//! watch fails.
//!
//! One watch per shard name with a `metadata.name` field selector: that is what
//! lets a Role limit the pod to the blocklist ConfigMaps by `resourceNames`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::runtime::watcher;
use kube::{Api, Client};

use super::{Blocklist, load_texts};

/// Which ConfigMaps make up the blocklist.
#[derive(Clone, Debug)]
pub struct ApiSource {
    pub namespace: String,
    /// `NAME`, `NAME-1`, … up to the operator's `--max-shards`.
    pub shard_names: Vec<String>,
}

impl ApiSource {
    /// The shard names the operator uses for `name` and `max_shards`.
    pub fn new(namespace: &str, name: &str, max_shards: u32) -> Self {
        ApiSource {
            namespace: namespace.to_string(),
            shard_names: crate::controller::shard_names(name, max_shards),
        }
    }
}

/// What each shard's watch has seen: `None` until its first list completes,
/// then the ConfigMap's data (empty when it does not exist).
#[derive(Default)]
struct Seen {
    shards: BTreeMap<String, Option<BTreeMap<String, String>>>,
}

impl Seen {
    /// Every shard's keys together once every watch has listed, else nothing.
    fn documents(&self) -> Option<BTreeMap<String, String>> {
        let mut all = BTreeMap::new();
        for data in self.shards.values() {
            all.extend(data.as_ref()?.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        Some(all)
    }
}

/// Follows the ConfigMaps until the process ends, installing every complete
/// copy into `blocklist`. A watch error hands over to the directory until the
/// watch lists again (kube's watcher retries with backoff).
pub async fn follow(client: Client, source: ApiSource, blocklist: Blocklist) {
    let api: Api<ConfigMap> = Api::namespaced(client, &source.namespace);
    let seen = Arc::new(Mutex::new(Seen {
        shards: source
            .shard_names
            .iter()
            .map(|name| (name.clone(), None))
            .collect(),
    }));
    let shown = PathBuf::from(format!("configmaps/{}", source.namespace));
    let watches = source.shard_names.iter().map(|name| {
        let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
        watcher::watcher(api.clone(), config)
            .map(move |event| (name.clone(), event))
            .boxed()
    });
    let mut events = futures::stream::select_all(watches);
    // The data a list in progress has found, per shard.
    let mut listing: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    while let Some((name, event)) = events.next().await {
        let changed = match event {
            Ok(watcher::Event::Init) => {
                listing.insert(name, BTreeMap::new());
                false
            }
            Ok(watcher::Event::InitApply(cm)) => {
                listing.insert(name, cm.data.unwrap_or_default());
                false
            }
            Ok(watcher::Event::InitDone) => {
                let data = listing.remove(&name).unwrap_or_default();
                seen.lock()
                    .expect("seen lock")
                    .shards
                    .insert(name, Some(data));
                true
            }
            Ok(watcher::Event::Apply(cm)) => {
                let data = cm.data.unwrap_or_default();
                set(&seen, &name, data)
            }
            Ok(watcher::Event::Delete(_)) => set(&seen, &name, BTreeMap::new()),
            Err(error) => {
                tracing::warn!(shard = %name, %error, "blocklist watch failed; retrying");
                blocklist.api_lost();
                // Until this shard lists again, no copy is complete.
                seen.lock().expect("seen lock").shards.insert(name, None);
                // The watcher's own backoff paces retries; this keeps a storm
                // of errors from spinning the loop.
                tokio::time::sleep(Duration::from_millis(100)).await;
                false
            }
        };
        if !changed {
            continue;
        }
        let documents = seen.lock().expect("seen lock").documents();
        let Some(documents) = documents else { continue };
        if documents.is_empty() {
            // No blocklist published yet: the directory may still have one.
            continue;
        }
        match load_texts(&shown, &documents) {
            Ok(loaded) => blocklist.install(loaded),
            Err(error) => blocklist.refused(&error),
        }
    }
}

/// Records a shard's new data once its watch has listed.
fn set(seen: &Mutex<Seen>, name: &str, data: BTreeMap<String, String>) -> bool {
    let mut seen = seen.lock().expect("seen lock");
    match seen.shards.get_mut(name) {
        Some(slot @ Some(_)) => {
            *slot = Some(data);
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_names_follow_the_operator() {
        let source = ApiSource::new("apps", "interdict-blocklist", 3);
        assert_eq!(
            source.shard_names,
            [
                "interdict-blocklist",
                "interdict-blocklist-1",
                "interdict-blocklist-2"
            ]
        );
    }

    #[test]
    fn no_copy_until_every_shard_has_listed() {
        let mut seen = Seen::default();
        seen.shards.insert(
            "a".into(),
            Some(BTreeMap::from([("blocklist.json".into(), "x".into())])),
        );
        seen.shards.insert("a-1".into(), None);
        assert!(seen.documents().is_none());
        seen.shards.insert("a-1".into(), Some(BTreeMap::new()));
        assert_eq!(seen.documents().unwrap().len(), 1);
    }
}
