//! One watch on a namespace's ConfigMaps, as an application's reader sees the
//! blocklist: when each ban was first published, when it left, how large the
//! ConfigMaps grew.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use interdict::core::BlocklistDocument;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, watcher};
use kube::{Api, Client, ResourceExt};

use crate::objects::{data_bytes, is_blocklist};

pub struct ShardView {
    pub rv: String,
    pub bytes: usize,
    pub ids: HashSet<String>,
}

/// What one watch on a namespace's ConfigMaps has seen so far.
#[derive(Default)]
pub struct View {
    pub synced: bool,
    pub listing: Option<HashSet<String>>,
    pub shards: HashMap<String, ShardView>,
    /// id → number of blocklist ConfigMaps that carry it.
    pub presence: HashMap<String, u32>,
    pub present: usize,
    pub first_present: HashMap<String, Instant>,
    pub removed_at: HashMap<String, DateTime<Utc>>,
    /// Other ConfigMaps (the floor's), first seen.
    pub others: HashMap<String, Instant>,
    /// Other ConfigMaps, the resourceVersion last seen and when.
    pub others_latest: HashMap<String, (String, Instant)>,
    pub max_bytes: usize,
    pub max_bytes_name: String,
    pub parse_errors: usize,
    pub last_parse_error: Option<String>,
    pub needle: Option<String>,
    pub needle_seen: Option<Instant>,
    pub target: Option<usize>,
    pub target_reached: Option<Instant>,
}

struct Seen {
    name: String,
    rv: String,
    bytes: usize,
    ids: Option<HashSet<String>>,
    needle: bool,
    errors: Vec<String>,
}

fn inspect(cm: &ConfigMap, needle: Option<&str>) -> Seen {
    let mut seen = Seen {
        name: cm.name_any(),
        rv: cm.resource_version().unwrap_or_default(),
        bytes: data_bytes(cm),
        ids: None,
        needle: false,
        errors: Vec::new(),
    };
    if !is_blocklist(&seen.name) {
        return seen;
    }
    let mut ids = HashSet::new();
    for (key, value) in cm.data.iter().flatten() {
        if key.starts_with("blocklist") && key.ends_with(".json") {
            match BlocklistDocument::parse(value) {
                Ok(document) => ids.extend(document.entries.into_iter().map(|e| e.id)),
                Err(error) => seen.errors.push(format!("{}/{key}: {error}", seen.name)),
            }
        }
    }
    seen.ids = Some(ids);
    seen.needle = needle.is_some_and(|n| cm.data.iter().flatten().any(|(_, v)| v.contains(n)));
    seen
}

impl View {
    fn apply(&mut self, seen: Seen, at: Instant, wall: DateTime<Utc>) {
        if let Some(listing) = &mut self.listing {
            listing.insert(seen.name.clone());
        }
        let Some(ids) = seen.ids else {
            self.others_latest
                .insert(seen.name.clone(), (seen.rv.clone(), at));
            self.others.entry(seen.name).or_insert(at);
            return;
        };
        self.parse_errors += seen.errors.len();
        if let Some(error) = seen.errors.into_iter().last() {
            self.last_parse_error = Some(error);
        }
        if seen.needle && self.needle_seen.is_none() {
            self.needle_seen = Some(at);
        }
        if seen.bytes > self.max_bytes {
            self.max_bytes = seen.bytes;
            self.max_bytes_name = seen.name.clone();
        }
        let old = self
            .shards
            .remove(&seen.name)
            .map(|s| s.ids)
            .unwrap_or_default();
        for id in ids.difference(&old) {
            let count = self.presence.entry(id.clone()).or_insert(0);
            *count += 1;
            if *count == 1 {
                self.present += 1;
                self.first_present.entry(id.clone()).or_insert(at);
                self.removed_at.remove(id);
            }
        }
        for id in old.difference(&ids) {
            self.absent(id, wall);
        }
        self.shards.insert(
            seen.name,
            ShardView {
                rv: seen.rv,
                bytes: seen.bytes,
                ids,
            },
        );
        if let Some(target) = self.target
            && self.present >= target
            && self.target_reached.is_none()
        {
            self.target_reached = Some(at);
        }
    }

    fn absent(&mut self, id: &str, wall: DateTime<Utc>) {
        if let Some(count) = self.presence.get_mut(id) {
            *count -= 1;
            if *count == 0 {
                self.presence.remove(id);
                self.present -= 1;
                self.removed_at.insert(id.to_string(), wall);
            }
        }
    }

    fn delete(&mut self, name: &str, wall: DateTime<Utc>) {
        if let Some(shard) = self.shards.remove(name) {
            for id in &shard.ids {
                self.absent(id, wall);
            }
        }
    }

    pub fn versions(&self) -> BTreeMap<String, (String, usize)> {
        self.shards
            .iter()
            .map(|(name, s)| (name.clone(), (s.rv.clone(), s.bytes)))
            .collect()
    }
}

/// One watch on the ConfigMaps of a namespace, as an application's reader would
/// see the blocklist (every `interdict-blocklist*`, every `blocklist*.json`).
pub struct Observer {
    view: Arc<Mutex<View>>,
    tick: tokio::sync::watch::Receiver<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Observer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Observer {
    pub async fn start(client: &Client, namespace: &str) -> Observer {
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
        let view: Arc<Mutex<View>> = Arc::default();
        let (tick_tx, tick) = tokio::sync::watch::channel(0u64);
        let task = {
            let view = view.clone();
            tokio::spawn(async move {
                let mut events = watcher(api, watcher::Config::default())
                    .default_backoff()
                    .boxed();
                while let Some(event) = events.next().await {
                    // Receipt time, before parsing: what a reader would get.
                    let at = Instant::now();
                    let wall = Utc::now();
                    let needle = view.lock().unwrap().needle.clone();
                    match event {
                        Ok(watcher::Event::Apply(cm)) | Ok(watcher::Event::InitApply(cm)) => {
                            let seen = inspect(&cm, needle.as_deref());
                            view.lock().unwrap().apply(seen, at, wall);
                        }
                        Ok(watcher::Event::Delete(cm)) => {
                            view.lock().unwrap().delete(&cm.name_any(), wall)
                        }
                        Ok(watcher::Event::Init) => {
                            view.lock().unwrap().listing = Some(HashSet::new())
                        }
                        Ok(watcher::Event::InitDone) => {
                            let mut view = view.lock().unwrap();
                            if let Some(listed) = view.listing.take() {
                                let gone: Vec<String> = view
                                    .shards
                                    .keys()
                                    .filter(|n| !listed.contains(*n))
                                    .cloned()
                                    .collect();
                                for name in gone {
                                    view.delete(&name, wall);
                                }
                            }
                            view.synced = true;
                        }
                        Err(error) => {
                            eprintln!("bench: ConfigMap watch error (retrying): {error}")
                        }
                    }
                    tick_tx.send_modify(|n| *n += 1);
                }
            })
        };
        let observer = Observer { view, tick, task };
        observer
            .wait(Duration::from_secs(60), |v| v.synced.then_some(()))
            .await
            .expect("the ConfigMap watch lists within 60 s");
        observer
    }

    /// Re-evaluates `check` after every watch event until it answers or `timeout`.
    pub async fn wait<T>(
        &self,
        timeout: Duration,
        mut check: impl FnMut(&View) -> Option<T>,
    ) -> Option<T> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut tick = self.tick.clone();
        loop {
            tick.borrow_and_update();
            if let Some(found) = check(&self.view.lock().unwrap()) {
                return Some(found);
            }
            match tokio::time::timeout_at(deadline, tick.changed()).await {
                Ok(Ok(())) => {}
                _ => return check(&self.view.lock().unwrap()),
            }
        }
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut View) -> T) -> T {
        f(&mut self.view.lock().unwrap())
    }

    /// From now on, records the first event in which `target` ids are published
    /// (kept when the same target was already reached).
    pub fn set_target(&self, target: usize) {
        self.with(|v| {
            if v.target == Some(target) && v.target_reached.is_some() {
                return;
            }
            v.target = Some(target);
            v.target_reached = (v.present >= target).then(Instant::now);
        });
    }

    pub fn clear_target(&self) {
        self.with(|v| {
            v.target = None;
            v.target_reached = None;
        });
    }
}
