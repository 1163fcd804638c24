//! `make bench`, memory part: what the operator holds per ban, structure by
//! structure, counted by a counting allocator (bytes requested; the
//! allocator's own rounding and free pages come on top, which is why RSS is
//! measured separately by the operator bench). No control plane: the bans are
//! the operator bench's mix, with the metadata and status the API server and
//! the operator give them, fed to the same types the operator keeps, and to
//! kube's reflector store for comparison (what the operator kept before).
//!
//! `INTERDICT_BENCH_MEMORY_BANS` sets the count (default 10000).

#[path = "support/bans.rs"]
#[allow(dead_code)] // the expiring bans are the operator bench's
mod bans;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Instant;

use chrono::{Duration, Utc};
use interdict::api::UserBan;
use interdict::core::EntryKind;
use interdict::core::compile::compile_user_ban;
use interdict::core::shard::Limits;
use interdict::model::{BanFacts, BanKey, Change, NamespaceModel, Uid};
use kube::runtime::{reflector, watcher};
use serde_json::json;

/// Bytes currently allocated through the global allocator.
static LIVE: AtomicIsize = AtomicIsize::new(0);

struct Counting;

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// A ban as the watch delivers it once the operator has settled it:
/// server-set metadata, the operator's label and finalizer, its status.
/// (Managed fields and annotations are stripped before caching.)
fn settled(i: usize) -> UserBan {
    let mut ban = bans::ban(&format!("bulk-{i:06}"), i);
    let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let meta = json!({
        "name": format!("bulk-{i:06}"),
        "namespace": "bench-bulk-5f3a1",
        "uid": format!("f9eaed28-3f7d-4938-ab7d-{i:012}"),
        "resourceVersion": format!("{}", 35_000 + i),
        "generation": 1,
        "creationTimestamp": now,
        "finalizers": ["interdict.dev/record-deletion"],
        "labels": { "interdict.dev/subject": format!("{:048x}", i * 7919) },
    });
    ban.metadata = serde_json::from_value(meta).expect("valid metadata");
    ban.status = Some(
        serde_json::from_value(json!({
            "observedGeneration": 1,
            "phase": "Active",
            "effectiveFrom": now,
            "subject": format!("userId:user-{i}"),
            "conditions": [{
                "type": "Ready",
                "status": "True",
                "reason": "Active",
                "message": "In force and published in ConfigMap interdict-blocklist until further notice (permanent)",
                "lastTransitionTime": now,
                "observedGeneration": 1,
            }],
        }))
        .expect("valid status"),
    );
    ban
}

fn facts(ban: &UserBan) -> BanFacts {
    BanFacts {
        key: BanKey {
            kind: EntryKind::UserBan,
            name: ban.metadata.name.clone().unwrap_or_default(),
        },
        uid: Uid::of(ban.metadata.uid.as_deref()),
        generation: ban.metadata.generation,
        compiled: Arc::new(compile_user_ban(ban, None)),
        lifted: None,
        deleting: false,
        review_at: None,
        retry_at: None,
    }
}

fn per_ban(bytes: isize, n: usize) -> String {
    let each = bytes as f64 / n as f64;
    format!(
        "{each:>6.0} B per ban   ({:.1} MiB at 100k)",
        each * 100_000.0 / 1_048_576.0
    )
}

fn main() {
    let n: usize = std::env::var("INTERDICT_BENCH_MEMORY_BANS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let objects: Vec<UserBan> = (0..n).map(settled).collect();
    let json_bytes: usize = objects
        .iter()
        .map(|o| serde_json::to_vec(o).map_or(0, |v| v.len()))
        .sum();

    // The watch cache: what the reflector keeps of each ban.
    let before = live();
    let (store, mut writer) = reflector::store::<UserBan>();
    writer.apply_watcher_event(&watcher::Event::Init);
    for object in objects.iter().cloned() {
        writer.apply_watcher_event(&watcher::Event::InitApply(object));
    }
    writer.apply_watcher_event(&watcher::Event::InitDone);
    let reflected = live() - before;
    assert_eq!(store.state().len(), n, "every ban in the store");
    drop(store);
    drop(writer);

    // What the operator keeps instead: the compact cache.
    let before = live();
    let (cache, writer) = interdict::controller::cache::cache::<UserBan>();
    writer.apply(&watcher::Event::Init);
    let started = Instant::now();
    for object in objects.iter().cloned() {
        writer.apply(&watcher::Event::InitApply(object));
    }
    let packing = started.elapsed();
    writer.apply(&watcher::Event::InitDone);
    let cached = live() - before;
    let names = cache.names("bench-bulk-5f3a1");
    assert_eq!(names.len(), n, "every ban cached");
    // What reading back costs, beside what parsing the JSON alone costs.
    let started = Instant::now();
    for name in &names {
        assert!(cache.get("bench-bulk-5f3a1", name).is_some());
    }
    let reading = started.elapsed();
    let texts: Vec<Vec<u8>> = objects
        .iter()
        .map(|o| serde_json::to_vec(o).expect("serializes"))
        .collect();
    let started = Instant::now();
    for text in &texts {
        let _: UserBan = serde_json::from_slice(text).expect("parses");
    }
    let parsing = started.elapsed();
    drop(texts);

    // The namespace model: records, compiled entries, shards, timers.
    let before = live();
    let now = Utc::now();
    let mut model = NamespaceModel::new("bench", Duration::hours(1), 1);
    for object in &objects {
        let _ = model.apply(Change::Ban(facts(object)), now);
    }
    let modelled = live() - before;

    // The blocklist as rendered: what a ConfigMap watch cache held of it
    // before it kept digests.
    let limits = Limits {
        max_bytes: 800 * 1024,
        min_count: 1,
        max_count: 256,
    };
    let rendered = model.render_dirty(now, limits).expect("the bans fit");
    let rendered_bytes: usize = rendered
        .iter()
        .flat_map(|(_, data)| data.values())
        .map(String::len)
        .sum();
    let shards = rendered.len();
    drop(rendered);

    println!("memory: what the operator holds per ban ({n} bans of the bench mix, settled)");
    println!("  watch cache of UserBan objects   {}", per_ban(cached, n));
    println!(
        "    (as a kube reflector store     {})",
        per_ban(reflected, n)
    );
    println!(
        "  namespace model                  {}",
        per_ban(modelled, n)
    );
    println!(
        "  blocklist data ({shards} shards)         {}   (the ConfigMap watch keeps metadata only)",
        per_ban(rendered_bytes as isize, n)
    );
    println!(
        "  for scale: a ban's JSON as the watch sends it (stripped): {:.0} B",
        json_bytes as f64 / n as f64
    );
    let micros = |d: std::time::Duration| d.as_secs_f64() * 1e6 / n as f64;
    println!(
        "  cache CPU: {:.1} µs per ban to serialize and pack, {:.1} µs to unpack and parse (parsing alone {:.1} µs)",
        micros(packing),
        micros(reading),
        micros(parsing)
    );
    drop(cache);
}
