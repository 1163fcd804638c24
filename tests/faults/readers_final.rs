//! The last invariant: on the blocklist the faults left behind, the three
//! readers an application may use (the Rust library, the Python package and
//! the sidecar) give the same decision for every subject of the workload. The
//! namespace's ConfigMaps are laid out as kubelet mounts them (all shards in
//! one directory, as the chart's projected volume does).

use std::collections::BTreeMap;

use interdict::core::decide_contents;
use interdict::reader::load;
use serde_json::json;

use crate::common;
use crate::invariants::Observed;
use crate::readers::{Asked, Python, Sidecar};

/// Every subject the workload bans (`u0`..`u19`) and one it never does.
fn subjects() -> impl Iterator<Item = String> {
    (0..20)
        .map(|n| format!("u{n}"))
        .chain(["never-banned".to_string()])
}

/// Violations, or none when the three readers agree on every subject, now.
pub fn agree(observed: &Observed, python: &mut Python) -> Vec<String> {
    let ns = &observed.namespace;
    let data: BTreeMap<String, String> = observed
        .blocklists
        .iter()
        .flat_map(|cm| cm.data.clone().unwrap_or_default())
        .collect();
    let work = tempfile::tempdir().expect("a temporary directory");
    let mount = work.path().join("mount");
    std::fs::create_dir(&mount).expect("the mount directory");
    common::mount::kubelet_publish(&mount, &data);
    let loaded = match load(&mount) {
        Ok(loaded) => loaded,
        Err(e) => {
            return vec![format!(
                "{ns}: the Rust reader refuses the final blocklist: {e}"
            )];
        }
    };
    let now = chrono::Utc::now().timestamp();
    let questions: Vec<Asked> = subjects().map(|u| Asked::user(&u, "chat", now)).collect();
    let answer = python.ask(&json!({
        "dir": mount,
        "queries": questions.iter().map(|q| q.python(now)).collect::<Vec<_>>(),
    }));
    if let Some(error) = answer.get("error") {
        return vec![format!(
            "{ns}: the Python reader refuses the final blocklist: {error}"
        )];
    }
    let sidecar = Sidecar::start(&mount, work.path().join("sidecar.log"));
    let mut violations = Vec::new();
    for (n, question) in questions.iter().enumerate() {
        let query = question.query();
        let rust = serde_json::to_value(decide_contents(
            &loaded.contents,
            &query,
            crate::readers::time(now),
        ))
        .expect("a decision serialises");
        let (status, served) = sidecar.get(&question.sidecar(now));
        let python = &answer["decisions"][n];
        let user = query.user_id.as_deref().unwrap_or_default();
        if status != 200 || served != rust {
            violations.push(format!(
                "{ns}: {user}: the sidecar answers {status} {served}, the Rust reader {rust}"
            ));
        }
        if *python != rust {
            violations.push(format!(
                "{ns}: {user}: the Python reader answers {python}, the Rust reader {rust}"
            ));
        }
    }
    violations
}
