//! The status a ban should have, and which transition a status change records.
//! Pure: the reconciler compares the result with the stored status and writes
//! only when they differ.

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use super::assess::Assessment;
use super::reasons;
use crate::api::{BanStatus, Phase};
use crate::core::email::{HASH_PREFIX, KEYED_PREFIX, keyed_key_id};
use crate::core::{Entry, SubjectKey};

pub const READY: &str = "Ready";
pub const REVIEW_DUE: &str = "ReviewDue";

/// `email:sha256:7a64adf28737…`, or with a key `email:hmac-sha256:91813912:64fdda11a7cb…`
/// (the key id, then the same 12 digits): enough to tell subjects apart
/// without printing the address, and short enough for `kubectl get`.
pub fn subject_display(subject: &SubjectKey) -> String {
    match subject {
        SubjectKey::Email(hash) => {
            let head = match keyed_key_id(hash) {
                Some(id) => KEYED_PREFIX.len() + id.len() + 1 + 12,
                None => HASH_PREFIX.len() + 12,
            };
            format!("email:{}…", hash.get(..head).unwrap_or(hash))
        }
        other => other.display(),
    }
}

fn features_display(entry: &Entry) -> Option<String> {
    (!entry.features.is_empty()).then(|| entry.features.join(","))
}

fn scopes_display(entry: &Entry) -> String {
    if entry.scopes.is_empty() {
        "*".to_string()
    } else {
        entry
            .scopes
            .iter()
            .map(|s| format!("{}={}", s.kind, s.name))
            .collect::<Vec<_>>()
            .join(",")
    }
}

fn time(at: DateTime<Utc>) -> Time {
    Time(k8s_openapi::jiff::Timestamp::from_second(at.timestamp()).expect("chrono times fit jiff"))
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn ready_condition(
    old: Option<&BanStatus>,
    ok: bool,
    reason: &str,
    message: String,
    generation: Option<i64>,
    now: DateTime<Utc>,
) -> Condition {
    condition(previous(old), READY, ok, reason, message, generation, now)
}

/// The conditions a status had, if any.
pub fn previous(old: Option<&BanStatus>) -> &[Condition] {
    old.map_or(&[], |s| &s.conditions)
}

/// A condition of any kind (ban, appeal, exemption) whose
/// `lastTransitionTime` moves only when its status flips.
pub fn condition(
    previous: &[Condition],
    kind: &str,
    ok: bool,
    reason: &str,
    message: String,
    generation: Option<i64>,
    now: DateTime<Utc>,
) -> Condition {
    let status = if ok { "True" } else { "False" };
    let last_transition_time = match previous.iter().find(|c| c.type_ == kind) {
        Some(c) if c.status == status => c.last_transition_time.clone(),
        _ => time(now),
    };
    Condition {
        type_: kind.to_string(),
        status: status.to_string(),
        reason: reason.to_string(),
        message,
        observed_generation: generation,
        last_transition_time,
    }
}

/// The status of a ban at `now`. Notification records are carried over from
/// the stored status; the pass adds and updates them.
pub fn desired_status(
    assessment: &Assessment,
    generation: Option<i64>,
    old: Option<&BanStatus>,
    blocklist: &str,
    now: DateTime<Utc>,
) -> BanStatus {
    let notifications = old.map(|o| o.notifications.clone()).unwrap_or_default();
    let compiled = match assessment.compiled() {
        Ok(compiled) => compiled,
        Err(error) => {
            return BanStatus {
                observed_generation: generation,
                notifications,
                conditions: vec![ready_condition(
                    old,
                    false,
                    reasons::INVALID_SPEC,
                    error.to_string(),
                    generation,
                    now,
                )],
                ..BanStatus::default()
            };
        }
    };
    let window = compiled.window;
    let phase = match assessment.phase(now).unwrap_or(Phase::Active) {
        Phase::Scheduled | Phase::Active if assessment.exempted_by.is_some() => Phase::Exempted,
        phase => phase,
    };
    let until = window
        .until
        .map(rfc3339)
        .unwrap_or_else(|| "further notice (permanent)".to_string());
    let exemption = assessment
        .exempted_by
        .as_deref()
        .unwrap_or("a BanExemption");
    let (reason, message) = match (exemption, phase) {
        (exemption, Phase::Exempted) => (
            reasons::EXEMPT,
            format!("Not published: {exemption} exempts this subject"),
        ),
        (_, Phase::Scheduled) => (
            phase.as_str(),
            format!(
                "Starts at {}; already published in ConfigMap {blocklist} with its start time, until {until}",
                rfc3339(window.from)
            ),
        ),
        (_, Phase::Active) => (
            phase.as_str(),
            format!("In force and published in ConfigMap {blocklist} until {until}"),
        ),
        (_, Phase::Expired) => (
            phase.as_str(),
            format!("Ended at {until}; no longer in force in ConfigMap {blocklist}"),
        ),
        (_, Phase::Lifted) => {
            let (at, by) = assessment.lifted.clone().unwrap_or((now, String::new()));
            (
                phase.as_str(),
                format!(
                    "Lifted at {} by {by}; no longer in force in ConfigMap {blocklist}",
                    rfc3339(at)
                ),
            )
        }
    };
    let mut conditions = vec![ready_condition(old, true, reason, message, generation, now)];
    let review_due = assessment
        .review_at
        .filter(|at| *at <= now && matches!(phase, Phase::Active | Phase::Scheduled));
    if let Some(at) = assessment
        .review_at
        .filter(|_| matches!(phase, Phase::Active | Phase::Scheduled | Phase::Exempted))
    {
        let message = if review_due.is_some() {
            format!("Due for review since {}", rfc3339(at))
        } else {
            format!("Due for review at {}", rfc3339(at))
        };
        conditions.push(condition(
            previous(old),
            REVIEW_DUE,
            review_due.is_some(),
            if review_due.is_some() {
                REVIEW_DUE
            } else {
                "NotYetDue"
            },
            message,
            generation,
            now,
        ));
    }
    BanStatus {
        observed_generation: generation,
        phase: Some(phase),
        effective_from: Some(window.from),
        expires_at: window.until,
        subject: Some(subject_display(&compiled.entry.subject)),
        features: features_display(&compiled.entry),
        scopes: (compiled.entry.kind == crate::core::EntryKind::FeatureBlock)
            .then(|| scopes_display(&compiled.entry)),
        lifted_at: assessment.lifted.as_ref().map(|(at, _)| *at),
        lifted_by: assessment.lifted.as_ref().map(|(_, by)| by.clone()),
        // Filled in by the caller, which has the objects' annotations.
        created_by: None,
        lifted_by_user: None,
        review_at: assessment.review_at,
        exempted_by: assessment.exempted_by.clone(),
        notifications,
        conditions,
    }
}

/// A change in a ban's life worth an Event and an audit line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    /// In force from the moment it was first seen (or again, after an edit).
    Applied,
    Scheduled,
    /// A scheduled ban reached its start.
    Activated,
    Expired,
    Lifted,
    /// The spec changed without changing the phase.
    Updated,
    Invalid,
    /// An exemption keeps it out of the blocklist.
    Exempted,
    ReviewDue,
}

impl Transition {
    pub fn reason(self) -> &'static str {
        match self {
            Transition::Applied => reasons::APPLIED,
            Transition::Scheduled => reasons::SCHEDULED,
            Transition::Activated => reasons::ACTIVATED,
            Transition::Expired => reasons::EXPIRED,
            Transition::Lifted => reasons::LIFTED,
            Transition::Updated => reasons::UPDATED,
            Transition::Invalid => reasons::INVALID_SPEC,
            Transition::Exempted => reasons::EXEMPTED,
            Transition::ReviewDue => reasons::REVIEW_DUE,
        }
    }

    /// Warnings ask a human to look.
    pub fn is_warning(self) -> bool {
        matches!(
            self,
            Transition::Invalid | Transition::Exempted | Transition::ReviewDue
        )
    }

    /// The transitions the subject is notified of.
    pub fn notifies(self) -> bool {
        matches!(
            self,
            Transition::Applied | Transition::Activated | Transition::Expired | Transition::Lifted
        )
    }
}

fn is_invalid(status: &BanStatus) -> bool {
    status
        .conditions
        .iter()
        .any(|c| c.type_ == READY && c.reason == reasons::INVALID_SPEC)
}

fn review_due(status: &BanStatus) -> bool {
    status
        .conditions
        .iter()
        .any(|c| c.type_ == REVIEW_DUE && c.status == "True")
}

/// Compares the stored status with the new one. Derived from stored state only,
/// so a restart of the operator records nothing twice.
pub fn transitions(old: Option<&BanStatus>, new: &BanStatus) -> Vec<Transition> {
    if is_invalid(new) {
        let already =
            old.is_some_and(|o| is_invalid(o) && o.observed_generation == new.observed_generation);
        return if already {
            vec![]
        } else {
            vec![Transition::Invalid]
        };
    }
    let Some(phase) = new.phase else {
        return vec![];
    };
    let old_phase = old.and_then(|o| o.phase);
    let mut found = Vec::new();
    // Over before any stored status says it began: a process that recorded
    // its start died before its status write (or the operator was down for
    // the ban's whole life). The start is part of the ban's life either way,
    // and without it its notification would never be sent.
    if began_before_its_end(new) {
        match old_phase {
            None => found.push(Transition::Applied),
            Some(Phase::Scheduled) => found.push(Transition::Activated),
            Some(_) => {}
        }
    }
    match (old_phase, phase) {
        (Some(Phase::Scheduled), Phase::Active) => found.push(Transition::Activated),
        (before, Phase::Active) if before != Some(Phase::Active) => found.push(Transition::Applied),
        (before, Phase::Scheduled) if before != Some(Phase::Scheduled) => {
            found.push(Transition::Scheduled)
        }
        (before, Phase::Expired) if before != Some(Phase::Expired) => {
            found.push(Transition::Expired)
        }
        (before, Phase::Lifted) if before != Some(Phase::Lifted) => {
            // It ran out before it was lifted, and no stored status says so:
            // a process recorded the expiry and died before its status write,
            // or the operator was down for both. The expiry is part of the
            // ban's life either way, as if it had been seen on time.
            let expired_first = new
                .expires_at
                .zip(new.lifted_at)
                .is_some_and(|(end, lift)| end <= lift);
            if expired_first && matches!(before, None | Some(Phase::Active | Phase::Scheduled)) {
                found.push(Transition::Expired);
            }
            found.push(Transition::Lifted)
        }
        (before, Phase::Exempted) if before != Some(Phase::Exempted) => {
            found.push(Transition::Exempted)
        }
        (Some(Phase::Exempted), Phase::Exempted)
            if old.and_then(|o| o.exempted_by.as_ref()) != new.exempted_by.as_ref() =>
        {
            found.push(Transition::Exempted)
        }
        _ if old.and_then(|o| o.observed_generation) != new.observed_generation => {
            found.push(Transition::Updated)
        }
        _ => {}
    }
    if review_due(new) && !old.is_some_and(review_due) {
        found.push(Transition::ReviewDue);
    }
    found
}

/// Whether a ban that is over now (expired or lifted) was in force before it
/// ended: it started before its end or its lift, whichever came first.
fn began_before_its_end(status: &BanStatus) -> bool {
    if !matches!(status.phase, Some(Phase::Expired | Phase::Lifted)) {
        return false;
    }
    let end = match (status.expires_at, status.lifted_at) {
        (Some(end), Some(lift)) => Some(end.min(lift)),
        (end, lift) => end.or(lift),
    };
    status
        .effective_from
        .zip(end)
        .is_some_and(|(from, end)| from < end)
}

#[cfg(test)]
#[path = "status_tests.rs"]
mod tests;
