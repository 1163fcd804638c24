//! From a watched ban to the facts the namespace model keeps of it.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use kube::ResourceExt;

use super::assess;
use super::ban::BanResource;
use super::changes::key;
use crate::api::BanKind;
use crate::core::EmailKey;
use crate::model::{BanFacts, BanKey, EchoFacts, Uid};

/// Lifts by approved appeals: (kind, name) → (when, `BanAppeal/<name>`).
pub type AppealLifts = HashMap<(BanKind, String), (DateTime<Utc>, String)>;

/// The model's record of one ban. Lifts are sticky: the status's, else
/// `spec.lift` (at `now`, when first seen), else an approved appeal's.
pub fn ban_facts<K: BanResource>(
    object: &K,
    appeal_lifts: &AppealLifts,
    email_key: Option<&EmailKey>,
    now: DateTime<Utc>,
) -> BanFacts {
    let compiled = Arc::new(object.compile(email_key));
    let status = object.ban_status();
    let lifted = status
        .and_then(|s| Some((s.lifted_at?, s.lifted_by.clone().unwrap_or_default())))
        .or_else(|| object.lift().map(|_| (now, "spec.lift".to_string())))
        .or_else(|| appeal_lifts.get(&(K::KIND, object.name_any())).cloned());
    let retry_at = first_retry(
        status
            .into_iter()
            .flat_map(|s| s.notifications.iter())
            .map(|r| (r.state.as_str(), r.next_attempt_at)),
    );
    BanFacts {
        key: key(K::KIND, &object.name_any()),
        uid: Uid::of(object.meta().uid.as_deref()),
        generation: object.meta().generation,
        review_at: assess::review_at(object.review_after(), &compiled),
        compiled,
        lifted: lifted.map(Box::new),
        deleting: object.meta().deletion_timestamp.is_some(),
        retry_at,
    }
}

/// When the first notification still pending is due to be tried again,
/// from each notification's state and next attempt.
fn first_retry<'a>(
    notifications: impl Iterator<Item = (&'a str, Option<DateTime<Utc>>)>,
) -> Option<DateTime<Utc>> {
    notifications
        .filter(|(state, _)| *state == "Pending")
        .filter_map(|(_, next)| next)
        .min()
}

/// A ban's metadata and status, read from the cache without its spec: what
/// an echo of this process's own write can have changed. Reading this and
/// comparing it with the model costs a fraction of reading and compiling
/// the ban, and after a burst every ban comes back once as an echo.
#[derive(serde::Deserialize)]
pub struct EchoView {
    metadata: EchoMetadata,
    #[serde(default)]
    status: Option<EchoStatus>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct EchoMetadata {
    #[serde(default)]
    uid: Option<String>,
    #[serde(default)]
    generation: Option<i64>,
    #[serde(default)]
    deletion_timestamp: Option<serde::de::IgnoredAny>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct EchoStatus {
    #[serde(default)]
    lifted_at: Option<DateTime<Utc>>,
    #[serde(default)]
    lifted_by: Option<String>,
    #[serde(default)]
    notifications: Vec<EchoNotification>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct EchoNotification {
    state: String,
    #[serde(default)]
    next_attempt_at: Option<DateTime<Utc>>,
}

impl EchoView {
    /// The facts as [`ban_facts`] reads them from metadata and status.
    pub fn facts(self, key: BanKey) -> EchoFacts {
        let status = self.status;
        let retry_at = first_retry(
            status
                .iter()
                .flat_map(|s| s.notifications.iter())
                .map(|r| (r.state.as_str(), r.next_attempt_at)),
        );
        let lifted = status
            .as_ref()
            .and_then(|s| Some((s.lifted_at?, s.lifted_by.clone().unwrap_or_default())));
        EchoFacts {
            key,
            uid: Uid::of(self.metadata.uid.as_deref()),
            generation: self.metadata.generation,
            lifted,
            deleting: self.metadata.deletion_timestamp.is_some(),
            retry_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::UserBan;
    use crate::core::entry::fixtures::at;

    fn ban(status: serde_json::Value, deleting: bool) -> UserBan {
        let mut metadata = serde_json::json!({
            "name": "b", "namespace": "ns", "uid": "u1", "resourceVersion": "42",
            "generation": 3, "creationTimestamp": "2026-01-01T00:00:00Z",
        });
        if deleting {
            metadata["deletionTimestamp"] = "2026-01-02T00:00:00Z".into();
            metadata["finalizers"] = serde_json::json!(["interdict.dev/record-deletion"]);
        }
        serde_json::from_value(serde_json::json!({
            "apiVersion": "interdict.dev/v1alpha1", "kind": "UserBan",
            "metadata": metadata,
            "spec": { "subject": { "userId": "1" }, "reason": { "code": "spam" }, "duration": "1h" },
            "status": status,
        }))
        .unwrap()
    }

    /// The echo view, read from the JSON the cache keeps, says what
    /// `ban_facts` says of the whole object.
    #[test]
    fn an_echo_view_reads_what_ban_facts_reads() {
        let notification = |state: &str, next: Option<&str>| {
            serde_json::json!({
                "key": "k", "event": "Applied", "sink": "webhook", "state": state,
                "occurredAt": "2026-01-01T00:00:00Z", "nextAttemptAt": next,
            })
        };
        let statuses = [
            serde_json::Value::Null,
            serde_json::json!({ "phase": "Active" }),
            serde_json::json!({
                "phase": "Lifted", "liftedAt": "2026-01-01T00:30:00Z", "liftedBy": "BanAppeal/a",
                "notifications": [
                    notification("Pending", Some("2026-01-01T00:05:00Z")),
                    notification("Pending", Some("2026-01-01T00:03:00Z")),
                    notification("Delivered", None),
                ],
            }),
        ];
        for status in statuses {
            for deleting in [false, true] {
                let object = ban(status.clone(), deleting);
                let facts = ban_facts(&object, &AppealLifts::new(), None, at(0));
                let json = serde_json::to_vec(&object).unwrap();
                let view: EchoView = serde_json::from_slice(&json).unwrap();
                let echo = view.facts(facts.key.clone());
                assert!(
                    echo.agrees_with(&facts),
                    "{status} deleting={deleting}: {echo:?}"
                );
            }
        }
        // A lift the status does not hold yet (spec.lift seen first) is news.
        let mut lifted = ban(serde_json::Value::Null, false);
        lifted.spec.lift = serde_json::from_value(serde_json::json!({ "reason": "x" })).unwrap();
        let facts = ban_facts(&lifted, &AppealLifts::new(), None, at(0));
        let json = serde_json::to_vec(&lifted).unwrap();
        let view: EchoView = serde_json::from_slice(&json).unwrap();
        assert!(!view.facts(facts.key.clone()).agrees_with(&facts));
    }
}
