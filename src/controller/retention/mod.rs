//! Retention: ended bans, decided appeals and ended exemptions are deleted
//! once their period (`--retention`, or the object's `interdict.dev/retention`
//! annotation) has passed since they ended, each with a final Event and audit
//! line first. `interdict.dev/legal-hold: "true"` keeps an object. The rules
//! are in `plan`; this file reads the watch caches and deletes.
//!
//! Leader only, like every write. A sweep looks at every object of the served
//! namespaces (in memory) and sleeps until the next one falls due, at most a
//! minute, so a period of seconds is honoured and a ban lifted meanwhile is
//! seen in time.

mod plan;

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use kube::api::{DeleteParams, Preconditions};
use kube::{Api, Resource, ResourceExt};

pub use plan::Policy;
use plan::{Record, Verdict, period, verdict};

use super::Context;
use super::finalizer::{Recorded, is_deleting};
use super::record::{Happening, record, transition_id};
use super::sources::ScopedStores;
use crate::api::{AppealPhase, BanAppeal, BanKind, BanStatus, Phase};
use crate::core::duration::format_duration;

/// Longest sleep between sweeps: a ban lifted while sleeping ends no earlier
/// than now, so with any period it falls due after the next sweep.
const MAX_SLEEP: StdDuration = StdDuration::from_secs(60);

/// Runs sweeps until the task is aborted (on losing the lease or stopping).
pub async fn run(ctx: Arc<Context>, policy: Policy) {
    loop {
        let now = Utc::now();
        let next = sweep(&ctx, policy, now).await;
        let sleep = next
            .and_then(|at| (at - Utc::now()).to_std().ok())
            .map_or(MAX_SLEEP, |d| d.min(MAX_SLEEP))
            .max(StdDuration::from_millis(200));
        tokio::time::sleep(sleep).await;
    }
}

/// Deletes what is due; returns when to look next.
async fn sweep(ctx: &Context, policy: Policy, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let stores = &ctx.stores;
    let mut next: Option<DateTime<Utc>> = None;
    let mut later = |at: DateTime<Utc>| next = Some(next.map_or(at, |n| n.min(at)));
    for namespace in stores.all_namespaces() {
        // Only an ended ban (its status says Expired or Lifted) can be due:
        // the rest are not read back from the cache at all.
        for ban in ended(&stores.user_bans, &namespace) {
            let kept = revocation_window(ctx, ban.spec.revokes_sessions(), ban.status.as_ref());
            let record = ban_record(ban.as_ref(), ban.status.as_ref(), kept);
            consider(ctx, ban.as_ref(), record, policy, now, &mut later).await;
        }
        for block in ended(&stores.feature_blocks, &namespace) {
            let record = ban_record(block.as_ref(), block.status.as_ref(), None);
            consider(ctx, block.as_ref(), record, policy, now, &mut later).await;
        }
        for appeal in stores.appeals.in_namespace(&namespace) {
            let ban = &appeal.spec.ban_ref;
            let ban_exists = match ban.kind {
                BanKind::UserBan => stores.user_bans.contains(&namespace, &ban.name),
                BanKind::FeatureBlock => stores.feature_blocks.contains(&namespace, &ban.name),
            };
            let record = Record {
                ended_at: appeal_ended(&appeal),
                annotations: Some(appeal.annotations()),
                depended_on: ban_exists,
                kept_until: None,
            };
            consider(ctx, appeal.as_ref(), record, policy, now, &mut later).await;
        }
        for exemption in stores.exemptions.in_namespace(&namespace) {
            let record = Record {
                ended_at: exemption.spec.expires_at.filter(|end| *end <= now),
                annotations: Some(exemption.annotations()),
                depended_on: false,
                kept_until: None,
            };
            // Not ended yet: due at its end plus the period at the earliest.
            if record.ended_at.is_none()
                && let (Some(end), Ok(Some(period))) =
                    (exemption.spec.expires_at, period(&record, policy))
            {
                later(end + period);
            }
            consider(ctx, exemption.as_ref(), record, policy, now, &mut later).await;
        }
    }
    next
}

/// The bans of a namespace whose status phase is Expired or Lifted. (The
/// byte search cannot match inside a string value, where quotes are escaped.)
fn ended<K>(cache: &ScopedStores<K>, namespace: &str) -> Vec<Arc<K>>
where
    K: Resource<DynamicType = ()> + serde::de::DeserializeOwned + 'static,
{
    let mut ended = cache.matching(namespace, r#""phase":"Expired""#);
    ended.extend(cache.matching(namespace, r#""phase":"Lifted""#));
    ended
}

fn ban_record<'a, K: Resource>(
    object: &'a K,
    status: Option<&BanStatus>,
    kept_until: Option<DateTime<Utc>>,
) -> Record<'a> {
    let ended_at = status.and_then(|s| match s.phase {
        Some(Phase::Expired) => s.expires_at,
        Some(Phase::Lifted) => s.lifted_at,
        _ => None,
    });
    Record {
        ended_at,
        annotations: object.meta().annotations.as_ref(),
        depended_on: false,
        kept_until,
    }
}

/// An ended ban that revoked sessions is published as a revocation for
/// `--session-revocation-retention`: it stays at least that long.
fn revocation_window(
    ctx: &Context,
    revokes: bool,
    status: Option<&BanStatus>,
) -> Option<DateTime<Utc>> {
    let status = status?;
    let ended = match status.phase? {
        Phase::Expired => status.expires_at?,
        Phase::Lifted => status.lifted_at?,
        _ => return None,
    };
    revokes.then(|| ended + ctx.session_retention)
}

fn appeal_ended(appeal: &BanAppeal) -> Option<DateTime<Utc>> {
    let status = appeal.status.as_ref()?;
    match status.phase? {
        AppealPhase::Approved | AppealPhase::Denied => status.decided_at,
        AppealPhase::Refused => status
            .conditions
            .iter()
            .find(|c| c.type_ == "Ready")
            .and_then(|c| DateTime::from_timestamp(c.last_transition_time.0.as_second(), 0)),
        AppealPhase::Pending => None,
    }
}

async fn consider<K>(
    ctx: &Context,
    object: &K,
    record: Record<'_>,
    policy: Policy,
    now: DateTime<Utc>,
    later: &mut impl FnMut(DateTime<Utc>),
) where
    K: Recorded + Resource<Scope = k8s_openapi::NamespaceResourceScope>,
{
    if is_deleting(object) {
        return;
    }
    if let Err(problem) = period(&record, policy)
        && record.ended_at.is_some()
    {
        tracing::warn!(kind = %K::kind(&()), name = %object.name_any(), %problem, "retention annotation ignored; the global period applies");
    }
    match verdict(&record, policy, now) {
        Verdict::Keep => {}
        Verdict::KeepUntil(at) => later(at),
        Verdict::Delete { period } => {
            let ended = record.ended_at.unwrap_or(now);
            delete(ctx, object, ended, period).await;
        }
    }
}

/// The final record, then the delete (for a ban, its finalizer records the
/// deletion as for any other). The record's id makes a retry after a failed
/// delete write no second line.
async fn delete<K>(ctx: &Context, object: &K, ended: DateTime<Utc>, period: Duration)
where
    K: Recorded + Resource<Scope = k8s_openapi::NamespaceResourceScope>,
{
    let uid = object.uid().unwrap_or_default();
    let note = format!(
        "retention: ended {} and kept {}; deleting",
        ended.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        format_duration(period)
    );
    if let Err(error) = record(
        ctx,
        Happening {
            generation: object.meta().generation,
            id: Some(transition_id(&uid, "RetentionPassed", &[])),
            ..Happening::new(object.object_ref(&()), "RetentionPassed", note)
        },
    )
    .await
    {
        // Deleted without its record, the object would leave no trace.
        tracing::warn!(%error, "retention: cannot record; retrying at the next sweep");
        return;
    }
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &object.namespace().unwrap_or_default());
    let params = DeleteParams {
        // The object retention judged, not one recreated under its name since.
        preconditions: Some(Preconditions {
            uid: Some(uid),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match api.delete(&object.name_any(), &params).await {
        Ok(_) => {}
        // Gone already, or another object under that name now.
        Err(kube::Error::Api(status)) if status.code == 404 || status.code == 409 => {}
        Err(error) => {
            tracing::warn!(kind = %K::kind(&()), name = %object.name_any(), %error, "retention: cannot delete; retrying at the next sweep");
        }
    }
}
