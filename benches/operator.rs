//! `make bench`, operator part: the operator end to end on a local control plane
//! (etcd + kube-apiserver started by `hack/dev-cluster.sh`), run as a process
//! exactly as `interdict run`, objects created with the kube client. Every
//! figure is measured next to its floor (what the API server alone does) in
//! the same run. Prints a table and writes the `## Operator at scale` section of
//! docs/performance.md. Figures, never assertions: a missed target prints FAIL
//! and the bench still exits 0.
//!
//! Sizes and limits come from the environment:
//!
//! | variable | full | quick | what |
//! | --- | --- | --- | --- |
//! | `INTERDICT_BENCH_SCALE` | `full` (default) | `quick` | preset for everything below |
//! | `INTERDICT_BENCH_LARGE` | 100000 | 1000 | bans in the large namespace |
//! | `INTERDICT_BENCH_MEDIUM` | 10000 | 300 | bulk burst, then the medium size |
//! | `INTERDICT_BENCH_EXPIRY` | 1000 | 100 | bans expiring in the same second |
//! | `INTERDICT_BENCH_EXPIRY_AHEAD_SECS` | 60 | 15 | how far ahead that second is |
//! | `INTERDICT_BENCH_SAMPLES` | 30 | 10 | single-ban latency samples per size |
//! | `INTERDICT_BENCH_CONCURRENCY` | 16 | 16 | creates in flight |
//! | `INTERDICT_BENCH_BUDGET_SECS` | 1440 | 150 | wall-clock budget of this bench |
//! | `INTERDICT_BENCH_ADAPT` | 1 | 1 | 0: never fall back to a smaller caught-up size |
//! | `INTERDICT_BENCH_DOCS` | 1 | 0 | write docs/performance.md |
//! | `INTERDICT_BENCH_OPERATOR_ARGS` | auto | auto | extra `interdict run` flags |
//! | `INTERDICT_BENCH_CLUSTER_DIR` | `target/bench-cluster` | | where the control plane lives |

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use interdict::api::UserBan;
use interdict::core::BlocklistDocument;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, watcher};
use kube::{Client, ResourceExt};
use serde_json::json;

const BLOCKLIST: &str = "interdict-blocklist";
const KIB: f64 = 1024.0;
const MIB: f64 = 1024.0 * 1024.0;
/// The size no blocklist ConfigMap may exceed (the API server refuses 1 MiB).
const SIZE_TARGET: usize = 900 * 1024;

fn is_blocklist(name: &str) -> bool {
    name == BLOCKLIST || name.starts_with("interdict-blocklist-")
}

// ---------------------------------------------------------------- settings

#[derive(Clone, Debug)]
struct Settings {
    scale: String,
    large: usize,
    medium: usize,
    expiry: usize,
    expiry_ahead: u64,
    samples: usize,
    concurrency: usize,
    budget: Duration,
    adapt: bool,
    write_docs: bool,
    operator_args: Vec<String>,
    operator_args_note: String,
    cluster_dir: PathBuf,
}

fn env_num(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(text) => text
            .trim()
            .replace('_', "")
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text:?} is not a whole number")),
        Err(_) => default,
    }
}

impl Settings {
    fn from_env(root: &Path) -> Settings {
        let scale = std::env::var("INTERDICT_BENCH_SCALE").unwrap_or_else(|_| "full".into());
        // large, medium, expiry, ahead, samples, budget, docs
        let preset = match scale.as_str() {
            "full" => (100_000, 10_000, 1_000, 60, 30, 1440, true),
            "quick" => (1_000, 300, 100, 15, 10, 150, false),
            other => panic!("INTERDICT_BENCH_SCALE={other:?}: use quick or full"),
        };
        let (operator_args, operator_args_note) =
            match std::env::var("INTERDICT_BENCH_OPERATOR_ARGS") {
                Ok(text) => (
                    text.split_whitespace().map(String::from).collect(),
                    "from INTERDICT_BENCH_OPERATOR_ARGS".to_string(),
                ),
                Err(_) => default_operator_args(),
            };
        Settings {
            scale,
            large: env_num("INTERDICT_BENCH_LARGE", preset.0) as usize,
            medium: env_num("INTERDICT_BENCH_MEDIUM", preset.1) as usize,
            expiry: env_num("INTERDICT_BENCH_EXPIRY", preset.2) as usize,
            expiry_ahead: env_num("INTERDICT_BENCH_EXPIRY_AHEAD_SECS", preset.3),
            samples: (env_num("INTERDICT_BENCH_SAMPLES", preset.4) as usize).max(1),
            concurrency: (env_num("INTERDICT_BENCH_CONCURRENCY", 16) as usize).max(1),
            budget: Duration::from_secs(env_num("INTERDICT_BENCH_BUDGET_SECS", preset.5)),
            adapt: env_num("INTERDICT_BENCH_ADAPT", 1) != 0,
            write_docs: env_num("INTERDICT_BENCH_DOCS", u64::from(preset.6)) != 0,
            operator_args,
            operator_args_note,
            cluster_dir: std::env::var_os("INTERDICT_BENCH_CLUSTER_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| root.join("target/bench-cluster")),
        }
    }
}

/// A sharding-capable operator is told it may use enough shards for the large
/// size; an older one gets no extra flags.
fn default_operator_args() -> (Vec<String>, String) {
    let help = Command::new(env!("CARGO_BIN_EXE_interdict"))
        .args(["run", "--help"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if help.contains("--max-shards") {
        (
            vec!["--max-shards".into(), "64".into()],
            "the binary has --max-shards; 64 lets 100k bans fit".into(),
        )
    } else {
        (Vec::new(), "none (the binary has no --max-shards)".into())
    }
}

// ---------------------------------------------------------------- statistics

fn pct(samples: &[f64], q: f64) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn fmt_ms(ms: f64) -> String {
    if ms < 10.0 {
        format!("{ms:.1} ms")
    } else if ms < 10_000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.1} s", ms / 1000.0)
    }
}

fn fmt_s(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

fn fmt_bytes(bytes: usize) -> String {
    if bytes as f64 >= MIB {
        format!("{:.2} MiB", bytes as f64 / MIB)
    } else if bytes >= 10_240 {
        format!("{:.0} KiB", bytes as f64 / KIB)
    } else {
        format!("{bytes} B")
    }
}

fn size_label(n: usize) -> String {
    if n >= 1000 && n.is_multiple_of(1000) {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

fn samples_line(samples: &[f64]) -> String {
    samples
        .iter()
        .map(|s| format!("{s:.1}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

// ---------------------------------------------------------------- objects

/// A UserBan of the benchmark mix: 60 % user ids, 10 % each usernames,
/// emails, IPv4 /24 ranges and key fingerprints; a quarter with a duration.
fn ban(name: &str, i: usize) -> UserBan {
    let subject = match i % 10 {
        0..=5 => json!({ "userId": format!("user-{i}") }),
        6 => json!({ "username": format!("name-{i}") }),
        7 => json!({ "email": format!("u{i}@example.org") }),
        8 => json!({ "ip": format!("10.{}.{}.0/24", (i / 256) % 256, i % 256) }),
        _ => json!({ "keyFingerprint": format!("SHA256:key{i}") }),
    };
    let mut spec = json!({
        "subject": subject,
        "reason": { "code": "spam", "notes": format!("bench ticket #{i}") },
        "message": "Your account is suspended for spamming.",
    });
    if i.is_multiple_of(4) {
        spec["duration"] = json!("30d");
    }
    user_ban(name, spec)
}

/// A plain Suspend ban that ends at `until`.
fn expiring_ban(name: &str, i: usize, until: DateTime<Utc>) -> UserBan {
    user_ban(
        name,
        json!({
            "subject": { "userId": format!("expiring-{i}") },
            "reason": { "code": "spam" },
            "message": "Your account is suspended for spamming.",
            "expiresAt": until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }),
    )
}

fn user_ban(name: &str, spec: serde_json::Value) -> UserBan {
    serde_json::from_value(json!({
        "apiVersion": "interdict.dev/v1alpha1",
        "kind": "UserBan",
        "metadata": { "name": name },
        "spec": spec,
    }))
    .expect("a valid UserBan")
}

fn config_map(name: &str, payload: usize) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([("note".to_string(), "x".repeat(payload))])),
        ..ConfigMap::default()
    }
}

/// Key and value bytes of a ConfigMap's data, as the API server counts them
/// against its 1 MiB limit.
fn data_bytes(cm: &ConfigMap) -> usize {
    let text: usize = cm
        .data
        .iter()
        .flatten()
        .map(|(k, v)| k.len() + v.len())
        .sum();
    let binary: usize = cm
        .binary_data
        .iter()
        .flatten()
        .map(|(k, v)| k.len() + v.0.len())
        .sum();
    text + binary
}

struct Created {
    elapsed: Duration,
    failed: usize,
    first_error: Option<String>,
}

impl Created {
    fn rate(&self, n: usize) -> f64 {
        n as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

async fn create_one<K>(api: &Api<K>, object: &K) -> Result<(), String>
where
    K: kube::Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    for attempt in 0..6u32 {
        match api.create(&PostParams::default(), object).await {
            Ok(_) => return Ok(()),
            // An earlier attempt that timed out on our side did create it.
            Err(kube::Error::Api(status)) if status.code == 409 && attempt > 0 => return Ok(()),
            Err(kube::Error::Api(status)) if status.code == 429 || status.code >= 500 => {}
            Err(kube::Error::Api(status)) => return Err(format!("{status:?}")),
            Err(_) if attempt < 5 => {}
            Err(error) => return Err(error.to_string()),
        }
        tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt + 1))).await;
    }
    Err("gave up after 6 attempts".into())
}

/// Creates every object with `concurrency` requests in flight; progress on stderr.
async fn create_all<K, I>(
    api: &Api<K>,
    objects: I,
    total: usize,
    concurrency: usize,
    what: &str,
) -> Created
where
    K: kube::Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
    I: Iterator<Item = K>,
{
    let start = Instant::now();
    let done = Arc::new(AtomicUsize::new(0));
    let ticker = {
        let done = done.clone();
        let what = what.to_string();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(15)).await;
                let n = done.load(Ordering::Relaxed);
                eprintln!(
                    "bench:   {what}: {n}/{total} created ({:.0}/s)",
                    n as f64 / start.elapsed().as_secs_f64()
                );
            }
        })
    };
    let errors: Vec<String> = futures::stream::iter(objects)
        .map(|object| {
            let api = api.clone();
            let done = done.clone();
            async move {
                let result = create_one(&api, &object).await;
                done.fetch_add(1, Ordering::Relaxed);
                result
            }
        })
        .buffer_unordered(concurrency)
        .filter_map(|r| futures::future::ready(r.err()))
        .collect()
        .await;
    ticker.abort();
    Created {
        elapsed: start.elapsed(),
        failed: errors.len(),
        first_error: errors.into_iter().next(),
    }
}

// ---------------------------------------------------------------- observer

struct ShardView {
    rv: String,
    bytes: usize,
    ids: HashSet<String>,
}

/// What one watch on a namespace's ConfigMaps has seen so far.
#[derive(Default)]
struct View {
    synced: bool,
    listing: Option<HashSet<String>>,
    shards: HashMap<String, ShardView>,
    /// id → number of blocklist ConfigMaps that carry it.
    presence: HashMap<String, u32>,
    present: usize,
    first_present: HashMap<String, Instant>,
    removed_at: HashMap<String, DateTime<Utc>>,
    /// Other ConfigMaps (the floor's), first seen.
    others: HashMap<String, Instant>,
    max_bytes: usize,
    max_bytes_name: String,
    parse_errors: usize,
    last_parse_error: Option<String>,
    needle: Option<String>,
    needle_seen: Option<Instant>,
    target: Option<usize>,
    target_reached: Option<Instant>,
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

    fn versions(&self) -> BTreeMap<String, (String, usize)> {
        self.shards
            .iter()
            .map(|(name, s)| (name.clone(), (s.rv.clone(), s.bytes)))
            .collect()
    }
}

/// One watch on the ConfigMaps of a namespace, as an application's reader would
/// see the blocklist (every `interdict-blocklist*`, every `blocklist*.json`).
struct Observer {
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
    async fn start(client: &Client, namespace: &str) -> Observer {
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
    async fn wait<T>(
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

    fn with<T>(&self, f: impl FnOnce(&mut View) -> T) -> T {
        f(&mut self.view.lock().unwrap())
    }

    /// From now on, records the first event in which `target` ids are published
    /// (kept when the same target was already reached).
    fn set_target(&self, target: usize) {
        self.with(|v| {
            if v.target == Some(target) && v.target_reached.is_some() {
                return;
            }
            v.target = Some(target);
            v.target_reached = (v.present >= target).then(Instant::now);
        });
    }

    fn clear_target(&self) {
        self.with(|v| {
            v.target = None;
            v.target_reached = None;
        });
    }
}

// ---------------------------------------------------------------- operator

/// One request on a fresh loopback connection: (status, body).
async fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let path = path.to_string();
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let mut stream =
            std::net::TcpStream::connect_timeout(&address, Duration::from_secs(2)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut buffer = Vec::new();
        stream.read_to_end(&mut buffer).ok()?;
        let text = String::from_utf8_lossy(&buffer).into_owned();
        let status = text.split(' ').nth(1)?.parse().ok()?;
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        Some((status, body))
    })
    .await
    .ok()
    .flatten()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The operator's /metrics, parsed into (name, labels, value).
struct Scrape {
    samples: Vec<(String, String, f64)>,
    text: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Activity {
    passes: f64,
    pass_seconds: f64,
    statuses: f64,
    transitions: f64,
}

impl Scrape {
    fn parse(text: String) -> Scrape {
        let samples = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|line| {
                let (series, value) = line.rsplit_once(' ')?;
                let value: f64 = value.parse().ok()?;
                let (name, labels) = match series.split_once('{') {
                    Some((name, labels)) => (name, labels.trim_end_matches('}')),
                    None => (series, ""),
                };
                Some((name.to_string(), labels.to_string(), value))
            })
            .collect();
        Scrape { samples, text }
    }

    /// Sum over the series of `name` whose labels include every `k="v"`.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut found = None;
        for (n, l, v) in &self.samples {
            if n == name
                && labels
                    .iter()
                    .all(|(k, val)| l.contains(&format!("{k}=\"{val}\"")))
            {
                *found.get_or_insert(0.0) += v;
            }
        }
        found
    }

    /// Statuses written so far (the series appears with the first write).
    fn status_writes(&self) -> f64 {
        self.value(
            "interdict_reconciles_total",
            &[("kind", "UserBan"), ("result", "success")],
        )
        .unwrap_or(0.0)
    }

    fn activity(&self) -> Activity {
        Activity {
            passes: self
                .value("interdict_reconcile_duration_seconds_count", &[])
                .unwrap_or(0.0),
            pass_seconds: self
                .value("interdict_reconcile_duration_seconds_sum", &[])
                .unwrap_or(0.0),
            statuses: self
                .value("interdict_reconciles_total", &[("kind", "UserBan")])
                .unwrap_or(0.0),
            transitions: self
                .value("interdict_transitions_total", &[])
                .unwrap_or(0.0),
        }
    }

    /// The operator's own figures, without histogram buckets.
    fn digest(&self) -> Vec<String> {
        self.text
            .lines()
            .filter(|l| l.starts_with("interdict_") && !l.contains("_bucket{"))
            .map(String::from)
            .collect()
    }
}

#[derive(Clone, Copy, Debug)]
struct Memory {
    rss: usize,
    hwm: usize,
}

struct Operator {
    child: Option<Child>,
    pid: u32,
    port: u16,
    spawned: Instant,
    log: PathBuf,
    /// Mean duration of the most recent namespace passes, seconds.
    recent_pass: Mutex<f64>,
}

impl Drop for Operator {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Operator {
    async fn scrape(&self) -> Option<Scrape> {
        match http_get(self.port, "/metrics").await {
            Some((200, body)) => Some(Scrape::parse(body)),
            _ => None,
        }
    }

    /// Polls /readyz; returns when it first answered 200 (after spawn).
    async fn wait_ready(&self, timeout: Duration) -> Option<Duration> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some((200, _)) = http_get(self.port, "/readyz").await {
                return Some(self.spawned.elapsed());
            }
            if self.exited() {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        None
    }

    fn exited(&self) -> bool {
        match std::fs::read_to_string(format!("/proc/{}/stat", self.pid)) {
            Ok(stat) => stat
                .rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with('Z')),
            Err(_) => true,
        }
    }

    fn memory(&self) -> Option<Memory> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        let field = |name: &str| -> Option<usize> {
            let line = status.lines().find(|l| l.starts_with(name))?;
            let kb: usize = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kb * 1024)
        };
        Some(Memory {
            rss: field("VmRSS:")?,
            hwm: field("VmHWM:")?,
        })
    }

    /// SIGTERM (as a rollout does); SIGKILL after `timeout`. Returns how long it took.
    fn stop(&mut self, timeout: Duration) -> (Duration, bool) {
        let start = Instant::now();
        let Some(mut child) = self.child.take() else {
            return (Duration::ZERO, true);
        };
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        while start.elapsed() < timeout {
            if let Ok(Some(_)) = child.try_wait() {
                return (start.elapsed(), true);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        (start.elapsed(), false)
    }

    /// Warnings and errors of the operator's log: count and the first few distinct.
    fn log_problems(&self) -> (usize, Vec<String>) {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut count = 0;
        let mut distinct: Vec<String> = Vec::new();
        for line in text
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        {
            count += 1;
            // Drop the timestamp so repeats of one message collapse.
            let message: String = line
                .split_once(' ')
                .map_or(line, |(_, m)| m)
                .chars()
                .take(400)
                .collect();
            let key: String = message.chars().take(80).collect();
            if distinct.len() < 3 && !distinct.iter().any(|d| d.starts_with(&key)) {
                distinct.push(message);
            }
        }
        (count, distinct)
    }

    /// Waits until the operator is idle: nothing (namespace pass, status write,
    /// transition) finished for twice the recent pass duration, at least 300 ms.
    async fn settle(&self, max: Duration) -> bool {
        let start = Instant::now();
        let mut last = match self.scrape().await {
            Some(s) => s.activity(),
            None => {
                tokio::time::sleep(Duration::from_millis(500)).await;
                return false;
            }
        };
        let mut quiet_since = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if let Some(now) = self.scrape().await.map(|s| s.activity())
                && now != last
            {
                if now.passes > last.passes {
                    let mean = (now.pass_seconds - last.pass_seconds) / (now.passes - last.passes);
                    *self.recent_pass.lock().unwrap() = mean;
                }
                last = now;
                quiet_since = Instant::now();
            }
            let recent = *self.recent_pass.lock().unwrap();
            let window = Duration::from_secs_f64((2.0 * recent + 0.1).clamp(0.3, 10.0));
            if quiet_since.elapsed() >= window {
                return true;
            }
            if start.elapsed() >= max {
                return false;
            }
        }
    }
}

// ---------------------------------------------------------------- report

/// CPU time (user + system) a process has used so far, in seconds.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(") ")?;
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / clock_ticks())
}

fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        first_line(Path::new("getconf"), &["CLK_TCK"])
            .and_then(|t| t.parse().ok())
            .unwrap_or(100.0)
    })
}

/// The RSS when the operator has just caught up, for the steady-memory cell.
fn rss_note(op: &Operator) -> String {
    op.memory().map_or(String::new(), |m| {
        format!(
            " ({:.0} MiB when it had just caught up)",
            m.rss as f64 / MIB
        )
    })
}

struct Row {
    figure: String,
    size: String,
    measured: String,
    floor: String,
    ratio: String,
    target: String,
    result: String,
}

fn verdict(ok: bool) -> String {
    if ok { "pass".into() } else { "FAIL".into() }
}

struct Bench {
    s: Settings,
    root: PathBuf,
    kubeconfig: PathBuf,
    client: Client,
    run: String,
    started: Instant,
    deadline: Instant,
    logs: PathBuf,
    rows: Vec<Row>,
    raw: Vec<String>,
    notes: Vec<String>,
    versions: Vec<String>,
    machine: String,
    load_start: String,
    operators_started: usize,
    /// The large size actually used (the budget may shrink it).
    large_used: Option<usize>,
    /// The control plane's processes, for CPU accounting.
    cluster_pids: Vec<(&'static str, u32)>,
    /// Appended to pass/FAIL while a target is checked at another size.
    target_suffix: String,
}

struct Series {
    bans: Vec<f64>,
    creates: Vec<f64>,
    floors: Vec<f64>,
    timeouts: usize,
    unsettled: usize,
    /// Namespace passes during the samples, and their mean duration.
    passes: f64,
    pass_ms: f64,
}

struct MediumOutcome {
    created: Created,
}

struct CatchUp {
    done: bool,
    elapsed: Duration,
    statuses: f64,
    why: String,
}

struct Cells {
    measured: String,
    floor: String,
    ratio: String,
    target: &'static str,
    result: String,
}

impl Cells {
    fn new(measured: String) -> Cells {
        Cells {
            measured,
            floor: String::new(),
            ratio: String::new(),
            target: "",
            result: String::new(),
        }
    }

    fn floor(mut self, floor: String, ratio: String) -> Cells {
        (self.floor, self.ratio) = (floor, ratio);
        self
    }

    fn target(mut self, target: &'static str, result: String) -> Cells {
        (self.target, self.result) = (target, result);
        self
    }
}

impl Bench {
    fn left(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    fn row(&mut self, figure: &str, size: &str, cells: Cells) {
        self.rows.push(Row {
            figure: figure.into(),
            size: size.into(),
            measured: cells.measured,
            floor: cells.floor,
            ratio: cells.ratio,
            target: cells.target.into(),
            result: cells.result,
        });
    }

    fn raw(&mut self, line: String) {
        eprintln!("bench: {line}");
        self.raw.push(line);
    }

    fn note(&mut self, line: String) {
        eprintln!("bench: NOTE {line}");
        self.notes.push(line);
    }

    async fn namespace(&self, tag: &str) -> String {
        let name = format!("bench-{tag}-{}", self.run);
        let api: Api<Namespace> = Api::all(self.client.clone());
        let ns: Namespace =
            serde_json::from_value(json!({ "metadata": { "name": name } })).unwrap();
        api.create(&PostParams::default(), &ns)
            .await
            .expect("create namespace");
        name
    }

    fn start_operator(&mut self, namespace: &str, tag: &str) -> Operator {
        self.operators_started += 1;
        let port = free_port();
        let stem = format!("{:02}-{tag}", self.operators_started);
        let log = self.logs.join(format!("{stem}.log"));
        let audit = self.logs.join(format!("{stem}.audit.jsonl"));
        let child = Command::new(env!("CARGO_BIN_EXE_interdict"))
            .args(["run", "--namespace", namespace])
            .args(["--metrics-addr", &format!("127.0.0.1:{port}")])
            .args(&self.s.operator_args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("RUST_LOG", "info,kube=warn")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(File::create(&audit).unwrap())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .expect("start interdict run");
        Operator {
            pid: child.id(),
            child: Some(child),
            port,
            spawned: Instant::now(),
            log,
            recent_pass: Mutex::new(0.0),
        }
    }

    async fn record_operator(&mut self, op: &Operator, label: &str) {
        if let Some(scrape) = op.scrape().await {
            self.raw(format!("operator metrics after {label}:"));
            for line in scrape.digest() {
                self.raw(format!("  {line}"));
            }
        }
        let (count, problems) = op.log_problems();
        if count > 0 {
            self.raw(format!(
                "operator log after {label}: {count} warning/error lines; first distinct:"
            ));
            for p in problems {
                self.raw(format!("  {p}"));
            }
        }
    }

    /// The API server's first object of a kind pays one-off costs (CEL
    /// compilation, caches): paid here, in a namespace of its own, not in a sample.
    async fn warm_up(&mut self) {
        let ns = self.namespace("warmup").await;
        let bans: Api<UserBan> = Api::namespaced(self.client.clone(), &ns);
        let cms: Api<ConfigMap> = Api::namespaced(self.client.clone(), &ns);
        for i in 0..3 {
            let t0 = Instant::now();
            let _ = create_one(&bans, &ban(&format!("warm-{i}"), i)).await;
            let ban_ms = millis(t0.elapsed());
            let t0 = Instant::now();
            let _ = create_one(&cms, &config_map(&format!("warm-{i}"), 16)).await;
            self.raw(format!(
                "warm-up {i}: UserBan create {}, ConfigMap create {}",
                fmt_ms(ban_ms),
                fmt_ms(millis(t0.elapsed()))
            ));
        }
    }

    /// Waits for `target` bans to be published, giving up early when the operator
    /// keeps failing its passes without a success.
    async fn wait_published(
        &mut self,
        obs: &Observer,
        op: &Operator,
        target: usize,
        timeout: Duration,
    ) -> Result<Instant, String> {
        obs.set_target(target);
        let start = Instant::now();
        let mut last_success: Option<(f64, Instant)> = None;
        loop {
            if let Some(at) = obs.wait(Duration::from_secs(5), |v| v.target_reached).await {
                return Ok(at);
            }
            let present = obs.with(|v| v.present);
            if start.elapsed() >= timeout {
                return Err(format!(
                    "{present}/{target} published after {}",
                    fmt_s(start.elapsed())
                ));
            }
            if op.exited() {
                return Err(format!("the operator exited; {present}/{target} published"));
            }
            if let Some(s) = op.scrape().await {
                let count = |result| {
                    s.value(
                        "interdict_reconciles_total",
                        &[("kind", "Blocklist"), ("result", result)],
                    )
                    .unwrap_or(0.0)
                };
                let (ok, errors) = (count("success"), count("error"));
                match last_success {
                    Some((seen, since)) if seen == ok => {
                        if errors >= 3.0 && since.elapsed() > Duration::from_secs(45) {
                            let (_, problems) = op.log_problems();
                            return Err(format!(
                                "{present}/{target} published; the operator's passes fail ({errors} errors, no success for {}): {}",
                                fmt_s(since.elapsed()),
                                problems.first().cloned().unwrap_or_default()
                            ));
                        }
                    }
                    _ => last_success = Some((ok, Instant::now())),
                }
            }
        }
    }

    /// Waits until `expected` statuses were written and the operator is idle;
    /// logs the progress (the status-write rate is the operator's throughput).
    async fn catch_up(
        &mut self,
        op: &Operator,
        expected: usize,
        timeout: Duration,
        label: &str,
    ) -> CatchUp {
        let start = Instant::now();
        let cpu_before = self.cpu_snapshot(op);
        let result = self.catch_up_inner(op, expected, timeout, label).await;
        self.cpu_report(label, op, &cpu_before, start.elapsed());
        result
    }

    /// CPU seconds used so far by the API server, etcd and the operator.
    fn cpu_snapshot(&self, op: &Operator) -> Vec<(&'static str, f64)> {
        self.cluster_pids
            .iter()
            .copied()
            .chain([("operator", op.pid)])
            .filter_map(|(name, pid)| Some((name, cpu_seconds(pid)?)))
            .collect()
    }

    fn cpu_report(
        &mut self,
        label: &str,
        op: &Operator,
        before: &[(&'static str, f64)],
        wall: Duration,
    ) {
        let now = self.cpu_snapshot(op);
        let parts: Vec<String> = before
            .iter()
            .filter_map(|(name, then)| {
                let now = now.iter().find(|(n, _)| n == name)?.1;
                Some(format!(
                    "{name} {:.1} s ({:.0} % of one core)",
                    now - then,
                    100.0 * (now - then) / wall.as_secs_f64()
                ))
            })
            .collect();
        if !parts.is_empty() {
            self.raw(format!(
                "{label}: CPU over {}: {}",
                fmt_s(wall),
                parts.join(", ")
            ));
        }
    }

    async fn catch_up_inner(
        &mut self,
        op: &Operator,
        expected: usize,
        timeout: Duration,
        label: &str,
    ) -> CatchUp {
        let start = Instant::now();
        let (mut printed_at, mut printed) = (Instant::now(), 0.0);
        let (mut stalled_since, mut stall_value) = (Instant::now(), -1.0);
        loop {
            let scrape = op.scrape().await;
            let s = scrape.as_ref().map_or(0.0, Scrape::status_writes);
            if s != stall_value {
                (stalled_since, stall_value) = (Instant::now(), s);
            }
            if printed_at.elapsed() >= Duration::from_secs(15) {
                let rate = (s - printed) / printed_at.elapsed().as_secs_f64();
                let passes = scrape.as_ref().map(|x| x.activity().passes).unwrap_or(0.0);
                let rss = op.memory().map(|m| m.rss).unwrap_or(0);
                self.raw(format!(
                    "{label}: t={:.0}s statuses written {s:.0}/{expected} ({rate:.0}/s over the last {:.0} s), passes done {passes:.0}, RSS {}",
                    start.elapsed().as_secs_f64(),
                    printed_at.elapsed().as_secs_f64(),
                    fmt_bytes(rss)
                ));
                (printed_at, printed) = (Instant::now(), s);
            }
            if s >= expected as f64 {
                let left = timeout
                    .saturating_sub(start.elapsed())
                    .max(Duration::from_secs(5));
                if op.settle(left).await {
                    let elapsed = start.elapsed();
                    let statuses = op.scrape().await.map_or(s, |x| x.status_writes());
                    return CatchUp {
                        done: true,
                        elapsed,
                        statuses,
                        why: String::new(),
                    };
                }
            }
            let stalled = stalled_since.elapsed() > Duration::from_secs(90);
            if start.elapsed() >= timeout || op.exited() || stalled {
                let why = if op.exited() {
                    "the operator exited".to_string()
                } else if stalled {
                    format!("no status written for 90 s ({s:.0}/{expected})")
                } else {
                    format!(
                        "{s:.0}/{expected} statuses after {}",
                        fmt_s(start.elapsed())
                    )
                };
                return CatchUp {
                    done: false,
                    elapsed: start.elapsed(),
                    statuses: s,
                    why,
                };
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Interleaved samples: a bare ConfigMap seen on the watch (floor), then a
    /// ban seen in the blocklist (alternating which comes first).
    async fn latency_series(
        &mut self,
        ns: &str,
        obs: &Observer,
        op: &Operator,
        label: &str,
    ) -> Series {
        let bans: Api<UserBan> = Api::namespaced(self.client.clone(), ns);
        let cms: Api<ConfigMap> = Api::namespaced(self.client.clone(), ns);
        let mut series = Series {
            bans: Vec::new(),
            creates: Vec::new(),
            floors: Vec::new(),
            timeouts: 0,
            unsettled: 0,
            passes: 0.0,
            pass_ms: 0.0,
        };
        op.settle(Duration::from_secs(60)).await;
        // An idle client's pooled connection may be gone: reconnecting (TLS) is
        // no part of either figure.
        let warm = format!("floor-{label}-warm");
        let _ = create_one(&cms, &config_map(&warm, 16)).await;
        obs.wait(Duration::from_secs(30), |v| v.others.get(&warm).copied())
            .await;
        let before = op.scrape().await.map(|s| s.activity());
        for i in 0..self.s.samples {
            if self.left() < Duration::from_secs(20) {
                self.note(format!(
                    "single-ban latency at {label}: budget exhausted after {i} samples"
                ));
                break;
            }
            for step in 0..2 {
                if (step == 0) == (i % 2 == 0) {
                    let name = format!("floor-{label}-{i:03}");
                    let t0 = Instant::now();
                    if let Err(e) = create_one(&cms, &config_map(&name, 16)).await {
                        panic!("cannot create ConfigMap {name}: {e}");
                    }
                    let seen = obs
                        .wait(Duration::from_secs(30), |v| v.others.get(&name).copied())
                        .await;
                    match seen {
                        Some(at) => series.floors.push(millis(at.saturating_duration_since(t0))),
                        None => series.timeouts += 1,
                    }
                } else {
                    let name = format!("lat-{label}-{i:03}");
                    let id = format!("UserBan/{name}");
                    let t0 = Instant::now();
                    if let Err(e) = create_one(&bans, &ban(&name, 900_000 + i)).await {
                        panic!("cannot create UserBan {name}: {e}");
                    }
                    series.creates.push(millis(t0.elapsed()));
                    let seen = obs
                        .wait(Duration::from_secs(60), |v| {
                            v.first_present.get(&id).copied()
                        })
                        .await;
                    match seen {
                        Some(at) => series.bans.push(millis(at.saturating_duration_since(t0))),
                        None => series.timeouts += 1,
                    }
                    if !op.settle(Duration::from_secs(60)).await {
                        series.unsettled += 1;
                    }
                }
            }
        }
        let after = op.scrape().await.map(|s| s.activity());
        if let (Some(before), Some(after)) = (before, after)
            && after.passes > before.passes
        {
            series.passes = after.passes - before.passes;
            series.pass_ms = 1e3 * (after.pass_seconds - before.pass_seconds) / series.passes;
        }
        series
    }

    fn report_latency(&mut self, size: usize, series: &Series, with_target: bool) {
        let label = size_label(size);
        self.raw(format!(
            "single-ban latency at {label}: ban samples (ms): {}",
            samples_line(&series.bans)
        ));
        self.raw(format!(
            "single-ban latency at {label}: of which the create call (ms): {}",
            samples_line(&series.creates)
        ));
        self.raw(format!(
            "single-ban latency at {label}: floor samples (ms): {}",
            samples_line(&series.floors)
        ));
        if series.passes > 0.0 {
            self.raw(format!(
                "single-ban latency at {label}: {:.0} namespace passes during the samples, mean {}",
                series.passes,
                fmt_ms(series.pass_ms)
            ));
            let cells = Cells::new(format!(
                "{} ({:.0} passes for {} bans)",
                fmt_ms(series.pass_ms),
                series.passes,
                series.creates.len()
            ));
            self.row("namespace pass, mean during the samples", &label, cells);
        }
        if series.timeouts > 0 || series.unsettled > 0 {
            self.note(format!(
                "single-ban latency at {label}: {} sample(s) timed out, {} time(s) the operator did not settle within 60 s",
                series.timeouts, series.unsettled
            ));
        }
        let target = if with_target {
            "p99 ≤ 3× floor p99"
        } else {
            ""
        };
        if series.bans.is_empty() || series.floors.is_empty() {
            let result = if with_target { "not measured" } else { "" };
            let cells = Cells::new(format!("no sample ({} timeouts)", series.timeouts))
                .target(target, result.into());
            self.row("single-ban latency p50 / p99", &label, cells);
            return;
        }
        let (p50, p99) = (pct(&series.bans, 0.5), pct(&series.bans, 0.99));
        let (f50, f99) = (pct(&series.floors, 0.5), pct(&series.floors, 0.99));
        let ratio = p99 / f99;
        let mut measured = format!("{} / {}", fmt_ms(p50), fmt_ms(p99));
        if series.timeouts > 0 {
            measured.push_str(&format!(" ({} timed out > 60 s)", series.timeouts));
        }
        let result = if with_target {
            verdict(ratio <= 3.0 && series.timeouts == 0) + &self.target_suffix
        } else {
            String::new()
        };
        let cells = Cells::new(measured)
            .floor(
                format!("{} / {}", fmt_ms(f50), fmt_ms(f99)),
                format!("{ratio:.1}×"),
            )
            .target(target, result);
        self.row(
            "single-ban latency p50 / p99",
            &format!("{label} ({} samples)", series.bans.len()),
            cells,
        );
    }

    /// Every blocklist ConfigMap of the namespace right now, and the largest seen
    /// on the watch during the phase.
    async fn report_sizes(&mut self, ns: &str, obs: &Observer, label: &str) {
        let cms: Api<ConfigMap> = Api::namespaced(self.client.clone(), ns);
        let listed: Vec<(String, usize)> = match cms.list(&ListParams::default()).await {
            Ok(list) => list
                .items
                .iter()
                .filter(|cm| is_blocklist(&cm.name_any()))
                .map(|cm| (cm.name_any(), data_bytes(cm)))
                .collect(),
            Err(e) => {
                self.note(format!("cannot list ConfigMaps of {ns}: {e}"));
                Vec::new()
            }
        };
        let (max_seen, max_name, parse_errors, last_error) = obs.with(|v| {
            (
                v.max_bytes,
                v.max_bytes_name.clone(),
                v.parse_errors,
                v.last_parse_error.clone(),
            )
        });
        let largest_now = listed.iter().map(|(_, b)| *b).max().unwrap_or(0);
        let total: usize = listed.iter().map(|(_, b)| *b).sum();
        self.raw(format!(
            "blocklist ConfigMaps at {label}: {} now, {} in total, largest now {}, largest seen on any event {} ({max_name})",
            listed.len(),
            fmt_bytes(total),
            fmt_bytes(largest_now),
            fmt_bytes(max_seen)
        ));
        let sizes: Vec<String> = listed.iter().map(|(n, b)| format!("{n}={b}")).collect();
        self.raw(format!(
            "blocklist ConfigMap sizes at {label} (bytes): {}",
            sizes.join(" ")
        ));
        if parse_errors > 0 {
            self.note(format!(
                "{parse_errors} blocklist document(s) did not parse at {label}; last: {}",
                last_error.unwrap_or_default()
            ));
        }
        let largest = max_seen.max(largest_now);
        let cells = if listed.is_empty() && max_seen == 0 {
            Cells::new("no blocklist".into()).target("≤ 900 KiB", "not measured".into())
        } else {
            Cells::new(format!(
                "{} ({} ConfigMap(s) now, {} in all)",
                fmt_bytes(largest),
                listed.len(),
                fmt_bytes(total)
            ))
            .target("≤ 900 KiB", verdict(largest <= SIZE_TARGET))
        };
        self.row("largest blocklist ConfigMap", label, cells);
    }

    /// Changes one ban's message and counts the ConfigMaps rewritten for it.
    async fn write_amplification(
        &mut self,
        ns: &str,
        obs: &Observer,
        op: &Operator,
        ban_name: &str,
        size: usize,
        with_target: bool,
    ) {
        let label = size_label(size);
        let figure = "write amplification (one message change)";
        let target = if with_target {
            "≤ 1 ConfigMap rewritten"
        } else {
            ""
        };
        op.settle(Duration::from_secs(60)).await;
        let token = format!("Changed by the bench, run {} size {label}.", self.run);
        let before = obs.with(|v| {
            v.needle = Some(token.clone());
            v.needle_seen = None;
            v.versions()
        });
        let bans: Api<UserBan> = Api::namespaced(self.client.clone(), ns);
        let t0 = Instant::now();
        let patch = Patch::Merge(json!({ "spec": { "message": token } }));
        if let Err(e) = bans.patch(ban_name, &PatchParams::default(), &patch).await {
            self.note(format!("cannot patch {ban_name}: {e}"));
            return;
        }
        let Some(seen) = obs.wait(Duration::from_secs(60), |v| v.needle_seen).await else {
            let result = if with_target { "not measured" } else { "" };
            let cells =
                Cells::new("change not published within 60 s".into()).target(target, result.into());
            self.row(figure, &label, cells);
            return;
        };
        op.settle(Duration::from_secs(60)).await;
        let after = obs.with(|v| {
            v.needle = None;
            v.versions()
        });
        let changed: Vec<(&String, usize)> = after
            .iter()
            .filter(|(name, (rv, _))| before.get(*name).is_none_or(|(old, _)| old != rv))
            .map(|(name, (_, bytes))| (name, *bytes))
            .collect();
        let removed = before.keys().filter(|n| !after.contains_key(*n)).count();
        let bytes: usize = changed.iter().map(|(_, b)| b).sum();
        let total: usize = after.values().map(|(_, b)| b).sum();
        self.raw(format!(
            "write amplification at {label}: {} of {} ConfigMap(s) rewritten ({}), {removed} deleted, {bytes} bytes written of {total}; published after {}",
            changed.len(),
            after.len(),
            changed
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            fmt_ms(millis(seen.saturating_duration_since(t0)))
        ));
        let result = if with_target {
            verdict(changed.len() <= 1) + &self.target_suffix
        } else {
            String::new()
        };
        let cells = Cells::new(format!(
            "{} of {} ConfigMap(s), {} written",
            changed.len(),
            after.len(),
            fmt_bytes(bytes)
        ))
        .target(target, result);
        self.row(figure, &label, cells);
    }

    fn report_memory(
        &mut self,
        label: &str,
        op: &Operator,
        what: &str,
        with_target: bool,
        extra: &str,
    ) {
        let target = if with_target {
            "steady ≤ 150 MiB"
        } else {
            ""
        };
        match op.memory() {
            Some(m) => {
                self.raw(format!(
                    "operator memory at {label}{what}: VmRSS {} B, VmHWM {} B",
                    m.rss, m.hwm
                ));
                let result = if with_target {
                    verdict(m.rss as f64 <= 150.0 * MIB) + &self.target_suffix
                } else {
                    String::new()
                };
                let cells = Cells::new(format!(
                    "{:.0} MiB / {:.0} MiB{extra}",
                    m.rss as f64 / MIB,
                    m.hwm as f64 / MIB
                ))
                .target(target, result);
                self.row(
                    "operator RSS steady / peak",
                    &format!("{label}{what}"),
                    cells,
                );
            }
            None => self.note(format!("cannot read the operator's memory at {label}")),
        }
    }

    // ------------------------------------------------------------ phases

    async fn phase_empty(&mut self) {
        eprintln!("bench: == single-ban latency with 0 existing bans");
        let ns = self.namespace("empty").await;
        let obs = Observer::start(&self.client, &ns).await;
        let mut op = self.start_operator(&ns, "empty");
        match op.wait_ready(Duration::from_secs(60)).await {
            Some(ready) => self.raw(format!("0 bans: /readyz after {}", fmt_s(ready))),
            None => {
                self.note("the operator did not become ready in the empty namespace".into());
                return;
            }
        }
        let series = self.latency_series(&ns, &obs, &op, "0").await;
        self.report_latency(0, &series, false);
        self.report_memory("0", &op, "", false, "");
        self.report_sizes(&ns, &obs, "0").await;
        self.record_operator(&op, "the 0-ban phase").await;
        op.stop(Duration::from_secs(30));
    }

    async fn phase_medium(&mut self) -> Option<MediumOutcome> {
        let n = self.s.medium;
        let conc = self.s.concurrency;
        let label = size_label(n);
        eprintln!("bench: == bulk: {n} bans at concurrency {conc}, then the {label} figures");
        let ns = self.namespace("bulk").await;
        let floor_ns = self.namespace("bulk-floor").await;
        let obs = Observer::start(&self.client, &ns).await;
        let mut op = self.start_operator(&ns, "bulk");
        if op.wait_ready(Duration::from_secs(60)).await.is_none() {
            self.note("the operator did not become ready in the bulk namespace".into());
            return None;
        }
        op.settle(Duration::from_secs(30)).await;
        let cms: Api<ConfigMap> = Api::namespaced(self.client.clone(), &floor_ns);
        let floor_cms = |prefix: &'static str| {
            (0..n).map(move |i| config_map(&format!("{prefix}-{i:06}"), 200))
        };
        let floor1 = create_all(&cms, floor_cms("a"), n, conc, "floor ConfigMaps").await;
        self.raw(format!(
            "bulk floor (before): {n} ConfigMaps in {} ({:.0}/s), {} failed",
            fmt_s(floor1.elapsed),
            floor1.rate(n),
            floor1.failed
        ));

        let bans: Api<UserBan> = Api::namespaced(self.client.clone(), &ns);
        obs.set_target(n);
        let t0 = Instant::now();
        let objects = (0..n).map(|i| ban(&format!("bulk-{i:06}"), i));
        let created = create_all(&bans, objects, n, conc, "bulk bans").await;
        self.raw(format!(
            "bulk: {n} bans created in {} ({:.0}/s), {} failed",
            fmt_s(created.elapsed),
            created.rate(n),
            created.failed
        ));
        if let Some(e) = &created.first_error {
            self.note(format!(
                "bulk: {} create(s) failed; first: {e}",
                created.failed
            ));
        }
        let timeout = self
            .left()
            .saturating_sub(Duration::from_secs(60))
            .min(Duration::from_secs(600).max(created.elapsed * 10))
            .saturating_sub(t0.elapsed());
        let all_in = match self
            .wait_published(&obs, &op, n - created.failed, timeout)
            .await
        {
            Ok(at) => Some(at.saturating_duration_since(t0)),
            Err(why) => {
                self.note(format!("bulk: not every ban reached the blocklist: {why}"));
                None
            }
        };
        let hwm_bulk = op.memory().map(|m| m.hwm);
        let mut caught_up = None;
        if all_in.is_some() {
            let left = self.left().saturating_sub(Duration::from_secs(90));
            let catch = self
                .catch_up(&op, n - created.failed, left, "bulk catch-up")
                .await;
            if catch.done {
                caught_up = Some(t0.elapsed());
                self.raw(format!(
                    "bulk: statuses written and operator idle {} after the first create ({:.0} status writes)",
                    fmt_s(t0.elapsed()),
                    catch.statuses
                ));
            } else {
                self.note(format!(
                    "bulk: the operator did not catch up: {}",
                    catch.why
                ));
            }
        }
        let floor2 = create_all(&cms, floor_cms("b"), n, conc, "floor ConfigMaps").await;
        self.raw(format!(
            "bulk floor (after): {n} ConfigMaps in {} ({:.0}/s), {} failed",
            fmt_s(floor2.elapsed),
            floor2.rate(n),
            floor2.failed
        ));
        // The issue's other floor: the bans themselves, created where no
        // operator watches. A UserBan create costs the API server more than a
        // ConfigMap (JSON, schema and CEL validation), so this is the bound.
        let floor_bans: Api<UserBan> = Api::namespaced(self.client.clone(), &floor_ns);
        let objects = (0..n).map(|i| ban(&format!("floor-{i:06}"), i));
        let floor_ban = create_all(&floor_bans, objects, n, conc, "floor bans").await;
        self.raw(format!(
            "bulk floor (bans, no operator watching): {n} UserBans in {} ({:.0}/s), {} failed",
            fmt_s(floor_ban.elapsed),
            floor_ban.rate(n),
            floor_ban.failed
        ));
        let floor = (floor1.elapsed + floor2.elapsed) / 2;
        let floor_text = format!(
            "UserBans alone {}; ConfigMaps {} ({} before, {} after)",
            fmt_s(floor_ban.elapsed),
            fmt_s(floor),
            fmt_s(floor1.elapsed),
            fmt_s(floor2.elapsed)
        );
        let cells = match all_in {
            Some(all) => {
                let ratio = all.as_secs_f64() / floor_ban.elapsed.as_secs_f64();
                let cm_ratio = all.as_secs_f64() / floor.as_secs_f64();
                self.raw(format!(
                    "bulk: all {n} bans published {} after the first create",
                    fmt_s(all)
                ));
                Cells::new(format!(
                    "{} (created in {})",
                    fmt_s(all),
                    fmt_s(created.elapsed)
                ))
                .floor(
                    floor_text,
                    format!("{ratio:.2}× the UserBans ({cm_ratio:.2}× the ConfigMaps)"),
                )
                .target("≤ 1.5× floor", verdict(ratio <= 1.5))
            }
            None => Cells::new("not reached (see notes)".into())
                .floor(floor_text, String::new())
                .target("≤ 1.5× floor", "FAIL".into()),
        };
        self.row("bulk: all bans published", &label, cells);
        if let Some(hwm) = hwm_bulk {
            self.raw(format!(
                "operator VmHWM right after the bulk burst: {hwm} B"
            ));
        }
        if caught_up.is_some() {
            let caught_rss = rss_note(&op);
            let series = self.latency_series(&ns, &obs, &op, &label).await;
            self.report_latency(n, &series, false);
            self.report_memory(&label, &op, "", false, &caught_rss);
            self.write_amplification(&ns, &obs, &op, "bulk-000001", n, false)
                .await;
        } else {
            self.report_memory(&label, &op, " (not caught up)", false, "");
        }
        self.report_sizes(&ns, &obs, &label).await;
        self.record_operator(&op, "the bulk phase").await;
        let (took, graceful) = op.stop(Duration::from_secs(30));
        if !graceful {
            self.note(format!(
                "bulk: the operator did not stop within {} of SIGTERM; killed",
                fmt_s(took)
            ));
        }
        Some(MediumOutcome { created })
    }

    async fn phase_expiry(&mut self) {
        let n = self.s.expiry;
        let ahead = self.s.expiry_ahead;
        let label = size_label(n);
        let figure = "expiry lag p50 / p99";
        eprintln!("bench: == expiry: {n} bans expiring in the same second, ~{ahead} s ahead");
        if self.left() < Duration::from_secs(ahead + 60) {
            self.note("expiry: skipped, not enough budget left".into());
            let cells =
                Cells::new("skipped (budget)".into()).target("p99 ≤ 1 s", "not measured".into());
            self.row(figure, &label, cells);
            return;
        }
        let ns = self.namespace("expiry").await;
        let obs = Observer::start(&self.client, &ns).await;
        let mut op = self.start_operator(&ns, "expiry");
        if op.wait_ready(Duration::from_secs(60)).await.is_none() {
            self.note("the operator did not become ready in the expiry namespace".into());
            return;
        }
        let until = DateTime::from_timestamp(Utc::now().timestamp() + ahead as i64 + 1, 0).unwrap();
        let seconds_to =
            |until: DateTime<Utc>| (until - Utc::now()).num_milliseconds() as f64 / 1e3;
        let bans: Api<UserBan> = Api::namespaced(self.client.clone(), &ns);
        let objects = (0..n).map(|i| expiring_ban(&format!("exp-{i:05}"), i, until));
        let created = create_all(&bans, objects, n, self.s.concurrency, "expiring bans").await;
        self.raw(format!(
            "expiry: {n} bans (expiresAt {until}) created in {}, {} failed; {:.1} s before expiry",
            fmt_s(created.elapsed),
            created.failed,
            seconds_to(until)
        ));
        let expected = n - created.failed;
        let before = Duration::from_secs_f64(seconds_to(until).max(0.0));
        let published = self.wait_published(&obs, &op, expected, before).await;
        let left = Duration::from_secs_f64((seconds_to(until) - 2.0).max(1.0));
        let caught = self.catch_up(&op, expected, left, "expiry catch-up").await;
        let margin = seconds_to(until);
        match &published {
            Ok(_) => self.raw(format!(
                "expiry: all published, statuses {}; {margin:.1} s left before expiry",
                if caught.done {
                    "written and operator idle"
                } else {
                    "NOT all written"
                }
            )),
            Err(why) => self.note(format!(
                "expiry: not all bans were published before they expire: {why}"
            )),
        }
        if published.is_err() || !caught.done || margin < 1.0 {
            self.note("expiry: the operator had not finished with the new bans before expiresAt; the lag includes that".into());
        }
        let deadline = Duration::from_secs_f64(margin.max(0.0)) + Duration::from_secs(60);
        let all_gone = obs
            .wait(deadline, |v| (v.present == 0).then_some(()))
            .await
            .is_some();
        let (mut lags, missing): (Vec<f64>, usize) = obs.with(|v| {
            let mut lags = Vec::new();
            let mut missing = 0;
            for i in 0..n {
                match v.removed_at.get(&format!("UserBan/exp-{i:05}")) {
                    Some(at) => {
                        lags.push((*at - until).num_microseconds().unwrap_or(0) as f64 / 1e3)
                    }
                    None => missing += 1,
                }
            }
            (lags, missing)
        });
        lags.sort_by(f64::total_cmp);
        self.raw(format!(
            "expiry lag samples (ms, removal seen on the watch − expiresAt), {} entries, sorted: {}",
            lags.len(),
            samples_line(&lags)
        ));
        // The operator records the Expired transitions (status, Event) after the
        // blocklist write; let it finish so its own lag histogram is complete.
        op.settle(Duration::from_secs(60)).await;
        if let Some(s) = op.scrape().await {
            let sum = s
                .value("interdict_expiry_lag_seconds_sum", &[])
                .unwrap_or(0.0);
            let count = s
                .value("interdict_expiry_lag_seconds_count", &[])
                .unwrap_or(0.0);
            if count > 0.0 {
                self.raw(format!(
                    "expiry: the operator's own interdict_expiry_lag_seconds (status transitions, after the blocklist write): {count:.0} transitions, mean {:.3} s",
                    sum / count
                ));
            }
        }
        if !all_gone || missing > 0 {
            self.note(format!(
                "expiry: {missing} of {n} entries still published 60 s after expiresAt"
            ));
        }
        let cells = if lags.is_empty() {
            Cells::new("no entry left the blocklist".into()).target("p99 ≤ 1 s", "FAIL".into())
        } else {
            let (p50, p99, max) = (pct(&lags, 0.5), pct(&lags, 0.99), pct(&lags, 1.0));
            let mut measured = format!("{} / {} (max {})", fmt_ms(p50), fmt_ms(p99), fmt_ms(max));
            if missing > 0 {
                measured.push_str(&format!(", {missing} never left"));
            }
            Cells::new(measured)
                .floor("—".into(), String::new())
                .target("p99 ≤ 1 s", verdict(p99 <= 1000.0 && missing == 0))
        };
        self.row(figure, &label, cells);
        self.report_sizes(&ns, &obs, &format!("{label} (expiry)"))
            .await;
        self.record_operator(&op, "the expiry phase").await;
        op.stop(Duration::from_secs(30));
    }

    /// Seconds the latency series and write amplification take at `n` bans
    /// (every sample is two passes over every ban).
    fn latency_reserve(&self, n: usize) -> f64 {
        self.s.samples as f64 * (1.0 + 6.0 * n as f64 / 100_000.0) + 30.0
    }

    /// The large namespace: filled with the operator stopped, first start, the
    /// cold status-write rate measured; when the rest of its catch-up fits the
    /// budget, every figure there, else the start-up figures there and the
    /// caught-up figures in a namespace sized from the measured rate.
    async fn phase_large(&mut self, medium: Option<&MediumOutcome>) {
        let n = self.s.large;
        let label = size_label(n);
        eprintln!("bench: == large: {n} bans created with the operator stopped, then started");
        let create_per_ban = medium.map_or(0.002, |m| {
            m.created.elapsed.as_secs_f64() / self.s.medium.max(1) as f64
        });
        if self.left().as_secs_f64()
            < 1.3 * n as f64 * create_per_ban + self.latency_reserve(n) + 30.0
        {
            self.note(format!("large ({label}): skipped, the budget is spent"));
            return;
        }
        self.large_used = Some(n);
        let ns = self.namespace("large").await;
        let obs = Observer::start(&self.client, &ns).await;
        let (created, mut op) = self.fill_and_start(&ns, &obs, n, "large").await;
        let Some(created) = created else {
            op.stop(Duration::from_secs(15));
            return;
        };
        let mut expected = created;

        // The cold pass's status-write rate, after its first burst.
        let first = self
            .catch_up(&op, expected, Duration::from_secs(25), "large statuses")
            .await;
        let mut caught = first.done;
        let mut rate = 0.0;
        if !caught {
            let second = self
                .catch_up(&op, expected, Duration::from_secs(20), "large statuses")
                .await;
            caught = second.done;
            rate = (second.statuses - first.statuses) / second.elapsed.as_secs_f64();
            self.raw(format!(
                "large: cold pass writes {rate:.0} statuses/s ({:.0}/{expected} written {} after the start)",
                second.statuses,
                fmt_s(op.spawned.elapsed())
            ));
        }
        let restart_reserve = 60.0 + 0.0003 * n as f64;
        if !caught && rate > 0.0 {
            let remaining = (expected as f64 - first.statuses.max(0.0)) / rate * 1.2;
            let available =
                self.left().as_secs_f64() - self.latency_reserve(n) - restart_reserve - 20.0;
            self.raw(format!(
                "large: the rest of the catch-up would take ~{remaining:.0} s; {available:.0} s available for it"
            ));
            // INTERDICT_BENCH_ADAPT=0: wait at this size for as long as the budget allows.
            if remaining <= available || !self.s.adapt {
                let timeout = Duration::from_secs_f64(available.max(10.0));
                caught = self
                    .catch_up(&op, expected, timeout, "large catch-up")
                    .await
                    .done;
            }
        }
        if caught {
            self.raw(format!(
                "large: caught up {} after the start",
                fmt_s(op.spawned.elapsed())
            ));
            self.caught_up_figures(&ns, &obs, &op, n, &mut expected)
                .await;
        } else {
            self.target_suffix = " (statuses still being written)".into();
            self.report_memory(&label, &op, ", not caught up", true, "");
            self.target_suffix.clear();
        }
        self.report_sizes(&ns, &obs, &label).await;
        self.record_operator(&op, "the large phase").await;
        let (took, graceful) = op.stop(Duration::from_secs(if caught { 60 } else { 15 }));
        self.raw(format!(
            "large: SIGTERM to exit {}{}",
            fmt_s(took),
            if graceful {
                ""
            } else {
                " (still in its pass; killed)"
            }
        ));
        self.restart_figure(&ns, &obs, n, expected, caught).await;
        if caught || !self.s.adapt {
            return;
        }

        // The caught-up figures at the largest size the measured rate allows.
        let per_ban = create_per_ban + 1.3 / rate.max(1.0);
        let step = if n >= 20_000 { 5_000 } else { 100 };
        let fits =
            |m: usize, left: f64| m as f64 * per_ban + self.latency_reserve(m) + 30.0 <= left;
        let left = self.left().as_secs_f64();
        let mut size = n - step;
        while size > step && !fits(size, left) {
            size -= step;
        }
        if size <= self.s.medium || !fits(size, left) {
            self.note(format!(
                "the operator did not catch up with {label} bans within the budget ({rate:.0} statuses/s), and no larger size than {} fits what is left: latency, steady memory and write amplification measured at {} only",
                size_label(self.s.medium),
                size_label(self.s.medium)
            ));
            return;
        }
        self.note(format!(
            "the operator did not catch up with {label} bans within the budget (cold pass {rate:.0} statuses/s): latency, steady memory and write amplification measured at {} bans, the largest size whose catch-up fits",
            size_label(size)
        ));
        self.target_suffix = format!(" at {}", size_label(size));
        self.caught_up_namespace(size).await;
        self.target_suffix.clear();
    }

    /// Creates `n` bans with no operator running, starts one: the first-start
    /// figures. Returns how many bans exist, and the running operator.
    async fn fill_and_start(
        &mut self,
        ns: &str,
        obs: &Observer,
        n: usize,
        tag: &str,
    ) -> (Option<usize>, Operator) {
        let label = size_label(n);
        let bans: Api<UserBan> = Api::namespaced(self.client.clone(), ns);
        let objects = (0..n).map(|i| ban(&format!("big-{i:06}"), i));
        let created = create_all(&bans, objects, n, self.s.concurrency, "bans").await;
        self.raw(format!(
            "{tag}: {n} bans created (operator stopped) in {} ({:.0}/s), {} failed",
            fmt_s(created.elapsed),
            created.rate(n),
            created.failed
        ));
        if let Some(e) = &created.first_error {
            self.note(format!(
                "{tag}: {} create(s) failed; first: {e}",
                created.failed
            ));
        }
        let expected = n - created.failed;
        let op = self.start_operator(ns, &format!("{tag}-first"));
        let ready = op.wait_ready(Duration::from_secs(300)).await;
        let timeout = self.left().saturating_sub(Duration::from_secs(30));
        let published = self
            .wait_published(obs, &op, expected, timeout)
            .await
            .map(|at| at.saturating_duration_since(op.spawned));
        let memory = op.memory();
        let first = format!(
            "/readyz {}, all published {}",
            ready.map_or("never".into(), fmt_s),
            published
                .as_ref()
                .map_or_else(|e| format!("not reached ({e})"), |d| fmt_s(*d)),
        );
        self.raw(format!("{tag}: first start with {n} bans: {first}"));
        if let Some(m) = memory {
            self.raw(format!(
                "{tag}: memory when every ban was published: VmRSS {} B, VmHWM {} B",
                m.rss, m.hwm
            ));
        }
        self.row(
            "start-up, first start (no blocklist, no statuses)",
            &label,
            Cells::new(first),
        );
        match published {
            Ok(_) => (Some(expected), op),
            Err(why) => {
                self.note(format!(
                    "{tag}: not every ban was published after the first start: {why}"
                ));
                (None, op)
            }
        }
    }

    /// Latency, steady memory and write amplification with a caught-up operator.
    async fn caught_up_figures(
        &mut self,
        ns: &str,
        obs: &Observer,
        op: &Operator,
        n: usize,
        expected: &mut usize,
    ) {
        let label = size_label(n);
        let caught_rss = rss_note(op);
        let series = self.latency_series(ns, obs, op, &label).await;
        *expected += series.creates.len();
        self.report_latency(n, &series, true);
        op.settle(Duration::from_secs(60)).await;
        self.report_memory(&label, op, "", true, &caught_rss);
        self.write_amplification(ns, obs, op, "big-000001", n, true)
            .await;
    }

    /// A namespace of `n` bans whose operator is given the time to catch up.
    async fn caught_up_namespace(&mut self, n: usize) {
        let label = size_label(n);
        eprintln!("bench: == caught up: {n} bans, first start, catch-up, then the figures");
        let ns = self.namespace("caught-up").await;
        let obs = Observer::start(&self.client, &ns).await;
        let (created, mut op) = self.fill_and_start(&ns, &obs, n, "caught-up").await;
        if let Some(mut expected) = created {
            let timeout = self
                .left()
                .saturating_sub(Duration::from_secs_f64(self.latency_reserve(n) + 10.0));
            let catch = self
                .catch_up(&op, expected, timeout, "caught-up catch-up")
                .await;
            if catch.done {
                self.raw(format!(
                    "caught-up: caught up {} after the start",
                    fmt_s(op.spawned.elapsed())
                ));
                self.caught_up_figures(&ns, &obs, &op, n, &mut expected)
                    .await;
            } else {
                self.note(format!(
                    "caught-up ({label}): the operator had not caught up ({}); latency and write amplification not measured",
                    catch.why
                ));
                self.report_memory(&label, &op, " (not caught up)", true, "");
            }
            self.report_sizes(&ns, &obs, &label).await;
        }
        self.record_operator(&op, "the caught-up phase").await;
        op.stop(Duration::from_secs(15));
    }

    /// Restart with every ban present; the blocklists are deleted while the
    /// operator is down, so the figure is the rebuild, not a no-op.
    async fn restart_figure(
        &mut self,
        ns: &str,
        obs: &Observer,
        n: usize,
        expected: usize,
        caught: bool,
    ) {
        let label = size_label(n);
        if self.left() < Duration::from_secs(45) {
            self.note("large: restart skipped (budget)".into());
            return;
        }
        let cms: Api<ConfigMap> = Api::namespaced(self.client.clone(), ns);
        let names: Vec<String> = obs.with(|v| v.shards.keys().cloned().collect());
        for name in &names {
            let _ = cms.delete(name, &DeleteParams::default()).await;
        }
        obs.wait(Duration::from_secs(60), |v| {
            v.shards.is_empty().then_some(())
        })
        .await;
        obs.clear_target();
        let expected = obs.with(|v| v.first_present.len()).max(expected);
        let mut op = self.start_operator(ns, "large-restart");
        let ready = op.wait_ready(Duration::from_secs(300)).await;
        let timeout = self.left().saturating_sub(Duration::from_secs(10));
        let published = self
            .wait_published(obs, &op, expected, timeout)
            .await
            .map(|at| at.saturating_duration_since(op.spawned));
        let hwm = op.memory().map(|m| m.hwm);
        let restart = format!(
            "/readyz {}, all published {}",
            ready.map_or("never".into(), fmt_s),
            published
                .as_ref()
                .map_or_else(|e| format!("not reached ({e})"), |d| fmt_s(*d)),
        );
        let statuses = if caught {
            "with their statuses"
        } else {
            "statuses partly written"
        };
        self.raw(format!(
            "large: restart with {expected} bans ({statuses}), blocklists deleted: {restart}"
        ));
        self.row(
            &format!("start-up, restart ({statuses}, blocklists deleted)"),
            &label,
            Cells::new(restart),
        );
        if let Some(hwm) = hwm {
            let cells = Cells::new(format!("{:.0} MiB", hwm as f64 / MIB));
            self.row(
                "operator RSS peak, restart until all published",
                &label,
                cells,
            );
        }
        self.report_sizes(ns, obs, &format!("{label} (restart)"))
            .await;
        self.record_operator(&op, "the restart").await;
        op.stop(Duration::from_secs(15));
    }

    // ------------------------------------------------------------ output

    fn table(&self) -> String {
        let headers = [
            "figure",
            "size",
            "measured",
            "floor (same run)",
            "ratio",
            "target",
            "result",
        ];
        let cells: Vec<[&str; 7]> = self
            .rows
            .iter()
            .map(|r| {
                [
                    r.figure.as_str(),
                    &r.size,
                    &r.measured,
                    &r.floor,
                    &r.ratio,
                    &r.target,
                    &r.result,
                ]
            })
            .collect();
        let mut widths = headers.map(|h| h.chars().count());
        for row in &cells {
            for (i, c) in row.iter().enumerate() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
        let line = |cols: [&str; 7]| {
            cols.iter()
                .enumerate()
                .map(|(i, c)| format!("{c}{}", " ".repeat(widths[i] - c.chars().count())))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_string()
        };
        let mut out = line(headers) + "\n";
        for row in cells {
            out += &line(row);
            out.push('\n');
        }
        out
    }

    fn markdown(&self, elapsed: Duration) -> String {
        let s = &self.s;
        let large = match self.large_used {
            Some(n) if n == s.large => size_label(n),
            Some(n) => format!(
                "{} (reduced from {} to fit the time budget)",
                size_label(n),
                size_label(s.large)
            ),
            None => format!("{} (not measured)", size_label(s.large)),
        };
        let flags = if s.operator_args.is_empty() {
            String::new()
        } else {
            format!(" {}", s.operator_args.join(" "))
        };
        let mut md = String::new();
        let _ = writeln!(md, "## Operator at scale\n");
        let _ = writeln!(
            md,
            "From `cargo bench --bench operator` (the last step of `make bench`), {}, scale `{}`: \
             sizes 0 / {} / {large} bans, {} latency samples per size, {} creates in flight; \
             the whole run took {}. Figures, not assertions: re-run `make bench` on your machine \
             (`INTERDICT_BENCH_SCALE=quick make bench` for a two-minute smoke run; sizes and budget \
             are set by the `INTERDICT_BENCH_*` variables listed at the top of `benches/operator.rs`).\n",
            Utc::now().format("%Y-%m-%d %H:%M UTC"),
            s.scale,
            size_label(s.medium),
            s.samples,
            s.concurrency,
            fmt_s(elapsed)
        );
        let _ = writeln!(
            md,
            "- Machine: {}; load average {} at the start, {} at the end (other work shared the machine).",
            self.machine,
            self.load_start,
            load_average()
        );
        let _ = writeln!(md, "- Versions: {}.", self.versions.join(", "));
        let _ = writeln!(
            md,
            "- Operator: `interdict run --namespace <ns> --metrics-addr 127.0.0.1:<port>{flags}` ({}); \
             every other flag at its default (notably `--debounce-ms 50`).\n",
            s.operator_args_note
        );
        let _ = writeln!(md, "### Method\n");
        for line in METHOD {
            let _ = writeln!(md, "- {line}");
        }
        let _ = writeln!(md, "\n### Results\n");
        let _ = writeln!(
            md,
            "| figure | size | measured | floor (same run) | ratio | target | result |"
        );
        let _ = writeln!(md, "| --- | --- | --- | --- | --- | --- | --- |");
        for r in &self.rows {
            let result = if r.result == "FAIL" {
                "**FAIL**".to_string()
            } else {
                r.result.clone()
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} |",
                r.figure, r.size, r.measured, r.floor, r.ratio, r.target, result
            );
        }
        if !self.notes.is_empty() {
            let _ = writeln!(md, "\nWhat was not measured as planned, and why:\n");
            for n in &self.notes {
                let _ = writeln!(md, "- {n}");
            }
        }
        let _ = writeln!(md, "\n### Raw numbers\n\n```text");
        for line in &self.raw {
            let _ = writeln!(md, "{line}");
        }
        let _ = writeln!(md, "```");
        md
    }

    fn write_docs(&self, section: &str) -> std::io::Result<PathBuf> {
        let path = self.root.join("docs/performance.md");
        let text = std::fs::read_to_string(&path)?;
        std::fs::write(
            &path,
            replace_section(&text, "## Operator at scale", section),
        )?;
        Ok(path)
    }
}

const METHOD: &[&str] = &[
    "Control plane: etcd (`--unsafe-no-fsync`) and kube-apiserver from `hack/dev-cluster.sh` on loopback (no kubelet, no controller-manager), CRDs from `crds/`. The API server, etcd, the operator and the bench client share the same cores. Before any sample, one UserBan and one ConfigMap are created in a namespace of their own (the API server's first object of a kind pays one-off costs).",
    "Operator: the release binary as a process (`interdict run`), one process per phase watching only that phase's namespace; `/metrics` and `/readyz` read over HTTP.",
    "Objects are created with the kube client (`Api::create`), 16 requests in flight. Bans are UserBans with a mix of subjects (60 % user ids, 10 % each usernames, emails, IPv4 /24 ranges, key fingerprints), a quarter with `duration: 30d`, all with a message.",
    "Observation: one watch on the namespace's ConfigMaps. Every ConfigMap named `interdict-blocklist` or `interdict-blocklist-*` is read, every `blocklist*.json` key parsed with `BlocklistDocument::parse`. A ban counts as published at the receipt of the first watch event in which its id `UserBan/<name>` is among the entries; parsing time is not counted.",
    "Single-ban latency: create one ban → published. Floor: create a bare ConfigMap in the same namespace → seen on the same watch. Floor and ban samples alternate (and which goes first alternates); after each ban the bench waits until the operator is idle (no pass, status write or transition for twice the recent pass duration, at least 300 ms, read from `/metrics`), so every sample is one isolated change (a change after a quiet spell is not held back by the debounce). p99 is nearest-rank: with 30 samples it is the maximum.",
    "Bulk: N bans created into an empty namespace whose operator is running and idle; time from the first create to the first watch event in which all N are published. Floors, in another namespace at the same concurrency: N small ConfigMaps (200-byte value), once before and once after (when the operator had caught up), and then the N bans themselves with no operator watching. The target's ratio is against the bans (the issue allows either floor: a UserBan create costs the API server more than a ConfigMap, so the bans are the physical bound); the ratio against the ConfigMaps' mean is printed beside it.",
    "Expiry lag: Suspend bans with the same `expiresAt`, a whole second ahead, created, published and their statuses written before that second. Lag = receipt of the watch event in which the entry is gone from the entries − `expiresAt`, per entry.",
    "Memory: `VmRSS` (steady: caught up and idle) and `VmHWM` (peak since the process started) from `/proc/<pid>/status`.",
    "Write amplification: with the operator idle, one ban's `spec.message` is patched; counted are the ConfigMaps whose `resourceVersion` changed between before the patch and when the operator is idle again, and the sum of their data sizes.",
    "Start-up and the large size: the large namespace is filled with the operator stopped, then the operator starts (no blocklist, no statuses): time to `/readyz` 200 and to every ban published; then the status-write rate of that first pass is read from `/metrics` (20 s, after a 25 s burst). When the rest of the catch-up fits the time budget, every figure is measured at the large size; otherwise the figures that need a caught-up operator come from a second namespace as large as the measured rate allows (the notes say so). Restart: SIGTERM (killed after 15 s when a pass is still running), the blocklist ConfigMaps deleted while it is down, start again: `/readyz`, every ban published again.",
    "CPU: user + system seconds of kube-apiserver, etcd and the operator over each catch-up, from `/proc/<pid>/stat`.",
    "ConfigMap size: key + value bytes of the data (what the API server's 1 MiB limit counts); the largest blocklist ConfigMap seen on any watch event of the phase, and every blocklist ConfigMap listed at its end.",
];

/// Replaces the `heading` section (up to the next `## ` heading) or appends it.
/// Subsections of the old section that the bench does not write (someone's
/// analysis of the figures) are kept, just before `### Raw numbers`.
fn replace_section(text: &str, heading: &str, section: &str) -> String {
    const GENERATED: [&str; 3] = ["### Method", "### Results", "### Raw numbers"];
    let lines: Vec<&str> = text.lines().collect();
    let Some(start) = lines.iter().position(|l| l.trim_end() == heading) else {
        return format!("{}\n\n{}\n", text.trim_end(), section.trim_end());
    };
    let end = lines[start + 1..]
        .iter()
        .position(|l| l.starts_with("## "))
        .map_or(lines.len(), |i| start + 1 + i);
    let mut kept: Vec<&str> = Vec::new();
    let mut keeping = false;
    let mut fenced = false;
    for line in &lines[start + 1..end] {
        if line.starts_with("```") {
            fenced = !fenced;
        }
        if !fenced && line.starts_with("### ") {
            keeping = !GENERATED.contains(&line.trim_end());
        }
        if keeping {
            kept.push(line);
        }
    }
    let mut new_section = section.trim_end().to_string();
    if !kept.is_empty() {
        let block = format!("{}\n\n", kept.join("\n").trim_end());
        match new_section.find("\n### Raw numbers") {
            Some(at) => new_section.insert_str(at + 1, &block),
            None => new_section = format!("{new_section}\n\n{}", block.trim_end()),
        }
    }
    let mut out: Vec<String> = lines[..start].iter().map(|l| l.to_string()).collect();
    out.push(new_section);
    if end < lines.len() {
        out.push(String::new());
        out.extend(lines[end..].iter().map(|l| l.to_string()));
    }
    out.join("\n") + "\n"
}

// ---------------------------------------------------------------- machine

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            let line = m.lines().find(|l| l.starts_with("MemTotal:"))?;
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map(|kb| format!("{:.0} GiB", kb / 1024.0 / 1024.0))
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cores} vCPU {model}, {memory}, Linux {}", kernel.trim())
}

fn first_line(program: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    text.lines().next().map(|l| l.trim().to_string())
}

// ---------------------------------------------------------------- cluster

fn start_cluster(root: &Path, dir: &Path) -> PathBuf {
    let output = Command::new(root.join("hack/dev-cluster.sh"))
        .args(["up", "--dir"])
        .arg(dir)
        .arg("--owner-pid")
        .arg(std::process::id().to_string())
        .stderr(Stdio::inherit())
        .output()
        .expect("run hack/dev-cluster.sh");
    assert!(
        output.status.success(),
        "hack/dev-cluster.sh up failed; see its messages above"
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .last()
        .expect("dev-cluster.sh prints the kubeconfig path")
        .trim()
        .into()
}

fn control_plane_bin(root: &Path) -> PathBuf {
    let output = Command::new(root.join("hack/control-plane-bin.sh"))
        .stderr(Stdio::inherit())
        .output()
        .expect("run hack/control-plane-bin.sh");
    assert!(output.status.success(), "hack/control-plane-bin.sh failed");
    PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
}

fn kubectl_ok(kubectl: &Path, kubeconfig: &Path, args: &[&str]) {
    let output = Command::new(kubectl)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .expect("run kubectl");
    assert!(
        output.status.success(),
        "kubectl {args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

async fn client(kubeconfig: &Path) -> Client {
    let kubeconfig = Kubeconfig::read_from(kubeconfig).expect("read kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig");
    Client::try_from(config).expect("client")
}

fn versions(root: &Path, bin: &Path) -> Vec<String> {
    let root = root.to_str().unwrap();
    let commit = first_line(
        Path::new("git"),
        &["-C", root, "rev-parse", "--short", "HEAD"],
    )
    .map_or("no git".into(), |c| format!("git {c}"));
    let dirty: Vec<String> = Command::new("git")
        .args(["-C", root, "status", "--porcelain", "src", "Cargo.toml"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(|l| l.get(3..).unwrap_or(l).to_string())
                .collect()
        })
        .unwrap_or_default();
    let mut versions = vec![format!(
        "interdict {} ({commit}{})",
        env!("CARGO_PKG_VERSION"),
        if dirty.is_empty() {
            String::new()
        } else {
            format!(", built with uncommitted changes in {}", dirty.join(", "))
        }
    )];
    versions.extend(first_line(Path::new("rustc"), &["--version"]));
    if let Some(etcd) = first_line(&bin.join("etcd"), &["--version"]) {
        versions.push(etcd.replace("etcd Version:", "etcd").trim().to_string());
    }
    versions.push("kube client 5.0.0".into());
    versions
}

// ---------------------------------------------------------------- main

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let settings = Settings::from_env(&root);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(run(root, settings));
}

async fn run(root: PathBuf, s: Settings) {
    let started = Instant::now();
    let load_start = load_average();
    eprintln!(
        "bench: operator at scale, scale {} (medium {}, large {}, expiry {}, {} samples), budget {}",
        s.scale,
        s.medium,
        s.large,
        s.expiry,
        s.samples,
        fmt_s(s.budget)
    );
    eprintln!(
        "bench: operator binary {} {}",
        env!("CARGO_BIN_EXE_interdict"),
        s.operator_args.join(" ")
    );
    let kubeconfig = start_cluster(&root, &s.cluster_dir);
    let bin = control_plane_bin(&root);
    let kubectl = bin.join("kubectl");
    let crds = root.join("crds");
    kubectl_ok(
        &kubectl,
        &kubeconfig,
        &[
            "apply",
            "--server-side",
            "--field-manager=interdict-bench",
            "-f",
            crds.to_str().unwrap(),
        ],
    );
    kubectl_ok(
        &kubectl,
        &kubeconfig,
        &[
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/userbans.interdict.dev",
            "crd/featureblocks.interdict.dev",
        ],
    );
    let client = client(&kubeconfig).await;
    let logs = root.join("target/bench-operator").join(&s.scale);
    let _ = std::fs::remove_dir_all(&logs);
    std::fs::create_dir_all(&logs).unwrap();
    let mut versions = versions(&root, &bin);
    if let Ok(info) = client.apiserver_version().await {
        versions.insert(2, format!("kube-apiserver {}", info.git_version));
    }

    let budget = s.budget;
    let cluster_dir = s.cluster_dir.clone();
    let mut bench = Bench {
        run: format!("{:x}", Utc::now().timestamp_millis() % 0xfffff),
        s,
        root,
        kubeconfig,
        client,
        started,
        deadline: started + budget,
        logs,
        rows: Vec::new(),
        raw: Vec::new(),
        notes: Vec::new(),
        versions,
        machine: machine(),
        load_start,
        operators_started: 0,
        large_used: None,
        cluster_pids: ["kube-apiserver", "etcd"]
            .into_iter()
            .filter_map(|name| {
                let pid = std::fs::read_to_string(cluster_dir.join(format!("{name}.pid"))).ok()?;
                Some((name, pid.trim().parse().ok()?))
            })
            .collect(),
        target_suffix: String::new(),
    };
    bench.warm_up().await;
    bench.phase_empty().await;
    let medium = bench.phase_medium().await;
    bench.phase_expiry().await;
    bench.phase_large(medium.as_ref()).await;

    let elapsed = bench.started.elapsed();
    println!(
        "\nOperator at scale (scale {}, {} in total)\n",
        bench.s.scale,
        fmt_s(elapsed)
    );
    print!("{}", bench.table());
    if !bench.notes.is_empty() {
        println!("\nNotes:");
        for n in &bench.notes {
            println!("- {n}");
        }
    }
    let section = bench.markdown(elapsed);
    let copy = bench.logs.join("operator-at-scale.md");
    std::fs::write(&copy, &section).unwrap();
    println!(
        "\nMarkdown section: {} (operator logs in {})",
        copy.display(),
        bench.logs.display()
    );
    if bench.s.write_docs {
        match bench.write_docs(&section) {
            Ok(path) => println!(
                "Updated {} (section \"## Operator at scale\")",
                path.display()
            ),
            Err(e) => println!("could not update docs/performance.md: {e}"),
        }
    } else {
        println!("docs/performance.md left alone (quick scale, or INTERDICT_BENCH_DOCS=0)");
    }
}
