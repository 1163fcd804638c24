//! The durable audit trail. Events expire after an hour; these lines do not:
//! one JSON object per transition on stdout (collected with the pod's logs) and,
//! when configured, appended to a file.

use std::fs::{File, OpenOptions};
use std::io::Write;
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

pub struct AuditSink {
    file: Option<Mutex<File>>,
}

impl AuditSink {
    pub fn open(path: Option<&Path>) -> std::io::Result<Self> {
        let file = match path {
            Some(path) => Some(Mutex::new(
                OpenOptions::new().create(true).append(true).open(path)?,
            )),
            None => None,
        };
        Ok(AuditSink { file })
    }

    pub fn record(&self, record: &AuditRecord) {
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
    }
}
