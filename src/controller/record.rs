//! Recording what happened: one Event on the object and one audit line, in one
//! place, so every transition of every kind leaves the same trail.

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::ObjectReference;
use sha2::{Digest, Sha256};

use super::Context;
use super::audit::{AUDIT_FORMAT, AuditRecord};
use super::error::Error;

pub struct Happening {
    pub reference: ObjectReference,
    pub generation: Option<i64>,
    /// Event reason and audit action, e.g. `Expired`.
    pub action: &'static str,
    pub warning: bool,
    pub note: String,
    pub subject: Option<String>,
    pub phase: Option<&'static str>,
    pub from: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub reason: Option<String>,
    /// How late a timed transition was applied, for the lag metric.
    pub lag_seconds: Option<f64>,
    /// The transition's id (see [`transition_id`]): recorded once per id.
    pub id: Option<String>,
    /// Who made the change, as the API server authenticated them.
    pub actor: Option<String>,
}

/// The id of a transition: the object's uid, the action, and what makes this
/// occurrence of the action distinct (a generation, a start or end time, the
/// phase it came from). Computed again after a crash from the same stored
/// state, it is the same, so the Event and the audit line are not repeated.
pub fn transition_id(uid: &str, action: &str, distinct: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in [uid, action].into_iter().chain(distinct.iter().copied()) {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    hasher.finalize()[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Happening {
    pub fn new(reference: ObjectReference, action: &'static str, note: String) -> Self {
        Happening {
            reference,
            generation: None,
            action,
            warning: false,
            note,
            subject: None,
            phase: None,
            from: None,
            until: None,
            reason: None,
            lag_seconds: None,
            id: None,
            actor: None,
        }
    }
}

/// The audit line is written first (the durable record), then the Event. A
/// transition already recorded (same id) gets no second audit line and no
/// second Event. An Event that cannot be written fails the caller's pass when
/// the transition has an id (the retry writes it under the same name); one
/// without an id is only logged, since a retry would duplicate it.
pub async fn record(ctx: &Context, happening: Happening) -> Result<(), Error> {
    let reference = &happening.reference;
    // The Event names the actor too: Events are what `kubectl describe` shows.
    let note = match &happening.actor {
        Some(actor) if !happening.note.contains(actor.as_str()) => {
            truncate(&format!("{} (by {actor})", happening.note), 1000)
        }
        _ => truncate(&happening.note, 1000),
    };
    let written = ctx.audit.record(&AuditRecord {
        audit: AUDIT_FORMAT,
        time: Utc::now(),
        action: happening.action,
        kind: reference.kind.clone().unwrap_or_default(),
        namespace: reference.namespace.clone().unwrap_or_default(),
        name: reference.name.clone().unwrap_or_default(),
        uid: reference.uid.clone().unwrap_or_default(),
        generation: happening.generation,
        transition: happening.id.clone(),
        subject: happening.subject,
        phase: happening.phase,
        from: happening.from,
        until: happening.until,
        reason: happening.reason,
        actor: happening.actor,
        message: happening.note,
    });
    // Not written means written before, possibly by a process that died
    // before its Event: the Event is created anyway, and is found there (same
    // name, from the id) if it exists.
    if written {
        ctx.metrics
            .transition(happening.action, happening.lag_seconds);
    }
    super::failpoint::reached(super::failpoint::AFTER_AUDIT);
    if super::failpoint::broken(super::failpoint::SKIP_EVENTS) {
        return Ok(());
    }
    // The durable line first: whoever sees the Event can find its audit line.
    if let Err(error) = ctx
        .events
        .publish(
            reference,
            happening.warning,
            happening.action,
            &note,
            happening.id.as_deref(),
        )
        .await
    {
        let name = reference.name.clone().unwrap_or_default();
        // A transition's Event can be written again (it is named after the
        // id): failing the pass keeps the status unwritten, so the retry
        // records the transition again and its Event is not lost. An Event
        // without an id would be duplicated by a retry: it is given up.
        if happening.id.is_none() {
            tracing::warn!(%error, name, "cannot publish Event");
            return Ok(());
        }
        return Err(Error::WriteEvent {
            reason: happening.action,
            namespace: reference.namespace.clone().unwrap_or_default(),
            name,
            source: error,
        });
    }
    Ok(())
}

pub fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}
