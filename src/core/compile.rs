//! From ban objects to their blocklist entry and schedule. Defensive: the CRD
//! already rejects bad specs, but an object stored before a rule existed must
//! produce an error for that object alone, never a panic or a dropped namespace.

use chrono::{DateTime, Utc};
use kube::ResourceExt;

use super::email::hash_email;
use super::entry::{Entry, EntryKind, Mode, Scope, SubjectKey};
use super::ip::IpNet;
use super::schedule::{Timing, Window, WindowError, window};
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
}

pub fn subject_key(subject: &Subject) -> Result<SubjectKey, CompileError> {
    let mut keys = Vec::with_capacity(1);
    if let Some(v) = &subject.user_id {
        keys.push(SubjectKey::UserId(v.clone()));
    }
    if let Some(v) = &subject.username {
        keys.push(SubjectKey::Username(v.clone()));
    }
    if let Some(v) = &subject.email {
        keys.push(SubjectKey::Email(hash_email(v)));
    }
    if let Some(v) = &subject.ip {
        keys.push(SubjectKey::Ip(v.parse::<IpNet>()?.to_string()));
    }
    if let Some(v) = &subject.key_fingerprint {
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

pub fn compile_user_ban(ban: &UserBan) -> Result<CompiledBan, CompileError> {
    let spec = &ban.spec;
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
        appeal_instructions: spec
            .appeal
            .as_ref()
            .filter(|appeal| appeal.allowed)
            .and_then(|appeal| appeal.instructions.clone()),
        global: false,
    };
    Ok(CompiledBan { window, entry })
}

pub fn compile_feature_block(block: &FeatureBlock) -> Result<CompiledBan, CompileError> {
    let spec = &block.spec;
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
        appeal_instructions: spec
            .appeal
            .as_ref()
            .filter(|appeal| appeal.allowed)
            .and_then(|appeal| appeal.instructions.clone()),
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
