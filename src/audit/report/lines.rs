//! Audit lines (the operator's JSON lines, chained or not) as report rows.
//! Pure: the caller reads the files and says which line is which.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::record::{Facts, Record, Source, is_ban};
use crate::audit::AUDIT_FORMAT;

/// Why a line is not a row; the caller names the file and line.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum LineError {
    #[error("not JSON: {0}")]
    NotJson(String),
    #[error("not an audit line (no \"audit\":\"{AUDIT_FORMAT}\")")]
    NotAudit,
    #[error("no RFC 3339 \"time\"")]
    NoTime,
}

fn text(object: &Map<String, Value>, key: &str) -> Option<String> {
    object
        .get(key)
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

fn time(object: &Map<String, Value>, key: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(object.get(key)?.as_str()?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Parses one line (without its newline) into a row.
pub fn parse(line: &[u8]) -> Result<Record, LineError> {
    let value: Value =
        serde_json::from_slice(line).map_err(|e| LineError::NotJson(e.to_string()))?;
    let Value::Object(object) = value else {
        return Err(LineError::NotJson("not an object".into()));
    };
    if object.get("audit").and_then(Value::as_str) != Some(AUDIT_FORMAT) {
        return Err(LineError::NotAudit);
    }
    let at = time(&object, "time").ok_or(LineError::NoTime)?;
    let kind = text(&object, "kind").unwrap_or_default();
    let mut record = Record::new(
        Source::Audit,
        at,
        &kind,
        &text(&object, "namespace").unwrap_or_default(),
        &text(&object, "name").unwrap_or_default(),
    );
    record.action = text(&object, "action").unwrap_or_else(|| "-".into());
    record.subject = text(&object, "subject");
    record.reason = text(&object, "reason");
    record.actor = text(&object, "actor");
    record.message = text(&object, "message");
    record.transition = text(&object, "transition");
    record.facts = facts(&record, &object);
    Ok(record)
}

/// What one line tells about its object; [`super::join`] merges the lines
/// of one object in time order.
fn facts(record: &Record, object: &Map<String, Value>) -> Facts {
    let action = record.action.as_str();
    let ban = is_ban(&record.kind);
    let mut facts = Facts {
        phase: text(object, "phase"),
        created: Some(record.time),
        effective_from: time(object, "from").filter(|_| ban),
        expires_at: time(object, "until"),
        ..Facts::default()
    };
    // An exemption's lines carry no phase: its action says it.
    if record.kind == "BanExemption" && facts.phase.is_none() {
        facts.phase = match action {
            "Applied" => Some("Active".into()),
            "Expired" => Some("Expired".into()),
            _ => None,
        };
    }
    if record.kind == "BanAppeal" {
        facts.appeal_of = appealed_ban(record.message.as_deref().unwrap_or_default());
    }
    match action {
        "Applied" | "Scheduled" | "Exempted" => facts.created_by = record.actor.clone(),
        // An appeal's first line carries who filed it.
        "AppealReceived" if record.kind == "BanAppeal" => facts.created_by = record.actor.clone(),
        "Deleted" => {
            facts.deleted_at = Some(record.time);
            facts.deleted_by = record.actor.clone();
        }
        "Lifted" => {
            facts.lifted_at = Some(record.time);
            facts.lifted_by = record.actor.clone();
        }
        // The operator records an appeal's transitions on its ban too: such
        // a ban allowed appeals and was appealed.
        "AppealReceived" | "AppealApproved" | "AppealDenied" if ban => {
            facts.appealable = true;
            facts.appealed = true;
        }
        "AppealApproved" | "AppealDenied" => {
            facts.decided_at = Some(record.time);
            facts.decided_by = record.actor.clone();
        }
        _ => {}
    }
    facts
}

/// An appeal's lines begin their message with the ban they concern,
/// `UserBan NAME: …`: the only place a line names it.
fn appealed_ban(message: &str) -> Option<String> {
    let (kind, rest) = message.split_once(' ')?;
    let (name, _) = rest.split_once(": ")?;
    (matches!(kind, "UserBan" | "FeatureBlock") && !name.is_empty() && !name.contains(' '))
        .then(|| format!("{kind}/{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(fields: &str) -> Vec<u8> {
        format!(r#"{{"audit":"interdict.dev/audit/v1","time":"2026-11-21T10:00:15Z",{fields}}}"#)
            .into_bytes()
    }

    #[test]
    fn a_ban_line_becomes_a_row_with_its_window() {
        let record = parse(&line(
            r#""action":"Applied","kind":"UserBan","namespace":"apps","name":"b","uid":"u","generation":1,"transition":"5b1f0c8e2a7d4e9f3c6a1b2d","subject":"userId:42","phase":"Active","from":"2026-11-21T10:00:00Z","until":"2026-11-28T10:00:00Z","reason":"spam","message":"m","actor":"ann","prev":"00","hash":"11""#,
        ))
        .unwrap();
        assert_eq!(record.source, Source::Audit);
        assert_eq!(record.time.to_rfc3339(), "2026-11-21T10:00:15+00:00");
        assert_eq!(
            (
                record.kind.as_str(),
                record.namespace.as_str(),
                record.name.as_str()
            ),
            ("UserBan", "apps", "b")
        );
        assert_eq!(record.action, "Applied");
        assert_eq!(record.subject.as_deref(), Some("userId:42"));
        assert_eq!(record.reason.as_deref(), Some("spam"));
        assert_eq!(record.actor.as_deref(), Some("ann"));
        assert_eq!(
            record.transition.as_deref(),
            Some("5b1f0c8e2a7d4e9f3c6a1b2d")
        );
        assert_eq!(record.facts.phase.as_deref(), Some("Active"));
        assert_eq!(record.facts.created_by.as_deref(), Some("ann"));
        assert_eq!(
            record.facts.expires_at.unwrap().to_rfc3339(),
            "2026-11-28T10:00:00+00:00"
        );
        assert_eq!(
            record.facts.effective_from.unwrap().to_rfc3339(),
            "2026-11-21T10:00:00+00:00"
        );
    }

    #[test]
    fn lifts_and_decisions_record_their_time_and_actor() {
        let lifted = parse(&line(
            r#""action":"Lifted","kind":"FeatureBlock","namespace":"a","name":"f","actor":"bob","message":"m""#,
        ))
        .unwrap();
        assert_eq!(lifted.facts.lifted_at, Some(lifted.time));
        assert_eq!(lifted.facts.lifted_by.as_deref(), Some("bob"));
        assert_eq!(lifted.facts.created_by, None);

        let decided = parse(&line(
            r#""action":"AppealApproved","kind":"BanAppeal","namespace":"a","name":"p","phase":"Approved","message":"UserBan b: Approved by ann""#,
        ))
        .unwrap();
        assert_eq!(decided.facts.decided_at, Some(decided.time));
        assert_eq!(decided.facts.phase.as_deref(), Some("Approved"));
        assert!(!decided.facts.appealable);
        assert_eq!(decided.facts.appeal_of.as_deref(), Some("UserBan/b"));
        assert_eq!(decided.actor, None, "no actor member: none invented");

        let on_ban = parse(&line(
            r#""action":"AppealReceived","kind":"UserBan","namespace":"a","name":"b","message":"m""#,
        ))
        .unwrap();
        assert!(on_ban.facts.appealable && on_ban.facts.appealed);
    }

    #[test]
    fn filing_and_deleting_name_their_actors() {
        let filed = parse(&line(
            r#""action":"AppealReceived","kind":"BanAppeal","namespace":"a","name":"p","actor":"app","message":"UserBan b: received""#,
        ))
        .unwrap();
        assert_eq!(filed.facts.created_by.as_deref(), Some("app"));
        let deleted = parse(&line(
            r#""action":"Deleted","kind":"UserBan","namespace":"a","name":"b","actor":"dora","message":"m""#,
        ))
        .unwrap();
        assert_eq!(deleted.facts.deleted_at, Some(deleted.time));
        assert_eq!(deleted.facts.deleted_by.as_deref(), Some("dora"));
    }

    #[test]
    fn an_exemption_line_gives_its_phase_by_its_action() {
        let applied = parse(&line(
            r#""action":"Applied","kind":"BanExemption","namespace":"a","name":"e","message":"m""#,
        ))
        .unwrap();
        assert_eq!(applied.facts.phase.as_deref(), Some("Active"));
        let expired = parse(&line(
            r#""action":"Expired","kind":"BanExemption","namespace":"a","name":"e","message":"m""#,
        ))
        .unwrap();
        assert_eq!(expired.facts.phase.as_deref(), Some("Expired"));
    }

    #[test]
    fn lines_that_are_not_audit_lines_are_named() {
        assert!(matches!(parse(b"not json"), Err(LineError::NotJson(_))));
        assert!(matches!(parse(b"[1]"), Err(LineError::NotJson(_))));
        assert_eq!(
            parse(br#"{"level":"info","msg":"started"}"#),
            Err(LineError::NotAudit)
        );
        assert_eq!(
            parse(br#"{"audit":"interdict.dev/audit/v1","time":"yesterday"}"#),
            Err(LineError::NoTime)
        );
    }
}
