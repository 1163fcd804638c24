//! Recording what happened: one Event on the object and one audit line, in one
//! place, so every transition of every kind leaves the same trail.

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::ObjectReference;

use super::Context;
use super::audit::{AUDIT_FORMAT, AuditRecord};

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
        }
    }
}

/// Event delivery is best effort (the audit line is the durable record), so a
/// failure to publish is only logged.
pub async fn record(ctx: &Context, happening: Happening) {
    let reference = &happening.reference;
    let note = truncate(&happening.note, 1000);
    ctx.metrics
        .transition(happening.action, happening.lag_seconds);
    ctx.audit.record(&AuditRecord {
        audit: AUDIT_FORMAT,
        time: Utc::now(),
        action: happening.action,
        kind: reference.kind.clone().unwrap_or_default(),
        namespace: reference.namespace.clone().unwrap_or_default(),
        name: reference.name.clone().unwrap_or_default(),
        uid: reference.uid.clone().unwrap_or_default(),
        generation: happening.generation,
        subject: happening.subject,
        phase: happening.phase,
        from: happening.from,
        until: happening.until,
        reason: happening.reason,
        message: happening.note,
    });
    // The durable line first: whoever sees the Event can find its audit line.
    if let Err(error) = ctx
        .events
        .publish(reference, happening.warning, happening.action, &note)
        .await
    {
        tracing::warn!(%error, name = reference.name.as_deref().unwrap_or_default(), "cannot publish Event");
    }
}

pub fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}
