//! When to look at a namespace again: at its next scheduled change, or after
//! a failure, with backoff.

use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::ObjectReference;
use tokio::time::Instant;

use super::error::Error;
use super::{Context, record};

/// Far-future transitions are re-armed at least this often, which also bounds
/// the effect of a wall-clock jump.
const MAX_SLEEP: Duration = Duration::from_secs(3600);
const MAX_BACKOFF: Duration = Duration::from_secs(300);

pub fn instant_at(at: DateTime<Utc>) -> Instant {
    let wait = (at - Utc::now()).to_std().unwrap_or(Duration::ZERO);
    Instant::now() + wait.min(MAX_SLEEP)
}

impl Context {
    pub fn forget_failures(&self, key: &str) {
        self.failures.lock().expect("failures lock").remove(key);
    }
}

/// When to retry after a failure: exponential backoff per `key` (a namespace,
/// or a namespace's statuses), reported once per failure as a Warning Event on
/// the blocklist. Failures never stop the controller or other namespaces.
pub async fn after_failure(ctx: &Context, namespace: &str, key: &str, error: Error) -> Instant {
    let attempt = {
        let mut failures = ctx.failures.lock().expect("failures lock");
        let count = failures.entry(key.to_string()).or_insert(0);
        *count += 1;
        *count
    };
    let backoff =
        Duration::from_millis(500 * 2u64.saturating_pow(attempt.min(20))).min(MAX_BACKOFF);
    tracing::warn!(namespace, attempt, retry_in = ?backoff, "reconcile failed: {error}");
    let blocklist = ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("ConfigMap".into()),
        name: Some(
            error
                .configmap()
                .map_or_else(|| ctx.blocklist_name.clone(), str::to_string),
        ),
        namespace: Some(namespace.to_string()),
        ..ObjectReference::default()
    };
    let note = record::truncate(&error.to_string(), 1000);
    if let Err(e) = ctx
        .events
        .publish(&blocklist, true, error.reason(), &note, None)
        .await
    {
        tracing::warn!(namespace, error = %e, "cannot publish Warning Event");
    }
    Instant::now() + backoff
}
