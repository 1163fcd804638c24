//! Items a reader cannot understand (a time outside its grammar or range, an
//! unknown kind or mode, a bad address, a missing, repeated or ill-typed
//! field): valid documents the operator could write, with some items mutated,
//! go to the Rust and the Python reader, which must leave out the same items
//! and read and decide the rest alike. No control plane is started.
//!
//! The shared vectors' `expectSkipped` (items a reader leaves out) are checked
//! here for the Rust reader; the Python suite checks them for its reader.

mod common;
#[path = "common/readers.rs"]
mod readers;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::Path;

use interdict::core::{Contents, decide_contents};
use interdict::reader::load;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use readers::{
    CASES, Python, QUERIES_PER_CASE, as_written, asked, boundaries, published, text, time,
};
use serde_json::{Value, json};

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
