//! ConfigMap data laid out exactly as kubelet mounts it, so readers are tested
//! against the real layout: each version in a timestamped `..<time>` directory,
//! `..data` pointing at the current one, one symlink per key through `..data`,
//! and a new version made visible by atomically renaming a fresh `..data` link.

use std::collections::BTreeMap;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

static VERSION: AtomicU64 = AtomicU64::new(0);

pub fn kubelet_publish(dir: &Path, data: &BTreeMap<String, String>) {
    let version = VERSION.fetch_add(1, Ordering::Relaxed);
    let real = format!("..2026_11_21_10_00_00.{version:09}");
    std::fs::create_dir_all(dir.join(&real)).unwrap();
    for (key, content) in data {
        std::fs::write(dir.join(&real).join(key), content).unwrap();
    }
    let staged = dir.join(format!("..data_tmp{version}"));
    symlink(&real, &staged).unwrap();
    let previous = std::fs::read_link(dir.join("..data")).ok();
    std::fs::rename(&staged, dir.join("..data")).unwrap();
    for key in data.keys() {
        let link = dir.join(key);
        if std::fs::symlink_metadata(&link).is_err() {
            symlink(Path::new("..data").join(key), &link).unwrap();
        }
    }
    if let Some(previous) = previous {
        let _ = std::fs::remove_dir_all(dir.join(previous));
    }
}
