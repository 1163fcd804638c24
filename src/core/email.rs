//! Email canonicalisation and hashing. Blocklists carry only a hash, and
//! applications hash what a user types with the same rules before asking.
//!
//! Two published forms:
//!
//! - `sha256:<hex>`, the SHA-256 of the canonical address. Anyone holding a
//!   list of addresses can hash them all and see which are banned.
//! - `hmac-sha256:<key id>:<hex>`, the HMAC-SHA256 under a key shared by the
//!   operator and the applications, computed over the `sha256:` form (not over
//!   the address): the operator can key a ban written with a hash it never saw
//!   the address of, and a reader keys a typed address or an `sha256:` query
//!   alike. The key id, the first 8 hex digits of the key's SHA-256, tells a
//!   reader whether it holds the key an entry was made with.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Prefix that marks a hashed email in blocklists and queries.
pub const HASH_PREFIX: &str = "sha256:";
/// Prefix of a keyed email hash: `hmac-sha256:<key id>:<hex>`.
pub const KEYED_PREFIX: &str = "hmac-sha256:";
/// Shortest key accepted. A short key is guessable, and guessing it undoes
/// what the key is for; 32 random bytes (or 64 hex digits) are the advice.
pub const MIN_KEY_BYTES: usize = 16;
/// Hex digits of the key id.
const KEY_ID_LEN: usize = 8;

/// Trims, lower-cases and drops a `+tag` from the local part, so `Alice+2@Example.org `
/// and `alice@example.org` are one address.
pub fn canonical_email(raw: &str) -> String {
    let lowered = raw.trim().to_lowercase();
    match lowered.rsplit_once('@') {
        Some((local, domain)) => {
            let local = local.split_once('+').map_or(local, |(base, _tag)| base);
            format!("{local}@{domain}")
        }
        None => lowered,
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

fn is_hex(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_lower_hex(text: &str, len: usize) -> bool {
    is_hex(text, len) && !text.bytes().any(|b| b.is_ascii_uppercase())
}

/// `sha256:<hex>` of the canonical address.
pub fn hash_email(raw: &str) -> String {
    let digest = Sha256::digest(canonical_email(raw).as_bytes());
    format!("{HASH_PREFIX}{}", hex(&digest))
}

/// An email written as its hash, as a ban may give it (`spec.subject.email:
/// sha256:<64 hex>`): the prefix in any case, surrounding white space
/// trimmed, 64 hex digits. Gives the published spelling (lower case), or
/// `None` for anything else, which is an address.
pub fn parse_email_hash(text: &str) -> Option<String> {
    let text = text.trim();
    let prefix = text.get(..HASH_PREFIX.len())?;
    let digest = &text[HASH_PREFIX.len()..];
    (prefix.eq_ignore_ascii_case(HASH_PREFIX) && is_hex(digest, 64))
        .then(|| format!("{HASH_PREFIX}{}", digest.to_ascii_lowercase()))
}

/// What a query's email is compared as: a `sha256:` hash (prefix in any ASCII
/// case, surrounding white space trimmed) is taken as is, lower-cased; anything
/// else is a typed address, canonicalised and hashed. (Looser than
/// [`parse_email_hash`] about the digits, as readers always were: a malformed
/// hash then matches nothing.)
pub fn query_email_hash(email: &str) -> String {
    let email = email.trim();
    let is_hash = email.len() > HASH_PREFIX.len()
        && email.is_char_boundary(HASH_PREFIX.len())
        && email[..HASH_PREFIX.len()].eq_ignore_ascii_case(HASH_PREFIX);
    if is_hash {
        email.to_ascii_lowercase()
    } else {
        hash_email(email)
    }
}

/// The id of a key: the first 8 hex digits of its SHA-256. Published in
/// every keyed hash, so a reader can tell "not banned" from "banned under a
/// key I do not have"; it says nothing usable about the key itself.
pub fn key_id(key: &[u8]) -> String {
    hex(&Sha256::digest(key))[..KEY_ID_LEN].to_string()
}

/// The key id of a published email subject in the keyed form
/// (`hmac-sha256:<key id>:…`), whatever follows it; `None` for any other form.
pub fn keyed_key_id(subject: &str) -> Option<&str> {
    let rest = subject.strip_prefix(KEYED_PREFIX)?;
    Some(rest.split_once(':').map_or(rest, |(id, _)| id))
}

/// `hmac-sha256:<key id>:<64 hex>`, exactly as the operator writes it.
pub fn is_keyed_hash(subject: &str) -> bool {
    subject
        .strip_prefix(KEYED_PREFIX)
        .and_then(|rest| rest.split_once(':'))
        .is_some_and(|(id, digest)| is_lower_hex(id, KEY_ID_LEN) && is_lower_hex(digest, 64))
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EmailKeyError {
    #[error(
        "the email hash key is {0} bytes; at least {MIN_KEY_BYTES} are needed (e.g. `openssl rand -hex 32`)"
    )]
    TooShort(usize),
}

/// The key of keyed email hashes. Holds the HMAC state ready to use (the key
/// itself is not kept apart) and never prints it: `Debug` shows the id only.
#[derive(Clone)]
pub struct EmailKey {
    mac: Hmac<Sha256>,
    id: String,
}

impl EmailKey {
    /// The key is exactly these bytes.
    pub fn new(key: &[u8]) -> Result<Self, EmailKeyError> {
        if key.len() < MIN_KEY_BYTES {
            return Err(EmailKeyError::TooShort(key.len()));
        }
        Ok(EmailKey {
            mac: Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length"),
            id: key_id(key),
        })
    }

    /// The key as a key file holds it (a mounted Secret, `kubectl create
    /// secret --from-file` or `--from-literal`): the content without the
    /// spaces, tabs and line breaks around it, so an editor's final newline
    /// does not change the key. Every reader reads key files this way.
    pub fn from_file_contents(contents: &[u8]) -> Result<Self, EmailKeyError> {
        let blank = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
        let start = contents
            .iter()
            .position(|b| !blank(b))
            .unwrap_or(contents.len());
        let end = contents
            .iter()
            .rposition(|b| !blank(b))
            .map_or(start, |i| i + 1);
        Self::new(&contents[start..end])
    }

    /// First 8 hex digits of the key's SHA-256.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `hmac-sha256:<key id>:<hex>` of an unkeyed hash (`sha256:<hex>`, as
    /// [`hash_email`] or [`parse_email_hash`] give it).
    pub fn keyed(&self, unkeyed: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(unkeyed.as_bytes());
        format!(
            "{KEYED_PREFIX}{}:{}",
            self.id,
            hex(&mac.finalize().into_bytes())
        )
    }

    /// The keyed hash of an address as typed.
    pub fn hash_email(&self, raw: &str) -> String {
        self.keyed(&hash_email(raw))
    }
}

impl fmt::Debug for EmailKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailKey").field("id", &self.id).finish()
    }
}

/// What the operator publishes for a ban's `spec.subject.email` (an address or
/// an `sha256:` hash): the unkeyed hash, keyed when a key is configured.
pub fn published_email(spec_value: &str, key: Option<&EmailKey>) -> String {
    let unkeyed = parse_email_hash(spec_value).unwrap_or_else(|| hash_email(spec_value));
    match key {
        Some(key) => key.keyed(&unkeyed),
        None => unkeyed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Digests below were computed apart from this code, with Python's
    /// hashlib and hmac, e.g.
    /// `hmac.new(key, b"sha256:7a64…", hashlib.sha256).hexdigest()`.
    const KEY: &[u8] = b"interdict-test-email-key-0001";
    const ALICE: &str = "sha256:7a64adf28737ea90719cbdf0b1a87a5effff3753b79c91d717f4f4153ead0498";
    const ALICE_KEYED: &str =
        "hmac-sha256:91813912:64fdda11a7cbd99d8d076cbcbd65d7e1d637f5cfb98e5417b2d0a0ea260705e0";

    #[test]
    fn canonical_form_ignores_case_space_and_tags() {
        for raw in [
            "alice@example.org",
            " Alice@Example.ORG\n",
            "alice+2@example.org",
            "ALICE+spam+x@example.org",
        ] {
            assert_eq!(canonical_email(raw), "alice@example.org", "{raw:?}");
        }
    }

    #[test]
    fn plus_in_domain_part_is_kept() {
        assert_eq!(canonical_email("bob@ex+ample.org"), "bob@ex+ample.org");
    }

    #[test]
    fn hash_is_sha256_of_canonical_form() {
        assert_eq!(hash_email("Alice+promo@Example.org"), ALICE);
        assert_ne!(
            hash_email("alice@example.org"),
            hash_email("alice2@example.org")
        );
    }

    #[test]
    fn a_written_hash_is_recognised_only_in_full() {
        assert_eq!(parse_email_hash(ALICE).as_deref(), Some(ALICE));
        let shouted = format!("  {}\n", ALICE.to_ascii_uppercase());
        assert_eq!(parse_email_hash(&shouted).as_deref(), Some(ALICE));
        for not_a_hash in [
            "alice@example.org",
            "sha256:7a64",
            &format!("{ALICE}0"),
            &ALICE.replace('7', "g"),
            "sha256:",
            "sha25",
            "",
        ] {
            assert_eq!(parse_email_hash(not_a_hash), None, "{not_a_hash:?}");
        }
        assert_eq!(published_email(ALICE, None), ALICE);
        assert_eq!(published_email(" Alice+x@Example.org", None), ALICE);
    }

    #[test]
    fn queries_keep_their_loose_hash_rule() {
        assert_eq!(query_email_hash(&format!(" SHA256:{}", &ALICE[7..])), ALICE);
        assert_eq!(query_email_hash("sha256:xyz"), "sha256:xyz");
        assert_eq!(query_email_hash("Alice@Example.org"), ALICE);
        assert_eq!(query_email_hash("sha256:"), hash_email("sha256:"));
    }

    #[test]
    fn keyed_hash_is_hmac_of_the_unkeyed_hash() {
        let key = EmailKey::new(KEY).unwrap();
        assert_eq!(key.id(), "91813912");
        assert_eq!(key.keyed(ALICE), ALICE_KEYED);
        assert_eq!(key.hash_email(" Alice+tag@Example.ORG"), ALICE_KEYED);
        assert_eq!(published_email(ALICE, Some(&key)), ALICE_KEYED);
        assert_eq!(
            published_email("alice@example.org", Some(&key)),
            ALICE_KEYED
        );
        // The same address under another key is another value, with another id.
        let other = EmailKey::new(b"another-key-fedcba9876543210").unwrap();
        assert_eq!(
            other.hash_email("alice@example.org"),
            "hmac-sha256:5b3655f7:19c87a8f7c0a03147993b4c33cc60dcf7cf47539cb2c8f6e1c5de9c10fb837d0"
        );
    }

    #[test]
    fn keyed_forms_are_recognised() {
        assert!(is_keyed_hash(ALICE_KEYED));
        assert_eq!(keyed_key_id(ALICE_KEYED), Some("91813912"));
        assert_eq!(keyed_key_id("hmac-sha256:zz"), Some("zz"));
        assert_eq!(keyed_key_id(ALICE), None);
        assert!(!is_keyed_hash(ALICE));
        assert!(!is_keyed_hash(&ALICE_KEYED.to_ascii_uppercase()));
        assert!(!is_keyed_hash(&ALICE_KEYED[..ALICE_KEYED.len() - 1]));
        assert!(!is_keyed_hash("hmac-sha256:91813912"));
    }

    #[test]
    fn key_files_lose_surrounding_blanks_only() {
        let key = EmailKey::from_file_contents(b"\n interdict-test-email-key-0001\r\n").unwrap();
        assert_eq!(key.id(), "91813912");
        let inner = EmailKey::from_file_contents(b"interdict test email key 0001").unwrap();
        assert_ne!(inner.id(), "91813912", "inner spaces are part of the key");
        assert_eq!(
            EmailKey::from_file_contents(b"  short \n").unwrap_err(),
            EmailKeyError::TooShort(5)
        );
        assert_eq!(
            EmailKey::from_file_contents(b"\n\n").unwrap_err(),
            EmailKeyError::TooShort(0)
        );
    }

    #[test]
    fn a_key_never_prints() {
        let shown = format!("{:?}", EmailKey::new(KEY).unwrap());
        assert_eq!(shown, "EmailKey { id: \"91813912\" }");
    }
}
