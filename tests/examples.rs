//! `examples/` end to end: every manifest applies to a real API server, the
//! operator turns them into the blocklist, and `interdict check` run on that
//! blocklist, mounted the way kubelet mounts a ConfigMap, answers each source
//! design's questions. Also: the errors `check` gives when it cannot answer.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::{TestNamespace, cluster, eventually, repo_root};
use interdict::core::BlocklistDocument;
use interdict::core::email::hash_email;
use k8s_openapi::api::core::v1::ConfigMap;
use serde_json::Value;

const BLOCKLIST: &str = "interdict-blocklist";
const MENTORSHIP_MESSAGE: &str = "You have been blocked from accessing this mentorship service";
const KEY: &str = "SHA256:q1zSyYbYVv9u0TmKrb2GNVDzJ6kQxW+yH3uQW3iKc0E";

fn interdict(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_interdict"))
        .args(args)
        .output()
        .expect("run interdict")
}

/// One `interdict check` on `dir`; it must answer (exit 0, one JSON object).
fn check(dir: &Path, args: &[&str]) -> Value {
    let mut full = vec!["check", "--dir", dir.to_str().unwrap()];
    full.extend_from_slice(args);
    let output = interdict(&full);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "interdict {full:?} exited with {}: {stdout}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("interdict {full:?} printed no JSON ({e}): {stdout}"))
}

fn time(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("not a time: {value}"))
}

/// `userban.interdict.dev/x` -> `UserBan/x`, the entry id the blocklist uses.
fn entry_id(object_name: &str) -> String {
    let (resource, name) = object_name.trim().split_once('/').expect("kind/name");
    let kind = match resource {
        "userban.interdict.dev" => "UserBan",
        "featureblock.interdict.dev" => "FeatureBlock",
        other => panic!("unexpected object {other}"),
    };
    format!("{kind}/{name}")
}

/// What a question must get back.
enum Expect {
    /// Allowed with no restriction (notices of other blocks may come along).
    Allowed,
    /// Allowed, with this ban (`Kind/name`) among the notices for a banner.
    AllowedNoticing(&'static str),
    /// Allowed, but the subject is silenced: its content must be hidden.
    AllowedSilenced(&'static str),
    /// Denied by this ban (`Kind/name`) with this mode.
    Denied(&'static str, &'static str),
}
use Expect::{Allowed, AllowedNoticing, AllowedSilenced, Denied};

#[tokio::test]
async fn examples_apply_and_answer_every_source_designs_questions() {
    let ns = TestNamespace::new("examples").await;
    let operator = ns.operator();
    let examples = repo_root().join("examples");
    let applied =
        cluster().kubectl_ok(&["apply", "-n", &ns.name, "-f", examples.to_str().unwrap()]);
    for what in ["ub", "fb"] {
        let waited = cluster()
            .kubectl()
            .args([
                "wait",
                "--for=condition=Ready",
                "-n",
                &ns.name,
                what,
                "--all",
                "--timeout=60s",
            ])
            .output()
            .unwrap();
        assert!(
            waited.status.success(),
            "{what} not Ready: {}{}\noperator log:\n{}",
            String::from_utf8_lossy(&waited.stdout),
            String::from_utf8_lossy(&waited.stderr),
            operator.log()
        );
    }

    // Every object applied is in the blocklist, and nothing else.
    let objects = cluster().kubectl_ok(&["get", "ub,fb", "-n", &ns.name, "-o", "name"]);
    let expected: BTreeSet<String> = objects
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(entry_id)
        .collect();
    assert_eq!(
        expected.len(),
        applied.lines().count(),
        "kubectl apply output vs objects: {applied}"
    );
    assert!(
        expected.len() >= 13,
        "the examples hold at least 13 bans: {expected:?}"
    );
    let cm: ConfigMap = eventually(
        "blocklist with every example",
        Duration::from_secs(10),
        || async {
            ns.api::<ConfigMap>()
                .get_opt(BLOCKLIST)
                .await
                .unwrap()
                .filter(|cm| {
                    let ids: BTreeSet<String> = cm
                        .data
                        .as_ref()
                        .and_then(|d| d.get("blocklist.json"))
                        .and_then(|text| BlocklistDocument::parse(text).ok())
                        .map(|doc| doc.entries.into_iter().map(|e| e.id).collect())
                        .unwrap_or_default();
                    ids == expected
                })
        },
    )
    .await;
    let data = cm.data.clone().unwrap();

    // The email is published only as the hash of its canonical form.
    let all_text: String = data
        .values()
        .cloned()
        .collect::<Vec<_>>()
        .join("\n")
        .to_lowercase();
    for clear in ["spammer", "example.com"] {
        assert!(
            !all_text.contains(clear),
            "an email must never be published in clear, found {clear:?}: {all_text}"
        );
    }
    let email_hash = hash_email("spammer@example.com");
    assert!(
        all_text.contains(&email_hash),
        "the canonical email's hash is published"
    );
    // Plain lists hold what is in force now, sorted; the 2030 ban is not in force yet.
    assert_eq!(data["suspended-user-ids.txt"], "9001\n");
    assert_eq!(data["silenced-usernames.txt"], "spam-o-matic\n");
    assert_eq!(data["suspended-emails.txt"], format!("{email_hash}\n"));
    assert_eq!(data["suspended-ips.txt"], "2001:db8::/32\n203.0.113.0/24\n");
    let phase = cluster().kubectl_ok(&[
        "get",
        "ub",
        "maintenance-user-9002",
        "-n",
        &ns.name,
        "-o",
        "jsonpath={.status.phase}",
    ]);
    assert_eq!(phase, "Scheduled");

    // GitOps: applying the same directory again changes nothing.
    let again = cluster().kubectl_ok(&["apply", "-n", &ns.name, "-f", examples.to_str().unwrap()]);
    assert!(
        again.lines().all(|l| l.ends_with(" unchanged")),
        "re-applying the examples: {again}"
    );

    let mount = tempfile::tempdir().unwrap();
    common::mount::kubelet_publish(mount.path(), &data);
    let dir = mount.path();

    let mentor = |user: &'static str, scopes: &[&'static str]| -> Vec<&'static str> {
        let mut args = vec!["--feature", "mentorship-service", "--user", user];
        for scope in scopes {
            args.extend(["--scope", scope]);
        }
        args
    };
    let cases: Vec<(&str, Vec<&str>, Expect)> = vec![
        // Learning platform: everywhere / academy / cohort / service instance.
        (
            "123 everywhere, no context",
            mentor("123", &[]),
            Denied(
                "FeatureBlock/mentorship-user-123-everywhere",
                "FeatureBlock",
            ),
        ),
        (
            "123 everywhere, any academy",
            mentor("123", &["academy=los-angeles"]),
            Denied(
                "FeatureBlock/mentorship-user-123-everywhere",
                "FeatureBlock",
            ),
        ),
        (
            "123 keeps other services",
            vec!["--feature", "classes", "--user", "123"],
            AllowedNoticing("FeatureBlock/mentorship-user-123-everywhere"),
        ),
        (
            "124 in downtown-miami",
            mentor("124", &["academy=downtown-miami"]),
            Denied(
                "FeatureBlock/mentorship-user-124-academy-downtown-miami",
                "FeatureBlock",
            ),
        ),
        (
            "124 in downtown-miami among other contexts",
            mentor(
                "124",
                &[
                    "cohort=4geeks-fs-9",
                    "academy=downtown-miami",
                    "service=geekpal-1-1",
                ],
            ),
            Denied(
                "FeatureBlock/mentorship-user-124-academy-downtown-miami",
                "FeatureBlock",
            ),
        ),
        (
            "124 in another academy",
            mentor("124", &["academy=los-angeles"]),
            Allowed,
        ),
        ("124 without context", mentor("124", &[]), Allowed),
        (
            "124: a cohort named like the academy is another scope",
            mentor("124", &["cohort=downtown-miami"]),
            Allowed,
        ),
        (
            "125 in 4geeks-fs-1",
            mentor("125", &["academy=downtown-miami", "cohort=4geeks-fs-1"]),
            Denied(
                "FeatureBlock/mentorship-user-125-cohort-4geeks-fs-1",
                "FeatureBlock",
            ),
        ),
        (
            "125 in another cohort",
            mentor("125", &["academy=downtown-miami", "cohort=4geeks-fs-2"]),
            Allowed,
        ),
        (
            "126 on geekpal-1-1",
            mentor("126", &["service=geekpal-1-1"]),
            Denied(
                "FeatureBlock/mentorship-user-126-service-geekpal-1-1",
                "FeatureBlock",
            ),
        ),
        (
            "126 on another service",
            mentor("126", &["service=geekpal-1-2", "academy=downtown-miami"]),
            Allowed,
        ),
        ("126 without context", mentor("126", &[]), Allowed),
        (
            "127 is not blocked",
            mentor(
                "127",
                &[
                    "academy=downtown-miami",
                    "cohort=4geeks-fs-1",
                    "service=geekpal-1-1",
                ],
            ),
            Allowed,
        ),
        // Blogging platform: silence.
        (
            "silenced may not publish",
            vec!["--username", "spam-o-matic", "--feature", "publish"],
            Denied("UserBan/silence-spam-o-matic", "Silence"),
        ),
        (
            "silenced may log in",
            vec!["--username", "spam-o-matic", "--feature", "login"],
            AllowedSilenced("UserBan/silence-spam-o-matic"),
        ),
        (
            "silenced may read",
            vec!["--username", "spam-o-matic", "--feature", "read"],
            AllowedSilenced("UserBan/silence-spam-o-matic"),
        ),
        (
            "silenced may export",
            vec!["--username", "spam-o-matic", "--feature", "export"],
            AllowedSilenced("UserBan/silence-spam-o-matic"),
        ),
        (
            "another username may publish",
            vec!["--username", "spam-o-matic2", "--feature", "publish"],
            Allowed,
        ),
        // Funding platform: one feature, every feature, email lock.
        (
            "4711 may not submit expenses",
            vec!["--user", "4711", "--feature", "EXPENSES"],
            Denied("FeatureBlock/expenses-user-4711", "FeatureBlock"),
        ),
        (
            "4711 keeps conversations",
            vec!["--user", "4711", "--feature", "CONVERSATIONS"],
            Allowed,
        ),
        (
            "4712 loses expenses",
            vec!["--user", "4712", "--feature", "EXPENSES"],
            Denied("FeatureBlock/all-features-user-4712", "FeatureBlock"),
        ),
        (
            "4712 loses conversations",
            vec!["--user", "4712", "--feature", "CONVERSATIONS"],
            Denied("FeatureBlock/all-features-user-4712", "FeatureBlock"),
        ),
        (
            "4712 loses anything, in any context",
            vec![
                "--user",
                "4712",
                "--feature",
                "whatever",
                "--scope",
                "collective=webpack",
            ],
            Denied("FeatureBlock/all-features-user-4712", "FeatureBlock"),
        ),
        (
            "email as banned",
            vec![
                "--email",
                "Spammer+promo@Example.com",
                "--feature",
                "signup",
            ],
            Denied("UserBan/email-lock-promo-spam", "Suspend"),
        ),
        (
            "email canonical",
            vec!["--email", "spammer@example.com", "--feature", "signup"],
            Denied("UserBan/email-lock-promo-spam", "Suspend"),
        ),
        (
            "email case, spaces and another tag",
            vec![
                "--email",
                "  SPAMMER+other@example.COM \n",
                "--feature",
                "signup",
            ],
            Denied("UserBan/email-lock-promo-spam", "Suspend"),
        ),
        (
            "email as a hash",
            vec!["--email", &email_hash, "--feature", "signup"],
            Denied("UserBan/email-lock-promo-spam", "Suspend"),
        ),
        (
            "another email",
            vec!["--email", "spammer2@example.com", "--feature", "signup"],
            Allowed,
        ),
        (
            "same local part, other domain",
            vec!["--email", "spammer@example.org", "--feature", "signup"],
            Allowed,
        ),
        // Comments plugin: key blocked on one page.
        (
            "key on /posts/42",
            vec![
                "--key",
                KEY,
                "--feature",
                "comments",
                "--scope",
                "page=/posts/42",
            ],
            Denied("FeatureBlock/comments-nightowl-posts-42", "FeatureBlock"),
        ),
        (
            "key on /posts/43",
            vec![
                "--key",
                KEY,
                "--feature",
                "comments",
                "--scope",
                "page=/posts/43",
            ],
            Allowed,
        ),
        (
            "key without page",
            vec!["--key", KEY, "--feature", "comments"],
            Allowed,
        ),
        (
            "key may still read /posts/42",
            vec![
                "--key",
                KEY,
                "--feature",
                "read",
                "--scope",
                "page=/posts/42",
            ],
            Allowed,
        ),
        (
            "another key on /posts/42",
            vec![
                "--key",
                "SHA256:another",
                "--feature",
                "comments",
                "--scope",
                "page=/posts/42",
            ],
            Allowed,
        ),
        // Network bans.
        (
            "inside 203.0.113.0/24",
            vec!["--ip", "203.0.113.77", "--feature", "login"],
            Denied("UserBan/ip-range-203-0-113-0-24", "Suspend"),
        ),
        (
            "first address of the range",
            vec!["--ip", "203.0.113.0", "--feature", "login"],
            Denied("UserBan/ip-range-203-0-113-0-24", "Suspend"),
        ),
        (
            "last address of the range",
            vec!["--ip", "203.0.113.255", "--feature", "login"],
            Denied("UserBan/ip-range-203-0-113-0-24", "Suspend"),
        ),
        (
            "IPv4-mapped IPv6 inside",
            vec!["--ip", "::ffff:203.0.113.9", "--feature", "login"],
            Denied("UserBan/ip-range-203-0-113-0-24", "Suspend"),
        ),
        (
            "just outside the range",
            vec!["--ip", "203.0.114.0", "--feature", "login"],
            Allowed,
        ),
        (
            "elsewhere",
            vec!["--ip", "198.51.100.7", "--feature", "login"],
            Allowed,
        ),
        (
            "inside 2001:db8::/32",
            vec!["--ip", "2001:db8:1::5", "--feature", "login"],
            Denied("UserBan/ip-range-2001-db8-32", "Suspend"),
        ),
        (
            "outside 2001:db8::/32",
            vec!["--ip", "2001:db9::1", "--feature", "login"],
            Allowed,
        ),
        (
            "a suspension beats a feature block",
            vec![
                "--user",
                "4711",
                "--ip",
                "203.0.113.5",
                "--feature",
                "EXPENSES",
            ],
            Denied("UserBan/ip-range-203-0-113-0-24", "Suspend"),
        ),
        // Timing.
        (
            "temporary ban in force",
            vec!["--user", "9001", "--feature", "login"],
            Denied("UserBan/brute-force-user-9001", "Suspend"),
        ),
        (
            "scheduled ban not yet in force",
            vec!["--user", "9002", "--feature", "login"],
            AllowedNoticing("UserBan/maintenance-user-9002"),
        ),
        (
            "scheduled ban in its window",
            vec![
                "--user",
                "9002",
                "--feature",
                "login",
                "--at",
                "2030-01-02T00:00:00Z",
            ],
            Denied("UserBan/maintenance-user-9002", "Suspend"),
        ),
        (
            "scheduled ban from its first second",
            vec![
                "--user",
                "9002",
                "--feature",
                "login",
                "--at",
                "2030-01-01T00:00:00Z",
            ],
            Denied("UserBan/maintenance-user-9002", "Suspend"),
        ),
        (
            "the second before the window",
            vec![
                "--user",
                "9002",
                "--feature",
                "login",
                "--at",
                "2029-12-31T23:59:59Z",
            ],
            Allowed,
        ),
        (
            "after 7 days",
            vec![
                "--user",
                "9002",
                "--feature",
                "login",
                "--at",
                "2030-01-08T00:00:00Z",
            ],
            Allowed,
        ),
    ];

    let mut failures = Vec::new();
    for (what, args, expect) in &cases {
        let decision = check(dir, args);
        let ok = match expect {
            Allowed => {
                decision["allowed"] == true
                    && decision.get("ban").is_none()
                    && decision.get("contentHidden").is_none()
            }
            AllowedNoticing(ban) => {
                decision["allowed"] == true
                    && decision.get("ban").is_none()
                    && decision["notices"]
                        .as_array()
                        .is_some_and(|notices| notices.iter().any(|n| n["ban"] == *ban))
            }
            AllowedSilenced(ban) => {
                decision["allowed"] == true
                    && decision["contentHidden"] == true
                    && decision["ban"] == *ban
                    && decision["mode"] == "Silence"
            }
            Denied(ban, mode) => {
                decision["allowed"] == false && decision["ban"] == *ban && decision["mode"] == *mode
            }
        };
        if !ok {
            failures.push(format!("{what}: {args:?} -> {decision}"));
        }
    }
    assert!(
        failures.is_empty(),
        "wrong decisions:\n{}",
        failures.join("\n")
    );

    // What the application shows and enforces on a denial.
    let d = check(dir, &mentor("124", &["academy=downtown-miami"]));
    assert_eq!(
        (d["reason"].as_str(), d["message"].as_str()),
        (Some("abuse"), Some(MENTORSHIP_MESSAGE)),
        "{d}"
    );
    assert!(
        d.get("until").is_none() && d.get("revokeSessionsBefore").is_none(),
        "a permanent feature block: {d}"
    );

    let d = check(dir, &["--username", "spam-o-matic", "--feature", "publish"]);
    assert_eq!(d["contentHidden"], true, "{d}");
    assert_eq!(d["reason"], "spam", "{d}");
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .starts_with("Your account has been silenced"),
        "{d}"
    );
    assert!(
        d.get("revokeSessionsBefore").is_none(),
        "Silence keeps sessions by default: {d}"
    );

    let d = check(dir, &["--user", "4712", "--feature", "EXPENSES"]);
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .starts_with("Your account has been restricted"),
        "the banner text: {d}"
    );
    assert!(d.get("contentHidden").is_none(), "{d}");

    let d = check(
        dir,
        &["--email", "Spammer+x@EXAMPLE.com", "--feature", "signup"],
    );
    assert_eq!(
        d["message"], "This email address cannot be used on this platform.",
        "{d}"
    );
    assert!(d.get("until").is_none(), "the email lock is permanent: {d}");

    let d = check(dir, &["--user", "9001", "--feature", "login"]);
    assert_eq!(d["reason"], "brute-force", "{d}");
    let (from, until) = (time(&d["from"]), time(&d["until"]));
    assert_eq!(until - from, chrono::Duration::hours(12), "{d}");
    assert!(from <= Utc::now() && Utc::now() < until, "{d}");
    assert_eq!(time(&d["revokeSessionsBefore"]), from, "{d}");
    assert_eq!(
        d["appealInstructions"],
        "Reply to the email we sent you or write to appeals@example.org with your account id.",
        "{d}"
    );
    let after = until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert_eq!(
        check(
            dir,
            &["--user", "9001", "--feature", "login", "--at", &after]
        ),
        serde_json::json!({ "allowed": true, "revokeSessionsBefore": d["revokeSessionsBefore"] }),
        "re-enabled at {after}, sessions from before the ban still refused"
    );

    let d = check(
        dir,
        &[
            "--user",
            "9002",
            "--feature",
            "login",
            "--at",
            "2030-01-02T00:00:00Z",
        ],
    );
    assert_eq!(d["reason"], "maintenance", "{d}");
    assert_eq!(
        (time(&d["from"]), time(&d["until"])),
        (
            "2030-01-01T00:00:00Z".parse().unwrap(),
            "2030-01-08T00:00:00Z".parse().unwrap()
        ),
        "{d}"
    );
    assert!(
        d.get("revokeSessionsBefore").is_none(),
        "revokeSessions: false: {d}"
    );
    assert!(d.get("appealInstructions").is_none(), "{d}");

    // The decision sidecar answers the same questions over HTTP.
    let port = common::http::free_port();
    let mut sidecar = std::process::Command::new(env!("CARGO_BIN_EXE_interdict"))
        .args([
            "serve",
            "--dir",
            dir.to_str().unwrap(),
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let decision = common::eventually(
        "sidecar ready",
        std::time::Duration::from_secs(10),
        || async {
            common::http::json(
                port,
                "/v1/decision?feature=mentorship-service&user=124&scope=academy%3Ddowntown-miami",
            )
        },
    )
    .await;
    assert_eq!(decision["allowed"], false, "{decision}");
    assert_eq!(
        decision["ban"],
        "FeatureBlock/mentorship-user-124-academy-downtown-miami"
    );
    let status = common::http::json(port, "/v1/blocks?user=9001").unwrap();
    assert_eq!(
        status["blocks"][0]["id"], "UserBan/brute-force-user-9001",
        "{status}"
    );
    assert!(
        status["blocks"][0]["appealInstructions"].is_string(),
        "{status}"
    );
    let (code, body) = common::http::http(port, "GET", "/v1/decision?user=124").unwrap();
    assert_eq!(code, 400);
    assert!(body.contains("missing parameter feature"), "{body}");
    let _ = sidecar.kill();
    let _ = sidecar.wait();

    drop(operator);
    ns.cleanup().await;
}
