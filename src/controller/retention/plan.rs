//! When an ended record may go: pure rules, no client, no clock.
//!
//! Only what has ended is ever deleted — a ban Expired or Lifted, an appeal
//! decided, an exemption past its end — and only once its retention period has
//! passed since it ended. A legal hold keeps anything. A ban also stays while
//! its session revocation is published (deleting it would make sessions from
//! before the ban valid again), and an appeal stays while its ban exists (an
//! approved appeal is what keeps that ban lifted).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use crate::core::duration::parse_duration;

/// Keeps an object whatever its age (PRODUCT.md: shared metadata).
pub const LEGAL_HOLD_ANNOTATION: &str = "interdict.dev/legal-hold";
/// A per-object retention period (`30d`, `12h`, ...) overriding `--retention`.
pub const RETENTION_ANNOTATION: &str = "interdict.dev/retention";

/// What retention needs to know about one object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// When it ended; `None` while in force, scheduled or pending.
    pub ended_at: Option<DateTime<Utc>>,
    pub annotations: Option<&'a BTreeMap<String, String>>,
    /// Something else still depends on this object (an appeal's ban exists).
    pub depended_on: bool,
    /// The earliest moment whatever else keeps it lets go (a ban's session
    /// revocation window).
    pub kept_until: Option<DateTime<Utc>>,
}

/// The rules in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// `--retention`; `None`: ended objects are kept unless they say otherwise.
    pub period: Option<Duration>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Delete now; the period that passed, for the record.
    Delete { period: Duration },
    /// Look again at this time.
    KeepUntil(DateTime<Utc>),
    /// Nothing will make it due by time alone (in force, held, no period).
    Keep,
}

fn annotation<'a>(record: &'a Record, key: &str) -> Option<&'a str> {
    record.annotations?.get(key).map(String::as_str)
}

/// The period for this object: its annotation, else the policy's.
pub fn period(record: &Record, policy: Policy) -> Result<Option<Duration>, String> {
    match annotation(record, RETENTION_ANNOTATION) {
        Some(text) => parse_duration(text.trim())
            .map(Some)
            .map_err(|e| format!("annotation {RETENTION_ANNOTATION}={text:?}: {e}")),
        None => Ok(policy.period),
    }
}

pub fn verdict(record: &Record, policy: Policy, now: DateTime<Utc>) -> Verdict {
    if annotation(record, LEGAL_HOLD_ANNOTATION).is_some_and(|v| v.trim() == "true") {
        return Verdict::Keep;
    }
    let (Some(ended_at), false) = (record.ended_at, record.depended_on) else {
        return Verdict::Keep;
    };
    // An unreadable annotation falls back to the global period (and is
    // reported by the caller through `period`'s error).
    let Some(period) = period(record, policy).unwrap_or(policy.period) else {
        return Verdict::Keep;
    };
    let due = (ended_at + period).max(record.kept_until.unwrap_or(ended_at));
    if now >= due {
        Verdict::Delete { period }
    } else {
        Verdict::KeepUntil(due)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    fn policy(secs: i64) -> Policy {
        Policy {
            period: Some(Duration::seconds(secs)),
        }
    }

    fn ended(secs: i64) -> Record<'static> {
        Record {
            ended_at: Some(at(secs)),
            annotations: None,
            depended_on: false,
            kept_until: None,
        }
    }

    #[test]
    fn an_ended_record_goes_once_its_period_has_passed() {
        assert_eq!(
            verdict(&ended(0), policy(60), at(59)),
            Verdict::KeepUntil(at(60))
        );
        assert_eq!(
            verdict(&ended(0), policy(60), at(60)),
            Verdict::Delete {
                period: Duration::seconds(60)
            }
        );
    }

    #[test]
    fn nothing_in_force_and_nothing_without_a_period_is_deleted() {
        let in_force = Record {
            ended_at: None,
            ..ended(0)
        };
        assert_eq!(verdict(&in_force, policy(0), at(1_000_000)), Verdict::Keep);
        let none = Policy { period: None };
        assert_eq!(verdict(&ended(0), none, at(1_000_000)), Verdict::Keep);
    }

    #[test]
    fn a_legal_hold_keeps_anything() {
        let held = BTreeMap::from([(LEGAL_HOLD_ANNOTATION.to_string(), "true".to_string())]);
        let record = Record {
            annotations: Some(&held),
            ..ended(0)
        };
        assert_eq!(verdict(&record, policy(1), at(1_000_000)), Verdict::Keep);
    }

    #[test]
    fn the_object_can_ask_for_its_own_period() {
        let own = BTreeMap::from([(RETENTION_ANNOTATION.to_string(), "1h".to_string())]);
        let record = Record {
            annotations: Some(&own),
            ..ended(0)
        };
        assert_eq!(
            verdict(&record, Policy { period: None }, at(10)),
            Verdict::KeepUntil(at(3600))
        );
        assert_eq!(
            verdict(&record, policy(60), at(60)),
            Verdict::KeepUntil(at(3600))
        );
        let bad = BTreeMap::from([(RETENTION_ANNOTATION.to_string(), "soon".to_string())]);
        let record = Record {
            annotations: Some(&bad),
            ..ended(0)
        };
        assert!(period(&record, policy(60)).unwrap_err().contains("soon"));
        assert_eq!(
            verdict(&record, policy(60), at(60)),
            Verdict::Delete {
                period: Duration::seconds(60)
            },
            "the global period applies"
        );
    }

    #[test]
    fn dependants_and_revocation_windows_hold_it_back() {
        let depended = Record {
            depended_on: true,
            ..ended(0)
        };
        assert_eq!(verdict(&depended, policy(0), at(100)), Verdict::Keep);
        let revoking = Record {
            kept_until: Some(at(500)),
            ..ended(0)
        };
        assert_eq!(
            verdict(&revoking, policy(60), at(100)),
            Verdict::KeepUntil(at(500))
        );
    }
}
