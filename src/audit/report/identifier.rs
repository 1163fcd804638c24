//! A subject as a reviewer names it on the command line, and whether a
//! published subject (`userId:42`, `email:sha256:<hex>`, `ip:10.0.0.0/8`) is
//! that subject. Addresses are hashed the moment they are read, so nothing
//! compares or prints an address in clear.

use std::fmt;

use crate::core::email::{HASH_PREFIX, hash_email};
use crate::core::ip::IpNet;

/// One identifier of one subject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Identifier {
    UserId(String),
    Username(String),
    /// `hash` is `sha256:<hex>` of the canonical address.
    Email {
        hash: String,
    },
    /// An address or a network: it matches every ban on an address or
    /// network that overlaps it (a ban on `10.0.0.0/8` holds `10.1.2.3`).
    Ip(IpNet),
    KeyFingerprint(String),
}

/// Why a command-line identifier was not taken, naming what was wrong.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdentifierError {
    #[error("{0:?} is not an IPv4/IPv6 address or CIDR")]
    Ip(String),
    #[error("{0:?} is empty")]
    Empty(String),
    #[error(
        "{0:?} is not a subject as reports print it: KIND:VALUE with KIND one of userId, username, email, ip, keyFingerprint"
    )]
    Published(String),
}

fn is_hashed(text: &str) -> bool {
    let Some(prefix) = text.get(..HASH_PREFIX.len()) else {
        return false;
    };
    let hex = &text[HASH_PREFIX.len()..];
    prefix.eq_ignore_ascii_case(HASH_PREFIX)
        && hex.len() == 64
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

fn non_empty(text: &str) -> Result<String, IdentifierError> {
    if text.trim().is_empty() {
        Err(IdentifierError::Empty(text.to_string()))
    } else {
        Ok(text.to_string())
    }
}

impl Identifier {
    pub fn user_id(text: &str) -> Result<Self, IdentifierError> {
        non_empty(text).map(Identifier::UserId)
    }

    pub fn username(text: &str) -> Result<Self, IdentifierError> {
        non_empty(text).map(Identifier::Username)
    }

    pub fn key_fingerprint(text: &str) -> Result<Self, IdentifierError> {
        non_empty(text).map(Identifier::KeyFingerprint)
    }

    /// An address as the requester typed it (hashed with the blocklist's
    /// canonicalisation), or an already hashed `sha256:<hex>` (any case),
    /// as readers accept both.
    pub fn email(typed: &str) -> Result<Self, IdentifierError> {
        non_empty(typed)?;
        let trimmed = typed.trim();
        let hash = if is_hashed(trimmed) {
            trimmed.to_ascii_lowercase()
        } else {
            hash_email(typed)
        };
        Ok(Identifier::Email { hash })
    }

    pub fn ip(text: &str) -> Result<Self, IdentifierError> {
        text.trim()
            .parse::<IpNet>()
            .map(Identifier::Ip)
            .map_err(|_| IdentifierError::Ip(text.to_string()))
    }

    /// A subject in the spelling reports print: `userId:42`,
    /// `email:sha256:<hex>` (or `email:` and an address), `ip:10.0.0.0/8`.
    pub fn published(text: &str) -> Result<Self, IdentifierError> {
        let error = || IdentifierError::Published(text.to_string());
        let (kind, value) = text.split_once(':').ok_or_else(error)?;
        match kind {
            "userId" => Self::user_id(value),
            "username" => Self::username(value),
            "email" => Self::email(value),
            "ip" => Self::ip(value),
            "keyFingerprint" => Self::key_fingerprint(value),
            _ => Err(error()),
        }
    }

    /// The subject kind as in `spec.subject`: `userId`, `email`, …
    pub fn kind(&self) -> &'static str {
        match self {
            Identifier::UserId(_) => "userId",
            Identifier::Username(_) => "username",
            Identifier::Email { .. } => "email",
            Identifier::Ip(_) => "ip",
            Identifier::KeyFingerprint(_) => "keyFingerprint",
        }
    }

    /// Whether `published` (`kind:value`, as rows, audit lines and statuses
    /// carry it) is this subject.
    pub fn matches(&self, published: &str) -> bool {
        let Some((kind, value)) = published.split_once(':') else {
            return false;
        };
        match (self, kind) {
            (Identifier::UserId(id), "userId") => value == id,
            (Identifier::Username(name), "username") => value == name,
            (Identifier::Email { hash }, "email") => value.eq_ignore_ascii_case(hash),
            (Identifier::Ip(net), "ip") => {
                value.parse::<IpNet>().is_ok_and(|held| held.overlaps(net))
            }
            (Identifier::KeyFingerprint(key), "keyFingerprint") => value == key,
            _ => false,
        }
    }

    /// Whether one value of a blocklist's plain list (`suspended-emails.txt`
    /// holds hashes, `suspended-ips.txt` addresses and networks, …) is this
    /// subject, given the kind the list holds.
    pub fn matches_value(&self, kind: &str, value: &str) -> bool {
        self.matches(&format!("{kind}:{value}"))
    }
}

/// The published spelling: `userId:42`, `email:sha256:<hex>`, `ip:10.0.0.0/8`.
impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identifier::UserId(v) => write!(f, "userId:{v}"),
            Identifier::Username(v) => write!(f, "username:{v}"),
            Identifier::Email { hash } => write!(f, "email:{hash}"),
            Identifier::Ip(net) => write!(f, "ip:{net}"),
            Identifier::KeyFingerprint(v) => write!(f, "keyFingerprint:{v}"),
        }
    }
}

/// The published form of a resource's `spec.subject`: the address hashed,
/// an IP range in its canonical spelling. `None` for a subject with no
/// identifier (the API server refuses those).
pub fn published_subject(subject: &crate::api::Subject) -> Option<String> {
    if let Some(v) = &subject.user_id {
        return Some(format!("userId:{v}"));
    }
    if let Some(v) = &subject.username {
        return Some(format!("username:{v}"));
    }
    if let Some(v) = &subject.email {
        return Some(format!("email:{}", hash_email(v)));
    }
    if let Some(v) = &subject.ip {
        let canonical = v.parse::<IpNet>().map_or(v.clone(), |n| n.to_string());
        return Some(format!("ip:{canonical}"));
    }
    subject
        .key_fingerprint
        .as_ref()
        .map(|v| format!("keyFingerprint:{v}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = "sha256:7a64adf28737ea90719cbdf0b1a87a5effff3753b79c91d717f4f4153ead0498";

    #[test]
    fn a_typed_address_is_hashed_canonically_and_a_hash_is_taken_as_is() {
        let typed = Identifier::email(" Alice+promo@Example.org").unwrap();
        assert_eq!(typed, Identifier::Email { hash: ALICE.into() });
        let hashed = Identifier::email(&ALICE.to_uppercase().replacen("SHA256", "sha256", 1));
        assert_eq!(hashed.unwrap(), typed);
        assert_eq!(typed.to_string(), format!("email:{ALICE}"));
        assert!(!typed.to_string().contains('@'), "never the address");
    }

    #[test]
    fn each_identifier_matches_only_its_own_kind() {
        let cases = [
            (Identifier::user_id("42").unwrap(), "userId:42", true),
            (Identifier::user_id("42").unwrap(), "username:42", false),
            (Identifier::user_id("42").unwrap(), "userId:420", false),
            (Identifier::username("Bob").unwrap(), "username:bob", false),
            (Identifier::username("bob").unwrap(), "username:bob", true),
            (
                Identifier::email("alice@example.org").unwrap(),
                &format!("email:{ALICE}"),
                true,
            ),
            (
                Identifier::email("bob@example.org").unwrap(),
                &format!("email:{ALICE}"),
                false,
            ),
            (
                Identifier::key_fingerprint("ab:cd").unwrap(),
                "keyFingerprint:ab:cd",
                true,
            ),
            (
                Identifier::ip("203.0.113.7").unwrap(),
                "ip:203.0.113.0/24",
                true,
            ),
            (
                Identifier::ip("203.0.113.0/24").unwrap(),
                "ip:203.0.113.7",
                true,
            ),
            (
                Identifier::ip("203.0.114.7").unwrap(),
                "ip:203.0.113.0/24",
                false,
            ),
            (
                Identifier::ip("::ffff:203.0.113.7").unwrap(),
                "ip:203.0.113.7",
                true,
            ),
            (
                Identifier::ip("203.0.113.7").unwrap(),
                "ip:not-an-ip",
                false,
            ),
            (Identifier::user_id("42").unwrap(), "no colon", false),
        ];
        for (identifier, published, expected) in cases {
            assert_eq!(
                identifier.matches(published),
                expected,
                "{identifier} against {published}"
            );
        }
    }

    #[test]
    fn bad_identifiers_are_named() {
        assert_eq!(
            Identifier::ip("300.1.1.1"),
            Err(IdentifierError::Ip("300.1.1.1".into()))
        );
        assert_eq!(
            Identifier::user_id(" "),
            Err(IdentifierError::Empty(" ".into()))
        );
        assert!(matches!(
            Identifier::published("phone:123"),
            Err(IdentifierError::Published(_))
        ));
        assert_eq!(
            Identifier::published("ip:10.1.2.3/8").unwrap().to_string(),
            "ip:10.0.0.0/8"
        );
        assert_eq!(
            Identifier::published("email:Alice@Example.org")
                .unwrap()
                .to_string(),
            format!("email:{ALICE}")
        );
    }

    #[test]
    fn resources_publish_hashed_addresses() {
        let subject = crate::api::Subject {
            email: Some("Alice@Example.org".into()),
            ..Default::default()
        };
        assert_eq!(
            published_subject(&subject).unwrap(),
            format!("email:{ALICE}")
        );
        let range = crate::api::Subject {
            ip: Some("10.1.2.3/8".into()),
            ..Default::default()
        };
        assert_eq!(published_subject(&range).unwrap(), "ip:10.0.0.0/8");
        assert_eq!(published_subject(&crate::api::Subject::default()), None);
    }
}
