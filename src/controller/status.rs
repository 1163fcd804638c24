//! The status a ban should have, and which transition a status change records.
//! Pure: the reconciler compares the result with the stored status and writes
//! only when they differ.

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use super::reasons;
use crate::api::{BanStatus, Phase};
use crate::core::compile::{CompileError, CompiledBan};
use crate::core::{Entry, SubjectKey};

pub const READY: &str = "Ready";

/// `email:sha256:7a64adf28737…`: enough to tell subjects apart without printing the address.
pub fn subject_display(subject: &SubjectKey) -> String {
    match subject {
        SubjectKey::Email(hash) => format!("email:{}…", &hash[..hash.len().min(19)]),
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

/// `lastTransitionTime` moves only when the condition's status flips.
fn ready_condition(
    old: Option<&BanStatus>,
    ok: bool,
    reason: &str,
    message: String,
    generation: Option<i64>,
    now: DateTime<Utc>,
) -> Condition {
    let status = if ok { "True" } else { "False" };
    let previous = old.and_then(|s| s.conditions.iter().find(|c| c.type_ == READY));
    let last_transition_time = match previous {
        Some(c) if c.status == status => c.last_transition_time.clone(),
        _ => time(now),
    };
    Condition {
        type_: READY.to_string(),
        status: status.to_string(),
        reason: reason.to_string(),
        message,
        observed_generation: generation,
        last_transition_time,
    }
}

/// The status of a ban at `now`, given what it compiled to.
pub fn desired_status(
    compiled: &Result<CompiledBan, CompileError>,
    generation: Option<i64>,
    old: Option<&BanStatus>,
    blocklist: &str,
    now: DateTime<Utc>,
) -> BanStatus {
    let compiled = match compiled {
        Ok(compiled) => compiled,
        Err(error) => {
            return BanStatus {
                observed_generation: generation,
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
    let phase = window.phase_at(now);
    let until = window
        .until
        .map(rfc3339)
        .unwrap_or_else(|| "further notice (permanent)".to_string());
    let message = match phase {
        Phase::Scheduled => format!(
            "Starts at {}; already published in ConfigMap {blocklist} with its start time, until {until}",
            rfc3339(window.from)
        ),
        Phase::Active => format!("In force and published in ConfigMap {blocklist} until {until}"),
        Phase::Expired | Phase::Lifted => {
            format!("Ended at {until}; removed from ConfigMap {blocklist}")
        }
    };
    BanStatus {
        observed_generation: generation,
        phase: Some(phase),
        effective_from: Some(window.from),
        expires_at: window.until,
        subject: Some(subject_display(&compiled.entry.subject)),
        features: features_display(&compiled.entry),
        scopes: (compiled.entry.kind == crate::core::EntryKind::FeatureBlock)
            .then(|| scopes_display(&compiled.entry)),
        conditions: vec![ready_condition(
            old,
            true,
            phase.as_str(),
            message,
            generation,
            now,
        )],
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
    /// The spec changed without changing the phase.
    Updated,
    Invalid,
}

impl Transition {
    pub fn reason(self) -> &'static str {
        match self {
            Transition::Applied => reasons::APPLIED,
            Transition::Scheduled => reasons::SCHEDULED,
            Transition::Activated => reasons::ACTIVATED,
            Transition::Expired => reasons::EXPIRED,
            Transition::Updated => reasons::UPDATED,
            Transition::Invalid => reasons::INVALID_SPEC,
        }
    }
}

fn is_invalid(status: &BanStatus) -> bool {
    status
        .conditions
        .iter()
        .any(|c| c.type_ == READY && c.reason == reasons::INVALID_SPEC)
}

/// Compares the stored status with the new one. Derived from stored state only,
/// so a restart of the operator records nothing twice.
pub fn transition(old: Option<&BanStatus>, new: &BanStatus) -> Option<Transition> {
    if is_invalid(new) {
        let already =
            old.is_some_and(|o| is_invalid(o) && o.observed_generation == new.observed_generation);
        return (!already).then_some(Transition::Invalid);
    }
    let old_phase = old.and_then(|o| o.phase);
    match (old_phase, new.phase?) {
        (Some(Phase::Scheduled), Phase::Active) => Some(Transition::Activated),
        (before, Phase::Active) if before != Some(Phase::Active) => Some(Transition::Applied),
        (before, Phase::Scheduled) if before != Some(Phase::Scheduled) => {
            Some(Transition::Scheduled)
        }
        (before, Phase::Expired) if before != Some(Phase::Expired) => Some(Transition::Expired),
        _ if old.and_then(|o| o.observed_generation) != new.observed_generation => {
            Some(Transition::Updated)
        }
        _ => None,
    }
}

#[cfg(test)]
#[path = "status_tests.rs"]
mod tests;
