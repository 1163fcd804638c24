//! From the watches to the namespace model: which objects changed since a
//! namespace's last pass, and the facts the model keeps of a ban.
//!
//! The watch feeder records every change here (its own writes' echoes too:
//! they carry the status the model reads, such as a notification's retry
//! time); the pass takes a namespace's changes and folds only those objects
//! into its model.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use kube::ResourceExt;

use super::assess;
use super::ban::BanResource;
use crate::api::BanKind;
use crate::core::EntryKind;
use crate::model::{BanFacts, BanKey};

/// What changed in one namespace since its last pass.
#[derive(Default, Debug)]
pub struct Pending {
    pub bans: BTreeSet<BanKey>,
    pub exemptions: BTreeSet<String>,
    pub appeals: bool,
    pub blocklists: bool,
    /// Rebuild the model from the stores: after a re-list, or on first sight.
    pub everything: bool,
}

#[derive(Default)]
pub struct Changes {
    pending: Mutex<HashMap<String, Pending>>,
}

impl Changes {
    fn with(&self, namespace: &str, change: impl FnOnce(&mut Pending)) {
        let mut pending = self.pending.lock().expect("changes lock");
        change(pending.entry(namespace.to_string()).or_default());
    }

    /// Records that object `name` of kind `kind` changed in `namespace`.
    pub fn object(&self, kind: &str, namespace: &str, name: &str) {
        self.with(namespace, |p| match kind {
            "UserBan" => {
                p.bans.insert(key(BanKind::UserBan, name));
            }
            "FeatureBlock" => {
                p.bans.insert(key(BanKind::FeatureBlock, name));
            }
            "BanExemption" => {
                p.exemptions.insert(name.to_string());
            }
            "BanAppeal" => p.appeals = true,
            "ConfigMap" => p.blocklists = true,
            _ => p.everything = true,
        });
    }

    pub fn everything(&self, namespace: &str) {
        self.with(namespace, |p| p.everything = true);
    }

    pub fn take(&self, namespace: &str) -> Pending {
        self.pending
            .lock()
            .expect("changes lock")
            .remove(namespace)
            .unwrap_or_default()
    }
}

pub fn entry_kind(kind: BanKind) -> EntryKind {
    match kind {
        BanKind::UserBan => EntryKind::UserBan,
        BanKind::FeatureBlock => EntryKind::FeatureBlock,
    }
}

pub fn ban_kind(kind: EntryKind) -> BanKind {
    match kind {
        EntryKind::UserBan => BanKind::UserBan,
        EntryKind::FeatureBlock => BanKind::FeatureBlock,
    }
}

pub fn key(kind: BanKind, name: &str) -> BanKey {
    BanKey {
        kind: entry_kind(kind),
        name: name.to_string(),
    }
}

/// Lifts by approved appeals: (kind, name) → (when, `BanAppeal/<name>`).
pub type AppealLifts = HashMap<(BanKind, String), (DateTime<Utc>, String)>;

/// The model's record of one ban. Lifts are sticky: the status's, else
/// `spec.lift` (at `now`, when first seen), else an approved appeal's.
pub fn ban_facts<K: BanResource>(
    object: &K,
    appeal_lifts: &AppealLifts,
    now: DateTime<Utc>,
) -> BanFacts {
    let compiled = Arc::new(object.compile());
    let status = object.ban_status();
    let lifted = status
        .and_then(|s| Some((s.lifted_at?, s.lifted_by.clone().unwrap_or_default())))
        .or_else(|| object.lift().map(|_| (now, "spec.lift".to_string())))
        .or_else(|| appeal_lifts.get(&(K::KIND, object.name_any())).cloned());
    let retry_at = status
        .into_iter()
        .flat_map(|s| s.notifications.iter())
        .filter(|r| r.state == "Pending")
        .filter_map(|r| r.next_attempt_at)
        .min();
    BanFacts {
        key: key(K::KIND, &object.name_any()),
        uid: object.uid().unwrap_or_default(),
        resource_version: object.resource_version().and_then(|v| v.parse().ok()),
        generation: object.meta().generation,
        review_at: assess::review_at(object.review_after(), &compiled),
        compiled,
        lifted_at: lifted.as_ref().map(|(at, _)| *at),
        lifted_by: lifted.map(|(_, by)| by),
        deleting: object.meta().deletion_timestamp.is_some(),
        retry_at,
    }
}
