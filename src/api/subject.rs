use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use sha2::{Digest, Sha256};

use super::common::ONE_LINE_RULE;
use crate::core::email::{hash_email, parse_email_hash};
use crate::core::ip::IpNet;

/// CEL: an IP range wider than the documented limit needs `acknowledgeWideRange`.
/// Kept in step with `core::ip::WIDEST_V4_PREFIX` and `WIDEST_V6_PREFIX` (a unit test checks).
const WIDE_RANGE_RULE: &str = "!has(self.ip) || !isCIDR(self.ip) || (has(self.acknowledgeWideRange) && self.acknowledgeWideRange) || cidr(self.ip).prefixLength() >= (cidr(self.ip).ip().family() == 4 ? 8 : 32)";
const WIDE_RANGE_MESSAGE: &str = "'spec.subject.ip ' + self.ip + ' is wider than /8 (IPv4) or /32 (IPv6) and would cover a large part of the internet; if that is really meant, set spec.subject.acknowledgeWideRange: true'";

/// CEL: an address as users type it, or its hash as `interdict hash-email` prints it
/// (the prefix in any case, as `core::email::parse_email_hash` reads it).
/// Blanks are `[\s\pZ]`: Unicode white space, as the core trims it
/// (`str::trim`) and refuses it inside an address (`char::is_whitespace`);
/// RE2's `\s` alone is ASCII, and let `a<U+00A0>b@c.d` through (found by
/// `tests/admission_parity.rs`). The white space both leave out (U+000B,
/// U+0085) are control characters, refused by the one-line rule.
const EMAIL_RULE: &str = r"self.matches('^[\\s\\pZ]*[^@\\s\\pZ]+@[^@\\s\\pZ]+[\\s\\pZ]*$') || self.matches('^[\\s\\pZ]*(?i:sha256):[0-9a-fA-F]{64}[\\s\\pZ]*$')";
/// CEL: an identifier is more than blanks (the core refuses a blank one as
/// empty; found by `tests/admission_parity.rs`).
const NOT_BLANK_RULE: &str = r"self.matches('[^\\s\\pZ]')";
/// Names the field and says how to hash, without repeating the value (which
/// may be an address, and error messages end up in CI logs).
const EMAIL_MESSAGE: &str = "spec.subject.email must be an address like name@domain, or its hash: sha256: followed by 64 hex digits (`interdict hash-email ADDRESS` prints it)";

/// Who a ban applies to. Exactly one identifier is set. Identifiers are one
/// line without control characters (they reach one-per-line lists).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new(
    "(has(self.userId) ? 1 : 0) + (has(self.username) ? 1 : 0) + (has(self.email) ? 1 : 0) + (has(self.ip) ? 1 : 0) + (has(self.keyFingerprint) ? 1 : 0) == 1"
).message("subject must set exactly one of userId, username, email, ip, keyFingerprint"))]
#[x_kube(validation = kube::core::Rule::new(WIDE_RANGE_RULE)
    .message(kube::core::Message::Expression(WIDE_RANGE_MESSAGE.into()))
    .field_path(".ip"))]
pub struct Subject {
    /// The application's stable user identifier (e.g. a database id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = kube::core::Rule::new(ONE_LINE_RULE)
        .message("userId must be one line without control characters"))]
    #[x_kube(validation = kube::core::Rule::new(NOT_BLANK_RULE).message("userId must not be blank"))]
    pub user_id: Option<String>,

    /// A public user name or handle, matched exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = kube::core::Rule::new(ONE_LINE_RULE)
        .message("username must be one line without control characters"))]
    #[x_kube(validation = kube::core::Rule::new(NOT_BLANK_RULE).message("username must not be blank"))]
    pub username: Option<String>,

    /// An email address, or its hash `sha256:<64 hex digits>` (what
    /// `interdict hash-email ADDRESS` prints) so the address never reaches the
    /// cluster. An address is canonicalised (trimmed, lower-cased, `+tag`
    /// dropped) and hashed; either way blocklists, statuses, Events, audit
    /// lines and notifications carry only the hash, keyed (`hmac-sha256:`)
    /// when the operator has an email hash key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 3, max = 254))]
    #[x_kube(validation = kube::core::Rule::new(EMAIL_RULE).message(EMAIL_MESSAGE))]
    #[x_kube(validation = kube::core::Rule::new(ONE_LINE_RULE)
        .message("email must be one line without control characters"))]
    pub email: Option<String>,

    /// An IPv4 or IPv6 address, or a CIDR range such as `203.0.113.0/24` or `2001:db8::/32`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 64))]
    #[x_kube(validation = kube::core::Rule::new("isIP(self) || isCIDR(self)")
        .message(kube::core::Message::Expression("'ip ' + self + ' must be an IPv4/IPv6 address or CIDR, like 203.0.113.7 or 10.0.0.0/8'".into())))]
    pub ip: Option<String>,

    /// A signing-key fingerprint identifying a pseudonymous author.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    #[x_kube(validation = kube::core::Rule::new(ONE_LINE_RULE)
        .message("keyFingerprint must be one line without control characters"))]
    #[x_kube(validation = kube::core::Rule::new(NOT_BLANK_RULE).message("keyFingerprint must not be blank"))]
    pub key_fingerprint: Option<String>,

    /// Set to true to confirm that an `ip` range wider than /8 (IPv4) or /32
    /// (IPv6) is meant: such a range covers a large part of the internet, and
    /// `0.0.0.0/0` or `::/0` covers everyone. Without it, wider ranges are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledge_wide_range: Option<bool>,
}

/// The label the operator keeps on every ban, so that clusters without
/// `selectableFields` (before Kubernetes 1.32) can still find a subject's bans
/// with a label selector: `interdict.dev/subject=<Subject::lookup_label>`.
pub const SUBJECT_LABEL: &str = "interdict.dev/subject";

impl Subject {
    /// The identifier set, as `(field, value)` with the value in the one
    /// spelling every writer agrees on: an email as its `sha256:` hash, a
    /// network with its host bits cleared.
    pub fn canonical(&self) -> Option<(&'static str, String)> {
        if let Some(v) = &self.user_id {
            return Some(("userId", v.clone()));
        }
        if let Some(v) = &self.username {
            return Some(("username", v.clone()));
        }
        if let Some(v) = &self.email {
            return Some((
                "email",
                parse_email_hash(v).unwrap_or_else(|| hash_email(v)),
            ));
        }
        if let Some(v) = &self.ip {
            let spelled = v.trim().parse::<IpNet>().map(|net| net.to_string());
            return Some(("ip", spelled.unwrap_or_else(|_| v.clone())));
        }
        self.key_fingerprint
            .as_ref()
            .map(|v| ("keyFingerprint", v.clone()))
    }

    /// The value of [`SUBJECT_LABEL`]: the first 48 hex digits of the SHA-256
    /// of `field=value` (canonical). A label value holds at most 63 of a few
    /// characters, and identifiers hold anything, so they are hashed; an
    /// address never reaches a label (its hash is hashed again).
    pub fn lookup_label(&self) -> Option<String> {
        let (field, value) = self.canonical()?;
        let digest = Sha256::digest(format!("{field}={value}").as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        Some(hex[..48].to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lookup_label_is_a_valid_label_value_shared_by_every_spelling() {
        let typed = Subject {
            email: Some(" Some.One+tag@Example.COM ".into()),
            ..Subject::default()
        };
        let hashed = Subject {
            email: Some(hash_email("some.one@example.com")),
            ..Subject::default()
        };
        let label = typed.lookup_label().unwrap();
        assert_eq!(Some(label.clone()), hashed.lookup_label());
        assert_eq!(label.len(), 48);
        assert!(label.chars().all(|c| c.is_ascii_hexdigit()));

        let host_bits = Subject {
            ip: Some("10.1.2.3/8".into()),
            ..Subject::default()
        };
        let network = Subject {
            ip: Some("10.0.0.0/8".into()),
            ..Subject::default()
        };
        assert_eq!(host_bits.lookup_label(), network.lookup_label());
        // The same value in another field is another subject.
        let user = Subject {
            user_id: Some("10.0.0.0/8".into()),
            ..Subject::default()
        };
        assert_ne!(user.lookup_label(), network.lookup_label());
        assert_eq!(Subject::default().lookup_label(), None);
    }
    use crate::core::ip::{WIDEST_V4_PREFIX, WIDEST_V6_PREFIX};

    #[test]
    fn the_cel_rule_and_the_core_share_the_wide_range_limits() {
        assert!(WIDE_RANGE_RULE.contains(&format!("? {WIDEST_V4_PREFIX} : {WIDEST_V6_PREFIX})")));
        assert!(WIDE_RANGE_MESSAGE.contains(&format!(
            "/{WIDEST_V4_PREFIX} (IPv4) or /{WIDEST_V6_PREFIX} (IPv6)"
        )));
    }
}
