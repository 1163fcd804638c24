//! Query strings of the sidecar's endpoints, parsed strictly: a typo such as
//! `userid=` is a 400 that says so, never a silently unrestricted answer.

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use crate::core::{Query, Scope};

const SUBJECT_PARAMS: [&str; 5] = ["user", "username", "email", "ip", "key"];

/// A request's question, and the time it is asked for.
#[derive(Debug)]
pub struct Asked {
    pub query: Query,
    pub at: Option<DateTime<Utc>>,
}

/// Parses `feature`, the subject parameters, repeatable `scope=KIND=NAME` and `at`.
/// `feature_required` is false for the block-status endpoint.
pub fn parse(query_string: &str, feature_required: bool) -> Result<Asked, String> {
    let mut query = Query::default();
    let mut feature = None;
    let mut at = None;
    for (key, value) in form_urlencoded::parse(query_string.as_bytes()) {
        let value = value.into_owned();
        let once = |slot: &mut Option<String>, value: String| {
            if slot.replace(value).is_some() {
                Err(format!("parameter {key} given twice"))
            } else {
                Ok(())
            }
        };
        match key.as_ref() {
            "feature" => once(&mut feature, value)?,
            "user" => once(&mut query.user_id, value)?,
            "username" => once(&mut query.username, value)?,
            "email" => once(&mut query.email, value)?,
            "key" => once(&mut query.key_fingerprint, value)?,
            "ip" => {
                let ip: IpAddr = value
                    .trim()
                    .parse()
                    .map_err(|_| format!("ip {value:?} is not an IPv4 or IPv6 address"))?;
                if query.ip.replace(ip).is_some() {
                    return Err("parameter ip given twice".into());
                }
            }
            "scope" => query
                .scopes
                .push(Scope::parse_pair(&value).map_err(|e| format!("scope: {e}"))?),
            "at" => {
                let time = DateTime::parse_from_rfc3339(&value).map_err(|_| {
                    format!("at {value:?} is not an RFC 3339 time like 2026-11-21T10:00:00Z")
                })?;
                at = Some(time.with_timezone(&Utc));
            }
            other => {
                return Err(format!(
                    "unknown parameter {other:?}; expected feature, {}, scope or at",
                    SUBJECT_PARAMS.join(", ")
                ));
            }
        }
    }
    if !query.has_subject() {
        return Err(format!(
            "no subject: give at least one of {}",
            SUBJECT_PARAMS.join(", ")
        ));
    }
    match feature {
        Some(feature) if !feature.is_empty() => query.feature = feature,
        _ if feature_required => return Err("missing parameter feature".into()),
        _ => {}
    }
    Ok(Asked { query, at })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_parameter() {
        let asked = parse(
            "feature=mentorship-service&user=124&ip=%3A%3Affff%3A10.0.0.1&scope=academy%3Ddowntown-miami&scope=cohort=c1&at=2030-01-02T00:00:00Z",
            true,
        )
        .unwrap();
        assert_eq!(asked.query.feature, "mentorship-service");
        assert_eq!(asked.query.user_id.as_deref(), Some("124"));
        assert_eq!(asked.query.scopes.len(), 2);
        assert_eq!(asked.query.ip, Some("::ffff:10.0.0.1".parse().unwrap()));
        assert!(asked.at.is_some());
    }

    #[test]
    fn malformed_queries_say_what_is_wrong() {
        let cases = [
            ("user=1", "missing parameter feature"),
            ("feature=x", "no subject"),
            ("feature=x&userid=1", "unknown parameter \"userid\""),
            ("feature=x&ip=999.1.1.1", "ip \"999.1.1.1\""),
            ("feature=x&user=1&scope=academy", "KIND=NAME"),
            ("feature=x&user=1&at=tomorrow", "RFC 3339"),
            ("feature=x&user=1&user=2", "given twice"),
        ];
        for (input, expected) in cases {
            let error = parse(input, true).unwrap_err();
            assert!(error.contains(expected), "{input}: {error}");
        }
        assert!(
            parse("user=1", false).is_ok(),
            "block status needs no feature"
        );
    }
}
