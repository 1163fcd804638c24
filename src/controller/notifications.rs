//! Notifications about a ban, delivered at least once per transition and sink.
//!
//! Delivery state lives in the ban's status: a record is written as `Pending`
//! before the first attempt, so a restart resends what was not confirmed (with
//! the same idempotency key, derived from the record) and never forgets or
//! repeats a delivered one. Failures retry with exponential backoff; a sink that
//! refuses for good marks the record `Failed`, which shows in a condition and a
//! Warning Event.

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{Api, ResourceExt};

use super::Context;
use super::assess::Assessment;
use super::ban::BanResource;
use super::record::{Happening, record};
use super::status::{condition, previous};
use std::sync::Arc;

use crate::api::{AppealOutcome, BanAppeal, BanKind, BanStatus, NotificationRecord};
use crate::notify::{self, Event, Notification, SinkKind};

pub const CONDITION: &str = "NotificationsDelivered";
const PENDING: &str = "Pending";
const DELIVERED: &str = "Delivered";
const FAILED: &str = "Failed";
/// About two hours of retries (1 s doubling up to 5 min) before giving up.
const MAX_ATTEMPTS: u32 = 30;
/// Records kept in the status; the oldest settled ones go first.
const KEEP: usize = 48;

fn event(name: &str) -> Option<Event> {
    Event::ALL.into_iter().find(|e| e.as_str() == name)
}

fn sink_name(sink: SinkKind) -> &'static str {
    match sink {
        SinkKind::Webhook => "webhook",
        SinkKind::Email => "email",
    }
}

/// The marker the idempotency key was made from before keys came from
/// transition ids; a record keeps its key, which [`Notification::keyed`] sends.
fn marker(occurred_at: DateTime<Utc>) -> String {
    occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The appeal an appeal event is about: for a decision, the decided appeal of
/// this ban with that outcome; for a receipt, the newest appeal of this ban.
fn appeal_of<K: BanResource>(ctx: &Context, object: &K, event: Event) -> Option<Arc<BanAppeal>> {
    let outcome = match event {
        Event::AppealApproved => Some(AppealOutcome::Approved),
        Event::AppealDenied => Some(AppealOutcome::Denied),
        Event::AppealReceived => None,
        _ => return None,
    };
    let name = object.name_any();
    ctx.stores
        .appeals
        .in_namespace(&object.namespace().unwrap_or_default())
        .into_iter()
        .filter(|a| a.spec.ban_ref.kind == K::KIND && a.spec.ban_ref.name == name)
        .filter(|a| {
            outcome.is_none_or(|o| a.spec.decision.as_ref().is_some_and(|d| d.outcome == o))
        })
        .max_by_key(|a| a.metadata.creation_timestamp.clone())
}

/// Where an event's email goes: for appeal events the address the appellant
/// gave (`spec.contact.email` of the appeal), else the ban's own (the subject's
/// email or the ban's `spec.contact.email`).
fn recipient<K: BanResource>(object: &K, appeal: Option<&BanAppeal>) -> Option<String> {
    appeal
        .and_then(|a| a.spec.contact.as_ref()?.email.clone())
        .or_else(|| object.email().map(str::to_string))
}

fn appeal_facts(appeal: &BanAppeal) -> notify::AppealFacts {
    notify::AppealFacts {
        name: appeal.name_any(),
        outcome: appeal
            .spec
            .decision
            .as_ref()
            .map(|d| format!("{:?}", d.outcome)),
        notes: appeal.spec.decision.as_ref().and_then(|d| d.notes.clone()),
    }
}

/// Adds a `Pending` record per configured sink for each notified event. Email
/// needs an address: the subject's own, the ban's `spec.contact.email`, or for
/// appeal events the appeal's `spec.contact.email`.
pub fn enqueue<K: BanResource>(
    ctx: &Context,
    object: &K,
    status: &mut BanStatus,
    events: &[(&'static str, String)],
    now: DateTime<Utc>,
) {
    let Some(sinks) = &ctx.sinks else { return };
    if !object.notify() {
        return;
    }
    let uid = object.uid().unwrap_or_default();
    for (name, transition) in events {
        let appeal = event(name).and_then(|e| appeal_of(ctx, object, e));
        let mailable = recipient(object, appeal.as_deref()).is_some();
        for sink in sinks.configured() {
            if sink == SinkKind::Email && !mailable {
                continue;
            }
            // From the transition's id, like its audit line and Event: a
            // process that finds the transition again after a crash or a
            // lost lease makes the same key, so a receiver sees one
            // notification however often it is sent.
            let key = notify::idempotency_key(&uid, name, transition);
            if status
                .notifications
                .iter()
                .any(|r| r.key == key && r.sink == sink_name(sink))
            {
                continue;
            }
            status.notifications.push(NotificationRecord {
                key,
                event: name.to_string(),
                sink: sink_name(sink).to_string(),
                state: PENDING.to_string(),
                attempts: 0,
                occurred_at: now,
                next_attempt_at: Some(now),
                last_error: None,
            });
        }
    }
    while status.notifications.len() > KEEP {
        match status.notifications.iter().position(|r| r.state != PENDING) {
            Some(settled) => status.notifications.remove(settled),
            None => break,
        };
    }
}

/// The earliest retry among these statuses.
pub fn next_attempt<'a>(
    statuses: impl IntoIterator<Item = Option<&'a BanStatus>>,
) -> Option<DateTime<Utc>> {
    statuses
        .into_iter()
        .flatten()
        .flat_map(|s| s.notifications.iter())
        .filter(|r| r.state == PENDING)
        .filter_map(|r| r.next_attempt_at)
        .min()
}

fn facts<K: BanResource>(object: &K, assessment: &Assessment) -> Option<notify::BanFacts> {
    let entry = &assessment.compiled().ok()?.entry;
    let until = match &assessment.lifted {
        Some((at, _)) => Some(entry.until.map_or(*at, |u| u.min(*at))),
        None => entry.until,
    };
    Some(notify::BanFacts {
        ban: notify::BanRef {
            kind: match K::KIND {
                BanKind::UserBan => notify::BanKind::UserBan,
                BanKind::FeatureBlock => notify::BanKind::FeatureBlock,
            },
            namespace: object.namespace().unwrap_or_default(),
            name: object.name_any(),
            uid: object.uid().unwrap_or_default(),
        },
        subject: notify::SubjectRef::from(&entry.subject),
        mode: match entry.mode {
            Some(crate::core::Mode::Suspend) => notify::Mode::Suspend,
            Some(crate::core::Mode::Silence) => notify::Mode::Silence,
            None => notify::Mode::FeatureBlock,
        },
        features: entry.features.clone(),
        scopes: entry.scopes.iter().map(notify::Scope::from).collect(),
        reason: entry.reason.clone(),
        message: entry.message.clone(),
        from: entry.from,
        until,
        revoke_sessions: entry.revoke_sessions_before.is_some(),
        revoke_sessions_before: entry.revoke_sessions_before,
        appeal: object.appeal().map(|a| notify::Appeal {
            allowed: a.allowed,
            instructions: a.instructions.clone(),
        }),
    })
}

fn delivered_condition(
    old: Option<&BanStatus>,
    failed: usize,
    generation: Option<i64>,
) -> Condition {
    let (status, reason, message) = if failed == 0 {
        (
            "True",
            "Delivered",
            "Every notification was delivered or is being retried".to_string(),
        )
    } else {
        (
            "False",
            "DeliveryFailed",
            format!("{failed} notification(s) could not be delivered; see status.notifications"),
        )
    };
    condition(
        previous(old),
        CONDITION,
        status == "True",
        reason,
        message,
        generation,
        Utc::now(),
    )
}

/// Sets the delivery condition from the records, keeping its transition time
/// when unchanged, so a pass with nothing new writes nothing.
pub fn settle(status: &mut BanStatus, old: Option<&BanStatus>, generation: Option<i64>) {
    let failed = status
        .notifications
        .iter()
        .filter(|r| r.state == FAILED)
        .count();
    let condition = delivered_condition(old, failed, generation);
    status.conditions.retain(|c| c.type_ != CONDITION);
    if !status.notifications.is_empty() {
        status.conditions.push(condition);
    }
}

/// Attempts every due `Pending` record and writes the outcome. Delivery errors
/// are state, not reconcile errors; only a failed status write is an error.
pub async fn deliver<K: BanResource>(
    ctx: &Context,
    api: &Api<K>,
    object: &K,
    assessment: &Assessment,
    mut status: BanStatus,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, super::error::Error> {
    let Some(sinks) = &ctx.sinks else {
        return Ok(None);
    };
    let due: Vec<usize> = (0..status.notifications.len())
        .filter(|&i| {
            let r = &status.notifications[i];
            r.state == PENDING && r.next_attempt_at.is_none_or(|at| at <= now)
        })
        .collect();
    let Some(facts) = facts(object, assessment) else {
        return Ok(None);
    };
    let mut newly_failed = Vec::new();
    for i in due.iter().copied() {
        let record = &mut status.notifications[i];
        let sink = if record.sink == "email" {
            SinkKind::Email
        } else {
            SinkKind::Webhook
        };
        let Some(event) = event(&record.event) else {
            record.state = FAILED.to_string();
            record.last_error = Some(format!("unknown event {}", record.event));
            continue;
        };
        let mut notification = Notification::new(
            event,
            record.occurred_at,
            &marker(record.occurred_at),
            facts.clone(),
        )
        .keyed(record.key.clone());
        let appeal = appeal_of(ctx, object, event);
        if let Some(appeal) = &appeal {
            notification = notification.with_appeal(appeal_facts(appeal));
        }
        let annotations = |key| {
            let on = appeal
                .as_deref()
                .map_or(object.meta().annotations.as_ref(), |a| {
                    a.metadata.annotations.as_ref()
                });
            crate::actor::actor(on, key)
        };
        notification = notification.with_actor(match event {
            Event::Applied => status.created_by.clone(),
            Event::Lifted => status.lifted_by_user.clone(),
            Event::AppealReceived => annotations(crate::actor::CREATED_BY),
            Event::AppealApproved | Event::AppealDenied => annotations(crate::actor::DECIDED_BY),
            Event::Deleted => annotations(crate::actor::DELETED_BY),
            Event::Activated | Event::Expired => None,
        });
        let to = recipient(object, appeal.as_deref());
        record.attempts += 1;
        match sinks.deliver(sink, &notification, to.as_deref()).await {
            Ok(()) => {
                record.state = DELIVERED.to_string();
                record.next_attempt_at = None;
                record.last_error = None;
            }
            Err(error) if error.transient && record.attempts < MAX_ATTEMPTS => {
                let wait = chrono::Duration::from_std(notify::backoff(record.attempts))
                    .unwrap_or(chrono::Duration::MAX);
                record.next_attempt_at = Some(Utc::now() + wait);
                record.last_error = Some(error.message);
            }
            Err(error) => {
                record.state = FAILED.to_string();
                record.next_attempt_at = None;
                record.last_error = Some(error.message.clone());
                newly_failed.push((record.sink.clone(), record.event.clone(), error.message));
            }
        }
    }
    // The caller wrote (or kept) the status with everything but these attempts.
    let retry = next_attempt([Some(&status)]);
    if due.is_empty() {
        return Ok(retry);
    }
    let stored = ctx.written.latest(object, object.ban_status());
    settle(&mut status, stored.as_ref(), object.meta().generation);
    if !super::status_write::apply_status(&ctx.written, api, object, &status).await? {
        return Ok(None);
    }
    for (sink, event, message) in newly_failed {
        let note = format!("{event} notification to the {sink} sink failed for good: {message}");
        let mut happening = Happening::new(object.object_ref(&()), "NotificationFailed", note);
        happening.warning = true;
        happening.generation = object.meta().generation;
        record(ctx, happening).await?;
    }
    Ok(retry)
}
