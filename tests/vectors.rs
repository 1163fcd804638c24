//! Runs the shared vectors in `tests/vectors/`: the Rust reader must give exactly
//! the answers written there, as the Python reader must.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use interdict::core::email::{canonical_email, hash_email};
use interdict::core::{EmailKey, Index, Query, Scope, decide_keyed};
use interdict::reader::load_dir;
use serde_json::Value;

fn vector_files() -> Vec<PathBuf> {
    let dir = common::repo_root().join("tests/vectors");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "vectors missing in {}", dir.display());
    files
}

fn materialise(dir: &Path, vector: &Value) {
    let files: BTreeMap<String, String> = vector["files"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, content)| {
            let text = match content {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            (name.clone(), text)
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

fn query(value: &Value) -> Query {
    let text = |key: &str| value[key].as_str().map(String::from);
    Query {
        user_id: text("userId"),
        username: text("username"),
        email: text("email"),
        ip: text("ip").map(|ip| ip.parse().unwrap_or_else(|_| panic!("vector ip {ip}"))),
        key_fingerprint: text("keyFingerprint"),
        feature: text("feature").expect("feature"),
        scopes: value["scopes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| Scope {
                kind: s["kind"].as_str().unwrap().into(),
                name: s["name"].as_str().unwrap().into(),
            })
            .collect(),
    }
}

/// Returns the failures of one vector file, so one run reports them all.
fn run(path: &Path) -> Vec<String> {
    let vector: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let file = path.file_name().unwrap().to_string_lossy().into_owned();
    let mut failures = Vec::new();
    if let Some(emails) = vector["emails"].as_array() {
        for item in emails {
            let input = item["input"].as_str().unwrap();
            if canonical_email(input) != item["canonical"].as_str().unwrap()
                || hash_email(input) != item["hash"].as_str().unwrap()
            {
                failures.push(format!(
                    "{file}: email {input:?}: got {} / {}",
                    canonical_email(input),
                    hash_email(input)
                ));
            }
        }
        return failures;
    }
    let dir = tempfile::tempdir().unwrap();
    materialise(dir.path(), &vector);
    let loaded = load_dir(dir.path());
    if vector["expectError"] == true {
        match loaded {
            Ok(_) => failures.push(format!("{file}: loaded, but the vector expects an error")),
            Err(error) => {
                if let Some(name) = vector["errorFile"].as_str()
                    && !error.to_string().contains(name)
                {
                    failures.push(format!("{file}: error does not name {name}: {error}"));
                }
            }
        }
        return failures;
    }
    let entries = match loaded {
        Ok(entries) => entries,
        Err(error) => return vec![format!("{file}: cannot load: {error}")],
    };
    // `emailKey`: the reader holds the operator's key (the text's UTF-8 bytes).
    let key = vector["emailKey"]
        .as_str()
        .map(|text| EmailKey::new(text.as_bytes()).expect("vector emailKey"));
    let index = Index::new(entries.clone()).with_email_key(key.clone());
    let foreign: BTreeMap<String, usize> = vector["expectForeignEmailKeys"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(id, count)| (id.clone(), count.as_u64().unwrap() as usize))
        .collect();
    if index.foreign_email_keys() != foreign {
        failures.push(format!(
            "{file}: keyed with keys the reader lacks: expected {foreign:?} got {:?}",
            index.foreign_email_keys()
        ));
    }
    for case in vector["cases"].as_array().expect("cases") {
        let at = chrono::DateTime::parse_from_rfc3339(case["at"].as_str().unwrap())
            .unwrap()
            .with_timezone(&chrono::Utc);
        let asked = query(&case["query"]);
        if case["expectQueryError"] == true {
            // Refused before deciding: the sidecar answers 400 for such a query.
            if asked.has_subject() {
                failures.push(format!(
                    "{file}: {}: the vector expects a refused query",
                    case["name"]
                ));
            }
            continue;
        }
        let linear =
            serde_json::to_value(decide_keyed(&entries, &asked, key.as_ref(), at)).unwrap();
        let indexed = serde_json::to_value(index.decide(&asked, at)).unwrap();
        for (path, got) in [("linear", linear), ("indexed", indexed)] {
            if got != case["expect"] {
                failures.push(format!(
                    "{file}: {} ({path}): expected {} got {got}",
                    case["name"], case["expect"]
                ));
            }
        }
    }
    failures
}

#[test]
fn rust_reader_agrees_with_every_shared_vector() {
    let failures: Vec<String> = vector_files().iter().flat_map(|p| run(p)).collect();
    assert!(
        failures.is_empty(),
        "{} vector failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
