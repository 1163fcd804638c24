//! When a ban is in force, and which phase it is in at a given time.

use chrono::{DateTime, SubsecRound, Utc};

use super::duration::{DurationError, parse_duration};

/// Where a ban stands in its life.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "operator", derive(schemars::JsonSchema))]
pub enum Phase {
    /// Starts later (startsAt in the future); already published with its `from`.
    Scheduled,
    /// In force.
    Active,
    /// Ended; kept for the record, no longer published.
    Expired,
    /// Ended early by a moderator or an approved appeal.
    Lifted,
    /// Within its window but held back by a BanExemption of its subject (named
    /// in `status.exemptedBy`): not published, nothing announced to the subject.
    /// A status phase only; a window by itself is never exempted.
    Exempted,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Scheduled => "Scheduled",
            Phase::Active => "Active",
            Phase::Expired => "Expired",
            Phase::Lifted => "Lifted",
            Phase::Exempted => "Exempted",
        }
    }
}

/// The interval a ban is in force: `from` inclusive, `until` exclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub from: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
}

/// The timing fields shared by every ban kind.
#[derive(Clone, Copy, Debug)]
pub struct Timing<'a> {
    pub starts_at: Option<DateTime<Utc>>,
    pub duration: Option<&'a str>,
    pub expires_at: Option<DateTime<Utc>>,
    /// `metadata.creationTimestamp`: the start when `startsAt` is unset, so the same
    /// manifest applied twice means the same window.
    pub created: DateTime<Utc>,
}

#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum WindowError {
    #[error("spec.duration: {0}")]
    Duration(#[from] DurationError),
    #[error(
        "spec.duration: the ban would end after 9999-12-31T23:59:59Z, the last time RFC 3339 can write"
    )]
    OutOfRange,
    #[error("spec.duration and spec.expiresAt are both set")]
    DurationAndExpiry,
}

/// The last instant an RFC 3339 time (four-digit year) can express: later ends
/// could not be written to a status or read by every reader.
pub fn latest_time() -> DateTime<Utc> {
    DateTime::from_timestamp(253_402_300_799, 0).expect("9999-12-31T23:59:59Z is representable")
}

/// Times are kept to the second, the precision the product promises and the CRD stores.
pub fn window(timing: Timing<'_>) -> Result<Window, WindowError> {
    let from = timing.starts_at.unwrap_or(timing.created).trunc_subsecs(0);
    let until = match (timing.duration, timing.expires_at) {
        (Some(_), Some(_)) => return Err(WindowError::DurationAndExpiry),
        (Some(text), None) => Some(
            from.checked_add_signed(parse_duration(text)?)
                .filter(|until| *until <= latest_time())
                .ok_or(WindowError::OutOfRange)?,
        ),
        (None, Some(at)) => Some(at.trunc_subsecs(0)),
        (None, None) => None,
    };
    Ok(Window { from, until })
}

impl Window {
    pub fn phase_at(&self, now: DateTime<Utc>) -> Phase {
        if now < self.from {
            Phase::Scheduled
        } else if self.until.is_some_and(|until| now >= until) {
            Phase::Expired
        } else {
            Phase::Active
        }
    }

    /// The next instant after `now` at which the phase changes, if any.
    pub fn next_transition(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self.phase_at(now) {
            Phase::Scheduled => Some(self.from),
            Phase::Active => self.until,
            Phase::Expired | Phase::Lifted | Phase::Exempted => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
    }

    fn timing<'a>(
        starts: Option<i64>,
        duration: Option<&'a str>,
        expires: Option<i64>,
    ) -> Timing<'a> {
        Timing {
            starts_at: starts.map(at),
            duration,
            expires_at: expires.map(at),
            created: at(0),
        }
    }

    #[test]
    fn duration_counts_from_start_else_creation() {
        assert_eq!(
            window(timing(None, Some("15s"), None)).unwrap(),
            Window {
                from: at(0),
                until: Some(at(15))
            }
        );
        assert_eq!(
            window(timing(Some(100), Some("1m"), None)).unwrap(),
            Window {
                from: at(100),
                until: Some(at(160))
            }
        );
        assert_eq!(
            window(timing(None, None, Some(50))).unwrap(),
            Window {
                from: at(0),
                until: Some(at(50))
            }
        );
        assert_eq!(
            window(timing(None, None, None)).unwrap(),
            Window {
                from: at(0),
                until: None
            }
        );
    }

    #[test]
    fn phases_at_boundaries() {
        let w = Window {
            from: at(10),
            until: Some(at(20)),
        };
        assert_eq!(w.phase_at(at(9)), Phase::Scheduled);
        assert_eq!(w.phase_at(at(10)), Phase::Active);
        assert_eq!(w.phase_at(at(19)), Phase::Active);
        assert_eq!(w.phase_at(at(20)), Phase::Expired);
        assert_eq!(w.next_transition(at(0)), Some(at(10)));
        assert_eq!(w.next_transition(at(15)), Some(at(20)));
        assert_eq!(w.next_transition(at(25)), None);
        let permanent = Window {
            from: at(10),
            until: None,
        };
        assert_eq!(permanent.phase_at(at(1_000_000)), Phase::Active);
        assert_eq!(permanent.next_transition(at(11)), None);
    }

    #[test]
    fn sub_second_inputs_are_truncated() {
        let created = at(0) + chrono::Duration::milliseconds(900);
        let w = window(Timing {
            starts_at: None,
            duration: Some("1s"),
            expires_at: None,
            created,
        })
        .unwrap();
        assert_eq!(
            w,
            Window {
                from: at(0),
                until: Some(at(1))
            }
        );
    }

    #[test]
    fn windows_end_by_year_9999() {
        let late = Timing {
            starts_at: Some(latest_time() - chrono::Duration::days(1)),
            duration: Some("2d"),
            expires_at: None,
            created: at(0),
        };
        assert_eq!(window(late), Err(WindowError::OutOfRange));
        let just = Timing {
            duration: Some("1d"),
            ..late
        };
        assert_eq!(window(just).unwrap().until, Some(latest_time()));
        assert_eq!(latest_time().to_rfc3339(), "9999-12-31T23:59:59+00:00");
    }

    #[test]
    fn bad_durations_are_errors() {
        assert!(matches!(
            window(timing(None, Some("banana"), None)),
            Err(WindowError::Duration(_))
        ));
        assert_eq!(
            window(timing(None, Some("1s"), Some(5))),
            Err(WindowError::DurationAndExpiry)
        );
    }
}
