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
use crate::model::BanFacts;

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
