//! Offenses as applications report them: a JSON batch
//! `{"namespace": "shop", "offenses": [{"type": "failed-login", "subject":
//! {"userId": "42"}, "scopes": [{"kind": "page", "name": "/login"}], "at":
//! "2026-12-01T10:00:00Z"}]}`, checked entirely before anything counts: one
//! bad row refuses the batch with an error that names the row and field.

use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

use crate::api::Subject;
use crate::core::EmailKey;
use crate::core::email::{hash_email, parse_email_hash};
use crate::core::text::is_one_line;
use crate::core::{Scope, SubjectKey};

/// Most offenses in one batch.
pub const MAX_BATCH: usize = 10_000;
/// Reports dated further ahead than this are refused (a clock gone wrong).
const MAX_AHEAD: Duration = Duration::minutes(5);

#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Batch {
    namespace: String,
    offenses: Vec<OffenseReport>,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct OffenseReport {
    #[serde(rename = "type")]
    kind: String,
    subject: ReportedSubject,
    #[serde(default)]
    scopes: Vec<Scope>,
    #[serde(default)]
    at: Option<DateTime<Utc>>,
}

/// Who committed the offense: every identifier the application knows (a
/// failed login may carry the username and the client address); each is
/// counted on its own.
#[derive(Deserialize, Debug, Clone, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReportedSubject {
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub ip: Option<String>,
    #[serde(default)]
    pub key_fingerprint: Option<String>,
}

/// One checked offense.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offense {
    pub kind: String,
    /// Each identifier as counted, with the subject a ban on it would name
    /// (an email as its `sha256:` hash in both: a ban a policy creates never
    /// holds the address).
    pub subjects: Vec<(SubjectKey, Subject)>,
    pub scopes: Vec<Scope>,
    pub at: DateTime<Utc>,
}

impl Offense {
    /// Counts emails under the operator's key, as its bans publish them: the
    /// keyed form is then what windows, labels, Events and audit lines carry.
    pub fn key_emails(&mut self, key: &EmailKey) {
        for (counted, _) in &mut self.subjects {
            if let SubjectKey::Email(hash) = counted {
                *hash = key.keyed(hash);
            }
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReportError {
    #[error("the body is not a valid offense batch: {0}")]
    Json(String),
    #[error("namespace must be a namespace name, got {0:?}")]
    Namespace(String),
    #[error("offenses is empty: nothing to report")]
    Empty,
    #[error("offenses holds {0} reports; at most {MAX_BATCH} per batch")]
    TooMany(usize),
    #[error("offenses[{index}].{field}: {message}")]
    Row {
        index: usize,
        field: &'static str,
        message: String,
    },
}

/// Parses and checks a batch; returns its namespace and offenses.
pub fn parse_batch(body: &[u8], now: DateTime<Utc>) -> Result<(String, Vec<Offense>), ReportError> {
    let batch: Batch =
        serde_json::from_slice(body).map_err(|e| ReportError::Json(e.to_string()))?;
    if !is_label(&batch.namespace) {
        return Err(ReportError::Namespace(batch.namespace));
    }
    if batch.offenses.is_empty() {
        return Err(ReportError::Empty);
    }
    if batch.offenses.len() > MAX_BATCH {
        return Err(ReportError::TooMany(batch.offenses.len()));
    }
    let offenses = batch
        .offenses
        .into_iter()
        .enumerate()
        .map(|(index, report)| check(index, report, now))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((batch.namespace, offenses))
}

/// A lowercase RFC 1123 label: what a namespace name is, and what the CRDs'
/// token rule asks of offense types and scope kinds.
fn is_label(text: &str) -> bool {
    (1..=63).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !text.starts_with('-')
        && !text.ends_with('-')
}

fn check(index: usize, report: OffenseReport, now: DateTime<Utc>) -> Result<Offense, ReportError> {
    let row = |field: &'static str, message: String| ReportError::Row {
        index,
        field,
        message,
    };
    if !is_label(&report.kind) {
        return Err(row(
            "type",
            format!(
                "{:?} must be a lowercase token such as failed-login or api-abuse",
                report.kind
            ),
        ));
    }
    let at = report.at.unwrap_or(now);
    if at > now + MAX_AHEAD {
        return Err(row(
            "at",
            format!("{at} is more than 5 minutes in the future (is the reporter's clock right?)"),
        ));
    }
    for (i, scope) in report.scopes.iter().enumerate() {
        if !is_label(&scope.kind) || scope.name.is_empty() || !is_one_line(&scope.name) {
            return Err(row(
                "scopes",
                format!("scopes[{i}] must have a lowercase token kind and a one-line name"),
            ));
        }
    }
    let subjects = subjects(&report.subject).map_err(|(field, message)| row(field, message))?;
    Ok(Offense {
        kind: report.kind,
        subjects,
        scopes: report.scopes,
        at,
    })
}

type Field = (&'static str, String);

fn subjects(reported: &ReportedSubject) -> Result<Vec<(SubjectKey, Subject)>, Field> {
    let mut out = Vec::new();
    let text = |field: &'static str, value: &str| -> Result<String, Field> {
        if value.is_empty() || value.len() > 253 || !is_one_line(value) {
            Err((
                field,
                format!("{value:?} must be one line of 1 to 253 characters"),
            ))
        } else {
            Ok(value.to_string())
        }
    };
    if let Some(v) = &reported.user_id {
        let v = text("subject.userId", v)?;
        out.push((
            SubjectKey::UserId(v.clone()),
            Subject {
                user_id: Some(v),
                ..Subject::default()
            },
        ));
    }
    if let Some(v) = &reported.username {
        let v = text("subject.username", v)?;
        out.push((
            SubjectKey::Username(v.clone()),
            Subject {
                username: Some(v),
                ..Subject::default()
            },
        ));
    }
    if let Some(v) = &reported.email {
        let v = text("subject.email", v)?;
        let hash = match parse_email_hash(&v) {
            Some(hash) => hash,
            None => {
                let trimmed = v.trim();
                let (local, domain) = trimmed.split_once('@').unwrap_or_default();
                if local.is_empty()
                    || domain.is_empty()
                    || domain.contains('@')
                    || trimmed.contains(char::is_whitespace)
                {
                    // The value itself is not repeated: it may well be an address.
                    return Err((
                        "subject.email",
                        "must look like name@domain, or be sha256:<64 hex digits>".into(),
                    ));
                }
                hash_email(trimmed)
            }
        };
        out.push((
            SubjectKey::Email(hash.clone()),
            Subject {
                email: Some(hash),
                ..Subject::default()
            },
        ));
    }
    if let Some(v) = &reported.ip {
        let addr: IpAddr = v.trim().parse().map_err(|_| {
            (
                "subject.ip",
                format!("{v:?} must be one IPv4 or IPv6 address"),
            )
        })?;
        let addr = crate::core::ip::unmap(addr);
        out.push((
            SubjectKey::Ip(addr.to_string()),
            Subject {
                ip: Some(addr.to_string()),
                ..Subject::default()
            },
        ));
    }
    if let Some(v) = &reported.key_fingerprint {
        let v = text("subject.keyFingerprint", v)?;
        out.push((
            SubjectKey::KeyFingerprint(v.clone()),
            Subject {
                key_fingerprint: Some(v),
                ..Subject::default()
            },
        ));
    }
    if out.is_empty() {
        return Err((
            "subject",
            "must name at least one of userId, username, email, ip, keyFingerprint".into(),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    #[test]
    fn a_batch_parses_every_identifier_and_hashes_emails() {
        let body = br#"{"namespace":"shop","offenses":[
            {"type":"failed-login","subject":{"username":"mallory","ip":"::ffff:203.0.113.7","email":"M@Example.org"}}]}"#;
        let (ns, offenses) = parse_batch(body, now()).unwrap();
        assert_eq!(ns, "shop");
        let keys: Vec<_> = offenses[0]
            .subjects
            .iter()
            .map(|(k, _)| k.display())
            .collect();
        assert_eq!(keys[0], "username:mallory");
        assert!(keys[1].starts_with("email:sha256:"), "{keys:?}");
        assert_eq!(keys[2], "ip:203.0.113.7");
        assert_eq!(offenses[0].at, now());
    }

    #[test]
    fn emails_are_counted_and_banned_by_hash_never_in_clear() {
        let hash = hash_email("m@example.org");
        let body = format!(
            r#"{{"namespace":"shop","offenses":[
            {{"type":"spam","subject":{{"email":"M+1@Example.org"}}}},
            {{"type":"spam","subject":{{"email":"{}"}}}}]}}"#,
            hash.to_ascii_uppercase()
        );
        let (_, mut offenses) = parse_batch(body.as_bytes(), now()).unwrap();
        for offense in &offenses {
            let (counted, subject) = &offense.subjects[0];
            assert_eq!(counted, &SubjectKey::Email(hash.clone()));
            assert_eq!(subject.email.as_deref(), Some(hash.as_str()));
        }
        let key = EmailKey::new(b"offense-test-key-0123456789").unwrap();
        offenses[0].key_emails(&key);
        assert_eq!(
            offenses[0].subjects[0].0,
            SubjectKey::Email(key.keyed(&hash))
        );
        assert_eq!(
            offenses[0].subjects[0].1.email.as_deref(),
            Some(hash.as_str()),
            "a ban names the unkeyed hash; the operator keys it when publishing"
        );

        let body = br#"{"namespace":"shop","offenses":[{"type":"x","subject":{"email":"secret address"}}]}"#;
        let refused = parse_batch(body, now()).unwrap_err().to_string();
        assert!(
            refused.starts_with("offenses[0].subject.email"),
            "{refused}"
        );
        assert!(!refused.contains("secret"), "{refused}");
    }

    #[test]
    fn a_bad_row_names_its_index_and_field() {
        let body = br#"{"namespace":"shop","offenses":[
            {"type":"failed-login","subject":{"userId":"1"}},
            {"type":"Failed Login","subject":{"userId":"2"}}]}"#;
        assert_eq!(
            parse_batch(body, now()).unwrap_err().to_string(),
            "offenses[1].type: \"Failed Login\" must be a lowercase token such as failed-login or api-abuse"
        );
        let body = br#"{"namespace":"shop","offenses":[{"type":"x","subject":{}}]}"#;
        assert!(
            parse_batch(body, now())
                .unwrap_err()
                .to_string()
                .starts_with("offenses[0].subject: must name")
        );
        let body = br#"{"namespace":"shop","offenses":[{"type":"x","subject":{"userId":9999}}]}"#;
        assert!(matches!(
            parse_batch(body, now()),
            Err(ReportError::Json(_))
        ));
        let body =
            br#"{"namespace":"shop","offenses":[{"type":"x","subject":{"ip":"10.0.0.0/8"}}]}"#;
        assert!(
            parse_batch(body, now())
                .unwrap_err()
                .to_string()
                .starts_with("offenses[0].subject.ip")
        );
    }

    #[test]
    fn batches_are_bounded_and_dated_sanely() {
        assert_eq!(
            parse_batch(br#"{"namespace":"shop","offenses":[]}"#, now()),
            Err(ReportError::Empty)
        );
        assert!(matches!(
            parse_batch(br#"{"namespace":"Shop!","offenses":[]}"#, now()),
            Err(ReportError::Namespace(_))
        ));
        let body = br#"{"namespace":"shop","offenses":[{"type":"x","subject":{"userId":"1"},"at":"2030-01-01T00:00:00Z"}]}"#;
        assert!(
            parse_batch(body, now())
                .unwrap_err()
                .to_string()
                .contains("in the future")
        );
    }
}
