//! Reporting offenses for BanPolicies from a Rust application, through the
//! sidecar on loopback (`interdict serve --operator-url ...`): the sidecar
//! adds the pod's namespace and ServiceAccount token, so the application
//! needs no Kubernetes client. Plain std networking, like the rest of the
//! reader.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

/// One offense: its type (a lowercase token such as `failed-login`) and
/// every identifier of the subject the application knows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Offense {
    pub kind: String,
    pub user_id: Option<String>,
    pub username: Option<String>,
    pub email: Option<String>,
    pub ip: Option<String>,
    pub key_fingerprint: Option<String>,
    /// `(kind, name)` context pairs.
    pub scopes: Vec<(String, String)>,
    /// When it happened; `None`: when the operator receives it.
    pub at: Option<DateTime<Utc>>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReportError {
    #[error("an offense needs at least one of user_id, username, email, ip, key_fingerprint")]
    NoSubject,
    #[error("nothing to report")]
    Empty,
    #[error("cannot reach the sidecar at {0}")]
    Unreachable(String),
    /// The sidecar or the operator refused it: HTTP status and message.
    #[error("{0}: {1}")]
    Refused(u16, String),
}

impl Offense {
    fn to_json(&self) -> Result<Value, ReportError> {
        let mut subject = serde_json::Map::new();
        for (key, value) in [
            ("userId", &self.user_id),
            ("username", &self.username),
            ("email", &self.email),
            ("ip", &self.ip),
            ("keyFingerprint", &self.key_fingerprint),
        ] {
            if let Some(value) = value {
                subject.insert(key.into(), Value::String(value.clone()));
            }
        }
        if subject.is_empty() {
            return Err(ReportError::NoSubject);
        }
        let mut body = json!({ "type": self.kind, "subject": subject });
        if !self.scopes.is_empty() {
            body["scopes"] = self
                .scopes
                .iter()
                .map(|(kind, name)| json!({ "kind": kind, "name": name }))
                .collect();
        }
        if let Some(at) = self.at {
            body["at"] = Value::String(at.to_rfc3339_opts(SecondsFormat::Secs, true));
        }
        Ok(body)
    }
}

/// Posts `offenses` to the sidecar at `sidecar` (e.g. `127.0.0.1:8080`);
/// returns the operator's answer (`accepted`, `counted`, `bans`).
pub fn report_offenses(
    sidecar: SocketAddr,
    offenses: &[Offense],
    timeout: Duration,
) -> Result<Value, ReportError> {
    if offenses.is_empty() {
        return Err(ReportError::Empty);
    }
    let batch = offenses
        .iter()
        .map(Offense::to_json)
        .collect::<Result<Vec<_>, _>>()?;
    let body = json!({ "offenses": batch }).to_string();
    let unreachable = |e: std::io::Error| ReportError::Unreachable(format!("{sidecar}: {e}"));
    let mut stream = TcpStream::connect_timeout(&sidecar, timeout).map_err(unreachable)?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(unreachable)?;
    stream
        .set_write_timeout(Some(timeout))
        .map_err(unreachable)?;
    write!(
        stream,
        "POST /v1/offenses HTTP/1.1\r\nHost: {sidecar}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .map_err(unreachable)?;
    let mut response = String::new();
    stream.read_to_string(&mut response).map_err(unreachable)?;
    let status: u16 = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ReportError::Unreachable(format!("{sidecar}: not an HTTP answer")))?;
    let text = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let answer: Value = serde_json::from_str(text).unwrap_or(Value::String(text.to_string()));
    if status == 200 {
        Ok(answer)
    } else {
        let message = answer["error"]
            .as_str()
            .map_or_else(|| text.to_string(), str::to_string);
        Err(ReportError::Refused(status, message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A one-shot HTTP server that answers `status` with `body` and hands
    /// back the request it received.
    fn sidecar(status: u16, body: &'static str) -> (SocketAddr, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let handle = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut buffer = [0u8; 4096];
            loop {
                let n = stream.read(&mut buffer).unwrap();
                request.extend_from_slice(&buffer[..n]);
                let text = String::from_utf8_lossy(&request);
                if let Some((head, rest)) = text.split_once("\r\n\r\n") {
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("Content-Length: "))
                        .unwrap()
                        .parse()
                        .unwrap();
                    if rest.len() >= length {
                        break;
                    }
                }
            }
            write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
            String::from_utf8(request).unwrap()
        });
        (address, handle)
    }

    #[test]
    fn offenses_are_posted_as_the_sidecar_takes_them() {
        let (address, handle) = sidecar(200, r#"{"accepted":1,"counted":2,"bans":[]}"#);
        let offense = Offense {
            kind: "failed-login".into(),
            username: Some("mallory".into()),
            ip: Some("203.0.113.7".into()),
            ..Offense::default()
        };
        let answer = report_offenses(address, &[offense], Duration::from_secs(5)).unwrap();
        assert_eq!(answer["counted"], 2);
        let request = handle.join().unwrap();
        assert!(
            request.starts_with("POST /v1/offenses HTTP/1.1"),
            "{request}"
        );
        let body: Value = serde_json::from_str(request.split_once("\r\n\r\n").unwrap().1).unwrap();
        assert_eq!(
            body,
            json!({ "offenses": [{ "type": "failed-login",
                "subject": { "username": "mallory", "ip": "203.0.113.7" } }] })
        );
    }

    #[test]
    fn a_refusal_carries_the_status_and_message() {
        let (address, _handle) = sidecar(403, r#"{"error":"may not report"}"#);
        let offense = Offense {
            kind: "x".into(),
            user_id: Some("1".into()),
            ..Offense::default()
        };
        assert_eq!(
            report_offenses(address, &[offense], Duration::from_secs(5)),
            Err(ReportError::Refused(403, "may not report".into()))
        );
    }

    #[test]
    fn an_offense_without_a_subject_is_refused_before_any_request() {
        let offense = Offense {
            kind: "x".into(),
            ..Offense::default()
        };
        let nowhere: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert_eq!(
            report_offenses(nowhere, &[offense], Duration::from_secs(1)),
            Err(ReportError::NoSubject)
        );
    }
}
