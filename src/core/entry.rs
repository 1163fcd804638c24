//! One blocklist entry: the published form of an active or scheduled ban.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

// Times are read with the document's grammar, which the Python reader shares,
// not chrono's more lenient one.
use super::document::time;

/// The subject as published: emails only as hashes (`sha256:`, or
/// `hmac-sha256:` under the operator's key), IPs normalised.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "camelCase")]
pub enum SubjectKey {
    UserId(String),
    Username(String),
    /// `sha256:<hex>` of the canonical address, or `hmac-sha256:<key id>:<hex>`
    /// of that (see [`super::email`]).
    Email(String),
    /// An address or a network in CIDR notation.
    Ip(String),
    KeyFingerprint(String),
}

impl SubjectKey {
    /// `userId:123`, the spelling used in `kubectl get` and audit lines.
    pub fn display(&self) -> String {
        let (kind, value) = self.parts();
        format!("{kind}:{value}")
    }

    pub fn parts(&self) -> (&'static str, &str) {
        match self {
            SubjectKey::UserId(v) => ("userId", v),
            SubjectKey::Username(v) => ("username", v),
            SubjectKey::Email(v) => ("email", v),
            SubjectKey::Ip(v) => ("ip", v),
            SubjectKey::KeyFingerprint(v) => ("keyFingerprint", v),
        }
    }
}

/// What a UserBan takes away (the published twin of the CRD's `spec.mode`).
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash,
)]
pub enum Mode {
    #[default]
    Suspend,
    Silence,
}

/// A context pair of a FeatureBlock or of a request, e.g. `academy` / `downtown-miami`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Scope {
    pub kind: String,
    pub name: String,
}

impl Scope {
    /// Parses `KIND=NAME` as given on a command line or in a query string.
    pub fn parse_pair(text: &str) -> Result<Scope, String> {
        match text.split_once('=') {
            Some((kind, name)) if !kind.is_empty() && !name.is_empty() => Ok(Scope {
                kind: kind.to_string(),
                name: name.to_string(),
            }),
            _ => Err(format!(
                "expected KIND=NAME, e.g. academy=downtown-miami, got {text:?}"
            )),
        }
    }
}

/// Which kind of ban produced an entry; decides how a request is matched.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EntryKind {
    UserBan,
    FeatureBlock,
}

/// Everything a reader needs to decide, and nothing private (no notes, no clear emails).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// `<Kind>/<name>`, unique within a namespace's blocklist.
    pub id: String,
    pub kind: EntryKind,
    pub subject: SubjectKey,
    /// UserBan only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// FeatureBlock only; `*` is every feature.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
    /// FeatureBlock only; empty is everywhere.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<Scope>,
    /// In force from this second (inclusive).
    #[serde(deserialize_with = "time::deserialize")]
    pub from: DateTime<Utc>,
    /// In force until this second (exclusive); absent for permanent bans.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "time::deserialize_option"
    )]
    pub until: Option<DateTime<Utc>>,
    /// The reason code.
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Sessions issued before this time are invalid for the subject.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "time::deserialize_option"
    )]
    pub revoke_sessions_before: Option<DateTime<Utc>>,
    /// How to appeal, when the ban allows appeals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appeal_instructions: Option<String>,
    /// Published from the operator's global namespace into this one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub global: bool,
}

/// A BanExemption as published: requests from this subject are out of reach of
/// IP/CIDR bans.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub struct Exemption {
    /// `BanExemption/<name>`.
    pub id: String,
    pub subject: SubjectKey,
    /// Exempt until this second (exclusive); absent means until deleted.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "time::deserialize_option"
    )]
    pub until: Option<DateTime<Utc>>,
}

/// A ban that ended but whose session revocation still holds: sessions of the
/// subject issued before `before` stay invalid until `until` (the end of the
/// operator's retention window).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub struct Revocation {
    /// The ended ban, `<Kind>/<name>`.
    pub id: String,
    pub subject: SubjectKey,
    #[serde(deserialize_with = "time::deserialize")]
    pub before: DateTime<Utc>,
    #[serde(deserialize_with = "time::deserialize")]
    pub until: DateTime<Utc>,
}

impl Revocation {
    pub fn in_force(&self, now: DateTime<Utc>) -> bool {
        now < self.until
    }
}

impl Exemption {
    pub fn in_force(&self, now: DateTime<Utc>) -> bool {
        self.until.is_none_or(|until| now < until)
    }
}

impl Entry {
    /// In force at `now`: `from` inclusive, `until` exclusive.
    pub fn in_force(&self, now: DateTime<Utc>) -> bool {
        self.from <= now && self.until.is_none_or(|until| now < until)
    }
}

/// Entries and times for unit tests across the crate.
#[cfg(test)]
pub(crate) mod fixtures {
    use chrono::{DateTime, TimeZone, Utc};

    use super::{Entry, EntryKind, Mode, SubjectKey};

    /// `secs` after a fixed instant in 2027, so tests never depend on the clock.
    pub fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
    }

    /// A permanent UserBan in force from `at(0)`; adjust with struct update syntax.
    pub fn user_ban(id: &str, subject: SubjectKey, mode: Mode) -> Entry {
        Entry {
            id: id.into(),
            kind: EntryKind::UserBan,
            subject,
            mode: Some(mode),
            features: vec![],
            scopes: vec![],
            from: at(0),
            until: None,
            reason: "spam".into(),
            message: None,
            revoke_sessions_before: None,
            appeal_instructions: None,
            global: false,
        }
    }
}
