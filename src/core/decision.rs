//! "May this subject use this feature in this context right now?"

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::document::Contents;
use super::email::{EmailKey, query_email_hash};
use super::entry::{Entry, EntryKind, Exemption, Revocation, SubjectKey};
use super::entry::{Mode, Scope};
use super::ip::IpNet;

/// Features a silenced subject keeps: signing in, reading and exporting its own data.
pub const SILENCE_ALLOWED_FEATURES: [&str; 3] = ["login", "read", "export"];

/// What an application knows about a request. Every identifier given is checked,
/// so one question covers a user's id, email and address at once.
#[derive(Clone, Debug, Default)]
pub struct Query {
    pub user_id: Option<String>,
    pub username: Option<String>,
    /// A typed address (canonicalised and hashed here) or an `sha256:` hash;
    /// with an [`EmailKey`] it also matches entries keyed with that key.
    pub email: Option<String>,
    pub ip: Option<IpAddr>,
    pub key_fingerprint: Option<String>,
    pub feature: String,
    pub scopes: Vec<Scope>,
}

impl Query {
    pub fn has_subject(&self) -> bool {
        self.user_id.is_some()
            || self.username.is_some()
            || self.email.is_some()
            || self.ip.is_some()
            || self.key_fingerprint.is_some()
    }
}

/// The answer. Denials carry what the application shows and enforces.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    pub allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ban: Option<String>,
    /// `Suspend`, `Silence` or `FeatureBlock`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<DateTime<Utc>>,
    /// Absent when the ban is permanent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
    /// Sessions issued before this time must be refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoke_sessions_before: Option<DateTime<Utc>>,
    /// The subject's content must be hidden from others (silenced subjects).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub content_hidden: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub appeal_instructions: Option<String>,
    /// What a banner needs beside the answer: the subject's entries that do not
    /// deny this request (other features, other scopes, a kept feature under a
    /// Silence, scheduled bans), earliest first. The reported `ban` is never one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notices: Vec<Notice>,
}

/// An entry of the subject that concerns it without refusing this request.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Notice {
    pub ban: String,
    /// `Suspend`, `Silence` or `FeatureBlock`, as in [`Decision::mode`].
    pub mode: String,
    pub phase: NoticePhase,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub from: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
    /// The blocked features (FeatureBlock only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub features: Option<Vec<String>>,
    /// Where the features are blocked (FeatureBlock only; absent = everywhere).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<Scope>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub appeal_instructions: Option<String>,
}

/// Whether a notice's entry is in force now or starts later.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoticePhase {
    Active,
    Scheduled,
}

impl Decision {
    pub fn allow() -> Self {
        Decision {
            allowed: true,
            ban: None,
            mode: None,
            reason: None,
            message: None,
            from: None,
            until: None,
            revoke_sessions_before: None,
            content_hidden: false,
            appeal_instructions: None,
            notices: Vec::new(),
        }
    }
}

/// Query identifiers prepared once per question rather than once per entry.
pub(crate) struct Subjects {
    pub(crate) user_id: Option<String>,
    pub(crate) username: Option<String>,
    /// `sha256:<hex>`: entries written without a key.
    pub(crate) email_hash: Option<String>,
    /// `hmac-sha256:<key id>:<hex>` of the same, under the reader's key.
    pub(crate) email_keyed: Option<String>,
    pub(crate) ip: Option<IpAddr>,
    pub(crate) key_fingerprint: Option<String>,
}

impl Subjects {
    pub(crate) fn of(query: &Query, key: Option<&EmailKey>) -> Self {
        let email_hash = query.email.as_deref().map(query_email_hash);
        // Both forms: a keyed reader still matches unkeyed entries (documents
        // written before the key, or by an operator without it).
        let email_keyed = key.zip(email_hash.as_deref()).map(|(k, h)| k.keyed(h));
        Subjects {
            user_id: query.user_id.clone(),
            username: query.username.clone(),
            email_hash,
            email_keyed,
            ip: query.ip.map(super::ip::unmap),
            key_fingerprint: query.key_fingerprint.clone(),
        }
    }

    pub(crate) fn matches(&self, key: &SubjectKey) -> bool {
        match key {
            SubjectKey::UserId(v) => self.user_id.as_ref() == Some(v),
            SubjectKey::Username(v) => self.username.as_ref() == Some(v),
            SubjectKey::Email(v) => {
                self.email_hash.as_ref() == Some(v) || self.email_keyed.as_ref() == Some(v)
            }
            SubjectKey::KeyFingerprint(v) => self.key_fingerprint.as_ref() == Some(v),
            SubjectKey::Ip(net) => match (self.ip, net.parse::<IpNet>()) {
                (Some(ip), Ok(net)) => net.contains(ip),
                _ => false,
            },
        }
    }
}

/// How much an entry takes away; the strongest match is the one reported.
fn severity(entry: &Entry) -> u8 {
    match (entry.kind, entry.mode) {
        (EntryKind::UserBan, Some(Mode::Suspend) | None) => 3,
        (EntryKind::UserBan, Some(Mode::Silence)) => 2,
        (EntryKind::FeatureBlock, _) => 1,
    }
}

fn denies(entry: &Entry, query: &Query) -> bool {
    match entry.kind {
        EntryKind::UserBan => match entry.mode.unwrap_or_default() {
            Mode::Suspend => true,
            Mode::Silence => !SILENCE_ALLOWED_FEATURES
                .iter()
                .any(|kept| kept.eq_ignore_ascii_case(&query.feature)),
        },
        EntryKind::FeatureBlock => {
            let feature_listed = entry
                .features
                .iter()
                .any(|f| f == "*" || f.eq_ignore_ascii_case(&query.feature));
            let in_scope = entry.scopes.is_empty()
                || entry.scopes.iter().any(|s| {
                    query
                        .scopes
                        .iter()
                        .any(|q| q.kind.eq_ignore_ascii_case(&s.kind) && q.name == s.name)
                });
            feature_listed && in_scope
        }
    }
}

/// Orders entries that apply to one request: most severe, then longest-lasting,
/// then lowest id, so the reported one never depends on entry order.
fn precedence(a: &Entry, b: &Entry) -> std::cmp::Ordering {
    severity(a)
        .cmp(&severity(b))
        .then_with(|| match (a.until, b.until) {
            (None, None) => std::cmp::Ordering::Equal,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some(_), None) => std::cmp::Ordering::Less,
            (Some(x), Some(y)) => x.cmp(&y),
        })
        .then_with(|| b.id.cmp(&a.id))
}

/// Decides from entries at `now`. Among several denials the most severe wins
/// (Suspend, then Silence, then feature blocks), then the longest-lasting, then by id,
/// so the answer never depends on entry order.
pub fn decide<'a>(
    entries: impl IntoIterator<Item = &'a Entry>,
    query: &Query,
    now: DateTime<Utc>,
) -> Decision {
    decide_for(&Subjects::of(query, None), entries, &[], &[], query, now)
}

/// [`decide`] with everything a blocklist holds: entries, exemptions and the
/// session revocations of ended bans.
pub fn decide_contents(contents: &Contents, query: &Query, now: DateTime<Utc>) -> Decision {
    decide_keyed(contents, query, None, now)
}

/// [`decide_contents`] by a reader that holds the email key: a query's email
/// also matches entries keyed with it.
pub fn decide_keyed(
    contents: &Contents,
    query: &Query,
    key: Option<&EmailKey>,
    now: DateTime<Utc>,
) -> Decision {
    decide_for(
        &Subjects::of(query, key),
        &contents.entries,
        &contents.exemptions,
        &contents.revocations,
        query,
        now,
    )
}

/// [`decide`] with the query's identifiers already prepared (the index uses it on
/// its candidates, so both paths share every rule).
pub(crate) fn decide_for<'a>(
    subjects: &Subjects,
    entries: impl IntoIterator<Item = &'a Entry>,
    exemptions: &[Exemption],
    revocations: &[Revocation],
    query: &Query,
    now: DateTime<Utc>,
) -> Decision {
    // An exempt user or address is out of reach of IP/CIDR bans.
    let exempt = exemptions
        .iter()
        .any(|x| x.in_force(now) && subjects.matches(&x.subject));
    let concerned: Vec<&Entry> = entries
        .into_iter()
        .filter(|e| {
            subjects.matches(&e.subject) && !(exempt && matches!(e.subject, SubjectKey::Ip(_)))
        })
        .collect();
    // Sessions from before any ban that has started stay invalid, also after it
    // ended (the operator publishes ended bans as revocations for a while).
    let ended_bans = revocations
        .iter()
        .filter(|r| r.in_force(now) && subjects.matches(&r.subject))
        .filter(|r| !(exempt && matches!(r.subject, SubjectKey::Ip(_))))
        .map(|r| r.before);
    let revoke_sessions_before = concerned
        .iter()
        .filter(|e| e.from <= now)
        .filter_map(|e| e.revoke_sessions_before)
        .chain(ended_bans)
        .max();
    let applicable: Vec<&Entry> = concerned
        .iter()
        .copied()
        .filter(|e| e.in_force(now))
        .collect();
    let winner = applicable
        .iter()
        .filter(|e| denies(e, query))
        .max_by(|a, b| precedence(a, b));
    let silence = applicable
        .iter()
        .filter(|e| e.kind == EntryKind::UserBan && e.mode == Some(Mode::Silence))
        .max_by(|a, b| precedence(a, b));
    // A silenced subject's content stays hidden whatever else applies, and an
    // allowed answer still names the Silence so the application can say so.
    let mut decision = match winner.or(silence) {
        Some(entry) => restriction(entry, winner.is_none(), silence.is_some()),
        None => Decision::allow(),
    };
    decision.revoke_sessions_before = revoke_sessions_before;
    decision.notices = notices(&concerned, decision.ban.as_deref(), query, now);
    decision
}

/// The subject's entries that do not refuse this request: in force without
/// denying it, or scheduled. Losing denials are left out (the request is
/// refused anyway), and so are ended entries.
fn notices(
    concerned: &[&Entry],
    reported: Option<&str>,
    query: &Query,
    now: DateTime<Utc>,
) -> Vec<Notice> {
    let mut notices: Vec<Notice> = concerned
        .iter()
        .filter(|e| Some(e.id.as_str()) != reported)
        .filter_map(|e| {
            let phase = if e.in_force(now) {
                NoticePhase::Active
            } else if now < e.from {
                NoticePhase::Scheduled
            } else {
                return None;
            };
            if phase == NoticePhase::Active && denies(e, query) {
                return None;
            }
            Some(notice(e, phase))
        })
        .collect();
    notices.sort_by(|a, b| a.from.cmp(&b.from).then_with(|| a.ban.cmp(&b.ban)));
    notices
}

fn notice(entry: &Entry, phase: NoticePhase) -> Notice {
    let feature_block = entry.kind == EntryKind::FeatureBlock;
    Notice {
        ban: entry.id.clone(),
        mode: mode_name(entry),
        phase,
        reason: entry.reason.clone(),
        message: entry.message.clone(),
        from: entry.from,
        until: entry.until,
        features: feature_block.then(|| entry.features.clone()),
        scopes: if feature_block {
            entry.scopes.clone()
        } else {
            Vec::new()
        },
        appeal_instructions: entry.appeal_instructions.clone(),
    }
}

fn mode_name(entry: &Entry) -> String {
    match (entry.kind, entry.mode) {
        (EntryKind::FeatureBlock, _) => "FeatureBlock".to_string(),
        (EntryKind::UserBan, mode) => format!("{:?}", mode.unwrap_or_default()),
    }
}

fn restriction(entry: &Entry, allowed: bool, silenced: bool) -> Decision {
    Decision {
        allowed,
        ban: Some(entry.id.clone()),
        mode: Some(mode_name(entry)),
        reason: Some(entry.reason.clone()),
        message: entry.message.clone(),
        from: Some(entry.from),
        until: entry.until,
        revoke_sessions_before: None,
        content_hidden: silenced,
        appeal_instructions: entry.appeal_instructions.clone(),
        notices: Vec::new(),
    }
}

#[cfg(test)]
#[path = "decision_tests.rs"]
mod tests;
