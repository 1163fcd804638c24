//! The generators and the Python reader shared by the reader differential
//! tests (`readers_agree.rs`, `readers_odd_items.rs`). Those include it by
//! `#[path]` rather than through `common/mod.rs`, so the other test binaries
//! and the bench do not compile proptest strategies they never use.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use interdict::core::email::hash_email;
use interdict::core::ip::IpNet;
use interdict::core::{
    Contents, Entry, EntryKind, Exemption, Mode, Query, Revocation, Scope, SubjectKey,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Value, json};

/// 2027-01-15T08:00:00Z, where most generated bans start.
pub const BASE: i64 = 1_800_000_000;
/// 0001-01-01T00:00:00Z: a `startsAt` may be far in the past.
pub const FIRST: i64 = -62_135_596_800;
/// 9999-12-31T23:59:59Z: no window the operator writes ends later.
const LATEST: i64 = 253_402_300_799;
pub const CASES: u32 = 64;
pub const QUERIES_PER_CASE: usize = 24;

const USER_IDS: [&str; 4] = ["1", "2", "ü-3", "user 4"];
const USERNAMES: [&str; 3] = ["alice", "Alice", "bob"];
const EMAILS: [&str; 3] = ["a@example.org", "b@example.org", "carol@example.org"];
const KEYS: [&str; 2] = ["SHA256:k1", "SHA256:k2"];
const FEATURES: [&str; 5] = ["chat", "comments", "Login", "ÉTUDE", "*"];
const ASKED_FEATURES: [&str; 9] = [
    "chat", "CHAT", "comments", "login", "read", "export", "étude", "ÉTUDE", "upload",
];
const SCOPES: [(&str, &str); 3] = [
    ("academy", "madrid"),
    ("cohort", "c1"),
    ("Academy", "Madrid"),
];
const ASKED_SCOPES: [(&str, &str); 4] = [
    ("academy", "madrid"),
    ("ACADEMY", "madrid"),
    ("academy", "Madrid"),
    ("cohort", "c1"),
];
const REASONS: [&str; 3] = ["spam", "abuse", "fraud"];
const TEXTS: [&str; 3] = [
    "You are suspended.",
    "Suspendu — « spam » 🚫\u{2028}second line\\",
    "\"quoted\" <b>&amp;</b>",
];

pub fn time(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).expect("generated times are representable")
}

pub fn text(seconds: i64) -> String {
    time(seconds).to_rfc3339_opts(SecondsFormat::Secs, true)
}

// ------------------------------------------------------------------ generated contents

fn instant() -> impl Strategy<Value = i64> {
    prop_oneof![
        6 => BASE - 40 * 86_400..BASE + 40 * 86_400,
        1 => FIRST..BASE,
        1 => LATEST - 1_000..LATEST,
    ]
}

/// An end after `from`: a duration (up to the 100 years the operator allows),
/// the very last second, or none.
fn until() -> impl Strategy<Value = Option<i64>> {
    prop_oneof![
        2 => Just(None),
        4 => (1i64..=100 * 86_400).prop_map(Some),
        1 => (1i64..=36_525 * 86_400).prop_map(Some),
        1 => Just(Some(i64::MAX)),
    ]
}

fn end(from: i64, duration: Option<i64>) -> Option<DateTime<Utc>> {
    duration.map(|d| time(from.saturating_add(d).min(LATEST)))
}

fn ipv4(prefixes: Vec<u8>) -> impl Strategy<Value = IpNet> {
    (0u8..3, 0u8..2, any::<u8>(), prop::sample::select(prefixes)).prop_map(|(b, c, d, prefix)| {
        IpNet::containing(IpAddr::V4(Ipv4Addr::new(10, b, c, d)), prefix)
    })
}

fn ipv6(prefixes: Vec<u8>) -> impl Strategy<Value = IpNet> {
    (
        0u16..3,
        0u16..2,
        any::<u16>(),
        prop::sample::select(prefixes),
    )
        .prop_map(|(b, c, d, prefix)| {
            let addr = Ipv6Addr::new(0x2001, 0xdb8, b, c, 0, 0, 0, d);
            IpNet::containing(IpAddr::V6(addr), prefix)
        })
}

/// A subject as the operator publishes it: emails hashed, networks normalised.
fn subject() -> impl Strategy<Value = SubjectKey> {
    prop_oneof![
        prop::sample::select(&USER_IDS[..]).prop_map(|v| SubjectKey::UserId(v.into())),
        prop::sample::select(&USERNAMES[..]).prop_map(|v| SubjectKey::Username(v.into())),
        prop::sample::select(&EMAILS[..]).prop_map(|v| SubjectKey::Email(hash_email(v))),
        ipv4(vec![8, 16, 24, 30, 32]).prop_map(|n| SubjectKey::Ip(n.to_string())),
        ipv6(vec![32, 48, 64, 120, 128]).prop_map(|n| SubjectKey::Ip(n.to_string())),
        prop::sample::select(&KEYS[..]).prop_map(|v| SubjectKey::KeyFingerprint(v.into())),
    ]
}

fn optional_text() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop::sample::select(&TEXTS[..]).prop_map(String::from))
}

/// Everything of an entry but its id, which the contents number.
type EntryParts = (
    (
        bool,
        SubjectKey,
        bool,
        Vec<String>,
        Vec<(&'static str, &'static str)>,
    ),
    (i64, Option<i64>, &'static str),
    (Option<String>, Option<String>, bool, bool),
);

fn entry_parts() -> impl Strategy<Value = EntryParts> {
    (
        (
            any::<bool>(),
            subject(),
            any::<bool>(),
            prop::sample::subsequence(FEATURES.to_vec(), 1..=3)
                .prop_map(|f| f.into_iter().map(String::from).collect()),
            prop::sample::subsequence(SCOPES.to_vec(), 0..=2),
        ),
        (instant(), until(), prop::sample::select(&REASONS[..])),
        (
            optional_text(),
            optional_text(),
            any::<bool>(),
            prop::bool::weighted(0.15),
        ),
    )
}

fn entry(n: usize, parts: EntryParts) -> Entry {
    let ((user_ban, subject, silence, features, scopes), (from, until, reason), rest) = parts;
    let (message, appeal_instructions, revokes, global) = rest;
    let kind = if user_ban { "UserBan" } else { "FeatureBlock" };
    let id = format!("{kind}/b{n}");
    Entry {
        id: if global {
            format!("global-ns/{id}")
        } else {
            id
        },
        kind: if user_ban {
            EntryKind::UserBan
        } else {
            EntryKind::FeatureBlock
        },
        subject,
        mode: user_ban.then_some(if silence {
            Mode::Silence
        } else {
            Mode::Suspend
        }),
        features: if user_ban { vec![] } else { features },
        scopes: if user_ban {
            vec![]
        } else {
            scopes
                .into_iter()
                .map(|(kind, name)| Scope {
                    kind: kind.into(),
                    name: name.into(),
                })
                .collect()
        },
        from: time(from),
        until: end(from, until),
        reason: reason.into(),
        message,
        revoke_sessions_before: (user_ban && revokes).then_some(time(from)),
        appeal_instructions,
        global,
    }
}

fn exemption() -> impl Strategy<Value = (SubjectKey, Option<i64>)> {
    (
        prop_oneof![
            3 => ipv4(vec![24, 32]).prop_map(|n| SubjectKey::Ip(n.to_string())),
            1 => subject(),
        ],
        prop::option::of(instant()),
    )
}

fn revocation() -> impl Strategy<Value = (SubjectKey, i64, i64)> {
    (subject(), instant(), 1i64..=400 * 86_400)
}

/// What one case publishes: contents and the number of shards.
#[derive(Clone, Debug)]
pub struct Published {
    pub contents: Contents,
    pub shards: u32,
}

pub fn published() -> impl Strategy<Value = Published> {
    (
        prop::collection::vec(entry_parts(), 0..40),
        prop::collection::vec(exemption(), 0..4),
        prop::collection::vec(revocation(), 0..6),
        1u32..=4,
    )
        .prop_map(|(entries, exemptions, revocations, shards)| Published {
            contents: Contents {
                entries: entries
                    .into_iter()
                    .enumerate()
                    .map(|(n, parts)| entry(n, parts))
                    .collect(),
                exemptions: exemptions
                    .into_iter()
                    .enumerate()
                    .map(|(n, (subject, until))| Exemption {
                        id: format!("BanExemption/x{n}"),
                        subject,
                        until: until.map(time),
                    })
                    .collect(),
                revocations: revocations
                    .into_iter()
                    .enumerate()
                    .map(|(n, (subject, before, kept))| Revocation {
                        id: format!("UserBan/ended{n}"),
                        subject,
                        before: time(before),
                        until: time(before.saturating_add(kept).min(LATEST)),
                    })
                    .collect(),
            },
            shards,
        })
}

// ------------------------------------------------------------------ generated questions

/// One question: identifiers (at least one), feature, context pairs, and the
/// time, chosen among the instants where the contents change (`at.0`, modulo
/// their number) or anywhere (`at.1`).
#[derive(Clone, Debug)]
pub struct Asked {
    user_id: Option<String>,
    username: Option<String>,
    email: Option<String>,
    ip: Option<IpAddr>,
    key: Option<String>,
    feature: String,
    scopes: Vec<(&'static str, &'static str)>,
    at: (Option<usize>, i64),
}

fn asked_email() -> impl Strategy<Value = String> {
    prop::sample::select(&EMAILS[..]).prop_flat_map(|email| {
        let hash = hash_email(email);
        let upper = format!("SHA256:{}", &hash["sha256:".len()..]);
        let local = email.split('@').next().unwrap_or_default();
        let typed = format!(" {}+promo@EXAMPLE.org ", local.to_uppercase());
        prop::sample::select(vec![email.to_string(), hash, upper, typed])
    })
}

fn asked_ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        3 => (0u8..3, 0u8..2, any::<u8>())
            .prop_map(|(b, c, d)| IpAddr::V4(Ipv4Addr::new(10, b, c, d))),
        1 => (0u8..3, 0u8..2, any::<u8>())
            .prop_map(|(b, c, d)| IpAddr::V6(Ipv4Addr::new(10, b, c, d).to_ipv6_mapped())),
        2 => (0u16..3, 0u16..2, any::<u16>())
            .prop_map(|(b, c, d)| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, b, c, 0, 0, 0, d))),
        1 => Just(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))),
    ]
}

pub fn asked() -> impl Strategy<Value = Asked> {
    (
        (
            prop::option::weighted(0.5, prop::sample::select(&USER_IDS[..])),
            prop::option::weighted(0.3, prop::sample::select(&USERNAMES[..])),
            prop::option::weighted(0.3, asked_email()),
            prop::option::weighted(0.4, asked_ip()),
            prop::option::weighted(0.2, prop::sample::select(&KEYS[..])),
        ),
        prop::sample::select(&ASKED_FEATURES[..]),
        prop::sample::subsequence(ASKED_SCOPES.to_vec(), 0..=2),
        (prop::option::weighted(0.8, any::<usize>()), instant()),
    )
        .prop_map(
            |((user_id, username, email, ip, key), feature, scopes, at)| {
                let user_id = user_id.map(String::from).or_else(|| {
                    // A question names someone.
                    (username.is_none() && email.is_none() && ip.is_none() && key.is_none())
                        .then(|| USER_IDS[0].to_string())
                });
                Asked {
                    user_id,
                    username: username.map(String::from),
                    email,
                    ip,
                    key: key.map(String::from),
                    feature: feature.into(),
                    scopes,
                    at,
                }
            },
        )
}

/// Every instant where something in `contents` starts or ends, the second
/// before it, and the edges of the time the operator can write.
pub fn boundaries(contents: &Contents) -> Vec<i64> {
    let mut instants = vec![BASE, FIRST, LATEST, LATEST - 1];
    let mut add = |t: DateTime<Utc>| instants.extend([t.timestamp(), t.timestamp() - 1]);
    for entry in &contents.entries {
        add(entry.from);
        entry.until.into_iter().for_each(&mut add);
    }
    for exemption in &contents.exemptions {
        exemption.until.into_iter().for_each(&mut add);
    }
    for revocation in &contents.revocations {
        add(revocation.before);
        add(revocation.until);
    }
    instants.retain(|t| (FIRST..=LATEST).contains(t));
    instants.sort();
    instants.dedup();
    instants
}

impl Asked {
    /// A plain question: may `user_id` use `feature` at `at`?
    pub fn user(user_id: &str, feature: &str, at: i64) -> Asked {
        Asked {
            user_id: Some(user_id.to_string()),
            username: None,
            email: None,
            ip: None,
            key: None,
            feature: feature.to_string(),
            scopes: Vec::new(),
            at: (None, at),
        }
    }

    pub fn at(&self, boundaries: &[i64]) -> i64 {
        match self.at.0 {
            Some(i) => boundaries[i % boundaries.len()],
            None => self.at.1,
        }
    }

    fn scopes(&self) -> Vec<Scope> {
        self.scopes
            .iter()
            .map(|(kind, name)| Scope {
                kind: (*kind).into(),
                name: (*name).into(),
            })
            .collect()
    }

    pub fn query(&self) -> Query {
        Query {
            user_id: self.user_id.clone(),
            username: self.username.clone(),
            email: self.email.clone(),
            ip: self.ip,
            key_fingerprint: self.key.clone(),
            feature: self.feature.clone(),
            scopes: self.scopes(),
        }
    }

    /// The query as the Python package reads it (`Query.from_json`).
    pub fn python(&self, at: i64) -> Value {
        json!({
            "query": {
                "userId": self.user_id,
                "username": self.username,
                "email": self.email,
                "ip": self.ip.map(|ip| ip.to_string()),
                "keyFingerprint": self.key,
                "feature": self.feature,
                "scopes": self.scopes,
            },
            "at": text(at),
        })
    }

    /// The sidecar's query string (`src/serve/params.rs`).
    pub fn sidecar(&self, at: i64) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("feature", &self.feature);
        for (name, value) in [
            ("user", &self.user_id),
            ("username", &self.username),
            ("email", &self.email),
            ("key", &self.key),
        ] {
            if let Some(value) = value {
                query.append_pair(name, value);
            }
        }
        if let Some(ip) = self.ip {
            query.append_pair("ip", &ip.to_string());
        }
        for (kind, name) in &self.scopes {
            query.append_pair("scope", &format!("{kind}={name}"));
        }
        query.append_pair("at", &text(at));
        format!("/v1/decision?{}", query.finish())
    }
}

// ------------------------------------------------------------------ the sidecar

/// `interdict serve` following a directory, as it follows a mounted volume.
pub struct Sidecar {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Sidecar {
    pub fn start(dir: &Path, log: PathBuf) -> Sidecar {
        let port = crate::common::http::free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_interdict"))
            .args(["serve", "--dir"])
            .arg(dir)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--reload-interval-ms", "10"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start interdict serve");
        let mut sidecar = Sidecar { child, port, log };
        let deadline = Instant::now() + Duration::from_secs(20);
        while crate::common::http::http(port, "GET", "/healthz").map(|(status, _)| status)
            != Some(200)
        {
            assert!(
                sidecar.child.try_wait().unwrap().is_none(),
                "the sidecar exited at start-up:\n{}",
                sidecar.log_text()
            );
            assert!(Instant::now() < deadline, "the sidecar never answered");
            std::thread::sleep(Duration::from_millis(20));
        }
        sidecar
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        let (status, body) = crate::common::http::http(self.port, "GET", path)
            .unwrap_or_else(|| panic!("no answer to {path}:\n{}", self.log_text()));
        (
            status,
            serde_json::from_str(&body).unwrap_or(Value::String(body)),
        )
    }

    /// Waits until the sidecar answers from the version holding `marker`.
    pub fn wait_for(&self, marker: &str) -> Result<(), TestCaseError> {
        let path = format!("/v1/decision?feature=any&user={marker}");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self.get(&path).1["ban"] == format!("UserBan/{marker}") {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(TestCaseError::fail(format!(
                    "the sidecar never loaded the published version:\n{}",
                    self.log_text()
                )));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ------------------------------------------------------------------ the Python reader

/// `interdict_blocklist` answering one JSON line per case: the directory and
/// the questions in; what it read (each item as the document spells it, and
/// the items it left out) and the decisions (linear and indexed, which must
/// agree) out.
const PYTHON_READER: &str = r#"
import json, os, sys
from interdict_blocklist import BlocklistError, Index, Query, decide, load_dir, parse_time

for line in sys.stdin:
    request = json.loads(line)
    try:
        contents = load_dir(request["dir"])
    except BlocklistError as e:
        print(json.dumps({"error": str(e)}), flush=True)
        continue
    index = Index(contents)
    decisions = []
    for asked in request["queries"]:
        query, at = Query.from_json(asked["query"]), parse_time(asked["at"])
        linear, indexed = decide(contents, query, at).to_json(), index.decide(query, at).to_json()
        decisions.append(linear if linear == indexed else {"linear": linear, "indexed": indexed})
    print(json.dumps({
        "entries": [e.to_json() for e in contents.entries],
        "exemptions": [x.to_json() for x in contents.exemptions],
        "revocations": [r.to_json() for r in contents.revocations],
        "skipped": [
            {"file": os.path.relpath(s.file, request["dir"]), "list": s.item.list,
             "index": s.item.index, "id": s.item.id}
            for s in contents.skipped
        ],
        "decisions": decisions,
    }), flush=True)
"#;

pub struct Python {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Python {
    pub fn start() -> Python {
        let mut child = Command::new("python3")
            .args(["-c", PYTHON_READER])
            .env(
                "PYTHONPATH",
                crate::common::repo_root().join("clients/python"),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs the Python reader (Python >= 3.8 is required)");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Python {
            child,
            stdin,
            stdout,
        }
    }

    pub fn ask(&mut self, request: &Value) -> Value {
        writeln!(self.stdin, "{request}").expect("the Python reader takes a request");
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        assert!(
            !line.is_empty(),
            "the Python reader exited (its stderr is above)"
        );
        serde_json::from_str(&line).expect("the Python reader answers JSON")
    }
}

impl Drop for Python {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Items as the document spells them, less `global`, which only the Rust
/// reader keeps (it changes no decision).
pub fn as_written<T: serde::Serialize>(items: &[T]) -> Value {
    let mut items = serde_json::to_value(items).expect("items serialise");
    for item in items.as_array_mut().into_iter().flatten() {
        item.as_object_mut().map(|o| o.remove("global"));
    }
    items
}
