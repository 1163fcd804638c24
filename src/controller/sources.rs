//! What the controller watches: UserBans, FeatureBlocks and the blocklist
//! ConfigMaps, each mirrored in memory by a reflector, every change turned into
//! "reconcile this namespace soon".

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt, TryStreamExt, stream};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ManagedFieldsEntry, ObjectMeta};
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;

use super::cache::{Cache, CacheWriter, Cached, PackedEvent, cache};
use super::changes::Changes;
use super::own_writes::{OwnWrites, Seen, key};
use super::queue::Queue;
use super::watch_health::{WatchBackoff, WatchHealth};
use crate::api::{BanAppeal, BanExemption, FeatureBlock, UserBan};

/// One cache per watched scope: each watch's re-list replaces its whole
/// content, so several watches cannot share one.
pub struct ScopedStores<K> {
    stores: Vec<(Option<String>, Cache<K>)>,
}

impl<K> ScopedStores<K>
where
    K: Resource<DynamicType = ()> + DeserializeOwned + 'static,
{
    fn in_scope(&self, namespace: &str) -> impl Iterator<Item = &Cache<K>> {
        self.stores
            .iter()
            .filter(move |(scope, _)| scope.as_deref().is_none_or(|s| s == namespace))
            .map(|(_, cache)| cache)
    }

    /// One object by namespace and name, without scanning.
    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<K>> {
        self.in_scope(namespace)
            .find_map(|cache| cache.get(namespace, name))
    }

    /// Part of one object; see [`Cache::view`].
    pub fn view<V: DeserializeOwned>(&self, namespace: &str, name: &str) -> Option<V> {
        self.in_scope(namespace)
            .find_map(|cache| cache.view(namespace, name))
    }

    pub fn contains(&self, namespace: &str, name: &str) -> bool {
        self.in_scope(namespace)
            .any(|cache| cache.contains(namespace, name))
    }

    pub fn in_namespace(&self, namespace: &str) -> Vec<Arc<K>> {
        self.in_scope(namespace)
            .flat_map(|cache| cache.in_namespace(namespace))
            .collect()
    }

    /// The objects of a namespace whose JSON contains `needle`; see [`Cache::matching`].
    pub fn matching(&self, namespace: &str, needle: &str) -> Vec<Arc<K>> {
        self.in_scope(namespace)
            .flat_map(|cache| cache.matching(namespace, needle))
            .collect()
    }

    pub fn names(&self, namespace: &str) -> Vec<String> {
        self.in_scope(namespace)
            .flat_map(|cache| cache.names(namespace))
            .collect()
    }

    pub fn is_empty_in(&self, namespace: &str) -> bool {
        self.in_scope(namespace)
            .all(|cache| cache.is_empty_in(namespace))
    }

    /// The newest copy of `object` the watches have delivered: a pass's
    /// snapshot may be older than what this process has written since.
    pub fn freshest(&self, object: &Arc<K>) -> Arc<K> {
        let meta = object.meta();
        let (Some(namespace), Some(name)) = (meta.namespace.as_deref(), meta.name.as_deref())
        else {
            return object.clone();
        };
        let held = meta
            .resource_version
            .as_deref()
            .and_then(|v| v.parse::<u64>().ok());
        let newer = self
            .in_scope(namespace)
            .find(|cache| cache.version(namespace, name) > held)
            .and_then(|cache| cache.get(namespace, name))
            .filter(|current| current.meta().uid == meta.uid);
        newer.unwrap_or_else(|| object.clone())
    }

    pub fn namespaces(&self) -> BTreeSet<String> {
        self.stores
            .iter()
            .flat_map(|(_, cache)| cache.namespaces())
            .collect()
    }

    async fn wait_until_ready(&self) {
        for (_, cache) in &self.stores {
            cache.wait_until_ready().await;
        }
    }
}

pub struct Stores {
    pub user_bans: ScopedStores<UserBan>,
    pub feature_blocks: ScopedStores<FeatureBlock>,
    pub exemptions: ScopedStores<BanExemption>,
    pub appeals: ScopedStores<BanAppeal>,
    pub blocklists: ScopedStores<ConfigMap>,
    global: Option<GlobalSource>,
    /// The namespaces given on the command line; empty means every namespace.
    watched: Vec<String>,
    /// When every namespace is watched: those labelled to get a blocklist
    /// before their first ban.
    enrolled: Option<Store<Namespace>>,
}

/// Where global bans live, and which namespaces asked for them.
pub struct GlobalBans {
    pub namespace: String,
    /// Label selector of the namespaces that receive global bans, e.g. `interdict.dev/global-bans=true`.
    pub opt_in_selector: String,
}

struct GlobalSource {
    namespace: String,
    opted_in: Store<Namespace>,
}

impl Stores {
    /// Resolves once every watcher has listed its objects once. Reconciling before
    /// that would publish a blocklist missing bans that are simply not loaded yet.
    pub async fn wait_until_ready(&self) {
        self.user_bans.wait_until_ready().await;
        self.feature_blocks.wait_until_ready().await;
        self.exemptions.wait_until_ready().await;
        self.appeals.wait_until_ready().await;
        self.blocklists.wait_until_ready().await;
        if let Some(global) = &self.global {
            let _ = global.opted_in.wait_until_ready().await;
        }
        if let Some(enrolled) = &self.enrolled {
            let _ = enrolled.wait_until_ready().await;
        }
    }

    pub fn all_namespaces(&self) -> BTreeSet<String> {
        let mut all: BTreeSet<String> = self.watched.iter().cloned().collect();
        all.extend(self.user_bans.namespaces());
        all.extend(self.feature_blocks.namespaces());
        all.extend(self.exemptions.namespaces());
        all.extend(self.appeals.namespaces());
        all.extend(self.blocklists.namespaces());
        all.extend(self.opted_in());
        all.extend(self.enrolled());
        all
    }

    /// Namespaces named on the command line, or labelled (see
    /// `--blocklist-namespace-label`) when every namespace is watched: each
    /// gets a blocklist from the start, empty while it has no bans, so pods
    /// mounting it always find a valid one.
    pub fn is_listed(&self, namespace: &str) -> bool {
        self.watched.iter().any(|ns| ns == namespace)
            || self
                .enrolled
                .as_ref()
                .is_some_and(|enrolled| enrolled.get(&ObjectRef::new(namespace)).is_some())
    }

    fn enrolled(&self) -> BTreeSet<String> {
        self.enrolled
            .as_ref()
            .map(|enrolled| {
                enrolled
                    .state()
                    .iter()
                    .filter_map(|ns| ns.metadata.name.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn global_namespace(&self) -> Option<&str> {
        self.global.as_ref().map(|g| g.namespace.as_str())
    }

    /// Namespaces that receive global bans: labelled, watched, and not the global one.
    pub fn opted_in(&self) -> BTreeSet<String> {
        let Some(global) = &self.global else {
            return BTreeSet::new();
        };
        global
            .opted_in
            .state()
            .iter()
            .filter_map(|ns| ns.metadata.name.clone())
            .filter(|ns| *ns != global.namespace)
            .filter(|ns| self.watched.is_empty() || self.watched.contains(ns))
            .collect()
    }
}

/// What a watch event asks of the queue.
enum Trigger {
    Namespace(String),
    /// A (re-)list finished: objects deleted while the watch was down produced no
    /// event, so every known namespace is looked at again.
    Everything,
    /// A blocklist watch's (re-)list finished: only the shards are compared
    /// again. One of the 64 shard watches re-listing after a lost connection
    /// must not rebuild 100k bans' models.
    BlocklistsRelisted,
    /// A watch's first list finished: every namespace is looked at, with
    /// nothing marked as changed.
    Listed,
}

/// Echoes are folded in by the next pass, whatever starts it; this many
/// waiting in one namespace start one. Otherwise the first change after a
/// burst would wait while its pass took in the echoes of every status the
/// burst settled (50k of them: 0.4 s); in passes of this many, each costs
/// a few milliseconds during the burst, when nobody waits for it.
const ECHOES_PER_PASS: usize = 1000;

fn triggers<K: Resource<DynamicType = ()>>(
    event: &watcher::Event<K>,
    own: &OwnWrites,
    changes: &Changes,
) -> Option<Trigger> {
    // Every change is recorded for the model, echoes of this process's own
    // writes too (they carry the status it reads); only others trigger a pass.
    let record = |meta: &ObjectMeta| match (&meta.namespace, &meta.name) {
        (Some(namespace), Some(name)) => changes.object(&K::kind(&()), namespace, name),
        (None, Some(name)) => changes.everything(name),
        _ => {}
    };
    let concerned = |meta: &ObjectMeta| {
        // A Namespace object (opting in to global bans) concerns itself.
        meta.namespace
            .clone()
            .or_else(|| meta.name.clone())
            .map(Trigger::Namespace)
    };
    let own_key = |meta: &ObjectMeta| {
        key::<K>(
            meta.namespace.as_deref().unwrap_or_default(),
            meta.name.as_deref().unwrap_or_default(),
        )
    };
    match event {
        watcher::Event::Apply(o) => {
            let meta = o.meta();
            own.catch_up(meta);
            let seen = own.seen(&own_key(meta), meta);
            let kind = K::kind(&());
            let mut fold_now = false;
            match seen {
                // A blocklist's echo says nothing new (the model wrote it);
                // noted, it would have the next pass render and compare
                // every shard.
                Seen::Own | Seen::DuringWrite if kind == "ConfigMap" => {}
                Seen::Own => {
                    if let (Some(namespace), Some(name)) = (&meta.namespace, &meta.name) {
                        fold_now = changes.echo(&kind, namespace, name) >= ECHOES_PER_PASS;
                    }
                }
                Seen::DuringWrite | Seen::Foreign => record(meta),
            }
            if seen != Seen::Foreign && !fold_now {
                return None;
            }
            concerned(meta)
        }
        watcher::Event::InitApply(o) => {
            record(o.meta());
            own.catch_up(o.meta());
            concerned(o.meta())
        }
        watcher::Event::Delete(o) => {
            record(o.meta());
            own.forget(&own_key(o.meta()), o.meta());
            concerned(o.meta())
        }
        watcher::Event::InitDone if K::kind(&()) == "ConfigMap" => {
            Some(Trigger::BlocklistsRelisted)
        }
        watcher::Event::InitDone => Some(Trigger::Everything),
        watcher::Event::Init => None,
    }
}

/// What a watched kind must be.
trait Watchable:
    Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static
{
}

impl<K> Watchable for K where
    K: Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static
{
}

type TriggerStream = std::pin::Pin<Box<dyn Stream<Item = Trigger> + Send>>;

type Watched<K> =
    std::pin::Pin<Box<dyn Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send>>;

fn backoff_seed() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.subsec_nanos())
}

/// A watch with back-off, its objects stripped of what nothing here reads.
fn stripped_watch<K: Watchable>(api: Api<K>, config: watcher::Config) -> Watched<K> {
    watcher(api, config)
        .backoff(WatchBackoff::new(backoff_seed().into()))
        .modify(|o: &mut K| strip_metadata(o.meta_mut(), false))
        .boxed()
}

/// A namespace, or every namespace.
type Scope<'a> = Option<&'a str>;

fn api_in<K>(client: &Client, scope: Scope) -> Api<K>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
{
    match scope {
        Some(namespace) => Api::namespaced(client.clone(), namespace),
        None => Api::all(client.clone()),
    }
}

/// Every object of a kind in a scope.
fn whole<K>(client: &Client, scope: Scope) -> Watched<K>
where
    K: Watchable + Resource<Scope = k8s_openapi::NamespaceResourceScope>,
{
    stripped_watch(api_in(client, scope), watcher::Config::default())
}

/// A blocklist ConfigMap's watch carries its metadata only: its data is read
/// (`blocklist::ensure`) only when someone else may have changed it, since
/// this process knows what it wrote (`publish::Published`). At 100k bans each
/// of the 64 shard watches would otherwise receive a whole ~410 KiB
/// ConfigMap per write, and keep read buffers of that size.
fn blocklist_watch(client: &Client, scope: Scope, config: watcher::Config) -> Watched<ConfigMap> {
    let as_configmap = |partial: PartialObjectMeta<ConfigMap>| {
        let mut metadata = partial.metadata;
        strip_metadata(&mut metadata, true);
        ConfigMap {
            metadata,
            ..ConfigMap::default()
        }
    };
    watcher(
        api_in::<PartialObjectMeta<ConfigMap>>(client, scope),
        config,
    )
    .backoff(WatchBackoff::new(backoff_seed().into()))
    .map_ok(move |event| match event {
        watcher::Event::Apply(o) => watcher::Event::Apply(as_configmap(o)),
        watcher::Event::Delete(o) => watcher::Event::Delete(as_configmap(o)),
        watcher::Event::InitApply(o) => watcher::Event::InitApply(as_configmap(o)),
        watcher::Event::Init => watcher::Event::Init,
        watcher::Event::InitDone => watcher::Event::InitDone,
    })
    .boxed()
}

/// Managed fields and annotations (kubectl's last-applied copy of the spec
/// among them) are most of an object's size, and nothing here reads them
/// but our own: at 100k bans they would dominate the operator's memory.
fn strip_metadata(meta: &mut ObjectMeta, keep_our_apply: bool) {
    // Only the operator's own server-side-apply entry is kept, on blocklist
    // ConfigMaps: it tells one the operator wrote (whatever happened to its
    // label since) from someone else's. On bans it would cost memory for
    // nothing.
    meta.managed_fields = meta
        .managed_fields
        .take()
        .filter(|_| keep_our_apply)
        .and_then(|fields| {
            let ours: Vec<_> = fields
                .into_iter()
                .filter(|f| f.manager.as_deref() == Some(super::FIELD_MANAGER))
                .filter(|f| f.operation.as_deref() == Some("Apply"))
                .map(|f| ManagedFieldsEntry {
                    fields_v1: None,
                    ..f
                })
                .collect();
            (!ours.is_empty()).then_some(ours)
        });
    // Only the project's own annotations are read (a legal hold, a retention
    // period); kubectl's last-applied copy is dropped.
    meta.annotations = meta.annotations.take().and_then(|all| {
        let ours: std::collections::BTreeMap<String, String> = all
            .into_iter()
            .filter(|(key, _)| key.starts_with("interdict.dev/"))
            .collect();
        (!ours.is_empty()).then_some(ours)
    });
}

/// Every event turned into what it asks of the queue (its object is already
/// in the cache or store by then).
fn to_triggers<K>(events: Watched<K>, observers: Observers) -> TriggerStream
where
    K: Resource<DynamicType = ()> + Send + 'static,
{
    let Observers {
        own,
        health,
        changes,
    } = observers;
    let kind = K::kind(&()).to_string();
    let mut listed_once = false;
    events
        .filter_map(move |event| {
            let first_list_done = matches!(event, Ok(watcher::Event::InitDone))
                && !std::mem::replace(&mut listed_once, true);
            let trigger = match event {
                // Passes start only once every cache holds its first list,
                // so a model built then has everything this list brought:
                // marked as news, it was built a second time (100k bans
                // read and compiled again on a first start).
                Ok(_) if first_list_done => Some(Trigger::Listed),
                Ok(event) => triggers(&event, &own, &changes),
                Err(error) => {
                    tracing::warn!(%kind, %error, "watch failed; retrying with backoff");
                    health.failed(&kind, error.to_string());
                    None
                }
            };
            futures::future::ready(trigger)
        })
        .boxed()
}

/// Events packed together: a list page holds 500.
const PACK_BATCH: usize = 500;

/// Fewer events than this are packed where they arrive: a single change is
/// not worth a hop to another thread.
const PACK_APART_FROM: usize = 16;

/// Batches packed ahead of the one being committed.
const PACKED_AHEAD: usize = 2;

type WatchEvent<K> = Result<watcher::Event<K>, watcher::Error>;

fn pack_batch<K: Watchable + Cached>(
    writer: &CacheWriter<K>,
    batch: Vec<WatchEvent<K>>,
) -> Vec<(WatchEvent<K>, Option<PackedEvent>)> {
    batch
        .into_iter()
        .map(|event| {
            let packed = event.as_ref().ok().map(|e| writer.pack_event(e));
            (event, packed)
        })
        .collect()
}

/// A watch kept in a kube reflector store (Namespaces: few, and read whole).
fn reflect<K: Watchable>(
    api: Api<K>,
    config: watcher::Config,
    observers: Observers,
) -> (Store<K>, TriggerStream) {
    let (reader, writer) = reflector::store();
    let events = reflector::reflector(writer, stripped_watch(api, config)).boxed();
    (reader, to_triggers(events, observers))
}

/// A watch kept in a compact [`Cache`] (bans, exemptions, appeals, blocklists).
fn cached<K: Watchable + Cached>(
    watched: Watched<K>,
    observers: Observers,
) -> (Cache<K>, TriggerStream) {
    let (reader, writer) = cache();
    let writer = Arc::new(writer);
    let packer = writer.clone();
    let events = watched
        // A list arrives a page at a time, all of its events at once: they
        // are packed (serialized and compressed, ~5–9 µs each) on the
        // blocking pool while the watch fetches the next page, and
        // committed in their order. A first start with 100k bans spent
        // ~1 s packing between pages.
        .ready_chunks(PACK_BATCH)
        .map(move |batch| {
            let packer = packer.clone();
            async move {
                if batch.len() < PACK_APART_FROM {
                    return pack_batch(&packer, batch);
                }
                tokio::task::spawn_blocking(move || pack_batch(&packer, batch))
                    .await
                    .expect("packing does not panic")
            }
        })
        .buffered(PACKED_AHEAD)
        .flat_map(stream::iter)
        .map(move |(event, packed)| {
            if let (Ok(event), Some(packed)) = (&event, packed) {
                writer.commit(event, packed);
            }
            event
        })
        .boxed();
    (reader, to_triggers(events, observers))
}

/// One cached watch per scope: every watched namespace, or all of them.
/// `watch` makes the stream (`stripped_watch`, or `blocklist_watch`).
fn scoped<K>(
    client: &Client,
    observers: &Observers,
    namespaces: &[String],
    watch: impl Fn(&Client, Scope) -> Watched<K>,
    streams: &mut Vec<TriggerStream>,
) -> ScopedStores<K>
where
    K: Watchable + Cached + Resource<Scope = k8s_openapi::NamespaceResourceScope>,
{
    let scopes: Vec<Option<String>> = if namespaces.is_empty() {
        vec![None]
    } else {
        namespaces.iter().cloned().map(Some).collect()
    };
    let stores = scopes
        .into_iter()
        .map(|scope| {
            let (cache, stream) = cached(watch(client, scope.as_deref()), observers.clone());
            streams.push(stream);
            (scope, cache)
        })
        .collect();
    ScopedStores { stores }
}

/// Starts the watches. The returned future drives them and feeds `queue`; it
/// must be polled for the stores to fill.
/// Who learns from every watch event besides the queue: the record of this
/// process's own writes (to skip their echoes), the watches' health, and the
/// changes the namespace model folds in.
#[derive(Clone)]
pub struct Observers {
    pub own: Arc<OwnWrites>,
    pub health: Arc<WatchHealth>,
    pub changes: Arc<Changes>,
}

/// The namespaces served: those listed (empty: every namespace), and with
/// every namespace watched, the label selector of those that get a blocklist
/// before their first ban ("" for none).
pub struct Served<'a> {
    pub namespaces: &'a [String],
    pub enrol_selector: &'a str,
}

pub fn watch(
    client: &Client,
    observers: Observers,
    served: Served<'_>,
    blocklist_names: &[String],
    global: Option<GlobalBans>,
    queue: Arc<Queue>,
    debounce: Duration,
) -> (
    Arc<Stores>,
    impl std::future::Future<Output = ()> + Send + use<>,
) {
    let Served {
        namespaces,
        enrol_selector,
    } = served;
    let changes = observers.changes.clone();
    let mut streams = Vec::new();
    // The global namespace is watched too, whatever the list says.
    let mut scopes = namespaces.to_vec();
    if let Some(global) = &global
        && !scopes.is_empty()
        && !scopes.contains(&global.namespace)
    {
        scopes.push(global.namespace.clone());
    }
    let global = global.map(|global| {
        let config = watcher::Config::default().labels(&global.opt_in_selector);
        let (opted_in, stream) = reflect(
            Api::<Namespace>::all(client.clone()),
            config,
            observers.clone(),
        );
        streams.push(stream);
        GlobalSource {
            namespace: global.namespace,
            opted_in,
        }
    });
    // Listed namespaces always get a blocklist; with every namespace watched,
    // only the labelled ones do before their first ban (not kube-system...).
    let enrolled = (namespaces.is_empty() && !enrol_selector.is_empty()).then(|| {
        let (enrolled, stream) = reflect(
            Api::<Namespace>::all(client.clone()),
            watcher::Config::default().labels(enrol_selector),
            observers.clone(),
        );
        streams.push(stream);
        enrolled
    });
    let stores = Arc::new(Stores {
        user_bans: scoped(client, &observers, &scopes, whole, &mut streams),
        feature_blocks: scoped(client, &observers, &scopes, whole, &mut streams),
        exemptions: scoped(client, &observers, &scopes, whole, &mut streams),
        appeals: scoped(client, &observers, &scopes, whole, &mut streams),
        // One watch per shard name: a metadata.name field selector is what lets
        // RBAC restrict the operator to its own ConfigMaps.
        blocklists: ScopedStores {
            stores: blocklist_names
                .iter()
                .flat_map(|name| {
                    let only = watcher::Config::default().fields(&format!("metadata.name={name}"));
                    let watch = |client: &Client, scope: Scope| {
                        blocklist_watch(client, scope, only.clone())
                    };
                    scoped::<ConfigMap>(client, &observers, &scopes, watch, &mut streams).stores
                })
                .collect(),
        },
        global,
        watched: namespaces.to_vec(),
        enrolled,
    });
    let feeding = {
        let stores = stores.clone();
        async move {
            let mut triggers = futures::stream::select_all(streams);
            while let Some(trigger) = triggers.next().await {
                match trigger {
                    Trigger::Namespace(ns) if stores.global_namespace() == Some(ns.as_str()) => {
                        queue.schedule_change(&ns, debounce);
                        for opted_in in stores.opted_in() {
                            queue.schedule_change(&opted_in, debounce);
                        }
                    }
                    Trigger::Namespace(ns) => queue.schedule_change(&ns, debounce),
                    Trigger::Everything => {
                        for ns in stores.all_namespaces() {
                            changes.everything(&ns);
                            queue.schedule_change(&ns, debounce);
                        }
                    }
                    Trigger::Listed => {
                        for ns in stores.all_namespaces() {
                            queue.schedule_change(&ns, debounce);
                        }
                    }
                    Trigger::BlocklistsRelisted => {
                        for ns in stores.all_namespaces() {
                            changes.blocklists(&ns);
                            queue.schedule_change(&ns, debounce);
                        }
                    }
                }
            }
        }
    };
    (stores, feeding)
}
