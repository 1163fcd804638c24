//! The durable audit trail. Events expire after an hour; these lines do not:
//! one JSON object per transition on stdout (collected with the pod's logs) and,
//! when configured, appended to a file.
//!
//! Each transition carries an id derived from what it is about, so a record
//! written again (a crash between the audit line and the status write, two
//! passes racing over one deletion) is recognised: the sink writes an id once
//! per process and, with a file, once per file (it reads the ids already
//! there when it opens). On stdout alone a restart may repeat a line; the
//! repeated line carries the same id.

use std::collections::{HashSet, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::Serialize;

/// One audit line. Subjects appear as published (emails hashed), never in clear.
#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    /// Constant `interdict.dev/audit/v1`, so log pipelines can select these lines.
    pub audit: &'static str,
    pub time: DateTime<Utc>,
    pub action: &'static str,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub generation: Option<i64>,
    /// Identifies the transition: the same transition recorded twice has the same id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transition: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub message: String,
}

pub const AUDIT_FORMAT: &str = "interdict.dev/audit/v1";

/// How many transition ids are remembered, and how much of an existing file's
/// end is read for them: far more than one pass can repeat.
const REMEMBERED: usize = 200_000;
const TAIL_BYTES: u64 = 64 * 1024 * 1024;

/// The most recent transition ids, oldest forgotten first.
#[derive(Default)]
struct Recent {
    ids: HashSet<String>,
    order: VecDeque<String>,
}

impl Recent {
    /// False when `id` was already there.
    fn insert(&mut self, id: &str) -> bool {
        if !self.ids.insert(id.to_string()) {
            return false;
        }
        self.order.push_back(id.to_string());
        if self.order.len() > REMEMBERED
            && let Some(oldest) = self.order.pop_front()
        {
            self.ids.remove(&oldest);
        }
        true
    }
}

/// The transition ids of the lines at the end of an existing audit file.
fn ids_in(file: &mut File) -> std::io::Result<Vec<String>> {
    let length = file.metadata()?.len();
    file.seek(SeekFrom::Start(length.saturating_sub(TAIL_BYTES)))?;
    let mut text = Vec::new();
    file.read_to_end(&mut text)?;
    Ok(String::from_utf8_lossy(&text)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|line| line.get("transition")?.as_str().map(str::to_string))
        .collect())
}

pub struct AuditSink {
    file: Option<Mutex<File>>,
    recent: Mutex<Recent>,
}

impl AuditSink {
    pub fn open(path: Option<&Path>) -> std::io::Result<Self> {
        let mut recent = Recent::default();
        let file = match path {
            Some(path) => {
                let mut file = OpenOptions::new()
                    .create(true)
                    .read(true)
                    .append(true)
                    .open(path)?;
                for id in ids_in(&mut file)? {
                    recent.insert(&id);
                }
                Some(Mutex::new(file))
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
        {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
        if let Some(file) = &self.file {
            let mut file = file.lock().expect("audit file lock");
            if let Err(error) = writeln!(file, "{line}").and_then(|_| file.sync_data()) {
                tracing::error!(%error, "cannot append to the audit log file");
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            message: String::new(),
        }
    }

    #[test]
    fn a_transition_is_written_once_even_across_reopening_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let sink = AuditSink::open(Some(&path)).unwrap();
        assert!(sink.record(&line(Some("t1"))));
        assert!(!sink.record(&line(Some("t1"))));
        assert!(sink.record(&line(None)));
        assert!(
            sink.record(&line(None)),
            "lines without an id are never held back"
        );
        drop(sink);
        let again = AuditSink::open(Some(&path)).unwrap();
        assert!(!again.record(&line(Some("t1"))), "known from the file");
        assert!(again.record(&line(Some("t2"))));
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().filter(|l| l.contains("\"t1\"")).count(), 1);
        assert_eq!(text.lines().count(), 4);
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
