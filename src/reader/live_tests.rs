use super::*;
use crate::core::SubjectKey;
use crate::core::document::render_data;
use crate::core::entry::fixtures::{at, user_ban};
use std::os::unix::fs::symlink;

/// Publishes `files` the way kubelet does: a new timestamped directory, per-key
/// symlinks through `..data`, and an atomic rename of a fresh `..data` link.
fn kubelet_publish(dir: &Path, version: u32, files: &[(&str, String)]) {
    let real = format!("..2026_11_21_10_00_{version:02}.000000001");
    std::fs::create_dir(dir.join(&real)).unwrap();
    for (name, content) in files {
        std::fs::write(dir.join(&real).join(name), content).unwrap();
        let link = dir.join(name);
        if std::fs::symlink_metadata(&link).is_err() {
            symlink(Path::new("..data").join(name), &link).unwrap();
        }
    }
    let tmp = dir.join("..data_tmp");
    symlink(&real, &tmp).unwrap();
    std::fs::rename(&tmp, dir.join("..data")).unwrap();
}

fn document(ids: &[&str]) -> String {
    let entries = ids
        .iter()
        .map(|id| {
            user_ban(
                id,
                SubjectKey::UserId(id.to_string()),
                crate::core::Mode::Suspend,
            )
        })
        .collect();
    render_data(
        "apps",
        crate::core::Contents {
            entries,
            ..Default::default()
        },
        at(0),
    )
    .remove("blocklist.json")
    .unwrap()
}

fn denied(blocklist: &Blocklist, user: &str) -> bool {
    let query = Query {
        user_id: Some(user.into()),
        feature: "x".into(),
        ..Default::default()
    };
    !blocklist.decide(&query, at(1)).allowed
}

#[test]
fn follows_kubelet_swaps_and_keeps_the_last_good_copy() {
    let dir = tempfile::tempdir().unwrap();
    let blocklist = Blocklist::new(dir.path());
    assert!(!blocklist.stats().loaded, "nothing to load yet");

    kubelet_publish(dir.path(), 1, &[("blocklist.json", document(&["a"]))]);
    assert!(blocklist.reload().unwrap());
    assert!(denied(&blocklist, "a"));
    assert!(
        !blocklist.reload().unwrap(),
        "unchanged directory is not re-read"
    );

    kubelet_publish(
        dir.path(),
        2,
        &[("blocklist.json", "{\"format\": broken".into())],
    );
    assert!(blocklist.reload().is_err());
    assert!(
        denied(&blocklist, "a"),
        "a malformed copy leaves the previous decisions in force"
    );
    let stats = blocklist.stats();
    assert_eq!((stats.reloads, stats.reload_failures), (1, 1));
    assert!(stats.last_error.unwrap().contains("blocklist.json"));

    kubelet_publish(dir.path(), 3, &[("blocklist.json", document(&["b"]))]);
    assert!(blocklist.reload().unwrap());
    assert!(!denied(&blocklist, "a") && denied(&blocklist, "b"));
    assert_eq!(blocklist.stats().last_error, None);
}

#[test]
fn watch_thread_picks_up_changes() {
    let dir = tempfile::tempdir().unwrap();
    kubelet_publish(dir.path(), 1, &[("blocklist.json", document(&["a"]))]);
    let blocklist = Blocklist::watch(dir.path(), Duration::from_millis(20));
    assert!(denied(&blocklist, "a"));
    kubelet_publish(dir.path(), 2, &[("blocklist.json", document(&["c"]))]);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !denied(&blocklist, "c") {
        assert!(std::time::Instant::now() < deadline, "change not picked up");
        std::thread::sleep(Duration::from_millis(10));
    }
    blocklist.stop();
}

fn shard(ids: &[&str], index: u32, count: u32) -> String {
    let entries = ids
        .iter()
        .map(|id| {
            user_ban(
                id,
                SubjectKey::UserId(id.to_string()),
                crate::core::Mode::Suspend,
            )
        })
        .collect();
    crate::core::document::render_shard(
        "apps",
        crate::core::Contents {
            entries,
            ..Default::default()
        },
        at(0),
        crate::core::document::Shard { index, count },
    )
    .remove(&crate::core::document::shard_key("blocklist.json", index))
    .unwrap()
}

#[test]
fn an_incomplete_or_mixed_shard_set_keeps_the_last_good_copy() {
    let dir = tempfile::tempdir().unwrap();
    kubelet_publish(dir.path(), 1, &[("blocklist.json", document(&["a"]))]);
    let blocklist = Blocklist::new(dir.path());
    assert!(denied(&blocklist, "a"));

    // Shard 0 already rewritten for two shards, shard 1 not mounted yet.
    kubelet_publish(dir.path(), 2, &[("blocklist.json", shard(&["b"], 0, 2))]);
    let error = blocklist.reload().unwrap_err();
    assert!(matches!(error, ReadError::Shards { .. }), "{error}");
    assert!(denied(&blocklist, "a") && !denied(&blocklist, "b"));
    let stats = blocklist.stats();
    assert_eq!((stats.reloads, stats.reload_failures), (1, 1));
    assert!(stats.last_error.unwrap().contains("blocklist-1.json"));

    // Shard 1 of an older count beside it: still not one set.
    kubelet_publish(
        dir.path(),
        3,
        &[
            ("blocklist.json", shard(&["b"], 0, 2)),
            ("blocklist-1.json", shard(&["c"], 1, 4)),
        ],
    );
    assert!(blocklist.reload().is_err());
    assert!(denied(&blocklist, "a") && !denied(&blocklist, "c"));

    kubelet_publish(
        dir.path(),
        4,
        &[
            ("blocklist.json", shard(&["b"], 0, 2)),
            ("blocklist-1.json", shard(&["c"], 1, 2)),
        ],
    );
    assert!(blocklist.reload().unwrap());
    assert!(!denied(&blocklist, "a") && denied(&blocklist, "b") && denied(&blocklist, "c"));
    assert_eq!(blocklist.stats().last_error, None);
}

#[test]
fn a_copy_with_an_odd_entry_is_loaded_without_it_and_counts_it() {
    let dir = tempfile::tempdir().unwrap();
    // document() writes permanent bans: an end past year 9999 is spliced in.
    let odd = document(&["a", "b"]).replacen(
        "\"id\":\"b\",",
        "\"id\":\"b\",\"until\":\"+21192-01-01T00:00:00Z\",",
        1,
    );
    assert!(odd.contains("+21192"), "{odd}");
    kubelet_publish(dir.path(), 1, &[("blocklist.json", odd)]);
    let blocklist = Blocklist::new(dir.path());
    let stats = blocklist.stats();
    assert!(stats.loaded && stats.last_error.is_none(), "{stats:?}");
    assert_eq!(
        (stats.entries, stats.skipped, stats.reload_failures),
        (1, 1, 0)
    );
    assert!(denied(&blocklist, "a") && !denied(&blocklist, "b"));
    let snapshot = blocklist.snapshot();
    assert_eq!(snapshot.skipped[0].item.id.as_deref(), Some("b"));
    assert_eq!(snapshot.skipped[0].file, dir.path().join("blocklist.json"));

    kubelet_publish(dir.path(), 2, &[("blocklist.json", document(&["a", "b"]))]);
    assert!(blocklist.reload().unwrap());
    assert_eq!(
        (blocklist.stats().entries, blocklist.stats().skipped),
        (2, 0)
    );
}

#[test]
fn a_keyed_reader_matches_keyed_emails_and_counts_the_ones_it_cannot() {
    let key = EmailKey::new(b"live-test-key-0123456789").unwrap();
    let other = EmailKey::new(b"live-test-key-9876543210").unwrap();
    let email = |id: &str, value: String| {
        user_ban(id, SubjectKey::Email(value), crate::core::Mode::Suspend)
    };
    let data = render_data(
        "apps",
        vec![
            email("UserBan/eve", key.hash_email("eve@example.org")),
            email("UserBan/bob", other.hash_email("bob@example.org")),
            email(
                "UserBan/old",
                crate::core::email::hash_email("old@example.org"),
            ),
        ]
        .into(),
        at(0),
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("blocklist.json"), &data["blocklist.json"]).unwrap();
    let denied = |blocklist: &Blocklist, email: &str| {
        let query = Query {
            email: Some(email.into()),
            feature: "x".into(),
            ..Default::default()
        };
        !blocklist.decide(&query, at(1)).allowed
    };

    let keyed = Blocklist::with_email_key(dir.path(), key.clone());
    assert!(denied(&keyed, "Eve+1@Example.org"));
    assert!(denied(
        &keyed,
        &crate::core::email::hash_email("eve@example.org")
    ));
    assert!(
        denied(&keyed, "old@example.org"),
        "unkeyed entries still match"
    );
    assert!(
        !denied(&keyed, "bob@example.org"),
        "another key's entry cannot match"
    );
    assert_eq!(keyed.stats().email_key_mismatches, 1);
    assert_eq!(
        keyed.snapshot().foreign_email_keys,
        BTreeMap::from([(other.id().to_string(), 1)])
    );

    let keyless = Blocklist::new(dir.path());
    assert!(!denied(&keyless, "eve@example.org"));
    assert!(denied(&keyless, "old@example.org"));
    assert_eq!(keyless.stats().email_key_mismatches, 2);
}
