//! One namespace's pass, in proportion to what changed: the objects changed
//! since the last pass are folded into the namespace's model, time is
//! advanced, only the shards that changed are rendered and written, and only
//! the bans that changed go to the status worker.
//!
//! The model is rebuilt from the stores on the first pass of a namespace and
//! after a watch re-listed (deletions while a watch was down produce no
//! event), which costs what a whole-namespace pass costs; every other pass
//! costs what its changes cost.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::ResourceExt;

use super::Context;
use super::appeals::{self, Appealable};
use super::assess::{self, Assessment};
use super::ban::BanResource;
use super::changes::{self, Pending};
use super::error::Error;
use super::finalizer;
use super::ingest::{self, AppealLifts, EchoView};
use super::reviewed::{Reviewed, entry_counts};
use super::status_worker::{StatusWork, StatusWorkers};
use super::{nudge, publish};
use crate::api::{BanAppeal, BanKind, FeatureBlock, UserBan};
use crate::core::EntryKind;
use crate::model::{BanKey, Change, Dirty, ExemptionFacts, NamespaceModel};

/// Blocklist shards written at once. A first start writes every shard (64
/// at 100k bans, ~420 KiB each): one after another, that took ~4 s.
const SHARD_WRITES_IN_FLIGHT: usize = 4;

/// What the operator keeps of one namespace between passes.
pub struct NamespaceState {
    model: NamespaceModel,
    /// Bans lifted by approved appeals, as of the last pass.
    lifts: AppealLifts,
    /// Bytes of each shard as last rendered, for the size metric.
    bytes: HashMap<u32, usize>,
}

/// Drops a namespace's model (it is recomputed whole elsewhere, or gone).
pub fn forget(ctx: &Context, namespace: &str) {
    ctx.changes.take(namespace);
    ctx.models.lock().expect("models lock").remove(namespace);
}

pub async fn pass(ctx: &Arc<Context>, namespace: &str) -> Result<Option<DateTime<Utc>>, Error> {
    let pending = ctx.changes.take(namespace);
    let existing: HashMap<String, Arc<ConfigMap>> = ctx
        .stores
        .blocklists
        .in_namespace(namespace)
        .into_iter()
        .map(|cm| (cm.name_any(), cm))
        .collect();
    // A model to be rebuilt is dropped first: kept until the new one is
    // built, two models of 100k bans were alive at once.
    let kept = ctx
        .models
        .lock()
        .expect("models lock")
        .remove(namespace)
        .filter(|_| !pending.everything);
    let rebuild = kept.is_none();
    let mut state = match kept {
        Some(state) => state,
        None => {
            if nothing_here(ctx, namespace, &existing) {
                return Ok(None);
            }
            let count = shard_count(ctx, &existing);
            let mut model = NamespaceModel::new(namespace, ctx.session_retention, count);
            // A new model checks every shard once against what is in place.
            model.mark_all_dirty();
            NamespaceState {
                model,
                lifts: AppealLifts::new(),
                bytes: HashMap::new(),
            }
        }
    };
    let result = run(ctx, namespace, &mut state, pending, rebuild, &existing).await;
    if result.is_err() {
        // What was rendered may not have been written: write it all again.
        state.model.mark_all_dirty();
    }
    ctx.models
        .lock()
        .expect("models lock")
        .insert(namespace.to_string(), state);
    result
}

/// A namespace with no Interdict object and no blocklist needs no model.
fn nothing_here(
    ctx: &Context,
    namespace: &str,
    existing: &HashMap<String, Arc<ConfigMap>>,
) -> bool {
    let stores = &ctx.stores;
    stores.user_bans.is_empty_in(namespace)
        && stores.feature_blocks.is_empty_in(namespace)
        && stores.exemptions.is_empty_in(namespace)
        && existing.is_empty()
        && !stores.is_listed(namespace)
}

/// The shard count in place: it never shrinks on its own.
fn shard_count(ctx: &Context, existing: &HashMap<String, Arc<ConfigMap>>) -> u32 {
    (0..ctx.shards.max_count.max(1))
        .rev()
        .find(|i| existing.contains_key(&ctx.shard_name(*i)))
        .map_or(1, |i| i + 1)
}

async fn run(
    ctx: &Arc<Context>,
    namespace: &str,
    state: &mut NamespaceState,
    pending: Pending,
    rebuild: bool,
    existing: &HashMap<String, Arc<ConfigMap>>,
) -> Result<Option<DateTime<Utc>>, Error> {
    let now = Utc::now();
    let stores = &ctx.stores;
    let appeal_objects = stores.appeals.in_namespace(namespace);
    let appeal_refs: Vec<&BanAppeal> = appeal_objects.iter().map(Arc::as_ref).collect();
    let appealable = |kind: BanKind, name: &str| -> Option<Appealable> {
        let allowed = |appeal: Option<&crate::api::Appeal>| appeal.is_some_and(|a| a.allowed);
        match kind {
            BanKind::UserBan => {
                live(stores.user_bans.get(namespace, name)).map(|b| allowed(b.appeal()))
            }
            BanKind::FeatureBlock => {
                live(stores.feature_blocks.get(namespace, name)).map(|b| allowed(b.appeal()))
            }
        }
        .map(|allowed| Appealable { allowed })
    };
    let verdicts = appeals::assess(&appeal_refs, appealable, now);
    let lifts = appeals::lifts(&appeal_refs, &verdicts);

    let mut keys: BTreeSet<BanKey> = pending.bans;
    let mut exemption_names: BTreeSet<String> = pending.exemptions;
    if rebuild {
        keys.extend(
            stores
                .user_bans
                .names(namespace)
                .iter()
                .map(|name| changes::key(BanKind::UserBan, name)),
        );
        keys.extend(
            stores
                .feature_blocks
                .names(namespace)
                .iter()
                .map(|name| changes::key(BanKind::FeatureBlock, name)),
        );
        exemption_names.extend(stores.exemptions.names(namespace));
    }
    // A lift granted or withdrawn by an appeal changes its ban.
    for (kind, name) in lifts
        .iter()
        .filter(|(k, v)| state.lifts.get(*k) != Some(*v))
        .map(|(k, _)| k)
        .chain(state.lifts.keys().filter(|k| !lifts.contains_key(*k)))
    {
        keys.insert(changes::key(*kind, name));
    }
    state.lifts = lifts;

    // Echoes of this process's own writes, taken in without reading the
    // ban whole when they say nothing new; the rest are folded like any change.
    for key in pending.echoes {
        if rebuild
            || (!keys.contains(&key) && !echo_says_nothing_new(ctx, namespace, &state.model, &key))
        {
            keys.insert(key);
        }
    }

    let mut dirty = Dirty::default();
    // Bans whose status work failed: their status is written again even
    // though nothing about them changed.
    dirty.bans.extend(ctx.status_workers.take_failed(namespace));
    // An appeal received or decided is news for its ban too (its Event and
    // notification are written with the ban's status), even when the
    // decision leaves the ban as it was: a denial changes no lift, and the
    // status worker sees only the bans a pass hands it.
    let appeal_news = super::ban_sync::appeal_events(&appeal_refs, &verdicts);
    dirty.bans.extend(
        appeal_news
            .keys()
            .map(|(kind, name)| changes::key(*kind, name)),
    );
    for name in exemption_names {
        let change = match stores.exemptions.get(namespace, &name) {
            Some(object) => Change::Exemption(ExemptionFacts {
                name: name.clone(),
                compiled: assess::compile_exemption(&object, ctx.email_key.as_ref()),
                deleting: finalizer::is_deleting(object.as_ref()),
            }),
            None => Change::ExemptionGone(name),
        };
        merge(&mut dirty, state.model.apply(change, now));
    }
    let folding = Instant::now();
    let folded = keys.len();
    for change in read_changes(ctx, namespace, keys, &state.lifts, now) {
        merge(&mut dirty, state.model.apply(change, now));
    }
    let folded_in = folding.elapsed();
    merge(&mut dirty, state.model.advance(now));
    if pending.blocklists {
        // Someone else's edit, or a deletion: render again and compare.
        state.model.mark_all_dirty();
    }

    let exemption_objects = stores.exemptions.in_namespace(namespace);
    let unpublished = |model: &NamespaceModel, error: &Error| {
        // Every ban now shows why it is not published. Once it is, nothing
        // about the bans will have changed (their echoes say nothing new):
        // the pass that publishes must still write every status again.
        ctx.status_workers
            .remember_failed(namespace, model.ban_keys().cloned().collect());
        StatusWork {
            user_bans: reviewed::<UserBan>(namespace, model, model.ban_keys(), now),
            feature_blocks: reviewed::<FeatureBlock>(namespace, model, model.ban_keys(), now),
            appeals: appeal_objects.clone(),
            verdicts: verdicts.clone(),
            exemptions: exemption_objects.clone(),
            now,
            unpublished: Some((error.reason(), error.to_string())),
        }
    };
    if let Some(foreign) = publish::foreign(existing) {
        let conflict = Error::BlocklistConflict {
            namespace: namespace.to_string(),
            name: foreign.to_string(),
        };
        ctx.metrics
            .blocklist_conflict(namespace, conflict.configmap());
        StatusWorkers::submit(ctx, namespace, unpublished(&state.model, &conflict));
        return Err(conflict);
    }
    let rendering = Instant::now();
    let rendered = match state.model.render_dirty(now, ctx.shards) {
        Ok(rendered) => rendered,
        Err(too_large) => {
            let error = Error::BlocklistTooLarge {
                namespace: namespace.to_string(),
                shards: too_large.shards,
                bytes: too_large.bytes,
                limit: ctx.shards.max_bytes,
            };
            ctx.metrics.blocklist_too_large(namespace, true);
            StatusWorkers::submit(ctx, namespace, unpublished(&state.model, &error));
            return Err(error);
        }
    };
    ctx.metrics.blocklist_conflict(namespace, None);
    ctx.metrics.blocklist_too_large(namespace, false);

    let rendered_in = rendering.elapsed();
    let rendered_any = !rendered.is_empty();
    let rendered_count = rendered.len();
    let writing = Instant::now();
    for (shard, data) in &rendered {
        state
            .bytes
            .insert(shard.index, data.values().map(String::len).sum());
    }
    let results: Vec<(String, Result<bool, Error>)> = stream::iter(rendered)
        .map(|(shard, data)| {
            let name = ctx.shard_name(shard.index);
            let found = existing.get(&name).map(Arc::as_ref);
            async move {
                let fingerprint = publish::fingerprint(&data);
                let result =
                    publish::ensure_shard(ctx, namespace, &name, found, fingerprint, data).await;
                (name, result)
            }
        })
        .buffer_unordered(SHARD_WRITES_IN_FLIGHT)
        .collect()
        .await;
    let mut written = Vec::new();
    let mut failure = None;
    for (name, result) in results {
        match result {
            Ok(true) => written.push(name),
            Ok(false) => {}
            Err(error) => {
                failure.get_or_insert(error);
            }
        }
    }
    if let Some(error) = failure {
        // The retry pass sees no change in these bans: it must still write
        // their statuses (found by the fault suite: a ban whose pass failed
        // on a reset connection never got a status).
        ctx.status_workers
            .remember_failed(namespace, dirty.bans.clone());
        return Err(error);
    }
    if rebuild {
        tracing::info!(
            namespace,
            bans = state.model.ban_count(),
            read_ms = folded_in.as_millis() as u64,
            changes = folded,
            shards_rendered = rendered_count,
            render_ms = rendered_in.as_millis() as u64,
            write_ms = writing.elapsed().as_millis() as u64,
            "namespace model built from the watches"
        );
    }
    if rendered_any {
        state
            .bytes
            .retain(|index, _| *index < state.model.shard_count());
        ctx.metrics.blocklist_published(
            namespace,
            state.bytes.values().sum(),
            entry_counts(state.model.entries(), now),
        );
    }
    if ctx.nudge_pods && !written.is_empty() {
        let marker: Vec<u64> = vec![now.timestamp_millis() as u64];
        nudge::nudge(
            &ctx.client,
            namespace,
            &written,
            &nudge::content_hash(&marker),
        )
        .await;
    }

    // Statuses after the blocklist: Ready=True then means "readers can see it".
    let user_bans = reviewed::<UserBan>(namespace, &state.model, dirty.bans.iter(), now);
    let feature_blocks = reviewed::<FeatureBlock>(namespace, &state.model, dirty.bans.iter(), now);
    let work = StatusWork {
        user_bans,
        feature_blocks,
        appeals: appeal_objects,
        verdicts,
        exemptions: exemption_objects,
        now,
        unpublished: None,
    };
    let next = work.next_look(state.model.next_wake());
    StatusWorkers::submit(ctx, namespace, work);
    Ok(next)
}

/// An object not being deleted.
fn live<K: BanResource>(object: Option<Arc<K>>) -> Option<Arc<K>> {
    object.filter(|o| !finalizer::is_deleting(o.as_ref()))
}

fn merge(into: &mut Dirty, more: Dirty) {
    into.bans.extend(more.bans);
    into.shards = more.shards;
}

/// Whether ban `key`'s echo, as it is cached now, says nothing the model
/// does not know.
fn echo_says_nothing_new(
    ctx: &Context,
    namespace: &str,
    model: &NamespaceModel,
    key: &BanKey,
) -> bool {
    let view: Option<EchoView> = match changes::ban_kind(key.kind) {
        BanKind::UserBan => ctx.stores.user_bans.view(namespace, &key.name),
        BanKind::FeatureBlock => ctx.stores.feature_blocks.view(namespace, &key.name),
    };
    view.is_some_and(|view| model.echo_says_nothing_new(&view.facts(key.clone())))
}

/// What each changed ban is now, read from the watch cache: each one
/// unpacked, parsed and compiled (~5 µs). A first start or a re-list reads
/// every ban of the namespace, so past a few thousand the reading is shared
/// by every core: the API server, which has just served the list, is idle
/// until the shards are written.
fn read_changes(
    ctx: &Context,
    namespace: &str,
    keys: BTreeSet<BanKey>,
    lifts: &AppealLifts,
    now: DateTime<Utc>,
) -> Vec<Change> {
    let read = |key: &BanKey| match changes::ban_kind(key.kind) {
        BanKind::UserBan => ban_change(
            ctx.stores.user_bans.get(namespace, &key.name),
            key,
            lifts,
            ctx.email_key.as_ref(),
            now,
        ),
        BanKind::FeatureBlock => ban_change(
            ctx.stores.feature_blocks.get(namespace, &key.name),
            key,
            lifts,
            ctx.email_key.as_ref(),
            now,
        ),
    };
    let keys: Vec<BanKey> = keys.into_iter().collect();
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    if keys.len() < PARALLEL_READ_FROM || threads < 2 {
        return keys.iter().map(read).collect();
    }
    let chunk = keys.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let parts: Vec<_> = keys
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(read).collect::<Vec<_>>()))
            .collect();
        parts
            .into_iter()
            .flat_map(|part| part.join().expect("reading bans does not panic"))
            .collect()
    })
}

/// Changed bans from which [`read_changes`] shares the work among threads:
/// below, starting threads costs more than it saves.
const PARALLEL_READ_FROM: usize = 2_000;

fn ban_change<K: BanResource>(
    object: Option<Arc<K>>,
    key: &BanKey,
    lifts: &AppealLifts,
    email_key: Option<&crate::core::EmailKey>,
    now: DateTime<Utc>,
) -> Change {
    match object {
        Some(object) => Change::Ban(ingest::ban_facts(object.as_ref(), lifts, email_key, now)),
        None => Change::BanGone(key.clone()),
    }
}

/// The bans of kind `K` among `keys`, with their assessment from the model,
/// as the status worker takes them.
fn reviewed<'a, K: BanResource>(
    namespace: &str,
    model: &NamespaceModel,
    keys: impl Iterator<Item = &'a BanKey>,
    now: DateTime<Utc>,
) -> Vec<Reviewed<K>> {
    let kind: EntryKind = changes::entry_kind(K::KIND);
    keys.filter(|key| key.kind == kind)
        .filter_map(|key| {
            let facts = model.ban(key)?;
            let assessment = Assessment {
                compiled: facts.compiled.clone(),
                lifted: facts.lifted.as_deref().cloned(),
                exempted_by: model.exempted_by(key, now),
                review_at: facts.review_at,
            };
            Some(Reviewed::of_facts(namespace, facts, assessment))
        })
        .collect()
}
