//! What this process wrote, until the watches bring it back.
//!
//! Statuses: a pass (or status worker) that runs before its own write returns
//! through the watch must not take the stale copy for the truth, or it would
//! record a transition (and send its notification) twice.
//!
//! Versions: a watch event that only echoes this process's own write (a status,
//! a finalizer, a blocklist ConfigMap) asks for no new pass, since the writer
//! already knew the result. At 100k bans every echo would otherwise cost an
//! O(n) pass.

use std::collections::HashMap;
use std::sync::Mutex;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::de::DeserializeOwned;

#[derive(Default)]
pub struct OwnWrites {
    /// By uid: the resourceVersion the status was written at, and the status.
    statuses: Mutex<HashMap<String, (u64, serde_json::Value)>>,
    /// By uid: resourceVersions this process produced and the watch has not shown yet.
    versions: Mutex<HashMap<String, Vec<u64>>>,
}

/// etcd's resourceVersions are increasing integers. When one is not (another
/// storage), it never matches: own copies are kept and echoes trigger passes,
/// which is the safe side.
fn version(meta: &ObjectMeta) -> Option<(&str, u64)> {
    let uid = meta.uid.as_deref()?;
    let version = meta.resource_version.as_deref()?.parse().ok()?;
    Some((uid, version))
}

impl OwnWrites {
    /// The status as it is now: the stored one, unless this process wrote a
    /// newer one the store has not seen yet.
    pub fn latest<K, S>(&self, object: &K, stored: Option<&S>) -> Option<S>
    where
        K: Resource,
        S: DeserializeOwned + Clone,
    {
        self.catch_up(object.meta());
        let uid = object.meta().uid.as_deref().unwrap_or_default();
        let statuses = self.statuses.lock().expect("own writes lock");
        match statuses.get(uid) {
            Some((_, status)) => serde_json::from_value(status.clone())
                .ok()
                .or_else(|| stored.cloned()),
            None => stored.cloned(),
        }
    }

    /// Drops the copy of a status once the watch has delivered it (or
    /// something newer). Called for every watch event, so copies live only as
    /// long as their write is in flight.
    pub fn catch_up(&self, meta: &ObjectMeta) {
        let Some((uid, stored)) = version(meta) else {
            return;
        };
        let mut statuses = self.statuses.lock().expect("own writes lock");
        if statuses
            .get(uid)
            .is_some_and(|(written, _)| stored >= *written)
        {
            statuses.remove(uid);
        }
    }

    pub fn remember_status(&self, meta: &ObjectMeta, status: serde_json::Value) {
        self.remember_version(meta);
        if let Some((uid, written)) = version(meta) {
            self.statuses
                .lock()
                .expect("own writes lock")
                .insert(uid.to_string(), (written, status));
        }
    }

    pub fn remember_version(&self, meta: &ObjectMeta) {
        if let Some((uid, written)) = version(meta) {
            let mut versions = self.versions.lock().expect("own writes lock");
            let known = versions.entry(uid.to_string()).or_default();
            if !known.contains(&written) {
                known.push(written);
            }
        }
    }

    /// Whether a watched object is exactly a version this process wrote.
    /// Versions the watch has passed are forgotten either way, so the record
    /// stays as small as the writes in flight.
    pub fn is_echo(&self, meta: &ObjectMeta) -> bool {
        let Some((uid, seen)) = version(meta) else {
            return false;
        };
        let mut versions = self.versions.lock().expect("own writes lock");
        let Some(known) = versions.get_mut(uid) else {
            return false;
        };
        let echo = known.contains(&seen);
        known.retain(|v| *v > seen);
        if known.is_empty() {
            versions.remove(uid);
        }
        echo
    }

    /// The object is gone: nothing of it needs remembering.
    pub fn forget(&self, meta: &ObjectMeta) {
        if let Some(uid) = &meta.uid {
            self.statuses.lock().expect("own writes lock").remove(uid);
            self.versions.lock().expect("own writes lock").remove(uid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{BanStatus, Phase, UserBan};

    fn ban(version: &str, phase: Option<Phase>) -> UserBan {
        let mut ban: UserBan = serde_json::from_value(serde_json::json!({
            "apiVersion": "interdict.dev/v1alpha1", "kind": "UserBan",
            "metadata": { "name": "b", "uid": "u1", "resourceVersion": version },
            "spec": { "subject": { "userId": "1" }, "reason": { "code": "spam" } }
        }))
        .unwrap();
        ban.status = phase.map(|phase| BanStatus {
            phase: Some(phase),
            ..Default::default()
        });
        ban
    }

    fn active() -> BanStatus {
        BanStatus {
            phase: Some(Phase::Active),
            ..Default::default()
        }
    }

    #[test]
    fn own_status_wins_until_the_watch_catches_up() {
        let own = OwnWrites::default();
        own.remember_status(
            &ban("20", None).metadata,
            serde_json::to_value(active()).unwrap(),
        );
        let stale = ban("19", None);
        assert_eq!(own.latest(&stale, stale.status.as_ref()), Some(active()));
        let caught_up = ban("20", Some(Phase::Active));
        own.catch_up(&caught_up.metadata);
        // Forgotten once caught up: a later stale copy is not second-guessed.
        let later = ban("25", Some(Phase::Expired));
        assert_eq!(
            own.latest(&later, later.status.as_ref()),
            later.status.clone()
        );
    }

    #[test]
    fn only_exact_own_versions_are_echoes() {
        let own = OwnWrites::default();
        own.remember_version(&ban("10", None).metadata);
        own.remember_version(&ban("11", None).metadata);
        assert!(own.is_echo(&ban("10", None).metadata), "finalizer write");
        assert!(!own.is_echo(&ban("9", None).metadata), "older, not ours");
        assert!(own.is_echo(&ban("11", None).metadata), "status write");
        assert!(
            !own.is_echo(&ban("11", None).metadata),
            "an echo counts once"
        );
        own.remember_version(&ban("30", None).metadata);
        assert!(
            !own.is_echo(&ban("31", None).metadata),
            "someone else's write after ours"
        );
        assert!(
            own.versions.lock().unwrap().is_empty(),
            "passed versions are forgotten"
        );
    }
}
