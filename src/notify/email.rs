//! The email sink: a plain-text message to the subject over SMTP.
//!
//! The recipient's address comes from the caller (the ban's spec) and goes
//! into the message and the SMTP envelope only: errors quote the server's
//! reply with the address replaced by `<recipient>`, and nothing here logs it.

use std::time::Duration;

use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde::{Deserialize, Serialize};

use super::payload::{Event, Mode, Notification, time_text};
use super::{ConfigError, DeliveryError};

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How the connection to the SMTP server is secured.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plain text: only for a relay on the same host or node.
    None,
    /// Plain connection upgraded with STARTTLS, which the server must offer
    /// (the submission port, 587).
    #[default]
    Starttls,
    /// TLS from the first byte (implicit TLS, port 465).
    Tls,
}

impl TlsMode {
    pub fn default_port(self) -> u16 {
        match self {
            TlsMode::None => 25,
            TlsMode::Starttls => 587,
            TlsMode::Tls => 465,
        }
    }
}

/// An SMTP server as the caller resolved it (credentials already read).
#[derive(Clone)]
pub struct EmailConfig {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub username: Option<String>,
    pub password: Option<String>,
    /// `moderation@example.com` or `Moderation <moderation@example.com>`.
    pub from: String,
    /// The EHLO name; lettre's default (`localhost`) when unset.
    pub hello_name: Option<String>,
    /// For each SMTP command and for the whole attempt.
    pub timeout: Duration,
}

impl std::fmt::Debug for EmailConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("from", &self.from)
            .field("hello_name", &self.hello_name)
            .field("timeout", &self.timeout)
            .finish()
    }
}

pub struct Email {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// `smtp://host:port`, for errors and logs.
    target: String,
    timeout: Duration,
}

impl std::fmt::Debug for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Email")
            .field("target", &self.target)
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

/// `Interdict-Idempotency-Key` on each message, for receivers that dedupe.
#[derive(Clone)]
struct IdempotencyKey(String);

impl Header for IdempotencyKey {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Interdict-Idempotency-Key")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(IdempotencyKey(s.trim().to_string()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

impl Email {
    pub fn new(config: EmailConfig) -> Result<Email, ConfigError> {
        let host = config.host.trim();
        if host.is_empty() {
            return Err(ConfigError::new("email.host", "is empty"));
        }
        let from: Mailbox = config.from.parse().map_err(|e| {
            ConfigError::new(
                "email.from",
                format!("not an address like moderation@example.com or \"Moderation <moderation@example.com>\": {e}"),
            )
        })?;
        if config.port == 0 {
            return Err(ConfigError::new("email.port", "must be 1 to 65535"));
        }
        if config.timeout.is_zero() {
            return Err(ConfigError::new("email.timeoutSeconds", "must be positive"));
        }
        let tls_error = |e: lettre::transport::smtp::Error| {
            ConfigError::new("email.tls", format!("cannot configure TLS for {host}: {e}"))
        };
        let mut builder = match config.tls {
            TlsMode::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
            TlsMode::Starttls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host).map_err(tls_error)?
            }
            TlsMode::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host).map_err(tls_error)?,
        }
        .port(config.port)
        .timeout(Some(config.timeout));
        match (config.username, config.password) {
            (Some(username), Some(password)) => {
                if config.tls == TlsMode::None {
                    return Err(ConfigError::new(
                        "email.tls",
                        "credentials would be sent in clear text with tls: none; use starttls or tls",
                    ));
                }
                builder = builder.credentials(Credentials::new(username, password));
            }
            (None, None) => {}
            (Some(_), None) => {
                return Err(ConfigError::new(
                    "email.passwordFile",
                    "a username needs a password",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    "email.usernameEnv",
                    "a password needs a username",
                ));
            }
        }
        if let Some(name) = config.hello_name.filter(|n| !n.trim().is_empty()) {
            builder = builder.hello_name(ClientId::Domain(name.trim().to_string()));
        }
        Ok(Email {
            transport: builder.build(),
            from,
            target: format!("smtp://{host}:{}", config.port),
            timeout: config.timeout,
        })
    }

    /// `smtp://host:port`, for logs.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// One attempt to hand the message to the SMTP server. The Message-ID is
    /// derived from the idempotency key, so retries carry the same one.
    pub async fn send(&self, notification: &Notification, to: &str) -> Result<(), DeliveryError> {
        let recipient: Mailbox = to.trim().parse().map_err(|_| {
            DeliveryError::permanent(format!(
                "email {}: the recipient is not a valid email address",
                self.target
            ))
        })?;
        let (subject, body) = render_email(notification, to.trim());
        let message = Message::builder()
            .from(self.from.clone())
            .to(recipient.clone())
            .subject(subject)
            .message_id(Some(format!(
                "<{}@{}>",
                notification.idempotency_key(),
                self.from.email.domain()
            )))
            .header(IdempotencyKey(notification.idempotency_key().to_string()))
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| {
                DeliveryError::permanent(redact(
                    &format!("email {}: cannot build the message: {e}", self.target),
                    to,
                    &recipient,
                ))
            })?;
        let sent = tokio::time::timeout(self.timeout, self.transport.send(message))
            .await
            .map_err(|_| {
                DeliveryError::transient(format!(
                    "email {}: timed out after {:?}",
                    self.target, self.timeout
                ))
            })?;
        match sent {
            Ok(_) => Ok(()),
            Err(error) => {
                // 4xx replies and anything on the way (connection, TLS, I/O,
                // timeouts) are worth retrying; 5xx replies and client-side
                // errors are not.
                let transient = !(error.is_permanent() || error.is_client());
                let text = format!(
                    "email {}: {}",
                    self.target,
                    super::webhook::error_chain(&error)
                );
                Err(DeliveryError {
                    transient,
                    message: redact(&text, to, &recipient),
                })
            }
        }
    }
}

/// Replaces every spelling of the recipient's address (servers quote it in
/// their replies) with `<recipient>`, ignoring ASCII case.
fn redact(text: &str, to: &str, recipient: &Mailbox) -> String {
    let mut out = text.to_string();
    let address = recipient.email.to_string();
    for needle in [to.trim(), address.as_str()] {
        if needle.is_empty() {
            continue;
        }
        let needle = needle.to_ascii_lowercase();
        let mut result = String::with_capacity(out.len());
        let lowered = out.to_ascii_lowercase();
        let mut last = 0;
        for (at, _) in lowered.match_indices(&needle) {
            result.push_str(&out[last..at]);
            result.push_str("<recipient>");
            last = at + needle.len();
        }
        result.push_str(&out[last..]);
        out = result;
    }
    out
}

fn noun(mode: Mode) -> &'static str {
    match mode {
        Mode::Suspend => "the suspension of your account",
        Mode::Silence => "the silencing of your account",
        Mode::FeatureBlock => "the block on some features of your account",
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// What the restriction means for the subject, in one paragraph.
fn meaning(notification: &Notification) -> String {
    let facts = notification.facts();
    match facts.mode {
        Mode::Suspend => "You cannot sign in or use the service.".to_string(),
        Mode::Silence => "You can still sign in, read and export your data, but you cannot post \
                          or publish anything, and your content is hidden from others."
            .to_string(),
        Mode::FeatureBlock => {
            let features = if facts.features.iter().any(|f| f == "*") {
                "any feature".to_string()
            } else {
                facts.features.join(", ")
            };
            let scopes = if facts.scopes.is_empty() {
                String::new()
            } else {
                format!(
                    " in {}",
                    facts
                        .scopes
                        .iter()
                        .map(|s| format!("{} {}", s.kind, s.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            format!("You cannot use {features}{scopes}.")
        }
    }
}

/// The subject line and the plain-text body of the email for `notification`,
/// addressed to `to`. Says what happened, the reason and message; while the
/// restriction stands, how long (`for 7 days` … `until 2026-11-28 10:00 UTC`,
/// or `permanently`) and whether sessions were revoked; with the decision
/// itself (`Applied`, `Activated`), how to appeal when appeals are allowed.
pub fn render_email(notification: &Notification, to: &str) -> (String, String) {
    let facts = notification.facts();
    let event = notification.event();
    let scheduled = facts.from > notification.occurred_at();
    let length = match facts.until {
        Some(_) => format!("for {}", notification.duration()),
        None => "permanently".to_string(),
    };
    let (subject, opening) = match (event, facts.mode) {
        (Event::Applied | Event::Activated, mode) => {
            let what = match mode {
                Mode::Suspend => "Your account has been suspended",
                Mode::Silence => "Your account has been silenced",
                Mode::FeatureBlock => "Some features of your account have been blocked",
            };
            if scheduled {
                let what = match mode {
                    Mode::Suspend => "Your account will be suspended",
                    Mode::Silence => "Your account will be silenced",
                    Mode::FeatureBlock => "Some features of your account will be blocked",
                };
                (
                    format!("{what} {length} from {}", time_text(facts.from)),
                    format!("{what} from {}.", time_text(facts.from)),
                )
            } else {
                (format!("{what} {length}"), format!("{what}."))
            }
        }
        (Event::Expired, mode) => (
            format!("{} has ended", capitalised(noun(mode))),
            format!("{} has ended.", capitalised(noun(mode))),
        ),
        (Event::Lifted, mode) => (
            format!("{} has been lifted", capitalised(noun(mode))),
            format!(
                "{} has been lifted before its scheduled end.",
                capitalised(noun(mode))
            ),
        ),
        (Event::Deleted, mode) => (
            format!("{} has been removed", capitalised(noun(mode))),
            format!("{} has been removed.", capitalised(noun(mode))),
        ),
        (Event::AppealReceived, mode) => (
            "We received your appeal".to_string(),
            format!(
                "We received your appeal against {}. We will let you know the outcome; \
                 until then the restriction stays in place.",
                noun(mode)
            ),
        ),
        (Event::AppealApproved, mode) => (
            "Your appeal was approved".to_string(),
            format!("Your appeal was approved: {} has been lifted.", noun(mode)),
        ),
        (Event::AppealDenied, mode) => (
            "Your appeal was denied".to_string(),
            format!("Your appeal was denied: {} remains in place.", noun(mode)),
        ),
    };

    let mut body = vec![opening];
    if event.in_force() {
        body.push(meaning(notification));
    }
    if let Some(notes) = notification
        .appeal()
        .and_then(|a| a.notes.as_deref())
        .filter(|n| !n.trim().is_empty())
    {
        body.push(format!("Notes from the reviewer:\n{}", notes.trim()));
    }
    body.push(format!("Reason: {}", facts.reason));
    if let Some(message) = facts.message.as_deref().filter(|m| !m.trim().is_empty()) {
        body.push(format!("Message from the moderators:\n{}", message.trim()));
    }
    if event.in_force() {
        body.push(match facts.until {
            Some(until) => format!(
                "Duration: {}, until {}.",
                notification.duration(),
                time_text(until)
            ),
            None => "Duration: permanent, with no end date.".to_string(),
        });
        if facts.revoke_sessions {
            body.push(match facts.revoke_sessions_before {
                Some(before) => format!(
                    "Your sessions have been revoked: you have been signed out everywhere \
                     you were signed in before {}.",
                    time_text(before)
                ),
                None => "Your sessions have been revoked: you have been signed out everywhere."
                    .to_string(),
            });
        }
        // Instructions only with the decision itself, not with appeal replies.
        if matches!(event, Event::Applied | Event::Activated)
            && let Some(appeal) = facts.appeal.as_ref().filter(|a| a.allowed)
        {
            body.push(match appeal.instructions.as_deref() {
                Some(instructions) if !instructions.trim().is_empty() => {
                    format!("How to appeal:\n{}", instructions.trim())
                }
                _ => "You may appeal this decision.".to_string(),
            });
        }
    }
    body.push(format!(
        "-- \nThis notice was sent to {to}.\nReference: {}",
        notification.idempotency_key()
    ));
    (subject, body.join("\n\n") + "\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::payload::fixtures::*;
    use crate::notify::payload::{Appeal, Notification};

    fn applied() -> Notification {
        Notification::new(
            Event::Applied,
            at("2026-11-21T10:00:05Z"),
            "1",
            suspend_facts(),
        )
    }

    #[test]
    fn applied_suspension_says_everything() {
        let n = applied();
        let (subject, body) = render_email(&n, "alice@example.org");
        assert_eq!(subject, "Your account has been suspended for 7 days");
        for expected in [
            "Your account has been suspended.",
            "You cannot sign in or use the service.",
            "Reason: spam",
            "Your account is suspended for 7 days for spamming.",
            "Duration: 7 days, until 2026-11-28 10:00 UTC.",
            "Your sessions have been revoked",
            "before 2026-11-21 10:00 UTC",
            "How to appeal:\nReply to appeals@example.org with your ticket number.",
            "This notice was sent to alice@example.org.",
            n.idempotency_key(),
        ] {
            assert!(body.contains(expected), "missing {expected:?} in:\n{body}");
        }
    }

    #[test]
    fn permanent_feature_block_without_appeal() {
        let n = Notification::new(
            Event::Activated,
            at("2026-11-21T10:00:00Z"),
            "1",
            feature_block_facts(),
        );
        let (subject, body) = render_email(&n, "bob@example.org");
        assert_eq!(
            subject,
            "Some features of your account have been blocked permanently"
        );
        assert!(
            body.contains("You cannot use mentorship-service, publish in academy downtown-miami.")
        );
        assert!(
            body.contains("Duration: permanent, with no end date."),
            "{body}"
        );
        assert!(!body.contains("appeal"), "{body}");
        assert!(!body.contains("revoked"), "{body}");
        assert!(!body.contains("Message from"), "{body}");
    }

    #[test]
    fn ended_restrictions_carry_no_duration_nor_appeal() {
        for (event, subject) in [
            (Event::Expired, "The suspension of your account has ended"),
            (
                Event::Lifted,
                "The suspension of your account has been lifted",
            ),
            (
                Event::Deleted,
                "The suspension of your account has been removed",
            ),
            (Event::AppealApproved, "Your appeal was approved"),
        ] {
            let n = Notification::new(event, at("2026-11-28T10:00:00Z"), "1", suspend_facts());
            let (got, body) = render_email(&n, "alice@example.org");
            assert_eq!(got, subject);
            assert!(!body.contains("How to appeal"), "{event:?}: {body}");
            assert!(!body.contains("Duration"), "{event:?}: {body}");
            assert!(!body.contains("revoked"), "{event:?}: {body}");
            assert!(body.contains("Reason: spam"), "{event:?}: {body}");
        }
    }

    #[test]
    fn appeal_events() {
        let received = Notification::new(
            Event::AppealReceived,
            at("2026-11-22T10:00:00Z"),
            "appeal-1",
            suspend_facts(),
        );
        let (subject, body) = render_email(&received, "alice@example.org");
        assert_eq!(subject, "We received your appeal");
        assert!(!body.contains("How to appeal"), "{body}");
        let denied = Notification::new(
            Event::AppealDenied,
            at("2026-11-23T10:00:00Z"),
            "appeal-1",
            suspend_facts(),
        );
        let (subject, body) = render_email(&denied, "alice@example.org");
        assert_eq!(subject, "Your appeal was denied");
        assert!(body.contains("remains in place"), "{body}");
        assert!(body.contains("until 2026-11-28 10:00 UTC"), "{body}");
        assert!(!body.contains("How to appeal"), "{body}");
    }

    #[test]
    fn silence_scheduled_and_appeal_without_instructions() {
        let mut facts = suspend_facts();
        facts.mode = Mode::Silence;
        facts.revoke_sessions = false;
        facts.from = at("2026-12-01T00:00:00Z");
        facts.until = Some(at("2026-12-01T12:00:00Z"));
        facts.appeal = Some(Appeal {
            allowed: true,
            instructions: None,
        });
        let n = Notification::new(Event::Applied, at("2026-11-21T10:00:00Z"), "1", facts);
        let (subject, body) = render_email(&n, "alice@example.org");
        assert_eq!(
            subject,
            "Your account will be silenced for 12 hours from 2026-12-01 00:00 UTC"
        );
        assert!(body.contains("you cannot post"), "{body}");
        assert!(body.contains("You may appeal this decision."), "{body}");
        assert!(!body.contains("revoked"), "{body}");
    }

    #[test]
    fn appeal_not_allowed_means_no_instructions() {
        let mut facts = suspend_facts();
        facts.appeal = Some(Appeal {
            allowed: false,
            instructions: Some("Write to us".into()),
        });
        let n = Notification::new(Event::Applied, at("2026-11-21T10:00:00Z"), "1", facts);
        let (_, body) = render_email(&n, "alice@example.org");
        assert!(!body.contains("Write to us"), "{body}");
    }

    #[test]
    fn redaction_hides_every_spelling_of_the_recipient() {
        let to = "Alice.Smith@Example.org";
        let mailbox: Mailbox = to.parse().unwrap();
        let text = "550 5.1.1 <alice.smith@example.org>: unknown; ALICE.SMITH@EXAMPLE.ORG again";
        assert_eq!(
            redact(text, to, &mailbox),
            "550 5.1.1 <<recipient>>: unknown; <recipient> again"
        );
    }

    #[test]
    fn bad_configs_name_the_field() {
        let good = EmailConfig {
            host: "127.0.0.1".into(),
            port: 2525,
            tls: TlsMode::None,
            username: None,
            password: None,
            from: "Moderation <moderation@example.com>".into(),
            hello_name: None,
            timeout: DEFAULT_TIMEOUT,
        };
        assert!(Email::new(good.clone()).is_ok());
        let field = |config: EmailConfig| Email::new(config).unwrap_err().field;
        assert_eq!(
            field(EmailConfig {
                host: " ".into(),
                ..good.clone()
            }),
            "email.host"
        );
        assert_eq!(
            field(EmailConfig {
                from: "not an address".into(),
                ..good.clone()
            }),
            "email.from"
        );
        assert_eq!(
            field(EmailConfig {
                port: 0,
                ..good.clone()
            }),
            "email.port"
        );
        assert_eq!(
            field(EmailConfig {
                username: Some("u".into()),
                password: Some("p".into()),
                ..good.clone()
            }),
            "email.tls"
        );
        assert_eq!(
            field(EmailConfig {
                tls: TlsMode::Starttls,
                username: Some("u".into()),
                ..good.clone()
            }),
            "email.passwordFile"
        );
        let debug = format!(
            "{:?}",
            EmailConfig {
                password: Some("hunter2".into()),
                ..good
            }
        );
        assert!(!debug.contains("hunter2"), "{debug}");
    }
}
