//! A ban as the status worker takes it: which object, and what the pass made
//! of it; and the entry counts the metrics report.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::assess::Assessment;
use super::ban::BanResource;
use super::finalizer;
use super::metrics::ModePhase;
use super::notifications;
use super::sources::Stores;
use crate::core::Entry;
use crate::model::{BanFacts, Uid};

/// A changed ban handed to the status worker. It names the object rather
/// than holding it: the worker reads it from the watch cache when it gets to
/// it (a fresher copy anyway), so a first start with 100k bans to settle does
/// not hold 100k objects in memory while their statuses are written.
pub struct Reviewed<K> {
    pub namespace: String,
    pub name: String,
    /// Tells the object the pass saw from one deleted and created again since.
    uid: Option<Uid>,
    deleting: bool,
    /// When a pending notification of it is due again, as the pass saw it.
    pub retry_at: Option<DateTime<Utc>>,
    pub assessment: Assessment,
    kind: PhantomData<fn() -> K>,
}

impl<K: BanResource> Reviewed<K> {
    pub fn of_object(object: &K, assessment: Assessment) -> Self {
        let meta = object.meta();
        Reviewed {
            namespace: meta.namespace.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
            uid: Uid::of(meta.uid.as_deref()),
            deleting: finalizer::is_deleting(object),
            retry_at: notifications::next_attempt([object.ban_status()]),
            assessment,
            kind: PhantomData,
        }
    }

    pub fn of_facts(namespace: &str, facts: &BanFacts, assessment: Assessment) -> Self {
        Reviewed {
            namespace: namespace.to_string(),
            name: facts.key.name.clone(),
            uid: facts.uid,
            deleting: facts.deleting,
            retry_at: facts.retry_at,
            assessment,
            kind: PhantomData,
        }
    }

    /// Whether the ban was being deleted when the pass saw it.
    pub fn deleting(&self) -> bool {
        self.deleting
    }

    /// The object as the watches have it now; `None` when it is gone, or
    /// replaced by a new object of the same name (which has work of its own).
    pub fn load(&self, stores: &Stores) -> Option<Arc<K>> {
        K::store(stores)
            .get(&self.namespace, &self.name)
            .filter(|object| {
                self.uid.is_none() || Uid::of(object.meta().uid.as_deref()) == self.uid
            })
    }
}

pub fn entry_counts<'a>(
    entries: impl IntoIterator<Item = &'a Entry>,
    now: DateTime<Utc>,
) -> HashMap<ModePhase, i64> {
    let mut counts: HashMap<(Option<crate::core::Mode>, bool), i64> = HashMap::new();
    for entry in entries
        .into_iter()
        .filter(|e| e.until.is_none_or(|u| now < u))
    {
        *counts.entry((entry.mode, entry.in_force(now))).or_insert(0) += 1;
    }
    counts
        .into_iter()
        .map(|((mode, in_force), count)| {
            let mode = match mode {
                Some(mode) => format!("{mode:?}"),
                None => "FeatureBlock".to_string(),
            };
            let phase = if in_force { "Active" } else { "Scheduled" };
            let key = ModePhase {
                mode,
                phase: phase.to_string(),
            };
            (key, count)
        })
        .collect()
}
