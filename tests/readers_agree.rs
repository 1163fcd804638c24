//! Any blocklist the operator can write is accepted, and decided identically,
//! by the Rust reader, the Python reader and the sidecar (issue 17: a ban the
//! Rust reader enforced made the Python reader refuse the whole document).
//!
//! Random contents are rendered by the operator's own renderer into shards
//! (`core::shard::plan`), published into one directory the way kubelet mounts
//! a ConfigMap, and the same random questions go to the three readers. One
//! Python process and one sidecar serve every case: the sidecar follows the
//! directory as it would a mount. No control plane is started. Items a reader
//! cannot understand: `readers_odd_items.rs`.

mod common;
#[path = "common/readers.rs"]
mod readers;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::time::Instant;

use interdict::core::shard::plan;
use interdict::core::{Contents, Entry, EntryKind, Index, Mode, SubjectKey, decide_contents};
use interdict::reader::load;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use readers::{
    BASE, CASES, FIRST, Python, QUERIES_PER_CASE, Sidecar, as_written, asked, boundaries,
    published, text, time,
};
use serde_json::json;

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
