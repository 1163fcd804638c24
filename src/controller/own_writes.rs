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
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::de::DeserializeOwned;

use super::queue::Queue;

/// Whose write a watch event shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    /// Someone else's (or not known to be this process's).
    Foreign,
    /// Exactly a version this process wrote: it knows what it holds.
    Own,
    /// A version seen while this process's write to the object was in
    /// flight: which write it is is known only when that write returns.
    DuringWrite,
}

pub struct OwnWrites {
    /// By uid: the resourceVersion the status was written at, and the status.
    statuses: Mutex<HashMap<String, (u64, serde_json::Value)>>,
    /// By object (kind/namespace/name): writes in flight and versions written.
    writes: Mutex<HashMap<String, Writes>>,
    /// Where a withheld event turns into a pass after all.
    queue: Arc<Queue>,
    debounce: Duration,
}

#[derive(Default)]
struct Writes {
    in_flight: u32,
    /// Versions this process wrote that the watch has not shown yet.
    own: Vec<u64>,
    /// Versions the watch showed while a write was in flight: whether they
    /// are echoes is known only once the write has returned its version.
    withheld: Vec<u64>,
}

/// The key of an object for [`OwnWrites`]: what a watch event and a write both know.
pub fn key<K: Resource<DynamicType = ()>>(namespace: &str, name: &str) -> String {
    format!("{}/{namespace}/{name}", K::kind(&()))
}

/// etcd's resourceVersions are increasing integers. When one is not (another
/// storage), it never matches: own copies are kept and echoes trigger passes,
/// which is the safe side.
fn parse(version: Option<&str>) -> Option<u64> {
    version?.parse().ok()
}

fn version(meta: &ObjectMeta) -> Option<(&str, u64)> {
    let uid = meta.uid.as_deref()?;
    Some((uid, parse(meta.resource_version.as_deref())?))
}

/// Marks a write in flight until [`Write::done`] (or, when the write is
/// dropped half-way, until the guard is).
pub struct Write<'a> {
    own: &'a OwnWrites,
    key: String,
    namespace: String,
    finished: bool,
}

impl Write<'_> {
    /// The write returned this object (or failed, `None`). Returns whether
    /// the watch had already shown the written version.
    pub fn done(mut self, written: Option<&ObjectMeta>) -> bool {
        self.finished = true;
        let version = written.and_then(|m| parse(m.resource_version.as_deref()));
        self.own.finish(&self.key, &self.namespace, version)
    }
}

impl Drop for Write<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.own.finish(&self.key, &self.namespace, None);
        }
    }
}

impl OwnWrites {
    pub fn new(queue: Arc<Queue>, debounce: Duration) -> Self {
        OwnWrites {
            statuses: Mutex::default(),
            writes: Mutex::default(),
            queue,
            debounce,
        }
    }

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
        if let Some((uid, written)) = version(meta) {
            self.statuses
                .lock()
                .expect("own writes lock")
                .insert(uid.to_string(), (written, status));
        }
    }

    pub fn forget_status(&self, meta: &ObjectMeta) {
        if let Some(uid) = &meta.uid {
            self.statuses.lock().expect("own writes lock").remove(uid);
        }
    }

    pub fn begin(&self, key: String, namespace: &str) -> Write<'_> {
        self.writes
            .lock()
            .expect("own writes lock")
            .entry(key.clone())
            .or_default()
            .in_flight += 1;
        Write {
            own: self,
            key,
            namespace: namespace.to_string(),
            finished: false,
        }
    }

    fn finish(&self, key: &str, namespace: &str, written: Option<u64>) -> bool {
        let mut writes = self.writes.lock().expect("own writes lock");
        let Some(entry) = writes.get_mut(key) else {
            return false;
        };
        entry.in_flight = entry.in_flight.saturating_sub(1);
        entry.own.extend(written);
        let seen = written.is_some_and(|v| entry.withheld.contains(&v));
        if entry.in_flight > 0 {
            return seen;
        }
        let withheld = std::mem::take(&mut entry.withheld);
        let foreign = withheld.iter().any(|v| !entry.own.contains(v));
        if let Some(newest) = withheld.iter().max() {
            entry.own.retain(|v| v > newest);
        }
        if entry.own.is_empty() {
            writes.remove(key);
        }
        drop(writes);
        if foreign {
            self.queue.schedule_change(namespace, self.debounce);
        }
        seen
    }

    /// Whose write a watch event for the object at `key` shows: exactly a
    /// version this process wrote, or one seen while a write to the object is
    /// in flight (then [`Write::done`] decides, and schedules a pass if it
    /// was someone else's). Neither asks for a pass. Versions the watch has
    /// passed are forgotten, so the record stays as small as the writes in
    /// flight.
    pub fn seen(&self, key: &str, meta: &ObjectMeta) -> Seen {
        let Some(seen) = parse(meta.resource_version.as_deref()) else {
            return Seen::Foreign;
        };
        let mut writes = self.writes.lock().expect("own writes lock");
        let Some(entry) = writes.get_mut(key) else {
            return Seen::Foreign;
        };
        if entry.in_flight > 0 {
            entry.withheld.push(seen);
            return Seen::DuringWrite;
        }
        let echo = entry.own.contains(&seen);
        entry.own.retain(|v| *v > seen);
        if entry.own.is_empty() {
            writes.remove(key);
        }
        if echo { Seen::Own } else { Seen::Foreign }
    }

    /// The object is gone: nothing of it needs remembering but writes in flight.
    pub fn forget(&self, key: &str, meta: &ObjectMeta) {
        self.forget_status(meta);
        let mut writes = self.writes.lock().expect("own writes lock");
        if writes.get(key).is_some_and(|w| w.in_flight == 0) {
            writes.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{BanStatus, Phase, UserBan};

    /// Whether an event asks for no pass.
    fn is_echo(own: &OwnWrites, key: &str, meta: &ObjectMeta) -> bool {
        own.seen(key, meta) != Seen::Foreign
    }

    fn ban(version: &str, phase: Option<Phase>) -> UserBan {
        let mut ban: UserBan = serde_json::from_value(serde_json::json!({
            "apiVersion": "interdict.dev/v1alpha1", "kind": "UserBan",
            "metadata": { "name": "b", "namespace": "ns", "uid": "u1", "resourceVersion": version },
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

    fn own() -> OwnWrites {
        OwnWrites::new(Arc::new(Queue::default()), Duration::ZERO)
    }

    fn wrote(own: &OwnWrites, version: &str) {
        own.begin("k".into(), "ns")
            .done(Some(&ban(version, None).metadata));
    }

    fn queued(own: &OwnWrites) -> bool {
        own.queue.has_due("ns")
    }

    #[test]
    fn own_status_wins_until_the_watch_catches_up() {
        let own = own();
        own.remember_status(
            &ban("20", None).metadata,
            serde_json::to_value(active()).unwrap(),
        );
        let stale = ban("19", None);
        assert_eq!(own.latest(&stale, stale.status.as_ref()), Some(active()));
        own.catch_up(&ban("20", Some(Phase::Active)).metadata);
        // Forgotten once caught up: a later stale copy is not second-guessed.
        let later = ban("25", Some(Phase::Expired));
        assert_eq!(
            own.latest(&later, later.status.as_ref()),
            later.status.clone()
        );
    }

    #[test]
    fn only_exact_own_versions_are_echoes() {
        let own = own();
        wrote(&own, "10");
        wrote(&own, "11");
        let seen = |v: &str| is_echo(&own, "k", &ban(v, None).metadata);
        assert!(seen("10"), "finalizer write");
        assert!(!seen("9"), "older, not ours");
        assert!(seen("11"), "status write");
        assert!(!seen("11"), "an echo counts once");
        wrote(&own, "30");
        assert!(!seen("31"), "someone else's write after ours");
        assert!(
            own.writes.lock().unwrap().is_empty(),
            "passed versions are forgotten"
        );
    }

    #[test]
    fn events_during_a_write_wait_for_its_version() {
        let own = own();
        let write = own.begin("k".into(), "ns");
        assert!(is_echo(&own, "k", &ban("40", None).metadata), "withheld");
        assert!(write.done(Some(&ban("40", None).metadata)), "already seen");
        assert!(!queued(&own), "it was the echo");

        let write = own.begin("k".into(), "ns");
        assert!(is_echo(&own, "k", &ban("41", None).metadata), "withheld");
        assert!(!write.done(Some(&ban("42", None).metadata)));
        assert!(queued(&own), "someone else wrote 41: a pass after all");
        assert!(is_echo(&own, "k", &ban("42", None).metadata));

        let write = own.begin("k".into(), "other");
        assert!(is_echo(&own, "k", &ban("50", None).metadata));
        drop(write);
        assert!(
            own.queue.has_due("other"),
            "a failed write explains nothing"
        );
    }
}
