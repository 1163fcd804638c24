//! The times a document may carry, read by one grammar that the Python reader
//! (`interdict_blocklist._time.parse_time`) implements character for
//! character. chrono's own parser is more lenient (one-digit fields, signed
//! years of any length such as `+21192-01-01T00:00:00Z`), and a time one
//! reader accepts and the other refuses would make them decide differently.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use serde::{Deserialize, Deserializer};

/// Why a text is not a time of the document.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error(
        "not an RFC 3339 time: {0:?} (expected YYYY-MM-DDThh:mm:ss, an optional fraction, then Z or an offset)"
    )]
    Syntax(String),
    #[error("not a valid date and time: {0:?}")]
    Invalid(String),
    #[error("{0:?} is outside the years 0001 to 9999 (UTC)")]
    OutOfRange(String),
}

/// Parses `2027-01-15T08:00:00Z`, `2027-01-15T10:00:00.5+02:00` and the
/// spellings chrono writes or RFC 3339 allows: `T`, `t` or a space between
/// date and time; any number of fraction digits (nanoseconds kept); optional
/// ASCII spaces before the zone; `Z`, `z`, `UTC` in any case, or `±hh:mm` /
/// `±hhmm`. The instant must fall in the years 0001 to 9999 once converted to
/// UTC: the operator never writes a time after 9999-12-31T23:59:59Z, and
/// Python's `datetime` holds no year 0 nor 10000. Leap seconds (`:60`) are
/// refused, as Python's `datetime` refuses them.
pub fn parse_time(text: &str) -> Result<DateTime<Utc>, TimeError> {
    let syntax = || TimeError::Syntax(text.to_string());
    let invalid = || TimeError::Invalid(text.to_string());
    let b = text.as_bytes();
    let number = |from: usize, to: usize| -> Option<u32> {
        let digits = b.get(from..to)?;
        digits.iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let separators_ok = b.len() > 19
        && b[4] == b'-'
        && b[7] == b'-'
        && matches!(b[10], b'T' | b't' | b' ')
        && b[13] == b':'
        && b[16] == b':';
    if !separators_ok {
        return Err(syntax());
    }
    let field = |from, to| number(from, to).ok_or_else(syntax);
    let (year, month, day) = (field(0, 4)?, field(5, 7)?, field(8, 10)?);
    let (hour, minute, second) = (field(11, 13)?, field(14, 16)?, field(17, 19)?);
    let mut rest = &b[19..];
    let mut nanos = 0u32;
    if let Some(fraction) = rest.strip_prefix(b".") {
        let digits = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return Err(syntax());
        }
        for position in 0..9 {
            let digit = fraction.get(position).filter(|_| position < digits);
            nanos = nanos * 10 + digit.map_or(0, |d| u32::from(d - b'0'));
        }
        rest = &fraction[digits..];
    }
    while let [b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c, tail @ ..] = rest {
        rest = tail;
    }
    let offset_seconds = match rest {
        [b'Z' | b'z'] => 0,
        _ if rest.eq_ignore_ascii_case(b"UTC") => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] | [sign @ (b'+' | b'-'), h1, h2, m1, m2] => {
            let two = |a: u8, b: u8| {
                (a.is_ascii_digit() && b.is_ascii_digit())
                    .then(|| i32::from(a - b'0') * 10 + i32::from(b - b'0'))
            };
            let (hours, minutes) = two(*h1, *h2).zip(two(*m1, *m2)).ok_or_else(syntax)?;
            if hours > 23 || minutes > 59 {
                return Err(invalid());
            }
            let seconds = hours * 3600 + minutes * 60;
            if *sign == b'-' { -seconds } else { seconds }
        }
        _ => return Err(syntax()),
    };
    if year == 0 {
        return Err(TimeError::OutOfRange(text.to_string()));
    }
    let date = NaiveDate::from_ymd_opt(year as i32, month, day).ok_or_else(invalid)?;
    // chrono spells a leap second as second 59 with a second's worth of
    // nanoseconds; `:60` itself is refused here.
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nanos).ok_or_else(invalid)?;
    let offset = FixedOffset::east_opt(offset_seconds).ok_or_else(invalid)?;
    let local = NaiveDateTime::new(date, time);
    let utc = offset
        .from_local_datetime(&local)
        .single()
        .ok_or_else(invalid)?
        .with_timezone(&Utc);
    if !(1..=9999).contains(&utc.year()) {
        return Err(TimeError::OutOfRange(text.to_string()));
    }
    Ok(utc)
}

/// `#[serde(deserialize_with)]` for a required time field.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_time(&text).map_err(serde::de::Error::custom)
}

/// `#[serde(deserialize_with)]` for an optional time field (`null` is absent).
pub fn deserialize_option<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    match Option::<String>::deserialize(deserializer)? {
        Some(text) => parse_time(&text)
            .map(Some)
            .map_err(serde::de::Error::custom),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> String {
        parse_time(text)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
    }

    #[test]
    fn reads_what_the_operator_writes_and_rfc_3339_spellings() {
        assert_eq!(utc("2027-01-15T08:00:00Z"), "2027-01-15T08:00:00Z");
        assert_eq!(utc("2027-01-15t08:00:00z"), "2027-01-15T08:00:00Z");
        assert_eq!(utc("2027-01-15 08:00:00 UTC"), "2027-01-15T08:00:00Z");
        assert_eq!(utc("2027-01-15T10:00:10+02:00"), "2027-01-15T08:00:10Z");
        assert_eq!(utc("2027-01-15T03:00:20-0500"), "2027-01-15T08:00:20Z");
        assert_eq!(utc("2027-01-15T08:00:00.5Z"), "2027-01-15T08:00:00.500Z");
        assert_eq!(
            utc("2027-01-15T08:00:00.1234567891Z"),
            "2027-01-15T08:00:00.123456789Z"
        );
        assert_eq!(utc("9999-12-31T23:59:59Z"), "9999-12-31T23:59:59Z");
        assert_eq!(utc("0001-01-01T00:00:00Z"), "0001-01-01T00:00:00Z");
        assert_eq!(utc("2028-02-29T00:00:00Z"), "2028-02-29T00:00:00Z");
    }

    #[test]
    fn refuses_other_spellings_and_instants_out_of_range() {
        let cases = [
            ("+21192-01-01T00:00:00Z", "RFC 3339"),
            ("21192-01-01T00:00:00Z", "RFC 3339"),
            ("-0001-01-01T00:00:00Z", "RFC 3339"),
            ("2027-1-15T08:00:00Z", "RFC 3339"),
            ("2027-01-15T08:00Z", "RFC 3339"),
            ("2027-01-15T08:00:00", "RFC 3339"),
            ("2027-01-15T08:00:00.Z", "RFC 3339"),
            ("2027-01-15T08:00:00+2:00", "RFC 3339"),
            ("2027-01-15T08:00:00Z ", "RFC 3339"),
            ("yesterday", "RFC 3339"),
            ("", "RFC 3339"),
            ("２027-01-15T08:00:00Z", "RFC 3339"),
            ("2027-02-29T00:00:00Z", "valid"),
            ("2027-01-15T24:00:00Z", "valid"),
            ("2027-12-31T23:59:60Z", "valid"),
            ("2027-01-15T08:00:00+24:00", "valid"),
            ("0000-06-01T00:00:00Z", "0001 to 9999"),
            ("0001-01-01T00:30:00+01:00", "0001 to 9999"),
            ("9999-12-31T23:30:00-01:00", "0001 to 9999"),
        ];
        for (text, expected) in cases {
            let error = parse_time(text).expect_err(text).to_string();
            assert!(error.contains(expected), "{text}: {error}");
        }
    }
}
