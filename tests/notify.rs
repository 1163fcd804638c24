//! Notification delivery against real receivers, no mocks and no Kubernetes:
//! an HTTP server on loopback (hyper) for the webhook, and aiosmtpd (Python,
//! installed by `hack/python-tools.sh` into the cache, `~/.cache/interdict/python-venv`) for email.
//! The SMTP tests fail, never skip, when that venv cannot be created.

mod common;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use common::smtp::SmtpSink;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use interdict::notify::{
    Appeal, BanFacts, BanKind, BanRef, DeliveryError, Email, EmailConfig, Event, Mode,
    Notification, NotifyConfig, SinkKind, Sinks, SubjectRef, TlsMode, Webhook, WebhookConfig,
};
use sha2::Sha256;

const SECRET: &[u8] = b"test-secret-0123456789";

fn facts() -> BanFacts {
    BanFacts {
        ban: BanRef {
            kind: BanKind::UserBan,
            namespace: "apps".into(),
            name: "spammer-123".into(),
            uid: "6b1f0c1e-8d1a-4f0e-9a57-2b5d3c1d9e01".into(),
        },
        subject: SubjectRef::email("alice@example.org"),
        mode: Mode::Suspend,
        features: vec![],
        scopes: vec![],
        reason: "spam".into(),
        message: Some("Your account is suspended for 7 days for spamming.".into()),
        from: Utc.with_ymd_and_hms(2026, 11, 21, 10, 0, 0).unwrap(),
        until: Some(Utc.with_ymd_and_hms(2026, 11, 28, 10, 0, 0).unwrap()),
        revoke_sessions: true,
        revoke_sessions_before: Some(Utc.with_ymd_and_hms(2026, 11, 21, 10, 0, 0).unwrap()),
        appeal: Some(Appeal {
            allowed: true,
            instructions: Some("Reply to appeals@example.org quoting your reference.".into()),
        }),
    }
}

fn notification() -> Notification {
    Notification::new(
        Event::Applied,
        Utc.with_ymd_and_hms(2026, 11, 21, 10, 0, 1).unwrap(),
        "1",
        facts(),
    )
}

// ---------------------------------------------------------------- webhook --

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
struct Received {
    method: String,
    path_and_query: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

/// One scripted answer; the last one repeats.
#[derive(Clone)]
struct Reply {
    status: u16,
    body: String,
    delay: Duration,
}

fn reply(status: u16) -> Reply {
    Reply {
        status,
        body: String::new(),
        delay: Duration::ZERO,
    }
}

/// A real HTTP/1.1 server on 127.0.0.1 that records every request and answers
/// from a script.
struct Receiver {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Receiver {
    async fn start(script: Vec<Reply>) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let script = Arc::new(script);
        let (log, served) = (received.clone(), Arc::new(Mutex::new(0usize)));
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (log, script, served) = (log.clone(), script.clone(), served.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |request: hyper::Request<Incoming>| {
                        let (log, script, served) = (log.clone(), script.clone(), served.clone());
                        async move {
                            let (parts, body) = request.into_parts();
                            let body = body.collect().await.unwrap().to_bytes().to_vec();
                            let headers = parts
                                .headers
                                .iter()
                                .map(|(k, v)| {
                                    (k.as_str().to_string(), v.to_str().unwrap().to_string())
                                })
                                .collect();
                            log.lock().unwrap().push(Received {
                                method: parts.method.to_string(),
                                path_and_query: parts
                                    .uri
                                    .path_and_query()
                                    .map(|p| p.to_string())
                                    .unwrap_or_default(),
                                headers,
                                body,
                            });
                            let answer = {
                                let mut served = served.lock().unwrap();
                                let answer = script[(*served).min(script.len() - 1)].clone();
                                *served += 1;
                                answer
                            };
                            tokio::time::sleep(answer.delay).await;
                            Ok::<_, Infallible>(
                                hyper::Response::builder()
                                    .status(answer.status)
                                    .body(Full::new(Bytes::from(answer.body)))
                                    .unwrap(),
                            )
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Receiver {
            addr,
            received,
            server,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

fn webhook_sinks(url: String, timeout: Duration) -> Sinks {
    Sinks {
        webhook: Some(
            Webhook::new(WebhookConfig {
                url,
                secret: SECRET.to_vec(),
                timeout,
            })
            .unwrap(),
        ),
        email: None,
    }
}

/// Verifies a request the way the docs tell receivers to, with the hmac crate
/// directly (not with interdict's own `sign`).
fn verify_signature(secret: &[u8], request: &Received) {
    let timestamp = &request.headers["interdict-timestamp"];
    let signature = request.headers["interdict-signature"]
        .strip_prefix("sha256=")
        .expect("signature starts with sha256=");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(&request.body);
    let expected = mac.finalize().into_bytes();
    let got: Vec<u8> = (0..signature.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&signature[i..i + 2], 16).unwrap())
        .collect();
    assert_eq!(got, expected.to_vec(), "signature does not verify");
    let sent_at: i64 = timestamp.parse().unwrap();
    assert!(
        (Utc::now().timestamp() - sent_at).abs() < 60,
        "timestamp {sent_at} is not now"
    );
}

#[tokio::test]
async fn webhook_delivers_one_signed_json_post_per_call() {
    let receiver = Receiver::start(vec![reply(204)]).await;
    let sinks = webhook_sinks(
        receiver.url("/hooks/interdict?team=trust"),
        Duration::from_secs(5),
    );
    let n = notification();
    sinks.deliver(SinkKind::Webhook, &n, None).await.unwrap();

    let received = receiver.received();
    assert_eq!(received.len(), 1, "exactly one request per delivery");
    let request = &received[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path_and_query, "/hooks/interdict?team=trust");
    assert_eq!(request.headers["content-type"], "application/json");
    assert_eq!(
        request.headers["interdict-idempotency-key"],
        n.idempotency_key()
    );
    assert_eq!(n.idempotency_key().len(), 32);
    verify_signature(SECRET, request);
    // A wrong secret does not verify.
    let wrong = std::panic::catch_unwind(|| verify_signature(b"other", request));
    assert!(wrong.is_err());

    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body, serde_json::to_value(&n).unwrap());
    assert_eq!(body["event"], "Applied");
    assert_eq!(body["duration"], "7 days");
    assert_eq!(body["until"], "2026-11-28T10:00:00Z");
    assert_eq!(body["ban"]["name"], "spammer-123");
    assert_eq!(body["subject"]["kind"], "email");
    let text = String::from_utf8(request.body.clone()).unwrap();
    assert!(
        !text.contains("alice@example.org"),
        "clear email in the body: {text}"
    );

    // A second delivery of the same notification (a retry after a restart):
    // a second request with the same key, so the receiver can drop it.
    sinks.deliver(SinkKind::Webhook, &n, None).await.unwrap();
    let received = receiver.received();
    assert_eq!(received.len(), 2);
    assert_eq!(
        received[1].headers["interdict-idempotency-key"],
        n.idempotency_key()
    );
    assert_eq!(received[1].body, received[0].body);
    verify_signature(SECRET, &received[1]);
}

#[tokio::test]
async fn webhook_retryable_statuses_are_transient_then_success() {
    let receiver = Receiver::start(vec![reply(503), reply(429), reply(200)]).await;
    let sinks = webhook_sinks(receiver.url("/hook"), Duration::from_secs(5));
    let n = notification();
    let first = sinks
        .deliver(SinkKind::Webhook, &n, None)
        .await
        .unwrap_err();
    assert!(first.transient, "{first}");
    assert!(first.message.contains("503"), "{first}");
    let second = sinks
        .deliver(SinkKind::Webhook, &n, None)
        .await
        .unwrap_err();
    assert!(second.transient, "{second}");
    assert!(second.message.contains("429"), "{second}");
    sinks.deliver(SinkKind::Webhook, &n, None).await.unwrap();
    let received = receiver.received();
    assert_eq!(received.len(), 3);
    for request in &received {
        assert_eq!(
            request.headers["interdict-idempotency-key"],
            n.idempotency_key()
        );
    }
}

#[tokio::test]
async fn webhook_client_errors_are_permanent_and_quote_the_body() {
    let long = format!("invalid payload: {}", "x".repeat(400));
    let receiver = Receiver::start(vec![Reply {
        status: 400,
        body: long.clone(),
        delay: Duration::ZERO,
    }])
    .await;
    let sinks = webhook_sinks(
        receiver.url("/hook/secret-token-in-path"),
        Duration::from_secs(5),
    );
    let error = sinks
        .deliver(SinkKind::Webhook, &notification(), None)
        .await
        .unwrap_err();
    assert!(!error.transient, "{error}");
    assert!(error.message.contains("400 Bad Request"), "{error}");
    assert!(error.message.contains(&long[..200]), "{error}");
    assert!(
        !error.message.contains(&long[..201]),
        "quotes at most 200 bytes: {error}"
    );
    assert!(
        !error.message.contains("secret-token-in-path"),
        "the URL's path is not in errors: {error}"
    );
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn webhook_closed_port_is_transient() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let sinks = webhook_sinks(
        format!("http://127.0.0.1:{port}/hook"),
        Duration::from_secs(5),
    );
    let error = sinks
        .deliver(SinkKind::Webhook, &notification(), None)
        .await
        .unwrap_err();
    assert!(error.transient, "{error}");
    assert!(
        error.message.to_lowercase().contains("refused"),
        "says why: {error}"
    );
}

#[tokio::test]
async fn webhook_slow_receiver_times_out_transiently() {
    let receiver = Receiver::start(vec![Reply {
        status: 200,
        body: String::new(),
        delay: Duration::from_secs(3),
    }])
    .await;
    let sinks = webhook_sinks(receiver.url("/hook"), Duration::from_millis(300));
    let started = Instant::now();
    let error = sinks
        .deliver(SinkKind::Webhook, &notification(), None)
        .await
        .unwrap_err();
    assert!(error.transient, "{error}");
    assert!(error.message.contains("timed out"), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "gave up after {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn webhook_https_to_a_plain_http_server_fails_transiently() {
    let receiver = Receiver::start(vec![reply(200)]).await;
    let sinks = webhook_sinks(
        format!("https://{}/hook", receiver.addr),
        Duration::from_secs(5),
    );
    let error = sinks
        .deliver(SinkKind::Webhook, &notification(), None)
        .await
        .unwrap_err();
    assert!(error.transient, "{error}");
    assert!(receiver.received().is_empty());
}

#[tokio::test]
async fn webhook_from_a_config_file_with_a_secret_file() {
    let receiver = Receiver::start(vec![reply(200)]).await;
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("webhook-secret");
    // As `kubectl create secret --from-file` of a file written by `echo`.
    std::fs::write(&secret, "from-a-file\n").unwrap();
    let config_path = dir.path().join("notify.yaml");
    std::fs::write(
        &config_path,
        format!(
            "webhook:\n  url: {}\n  secretFile: {}\n  timeoutSeconds: 2\n",
            receiver.url("/hook"),
            secret.display()
        ),
    )
    .unwrap();
    let config = NotifyConfig::from_file(&config_path).unwrap();
    let sinks = Sinks::from_config(&config).unwrap();
    assert_eq!(sinks.configured(), [SinkKind::Webhook]);
    sinks
        .deliver(SinkKind::Webhook, &notification(), None)
        .await
        .unwrap();
    verify_signature(b"from-a-file", &receiver.received()[0]);
}

// ------------------------------------------------------------------- smtp --

fn email_of(sink: &SmtpSink) -> Email {
    Email::new(EmailConfig {
        host: "127.0.0.1".into(),
        port: sink.port,
        tls: TlsMode::None,
        username: None,
        password: None,
        from: "Moderation <moderation@example.com>".into(),
        hello_name: Some("operator.example.com".into()),
        timeout: Duration::from_secs(10),
    })
    .unwrap()
}

fn email_sinks(sink: &SmtpSink) -> Sinks {
    Sinks {
        webhook: None,
        email: Some(email_of(sink)),
    }
}

#[tokio::test]
async fn email_arrives_with_subject_duration_and_appeal_instructions() {
    let smtp = SmtpSink::start();
    let sinks = email_sinks(&smtp);
    let n = notification();
    sinks
        .deliver(SinkKind::Email, &n, Some("Alice@Example.org"))
        .await
        .unwrap();
    assert_eq!(smtp.count(), 1);
    let (message, envelope) = smtp.message(1);
    assert_eq!(
        envelope["rcptTos"],
        serde_json::json!(["Alice@Example.org"])
    );
    assert_eq!(envelope["mailFrom"], "moderation@example.com");
    let headers = &message["headers"];
    assert_eq!(
        headers["Subject"],
        "Your account has been suspended for 7 days"
    );
    assert_eq!(headers["To"], "Alice@Example.org");
    assert_eq!(headers["From"], "Moderation <moderation@example.com>");
    assert_eq!(
        headers["Message-ID"],
        format!("<{}@example.com>", n.idempotency_key())
    );
    assert_eq!(headers["Interdict-Idempotency-Key"], n.idempotency_key());
    let body = message["body"].as_str().unwrap();
    for expected in [
        "Your account has been suspended.",
        "Reason: spam",
        "Your account is suspended for 7 days for spamming.",
        "Duration: 7 days, until 2026-11-28 10:00 UTC.",
        "Your sessions have been revoked",
        "How to appeal:\nReply to appeals@example.org quoting your reference.",
        n.idempotency_key(),
    ] {
        assert!(body.contains(expected), "missing {expected:?} in:\n{body}");
    }

    // A retry sends the same Message-ID: mail systems and people can tell.
    sinks
        .deliver(SinkKind::Email, &n, Some("Alice@Example.org"))
        .await
        .unwrap();
    assert_eq!(smtp.count(), 2);
    assert_eq!(
        smtp.message(2).0["headers"]["Message-ID"],
        headers["Message-ID"]
    );
}

#[tokio::test]
async fn email_rejections_are_classified_and_never_name_the_recipient() {
    let smtp = SmtpSink::start();
    let sinks = email_sinks(&smtp);
    let n = notification();

    let check = |error: DeliveryError, to: &str| {
        assert!(
            !error.message.to_lowercase().contains(&to.to_lowercase()),
            "address in the error: {error}"
        );
        assert!(error.message.contains("<recipient>"), "{error}");
        error
    };
    let to = "reject-permanent@example.org";
    let error = check(
        sinks
            .deliver(SinkKind::Email, &n, Some(to))
            .await
            .unwrap_err(),
        to,
    );
    assert!(!error.transient, "550 is permanent: {error}");
    assert!(error.message.contains("550"), "{error}");

    let to = "Reject-Transient@Example.org";
    let error = check(
        sinks
            .deliver(SinkKind::Email, &n, Some(to))
            .await
            .unwrap_err(),
        to,
    );
    assert!(error.transient, "451 is transient: {error}");
    assert!(error.message.contains("451"), "{error}");

    let error = sinks
        .deliver(SinkKind::Email, &n, Some("not an address"))
        .await
        .unwrap_err();
    assert!(!error.transient, "{error}");
    assert!(!error.message.contains("not an address"), "{error}");
    assert_eq!(smtp.count(), 0);
}

#[tokio::test]
async fn email_connection_problems_are_transient() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let closed = Email::new(EmailConfig {
        host: "127.0.0.1".into(),
        port,
        tls: TlsMode::None,
        username: None,
        password: None,
        from: "moderation@example.com".into(),
        hello_name: None,
        timeout: Duration::from_secs(5),
    })
    .unwrap();
    let error = closed
        .send(&notification(), "alice@example.org")
        .await
        .unwrap_err();
    assert!(error.transient, "{error}");

    // Implicit TLS against a plain-text server: the handshake fails.
    let smtp = SmtpSink::start();
    let tls = Email::new(EmailConfig {
        host: "127.0.0.1".into(),
        port: smtp.port,
        tls: TlsMode::Tls,
        username: None,
        password: None,
        from: "moderation@example.com".into(),
        hello_name: None,
        timeout: Duration::from_secs(5),
    })
    .unwrap();
    let error = tls
        .send(&notification(), "alice@example.org")
        .await
        .unwrap_err();
    assert!(error.transient, "{error}");
    assert!(!error.message.contains("alice@example.org"), "{error}");
    assert_eq!(smtp.count(), 0);
}

#[tokio::test]
async fn email_from_a_config_file() {
    let smtp = SmtpSink::start();
    let config = NotifyConfig::parse(&format!(
        "email:\n  host: 127.0.0.1\n  port: {}\n  tls: none\n  from: moderation@example.com\n",
        smtp.port
    ))
    .unwrap();
    let sinks = Sinks::from_config(&config).unwrap();
    assert_eq!(sinks.configured(), [SinkKind::Email]);
    let expired = Notification::new(
        Event::Expired,
        Utc.with_ymd_and_hms(2026, 11, 28, 10, 0, 0).unwrap(),
        "1",
        facts(),
    );
    sinks
        .deliver(SinkKind::Email, &expired, Some("alice@example.org"))
        .await
        .unwrap();
    let (message, _) = smtp.message(1);
    assert_eq!(
        message["headers"]["Subject"],
        "The suspension of your account has ended"
    );
    assert!(!message["body"].as_str().unwrap().contains("How to appeal"));
}
