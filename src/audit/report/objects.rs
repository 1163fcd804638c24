//! Cluster objects and their Events as report rows: pure conversions of what
//! the API server returned, so they are tested without one.

use chrono::{DateTime, Utc};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta, Time};

use super::identifier::published_subject;
use super::record::{Facts, KINDS, Origin, Record, Source};
use crate::api::{
    AppealPhase, BanAppeal, BanExemption, BanPolicy, BanStatus, FeatureBlock, PolicyMode, UserBan,
};
// The actor annotations the admission webhook writes (see `crate::actor`).
pub use crate::actor::{CREATED_BY, DECIDED_BY, LIFTED_BY};
use crate::policy::compiled::POLICY_LABEL;

/// Everything read from the cluster for a report.
#[derive(Clone, Debug, Default)]
pub struct Objects {
    pub user_bans: Vec<UserBan>,
    pub feature_blocks: Vec<FeatureBlock>,
    pub appeals: Vec<BanAppeal>,
    pub exemptions: Vec<BanExemption>,
    pub policies: Vec<BanPolicy>,
    pub events: Vec<Event>,
}

pub(crate) fn to_utc(time: &Time) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(time.0.as_second(), 0)
}

fn annotation(meta: &ObjectMeta, key: &str) -> Option<String> {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .filter(|v| !v.trim().is_empty())
        .cloned()
}

fn created(meta: &ObjectMeta, fallback: DateTime<Utc>) -> DateTime<Utc> {
    meta.creation_timestamp
        .as_ref()
        .and_then(to_utc)
        .unwrap_or(fallback)
}

fn ready_message(conditions: &[Condition]) -> Option<String> {
    conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| c.message.clone())
        .filter(|m| !m.is_empty())
}

fn identity(kind: &str, meta: &ObjectMeta, now: DateTime<Utc>) -> Record {
    Record::new(
        Source::Object,
        created(meta, now),
        kind,
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default(),
    )
}

/// The fields UserBans and FeatureBlocks share.
struct BanParts<'a> {
    kind: &'static str,
    meta: &'a ObjectMeta,
    subject: &'a crate::api::Subject,
    reason: &'a str,
    lift_by: Option<&'a str>,
    appeal_allowed: bool,
    status: Option<&'a BanStatus>,
}

fn ban_record(parts: BanParts<'_>, now: DateTime<Utc>) -> Record {
    let mut record = identity(parts.kind, parts.meta, now);
    let status = parts.status;
    let phase = status.and_then(|s| s.phase).map(|p| p.as_str().to_string());
    let policy = parts
        .meta
        .labels
        .as_ref()
        .and_then(|l| l.get(POLICY_LABEL))
        .cloned();
    record.origin = Some(if policy.is_some() {
        Origin::Automatic
    } else {
        Origin::Manual
    });
    // The authenticated user first (the annotation, or its copy in the
    // status); then what the object itself says: a policy's ban names the
    // policy, a lift its `by` or what lifted it (`BanAppeal/<name>`).
    let created_by = annotation(parts.meta, CREATED_BY)
        .or_else(|| status.and_then(|s| s.created_by.clone()))
        .or_else(|| policy.as_ref().map(|p| format!("BanPolicy/{p}")));
    let lifted_by = annotation(parts.meta, LIFTED_BY)
        .or_else(|| status.and_then(|s| s.lifted_by_user.clone()))
        .or_else(|| parts.lift_by.map(str::to_string))
        .or_else(|| status.and_then(|s| s.lifted_by.clone()));
    let lifted_at = status.and_then(|s| s.lifted_at);
    record.facts = Facts {
        phase: phase.clone(),
        created: Some(record.time),
        effective_from: status.and_then(|s| s.effective_from),
        expires_at: status.and_then(|s| s.expires_at),
        lifted_at,
        appealable: parts.appeal_allowed,
        created_by: created_by.clone(),
        lifted_by: lifted_at.and(lifted_by.clone()),
        ..Facts::default()
    };
    record.actor = if lifted_at.is_some() {
        lifted_by
    } else {
        created_by
    };
    record.action = phase.unwrap_or_else(|| "-".into());
    record.policy = policy;
    record.subject = published_subject(parts.subject);
    record.reason = Some(parts.reason.to_string());
    record.message = status.and_then(|s| ready_message(&s.conditions));
    record
}

fn user_ban(ban: &UserBan, now: DateTime<Utc>) -> Record {
    let spec = &ban.spec;
    ban_record(
        BanParts {
            kind: "UserBan",
            meta: &ban.metadata,
            subject: &spec.subject,
            reason: &spec.reason.code,
            lift_by: spec.lift.as_ref().and_then(|l| l.by.as_deref()),
            appeal_allowed: spec.appeal.as_ref().is_some_and(|a| a.allowed),
            status: ban.status.as_ref(),
        },
        now,
    )
}

fn feature_block(block: &FeatureBlock, now: DateTime<Utc>) -> Record {
    let spec = &block.spec;
    ban_record(
        BanParts {
            kind: "FeatureBlock",
            meta: &block.metadata,
            subject: &spec.subject,
            reason: &spec.reason.code,
            lift_by: spec.lift.as_ref().and_then(|l| l.by.as_deref()),
            appeal_allowed: spec.appeal.as_ref().is_some_and(|a| a.allowed),
            status: block.status.as_ref(),
        },
        now,
    )
}

pub(crate) fn appeal_phase(phase: AppealPhase) -> &'static str {
    match phase {
        AppealPhase::Pending => "Pending",
        AppealPhase::Refused => "Refused",
        AppealPhase::Approved => "Approved",
        AppealPhase::Denied => "Denied",
    }
}

fn appeal(appeal: &BanAppeal, now: DateTime<Utc>) -> Record {
    let mut record = identity("BanAppeal", &appeal.metadata, now);
    let status = appeal.status.as_ref();
    let phase = status.and_then(|s| s.phase).map(appeal_phase);
    let decided = matches!(phase, Some("Approved" | "Denied"));
    // The authenticated decider first, then what the reviewer typed.
    let decided_by = annotation(&appeal.metadata, DECIDED_BY)
        .or_else(|| status.and_then(|s| s.decided_by.clone()))
        .or_else(|| appeal.spec.decision.as_ref().map(|d| d.reviewer.clone()));
    let created_by = annotation(&appeal.metadata, CREATED_BY);
    record.facts = Facts {
        phase: phase.map(str::to_string),
        created: Some(record.time),
        decided_at: status.and_then(|s| s.decided_at),
        appeal_of: Some(format!(
            "{:?}/{}",
            appeal.spec.ban_ref.kind, appeal.spec.ban_ref.name
        )),
        created_by: created_by.clone(),
        decided_by: decided.then(|| decided_by.clone()).flatten(),
        ..Facts::default()
    };
    record.actor = if decided { decided_by } else { created_by };
    record.action = phase.unwrap_or("-").to_string();
    record.message = status.and_then(|s| ready_message(&s.conditions));
    record
}

fn exemption(exemption: &BanExemption, now: DateTime<Utc>) -> Record {
    let mut record = identity("BanExemption", &exemption.metadata, now);
    let expires_at = exemption.spec.expires_at;
    let phase = if expires_at.is_some_and(|end| end <= now) {
        "Expired"
    } else {
        "Active"
    };
    let created_by = annotation(&exemption.metadata, CREATED_BY);
    record.facts = Facts {
        phase: Some(phase.into()),
        created: Some(record.time),
        expires_at,
        created_by: created_by.clone(),
        ..Facts::default()
    };
    record.action = phase.into();
    record.actor = created_by;
    record.subject = published_subject(&exemption.spec.subject);
    record.reason = Some(exemption.spec.reason.code.clone());
    record.message = exemption
        .status
        .as_ref()
        .and_then(|s| ready_message(&s.conditions));
    record
}

fn policy(policy: &BanPolicy, now: DateTime<Utc>) -> Record {
    let mut record = identity("BanPolicy", &policy.metadata, now);
    let phase = match policy.spec.mode {
        PolicyMode::Enforce => "Enforce",
        PolicyMode::Observe => "Observe",
    };
    let template = &policy.spec.template;
    let reason = template
        .user_ban
        .as_ref()
        .map(|t| t.reason.code.clone())
        .or_else(|| {
            template
                .feature_block
                .as_ref()
                .map(|t| t.reason.code.clone())
        });
    let created_by = annotation(&policy.metadata, CREATED_BY);
    record.facts = Facts {
        phase: Some(phase.into()),
        created: Some(record.time),
        created_by: created_by.clone(),
        ..Facts::default()
    };
    record.action = phase.into();
    record.actor = created_by;
    record.reason = reason;
    record.message = policy
        .status
        .as_ref()
        .and_then(|s| ready_message(&s.conditions));
    record
}

/// The transition id an Event's name carries (`<object>.<24 hex>`), which
/// its audit line carries too.
fn transition_of(event_name: &str) -> Option<String> {
    let (_, suffix) = event_name.rsplit_once('.')?;
    (suffix.len() == 24
        && suffix
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
    .then(|| suffix.to_string())
}

/// An Event regarding one of the Interdict kinds; others are `None`.
pub fn event_record(event: &Event, now: DateTime<Utc>) -> Option<Record> {
    let regarding = event.regarding.as_ref()?;
    let kind = regarding.kind.as_deref()?;
    if !KINDS.contains(&kind) {
        return None;
    }
    let time = event
        .event_time
        .as_ref()
        .and_then(|t| DateTime::from_timestamp(t.0.as_second(), 0))
        .or_else(|| event.deprecated_last_timestamp.as_ref().and_then(to_utc))
        .unwrap_or_else(|| created(&event.metadata, now));
    let namespace = regarding
        .namespace
        .as_deref()
        .or(event.metadata.namespace.as_deref())
        .unwrap_or_default();
    let mut record = Record::new(
        Source::Event,
        time,
        kind,
        namespace,
        regarding.name.as_deref().unwrap_or_default(),
    );
    record.action = event.reason.clone().unwrap_or_else(|| "-".into());
    record.message = event.note.clone();
    record.transition = event.metadata.name.as_deref().and_then(transition_of);
    Some(record)
}

/// One row per object and per Event regarding one, unjoined.
pub fn records(objects: &Objects, now: DateTime<Utc>) -> Vec<Record> {
    let mut records = Vec::new();
    records.extend(objects.user_bans.iter().map(|b| user_ban(b, now)));
    records.extend(objects.feature_blocks.iter().map(|b| feature_block(b, now)));
    records.extend(objects.appeals.iter().map(|a| appeal(a, now)));
    records.extend(objects.exemptions.iter().map(|e| exemption(e, now)));
    records.extend(objects.policies.iter().map(|p| policy(p, now)));
    records.extend(objects.events.iter().filter_map(|e| event_record(e, now)));
    records
}

#[cfg(test)]
#[path = "objects_tests.rs"]
mod tests;
