//! The webhook sink: one signed `POST` of the notification's JSON per attempt.
//!
//! Headers: `Content-Type: application/json`, `Interdict-Idempotency-Key`,
//! `Interdict-Timestamp` (unix seconds of this attempt) and
//! `Interdict-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
//! The secret itself never goes over the wire, so plain `http://` URLs are
//! possible (for receivers on the same node or behind a mesh), but `https://`
//! also keeps the content private.

use std::time::Duration;

use chrono::Utc;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper::Uri;
use hyper::body::{Bytes, Incoming};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use sha2::Sha256;

use super::payload::{Notification, hex};
use super::{ConfigError, DeliveryError};

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
pub const HEADER_IDEMPOTENCY_KEY: &str = "interdict-idempotency-key";
pub const HEADER_TIMESTAMP: &str = "interdict-timestamp";
pub const HEADER_SIGNATURE: &str = "interdict-signature";
/// How much of an error response's body is quoted in the error.
const QUOTED_BODY: usize = 200;

/// A webhook as the caller resolved it (the secret already read from its file
/// or environment variable).
#[derive(Clone)]
pub struct WebhookConfig {
    pub url: String,
    pub secret: Vec<u8>,
    /// The whole attempt: connecting, TLS, sending and reading the status.
    pub timeout: Duration,
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &redacted_target(&self.url))
            .field("secret", &"<redacted>")
            .field("timeout", &self.timeout)
            .finish()
    }
}

type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

pub struct Webhook {
    uri: Uri,
    /// `scheme://host[:port]`: URLs often carry tokens in their path or query,
    /// so errors and logs name only this.
    target: String,
    secret: Vec<u8>,
    timeout: Duration,
    client: HttpClient,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("target", &self.target)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The `Interdict-Signature` header value: `sha256=` and the hex
/// HMAC-SHA256 of `"<timestamp>.<body>"` under `secret`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex(&mac.finalize().into_bytes()))
}

/// `scheme://host[:port]` of a URL, without user info, path or query.
fn redacted_target(url: &str) -> String {
    match url.parse::<Uri>() {
        Ok(uri) => format!(
            "{}://{}",
            uri.scheme_str().unwrap_or("?"),
            uri.authority()
                .map(|a| a.as_str().rsplit('@').next().unwrap_or_default())
                .unwrap_or("?")
        ),
        Err(_) => "<invalid url>".to_string(),
    }
}

fn ring_provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    std::sync::Arc::new(rustls::crypto::ring::default_provider())
}

impl Webhook {
    /// Checks the URL and prepares the client; `https://` URLs load the
    /// system's CA certificates here, so a missing bundle fails at start-up.
    pub fn new(config: WebhookConfig) -> Result<Webhook, ConfigError> {
        let field = |message: String| ConfigError::new("webhook.url", message);
        let uri: Uri = config
            .url
            .parse()
            .map_err(|e| field(format!("not a URL: {e}")))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(field("must start with http:// or https://".to_string())),
        };
        if uri.host().is_none_or(str::is_empty) {
            return Err(field("has no host".to_string()));
        }
        if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
            return Err(field(
                "must not carry credentials (user:password@); the signature authenticates the sender".to_string(),
            ));
        }
        if config.secret.is_empty() {
            return Err(ConfigError::new("webhook.secret", "is empty"));
        }
        if config.timeout.is_zero() {
            return Err(ConfigError::new(
                "webhook.timeoutSeconds",
                "must be positive",
            ));
        }
        let builder = hyper_rustls::HttpsConnectorBuilder::new();
        let builder = if https {
            builder
                .with_provider_and_native_roots(ring_provider())
                .map_err(|e| {
                    field(format!(
                        "cannot load the system's CA certificates for https: {e}"
                    ))
                })?
        } else {
            // Never used for http://, but the connector type is shared.
            let tls = rustls::ClientConfig::builder_with_provider(ring_provider())
                .with_safe_default_protocol_versions()
                .map_err(|e| field(format!("cannot configure TLS: {e}")))?
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
            builder.with_tls_config(tls)
        };
        let connector = builder.https_or_http().enable_http1().build();
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(2)
            .build(connector);
        Ok(Webhook {
            target: redacted_target(&config.url),
            uri,
            secret: config.secret,
            timeout: config.timeout,
            client,
        })
    }

    /// `scheme://host[:port]` of the URL, for logs.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// One attempt, signed with the current time.
    pub async fn send(&self, notification: &Notification) -> Result<(), DeliveryError> {
        self.send_at(notification, Utc::now().timestamp()).await
    }

    /// One attempt, signed with `timestamp` (unix seconds).
    pub async fn send_at(
        &self,
        notification: &Notification,
        timestamp: i64,
    ) -> Result<(), DeliveryError> {
        let body = notification.to_json();
        let signature = sign(&self.secret, timestamp, &body);
        let request = hyper::Request::post(self.uri.clone())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(
                hyper::header::USER_AGENT,
                concat!("interdict/", env!("CARGO_PKG_VERSION")),
            )
            .header(HEADER_IDEMPOTENCY_KEY, notification.idempotency_key())
            .header(HEADER_TIMESTAMP, timestamp.to_string())
            .header(HEADER_SIGNATURE, signature)
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| {
                DeliveryError::permanent(format!("webhook {}: bad request: {e}", self.target))
            })?;
        let attempt = async {
            let response = self.client.request(request).await.map_err(|e| {
                DeliveryError::transient(format!("webhook {}: {}", self.target, error_chain(&e)))
            })?;
            let status = response.status();
            let quoted = if status.is_success() {
                String::new()
            } else {
                quote_body(response.into_body()).await
            };
            Ok::<_, DeliveryError>((status, quoted))
        };
        let (status, quoted) =
            tokio::time::timeout(self.timeout, attempt)
                .await
                .map_err(|_| {
                    DeliveryError::transient(format!(
                        "webhook {}: timed out after {:?}",
                        self.target, self.timeout
                    ))
                })??;
        classify(&self.target, status, &quoted)
    }
}

/// 2xx delivered; 408, 429 and 5xx worth retrying; anything else (other 4xx,
/// and 1xx/3xx: redirects are not followed) will not get better by retrying.
fn classify(target: &str, status: hyper::StatusCode, quoted: &str) -> Result<(), DeliveryError> {
    if status.is_success() {
        return Ok(());
    }
    let mut message = format!("webhook {target}: HTTP {status}");
    if status.is_redirection() {
        message.push_str(" (redirects are not followed; configure the final URL)");
    }
    if !quoted.is_empty() {
        message.push_str(": ");
        message.push_str(quoted);
    }
    let transient = status.is_server_error()
        || status == hyper::StatusCode::REQUEST_TIMEOUT
        || status == hyper::StatusCode::TOO_MANY_REQUESTS;
    Err(DeliveryError { transient, message })
}

/// The first bytes of an error response, as text on one line.
async fn quote_body(mut body: Incoming) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < QUOTED_BODY {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    bytes.extend_from_slice(data);
                }
            }
            _ => break,
        }
    }
    bytes.truncate(QUOTED_BODY);
    String::from_utf8_lossy(&bytes)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

/// An error and its sources: hyper's own messages ("client error (Connect)")
/// say little without them.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_known_answer() {
        // Same value as:
        //   printf '%s' '1763719200.{"hello":"world"}' \
        //     | openssl dgst -sha256 -hmac 's3cr3t-shared-with-the-receiver'
        assert_eq!(
            sign(
                b"s3cr3t-shared-with-the-receiver",
                1_763_719_200,
                br#"{"hello":"world"}"#
            ),
            "sha256=a9060e252247f1d0e6d615bb01076c9a71cb440a84ce63e1e3cde44be7c4c2c1"
        );
    }

    #[test]
    fn hmac_matches_rfc_4231_test_case_2() {
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex(&mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn signature_depends_on_every_input() {
        let base = sign(b"k", 1, b"body");
        assert_ne!(base, sign(b"k2", 1, b"body"));
        assert_ne!(base, sign(b"k", 2, b"body"));
        assert_ne!(base, sign(b"k", 1, b"body2"));
    }

    #[test]
    fn statuses_are_classified() {
        use hyper::StatusCode;
        assert!(classify("t", StatusCode::OK, "").is_ok());
        assert!(classify("t", StatusCode::NO_CONTENT, "").is_ok());
        assert!(classify("t", StatusCode::ACCEPTED, "").is_ok());
        for transient in [408, 429, 500, 502, 503, 504] {
            let error = classify("t", StatusCode::from_u16(transient).unwrap(), "x").unwrap_err();
            assert!(error.transient, "{transient}");
        }
        for permanent in [301, 400, 401, 403, 404, 410, 422] {
            let error = classify("t", StatusCode::from_u16(permanent).unwrap(), "x").unwrap_err();
            assert!(!error.transient, "{permanent}");
        }
        let error = classify("https://h", StatusCode::BAD_REQUEST, "missing field").unwrap_err();
        assert_eq!(
            error.message,
            "webhook https://h: HTTP 400 Bad Request: missing field"
        );
    }

    #[test]
    fn targets_hide_paths_queries_and_credentials() {
        assert_eq!(
            redacted_target("https://hooks.example.com/T000/B000/XXXX?token=abc"),
            "https://hooks.example.com"
        );
        assert_eq!(
            redacted_target("http://127.0.0.1:8080/hook"),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            redacted_target("https://user:pw@example.com/x"),
            "https://example.com"
        );
        let config = WebhookConfig {
            url: "https://example.com/secret-path".into(),
            secret: b"top-secret".to_vec(),
            timeout: DEFAULT_TIMEOUT,
        };
        let debug = format!("{config:?}");
        assert!(!debug.contains("top-secret") && !debug.contains("secret-path"));
    }

    #[test]
    fn bad_configs_are_refused_naming_the_field() {
        let config = |url: &str| WebhookConfig {
            url: url.into(),
            secret: b"s".to_vec(),
            timeout: DEFAULT_TIMEOUT,
        };
        for url in [
            "ftp://example.com/",
            "example.com/hook",
            "http://",
            "https://u:p@example.com/",
        ] {
            let error = Webhook::new(config(url)).unwrap_err();
            assert_eq!(error.field, "webhook.url", "{url}: {error}");
        }
        let mut empty = config("http://127.0.0.1/");
        empty.secret.clear();
        assert_eq!(Webhook::new(empty).unwrap_err().field, "webhook.secret");
        let mut zero = config("http://127.0.0.1/");
        zero.timeout = Duration::ZERO;
        assert_eq!(
            Webhook::new(zero).unwrap_err().field,
            "webhook.timeoutSeconds"
        );
        assert!(Webhook::new(config("http://127.0.0.1:9/hook")).is_ok());
    }
}
