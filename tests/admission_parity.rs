//! Admission parity: random UserBan and FeatureBlock specs, valid and not
//! (bad or oversized durations, both an end and a duration, unknown modes,
//! empty, blank, multi-line or several subjects, bad or wide networks, bad
//! emails, long texts, bad features and scopes, starts after ends ...), are
//! checked by the core's own checks, the ones `kubectl interdict import`
//! applies to a row before sending anything (`plugin::check_import_row`), and
//! by the real API server (schema and CEL, server-side dry-run create). Both
//! must give the same accept/refuse answer. Besides:
//!
//! - the manifest the core would write for an accepted row is accepted too
//!   ("nothing is sent that the API server would refuse");
//! - every spec the API server accepts compiles in the operator
//!   (`core::compile`): nothing stored is a ban the operator cannot publish.
//!
//! Every disagreement is printed with the spec and both answers, then the
//! test fails. Intended differences are kept out by construction, each with
//! its reason at the generator: the import's own conveniences (case-insensitive
//! and trimmed cells, dates without a time) are not generated, and the core
//! checks at a `now` before every generated time, because refusing an end in
//! the past is a guard of the command line (the ban would be over at once)
//! while a manifest applied later (GitOps) may rightly hold one.
//!
//! `INTERDICT_PARITY_SAMPLES` (default 300) specs from seed
//! `INTERDICT_PARITY_SEED` (default 1).

mod common;

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use interdict::api::{FeatureBlock, UserBan};
use interdict::core::compile::{compile_feature_block, compile_user_ban};
use kube::api::{Api, ApiResource, DynamicObject, PostParams};
use kube::core::ObjectMeta;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{Value, json};

/// The subject fields and the import columns that give them.
const SUBJECT_FIELDS: [(&str, &str); 5] = [
    ("userId", "user"),
    ("username", "username"),
    ("email", "email"),
    ("ip", "ip"),
    ("keyFingerprint", "key"),
];

#[derive(Clone, Debug)]
struct Spec {
    feature_block: bool,
    /// (field index into SUBJECT_FIELDS, value)
    subject: Vec<(usize, String)>,
    acknowledge_wide_range: Option<bool>,
    mode: Option<String>,
    duration: Option<String>,
    expires_at: Option<String>,
    starts_at: Option<String>,
    reason: String,
    notes: Option<String>,
    message: Option<String>,
    /// Appealable, with these instructions.
    appeal: Option<Option<String>>,
    features: Vec<String>,
    scopes: Vec<(String, String)>,
}

impl Spec {
    fn kind(&self) -> &'static str {
        if self.feature_block {
            "FeatureBlock"
        } else {
            "UserBan"
        }
    }

    /// The object as a user would apply it.
    fn object(&self, name: &str) -> Value {
        let mut subject = serde_json::Map::new();
        for (field, value) in &self.subject {
            subject.insert(SUBJECT_FIELDS[*field].0.into(), json!(value));
        }
        if let Some(ack) = self.acknowledge_wide_range {
            subject.insert("acknowledgeWideRange".into(), json!(ack));
        }
        let mut spec = json!({ "subject": subject, "reason": { "code": self.reason } });
        let mut set = |key: &str, value: &Option<String>| {
            if let Some(value) = value {
                spec[key] = json!(value);
            }
        };
        set("mode", &self.mode);
        set("duration", &self.duration);
        set("expiresAt", &self.expires_at);
        set("startsAt", &self.starts_at);
        set("message", &self.message);
        if let Some(notes) = &self.notes {
            spec["reason"]["notes"] = json!(notes);
        }
        if let Some(instructions) = &self.appeal {
            spec["appeal"] = json!({ "allowed": true });
            if let Some(instructions) = instructions {
                spec["appeal"]["instructions"] = json!(instructions);
            }
        }
        if self.feature_block {
            spec["features"] = json!(self.features);
            if !self.scopes.is_empty() {
                spec["scopes"] = self
                    .scopes
                    .iter()
                    .map(|(kind, name)| json!({ "kind": kind, "name": name }))
                    .collect();
            }
        }
        json!({
            "apiVersion": "interdict.dev/v1alpha1",
            "kind": self.kind(),
            "metadata": { "name": name },
            "spec": spec,
        })
    }

    /// The same spec as an import row.
    fn cells(&self, name: &str) -> BTreeMap<String, String> {
        let mut cells = BTreeMap::from([
            ("kind".to_string(), self.kind().to_string()),
            ("reason".to_string(), self.reason.clone()),
            ("name".to_string(), name.to_string()),
        ]);
        for (field, value) in &self.subject {
            cells.insert(SUBJECT_FIELDS[*field].1.into(), value.clone());
        }
        let mut set = |key: &str, value: &Option<String>| {
            if let Some(value) = value {
                cells.insert(key.into(), value.clone());
            }
        };
        set("mode", &self.mode);
        set("duration", &self.duration);
        set("until", &self.expires_at);
        set("starts", &self.starts_at);
        set("notes", &self.notes);
        set("message", &self.message);
        if let Some(ack) = self.acknowledge_wide_range {
            cells.insert("acknowledge_wide_range".into(), ack.to_string());
        }
        if let Some(instructions) = &self.appeal {
            cells.insert("appealable".into(), "true".into());
            if let Some(instructions) = instructions {
                cells.insert("appeal_instructions".into(), instructions.clone());
            }
        }
        if self.feature_block {
            if !self.features.is_empty() {
                cells.insert("features".into(), self.features.join(";"));
            }
            if !self.scopes.is_empty() {
                let scopes: Vec<String> = self
                    .scopes
                    .iter()
                    .map(|(k, n)| format!("{k}={n}"))
                    .collect();
                cells.insert("scopes".into(), scopes.join(";"));
            }
        }
        cells
    }
}

// ------------------------------------------------------------------ generator

fn pick(values: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::sample::select(values).prop_map(String::from)
}

fn long(c: char, n: usize) -> String {
    std::iter::repeat_n(c, n).collect()
}

/// Subject values per field. Not generated: an `ip` with blanks around it
/// (the import trims a cell, a manifest is taken as written).
fn subject_value(field: usize) -> BoxedStrategy<String> {
    let common = prop_oneof![
        Just(String::new()),
        Just("  ".to_string()),
        Just("a\nb".to_string()),
        Just("tab\there".to_string()),
        Just("sep\u{2028}arator".to_string()),
        Just("nel\u{85}".to_string()),
    ];
    let specific = match field {
        0 | 1 => prop_oneof![
            8 => pick(&["123", "alice", "ü-3", " padded ", "Alice Smith"]),
            1 => Just(long('x', 253)),
            1 => Just(long('x', 254)),
            1 => Just(long('é', 253)),
        ]
        .boxed(),
        2 => prop_oneof![
            8 => pick(&["a@b.c", " Alice+x@Example.org ", "é@ü.example", "bob@example.org"]),
            4 => pick(&[
                "a@b.c", " Alice+x@Example.org ", "a@b@c", "@b.c", "a@", "a b@c.d",
                "a\u{a0}b@c.d", "\u{3000}a@b.c\u{3000}", "ab", "a@b", "é@ü.example",
                "sha256:7a64adf28737ea90719cbdf0b1a87a5effff3753b79c91d717f4f4153ead0498",
                "SHA256:7A64ADF28737EA90719CBDF0B1A87A5EFFFF3753B79C91D717F4F4153EAD0498",
                " sha256:7a64adf28737ea90719cbdf0b1a87a5effff3753b79c91d717f4f4153ead0498 ",
                "sha256:abc",
            ]),
            1 => Just(format!("{}@example.org", long('a', 242))),
            1 => Just(format!("{}@example.org", long('a', 243))),
        ]
        .boxed(),
        3 => prop_oneof![
            4 => pick(&["203.0.113.7", "203.0.113.0/24", "2001:db8::1", "10.0.0.0/8"]),
            3 => pick(&[
            "203.0.113.7", "10.0.0.0/8", "10.1.2.3/8", "0.0.0.0/0", "10.0.0.0/7",
            "2001:db8::/32", "2001:db8::/31", "2001:db8::1", "::/0", "::ffff:10.0.0.1",
            "::ffff:10.0.0.0/104", "::ffff:10.0.0.0/100", "999.1.1.1", "1.2.3.4/33",
            "fe80::1%eth0", "banana", "1.2.3.4/08", "01.2.3.4", "1.2.3.4/", "::1/128",
            "203.0.113.0/24",
            ]),
        ]
        .boxed(),
        _ => prop_oneof![
            8 => pick(&["SHA256:abc", "ssh-ed25519 AAAA", "k"]),
            1 => Just(long('k', 512)),
            1 => Just(long('k', 513)),
        ]
        .boxed(),
    };
    prop_oneof![8 => specific, 1 => common].boxed()
}

fn subject() -> impl Strategy<Value = Vec<(usize, String)>> {
    let one = (0usize..5).prop_flat_map(|field| subject_value(field).prop_map(move |v| (field, v)));
    prop_oneof![
        12 => one.clone().prop_map(|s| vec![s]),
        1 => Just(vec![]),
        1 => proptest::collection::vec(one, 2..3).prop_filter("two fields", |s| s[0].0 != s[1].0),
    ]
}

/// Times: every generated one is after the core's `now` (see the header).
/// Not generated: dates without a time, which the import reads as midnight,
/// and a blank instead of the `T`, which it reads as RFC 3339 allows: a
/// manifest's `date-time` takes neither, and the import writes the time in
/// the one spelling it takes.
fn time() -> impl Strategy<Value = String> {
    let valid = pick(&[
        "2030-01-01T00:00:00Z",
        "2031-06-01T12:00:00+02:00",
        "2032-03-04T05:06:07Z",
    ]);
    prop_oneof![2 => valid, 3 => odd_time()]
}

fn odd_time() -> impl Strategy<Value = String> {
    pick(&[
        "2030-01-01T00:00:00Z",
        "2031-06-01T12:00:00+02:00",
        "2030-01-01T00:00:00.5Z",
        "2001-01-01T00:00:00Z",
        "2029-12-31T23:59:59Z",
        "9898-12-31T00:00:00Z",
        "9899-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "2030-13-01T00:00:00Z",
        "2030-02-30T00:00:00Z",
        "soon",
        "2030-01-01T00:00:00",
        "2030-01-01t00:00:00z",
    ])
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        any::<bool>(),
        subject(),
        proptest::option::weighted(0.2, any::<bool>()),
        // Modes as the CRD spells them; the import's lower-case spellings
        // are a convenience of its cells and are not generated. A
        // FeatureBlock has no mode field (one would be pruned unseen).
        proptest::option::weighted(0.4, pick(&["Suspend", "Silence", "Silence", "Obliterate", ""])),
        // Durations without blanks around them (the import trims cells).
        proptest::option::weighted(
            0.5,
            prop_oneof![
            2 => pick(&["7d", "1h30m", "30m", "12h"]),
            3 => pick(&[
                "7d", "1h30m", "30m", "0s", "-5m", "banana", "36525d", "36526d", "1234567s",
                "999999s", "1s1s1s1s1s", "1w1d1h1m", "5", "5M", "0h5m",
            ]),
            ],
        ),
        proptest::option::weighted(0.3, time()),
        proptest::option::weighted(0.2, time()),
        // Reason codes without blanks around them (the import trims cells).
        prop_oneof![
            16 => pick(&["spam", "brute-force", "abuse", "a1"]),
            2 => pick(&["Spam", "-x", "x-", "a_b", "", "é", "two words"]),
            1 => Just(long('a', 63)),
            1 => Just(long('a', 64)),
        ],
        proptest::option::weighted(
            0.3,
            prop_oneof![
                4 => pick(&["line\nbreak\ttab", "ok", "a ticket"]),
                1 => pick(&["bell\u{7}", "cr\r\n"]),
                1 => Just(long('n', 4096)),
                1 => Just(long('n', 4097)),
            ],
        ),
        proptest::option::weighted(
            0.3,
            prop_oneof![
                4 => pick(&["Suspended", "« ok » 🚫", ""]),
                1 => pick(&["two\nlines", "tab\t"]),
                1 => Just(long('m', 1024)),
                1 => Just(long('m', 1025)),
            ],
        ),
        proptest::option::weighted(
            0.2,
            proptest::option::of(pick(&["Write to us\nplease", "sep\u{2028}", "ok", "", "Reply"])),
        ),
        (
            // Features and scopes without `;` (the import's list separator),
            // empty items or blanks around them (it drops and trims those).
            prop_oneof![
                4 => proptest::collection::vec(pick(&["*", "comments", "EXPENSES", "a.b_c:d/e-f"]), 1..3),
                1 => proptest::collection::vec(
                    pick(&["*", "comments", "EXPENSES", "a.b_c:d/e-f", "-x", "a b", "é", "x*"]),
                    0..4,
                ),
            ],
            prop_oneof![
                4 => proptest::collection::vec(
                    (pick(&["academy", "page"]), pick(&["madrid", "/posts/42", "a=b", "ü"])),
                    0..3,
                ),
                1 => proptest::collection::vec(
                    (
                        pick(&["academy", "page", "Academy", "a_b", "x-"]),
                        pick(&["madrid", "/posts/42", "a=b", "tab\tx", "ü"]),
                    ),
                    0..3,
                ),
            ],
        ),
    )
        .prop_map(
            |(
                feature_block,
                subject,
                acknowledge_wide_range,
                mode,
                duration,
                expires_at,
                starts_at,
                reason,
                notes,
                message,
                appeal,
                (features, scopes),
            )| Spec {
                feature_block,
                subject,
                acknowledge_wide_range,
                mode: if feature_block { None } else { mode },
                duration,
                expires_at,
                starts_at,
                reason,
                notes,
                message,
                appeal,
                features: if feature_block { features } else { vec![] },
                scopes: if feature_block { scopes } else { vec![] },
            },
        )
}

// ------------------------------------------------------------------ answers

/// The API server's answer to a dry-run create: `Ok` or its message.
async fn server_answer(api: &Api<DynamicObject>, object: &Value) -> Result<(), String> {
    let object: DynamicObject = serde_json::from_value(object.clone()).expect("objects read back");
    let params = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    match api.create(&params, &object).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 422 || status.code == 400 => {
            Err(status.message)
        }
        Err(error) => panic!("the API server failed (not a validation answer): {error}"),
    }
}

/// The operator's compile of a stored object (created now).
fn compiles(object: &Value) -> Result<(), String> {
    let mut object = object.clone();
    object["metadata"]["creationTimestamp"] = json!(Utc::now());
    let meta: ObjectMeta = serde_json::from_value(object["metadata"].clone()).unwrap();
    let result = if object["kind"] == "UserBan" {
        let mut ban: UserBan = serde_json::from_value(object).map_err(|e| e.to_string())?;
        ban.metadata = meta;
        compile_user_ban(&ban, None).map(|_| ())
    } else {
        let mut block: FeatureBlock = serde_json::from_value(object).map_err(|e| e.to_string())?;
        block.metadata = meta;
        compile_feature_block(&block, None).map(|_| ())
    };
    result.map_err(|e| e.to_string())
}

/// A spec as one line of JSON, long strings shortened to their length.
fn shown(spec: &Spec) -> String {
    fn shorten(value: &mut Value) {
        match value {
            Value::String(text) if text.chars().count() > 40 => {
                let first = text.chars().next().unwrap_or(' ');
                *text = format!(
                    "<{} x {first:?}: {} chars>",
                    text.len(),
                    text.chars().count()
                );
            }
            Value::Array(items) => items.iter_mut().for_each(shorten),
            Value::Object(fields) => fields.values_mut().for_each(shorten),
            _ => {}
        }
    }
    let mut object = spec.object("x");
    shorten(&mut object);
    format!("{} {}", spec.kind(), object["spec"])
}

/// Whether the manifest the import wrote spells the subject's address or a
/// time otherwise than the spec does.
fn respelled(spec: &Spec, manifest: &Value) -> bool {
    let written = &manifest["spec"];
    let ip = spec
        .subject
        .iter()
        .find(|(field, _)| SUBJECT_FIELDS[*field].0 == "ip")
        .map(|(_, v)| v.as_str());
    let differs =
        |raw: Option<&str>, written: &Value| raw.is_some_and(|raw| written.as_str() != Some(raw));
    differs(ip, &written["subject"]["ip"])
        || differs(spec.starts_at.as_deref(), &written["startsAt"])
        || differs(spec.expires_at.as_deref(), &written["expiresAt"])
}

struct Outcome {
    spec: Spec,
    core: Result<Value, String>,
    server: Result<(), String>,
    /// The server's answer to the core's own manifest, when the core accepted.
    server_on_core: Option<Result<(), String>>,
    /// The operator's compile, when the server accepted.
    compiled: Option<Result<(), String>>,
}

#[tokio::test]
async fn the_core_and_the_api_server_accept_the_same_specs() {
    let samples: usize = std::env::var("INTERDICT_PARITY_SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let seed: u64 = std::env::var("INTERDICT_PARITY_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let ns = common::TestNamespace::new("parity").await;
    let started = Instant::now();
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
    );
    let strategy = spec();
    let specs: Vec<Spec> = (0..samples)
        .map(|_| strategy.new_tree(&mut runner).unwrap().current())
        .collect();
    // Before every generated time: see the header.
    let core_now: DateTime<Utc> = "1990-01-01T00:00:00Z".parse().unwrap();
    let resource = |kind: &str| {
        if kind == "UserBan" {
            ApiResource::erase::<UserBan>(&())
        } else {
            ApiResource::erase::<FeatureBlock>(&())
        }
    };
    let client = ns.client.clone();
    let namespace = ns.name.clone();
    let outcomes: Vec<Outcome> = futures::stream::iter(specs.into_iter().enumerate())
        .map(|(i, spec)| {
            let api: Api<DynamicObject> =
                Api::namespaced_with(client.clone(), &namespace, &resource(spec.kind()));
            async move {
                let name = format!("parity-{i}");
                let object = spec.object(&name);
                let server = server_answer(&api, &object).await;
                let core = interdict::plugin::check_import_row(spec.cells(&name), core_now);
                let server_on_core = match &core {
                    Ok(manifest) => {
                        let mut manifest = manifest.clone();
                        manifest["metadata"]["name"] = json!(name);
                        Some(server_answer(&api, &manifest).await)
                    }
                    Err(_) => None,
                };
                let compiled = server.is_ok().then(|| compiles(&object));
                Outcome {
                    spec,
                    core,
                    server,
                    server_on_core,
                    compiled,
                }
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;

    let mut problems = Vec::new();
    let (mut accepted, mut refused, mut respelled_count) = (0, 0, 0);
    for outcome in &outcomes {
        let Outcome {
            spec,
            core,
            server,
            server_on_core,
            compiled,
        } = outcome;
        if core.is_ok()
            && server.is_err()
            && respelled(spec, core.as_ref().unwrap())
            && server_on_core.as_ref().is_some_and(Result::is_ok)
        {
            // Intended: the import reads spellings of an address or a time
            // that a manifest may not hold (`::ffff:10.0.0.1`, `1.2.3.4/08`,
            // `2030-01-01t00:00:00z`) and writes them in the one spelling the
            // API server takes, as it hashes an address; what it writes is
            // accepted (checked just above).
            respelled_count += 1;
        } else if core.is_ok() != server.is_ok() {
            problems.push(format!(
                "disagreement on {}\n  core: {}\n  API server: {}",
                shown(spec),
                core.as_ref()
                    .map_or_else(|e| format!("refused: {e}"), |_| "accepted".into()),
                server
                    .as_ref()
                    .map_or_else(|e| format!("refused: {e}"), |_| "accepted".into()),
            ));
        } else if server.is_ok() {
            accepted += 1;
        } else {
            refused += 1;
        }
        if let Some(Err(error)) = server_on_core {
            problems.push(format!(
                "the core accepted {}\n  and wrote a manifest the API server refuses: {error}\n  {}",
                shown(spec),
                core.as_ref().map(|m| m.to_string()).unwrap_or_default()
            ));
        }
        if let Some(Err(error)) = compiled {
            problems.push(format!(
                "the API server stores {}\n  which the operator cannot compile: {error}",
                shown(spec)
            ));
        }
    }
    println!(
        "admission parity: seed {seed}, {samples} specs in {:.1}s: {accepted} accepted and {refused} refused by both, {respelled_count} refused as written but written by the import in a spelling the API server accepts, {} problem(s)",
        started.elapsed().as_secs_f64(),
        problems.len()
    );
    ns.cleanup().await;
    assert!(
        problems.is_empty(),
        "{} problem(s) (seed {seed}):\n\n{}",
        problems.len(),
        problems.join("\n\n")
    );
    // Both answers must be exercised, or parity says nothing.
    assert!(
        accepted * 10 >= samples && refused * 10 >= samples,
        "{accepted} accepted, {refused} refused"
    );
}
