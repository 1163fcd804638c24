//! Any blocklist the operator can write is accepted, and decided identically,
//! by the Rust reader, the Python reader and the sidecar (issue 17: a ban the
//! Rust reader enforced made the Python reader refuse the whole document).
//!
//! Random contents are rendered by the operator's own renderer into shards
//! (`core::shard::plan`), published into one directory the way kubelet mounts
//! a ConfigMap, and the same random questions go to the three readers. One
//! Python process and one sidecar serve every case: the sidecar follows the
//! directory as it would a mount. No control plane is started.
//!
//! The shared vectors' `expectSkipped` (items a reader leaves out) are checked
//! here for the Rust reader; the Python suite checks them for its reader.

mod common;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use interdict::core::email::hash_email;
use interdict::core::ip::IpNet;
use interdict::core::shard::plan;
use interdict::core::{
    Contents, Entry, EntryKind, Exemption, Index, Mode, Query, Revocation, Scope, SubjectKey,
    decide_contents,
};
use interdict::reader::load;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Value, json};

/// 2027-01-15T08:00:00Z, where most generated bans start.
const BASE: i64 = 1_800_000_000;
/// 0001-01-01T00:00:00Z: a `startsAt` may be far in the past.
const FIRST: i64 = -62_135_596_800;
/// 9999-12-31T23:59:59Z: no window the operator writes ends later.
const LATEST: i64 = 253_402_300_799;
const CASES: u32 = 64;
const QUERIES_PER_CASE: usize = 24;

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

fn time(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).expect("generated times are representable")
}

fn text(seconds: i64) -> String {
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
struct Published {
    contents: Contents,
    shards: u32,
}

fn published() -> impl Strategy<Value = Published> {
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
struct Asked {
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

fn asked() -> impl Strategy<Value = Asked> {
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
fn boundaries(contents: &Contents) -> Vec<i64> {
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
    fn at(&self, boundaries: &[i64]) -> i64 {
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

    fn query(&self) -> Query {
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
    fn python(&self, at: i64) -> Value {
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
    fn sidecar(&self, at: i64) -> String {
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

// ------------------------------------------------------------------ the three readers

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

struct Python {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Python {
    fn start() -> Python {
        let mut child = Command::new("python3")
            .args(["-c", PYTHON_READER])
            .env("PYTHONPATH", common::repo_root().join("clients/python"))
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

    fn ask(&mut self, request: &Value) -> Value {
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

struct Sidecar {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Sidecar {
    fn start(dir: &Path, log: PathBuf) -> Sidecar {
        let port = common::http::free_port();
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
        while common::http::http(port, "GET", "/healthz").map(|(status, _)| status) != Some(200) {
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

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn get(&self, path: &str) -> (u16, Value) {
        let (status, body) = common::http::http(self.port, "GET", path)
            .unwrap_or_else(|| panic!("no answer to {path}:\n{}", self.log_text()));
        (
            status,
            serde_json::from_str(&body).unwrap_or(Value::String(body)),
        )
    }

    /// Waits until the sidecar answers from the version holding `marker`.
    fn wait_for(&self, marker: &str) -> Result<(), TestCaseError> {
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

/// A permanent ban of its own subject that tells the versions apart.
fn marker(n: u64) -> Entry {
    let name = format!("marker-{n}");
    Entry {
        id: format!("UserBan/{name}"),
        kind: EntryKind::UserBan,
        subject: SubjectKey::UserId(name),
        mode: Some(Mode::Suspend),
        features: vec![],
        scopes: vec![],
        from: time(FIRST),
        until: None,
        reason: "marker".into(),
        message: None,
        revoke_sessions_before: None,
        appeal_instructions: None,
        global: false,
    }
}

/// Items as the document spells them, less `global`, which only the Rust
/// reader keeps (it changes no decision).
fn as_written<T: serde::Serialize>(items: &[T]) -> Value {
    let mut items = serde_json::to_value(items).expect("items serialise");
    for item in items.as_array_mut().into_iter().flatten() {
        item.as_object_mut().map(|o| o.remove("global"));
    }
    items
}

fn count(contents: &Contents) -> (usize, usize, usize) {
    (
        contents.entries.len(),
        contents.exemptions.len(),
        contents.revocations.len(),
    )
}

#[test]
fn rust_python_and_sidecar_accept_and_decide_every_blocklist_the_operator_writes() {
    let started = Instant::now();
    let work = tempfile::tempdir().unwrap();
    let mount = work.path().join("mount");
    std::fs::create_dir(&mount).unwrap();
    let sidecar = Sidecar::start(&mount, work.path().join("sidecar.log"));
    // The runner takes a `Fn`: the state shared across cases lives in cells.
    let python = RefCell::new(Python::start());
    let version = Cell::new(0u64);
    // Questions answered "denied" and "allowed": both must occur, or the
    // generators miss the bans they generate.
    let outcomes = Cell::new((0u32, 0u32));

    let mut runner = TestRunner::new(Config {
        cases: CASES,
        max_shrink_iters: 256,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        published(),
        prop::collection::vec(asked(), QUERIES_PER_CASE),
    );
    let result = runner.run(&strategy, |(published, questions)| {
        version.set(version.get() + 1);
        let name = format!("marker-{}", version.get());
        let mut contents = published.contents.clone();
        contents.entries.push(marker(version.get()));
        let expected = count(&contents);
        let instants = boundaries(&published.contents);

        // The operator's renderer, shard by shard, mounted as kubelet does.
        let data: BTreeMap<String, String> = plan("apps", contents, time(BASE), published.shards)
            .iter()
            .flat_map(|shard| shard.render("apps", time(BASE)))
            .collect();
        common::mount::kubelet_publish(&mount, &data);

        let loaded = load(&mount).map_err(|e| TestCaseError::fail(format!("Rust: {e}")))?;
        prop_assert!(
            loaded.skipped.is_empty(),
            "Rust skipped {:?}",
            loaded.skipped
        );
        prop_assert_eq!(count(&loaded.contents), expected);
        let index = Index::new(loaded.contents.clone());

        let at: Vec<i64> = questions.iter().map(|q| q.at(&instants)).collect();
        let request = json!({
            "dir": mount,
            "queries": questions.iter().zip(&at).map(|(q, t)| q.python(*t)).collect::<Vec<_>>(),
        });
        let answer = python.borrow_mut().ask(&request);
        prop_assert!(
            answer.get("error").is_none(),
            "Python refused it: {}",
            answer["error"]
        );
        prop_assert_eq!(&answer["skipped"], &json!([]), "Python skipped items");
        prop_assert_eq!(&answer["entries"], &as_written(&loaded.contents.entries));
        prop_assert_eq!(
            &answer["exemptions"],
            &as_written(&loaded.contents.exemptions)
        );
        prop_assert_eq!(
            &answer["revocations"],
            &as_written(&loaded.contents.revocations)
        );

        sidecar.wait_for(&name)?;
        for (n, (question, at)) in questions.iter().zip(&at).enumerate() {
            let query = question.query();
            let linear =
                serde_json::to_value(decide_contents(&loaded.contents, &query, time(*at))).unwrap();
            let indexed = serde_json::to_value(index.decide(&query, time(*at))).unwrap();
            let (status, served) = sidecar.get(&question.sidecar(*at));
            let python = &answer["decisions"][n];
            let asked = format!("{question:?} at {}", text(*at));
            prop_assert_eq!(&indexed, &linear, "Rust index vs linear: {}", asked);
            prop_assert_eq!(status, 200, "sidecar: {} for {}", served, asked);
            prop_assert_eq!(&served, &linear, "sidecar vs Rust: {}", asked);
            prop_assert_eq!(python, &linear, "Python vs Rust: {}", asked);
            let (denied, allowed) = outcomes.get();
            outcomes.set(match linear["allowed"] == json!(false) {
                true => (denied + 1, allowed),
                false => (denied, allowed + 1),
            });
        }
        Ok(())
    });
    if let Err(error) = result {
        panic!("{error}\nsidecar log:\n{}", sidecar.log_text());
    }
    let (_, metrics) = sidecar.get("/metrics");
    let metrics = metrics.as_str().unwrap_or_default().to_string();
    assert!(
        metrics.contains("interdict_blocklist_reload_failures_total 0"),
        "{metrics}"
    );
    let (denied, allowed) = outcomes.get();
    assert!(
        denied > 100 && allowed > 100,
        "denied {denied}, allowed {allowed}"
    );
    eprintln!(
        "{CASES} cases of {QUERIES_PER_CASE} questions to three readers in {:.1?} \
         ({denied} denied, {allowed} allowed)",
        started.elapsed()
    );
}

// ------------------------------------------------------------------ odd items

/// Time texts near and across the edges of the documents' grammar and range.
fn time_text() -> impl Strategy<Value = String> {
    let edges = prop::sample::select(
        &[
            "9999-12-31T23:59:59Z",
            "9999-12-31T23:59:59.999999Z",
            "9999-12-31T23:30:00-01:00",
            "9999-12-31T23:30:00+01:00",
            "0001-01-01T00:00:00Z",
            "0001-01-01T00:30:00+01:00",
            "0001-01-01T00:30:00-01:00",
            "0000-12-31T23:00:00-02:00",
            "10000-01-01T00:00:00Z",
            "+21192-01-01T00:00:00Z",
            "2027-12-31T23:59:60Z",
            "2028-02-29T00:00:00Z",
            "2027-02-29T00:00:00Z",
            "2027-01-15T08:00:00+23:59",
        ][..],
    );
    prop_oneof![
        1 => edges.prop_map(String::from),
        2 => composed_time_text(),
    ]
}

/// A time text assembled from pieces, one of them perhaps corrupted.
fn composed_time_text() -> impl Strategy<Value = String> {
    let pick = |options: &'static [&'static str]| prop::sample::select(options);
    (
        pick(&[
            "2027", "0000", "0001", "9999", "0999", "+21192", "10000", "-0001", "27",
        ]),
        pick(&["01-15", "02-29", "02-28", "12-31", "13-01", "1-15", "00-10"]),
        pick(&["T", "t", " ", "_"]),
        pick(&[
            "08:00:00", "23:59:59", "23:59:60", "24:00:00", "00:00:00", "8:00:00", "08:00",
        ]),
        pick(&["", "", ".5", ".12345", "."]),
        pick(&["", "", " ", "\t", "\u{a0}"]),
        pick(&[
            "Z",
            "Z",
            "z",
            "UTC",
            "utc",
            "+02:00",
            "-05:00",
            "+0200",
            "-01:00",
            "+23:59",
            "+24:00",
            "+2:00",
            "",
            "GMT",
            "+02:00:00",
        ]),
        prop::option::weighted(
            0.2,
            (
                any::<prop::sample::Index>(),
                pick(&["", "0", "+", ":", "２"]),
            ),
        ),
    )
        .prop_map(|(year, day, t, clock, fraction, space, zone, corruption)| {
            let mut text = format!("{year}-{day}{t}{clock}{fraction}{space}{zone}");
            if let Some((at, with)) = corruption {
                let chars: Vec<char> = text.chars().collect();
                let at = at.index(chars.len());
                text = chars[..at].iter().collect::<String>()
                    + with
                    + &chars[at + 1..].iter().collect::<String>();
            }
            text
        })
}

/// What is done to one item of a valid document before the readers see it.
#[derive(Clone, Debug)]
enum Mutation {
    Keep,
    /// A time field (or a new `until`) takes this text.
    Time(String),
    Remove(prop::sample::Index),
    Retype(prop::sample::Index, Value),
    /// `global`, which only entries have, takes this value.
    Global(Value),
    /// `mode` or `kind` takes this word.
    Word(bool, &'static str),
    Subject(Value),
    /// A field appears twice (the first one added).
    Repeat(prop::sample::Index),
    NotAnObject(Value),
}

const WORDS: [&str; 8] = [
    "Suspend",
    "Silence",
    "suspend",
    "Mute",
    "",
    "UserBan",
    "FeatureBlock",
    "IpBan",
];

fn mutation() -> impl Strategy<Value = Mutation> {
    let value = || {
        prop::sample::select(vec![
            Value::Null,
            json!(1),
            json!(1.5),
            json!(true),
            json!([]),
            json!({}),
            json!("x"),
            json!(["chat"]),
        ])
    };
    prop_oneof![
        4 => Just(Mutation::Keep),
        4 => time_text().prop_map(Mutation::Time),
        1 => any::<prop::sample::Index>().prop_map(Mutation::Remove),
        2 => (any::<prop::sample::Index>(), value()).prop_map(|(i, v)| Mutation::Retype(i, v)),
        1 => prop_oneof![value(), Just(json!(false)), Just(json!(true))].prop_map(Mutation::Global),
        1 => (any::<bool>(), prop::sample::select(&WORDS[..]))
            .prop_map(|(mode, word)| Mutation::Word(mode, word)),
        1 => prop::sample::select(vec![
            json!({"ip": "10.0.0.300"}),
            json!({"ip": "2001:db8::/129"}),
            json!({"ip": "::ffff:10.0.0.1/120"}),
            json!({"ip": "::ffff:10.0.0.1/104"}),
            json!({"ip": " 10.0.0.1"}),
            json!({"ip": "10.0.0.1/08"}),
            json!({"ip": "010.0.0.1"}),
            json!({"ip": "10.9.9.9/8"}),
            json!({"ip": "fe80::1%eth0"}),
            json!({"userId": 1}),
            json!({"userId": "1", "username": "a"}),
            json!({}),
            json!({"phone": "1"}),
            json!({"email": null}),
            json!("userId"),
        ])
        .prop_map(Mutation::Subject),
        1 => any::<prop::sample::Index>().prop_map(Mutation::Repeat),
        1 => value().prop_map(Mutation::NotAnObject),
    ]
}

/// The item as JSON text, mutated.
fn mutate(item: Value, mutation: &Mutation) -> String {
    let Value::Object(mut fields) = item else {
        unreachable!("items serialise to objects")
    };
    let key = |i: &prop::sample::Index, fields: &serde_json::Map<String, Value>| {
        fields
            .keys()
            .nth(i.index(fields.len()))
            .cloned()
            .unwrap_or_default()
    };
    match mutation {
        Mutation::Keep => {}
        Mutation::Time(text) => {
            let field = ["from", "before", "until", "revokeSessionsBefore"]
                .into_iter()
                .find(|f| fields.contains_key(*f))
                .unwrap_or("until");
            fields.insert(field.into(), json!(text));
        }
        Mutation::Remove(i) => {
            let key = key(i, &fields);
            fields.remove(&key);
        }
        Mutation::Retype(i, value) => {
            let key = key(i, &fields);
            fields.insert(key, value.clone());
        }
        Mutation::Global(value) => {
            fields.insert("global".into(), value.clone());
        }
        Mutation::Word(mode, word) => {
            fields.insert(if *mode { "mode" } else { "kind" }.into(), json!(word));
        }
        Mutation::Subject(subject) => {
            fields.insert("subject".into(), subject.clone());
        }
        Mutation::Repeat(i) => {
            let key = key(i, &fields);
            let text = Value::Object(fields).to_string();
            return format!("{{{}:\"again\",{}", json!(key), &text[1..]);
        }
        Mutation::NotAnObject(value) => {
            return match value {
                Value::Array(_) => json!(fields.values().collect::<Vec<_>>()).to_string(),
                other => other.to_string(),
            };
        }
    }
    Value::Object(fields).to_string()
}

/// A valid document's items, mutated, as one document's text.
fn odd_document(contents: &Contents, mutations: &[Mutation]) -> String {
    let mut mutations = mutations.iter().cycle();
    let mut list = |items: Value| {
        let items: Vec<String> = items
            .as_array()
            .into_iter()
            .flatten()
            .map(|item| mutate(item.clone(), mutations.next().unwrap_or(&Mutation::Keep)))
            .collect();
        format!("[{}]", items.join(",\n"))
    };
    let entries = list(serde_json::to_value(&contents.entries).unwrap());
    let exemptions = list(serde_json::to_value(&contents.exemptions).unwrap());
    let revocations = list(serde_json::to_value(&contents.revocations).unwrap());
    let head = json!({
        "format": "interdict.dev/blocklist/v1",
        "namespace": "apps",
        "shard": {"count": 1, "index": 0},
    })
    .to_string();
    let head = head.strip_suffix('}').expect("an object");
    format!(
        "{head},\n\"entries\":{entries},\n\"exemptions\":{exemptions},\n\
         \"revocations\":{revocations}}}\n"
    )
}

#[test]
fn rust_and_python_leave_out_the_same_odd_items_and_read_the_rest_alike() {
    let python = RefCell::new(Python::start());
    let outcomes = Cell::new((0usize, 0usize));
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        max_shrink_iters: 256,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        published(),
        prop::collection::vec(mutation(), 1..24),
        prop::collection::vec(asked(), QUERIES_PER_CASE / 2),
    );
    let result = runner.run(&strategy, |(published, mutations, questions)| {
        let dir = tempfile::tempdir().unwrap();
        let document = odd_document(&published.contents, &mutations);
        std::fs::write(dir.path().join("blocklist.json"), &document).unwrap();
        let loaded = load(dir.path()).map_err(|e| TestCaseError::fail(format!("Rust: {e}")))?;
        let instants = boundaries(&loaded.contents);
        let at: Vec<i64> = questions.iter().map(|q| q.at(&instants)).collect();
        let queries: Vec<Value> = questions
            .iter()
            .zip(&at)
            .map(|(q, t)| q.python(*t))
            .collect();
        let answer = python
            .borrow_mut()
            .ask(&json!({"dir": dir.path(), "queries": queries}));
        let error = &answer["error"];
        prop_assert!(
            error.is_null(),
            "Python refused it: {}\n{}",
            error,
            document
        );
        let skipped: Vec<Value> = loaded
            .skipped
            .iter()
            .map(|s| {
                let (list, index, id) = (s.item.list.as_str(), s.item.index, &s.item.id);
                json!({"file": "blocklist.json", "list": list, "index": index, "id": id})
            })
            .collect();
        let contents = &loaded.contents;
        prop_assert_eq!(
            &answer["skipped"],
            &json!(skipped),
            "skipped in\n{}",
            document
        );
        prop_assert_eq!(
            &answer["entries"],
            &as_written(&contents.entries),
            "{}",
            document
        );
        prop_assert_eq!(&answer["exemptions"], &as_written(&contents.exemptions));
        prop_assert_eq!(&answer["revocations"], &as_written(&contents.revocations));
        for (n, (question, at)) in questions.iter().zip(&at).enumerate() {
            let rust = decide_contents(contents, &question.query(), time(*at));
            let rust = serde_json::to_value(rust).unwrap();
            let asked = format!("{question:?} at {}", text(*at));
            prop_assert_eq!(&answer["decisions"][n], &rust, "{} in\n{}", asked, document);
        }
        let (kept, left_out) = outcomes.get();
        outcomes.set((
            kept + contents.entries.len(),
            left_out + loaded.skipped.len(),
        ));
        Ok(())
    });
    if let Err(error) = result {
        panic!("{error}");
    }
    let (kept, left_out) = outcomes.get();
    assert!(
        kept > 100 && left_out > 100,
        "kept {kept}, left out {left_out}"
    );
}

// ------------------------------------------------------------------ shared vectors

/// The vector's files in `dir`, laid out as its `layout` says.
fn materialise(dir: &Path, vector: &Value) {
    let files: BTreeMap<String, String> = vector["files"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, content)| match content {
            Value::String(text) => (name.clone(), text.clone()),
            other => (name.clone(), other.to_string()),
        })
        .collect();
    match vector["layout"].as_str().unwrap_or("plain") {
        "plain" => {
            for (name, text) in &files {
                std::fs::write(dir.join(name), text).unwrap();
            }
        }
        "kubelet" => common::mount::kubelet_publish(dir, &files),
        other => panic!("unknown layout {other}"),
    }
}

#[test]
fn the_rust_reader_skips_exactly_the_items_each_vector_names() {
    let vectors = common::repo_root().join("tests/vectors");
    let mut checked = 0;
    let mut failures = Vec::new();
    for path in std::fs::read_dir(&vectors).unwrap() {
        let path = path.unwrap().path();
        if path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let vector: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        if vector.get("cases").is_none() {
            continue;
        }
        let dir = tempfile::tempdir().unwrap();
        materialise(dir.path(), &vector);
        let loaded = load(dir.path()).unwrap();
        let found: Vec<Value> = loaded
            .skipped
            .iter()
            .map(|s| {
                json!({
                    "file": s.file.strip_prefix(dir.path()).unwrap(),
                    "list": s.item.list.as_str(),
                    "index": s.item.index,
                    "id": s.item.id,
                })
            })
            .collect();
        let expected = vector.get("expectSkipped").cloned().unwrap_or(json!([]));
        if json!(found) != expected {
            failures.push(format!("{}: skipped {found:?}", path.display()));
        }
        if loaded.skipped.iter().any(|s| s.item.reason.is_empty()) {
            failures.push(format!(
                "{}: a skipped item without a reason",
                path.display()
            ));
        }
        checked += usize::from(!loaded.skipped.is_empty());
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked >= 2, "vectors with skipped items: {checked}");
}
