//! Email canonicalisation and hashing. Blocklists carry only the hash, and
//! applications hash what a user types with the same rules before asking.

use sha2::{Digest, Sha256};

/// Prefix that marks a hashed email in blocklists and queries.
pub const HASH_PREFIX: &str = "sha256:";

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

/// An email given as its hash (`sha256:` and 64 hex digits, the prefix in any
/// case, surrounding white space ignored), as a moderation tool writes it so
/// the address never reaches the cluster: the published spelling (lower
/// case), or `None` when `text` is an address.
pub fn parse_email_hash(text: &str) -> Option<String> {
    let text = text.trim();
    let prefix = text.get(..HASH_PREFIX.len())?;
    let digest = &text[HASH_PREFIX.len()..];
    let is_digest = digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit());
    (prefix.eq_ignore_ascii_case(HASH_PREFIX) && is_digest)
        .then(|| format!("{HASH_PREFIX}{}", digest.to_ascii_lowercase()))
}

/// `sha256:<hex>` of the canonical address.
pub fn hash_email(raw: &str) -> String {
    let digest = Sha256::digest(canonical_email(raw).as_bytes());
    let mut out = String::with_capacity(HASH_PREFIX.len() + 64);
    out.push_str(HASH_PREFIX);
    for byte in digest {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn a_hash_is_recognised_and_kept_not_hashed_again() {
        let hash = hash_email("alice@example.org");
        assert_eq!(parse_email_hash(&hash).as_deref(), Some(hash.as_str()));
        let shouted = format!(" SHA256:{} ", hash[7..].to_ascii_uppercase());
        assert_eq!(parse_email_hash(&shouted).as_deref(), Some(hash.as_str()));
        for not_a_hash in [
            "alice@example.org",
            "sha256:abc",
            &format!("{hash}0"),
            &format!("md5:{}", &hash[7..]),
            &hash.replace('a', "g"),
        ] {
            assert_eq!(parse_email_hash(not_a_hash), None, "{not_a_hash}");
        }
    }

    #[test]
    fn hash_is_sha256_of_canonical_form() {
        // Known digest of "alice@example.org".
        assert_eq!(
            hash_email("Alice+promo@Example.org"),
            "sha256:7a64adf28737ea90719cbdf0b1a87a5effff3753b79c91d717f4f4153ead0498"
        );
        assert_ne!(
            hash_email("alice@example.org"),
            hash_email("alice2@example.org")
        );
    }
}
