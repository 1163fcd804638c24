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

/// The header that carries a notification's idempotency key in an email.
pub const IDEMPOTENCY_HEADER: &str = "Interdict-Idempotency-Key";

/// aiosmtpd on 127.0.0.1, writing each message to a directory.
pub struct SmtpSink {
    child: Child,
    pub port: u16,
    dir: PathBuf,
    /// The directory when the sink made it (else the caller's, which
    /// outlives restarts of the sink).
    _owned: Option<tempfile::TempDir>,
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
        let mut sink = SmtpSink::start_in(dir.path(), 0, None);
        sink._owned = Some(dir);
        sink
    }

    /// A sink writing into `dir` (adding to what is there) on `port` (0: any
    /// free one), misbehaving as `mode_file` says (see the fixture).
    pub fn start_in(dir: &Path, port: u16, mode_file: Option<&Path>) -> SmtpSink {
        let mut command = Command::new(python());
        command
            .arg(repo_root().join("tests/fixtures/smtp_sink.py"))
            .arg("--dir")
            .arg(dir)
            .args(["--port", &port.to_string()]);
        if let Some(mode_file) = mode_file {
            command.arg("--mode-file").arg(mode_file);
        }
        let mut child = command
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
        SmtpSink {
            child,
            port,
            dir: dir.to_path_buf(),
            _owned: None,
        }
    }

    /// Stops the server (its messages stay in its directory).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The idempotency key of every message received (retries carry the
    /// same one).
    pub fn keys(&self) -> Vec<String> {
        std::fs::read_dir(&self.dir)
            .unwrap()
            .filter_map(|e| {
                let path = e.ok()?.path();
                (path.extension()? == "eml").then_some(path)
            })
            .filter_map(|path| {
                let text = std::fs::read_to_string(path).ok()?;
                text.lines().find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case(IDEMPOTENCY_HEADER)
                        .then(|| value.trim().to_string())
                })
            })
            .collect()
    }

    /// Message `n` (1-based) as a mail client sees it, and its envelope.
    pub fn message(&self, n: usize) -> (serde_json::Value, serde_json::Value) {
        let eml = self.dir.join(format!("{n}.eml"));
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
        let envelope =
            serde_json::from_slice(&std::fs::read(self.dir.join(format!("{n}.json"))).unwrap())
                .unwrap();
        (message, envelope)
    }

    pub fn count(&self) -> usize {
        std::fs::read_dir(&self.dir)
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
