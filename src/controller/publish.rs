//! Publishing a namespace's blocklist shard by shard. A shard is rendered only
//! when its fingerprint differs from the one this process last wrote or found
//! in place, or when someone else has changed its ConfigMap since: at 100k bans
//! a one-ban change renders one shard of 64, not 26 MiB of JSON. What is in
//! place is known by resourceVersion (the watch sees the ConfigMaps' metadata
//! only): a shard is read from the API server only when this process has not
//! written or read that version itself.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::ResourceExt;

use super::error::Error;
use super::{Context, FIELD_MANAGER, MANAGED_BY, MANAGED_BY_LABEL, blocklist};
use crate::core::Contents;
use crate::core::shard::{merge, plan};

/// What is known to be in a shard's ConfigMap.
#[derive(Clone, Copy)]
struct Known {
    fingerprint: u64,
    /// The ConfigMap's resourceVersion when it held that content.
    version: u64,
    bytes: usize,
}

/// By (namespace, ConfigMap name).
#[derive(Default)]
pub struct Published {
    shards: Mutex<HashMap<(String, String), Known>>,
}

pub struct Outcome {
    pub bytes: usize,
    pub written: bool,
    pub names: Vec<String>,
    pub fingerprints: Vec<u64>,
}

fn version(cm: &ConfigMap) -> Option<u64> {
    cm.resource_version()?.parse().ok()
}

impl Published {
    /// The shard's size when its ConfigMap already holds this content: the
    /// store shows the version this process knows (or, not caught up yet, an
    /// older one). A newer version is someone else's edit, to be checked.
    fn in_place(
        &self,
        namespace: &str,
        name: &str,
        fingerprint: u64,
        existing: Option<&ConfigMap>,
    ) -> Option<usize> {
        let stored = version(existing?)?;
        let shards = self.shards.lock().expect("published lock");
        let known = shards.get(&(namespace.to_string(), name.to_string()))?;
        (known.fingerprint == fingerprint && stored <= known.version).then_some(known.bytes)
    }

    /// Whether the shard's ConfigMap holds what this process last wrote or
    /// found there (whatever that content was): the store shows that version
    /// or, not caught up yet, an older one.
    fn ours_in_place(&self, namespace: &str, name: &str, existing: Option<&ConfigMap>) -> bool {
        let Some(stored) = existing.and_then(version) else {
            return false;
        };
        let shards = self.shards.lock().expect("published lock");
        shards
            .get(&(namespace.to_string(), name.to_string()))
            .is_some_and(|known| stored <= known.version)
    }

    fn remember(&self, namespace: &str, name: &str, known: Known) {
        self.shards
            .lock()
            .expect("published lock")
            .insert((namespace.to_string(), name.to_string()), known);
    }
}

/// Writes every shard whose content changed; doubles the shard count (never
/// past `--max-shards`) while a shard would pass the size limit.
pub async fn publish(
    ctx: &Context,
    namespace: &str,
    contents: Contents,
    existing: &HashMap<String, Arc<ConfigMap>>,
    now: DateTime<Utc>,
) -> Result<Outcome, Error> {
    if let Some(foreign) = foreign(existing) {
        return Err(Error::BlocklistConflict {
            namespace: namespace.to_string(),
            name: foreign.to_string(),
        });
    }
    let max_count = ctx.shards.max_count.max(1);
    // The shard count never shrinks on its own, so assignments stay stable.
    let mut count = (0..max_count)
        .rev()
        .find(|i| existing.contains_key(&ctx.shard_name(*i)))
        .map_or(1, |i| i + 1);
    let mut contents = contents;
    let (plans, rendered) = loop {
        let plans = plan(namespace, contents, now, count);
        let rendered: Vec<Rendered> = plans
            .iter()
            .map(|p| {
                let name = ctx.shard_name(p.shard.index);
                let existing = existing.get(&name).map(Arc::as_ref);
                match ctx
                    .published
                    .in_place(namespace, &name, p.fingerprint, existing)
                {
                    Some(bytes) => Rendered::InPlace(bytes),
                    None => Rendered::Data(p.render(namespace, now)),
                }
            })
            .collect();
        let fits = rendered.iter().all(|r| r.bytes() <= ctx.shards.max_bytes);
        if fits || count >= max_count {
            break (plans, rendered);
        }
        contents = merge(plans);
        count = (count * 2).min(max_count);
    };
    if let Some(largest) = rendered
        .iter()
        .map(Rendered::bytes)
        .max()
        .filter(|largest| *largest > ctx.shards.max_bytes)
    {
        // Writing it would publish an oversized ConfigMap (refused past 1 MiB)
        // or drop entries: neither, the operator says so instead.
        return Err(Error::BlocklistTooLarge {
            namespace: namespace.to_string(),
            shards: max_count,
            bytes: largest,
            limit: ctx.shards.max_bytes,
        });
    }
    let mut outcome = Outcome {
        bytes: 0,
        written: false,
        names: Vec::new(),
        fingerprints: Vec::new(),
    };
    for (plan, rendered) in plans.iter().zip(rendered) {
        let name = ctx.shard_name(plan.shard.index);
        let size = rendered.bytes();
        outcome.bytes += size;
        outcome.names.push(name.clone());
        outcome.fingerprints.push(plan.fingerprint);
        let Rendered::Data(data) = rendered else {
            continue;
        };
        let found = existing.get(&name).map(Arc::as_ref);
        outcome.written |=
            ensure_shard(ctx, namespace, &name, found, plan.fingerprint, data).await?;
    }
    Ok(outcome)
}

/// A digest of a rendered shard, for [`ensure_shard`]: the memo it keys
/// lives as long as the process, so the std hasher's algorithm is stable
/// enough, and it is never compared with anything written by someone else.
pub fn fingerprint(data: &BTreeMap<String, String>) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    data.hash(&mut hasher);
    hasher.finish()
}

/// Writes one rendered shard (`fingerprint` names its content) unless its
/// ConfigMap holds it already, and remembers what is in place. Returns
/// whether it wrote. A ConfigMap that holds this process's last write is
/// written without being read; one it has not written since it started, or
/// that someone else changed since, is read and compared first.
pub async fn ensure_shard(
    ctx: &Context,
    namespace: &str,
    name: &str,
    found: Option<&ConfigMap>,
    fingerprint: u64,
    data: BTreeMap<String, String>,
) -> Result<bool, Error> {
    let published = &ctx.published;
    if published
        .in_place(namespace, name, fingerprint, found)
        .is_some()
    {
        return Ok(false);
    }
    let bytes = data.values().map(String::len).sum();
    let ours = published.ours_in_place(namespace, name, found);
    let ensured = blocklist::ensure(ctx, namespace, name, found, ours, data).await?;
    if let Some(version) = ensured.version {
        let known = Known {
            fingerprint,
            version,
            bytes,
        };
        published.remember(namespace, name, known);
    }
    Ok(ensured.written)
}

/// A ConfigMap with one of the blocklist's names that the operator did not
/// make: it carries neither our managed-by label nor a server-side-apply entry
/// of our field manager (which survives someone editing the label away, so
/// that edit is repaired). An application's own data, never to be
/// overwritten. The first by name, so the report is stable.
pub(super) fn foreign(existing: &HashMap<String, Arc<ConfigMap>>) -> Option<&str> {
    existing
        .iter()
        .filter(|(_, cm)| !is_ours(cm))
        .map(|(name, _)| name.as_str())
        .min()
}

fn is_ours(cm: &ConfigMap) -> bool {
    let labelled = cm.labels().get(MANAGED_BY_LABEL).map(String::as_str) == Some(MANAGED_BY);
    let applied = cm.managed_fields().iter().any(|f| {
        f.manager.as_deref() == Some(FIELD_MANAGER) && f.operation.as_deref() == Some("Apply")
    });
    labelled || applied
}

enum Rendered {
    InPlace(usize),
    Data(std::collections::BTreeMap<String, String>),
}

impl Rendered {
    fn bytes(&self) -> usize {
        match self {
            Rendered::InPlace(bytes) => *bytes,
            Rendered::Data(data) => data.values().map(String::len).sum(),
        }
    }
}
