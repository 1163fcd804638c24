//! The notification document: what every sink receives, as camelCase JSON for
//! webhooks and as rendered text for email. Pure: no I/O, no clock.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::core::email::is_keyed_hash;

/// The transition a notification is about.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Event {
    /// In force from the moment it was seen (or again after an edit).
    Applied,
    /// A scheduled ban reached its start.
    Activated,
    /// Ended at its expiry.
    Expired,
    /// Ended early by a moderator.
    Lifted,
    AppealReceived,
    AppealApproved,
    AppealDenied,
    /// The ban object was deleted.
    Deleted,
}

impl Event {
    pub const ALL: [Event; 8] = [
        Event::Applied,
        Event::Activated,
        Event::Expired,
        Event::Lifted,
        Event::AppealReceived,
        Event::AppealApproved,
        Event::AppealDenied,
        Event::Deleted,
    ];

    /// The name on the wire, also the `event` part of the idempotency key.
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Applied => "Applied",
            Event::Activated => "Activated",
            Event::Expired => "Expired",
            Event::Lifted => "Lifted",
            Event::AppealReceived => "AppealReceived",
            Event::AppealApproved => "AppealApproved",
            Event::AppealDenied => "AppealDenied",
            Event::Deleted => "Deleted",
        }
    }

    /// After this event the ban (still) restricts the subject.
    pub fn in_force(self) -> bool {
        matches!(
            self,
            Event::Applied | Event::Activated | Event::AppealReceived | Event::AppealDenied
        )
    }
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which kind of object the ban is.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BanKind {
    UserBan,
    FeatureBlock,
}

/// The ban object a notification is about.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BanRef {
    pub kind: BanKind,
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

/// The kind of identifier a subject is.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub enum SubjectKind {
    UserId,
    Username,
    Email,
    Ip,
    KeyFingerprint,
}

/// Who the ban applies to, as published: an email only ever as the `sha256:`
/// hash of its canonical form, or its keyed form when the operator has a key. The fields are private so that a clear address
/// cannot be put in by mistake: build it with the constructors.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct SubjectRef {
    kind: SubjectKind,
    value: String,
}

impl SubjectRef {
    pub fn user_id(value: impl Into<String>) -> Self {
        Self::plain(SubjectKind::UserId, value)
    }

    pub fn username(value: impl Into<String>) -> Self {
        Self::plain(SubjectKind::Username, value)
    }

    /// `raw` is the address as written in the ban (hashed here), an
    /// `sha256:<64 hex>` hash or an already published keyed hash (kept).
    pub fn email(raw: &str) -> Self {
        let value = if is_keyed_hash(raw) {
            raw.to_string()
        } else {
            crate::core::email::published_email(raw, None)
        };
        SubjectRef {
            kind: SubjectKind::Email,
            value,
        }
    }

    pub fn ip(value: impl Into<String>) -> Self {
        Self::plain(SubjectKind::Ip, value)
    }

    pub fn key_fingerprint(value: impl Into<String>) -> Self {
        Self::plain(SubjectKind::KeyFingerprint, value)
    }

    fn plain(kind: SubjectKind, value: impl Into<String>) -> Self {
        SubjectRef {
            kind,
            value: value.into(),
        }
    }

    pub fn kind(&self) -> SubjectKind {
        self.kind
    }

    pub fn value(&self) -> &str {
        &self.value
    }
}

/// From the published subject of a compiled ban (emails are hashed there already).
impl From<&crate::core::SubjectKey> for SubjectRef {
    fn from(key: &crate::core::SubjectKey) -> Self {
        use crate::core::SubjectKey;
        match key {
            SubjectKey::UserId(v) => SubjectRef::user_id(v.clone()),
            SubjectKey::Username(v) => SubjectRef::username(v.clone()),
            SubjectKey::Email(v) => SubjectRef::email(v),
            SubjectKey::Ip(v) => SubjectRef::ip(v.clone()),
            SubjectKey::KeyFingerprint(v) => SubjectRef::key_fingerprint(v.clone()),
        }
    }
}

/// What the ban takes away: a UserBan's mode, or `FeatureBlock`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    Suspend,
    Silence,
    FeatureBlock,
}

/// A context of a FeatureBlock, e.g. `{kind: academy, name: downtown-miami}`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    pub kind: String,
    pub name: String,
}

impl From<&crate::core::Scope> for Scope {
    fn from(scope: &crate::core::Scope) -> Self {
        Scope {
            kind: scope.kind.clone(),
            name: scope.name.clone(),
        }
    }
}

/// Whether and how the subject may appeal.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Appeal {
    pub allowed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
}

/// What a ban is, independent of the event: built once per ban by the caller
/// and passed to [`Notification::new`] for each event. Serialised flat into
/// the notification.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BanFacts {
    pub ban: BanRef,
    pub subject: SubjectRef,
    pub mode: Mode,
    /// FeatureBlock only (`*` is every feature); empty for UserBans.
    #[serde(default)]
    pub features: Vec<String>,
    /// FeatureBlock only; empty is everywhere.
    #[serde(default)]
    pub scopes: Vec<Scope>,
    /// The reason code (`spam`, `abuse`, …); moderators' notes are never sent.
    pub reason: String,
    /// The text for the subject (`spec.message`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// In force from (inclusive).
    pub from: DateTime<Utc>,
    /// In force until (exclusive); absent for a permanent ban.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
    pub revoke_sessions: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoke_sessions_before: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appeal: Option<Appeal>,
}

/// One notification. Fields are private so that the idempotency key and the
/// duration text always agree with the rest: build with [`Notification::new`].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    idempotency_key: String,
    event: Event,
    occurred_at: DateTime<Utc>,
    #[serde(flatten)]
    facts: BanFacts,
    duration: String,
    /// With `AppealReceived`, `AppealApproved` and `AppealDenied`: the appeal,
    /// and for a decision the reviewer's outcome and notes for the subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    appeal_decision: Option<AppealFacts>,
    /// Who made the change notified, as the API server authenticated them
    /// (absent for what time did: Activated, Expired).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    actor: Option<String>,
}

/// The appeal a notification is about.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AppealFacts {
    /// The BanAppeal's name, in the ban's namespace.
    pub name: String,
    /// `Approved` or `Denied`; absent while pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// The reviewer's notes (`spec.decision.notes`), written for the subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

impl Notification {
    /// `marker` distinguishes repeated events of one ban: the generation an
    /// `Applied` describes, the appeal's id, … Same inputs, same key, so every
    /// retry (and a retry after a restart) carries the key of the first attempt.
    /// `occurred_at` should be the recorded time of the transition, not "now",
    /// so that retries also carry the same body.
    pub fn new(event: Event, occurred_at: DateTime<Utc>, marker: &str, facts: BanFacts) -> Self {
        Notification {
            idempotency_key: idempotency_key(&facts.ban.uid, event.as_str(), marker),
            event,
            occurred_at,
            duration: duration_text(facts.from, facts.until),
            facts,
            appeal_decision: None,
            actor: None,
        }
    }

    pub fn with_actor(mut self, actor: Option<String>) -> Self {
        self.actor = actor;
        self
    }

    pub fn actor(&self) -> Option<&str> {
        self.actor.as_deref()
    }

    /// The appeal an appeal event is about (its outcome and notes once decided).
    pub fn with_appeal(mut self, appeal: AppealFacts) -> Self {
        self.appeal_decision = Some(appeal);
        self
    }

    pub fn appeal(&self) -> Option<&AppealFacts> {
        self.appeal_decision.as_ref()
    }

    pub fn idempotency_key(&self) -> &str {
        &self.idempotency_key
    }

    pub fn event(&self) -> Event {
        self.event
    }

    pub fn occurred_at(&self) -> DateTime<Utc> {
        self.occurred_at
    }

    pub fn facts(&self) -> &BanFacts {
        &self.facts
    }

    /// `7 days`, `1 hour 30 minutes`, `permanent`.
    pub fn duration(&self) -> &str {
        &self.duration
    }

    /// Sends under `key` (the one its delivery record was made with).
    pub fn keyed(mut self, key: String) -> Self {
        self.idempotency_key = key;
        self
    }

    /// The JSON body a webhook receives.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("notifications serialise")
    }
}

/// The first 32 hex digits of sha256(`ban_uid` NUL `event` NUL `marker`): a
/// pure function of the transition, so it is the same on every attempt and
/// after any restart, and different for different transitions.
pub fn idempotency_key(ban_uid: &str, event: &str, generation_or_marker: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(ban_uid.as_bytes());
    hasher.update([0]);
    hasher.update(event.as_bytes());
    hasher.update([0]);
    hasher.update(generation_or_marker.as_bytes());
    hex(&hasher.finalize()[..16])
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

/// Human text for a window: `permanent` without `until`, else its length in
/// days, hours, minutes and seconds (`7 days`, `14 days`, `1 hour 30 minutes`;
/// weeks are spelled as days). Sub-second parts are dropped.
pub fn duration_text(from: DateTime<Utc>, until: Option<DateTime<Utc>>) -> String {
    let Some(until) = until else {
        return "permanent".to_string();
    };
    let total = (until - from).num_seconds().max(0);
    let parts = [
        (total / 86_400, "day"),
        (total % 86_400 / 3_600, "hour"),
        (total % 3_600 / 60, "minute"),
        (total % 60, "second"),
    ];
    let text = parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n} {unit}{}", if *n == 1 { "" } else { "s" }))
        .collect::<Vec<_>>()
        .join(" ");
    if text.is_empty() {
        "0 seconds".to_string()
    } else {
        text
    }
}

/// `2026-11-28 10:00 UTC` (seconds shown only when not zero).
pub fn time_text(at: DateTime<Utc>) -> String {
    if at.timestamp() % 60 == 0 {
        at.format("%Y-%m-%d %H:%M UTC").to_string()
    } else {
        at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;
    use chrono::TimeZone;

    pub fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    /// A 7-day Suspend of an email subject with appeals allowed.
    pub fn suspend_facts() -> BanFacts {
        BanFacts {
            ban: BanRef {
                kind: BanKind::UserBan,
                namespace: "apps".into(),
                name: "spammer-123".into(),
                uid: "6b1f0c1e-8d1a-4f0e-9a57-2b5d3c1d9e01".into(),
            },
            subject: SubjectRef::email("Alice+promo@Example.org"),
            mode: Mode::Suspend,
            features: vec![],
            scopes: vec![],
            reason: "spam".into(),
            message: Some("Your account is suspended for 7 days for spamming.".into()),
            from: Utc.with_ymd_and_hms(2026, 11, 21, 10, 0, 0).unwrap(),
            until: Some(Utc.with_ymd_and_hms(2026, 11, 28, 10, 0, 0).unwrap()),
            revoke_sessions: true,
            revoke_sessions_before: Some(Utc.with_ymd_and_hms(2026, 11, 21, 10, 0, 0).unwrap()),
            appeal: Some(Appeal {
                allowed: true,
                instructions: Some("Reply to appeals@example.org with your ticket number.".into()),
            }),
        }
    }

    /// A permanent FeatureBlock of a user id in one scope, no appeal.
    pub fn feature_block_facts() -> BanFacts {
        BanFacts {
            ban: BanRef {
                kind: BanKind::FeatureBlock,
                namespace: "apps".into(),
                name: "mentor-124".into(),
                uid: "0c7a8e52-1111-4c3b-8f00-4a2f1c9b7d22".into(),
            },
            subject: SubjectRef::user_id("124"),
            mode: Mode::FeatureBlock,
            features: vec!["mentorship-service".into(), "publish".into()],
            scopes: vec![Scope {
                kind: "academy".into(),
                name: "downtown-miami".into(),
            }],
            reason: "abuse".into(),
            message: None,
            from: Utc.with_ymd_and_hms(2026, 11, 21, 10, 0, 0).unwrap(),
            until: None,
            revoke_sessions: false,
            revoke_sessions_before: None,
            appeal: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;
    use crate::core::email::hash_email;
    use serde_json::json;

    #[test]
    fn serialises_to_the_documented_shape() {
        let n = Notification::new(
            Event::Applied,
            at("2026-11-21T10:00:05Z"),
            "1",
            suspend_facts(),
        );
        let value: serde_json::Value = serde_json::from_slice(&n.to_json()).unwrap();
        assert_eq!(
            value,
            json!({
                "idempotencyKey": idempotency_key("6b1f0c1e-8d1a-4f0e-9a57-2b5d3c1d9e01", "Applied", "1"),
                "event": "Applied",
                "occurredAt": "2026-11-21T10:00:05Z",
                "ban": {"kind": "UserBan", "namespace": "apps", "name": "spammer-123", "uid": "6b1f0c1e-8d1a-4f0e-9a57-2b5d3c1d9e01"},
                "subject": {"kind": "email", "value": "sha256:7a64adf28737ea90719cbdf0b1a87a5effff3753b79c91d717f4f4153ead0498"},
                "mode": "Suspend",
                "features": [],
                "scopes": [],
                "reason": "spam",
                "message": "Your account is suspended for 7 days for spamming.",
                "from": "2026-11-21T10:00:00Z",
                "until": "2026-11-28T10:00:00Z",
                "duration": "7 days",
                "revokeSessions": true,
                "revokeSessionsBefore": "2026-11-21T10:00:00Z",
                "appeal": {"allowed": true, "instructions": "Reply to appeals@example.org with your ticket number."},
            })
        );
        // Round trip: receivers written in Rust can use the same type.
        let back: Notification = serde_json::from_value(value).unwrap();
        assert_eq!(back, n);
    }

    #[test]
    fn optional_fields_are_absent_not_null() {
        let n = Notification::new(
            Event::Deleted,
            at("2026-11-22T00:00:00Z"),
            "deleted",
            feature_block_facts(),
        );
        let value: serde_json::Value = serde_json::from_slice(&n.to_json()).unwrap();
        let object = value.as_object().unwrap();
        for absent in ["until", "message", "revokeSessionsBefore", "appeal"] {
            assert!(!object.contains_key(absent), "{absent} present: {value}");
        }
        assert_eq!(value["mode"], "FeatureBlock");
        assert_eq!(value["duration"], "permanent");
        assert_eq!(value["features"], json!(["mentorship-service", "publish"]));
        assert_eq!(
            value["scopes"],
            json!([{"kind": "academy", "name": "downtown-miami"}])
        );
        assert_eq!(value["subject"], json!({"kind": "userId", "value": "124"}));
        assert_eq!(value["revokeSessions"], false);
    }

    #[test]
    fn emails_never_appear_in_clear() {
        let mut facts = suspend_facts();
        facts.subject = SubjectRef::email(" Bob@Example.ORG ");
        let body = String::from_utf8(
            Notification::new(Event::Applied, at("2026-11-21T10:00:00Z"), "1", facts).to_json(),
        )
        .unwrap();
        assert!(!body.to_lowercase().contains("bob@example.org"), "{body}");
        assert!(body.contains(&hash_email("bob@example.org")));
        // An already published hash is kept, not hashed again.
        let hashed = hash_email("bob@example.org");
        assert_eq!(SubjectRef::email(&hashed).value(), hashed);
        let from_key = SubjectRef::from(&crate::core::SubjectKey::Email(hashed.clone()));
        assert_eq!(from_key.value(), hashed);
        assert_eq!(from_key.kind(), SubjectKind::Email);
        // A keyed hash (an operator with --email-hash-key-file) is kept too.
        let key = crate::core::EmailKey::new(b"notify-test-key-0123456789").unwrap();
        let keyed = key.keyed(&hashed);
        let from_key = SubjectRef::from(&crate::core::SubjectKey::Email(keyed.clone()));
        assert_eq!(from_key.value(), keyed);
    }

    #[test]
    fn every_event_has_its_wire_name() {
        for event in Event::ALL {
            assert_eq!(
                serde_json::to_value(event).unwrap(),
                json!(event.as_str()),
                "{event:?}"
            );
        }
    }

    #[test]
    fn idempotency_key_is_stable_and_distinct() {
        let key = idempotency_key("uid-1", "Applied", "3");
        // Pinned: the key must never change between releases, or receivers
        // would see a retry across an upgrade as a new notification.
        assert_eq!(key, "75fda5d36068fa1f826577cf082b63b7");
        assert_eq!(key.len(), 32);
        assert!(key.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(key, idempotency_key("uid-1", "Applied", "3"));
        let others = [
            idempotency_key("uid-2", "Applied", "3"),
            idempotency_key("uid-1", "Expired", "3"),
            idempotency_key("uid-1", "Applied", "4"),
            // NUL separators: moving characters between parts changes the key.
            idempotency_key("uid-1A", "pplied", "3"),
            idempotency_key("uid-1", "Applied3", ""),
        ];
        for other in others {
            assert_ne!(key, other);
        }
        let a = Notification::new(
            Event::Expired,
            at("2026-11-28T10:00:00Z"),
            "1",
            suspend_facts(),
        );
        let b = Notification::new(
            Event::Expired,
            at("2026-11-28T10:00:00Z"),
            "1",
            suspend_facts(),
        );
        assert_eq!(a.idempotency_key(), b.idempotency_key());
        assert_eq!(a.to_json(), b.to_json());
    }

    #[test]
    fn duration_text_reads_like_a_person_wrote_it() {
        let from = at("2026-11-21T10:00:00Z");
        let plus = |secs: i64| Some(from + chrono::Duration::seconds(secs));
        assert_eq!(duration_text(from, None), "permanent");
        assert_eq!(duration_text(from, plus(7 * 86_400)), "7 days");
        assert_eq!(duration_text(from, plus(14 * 86_400)), "14 days");
        assert_eq!(duration_text(from, plus(86_400)), "1 day");
        assert_eq!(duration_text(from, plus(12 * 3_600)), "12 hours");
        assert_eq!(duration_text(from, plus(5_400)), "1 hour 30 minutes");
        assert_eq!(duration_text(from, plus(30 * 60)), "30 minutes");
        assert_eq!(duration_text(from, plus(45)), "45 seconds");
        assert_eq!(
            duration_text(from, plus(86_400 + 3_600 + 60 + 1)),
            "1 day 1 hour 1 minute 1 second"
        );
        assert_eq!(duration_text(from, plus(0)), "0 seconds");
        assert_eq!(duration_text(from, plus(-5)), "0 seconds");
    }

    #[test]
    fn time_text_shows_seconds_only_when_needed() {
        assert_eq!(
            time_text(at("2026-11-28T10:00:00Z")),
            "2026-11-28 10:00 UTC"
        );
        assert_eq!(
            time_text(at("2026-11-28T10:00:15Z")),
            "2026-11-28 10:00:15 UTC"
        );
        assert_eq!(
            time_text(at("2026-11-28T12:00:00+02:00")),
            "2026-11-28 10:00 UTC"
        );
    }
}
