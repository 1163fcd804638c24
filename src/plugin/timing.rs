//! When a ban starts and ends, from `--for`, `--until`, `--starts` (or an
//! import row's `duration`, `until` and `starts`). Checked here with the
//! core's own duration grammar, so a typo is a usage error before anything is
//! sent; the clock is a parameter.

use chrono::{DateTime, NaiveDate, Utc};
use clap::Args;

use crate::core::duration::parse_duration;

/// How long a ban lasts: exactly one of a duration, an end, or "permanent",
/// so a forgotten `--for` never makes a ban permanent by accident.
#[derive(Args, Debug, Clone, Default)]
#[group(id = "timing", required = true, multiple = false)]
pub struct TimingArgs {
    /// How long it lasts, counted from --starts, else from creation: 30m,
    /// 12h, 7d, 2w, 1h30m (at most 36525d).
    #[arg(long = "for", value_name = "DURATION")]
    pub duration: Option<String>,

    /// When it ends: an RFC 3339 time (2026-12-01T09:00:00Z) or a date
    /// (2026-12-01, midnight UTC).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,

    /// No end: in force until lifted.
    #[arg(long)]
    pub permanent: bool,
}

/// The timing fields of a spec.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Timing {
    pub duration: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub starts_at: Option<DateTime<Utc>>,
}

/// A timing problem, with the field (`duration`, `until`, `starts`) at fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimingError {
    pub field: &'static str,
    pub message: String,
}

impl TimingError {
    fn new(field: &'static str, message: impl Into<String>) -> Self {
        TimingError {
            field,
            message: message.into(),
        }
    }
}

/// The latest start the API server accepts (so that any duration ends within
/// year 9999).
const LATEST_START: &str = "9899-01-01T00:00:00Z";

/// An RFC 3339 time, or a date meaning its midnight UTC.
pub fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&Utc));
    }
    if let Some(midnight) = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|date| date.and_hms_opt(0, 0, 0))
    {
        return Ok(midnight.and_utc());
    }
    Err(format!(
        "{text:?} is not a time: use RFC 3339 (2026-12-01T09:00:00Z) or a date (2026-12-01)"
    ))
}

/// Checks and combines the three timing inputs. Empty strings count as absent.
pub fn timing(
    duration: Option<&str>,
    until: Option<&str>,
    starts: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Timing, TimingError> {
    fn present(v: Option<&str>) -> Option<&str> {
        v.map(str::trim).filter(|v| !v.is_empty())
    }
    let (duration, until, starts) = (present(duration), present(until), present(starts));
    if duration.is_some() && until.is_some() {
        return Err(TimingError::new(
            "until",
            "give a duration or an end (until), not both",
        ));
    }
    if let Some(d) = duration {
        parse_duration(d).map_err(|e| TimingError::new("duration", e.to_string()))?;
    }
    let starts_at = starts
        .map(parse_time)
        .transpose()
        .map_err(|e| TimingError::new("starts", e))?;
    let expires_at = until
        .map(parse_time)
        .transpose()
        .map_err(|e| TimingError::new("until", e))?;
    if let Some(start) = starts_at {
        let latest = parse_time(LATEST_START).expect("a valid constant");
        if start >= latest {
            return Err(TimingError::new(
                "starts",
                format!("must be before {LATEST_START}"),
            ));
        }
    }
    if let Some(end) = expires_at {
        if end <= now {
            return Err(TimingError::new(
                "until",
                format!(
                    "{} is not in the future: the ban would be over at once",
                    end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ),
            ));
        }
        if starts_at.is_some_and(|start| start >= end) {
            return Err(TimingError::new("starts", "must be before until"));
        }
    }
    Ok(Timing {
        duration: duration.map(str::to_string),
        expires_at,
        starts_at,
    })
}

impl TimingArgs {
    /// The timing of these flags and `--starts`, at `now`.
    pub fn timing(&self, starts: Option<&str>, now: DateTime<Utc>) -> Result<Timing, String> {
        timing(self.duration.as_deref(), self.until.as_deref(), starts, now).map_err(|e| {
            let flag = match e.field {
                "duration" => "--for",
                "until" => "--until",
                _ => "--starts",
            };
            format!("{flag}: {}", e.message)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        parse_time("2026-11-21T10:00:00Z").unwrap()
    }

    #[test]
    fn times_are_rfc3339_or_dates_at_midnight_utc() {
        assert_eq!(
            parse_time("2026-12-01").unwrap(),
            parse_time("2026-12-01T00:00:00Z").unwrap()
        );
        assert_eq!(
            parse_time("2026-12-01T02:00:00+02:00").unwrap(),
            parse_time("2026-12-01T00:00:00Z").unwrap()
        );
        for bad in ["tomorrow", "2026-13-01", "2026-12-01T25:00:00Z", ""] {
            assert!(parse_time(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_duration_or_an_end_or_neither() {
        let t = timing(Some("7d"), None, None, now()).unwrap();
        assert_eq!(t.duration.as_deref(), Some("7d"));
        let t = timing(None, Some("2026-12-01"), Some("2026-11-25"), now()).unwrap();
        assert_eq!(t.expires_at, Some(parse_time("2026-12-01").unwrap()));
        assert_eq!(t.starts_at, Some(parse_time("2026-11-25").unwrap()));
        assert_eq!(
            timing(Some(""), Some(" "), None, now()).unwrap(),
            Timing::default()
        );
        let both = timing(Some("7d"), Some("2026-12-01"), None, now()).unwrap_err();
        assert_eq!(both.field, "until");
    }

    #[test]
    fn each_problem_names_its_field() {
        let cases = [
            (Some("7x"), None, None, "duration"),
            (Some("0s"), None, None, "duration"),
            (Some("36526d"), None, None, "duration"),
            (None, Some("soon"), None, "until"),
            (None, Some("2026-11-01"), None, "until"),
            (None, Some("2026-12-01"), Some("2026-12-02"), "starts"),
            (None, None, Some("9900-01-01"), "starts"),
            (None, None, Some("later"), "starts"),
        ];
        for (duration, until, starts, field) in cases {
            let error = timing(duration, until, starts, now()).unwrap_err();
            assert_eq!(error.field, field, "{duration:?} {until:?} {starts:?}");
        }
    }

    #[test]
    fn flags_are_named_in_messages() {
        let args = TimingArgs {
            duration: Some("7 days".into()),
            ..TimingArgs::default()
        };
        assert!(args.timing(None, now()).unwrap_err().starts_with("--for: "));
        let args = TimingArgs {
            permanent: true,
            ..TimingArgs::default()
        };
        assert_eq!(args.timing(None, now()).unwrap(), Timing::default());
    }
}
