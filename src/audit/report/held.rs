//! What a subject report lists, section by section: plain serialisable
//! structs, so the JSON output is the report itself and the Markdown one
//! reads the same fields.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::subject::Requested;
use crate::api::BanReason;

/// A namespace or a kind the caller could not read: the answer says so
/// rather than leaving it out silently.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct NotSearched {
    pub namespace: String,
    pub why: String,
}

/// What the search covered.
#[derive(Serialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Searched {
    /// Namespaces read, or `["*"]` for every namespace at once.
    pub namespaces: Vec<String>,
    pub not_searched: Vec<NotSearched>,
    /// Audit files read, in chain order.
    pub audit_files: Vec<String>,
}

/// One line of an audit file, as read.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditLine {
    pub file: String,
    pub line: u64,
    pub record: Value,
}

#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Reason {
    pub code: String,
    pub notes: Option<String>,
    pub reference: Option<String>,
}

impl From<&BanReason> for Reason {
    fn from(reason: &BanReason) -> Self {
        Reason {
            code: reason.code.clone(),
            notes: reason.notes.clone(),
            reference: reason.reference.clone(),
        }
    }
}

#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub event: String,
    pub sink: String,
    pub state: String,
    pub occurred_at: DateTime<Utc>,
}

/// A UserBan or FeatureBlock on the subject (or naming them as contact).
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BanHeld {
    pub kind: &'static str,
    pub namespace: String,
    pub name: String,
    /// `subject`, or `contact email` for a ban on another identifier whose
    /// `spec.contact.email` is the requested address.
    pub matched_by: &'static str,
    pub subject: Option<String>,
    /// The requested address, hashed, when it is the ban's contact.
    pub contact: Option<String>,
    pub created: Option<DateTime<Utc>>,
    pub phase: Option<String>,
    pub effective_from: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub lifted_at: Option<DateTime<Utc>>,
    pub lifted_by: Option<String>,
    pub lift_reason: Option<String>,
    pub mode: Option<String>,
    pub features: Vec<String>,
    pub scopes: Vec<String>,
    pub reason: Reason,
    pub message: Option<String>,
    pub appeal_allowed: bool,
    pub appeal_instructions: Option<String>,
    pub review_at: Option<DateTime<Utc>>,
    pub exempted_by: Option<String>,
    /// The BanPolicy that made it, for an automatic ban.
    pub policy: Option<String>,
    pub notifications: Vec<Notification>,
}

#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    pub outcome: String,
    pub reviewer: String,
    pub notes: Option<String>,
}

#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AppealHeld {
    pub namespace: String,
    pub name: String,
    /// `UserBan/<name>` in the same namespace.
    pub ban: String,
    /// `ban` (an appeal of one of the subject's bans) or `contact email`.
    pub matched_by: &'static str,
    pub submitted: Option<DateTime<Utc>>,
    pub phase: Option<String>,
    pub statement: String,
    pub contact: Option<String>,
    pub decision: Option<Decision>,
    pub decided_at: Option<DateTime<Utc>>,
    /// The operator's word on it (why a refused appeal was refused).
    pub message: Option<String>,
}

#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ExemptionHeld {
    pub namespace: String,
    pub name: String,
    pub subject: Option<String>,
    pub created: Option<DateTime<Utc>>,
    pub reason: Reason,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct EventHeld {
    pub time: DateTime<Utc>,
    pub namespace: String,
    pub kind: String,
    pub name: String,
    pub reason: String,
    pub note: Option<String>,
}

#[derive(Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AuditHeld {
    pub file: String,
    pub line: u64,
    pub time: Option<String>,
    pub action: Option<String>,
    pub kind: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub message: Option<String>,
    /// The line as written.
    pub record: Value,
}

/// One published item naming the subject in a blocklist ConfigMap.
#[derive(Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PublishedHeld {
    pub namespace: String,
    pub config_map: String,
    /// The data key: `blocklist.json`, `suspended-emails.txt`, …
    pub key: String,
    /// `entry`, `exemption`, `revocation` (JSON documents) or `list` (plain lists).
    pub item: &'static str,
    pub id: Option<String>,
    /// The item as published (a plain list's line as a string).
    pub value: Value,
}

#[derive(Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SubjectReport {
    pub subject: Requested,
    pub generated_at: DateTime<Utc>,
    pub searched: Searched,
    /// True when nothing below names the subject.
    pub nothing_held: bool,
    pub bans: Vec<BanHeld>,
    pub appeals: Vec<AppealHeld>,
    pub exemptions: Vec<ExemptionHeld>,
    pub events: Vec<EventHeld>,
    pub audit_lines: Vec<AuditHeld>,
    pub published: Vec<PublishedHeld>,
}
