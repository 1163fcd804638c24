//! Property tests of the sidecar's request parsing: any query string, any
//! method. A request is answered 200 exactly when its query parses, 400 with
//! an `error` that says what is wrong otherwise, and never `allowed: true`
//! for a request that names a banned subject, whatever else it holds: an
//! unparsable request must never read as an unrestricted answer.
//!
//! Cases: proptest's default (256), `PROPTEST_CASES=N` for more.

use chrono::{DateTime, Utc};
use proptest::prelude::*;

use super::*;
use crate::core::document::render_data;
use crate::core::email::{canonical_email, hash_email};
use crate::core::entry::fixtures::{at, user_ban};
use crate::core::ip::IpNet;
use crate::core::{Entry, Mode, SubjectKey};

const BANNED_NET: &str = "203.0.113.0/24";

/// Permanent Suspend bans from the first instant a document can hold, so a
/// request naming one is denied at any time it can ask for from then on.
fn first() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("0001-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn banned() -> Vec<Entry> {
    [
        ("UserBan/user", SubjectKey::UserId("7".into())),
        ("UserBan/name", SubjectKey::Username("mallory".into())),
        (
            "UserBan/mail",
            SubjectKey::Email(hash_email("eve@example.org")),
        ),
        ("UserBan/net", SubjectKey::Ip(BANNED_NET.into())),
        ("UserBan/key", SubjectKey::KeyFingerprint("SHA256:k".into())),
    ]
    .into_iter()
    .map(|(id, subject)| Entry {
        from: first(),
        ..user_ban(id, subject, Mode::Suspend)
    })
    .collect()
}

/// Whether a parsed question names one of [`banned`]'s subjects.
fn names_a_banned_subject(query: &crate::core::Query) -> bool {
    let net: IpNet = BANNED_NET.parse().unwrap();
    query.user_id.as_deref() == Some("7")
        || query.username.as_deref() == Some("mallory")
        || query
            .email
            .as_deref()
            .is_some_and(|e| canonical_email(e) == "eve@example.org")
        || query.ip.is_some_and(|ip| net.contains(ip))
        || query.key_fingerprint.as_deref() == Some("SHA256:k")
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(
            &["feature", "user", "username", "email", "ip", "key", "scope", "at"][..]
        )
        .prop_map(String::from),
        1 => prop::sample::select(
            &["userid", "", "Feature", "user ", "feature\0", "ip[]", "%", "scope="][..]
        )
        .prop_map(String::from),
        1 => "\\PC{0,6}",
    ]
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        // Banned subjects, as they may be typed.
        2 => prop::sample::select(
            &[
                "7", "mallory", "eve@example.org", " Eve+x@Example.ORG ", "203.0.113.9",
                "::ffff:203.0.113.9", " 203.0.113.200 ", "SHA256:k",
            ][..]
        )
        .prop_map(String::from),
        // Values the other parameters take, good and bad.
        2 => prop::sample::select(
            &[
                "publish", "login", "academy=madrid", "academy", "=x", "2030-01-01T00:00:00Z",
                "0000-01-01T00:00:00Z", "tomorrow", "999.1.1.1", "::1%eth0", "", "\u{0}",
            ][..]
        )
        .prop_map(String::from),
        1 => "\\PC{0,12}",
        1 => any::<String>(),
    ]
}

/// A query string: encoded pairs, or raw text with stray `%`, `&` and `=`.
fn query_string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::collection::vec((key(), value()), 0..6).prop_map(|pairs| {
            let mut encoder = form_urlencoded::Serializer::new(String::new());
            for (k, v) in &pairs {
                encoder.append_pair(k, v);
            }
            encoder.finish()
        }),
        1 => proptest::collection::vec((key(), value()), 0..6).prop_map(|pairs| {
            pairs
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("&")
        }),
        1 => "[a-z=&%0-9A-F+;.:@]{0,40}",
        1 => any::<String>(),
    ]
}

proptest! {
    #[test]
    fn any_query_is_answered_200_exactly_when_it_parses(
        query in query_string(),
        path in prop::sample::select(&["/v1/decision", "/v1/blocks"][..]),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let data = render_data("apps", banned().into(), at(0));
        std::fs::write(dir.path().join("blocklist.json"), &data["blocklist.json"]).unwrap();
        let blocklist = Blocklist::new(dir.path());
        let counters = Counters::default();
        let response = handle("GET", path, &query, &blocklist, &counters, Unloaded::FailClosed, at(0));
        let body: serde_json::Value = serde_json::from_str(&response.body)
            .unwrap_or_else(|e| panic!("{path}?{query:?}: not JSON ({e}): {}", response.body));
        match params::parse(&query, path == "/v1/decision") {
            Err(message) => {
                prop_assert_eq!(response.status, 400, "{}?{:?}", path, query);
                prop_assert_eq!(body.get("error").and_then(|e| e.as_str()), Some(message.as_str()));
                prop_assert!(!message.is_empty());
                prop_assert!(body.get("allowed").is_none() && body.get("blocks").is_none());
            }
            Ok(asked) => {
                prop_assert_eq!(response.status, 200, "{}?{:?}: {}", path, query, response.body);
                let asked_at = asked.at.unwrap_or(at(0));
                if path == "/v1/decision" {
                    let allowed = body["allowed"].as_bool();
                    prop_assert!(allowed.is_some(), "{}", response.body);
                    if names_a_banned_subject(&asked.query) && asked_at >= first() {
                        prop_assert_eq!(allowed, Some(false), "{:?} names a banned subject", query);
                    }
                } else if names_a_banned_subject(&asked.query) && asked_at >= first() {
                    let blocks = body["blocks"].as_array().map_or(0, Vec::len);
                    prop_assert!(blocks > 0, "{:?} names a banned subject: {}", query, response.body);
                }
            }
        }
    }

    /// Only GET and HEAD reach a decision; anything else is a 405 that says so.
    #[test]
    fn other_methods_are_refused(method in "[A-Z]{1,8}|\\PC{0,8}", query in query_string()) {
        prop_assume!(method != "GET" && method != "HEAD");
        let dir = tempfile::tempdir().unwrap();
        let blocklist = Blocklist::new(dir.path());
        let response = handle(&method, "/v1/decision", &query, &blocklist, &Counters::default(), Unloaded::FailOpen, at(0));
        prop_assert_eq!(response.status, 405);
        let body: serde_json::Value = serde_json::from_str(&response.body).unwrap();
        prop_assert!(body.get("allowed").is_none(), "{}", response.body);
        prop_assert!(body["error"].as_str().is_some_and(|e| e.contains("not allowed")));
    }
}
