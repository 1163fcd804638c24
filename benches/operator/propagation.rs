//! Propagation to pods: a ban created → the decision an application gets
//! changes. Pods never run here (no kubelet), so the bench plays kubelet's
//! part and adds no delay of its own: a watch on the namespace's blocklist
//! ConfigMaps writes every change into a directory laid out as kubelet lays
//! out a projected volume (a fresh timestamped directory, `..data` swapped by
//! one rename), and the Rust reader watches that directory at the sidecar's
//! default interval. Kubelet's own delay is what the docs state beside it:
//! its sync period (60–90 s) without `--nudge-pods`; with it, the pod is
//! synced when its object changes, and the time until the operator has
//! annotated a pod that mounts the blocklist is measured here on a Pod object.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::StreamExt;
use interdict::api::UserBan;
use interdict::core::Query;
use interdict::reader::{Blocklist, api_source};
use k8s_openapi::api::core::v1::{ConfigMap, Pod, ServiceAccount};
use kube::Api;
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;

use crate::bench::{Bench, Cells};
use crate::common::mount::kubelet_publish;
use crate::format::{fmt_ms, millis, pct, samples_line};
use crate::objects::{create_one, is_blocklist};

/// The sidecar's default `--reload-interval-ms`.
const READER_INTERVAL: Duration = Duration::from_millis(1000);
const NUDGE_ANNOTATION: &str = "interdict.dev/blocklist-hash";
const BANS_IN_PLACE: usize = 1_000;
/// The operator's default `--max-shards`: the pod mounts every possible shard.
const MAX_SHARDS: u32 = 16;

struct Samples {
    /// Ban created → the reader denies its subject.
    reader: Vec<f64>,
    /// Ban created → a reader in watch mode (`--watch-api`) denies it.
    watched: Vec<f64>,
    /// Ban created → the pod's nudge annotation changed.
    nudged: Vec<f64>,
    timeouts: usize,
}

impl Bench {
    pub async fn phase_propagation(&mut self) {
        eprintln!("bench: == propagation to a kubelet-style mount, with --nudge-pods");
        let ns = self.namespace("propagation").await;
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        // No controller-manager here creates the default ServiceAccount pods need.
        let accounts: Api<ServiceAccount> = Api::namespaced(self.client.clone(), &ns);
        let account: ServiceAccount =
            serde_json::from_value(json!({ "metadata": { "name": "default" } })).unwrap();
        create_one(&accounts, &account)
            .await
            .unwrap_or_else(|e| panic!("cannot create the default ServiceAccount: {e}"));
        create_one(&pods, &mounting_pod(MAX_SHARDS))
            .await
            .unwrap_or_else(|e| panic!("cannot create the mounting pod: {e}"));
        let bans: Api<UserBan> = Api::namespaced(self.client.clone(), &ns);
        let existing: Vec<UserBan> = (0..BANS_IN_PLACE)
            .map(|i| crate::objects::ban(&format!("in-place-{i:05}"), i))
            .collect();
        crate::objects::create_all(
            &bans,
            existing.into_iter(),
            BANS_IN_PLACE,
            self.s.concurrency,
            "propagation bans",
        )
        .await;

        let dir = self.logs.join("propagation-mount");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let projector = tokio::spawn(project(
            Api::namespaced(self.client.clone(), &ns),
            dir.clone(),
        ));
        let annotations = Arc::new(Mutex::new(Vec::<(String, Instant)>::new()));
        let pod_watch = tokio::spawn(watch_nudges(pods.clone(), annotations.clone()));

        let mut op = self.start_operator_with(&ns, "propagation", &["--nudge-pods"]);
        if op.wait_ready(Duration::from_secs(120)).await.is_none() {
            self.note("propagation: the operator did not become ready".into());
            projector.abort();
            pod_watch.abort();
            return;
        }
        op.settle(Duration::from_secs(120)).await;
        let reader = Blocklist::watch(&dir, READER_INTERVAL);
        // Watch mode, as `interdict serve --watch-api` runs it: its mount stays
        // empty, so every answer it changes came through the API server.
        let empty = self.logs.join("propagation-empty-mount");
        std::fs::create_dir_all(&empty).unwrap();
        let watched = Blocklist::watch(&empty, READER_INTERVAL);
        let follower = tokio::spawn(api_source::follow(
            self.client.clone(),
            api_source::ApiSource::new(&ns, "interdict-blocklist", MAX_SHARDS),
            watched.clone(),
        ));
        let mut samples = Samples {
            watched: Vec::new(),
            reader: Vec::new(),
            nudged: Vec::new(),
            timeouts: 0,
        };
        for i in 0..self.s.samples {
            if self.left() < Duration::from_secs(30) {
                self.note(format!("propagation: budget exhausted after {i} samples"));
                break;
            }
            // The reader polls every second: spread the creates over that
            // second, or every sample would land at the same phase of it.
            let offset = (i as u64 * 337) % READER_INTERVAL.as_millis() as u64;
            tokio::time::sleep(Duration::from_millis(offset)).await;
            let user = format!("propagation-{i:03}");
            let seen_hashes = annotations.lock().unwrap().len();
            let t0 = Instant::now();
            create_one(&bans, &plain_ban(&format!("prop-{i:03}"), &user))
                .await
                .unwrap_or_else(|e| panic!("cannot create UserBan prop-{i:03}: {e}"));
            let query = Query {
                user_id: Some(user.clone()),
                feature: "login".into(),
                ..Query::default()
            };
            let mut denied = None;
            let mut denied_watched = None;
            let mut nudged = None;
            let deadline = t0 + Duration::from_secs(30);
            while (denied.is_none() || nudged.is_none() || denied_watched.is_none())
                && Instant::now() < deadline
            {
                if denied.is_none() && !reader.decide(&query, Utc::now()).allowed {
                    denied = Some(t0.elapsed());
                }
                if denied_watched.is_none() && !watched.decide(&query, Utc::now()).allowed {
                    denied_watched = Some(t0.elapsed());
                }
                if nudged.is_none() {
                    nudged = annotations
                        .lock()
                        .unwrap()
                        .get(seen_hashes)
                        .map(|(_, at)| at.saturating_duration_since(t0));
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            match denied {
                Some(d) => samples.reader.push(millis(d)),
                None => samples.timeouts += 1,
            }
            match nudged {
                Some(d) => samples.nudged.push(millis(d)),
                None => samples.timeouts += 1,
            }
            match denied_watched {
                Some(d) => samples.watched.push(millis(d)),
                None => samples.timeouts += 1,
            }
            op.settle(Duration::from_secs(30)).await;
        }
        reader.stop();
        watched.stop();
        follower.abort();
        projector.abort();
        pod_watch.abort();
        self.report_propagation(&samples);
        self.record_operator(&op, "the propagation phase").await;
        op.stop(Duration::from_secs(30));
    }

    fn report_propagation(&mut self, samples: &Samples) {
        let label = crate::format::size_label(BANS_IN_PLACE);
        self.raw(format!(
            "propagation at {label}: ban → reader denies, kubelet-style mount written at once, reader every {} ms (ms): {}",
            READER_INTERVAL.as_millis(),
            samples_line(&samples.reader)
        ));
        self.raw(format!(
            "propagation at {label}: ban → mounting pod annotated by --nudge-pods (ms): {}",
            samples_line(&samples.nudged)
        ));
        self.raw(format!(
            "propagation at {label}: ban → reader in watch mode (--watch-api) denies (ms): {}",
            samples_line(&samples.watched)
        ));
        if samples.timeouts > 0 {
            self.note(format!(
                "propagation: {} sample(s) not seen within 30 s",
                samples.timeouts
            ));
        }
        let summary =
            |v: &[f64]| format!("p50 {} / p99 {}", fmt_ms(pct(v, 0.5)), fmt_ms(pct(v, 0.99)));
        self.row(
            "ban → app decision, mount written at once (+ kubelet: 60–90 s, or its pod sync with --nudge-pods)",
            &label,
            Cells::new(summary(&samples.reader)),
        );
        self.row(
            "ban → mounting pod annotated (--nudge-pods)",
            &label,
            Cells::new(summary(&samples.nudged)),
        );
        self.row(
            "ban → app decision in watch mode (--watch-api; target p99 ≤ 1 s)",
            &label,
            Cells::new(summary(&samples.watched)),
        );
    }
}

/// A pod that mounts every shard as one projected directory, as
/// docs/applications.md shows. It stays Pending: no kubelet runs here.
fn mounting_pod(max_shards: u32) -> Pod {
    let sources: Vec<_> = (0..max_shards.max(1))
        .map(|i| {
            let name = if i == 0 {
                "interdict-blocklist".to_string()
            } else {
                format!("interdict-blocklist-{i}")
            };
            json!({ "configMap": { "name": name, "optional": true } })
        })
        .collect();
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": { "name": "app" },
        "spec": {
            "containers": [{
                "name": "app",
                "image": "app:bench",
                "volumeMounts": [{ "name": "blocklist", "mountPath": "/etc/interdict", "readOnly": true }],
            }],
            "volumes": [{ "name": "blocklist", "projected": { "sources": sources } }],
        },
    }))
    .expect("a valid Pod")
}

fn plain_ban(name: &str, user: &str) -> UserBan {
    serde_json::from_value(json!({
        "apiVersion": "interdict.dev/v1alpha1",
        "kind": "UserBan",
        "metadata": { "name": name },
        "spec": {
            "subject": { "userId": user },
            "reason": { "code": "spam" },
        },
    }))
    .expect("a valid UserBan")
}

/// Plays kubelet: every blocklist ConfigMap's data, merged into one
/// directory, published as a new version at each change.
async fn project(cms: Api<ConfigMap>, dir: std::path::PathBuf) {
    let mut current: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut events = watcher(cms, watcher::Config::default())
        .default_backoff()
        .boxed();
    while let Some(event) = events.next().await {
        let changed = match event {
            Ok(watcher::Event::Apply(cm) | watcher::Event::InitApply(cm)) => {
                let name = cm.metadata.name.clone().unwrap_or_default();
                let ours = is_blocklist(&name);
                if ours {
                    current.insert(name, cm.data.unwrap_or_default());
                }
                ours
            }
            Ok(watcher::Event::Delete(cm)) => {
                let name = cm.metadata.name.unwrap_or_default();
                current.remove(&name).is_some()
            }
            Ok(watcher::Event::InitDone) => true,
            _ => false,
        };
        if changed {
            let merged: BTreeMap<String, String> =
                current.values().flat_map(|data| data.clone()).collect();
            let dir = dir.clone();
            let _ = tokio::task::spawn_blocking(move || kubelet_publish(&dir, &merged)).await;
        }
    }
}

/// Each new value of the pod's nudge annotation, in the order first seen.
async fn watch_nudges(pods: Api<Pod>, seen: Arc<Mutex<Vec<(String, Instant)>>>) {
    let mut events = watcher(pods, watcher::Config::default())
        .default_backoff()
        .applied_objects()
        .boxed();
    while let Some(Ok(pod)) = events.next().await {
        let hash = pod
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(NUDGE_ANNOTATION).cloned());
        if let Some(hash) = hash {
            let mut seen = seen.lock().unwrap();
            if !seen.iter().any(|(known, _)| *known == hash) {
                seen.push((hash, Instant::now()));
            }
        }
    }
}
