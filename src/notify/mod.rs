//! Notifications about ban transitions, delivered at least once to the
//! configured sinks: a signed webhook and/or an email to the subject.
//!
//! This module is the payload and the delivery clients; the controller decides
//! what to send and keeps the delivery state (attempts, next try) in the ban's
//! status. Every attempt of one notification carries the same idempotency key
//! ([`idempotency_key`]), so receivers drop duplicates by key.
//!
//! ```text
//! let config = NotifyConfig::from_file(path)?;    // --notify-config FILE
//! let sinks = Sinks::from_config(&config)?;       // reads the secrets
//! let n = Notification::new(Event::Applied, at, &generation.to_string(), facts);
//! for sink in sinks.configured() {
//!     match sinks.deliver(sink, &n, clear_email_or_none).await {
//!         Ok(()) => { /* record as delivered */ }
//!         Err(e) if e.transient => { /* retry after backoff(attempt) */ }
//!         Err(e) => { /* record as failed for good: e.message */ }
//!     }
//! }
//! ```
//!
//! # The configuration file
//!
//! YAML or JSON; both sections are optional, unknown fields are errors.
//!
//! ```yaml
//! webhook:
//!   url: https://hooks.example.com/interdict   # http:// or https://
//!   secretFile: /etc/interdict/webhook-secret  # or secretEnv: INTERDICT_WEBHOOK_SECRET
//!   timeoutSeconds: 5                          # default 5, at most 300
//! email:
//!   host: smtp.example.com
//!   port: 587                                  # default: 25 / 587 / 465 by tls
//!   tls: starttls                              # none | starttls (default) | tls
//!   usernameEnv: SMTP_USERNAME                 # optional, with passwordFile
//!   passwordFile: /etc/interdict/smtp-password
//!   from: "Moderation <moderation@example.com>"
//!   helloName: operator.example.com            # optional EHLO name
//!   timeoutSeconds: 30                         # default 30, at most 300
//! ```
//!
//! Secrets read from files or variables lose trailing whitespace (a final
//! newline). See `docs/notifications.md` for the payload, the headers and how
//! to verify signatures.

pub mod email;
pub mod payload;
pub mod webhook;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use email::{Email, EmailConfig, TlsMode, render_email};
pub use payload::{
    Appeal, AppealFacts, BanFacts, BanKind, BanRef, Event, Mode, Notification, Scope, SubjectKind,
    SubjectRef, duration_text, idempotency_key,
};
pub use webhook::{Webhook, WebhookConfig, sign};

/// Upper bound of [`backoff`].
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
const MAX_TIMEOUT_SECONDS: u64 = 300;

/// One failed attempt. `transient`: the same notification may succeed later
/// (connection errors, timeouts, HTTP 408/429/5xx, SMTP 4xx), so retry after
/// [`backoff`]; otherwise retrying cannot help (HTTP 4xx, SMTP 5xx, a sink
/// that is not configured, no recipient). `message` never contains a secret,
/// a webhook URL's path or query, or a recipient's address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DeliveryError {
    pub transient: bool,
    pub message: String,
}

impl DeliveryError {
    pub fn transient(message: impl Into<String>) -> Self {
        DeliveryError {
            transient: true,
            message: message.into(),
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        DeliveryError {
            transient: false,
            message: message.into(),
        }
    }
}

/// A configuration problem, naming the field (`webhook.url`, `email.from`, …).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ConfigError {
    pub field: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Where a notification goes. The controller keeps one delivery state per
/// sink and notification.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SinkKind {
    Webhook,
    Email,
}

impl SinkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SinkKind::Webhook => "Webhook",
            SinkKind::Email => "Email",
        }
    }
}

impl std::fmt::Display for SinkKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The delay before retrying after the `attempt`-th failed attempt (1-based;
/// 0 is treated as 1): 1 s, 2 s, 4 s, … 256 s, then 300 s (5 minutes) for
/// every later attempt.
///
/// No jitter, on purpose: notifications are few (one per ban transition, not
/// per request), each goes to one receiver, and the controller stores the next
/// attempt's time in the ban's status; a deterministic schedule keeps that
/// status reproducible after a restart or leader change, and makes the
/// schedule testable and documentable. Synchronised retries of many bans
/// against one receiver recovering from an outage are bounded by the 5-minute
/// cap and by the controller's own concurrency.
pub fn backoff(attempt: u32) -> Duration {
    let doublings = attempt.saturating_sub(1).min(16);
    Duration::from_secs(1u64 << doublings).min(MAX_BACKOFF)
}

/// The configured sinks, ready to deliver.
#[derive(Debug, Default)]
pub struct Sinks {
    pub webhook: Option<Webhook>,
    pub email: Option<Email>,
}

impl Sinks {
    /// Reads the secrets the configuration points to (files, environment
    /// variables) and prepares the clients. Errors name the field.
    pub fn from_config(config: &NotifyConfig) -> Result<Sinks, ConfigError> {
        Self::from_config_with_env(config, |name| std::env::var(name).ok())
    }

    /// [`Sinks::from_config`] with `env` as the environment (for tests).
    pub fn from_config_with_env(
        config: &NotifyConfig,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Sinks, ConfigError> {
        config.validate()?;
        let webhook = match &config.webhook {
            Some(section) => {
                let secret = match (&section.secret_file, &section.secret_env) {
                    (Some(path), None) => read_secret_file("webhook.secretFile", path)?,
                    (None, Some(name)) => read_secret_env("webhook.secretEnv", name, &env)?,
                    _ => unreachable!("validated: exactly one of secretFile, secretEnv"),
                };
                Some(Webhook::new(WebhookConfig {
                    url: section.url.clone(),
                    secret,
                    timeout: section.timeout(),
                })?)
            }
            None => None,
        };
        let email = match &config.email {
            Some(section) => {
                let username = section
                    .username_env
                    .as_deref()
                    .map(|name| read_secret_env("email.usernameEnv", name, &env))
                    .transpose()?
                    .map(|bytes| utf8("email.usernameEnv", bytes))
                    .transpose()?;
                let password = section
                    .password_file
                    .as_deref()
                    .map(|path| read_secret_file("email.passwordFile", path))
                    .transpose()?
                    .map(|bytes| utf8("email.passwordFile", bytes))
                    .transpose()?;
                let tls = section.tls.unwrap_or_default();
                Some(Email::new(EmailConfig {
                    host: section.host.clone(),
                    port: section.port.unwrap_or(tls.default_port()),
                    tls,
                    username,
                    password,
                    from: section.from.clone(),
                    hello_name: section.hello_name.clone(),
                    timeout: section.timeout(),
                })?)
            }
            None => None,
        };
        Ok(Sinks { webhook, email })
    }

    /// The configured sinks, in a fixed order.
    pub fn configured(&self) -> Vec<SinkKind> {
        let mut kinds = Vec::new();
        if self.webhook.is_some() {
            kinds.push(SinkKind::Webhook);
        }
        if self.email.is_some() {
            kinds.push(SinkKind::Email);
        }
        kinds
    }

    pub fn is_empty(&self) -> bool {
        self.webhook.is_none() && self.email.is_none()
    }

    /// One attempt to deliver `notification` to `sink`. `email_to` is the
    /// subject's clear address (from the ban's spec) for [`SinkKind::Email`];
    /// it is never logged nor put into the error.
    pub async fn deliver(
        &self,
        sink: SinkKind,
        notification: &Notification,
        email_to: Option<&str>,
    ) -> Result<(), DeliveryError> {
        let result = match sink {
            SinkKind::Webhook => match &self.webhook {
                Some(webhook) => webhook.send(notification).await,
                None => Err(DeliveryError::permanent("no webhook is configured")),
            },
            SinkKind::Email => match (&self.email, email_to.filter(|to| !to.trim().is_empty())) {
                (Some(email), Some(to)) => email.send(notification, to).await,
                (None, _) => Err(DeliveryError::permanent("no email server is configured")),
                (Some(_), None) => Err(DeliveryError::permanent(
                    "no recipient: the ban's subject is not an email address",
                )),
            },
        };
        let ban = &notification.facts().ban;
        match &result {
            Ok(()) => tracing::debug!(
                %sink,
                key = notification.idempotency_key(),
                event = %notification.event(),
                namespace = ban.namespace,
                name = ban.name,
                "notification delivered"
            ),
            Err(error) => tracing::debug!(
                %sink,
                key = notification.idempotency_key(),
                event = %notification.event(),
                namespace = ban.namespace,
                name = ban.name,
                transient = error.transient,
                "notification not delivered: {}",
                error.message
            ),
        }
        result
    }
}

fn read_secret_file(field: &str, path: &Path) -> Result<Vec<u8>, ConfigError> {
    let mut bytes = std::fs::read(path)
        .map_err(|e| ConfigError::new(field, format!("cannot read {}: {e}", path.display())))?;
    while bytes.last().is_some_and(u8::is_ascii_whitespace) {
        bytes.pop();
    }
    if bytes.is_empty() {
        return Err(ConfigError::new(
            field,
            format!("{} is empty", path.display()),
        ));
    }
    Ok(bytes)
}

fn read_secret_env(
    field: &str,
    name: &str,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Vec<u8>, ConfigError> {
    let value = env(name).unwrap_or_default();
    let value = value.trim_end();
    if value.is_empty() {
        return Err(ConfigError::new(
            field,
            format!("environment variable {name} is not set or empty"),
        ));
    }
    Ok(value.as_bytes().to_vec())
}

fn utf8(field: &str, bytes: Vec<u8>) -> Result<String, ConfigError> {
    String::from_utf8(bytes).map_err(|_| ConfigError::new(field, "is not UTF-8 text"))
}

/// The `--notify-config` file (see the module documentation for the format).
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NotifyConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookSection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailSection>,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookSection {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
}

impl WebhookSection {
    pub fn timeout(&self) -> Duration {
        self.timeout_seconds
            .map_or(webhook::DEFAULT_TIMEOUT, Duration::from_secs)
    }
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EmailSection {
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    pub from: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hello_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
}

impl EmailSection {
    pub fn timeout(&self) -> Duration {
        self.timeout_seconds
            .map_or(email::DEFAULT_TIMEOUT, Duration::from_secs)
    }
}

impl NotifyConfig {
    /// Reads, parses and validates `path` (secrets are read later, by
    /// [`Sinks::from_config`]).
    pub fn from_file(path: &Path) -> Result<NotifyConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::new(
                "--notify-config",
                format!("cannot read {}: {e}", path.display()),
            )
        })?;
        Self::parse(&text).map_err(|e| ConfigError {
            message: format!("{} (in {})", e.message, path.display()),
            ..e
        })
    }

    /// Parses YAML or JSON and validates.
    pub fn parse(text: &str) -> Result<NotifyConfig, ConfigError> {
        let config: NotifyConfig = if text.trim().is_empty() {
            NotifyConfig::default()
        } else {
            serde_yaml::from_str(text).map_err(|e| {
                // serde_yaml names the path ("webhook: missing field `url`").
                let text = e.to_string();
                match text.split_once(": ") {
                    Some((path, rest))
                        if !path.contains(' ')
                            && (path.starts_with("webhook") || path.starts_with("email")) =>
                    {
                        ConfigError::new(path, rest)
                    }
                    _ => ConfigError::new("notify config", text),
                }
            })?
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks what can be checked without reading secrets.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(webhook) = &self.webhook {
            if webhook.url.trim().is_empty() {
                return Err(ConfigError::new("webhook.url", "is empty"));
            }
            match (&webhook.secret_file, &webhook.secret_env) {
                (Some(_), Some(_)) => {
                    return Err(ConfigError::new(
                        "webhook.secretFile",
                        "set either secretFile or secretEnv, not both",
                    ));
                }
                (None, None) => {
                    return Err(ConfigError::new(
                        "webhook.secretFile",
                        "set secretFile (a file holding the signing secret) or secretEnv (a variable holding it)",
                    ));
                }
                (Some(path), None) if path.as_os_str().is_empty() => {
                    return Err(ConfigError::new("webhook.secretFile", "is empty"));
                }
                (None, Some(name)) if name.trim().is_empty() => {
                    return Err(ConfigError::new("webhook.secretEnv", "is empty"));
                }
                _ => {}
            }
            check_timeout("webhook.timeoutSeconds", webhook.timeout_seconds)?;
        }
        if let Some(email) = &self.email {
            if email.host.trim().is_empty() {
                return Err(ConfigError::new("email.host", "is empty"));
            }
            if email.port == Some(0) {
                return Err(ConfigError::new("email.port", "must be 1 to 65535"));
            }
            if email.from.parse::<lettre::message::Mailbox>().is_err() {
                return Err(ConfigError::new(
                    "email.from",
                    format!(
                        "{:?} is not an address like moderation@example.com or \"Moderation <moderation@example.com>\"",
                        email.from
                    ),
                ));
            }
            match (&email.username_env, &email.password_file) {
                (Some(_), None) => {
                    return Err(ConfigError::new(
                        "email.passwordFile",
                        "usernameEnv is set: passwordFile is needed too",
                    ));
                }
                (None, Some(_)) => {
                    return Err(ConfigError::new(
                        "email.usernameEnv",
                        "passwordFile is set: usernameEnv is needed too",
                    ));
                }
                (Some(_), Some(_)) if email.tls == Some(TlsMode::None) => {
                    return Err(ConfigError::new(
                        "email.tls",
                        "credentials would be sent in clear text with tls: none; use starttls or tls",
                    ));
                }
                _ => {}
            }
            check_timeout("email.timeoutSeconds", email.timeout_seconds)?;
        }
        Ok(())
    }
}

fn check_timeout(field: &str, seconds: Option<u64>) -> Result<(), ConfigError> {
    match seconds {
        Some(0) => Err(ConfigError::new(field, "must be at least 1")),
        Some(s) if s > MAX_TIMEOUT_SECONDS => Err(ConfigError::new(
            field,
            format!("must be at most {MAX_TIMEOUT_SECONDS}"),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_one_second_up_to_five_minutes() {
        let secs: Vec<u64> = (0..=12).map(|a| backoff(a).as_secs()).collect();
        assert_eq!(secs, [1, 1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
        // Deterministic: the same attempt always waits the same time.
        assert_eq!(backoff(5), backoff(5));
    }

    const FULL: &str = r#"
webhook:
  url: https://hooks.example.com/interdict?token=abc
  secretFile: /etc/interdict/webhook-secret
  timeoutSeconds: 7
email:
  host: smtp.example.com
  tls: tls
  usernameEnv: SMTP_USERNAME
  passwordFile: /etc/interdict/smtp-password
  from: "Moderation <moderation@example.com>"
"#;

    #[test]
    fn parses_the_documented_format() {
        let config = NotifyConfig::parse(FULL).unwrap();
        let webhook = config.webhook.as_ref().unwrap();
        assert_eq!(webhook.url, "https://hooks.example.com/interdict?token=abc");
        assert_eq!(
            webhook.secret_file.as_deref(),
            Some(Path::new("/etc/interdict/webhook-secret"))
        );
        assert_eq!(webhook.timeout(), Duration::from_secs(7));
        let email = config.email.as_ref().unwrap();
        assert_eq!(email.tls, Some(TlsMode::Tls));
        assert_eq!(email.port, None);
        assert_eq!(email.timeout(), email::DEFAULT_TIMEOUT);
        // JSON is YAML too.
        let json = serde_json::to_string(&config).unwrap();
        assert_eq!(NotifyConfig::parse(&json).unwrap(), config);
        // Nothing configured is valid: no notifications.
        assert_eq!(NotifyConfig::parse("").unwrap(), NotifyConfig::default());
        assert_eq!(NotifyConfig::parse("{}").unwrap(), NotifyConfig::default());
    }

    fn field_of(text: &str) -> String {
        NotifyConfig::parse(text).unwrap_err().field
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            ("webhook: {secretEnv: S}", "webhook"),
            (
                "webhook: {url: 'http://h/', secretEnv: S, retries: 3}",
                "webhook",
            ),
            ("webhook: {url: 'http://h/'}", "webhook.secretFile"),
            (
                "webhook: {url: 'http://h/', secretFile: /f, secretEnv: S}",
                "webhook.secretFile",
            ),
            (
                "webhook: {url: 'http://h/', secretEnv: ' '}",
                "webhook.secretEnv",
            ),
            ("webhook: {url: ' ', secretEnv: S}", "webhook.url"),
            (
                "webhook: {url: 'http://h/', secretEnv: S, timeoutSeconds: 0}",
                "webhook.timeoutSeconds",
            ),
            (
                "webhook: {url: 'http://h/', secretEnv: S, timeoutSeconds: 301}",
                "webhook.timeoutSeconds",
            ),
            ("email: {host: h, from: 'not an address'}", "email.from"),
            ("email: {host: '', from: a@b.org}", "email.host"),
            ("email: {host: h, from: a@b.org, tls: ssl}", "email.tls"),
            ("email: {host: h, from: a@b.org, port: 0}", "email.port"),
            (
                "email: {host: h, from: a@b.org, usernameEnv: U}",
                "email.passwordFile",
            ),
            (
                "email: {host: h, from: a@b.org, passwordFile: /p}",
                "email.usernameEnv",
            ),
            (
                "email: {host: h, from: a@b.org, tls: none, usernameEnv: U, passwordFile: /p}",
                "email.tls",
            ),
            ("sms: {}", "notify config"),
        ];
        for (text, field) in cases {
            let error = NotifyConfig::parse(text).unwrap_err();
            assert_eq!(error.field, field, "{text}: {error}");
        }
        // serde's own messages survive: the missing or unknown field is named.
        assert!(
            NotifyConfig::parse("webhook: {secretEnv: S}")
                .unwrap_err()
                .to_string()
                .contains("url"),
        );
        assert!(
            NotifyConfig::parse("webhook: {url: 'http://h/', secretEnv: S, retries: 3}")
                .unwrap_err()
                .to_string()
                .contains("retries"),
        );
        assert_eq!(
            field_of("email: {host: h, from: a@b.org, tls: ssl}"),
            "email.tls"
        );
    }

    #[test]
    fn sinks_read_secrets_from_files_and_environment() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "s3cr3t\n").unwrap();
        let password = dir.path().join("password");
        std::fs::write(&password, "hunter2\n").unwrap();
        let text = format!(
            "webhook: {{url: 'http://127.0.0.1:9/hook', secretFile: '{}'}}\n\
             email: {{host: 127.0.0.1, port: 2525, usernameEnv: SMTP_USER, passwordFile: '{}', from: a@b.org}}\n",
            secret.display(),
            password.display()
        );
        let config = NotifyConfig::parse(&text).unwrap();
        let env = |name: &str| (name == "SMTP_USER").then(|| "mailer".to_string());
        let sinks = Sinks::from_config_with_env(&config, env).unwrap();
        assert_eq!(sinks.configured(), [SinkKind::Webhook, SinkKind::Email]);
        assert_eq!(
            sinks.webhook.as_ref().unwrap().target(),
            "http://127.0.0.1:9"
        );
        assert_eq!(
            sinks.email.as_ref().unwrap().target(),
            "smtp://127.0.0.1:2525"
        );

        let no_env = |_: &str| None;
        let error = Sinks::from_config_with_env(&config, no_env).unwrap_err();
        assert_eq!(error.field, "email.usernameEnv");
        assert!(error.message.contains("SMTP_USER"), "{error}");

        let missing = NotifyConfig::parse(
            "webhook: {url: 'http://127.0.0.1/', secretFile: /nonexistent/secret}",
        )
        .unwrap();
        let error = Sinks::from_config_with_env(&missing, no_env).unwrap_err();
        assert_eq!(error.field, "webhook.secretFile");
        assert!(error.message.contains("/nonexistent/secret"), "{error}");

        std::fs::write(&secret, "\n").unwrap();
        let error = Sinks::from_config_with_env(&config, env).unwrap_err();
        assert_eq!(error.field, "webhook.secretFile");
        assert!(error.message.contains("empty"), "{error}");

        let by_env =
            NotifyConfig::parse("webhook: {url: 'http://127.0.0.1/', secretEnv: HOOK_SECRET}")
                .unwrap();
        let error = Sinks::from_config_with_env(&by_env, no_env).unwrap_err();
        assert_eq!(error.field, "webhook.secretEnv");
        let env = |name: &str| (name == "HOOK_SECRET").then(|| "abc".to_string());
        assert!(Sinks::from_config_with_env(&by_env, env).is_ok());
    }

    #[test]
    fn from_file_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.yaml");
        std::fs::write(&path, "email: {host: h, from: nope}").unwrap();
        let error = NotifyConfig::from_file(&path).unwrap_err();
        assert_eq!(error.field, "email.from");
        assert!(error.message.contains("notify.yaml"), "{error}");
        let error = NotifyConfig::from_file(&dir.path().join("missing.yaml")).unwrap_err();
        assert_eq!(error.field, "--notify-config");
    }

    #[tokio::test]
    async fn deliver_to_a_missing_sink_is_a_permanent_error() {
        let n = Notification::new(
            Event::Applied,
            payload::fixtures::at("2026-11-21T10:00:00Z"),
            "1",
            payload::fixtures::suspend_facts(),
        );
        let sinks = Sinks::default();
        assert!(sinks.is_empty());
        for sink in [SinkKind::Webhook, SinkKind::Email] {
            let error = sinks.deliver(sink, &n, Some("a@b.org")).await.unwrap_err();
            assert!(!error.transient, "{sink}: {error}");
        }
        let sinks = Sinks {
            webhook: None,
            email: Some(
                Email::new(EmailConfig {
                    host: "127.0.0.1".into(),
                    port: 9,
                    tls: TlsMode::None,
                    username: None,
                    password: None,
                    from: "a@b.org".into(),
                    hello_name: None,
                    timeout: Duration::from_secs(1),
                })
                .unwrap(),
            ),
        };
        let error = sinks.deliver(SinkKind::Email, &n, None).await.unwrap_err();
        assert!(!error.transient);
        assert!(error.message.contains("no recipient"), "{error}");
    }
}
