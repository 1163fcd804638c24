//! The audit file's disk running full: every replica appends its audit lines
//! to a file (`--audit-log`) on a small tmpfs of its own, which the fault
//! fills to the last byte for a few seconds while bans are created. Afterwards
//! each file must still verify as one unbroken hash chain (`interdict audit
//! verify`): a line the disk refused is on stdout (checked with the other
//! audit invariants), never half in the file; and the operator must have
//! logged refused appends, or the fault tested nothing. Mounting needs root,
//! as CI runs.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use interdict::api::UserBan;
use kube::Api;
use kube::api::PostParams;
use serde_json::json;

/// What the operator logs when the audit file refuses a line.
pub const REFUSED_APPEND: &str = "cannot append to the audit log file";

/// Bans created while the disk is full: their audit lines (each over 400
/// bytes) add up to more than the page of slack an append may still use.
const BANS_WHILE_FULL: usize = 12;

/// Creates [`BANS_WHILE_FULL`] permanent bans spread over `duration`, each a
/// transition the leader must record while the disk is full.
pub async fn ban_while_full(client: &kube::Client, namespace: &str, duration: Duration) {
    let bans: Api<UserBan> = Api::namespaced(client.clone(), namespace);
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    for i in 0..BANS_WHILE_FULL {
        let name = format!("diskfull-{stamp}-{i}");
        let ban: UserBan = serde_json::from_value(json!({
            "apiVersion": "interdict.dev/v1alpha1", "kind": "UserBan",
            "metadata": {"name": name},
            "spec": {"subject": {"userId": format!("probe-{name}")}, "reason": {"code": "spam"}},
        }))
        .unwrap();
        // Created directly, not through the fault proxy; a failure only
        // makes the fault weaker, which the refused-append check reports.
        let _ = bans.create(&PostParams::default(), &ban).await;
        tokio::time::sleep(duration / BANS_WHILE_FULL as u32).await;
    }
}

/// Big enough for a run's audit lines, small enough to fill in an instant.
const SIZE: &str = "size=4m";

pub struct AuditDisk {
    dir: tempfile::TempDir,
}

impl AuditDisk {
    pub fn mount() -> AuditDisk {
        let dir = tempfile::tempdir().expect("a directory for the audit tmpfs");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", SIZE, "interdict-audit"])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mounting a tmpfs for the audit files failed ({status}): the disk-full fault needs root"
        );
        AuditDisk { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    fn filler(&self) -> PathBuf {
        self.dir.path().join("filler")
    }

    /// Writes until the disk refuses (ENOSPC).
    pub fn fill(&self) {
        let mut file = std::fs::File::create(self.filler()).expect("create the filler");
        let block = vec![0u8; 64 * 1024];
        while file.write_all(&block).is_ok() {}
        // The last bytes a block did not fit.
        while file.write_all(&[0]).is_ok() {}
    }

    pub fn drain(&self) {
        let _ = std::fs::remove_file(self.filler());
    }

    /// One violation per audit file that does not verify.
    pub fn verify(&self) -> Vec<String> {
        let mut violations = Vec::new();
        let files = std::fs::read_dir(self.path()).expect("list the audit tmpfs");
        for file in files.flatten().map(|e| e.path()) {
            if file == self.filler() {
                continue;
            }
            let output = Command::new(env!("CARGO_BIN_EXE_interdict"))
                .args(["audit", "verify"])
                .arg(&file)
                .output()
                .expect("run interdict audit verify");
            if !output.status.success() {
                violations.push(format!(
                    "the audit file {} does not verify after the disk was full: {}{}",
                    file.display(),
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                ));
            }
        }
        violations
    }
}

impl Drop for AuditDisk {
    fn drop(&mut self) {
        // Lazily: a replica still holding a file must not keep the mount.
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}
