//! A real webhook receiver (`tests/fixtures/webhook_receiver.py`) for the
//! notification tests and the fault suite: it records every request, checks
//! nothing itself, and can be stopped, failed or slowed on demand.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use super::repo_root;

/// The secret the tests' notification configs sign webhooks with.
pub const SECRET: &str = "webhook-secret-for-tests";

/// How the receiver answers a delivery.
#[derive(Clone, Copy, Debug)]
pub enum Mode {
    /// 200 at once.
    Answer,
    /// 503, and the request is not recorded: not delivered.
    Fail,
    /// 200 after 1.5 s, inside the tests' 2 s webhook timeout.
    Slow,
}

/// The file whose content tells the receiver how to answer (`set_mode`).
pub fn mode_file(out: &Path) -> PathBuf {
    out.with_extension("mode")
}

/// The webhook receiver process; it can be stopped and started on the same
/// port, and told to fail or to answer slowly (`set_mode`).
pub struct Receiver {
    child: Option<Child>,
    pub port: u16,
    out: PathBuf,
}

impl Receiver {
    pub fn start(out: &Path, port: u16) -> Receiver {
        let mut child = Command::new("python3")
            .arg(repo_root().join("tests/fixtures/webhook_receiver.py"))
            .args(["--out", out.to_str().unwrap(), "--port", &port.to_string()])
            .arg("--mode-file")
            .arg(mode_file(out))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("LISTENING ")
            .expect("receiver started")
            .parse()
            .unwrap();
        Receiver {
            child: Some(child),
            port,
            out: out.to_path_buf(),
        }
    }

    /// How the receiver answers from now on.
    pub fn set_mode(&self, mode: Mode) {
        let text = match mode {
            Mode::Answer => "ok",
            Mode::Fail => "fail",
            Mode::Slow => "slow",
        };
        std::fs::write(mode_file(&self.out), text).expect("write the receiver's mode file");
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn received(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The JSON body of every request received.
    pub fn payloads(&self) -> Vec<Value> {
        self.received()
            .iter()
            .filter_map(|request| serde_json::from_str(request["body"].as_str()?).ok())
            .collect()
    }

    /// (event, ban name) of every delivery, after checking each signature.
    pub fn deliveries(&self) -> Vec<(String, String, String)> {
        self.received()
            .iter()
            .map(|request| {
                let headers = &request["headers"];
                let body = request["body"].as_str().unwrap();
                let timestamp = headers["interdict-timestamp"].as_str().unwrap();
                let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
                mac.update(format!("{timestamp}.{body}").as_bytes());
                let expected = format!("sha256={}", hex(&mac.finalize().into_bytes()));
                assert_eq!(
                    headers["interdict-signature"].as_str(),
                    Some(expected.as_str()),
                    "valid signature"
                );
                let payload: Value = serde_json::from_str(body).unwrap();
                assert_eq!(
                    headers["interdict-idempotency-key"],
                    payload["idempotencyKey"]
                );
                (
                    payload["event"].as_str().unwrap().to_string(),
                    payload["ban"]["name"].as_str().unwrap().to_string(),
                    payload["idempotencyKey"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
