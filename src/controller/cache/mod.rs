//! The watch cache of the namespaced kinds: each object kept as the compact
//! JSON the watch delivered (stripped of managed fields and foreign
//! annotations), compressed against a dictionary of its kind ([`codec`],
//! [`dictionary`]), indexed by namespace, and read back into an object only
//! when someone asks for it.
//!
//! Why not kube's reflector store: it holds every object as a Rust value,
//! 2.4 KiB for a settled UserBan against 0.9 KiB of JSON and a fifth of that
//! compressed (`cargo bench --bench memory`), and its only lookup by namespace scans every object of
//! every namespace. The namespace model keeps what a change needs; this cache
//! serves the status worker, which reads one object when it writes that
//! object's status, and the rare whole-namespace readers (a rebuild, the
//! retention sweep).

mod codec;
mod dictionary;

use std::collections::{BTreeSet, HashMap};
use std::marker::PhantomData;
use std::sync::{Arc, RwLock};

use kube::Resource;
use kube::runtime::watcher;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::watch;

use codec::Codec;
pub use dictionary::Cached;

/// One cached object, in one allocation: its resourceVersion (8 bytes, 0
/// for none; the API server never sets 0), the length of its JSON (4
/// bytes), then its JSON packed by the cache's codec. A slot of a
/// namespace's table is then a name and one pointer (32 bytes, 64 with the
/// header as fields: ≈ 4 MB at 100k bans). Shared, so a reader takes it out
/// from under the lock and unpacks it without holding up the watch.
#[derive(Clone)]
struct Packed(Arc<[u8]>);

impl Packed {
    const HEADER: usize = 12;

    fn new(version: Option<u64>, len: u32, packed: &[u8]) -> Packed {
        let mut all = Vec::with_capacity(Self::HEADER + packed.len());
        all.extend_from_slice(&version.unwrap_or(0).to_le_bytes());
        all.extend_from_slice(&len.to_le_bytes());
        all.extend_from_slice(packed);
        Packed(all.into())
    }

    /// Its resourceVersion, to tell the newer of two copies without reading either.
    fn version(&self) -> Option<u64> {
        let version = u64::from_le_bytes(self.0[..8].try_into().expect("8 bytes"));
        (version != 0).then_some(version)
    }

    /// The length of its JSON.
    fn len(&self) -> u32 {
        u32::from_le_bytes(self.0[8..Self::HEADER].try_into().expect("4 bytes"))
    }

    fn packed(&self) -> &[u8] {
        &self.0[Self::HEADER..]
    }
}

type Namespaces = HashMap<String, HashMap<Box<str>, Packed>>;

#[derive(Default)]
struct State {
    objects: Namespaces,
    /// A re-list in progress: it replaces `objects` whole when it is done, so
    /// objects deleted while the watch was down disappear.
    relisting: Option<Namespaces>,
}

/// The read side; cheap to clone.
pub struct Cache<K> {
    state: Arc<RwLock<State>>,
    codec: &'static Codec,
    ready: watch::Receiver<bool>,
    kind: PhantomData<fn() -> K>,
}

impl<K> Clone for Cache<K> {
    fn clone(&self) -> Self {
        Cache {
            state: self.state.clone(),
            codec: self.codec,
            ready: self.ready.clone(),
            kind: PhantomData,
        }
    }
}

/// The write side, fed every event of one watch.
pub struct CacheWriter<K> {
    state: Arc<RwLock<State>>,
    codec: &'static Codec,
    ready: watch::Sender<bool>,
    kind: PhantomData<fn() -> K>,
}

pub fn cache<K: Cached>() -> (Cache<K>, CacheWriter<K>) {
    let state = Arc::new(RwLock::new(State::default()));
    let codec = Codec::of_kind(&K::kind(&()), K::dictionary);
    let (ready_tx, ready_rx) = watch::channel(false);
    (
        Cache {
            state: state.clone(),
            codec,
            ready: ready_rx,
            kind: PhantomData,
        },
        CacheWriter {
            state,
            codec,
            ready: ready_tx,
            kind: PhantomData,
        },
    )
}

fn identity<K: Resource>(object: &K) -> Option<(String, String)> {
    let meta = object.meta();
    Some((meta.namespace.clone()?, meta.name.clone()?))
}

fn version<K: Resource>(object: &K) -> Option<u64> {
    object.meta().resource_version.as_deref()?.parse().ok()
}

/// An event's object packed for the cache ([`CacheWriter::pack_event`]),
/// waiting to be committed in the watch's order.
pub struct PackedEvent(Option<(String, String, Packed)>);

impl<K: Resource + Serialize> CacheWriter<K> {
    pub fn apply(&self, event: &watcher::Event<K>) {
        let packed = self.pack_event(event);
        self.commit(event, packed);
    }

    /// The compression half of [`CacheWriter::apply`]: touches no shared
    /// state, so events can be packed on other threads (a list's pages,
    /// while the next page is fetched) as long as they are committed in
    /// order.
    pub fn pack_event(&self, event: &watcher::Event<K>) -> PackedEvent {
        PackedEvent(match event {
            watcher::Event::InitApply(object) | watcher::Event::Apply(object) => self.pack(object),
            _ => None,
        })
    }

    /// Applies `event` with the object [`CacheWriter::pack_event`] packed for it.
    pub fn commit(&self, event: &watcher::Event<K>, packed: PackedEvent) {
        let PackedEvent(packed) = packed;
        // Packed before the lock is taken: readers wait for no compression.
        let mut state = self.state.write().expect("cache lock");
        match event {
            watcher::Event::Init => state.relisting = Some(Namespaces::new()),
            watcher::Event::InitApply(_) => {
                let relisting = state.relisting.get_or_insert_with(Namespaces::new);
                insert(relisting, packed);
            }
            watcher::Event::InitDone => {
                if let Some(listed) = state.relisting.take() {
                    state.objects = listed;
                }
                drop(state);
                self.ready.send_replace(true);
            }
            watcher::Event::Apply(_) => insert(&mut state.objects, packed),
            watcher::Event::Delete(object) => {
                if let Some((namespace, name)) = identity(object)
                    && let Some(names) = state.objects.get_mut(&namespace)
                {
                    names.remove(name.as_str());
                    if names.is_empty() {
                        state.objects.remove(&namespace);
                    }
                }
            }
        }
    }

    /// The object's namespace, name and packed JSON.
    fn pack(&self, object: &K) -> Option<(String, String, Packed)> {
        let (namespace, name) = identity(object)?;
        // Serializing a value that was just deserialized from JSON cannot
        // fail, and zstd fails only out of memory.
        let packed = serde_json::to_vec(object).ok().and_then(|json| {
            let len = u32::try_from(json.len()).ok()?;
            Some(Packed::new(version(object), len, &self.codec.pack(&json)?))
        });
        let Some(packed) = packed else {
            tracing::error!(%namespace, %name, "cannot cache an object");
            return None;
        };
        Some((namespace, name, packed))
    }
}

fn insert(objects: &mut Namespaces, packed: Option<(String, String, Packed)>) {
    if let Some((namespace, name, packed)) = packed {
        objects
            .entry(namespace)
            .or_default()
            .insert(name.into_boxed_str(), packed);
    }
}

impl<K: Resource + DeserializeOwned> Cache<K> {
    /// The JSON of a packed object.
    fn unpack(&self, namespace: &str, name: &str, packed: &Packed) -> Option<Vec<u8>> {
        let json = self.codec.unpack(packed.packed(), packed.len() as usize);
        if json.is_none() {
            // Packed by the same codec: a failure is a defect, not input.
            tracing::error!(%namespace, %name, "a cached object does not unpack");
        }
        json
    }

    /// Part of one object, read into a narrower type `V` (its metadata and
    /// status, say): what the rest of the JSON holds is skipped, not built.
    pub fn view<V: DeserializeOwned>(&self, namespace: &str, name: &str) -> Option<V> {
        let packed = {
            let state = self.state.read().expect("cache lock");
            state.objects.get(namespace)?.get(name)?.clone()
        };
        let json = self.unpack(namespace, name, &packed)?;
        read_as(namespace, name, &json)
    }

    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<K>> {
        self.view(namespace, name).map(Arc::new)
    }

    pub fn contains(&self, namespace: &str, name: &str) -> bool {
        let state = self.state.read().expect("cache lock");
        state
            .objects
            .get(namespace)
            .is_some_and(|names| names.contains_key(name))
    }

    /// The cached resourceVersion of an object, without reading it.
    pub fn version(&self, namespace: &str, name: &str) -> Option<u64> {
        let state = self.state.read().expect("cache lock");
        state.objects.get(namespace)?.get(name)?.version()
    }

    /// Every object of one namespace (read back one by one: use
    /// [`Cache::names`] when the names are all that is needed).
    pub fn in_namespace(&self, namespace: &str) -> Vec<Arc<K>> {
        self.matching(namespace, "")
    }

    /// The objects of one namespace whose JSON contains `needle` (a label
    /// value, say): a byte search first, so only candidates are read back.
    /// Callers still check the field they meant.
    pub fn matching(&self, namespace: &str, needle: &str) -> Vec<Arc<K>> {
        let needle = needle.as_bytes();
        let packed: Vec<(Box<str>, Packed)> = {
            let state = self.state.read().expect("cache lock");
            let Some(names) = state.objects.get(namespace) else {
                return Vec::new();
            };
            names
                .iter()
                .map(|(name, packed)| (name.clone(), packed.clone()))
                .collect()
        };
        packed
            .iter()
            .filter_map(|(name, packed)| {
                let json = self.unpack(namespace, name, packed)?;
                if !needle.is_empty() && !contains(&json, needle) {
                    return None;
                }
                read_as(namespace, name, &json).map(Arc::new)
            })
            .collect()
    }

    pub fn names(&self, namespace: &str) -> Vec<String> {
        let state = self.state.read().expect("cache lock");
        state
            .objects
            .get(namespace)
            .map(|names| names.keys().map(|name| name.to_string()).collect())
            .unwrap_or_default()
    }

    pub fn is_empty_in(&self, namespace: &str) -> bool {
        let state = self.state.read().expect("cache lock");
        state.objects.get(namespace).is_none_or(HashMap::is_empty)
    }

    pub fn namespaces(&self) -> BTreeSet<String> {
        let state = self.state.read().expect("cache lock");
        state.objects.keys().cloned().collect()
    }

    /// Resolves once the watch has listed every object once.
    pub async fn wait_until_ready(&self) {
        let mut ready = self.ready.clone();
        // An error means the writer is gone, i.e. the process is shutting down.
        let _ = ready.wait_for(|ready| *ready).await;
    }
}

fn read_as<V: DeserializeOwned>(namespace: &str, name: &str, json: &[u8]) -> Option<V> {
    match serde_json::from_slice(json) {
        Ok(object) => Some(object),
        Err(error) => {
            // Written by `insert` from a value of the kind: a failure here is
            // a defect in a type's serde round trip.
            tracing::error!(%namespace, %name, %error, "a cached object does not read back");
            None
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{BanAppeal, BanExemption, FeatureBlock, UserBan};
    use serde::Deserialize;
    use serde_json::{Value, json};

    fn user_ban(name: &str, version: &str, subject: &str) -> UserBan {
        serde_json::from_value(json!({
            "apiVersion": "interdict.dev/v1alpha1",
            "kind": "UserBan",
            "metadata": {
                "name": name, "namespace": "shop", "uid": format!("uid-{name}"),
                "resourceVersion": version, "generation": 2,
                "creationTimestamp": "2026-12-01T10:00:00Z",
                "labels": { "interdict.dev/subject": subject },
                "finalizers": ["interdict.dev/record-deletion"],
            },
            "spec": {
                "subject": { "userId": "u-1" },
                "mode": "Suspend",
                "duration": "7d",
                "reason": { "code": "spam", "notes": "ticket 1" },
                "message": "Suspended.",
                "contact": { "email": "u1@example.org" },
            },
            "status": {
                "phase": "Active", "observedGeneration": 2,
                "effectiveFrom": "2026-12-01T10:00:00Z",
                "notifications": [{
                    "key": "k", "event": "Applied", "sink": "webhook", "state": "Pending",
                    "attempts": 1, "occurredAt": "2026-12-01T10:00:01Z",
                    "nextAttemptAt": "2026-12-01T10:00:31Z", "lastError": "503",
                }],
                "conditions": [{
                    "type": "Ready", "status": "True", "reason": "Active", "message": "In force",
                    "lastTransitionTime": "2026-12-01T10:00:00Z", "observedGeneration": 2,
                }],
            },
        }))
        .expect("a valid UserBan")
    }

    fn filled(objects: &[UserBan]) -> Cache<UserBan> {
        let (cache, writer) = cache::<UserBan>();
        writer.apply(&watcher::Event::Init);
        for object in objects {
            writer.apply(&watcher::Event::InitApply(object.clone()));
        }
        writer.apply(&watcher::Event::InitDone);
        cache
    }

    #[test]
    fn an_object_reads_back_exactly_as_it_was_cached() {
        let ban = user_ban("a", "7", "hash-a");
        let cache = filled(std::slice::from_ref(&ban));
        let back = cache.get("shop", "a").expect("cached");
        assert_eq!(
            serde_json::to_value(&*back).ok(),
            serde_json::to_value(&ban).ok()
        );
        assert_eq!(back.status, ban.status);
        assert_eq!(cache.version("shop", "a"), Some(7));
    }

    /// Every example manifest of the project survives the cache's round trip.
    #[test]
    fn every_example_manifest_reads_back_unchanged() {
        fn round_trip<K: Cached>(document: &Value) {
            let object: K = serde_json::from_value(document.clone()).expect("an example parses");
            let (cache, writer) = cache::<K>();
            writer.apply(&watcher::Event::Apply(object));
            let name = document["metadata"]["name"].as_str().unwrap_or_default();
            let back = cache.get("examples", name).expect("cached");
            let original: K = serde_json::from_value(document.clone()).expect("parses");
            assert_eq!(
                serde_json::to_value(&*back).ok(),
                serde_json::to_value(&original).ok(),
                "{name}"
            );
        }
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
        let mut seen = 0;
        let mut directories = vec![root];
        while let Some(directory) = directories.pop() {
            for entry in std::fs::read_dir(&directory).expect("examples/ is readable") {
                let path = entry.expect("an entry").path();
                if path.is_dir() {
                    directories.push(path);
                    continue;
                }
                if path.extension().is_none_or(|e| e != "yaml") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).expect("readable");
                for document in serde_yaml::Deserializer::from_str(&text) {
                    let Ok(mut document) = Value::deserialize(document) else {
                        continue;
                    };
                    document["metadata"]["namespace"] = json!("examples");
                    match document["kind"].as_str() {
                        Some("UserBan") => round_trip::<UserBan>(&document),
                        Some("FeatureBlock") => round_trip::<FeatureBlock>(&document),
                        Some("BanExemption") => round_trip::<BanExemption>(&document),
                        Some("BanAppeal") => round_trip::<BanAppeal>(&document),
                        _ => continue,
                    }
                    seen += 1;
                }
            }
        }
        assert!(seen >= 5, "only {seen} example objects found");
    }

    #[test]
    fn a_relist_replaces_everything_and_a_delete_removes_one() {
        let (cache, writer) = cache::<UserBan>();
        writer.apply(&watcher::Event::Init);
        writer.apply(&watcher::Event::InitApply(user_ban("a", "1", "x")));
        writer.apply(&watcher::Event::InitApply(user_ban("b", "2", "y")));
        // Not ready, and nothing visible, until the list is complete.
        assert!(!*cache.ready.borrow());
        assert!(cache.is_empty_in("shop"));
        writer.apply(&watcher::Event::InitDone);
        assert!(*cache.ready.borrow());
        let mut names = cache.names("shop");
        names.sort();
        assert_eq!(names, ["a", "b"]);

        // "a" was deleted while the watch was down: the re-list drops it.
        writer.apply(&watcher::Event::Init);
        writer.apply(&watcher::Event::InitApply(user_ban("b", "3", "y")));
        assert!(
            cache.contains("shop", "a"),
            "the old copy serves until the list is done"
        );
        writer.apply(&watcher::Event::InitDone);
        assert!(!cache.contains("shop", "a"));
        assert_eq!(cache.version("shop", "b"), Some(3));

        writer.apply(&watcher::Event::Delete(user_ban("b", "4", "y")));
        assert!(cache.is_empty_in("shop"));
        assert!(cache.namespaces().is_empty());
    }

    #[test]
    fn matching_reads_back_only_candidates_and_the_namespace_asked() {
        let cache = filled(&[
            user_ban("a", "1", "hash-one"),
            user_ban("b", "2", "hash-two"),
        ]);
        let found = cache.matching("shop", "hash-two");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].metadata.name.as_deref(), Some("b"));
        assert_eq!(cache.in_namespace("shop").len(), 2);
        assert!(cache.in_namespace("elsewhere").is_empty());
    }
}
