//! A real SMTP receiver (aiosmtpd, installed by `hack/python-tools.sh`) for the
//! notification tests.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use super::repo_root;

/// The venv's python, created once per test binary by the project's script.
pub fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let output = Command::new("bash")
            .arg(repo_root().join("hack/python-tools.sh"))
            .output()
            .expect("cannot run bash hack/python-tools.sh");
        assert!(
            output.status.success(),
            "hack/python-tools.sh could not create the Python venv with aiosmtpd (needed by the \
             SMTP tests, which never skip):\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let path = PathBuf::from(String::from_utf8(output.stdout).unwrap().trim());
        assert!(
            path.is_file(),
            "python-tools.sh printed {path:?}, not a file"
        );
        path
    })
}

/// aiosmtpd on 127.0.0.1, writing each message to a directory.
pub struct SmtpSink {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SmtpSink {
    pub fn start() -> SmtpSink {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(python())
            .arg(repo_root().join("tests/fixtures/smtp_sink.py"))
            .arg("--dir")
            .arg(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start tests/fixtures/smtp_sink.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let Some(port) = line
            .trim()
            .strip_prefix("LISTENING ")
            .and_then(|p| p.parse().ok())
        else {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!(
                "smtp_sink.py did not start: {line:?}\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        };
        SmtpSink { child, port, dir }
    }

    /// Message `n` (1-based) as a mail client sees it, and its envelope.
    pub fn message(&self, n: usize) -> (serde_json::Value, serde_json::Value) {
        let eml = self.dir.path().join(format!("{n}.eml"));
        assert!(eml.is_file(), "no message {n} received");
        let output = Command::new(python())
            .arg(repo_root().join("tests/fixtures/smtp_sink.py"))
            .arg("--decode")
            .arg(&eml)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let message = serde_json::from_slice(&output.stdout).unwrap();
        let envelope = serde_json::from_slice(
            &std::fs::read(self.dir.path().join(format!("{n}.json"))).unwrap(),
        )
        .unwrap();
        (message, envelope)
    }

    pub fn count(&self) -> usize {
        std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "eml")
            })
            .count()
    }
}
