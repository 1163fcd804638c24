//! Writing a status: server-side apply on the status subresource, one field
//! manager, and "the object is gone" as a non-event.

use std::collections::HashMap;
use std::sync::Mutex;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::{Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::blocklist::FIELD_MANAGER;
use super::error::Error;

/// The statuses this process wrote, until the watch brings them back. A pass
/// that runs before its own write returns through the watch must not take the
/// stale copy for the truth: it would record a transition (and send its
/// notification) twice.
#[derive(Default)]
pub struct Written {
    statuses: Mutex<HashMap<String, (String, serde_json::Value)>>,
}

/// etcd's resourceVersions are increasing integers; when one is not (another
/// storage), the copy this process wrote is kept, which is the safe side.
fn at_least(stored: &str, written: &str) -> bool {
    matches!((stored.parse::<u64>(), written.parse::<u64>()), (Ok(s), Ok(w)) if s >= w)
}

impl Written {
    /// The status as it is now: the stored one, unless this process wrote a
    /// newer one the store has not seen yet.
    pub fn latest<K, S>(&self, object: &K, stored: Option<&S>) -> Option<S>
    where
        K: Resource,
        S: DeserializeOwned + Clone,
    {
        let uid = object.meta().uid.clone().unwrap_or_default();
        let stored_version = object.meta().resource_version.clone().unwrap_or_default();
        let mut statuses = self.statuses.lock().expect("written lock");
        match statuses.get(&uid) {
            Some((written, _)) if at_least(&stored_version, written) => {
                statuses.remove(&uid);
                stored.cloned()
            }
            Some((_, status)) => serde_json::from_value(status.clone())
                .ok()
                .or_else(|| stored.cloned()),
            None => stored.cloned(),
        }
    }

    /// Drops this process's copy once the store has caught up with it, without
    /// reading it: for bans the pass skips, whose copies would otherwise stay.
    pub fn catch_up<K: Resource>(&self, object: &K) {
        let meta = object.meta();
        let (Some(uid), Some(stored)) = (&meta.uid, &meta.resource_version) else {
            return;
        };
        let mut statuses = self.statuses.lock().expect("written lock");
        if statuses
            .get(uid)
            .is_some_and(|(written, _)| at_least(stored, written))
        {
            statuses.remove(uid);
        }
    }

    fn remember(&self, uid: String, version: String, status: serde_json::Value) {
        self.statuses
            .lock()
            .expect("written lock")
            .insert(uid, (version, status));
    }

    pub fn forget<K: Resource>(&self, object: &K) {
        if let Some(uid) = &object.meta().uid {
            self.statuses.lock().expect("written lock").remove(uid);
        }
    }
}

/// Returns whether the object still existed.
pub async fn apply_status<K>(
    written: &Written,
    api: &Api<K>,
    object: &K,
    status: &impl Serialize,
) -> Result<bool, Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    let name = object.name_any();
    let patch =
        json!({ "apiVersion": K::api_version(&()), "kind": K::kind(&()), "status": status });
    match api
        .patch_status(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await
    {
        Ok(updated) => {
            let uid = updated.meta().uid.clone().unwrap_or_default();
            let version = updated.meta().resource_version.clone().unwrap_or_default();
            written.remember(
                uid,
                version,
                serde_json::to_value(status).unwrap_or_default(),
            );
            Ok(true)
        }
        // Deleted since the store saw it: nothing left to describe.
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
        Err(source) => Err(Error::WriteStatus {
            kind: K::kind(&()).to_string(),
            namespace: object.namespace().unwrap_or_default(),
            name,
            source,
        }),
    }
}

/// A `Ready` condition whose `lastTransitionTime` moves only when its status flips.
pub fn ready(
    previous: Option<&Condition>,
    ok: bool,
    reason: &str,
    message: String,
    generation: Option<i64>,
) -> Condition {
    let status = if ok { "True" } else { "False" };
    Condition {
        type_: "Ready".into(),
        status: status.into(),
        reason: reason.into(),
        message,
        observed_generation: generation,
        last_transition_time: previous
            .filter(|c| c.status == status)
            .map(|c| c.last_transition_time.clone())
            .unwrap_or_else(|| Time(k8s_openapi::jiff::Timestamp::now())),
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

    #[test]
    fn own_writes_win_until_the_store_catches_up() {
        let written = Written::default();
        let written_status = BanStatus {
            phase: Some(Phase::Active),
            ..Default::default()
        };
        written.remember(
            "u1".into(),
            "20".into(),
            serde_json::to_value(&written_status).unwrap(),
        );
        let stale = ban("19", None);
        assert_eq!(
            written.latest(&stale, stale.status.as_ref()),
            Some(written_status.clone())
        );
        let caught_up = ban("20", Some(Phase::Active));
        assert_eq!(
            written.latest(&caught_up, caught_up.status.as_ref()),
            caught_up.status.clone()
        );
        written.remember(
            "u1".into(),
            "30".into(),
            serde_json::to_value(&written_status).unwrap(),
        );
        written.catch_up(&ban("29", None));
        assert_eq!(
            written.latest(&stale, stale.status.as_ref()),
            Some(written_status.clone()),
            "not caught up yet"
        );
        written.catch_up(&ban("30", None));
        // Forgotten once caught up: a later stale copy is not second-guessed.
        let later = ban("25", Some(Phase::Expired));
        assert_eq!(
            written.latest(&later, later.status.as_ref()),
            later.status.clone()
        );
    }
}
