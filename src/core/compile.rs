//! From ban objects to their blocklist entry and schedule. Defensive: the CRD
//! already rejects bad specs, but an object stored before a rule existed must
//! produce an error for that object alone, never a panic or a dropped namespace.

use chrono::{DateTime, Utc};
use kube::ResourceExt;

use super::email::{hash_email, parse_email_hash};
use super::entry::{Entry, EntryKind, Mode, Scope, SubjectKey};
use super::ip::IpNet;
use super::schedule::{Timing, Window, WindowError, window};
use super::text::{is_clean_text, is_one_line};
use crate::api::{BanMode, FeatureBlock, Subject, UserBan};

/// A ban reduced to what the operator needs: its window and its published entry.
#[derive(Clone, Debug, PartialEq)]
pub struct CompiledBan {
    pub window: Window,
    pub entry: Entry,
}

#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum CompileError {
    #[error("spec.subject must set exactly one of userId, username, email, ip, keyFingerprint")]
    SubjectCount,
    #[error("spec.subject.ip: {0}")]
    Ip(#[from] super::ip::IpNetError),
    #[error(transparent)]
    Window(#[from] WindowError),
    #[error("metadata.creationTimestamp is missing")]
    NoCreationTimestamp,
    #[error(
        "spec.subject.ip {0} is wider than /{v4} (IPv4) or /{v6} (IPv6); set spec.subject.acknowledgeWideRange: true if that is really meant",
        v4 = super::ip::WIDEST_V4_PREFIX,
        v6 = super::ip::WIDEST_V6_PREFIX
    )]
    WideRange(String),
    #[error("{0} contains a control character (such as a line break) and cannot be published")]
    ControlCharacter(&'static str),
}

/// Refuses a one-line value with a control character in it.
fn one_line(field: &'static str, value: &str) -> Result<(), CompileError> {
    if is_one_line(value) {
        Ok(())
    } else {
        Err(CompileError::ControlCharacter(field))
    }
}

/// The published texts of a ban besides its subject: every one of them reaches
/// the blocklist, Events or notifications.
fn check_texts(
    reason: &str,
    message: Option<&str>,
    instructions: Option<&str>,
) -> Result<(), CompileError> {
    one_line("spec.reason.code", reason)?;
    if let Some(message) = message {
        one_line("spec.message", message)?;
    }
    if instructions.is_some_and(|i| !is_clean_text(i)) {
        return Err(CompileError::ControlCharacter("spec.appeal.instructions"));
    }
    Ok(())
}

/// The published subject. An email written as its `sha256:` hash (so the
/// address never reached the cluster) is published as that hash.
pub fn subject_key(subject: &Subject) -> Result<SubjectKey, CompileError> {
    let mut keys = Vec::with_capacity(1);
    if let Some(v) = &subject.user_id {
        one_line("spec.subject.userId", v)?;
        keys.push(SubjectKey::UserId(v.clone()));
    }
    if let Some(v) = &subject.username {
        one_line("spec.subject.username", v)?;
        keys.push(SubjectKey::Username(v.clone()));
    }
    if let Some(v) = &subject.email {
        one_line("spec.subject.email", v)?;
        let hashed = parse_email_hash(v).unwrap_or_else(|| hash_email(v));
        keys.push(SubjectKey::Email(hashed));
    }
    if let Some(v) = &subject.ip {
        let net = v.parse::<IpNet>()?;
        if net.is_wide() && subject.acknowledge_wide_range != Some(true) {
            return Err(CompileError::WideRange(v.clone()));
        }
        keys.push(SubjectKey::Ip(net.to_string()));
    }
    if let Some(v) = &subject.key_fingerprint {
        one_line("spec.subject.keyFingerprint", v)?;
        keys.push(SubjectKey::KeyFingerprint(v.clone()));
    }
    match <[SubjectKey; 1]>::try_from(keys) {
        Ok([key]) => Ok(key),
        Err(_) => Err(CompileError::SubjectCount),
    }
}

fn created(meta: &kube::core::ObjectMeta) -> Result<DateTime<Utc>, CompileError> {
    let stamp = meta
        .creation_timestamp
        .as_ref()
        .ok_or(CompileError::NoCreationTimestamp)?;
    DateTime::from_timestamp(stamp.0.as_second(), 0).ok_or(CompileError::NoCreationTimestamp)
}

fn appeal_instructions(appeal: Option<&crate::api::Appeal>) -> Option<&str> {
    appeal
        .filter(|appeal| appeal.allowed)
        .and_then(|appeal| appeal.instructions.as_deref())
}

pub fn compile_user_ban(ban: &UserBan) -> Result<CompiledBan, CompileError> {
    let spec = &ban.spec;
    check_texts(
        &spec.reason.code,
        spec.message.as_deref(),
        appeal_instructions(spec.appeal.as_ref()),
    )?;
    let window = window(Timing {
        starts_at: spec.starts_at,
        duration: spec.duration.as_deref(),
        expires_at: spec.expires_at,
        created: created(&ban.metadata)?,
    })?;
    let entry = Entry {
        id: format!("UserBan/{}", ban.name_any()),
        kind: EntryKind::UserBan,
        subject: subject_key(&spec.subject)?,
        mode: Some(match spec.mode {
            BanMode::Suspend => Mode::Suspend,
            BanMode::Silence => Mode::Silence,
        }),
        features: Vec::new(),
        scopes: Vec::new(),
        from: window.from,
        until: window.until,
        reason: spec.reason.code.clone(),
        message: spec.message.clone(),
        revoke_sessions_before: spec.revokes_sessions().then_some(window.from),
        appeal_instructions: appeal_instructions(spec.appeal.as_ref()).map(str::to_string),
        global: false,
    };
    Ok(CompiledBan { window, entry })
}

pub fn compile_feature_block(block: &FeatureBlock) -> Result<CompiledBan, CompileError> {
    let spec = &block.spec;
    check_texts(
        &spec.reason.code,
        spec.message.as_deref(),
        appeal_instructions(spec.appeal.as_ref()),
    )?;
    for feature in &spec.features {
        one_line("spec.features", feature)?;
    }
    for scope in &spec.scopes {
        one_line("spec.scopes[].kind", &scope.kind)?;
        one_line("spec.scopes[].name", &scope.name)?;
    }
    let window = window(Timing {
        starts_at: spec.starts_at,
        duration: spec.duration.as_deref(),
        expires_at: spec.expires_at,
        created: created(&block.metadata)?,
    })?;
    let mut features = spec.features.clone();
    features.sort();
    features.dedup();
    let mut scopes: Vec<Scope> = spec
        .scopes
        .iter()
        .map(|s| Scope {
            kind: s.kind.clone(),
            name: s.name.clone(),
        })
        .collect();
    scopes.sort();
    scopes.dedup();
    let entry = Entry {
        id: format!("FeatureBlock/{}", block.name_any()),
        kind: EntryKind::FeatureBlock,
        subject: subject_key(&spec.subject)?,
        mode: None,
        features,
        scopes,
        from: window.from,
        until: window.until,
        reason: spec.reason.code.clone(),
        message: spec.message.clone(),
        revoke_sessions_before: None,
        appeal_instructions: appeal_instructions(spec.appeal.as_ref()).map(str::to_string),
        global: false,
    };
    Ok(CompiledBan { window, entry })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{BanReason, UserBanSpec};

    fn ban(subject: Subject) -> UserBan {
        let mut ban = UserBan::new(
            "b",
            UserBanSpec {
                subject,
                mode: BanMode::Suspend,
                duration: Some("1h".into()),
                expires_at: None,
                starts_at: None,
                reason: BanReason {
                    code: "spam".into(),
                    ..Default::default()
                },
                message: None,
                revoke_sessions: None,
                appeal: None,
                notify: true,
                lift: None,
                contact: None,
                review_after: None,
            },
        );
        ban.metadata.creation_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::from_second(1_800_000_000).unwrap(),
            ));
        ban
    }

    #[test]
    fn emails_are_hashed_and_ips_normalised() {
        let email = compile_user_ban(&ban(Subject {
            email: Some("Alice+x@Example.org".into()),
            ..Default::default()
        }))
        .unwrap();
        assert_eq!(
            email.entry.subject,
            SubjectKey::Email(hash_email("alice@example.org"))
        );
        let ip = compile_user_ban(&ban(Subject {
            ip: Some("10.9.8.7/8".into()),
            ..Default::default()
        }))
        .unwrap();
        assert_eq!(ip.entry.subject, SubjectKey::Ip("10.0.0.0/8".into()));
    }

    #[test]
    fn an_email_written_as_its_hash_is_published_as_that_hash() {
        let hash = hash_email("alice@example.org");
        let written = format!("SHA256:{}", hash[7..].to_ascii_uppercase());
        let compiled = compile_user_ban(&ban(Subject {
            email: Some(written),
            ..Default::default()
        }))
        .unwrap();
        assert_eq!(compiled.entry.subject, SubjectKey::Email(hash));
    }

    #[test]
    fn suspend_revokes_sessions_from_the_start() {
        let compiled = compile_user_ban(&ban(Subject {
            user_id: Some("1".into()),
            ..Default::default()
        }))
        .unwrap();
        assert_eq!(
            compiled.entry.revoke_sessions_before,
            Some(compiled.window.from)
        );
        assert_eq!(
            compiled.entry.until,
            Some(compiled.window.from + chrono::Duration::hours(1))
        );
    }

    #[test]
    fn wide_ranges_need_an_acknowledgement() {
        let wide = Subject {
            ip: Some("0.0.0.0/0".into()),
            ..Default::default()
        };
        let refused = compile_user_ban(&ban(wide.clone())).unwrap_err();
        assert_eq!(refused, CompileError::WideRange("0.0.0.0/0".into()));
        assert!(
            refused.to_string().contains("acknowledgeWideRange"),
            "{refused}"
        );
        let acknowledged = Subject {
            acknowledge_wide_range: Some(true),
            ..wide
        };
        assert!(compile_user_ban(&ban(acknowledged)).is_ok());
        for narrow in ["10.0.0.0/8", "2001:db8::/32", "::1"] {
            let subject = Subject {
                ip: Some(narrow.into()),
                ..Default::default()
            };
            assert!(compile_user_ban(&ban(subject)).is_ok(), "{narrow}");
        }
    }

    #[test]
    fn control_characters_are_refused_wherever_they_would_be_published() {
        let newline = Subject {
            username: Some("mallory\nalice".into()),
            ..Default::default()
        };
        assert_eq!(
            compile_user_ban(&ban(newline)),
            Err(CompileError::ControlCharacter("spec.subject.username"))
        );
        let mut message = ban(Subject {
            user_id: Some("1".into()),
            ..Default::default()
        });
        message.spec.message = Some("first\rsecond".into());
        assert_eq!(
            compile_user_ban(&message),
            Err(CompileError::ControlCharacter("spec.message"))
        );
        message.spec.message = None;
        message.spec.appeal = Some(crate::api::Appeal {
            allowed: true,
            instructions: Some("Write to us.\nWe answer within a week.".into()),
        });
        assert!(
            compile_user_ban(&message).is_ok(),
            "line feeds are fine in instructions"
        );
    }

    #[test]
    fn wrong_subject_count_is_an_error_for_this_ban_only() {
        let none = compile_user_ban(&ban(Subject::default()));
        assert_eq!(none, Err(CompileError::SubjectCount));
        let two = compile_user_ban(&ban(Subject {
            user_id: Some("1".into()),
            username: Some("a".into()),
            ..Default::default()
        }));
        assert_eq!(two, Err(CompileError::SubjectCount));
    }
}
