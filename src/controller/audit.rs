//! The durable audit trail. Events expire after an hour; these lines do not:
//! one JSON object per transition on stdout (collected with the pod's logs) and,
//! when configured, appended to a chained, rotated file (`crate::audit::file`).
//! With a file, stdout carries exactly the lines the file does, `prev` and
//! `hash` included, so the copy a log pipeline keeps can be compared with it.
//!
//! Each transition carries an id derived from what it is about, so a record
//! written again (a crash between the audit line and the status write, two
//! passes racing over one deletion) is recognised: the sink writes an id once
//! per process and, with a file, once per file (it reads the ids already
//! there when it opens). On stdout alone a restart may repeat a line; the
//! repeated line carries the same id.

use std::collections::{HashSet, VecDeque};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use chrono::Utc;
use sha2::{Digest, Sha256};

pub use crate::audit::{AUDIT_FORMAT, AuditRecord};
use crate::audit::{AuditFile, Rotation};

/// How many transition ids are remembered: far more than one pass can repeat.
const REMEMBERED: usize = 200_000;

/// The most recent transition ids, oldest forgotten first. Kept as 128-bit
/// digests, not strings: every ban has at least one transition, and at 100k
/// bans the strings (twice each) came to ~15 MiB. A collision would drop a
/// record, so the digest is cryptographic and long enough never to meet one.
#[derive(Default)]
struct Recent {
    ids: HashSet<u128>,
    order: VecDeque<u128>,
}

impl Recent {
    /// False when `id` was already there.
    fn insert(&mut self, id: &str) -> bool {
        let id = digest(id);
        if !self.ids.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > REMEMBERED
            && let Some(oldest) = self.order.pop_front()
        {
            self.ids.remove(&oldest);
        }
        true
    }
}

fn digest(id: &str) -> u128 {
    let hash = Sha256::digest(id.as_bytes());
    let mut first = [0u8; 16];
    first.copy_from_slice(&hash[..16]);
    u128::from_le_bytes(first)
}

fn to_stdout(lines: &[String]) {
    let mut out = std::io::stdout().lock();
    for line in lines {
        let _ = writeln!(out, "{line}");
    }
    let _ = out.flush();
}

pub struct AuditSink {
    file: Option<Mutex<AuditFile>>,
    recent: Mutex<Recent>,
}

impl AuditSink {
    /// Opens the sink; with `path`, the file is opened (created if missing)
    /// and its chain checked and continued, or restarted if its end is damaged.
    pub fn open(path: Option<&Path>, rotation: Rotation) -> std::io::Result<Self> {
        let mut recent = Recent::default();
        let file = match path {
            Some(path) => {
                let opened = AuditFile::open(path, rotation, Utc::now())?;
                for id in &opened.transitions {
                    recent.insert(id);
                }
                to_stdout(&opened.written);
                Some(Mutex::new(opened.file))
            }
            None => None,
        };
        Ok(AuditSink {
            file,
            recent: Mutex::new(recent),
        })
    }

    /// Writes the line unless its transition was already recorded; says whether it wrote.
    pub fn record(&self, record: &AuditRecord) -> bool {
        if let Some(id) = &record.transition
            && !self.recent.lock().expect("audit ids lock").insert(id)
        {
            return false;
        }
        let line = serde_json::to_string(record).expect("audit records serialise");
        let Some(file) = &self.file else {
            to_stdout(&[line]);
            return true;
        };
        // Held while writing stdout too, so both carry the lines in one order.
        let mut file = file.lock().expect("audit file lock");
        let mut written = Vec::new();
        if let Err(error) = file.append(&line, Utc::now(), &mut written) {
            tracing::error!(%error, "cannot append to the audit log file");
            // Not in the file: stdout still has it, outside the chain.
            written.push(line);
        }
        to_stdout(&written);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::verify::verify_all;

    fn line(id: Option<&str>) -> AuditRecord {
        AuditRecord {
            audit: AUDIT_FORMAT,
            time: Utc::now(),
            action: "Applied",
            kind: "UserBan".into(),
            namespace: "apps".into(),
            name: "b".into(),
            uid: "u".into(),
            generation: Some(1),
            transition: id.map(str::to_string),
            subject: None,
            phase: None,
            from: None,
            until: None,
            reason: None,
            actor: None,
            message: String::new(),
        }
    }

    #[test]
    fn a_transition_is_written_once_even_across_reopening_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let sink = AuditSink::open(Some(&path), Rotation::default()).unwrap();
        assert!(sink.record(&line(Some("t1"))));
        assert!(!sink.record(&line(Some("t1"))));
        assert!(sink.record(&line(None)));
        assert!(
            sink.record(&line(None)),
            "lines without an id are never held back"
        );
        drop(sink);
        let again = AuditSink::open(Some(&path), Rotation::default()).unwrap();
        assert!(!again.record(&line(Some("t1"))), "known from the file");
        assert!(again.record(&line(Some("t2"))));
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().filter(|l| l.contains("\"t1\"")).count(), 1);
        assert_eq!(text.lines().count(), 4);
        assert!(verify_all([("audit.jsonl", text.as_bytes())], false).ok);
    }

    #[test]
    fn a_transition_is_written_once_across_a_rotation_and_a_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        // Every line rotates the file before it.
        let rotation = Rotation {
            max_bytes: 1,
            keep: 3,
        };
        let sink = AuditSink::open(Some(&path), rotation).unwrap();
        assert!(sink.record(&line(Some("t1"))));
        assert!(sink.record(&line(Some("t2"))));
        drop(sink);
        let again = AuditSink::open(Some(&path), rotation).unwrap();
        assert!(!again.record(&line(Some("t2"))), "known from the file");
        assert!(
            !again.record(&line(Some("t1"))),
            "known from the rotated file"
        );
    }

    #[test]
    fn the_oldest_ids_are_forgotten_first() {
        let mut recent = Recent::default();
        for i in 0..=REMEMBERED {
            assert!(recent.insert(&i.to_string()));
        }
        assert!(recent.insert("0"), "the oldest was forgotten");
        assert!(!recent.insert(&REMEMBERED.to_string()));
    }
}
