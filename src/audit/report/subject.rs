//! Everything held about one subject, for a data-subject access request:
//! the bans and feature blocks on them (current and ended), their appeals,
//! exemptions, Events, audit lines and what the blocklists publish. Pure:
//! built from what the CLI read. An address is matched by its hash and shown
//! only as the requester typed it, never as read from the cluster (a
//! contact address is shown hashed).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;
use serde_json::Value;

pub use super::held::*;
use super::identifier::{Identifier, published_subject};
use super::objects::{Objects, appeal_phase, event_record, to_utc};
use super::published::published;
use crate::api::{Appeal, BanReason, BanStatus, Contact, Lift};
use crate::core::email::hash_email;
use crate::policy::compiled::POLICY_LABEL;

/// The subject as the requester named it.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Requested {
    /// `userId`, `username`, `email`, `ip` or `keyFingerprint`.
    pub kind: &'static str,
    /// As given on the command line (for an email: as the requester typed it).
    pub as_given: String,
    /// As held and published: `email:sha256:<hex>`, `ip:10.0.0.0/8`, …
    pub published: String,
    #[serde(skip)]
    pub identifier: Identifier,
}

impl Requested {
    pub fn new(identifier: Identifier, as_given: &str) -> Self {
        Requested {
            kind: identifier.kind(),
            as_given: as_given.to_string(),
            published: identifier.to_string(),
            identifier,
        }
    }

    /// Whether a `spec.contact.email` is the requested address.
    fn is_contact(&self, contact: Option<&Contact>) -> bool {
        match (&self.identifier, contact.and_then(|c| c.email.as_deref())) {
            (Identifier::Email { hash }, Some(address)) => hash_email(address) == *hash,
            _ => false,
        }
    }
}

type Key = (String, String, String);

fn key(kind: &str, meta: &ObjectMeta) -> Key {
    (
        kind.to_string(),
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

fn created(meta: &ObjectMeta) -> Option<DateTime<Utc>> {
    meta.creation_timestamp.as_ref().and_then(to_utc)
}

/// The fields UserBans and FeatureBlocks share, borrowed.
struct Ban<'a> {
    kind: &'static str,
    meta: &'a ObjectMeta,
    subject: &'a crate::api::Subject,
    reason: &'a BanReason,
    message: Option<&'a String>,
    lift: Option<&'a Lift>,
    appeal: Option<&'a Appeal>,
    contact: Option<&'a Contact>,
    status: Option<&'a BanStatus>,
    mode: Option<String>,
    features: Vec<String>,
    scopes: Vec<String>,
}

fn ban_held(ban: Ban<'_>, matched_by: &'static str, requested: &Requested) -> BanHeld {
    let status = ban.status;
    BanHeld {
        kind: ban.kind,
        namespace: ban.meta.namespace.clone().unwrap_or_default(),
        name: ban.meta.name.clone().unwrap_or_default(),
        matched_by,
        subject: published_subject(ban.subject),
        contact: requested
            .is_contact(ban.contact)
            .then(|| requested.published.clone()),
        created: created(ban.meta),
        phase: status.and_then(|s| s.phase).map(|p| p.as_str().to_string()),
        effective_from: status.and_then(|s| s.effective_from),
        expires_at: status.and_then(|s| s.expires_at),
        lifted_at: status.and_then(|s| s.lifted_at),
        lifted_by: status.and_then(|s| s.lifted_by.clone()),
        lift_reason: ban.lift.map(|l| l.reason.clone()),
        mode: ban.mode,
        features: ban.features,
        scopes: ban.scopes,
        reason: ban.reason.into(),
        message: ban.message.cloned(),
        appeal_allowed: ban.appeal.is_some_and(|a| a.allowed),
        appeal_instructions: ban.appeal.and_then(|a| a.instructions.clone()),
        review_at: status.and_then(|s| s.review_at),
        exempted_by: status.and_then(|s| s.exempted_by.clone()),
        policy: ban
            .meta
            .labels
            .as_ref()
            .and_then(|l| l.get(POLICY_LABEL))
            .cloned(),
        notifications: status
            .map(|s| {
                s.notifications
                    .iter()
                    .map(|n| Notification {
                        event: n.event.clone(),
                        sink: n.sink.clone(),
                        state: n.state.clone(),
                        occurred_at: n.occurred_at,
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// How a ban concerns the subject, if it does.
fn ban_match(ban: &Ban<'_>, requested: &Requested) -> Option<&'static str> {
    if published_subject(ban.subject).is_some_and(|p| requested.identifier.matches(&p)) {
        Some("subject")
    } else if requested.is_contact(ban.contact) {
        Some("contact email")
    } else {
        None
    }
}

fn bans<'a>(objects: &'a Objects) -> Vec<Ban<'a>> {
    let user_bans = objects.user_bans.iter().map(|b| Ban {
        kind: "UserBan",
        meta: &b.metadata,
        subject: &b.spec.subject,
        reason: &b.spec.reason,
        message: b.spec.message.as_ref(),
        lift: b.spec.lift.as_ref(),
        appeal: b.spec.appeal.as_ref(),
        contact: b.spec.contact.as_ref(),
        status: b.status.as_ref(),
        mode: Some(format!("{:?}", b.spec.mode)),
        features: vec![],
        scopes: vec![],
    });
    let blocks = objects.feature_blocks.iter().map(|b| Ban {
        kind: "FeatureBlock",
        meta: &b.metadata,
        subject: &b.spec.subject,
        reason: &b.spec.reason,
        message: b.spec.message.as_ref(),
        lift: b.spec.lift.as_ref(),
        appeal: b.spec.appeal.as_ref(),
        contact: b.spec.contact.as_ref(),
        status: b.status.as_ref(),
        mode: None,
        features: b.spec.features.clone(),
        scopes: b
            .spec
            .scopes
            .iter()
            .map(|s| format!("{}={}", s.kind, s.name))
            .collect(),
    });
    user_bans.chain(blocks).collect()
}

fn audit_held(line: &AuditLine) -> AuditHeld {
    let text = |key: &str| {
        line.record
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    AuditHeld {
        file: line.file.clone(),
        line: line.line,
        time: text("time"),
        action: text("action"),
        kind: text("kind"),
        namespace: text("namespace"),
        name: text("name"),
        message: text("message"),
        record: line.record.clone(),
    }
}

/// What the CLI read for the subject report.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    pub objects: Objects,
    pub blocklists: Vec<ConfigMap>,
    pub audit_lines: Vec<AuditLine>,
}

pub fn build(
    requested: Requested,
    inputs: &Inputs,
    searched: Searched,
    now: DateTime<Utc>,
) -> SubjectReport {
    let objects = &inputs.objects;
    let mut held: BTreeSet<Key> = BTreeSet::new();
    let mut ban_rows = Vec::new();
    for ban in bans(objects) {
        if let Some(matched_by) = ban_match(&ban, &requested) {
            held.insert(key(ban.kind, ban.meta));
            ban_rows.push(ban_held(ban, matched_by, &requested));
        }
    }
    let mut appeals = Vec::new();
    for appeal in &objects.appeals {
        let namespace = appeal.metadata.namespace.clone().unwrap_or_default();
        let ban_kind = format!("{:?}", appeal.spec.ban_ref.kind);
        let of_held_ban = held.contains(&(
            ban_kind.clone(),
            namespace.clone(),
            appeal.spec.ban_ref.name.clone(),
        ));
        let by_contact = requested.is_contact(appeal.spec.contact.as_ref());
        if !(of_held_ban || by_contact) {
            continue;
        }
        held.insert(key("BanAppeal", &appeal.metadata));
        let status = appeal.status.as_ref();
        appeals.push(AppealHeld {
            namespace,
            name: appeal.metadata.name.clone().unwrap_or_default(),
            ban: format!("{ban_kind}/{}", appeal.spec.ban_ref.name),
            matched_by: if of_held_ban { "ban" } else { "contact email" },
            submitted: created(&appeal.metadata),
            phase: status
                .and_then(|s| s.phase)
                .map(|p| appeal_phase(p).to_string()),
            statement: appeal.spec.statement.clone(),
            contact: by_contact.then(|| requested.published.clone()),
            decision: appeal.spec.decision.as_ref().map(|d| Decision {
                outcome: format!("{:?}", d.outcome),
                reviewer: d.reviewer.clone(),
                notes: d.notes.clone(),
            }),
            decided_at: status.and_then(|s| s.decided_at),
            message: status.and_then(|s| {
                s.conditions
                    .iter()
                    .find(|c| c.type_ == "Ready")
                    .map(|c| c.message.clone())
            }),
        });
    }
    let mut exemptions = Vec::new();
    for exemption in &objects.exemptions {
        let subject = published_subject(&exemption.spec.subject);
        if !subject
            .as_deref()
            .is_some_and(|s| requested.identifier.matches(s))
        {
            continue;
        }
        held.insert(key("BanExemption", &exemption.metadata));
        exemptions.push(ExemptionHeld {
            namespace: exemption.metadata.namespace.clone().unwrap_or_default(),
            name: exemption.metadata.name.clone().unwrap_or_default(),
            subject,
            created: created(&exemption.metadata),
            reason: (&exemption.spec.reason).into(),
            expires_at: exemption.spec.expires_at,
        });
    }
    let mut events: Vec<EventHeld> = objects
        .events
        .iter()
        .filter_map(|e| event_record(e, now))
        .filter(|r| held.contains(&(r.kind.clone(), r.namespace.clone(), r.name.clone())))
        .map(|r| EventHeld {
            time: r.time,
            namespace: r.namespace,
            kind: r.kind,
            name: r.name,
            reason: r.action,
            note: r.message,
        })
        .collect();
    events.sort_by(|a, b| (a.time, &a.namespace, &a.name).cmp(&(b.time, &b.namespace, &b.name)));

    // Lines name the subject, or an object that does (an appeal's lines carry no subject).
    let audit_lines: Vec<AuditHeld> = inputs
        .audit_lines
        .iter()
        .filter(|line| {
            let text = |k: &str| {
                line.record
                    .get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
            };
            requested.identifier.matches(text("subject"))
                || held.contains(&(
                    text("kind").to_string(),
                    text("namespace").to_string(),
                    text("name").to_string(),
                ))
        })
        .map(audit_held)
        .collect();

    let published = published(&inputs.blocklists, &requested);
    let by_place = |a: &BanHeld, b: &BanHeld| {
        (&a.namespace, a.kind, &a.name).cmp(&(&b.namespace, b.kind, &b.name))
    };
    ban_rows.sort_by(by_place);
    appeals.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    exemptions.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    let nothing_held = ban_rows.is_empty()
        && appeals.is_empty()
        && exemptions.is_empty()
        && events.is_empty()
        && audit_lines.is_empty()
        && published.is_empty();
    SubjectReport {
        subject: requested,
        generated_at: now,
        searched,
        nothing_held,
        bans: ban_rows,
        appeals,
        exemptions,
        events,
        audit_lines,
        published,
    }
}

impl SubjectReport {
    /// How many items of each section, for a one-line summary.
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        BTreeMap::from([
            ("bans", self.bans.len()),
            ("appeals", self.appeals.len()),
            ("exemptions", self.exemptions.len()),
            ("events", self.events.len()),
            ("auditLines", self.audit_lines.len()),
            ("published", self.published.len()),
        ])
    }
}

#[cfg(test)]
#[path = "subject_tests.rs"]
mod tests;
