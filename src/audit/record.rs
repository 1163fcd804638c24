//! One audit line, as the operator serialises it before the chain seals it.

use chrono::{DateTime, Utc};
use serde::Serialize;

pub const AUDIT_FORMAT: &str = "interdict.dev/audit/v1";

/// One audit line. Subjects appear as published (emails hashed), never in clear.
#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    /// Constant `interdict.dev/audit/v1`, so log pipelines can select these lines.
    pub audit: &'static str,
    pub time: DateTime<Utc>,
    pub action: &'static str,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub generation: Option<i64>,
    /// Identifies the transition: the same transition recorded twice has the same id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transition: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The user the API server authenticated for the change recorded here
    /// (see `crate::actor`); absent for what time or the operator did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    pub message: String,
}

impl AuditRecord {
    /// The first line of a new chain segment, written when the file's end
    /// could not be continued: `name` is the file, `reason` the fault's code.
    pub fn chain_restarted(time: DateTime<Utc>, name: &str, reason: &str, message: String) -> Self {
        AuditRecord {
            audit: AUDIT_FORMAT,
            time,
            action: super::chain::RESTART_ACTION,
            kind: "AuditLog".into(),
            namespace: String::new(),
            name: name.to_string(),
            uid: String::new(),
            generation: None,
            transition: None,
            subject: None,
            phase: None,
            from: None,
            until: None,
            reason: Some(reason.to_string()),
            actor: None,
            message,
        }
    }
}
