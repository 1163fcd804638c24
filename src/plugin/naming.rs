//! Names the plugin gives: a ban's name when none is given, derived from what
//! the ban is (so running the same command or import twice names the same
//! object), and a batch id derived from what an import holds.

use sha2::{Digest, Sha256};

use super::subject::SubjectRef;
use crate::api::{BanKind, Scope};

/// Names stay within a DNS label, short enough to type and to show in a table.
const MAX_NAME: usize = 63;
/// `-` and six hex digits.
const SUFFIX: usize = 7;

/// `spam-user-123`: reason, subject kind and value (and for a FeatureBlock
/// its features and scopes), made DNS-safe. When that loses information
/// (upper case, dots, slashes, `=`) or is too long, a short hash of the whole
/// description is appended, so different bans never share a name by accident.
pub fn generated_name(
    kind: BanKind,
    reason: &str,
    subject: &SubjectRef,
    features: &[String],
    scopes: &[Scope],
) -> String {
    // An email's hash is long and already safe: a prefix of it identifies
    // the subject in a name, and the hash itself is never spelt out.
    let value = match subject {
        SubjectRef::EmailHash(hash) => hash
            .trim_start_matches(crate::core::email::HASH_PREFIX)
            .chars()
            .take(12)
            .collect(),
        other => other.value().to_string(),
    };
    let mut parts = vec![reason.to_string(), subject.column().to_string(), value];
    if kind == BanKind::FeatureBlock {
        parts.extend(features.iter().cloned());
        parts.extend(scopes.iter().map(|s| format!("{}={}", s.kind, s.name)));
    }
    let mut lossy = false;
    let mut slugs = Vec::with_capacity(parts.len());
    for part in &parts {
        let slug = slug(part);
        lossy |= slug != *part;
        if !slug.is_empty() {
            slugs.push(slug);
        }
    }
    let name = slugs.join("-");
    if !lossy && !name.is_empty() && name.len() <= MAX_NAME {
        return name;
    }
    let description = format!(
        "{kind:?}\n{reason}\n{}\n{}\n{}",
        subject.display(),
        features.join("\n"),
        scopes
            .iter()
            .map(|s| format!("{}={}", s.kind, s.name))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let mut head: String = name.chars().take(MAX_NAME - SUFFIX).collect();
    while head.ends_with('-') {
        head.pop();
    }
    let suffix = &hex(&Sha256::digest(description.as_bytes()))[..SUFFIX - 1];
    if head.is_empty() {
        format!("ban-{suffix}")
    } else {
        format!("{head}-{suffix}")
    }
}

/// Lower case, every run of other characters one `-`, no `-` at either end.
fn slug(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        let ch = ch.to_ascii_lowercase();
        if ch.is_ascii_lowercase() || ch.is_ascii_digit() {
            out.push(ch);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A name the API server accepts for a custom resource (a DNS subdomain).
pub fn check_name(name: &str) -> Result<(), String> {
    let valid_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.';
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if name.is_empty() || name.len() > 253 {
        return Err(format!("name {name:?} must be 1 to 253 characters"));
    }
    if !name.chars().all(valid_char) || !edge(name.chars().next()) || !edge(name.chars().last()) {
        return Err(format!(
            "name {name:?} must be lower case letters, digits, '-' and '.', starting and ending with a letter or digit"
        ));
    }
    Ok(())
}

/// A batch id is a label value: at most 63 letters, digits, `-`, `_`, `.`,
/// starting and ending with a letter or digit.
pub fn check_batch(batch: &str) -> Result<(), String> {
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    let valid = !batch.is_empty()
        && batch.len() <= 63
        && batch
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && alnum(batch.chars().next())
        && alnum(batch.chars().last());
    if valid {
        Ok(())
    } else {
        Err(format!(
            "batch id {batch:?} must be at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        ))
    }
}

/// `import-` and ten hex digits of what the import writes: the same file
/// imported again gets the same batch, so a re-run changes nothing.
pub fn generated_batch(content: &str) -> String {
    format!("import-{}", &hex(&Sha256::digest(content.as_bytes()))[..10])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn user(id: &str) -> SubjectRef {
        SubjectRef::UserId(id.into())
    }

    #[test]
    fn plain_subjects_make_plain_names() {
        assert_eq!(
            generated_name(BanKind::UserBan, "spam", &user("123"), &[], &[]),
            "spam-user-123"
        );
        assert_eq!(
            generated_name(
                BanKind::FeatureBlock,
                "abuse",
                &user("124"),
                &["comments".into()],
                &[]
            ),
            "abuse-user-124-comments"
        );
    }

    #[test]
    fn lossy_or_long_names_get_a_hash_suffix_that_tells_them_apart() {
        let a = generated_name(
            BanKind::UserBan,
            "spam",
            &SubjectRef::Username("Alice".into()),
            &[],
            &[],
        );
        let b = generated_name(
            BanKind::UserBan,
            "spam",
            &SubjectRef::Username("alice".into()),
            &[],
            &[],
        );
        assert!(
            a.starts_with("spam-username-alice-") && a.len() == 26,
            "{a}"
        );
        assert_eq!(b, "spam-username-alice");
        let v6 = |ip: &str| {
            generated_name(
                BanKind::UserBan,
                "abuse",
                &SubjectRef::Ip(ip.into()),
                &[],
                &[],
            )
        };
        assert_ne!(v6("2001:db8::/32"), v6("2001:db8:32::"));
        let long = generated_name(BanKind::UserBan, "spam", &user(&"9".repeat(100)), &[], &[]);
        assert_eq!(long.len(), 63);
        assert!(check_name(&long).is_ok());
    }

    #[test]
    fn email_names_carry_a_prefix_of_the_hash_only() {
        let hash = crate::core::email::hash_email("alice@example.org");
        let name = generated_name(
            BanKind::UserBan,
            "spam",
            &SubjectRef::EmailHash(hash.clone()),
            &[],
            &[],
        );
        assert_eq!(name, format!("spam-email-{}", &hash[7..19]));
    }

    #[test]
    fn scopes_change_a_blocks_name() {
        let scoped = |name: &str| {
            generated_name(
                BanKind::FeatureBlock,
                "abuse",
                &user("1"),
                &["mentorship-service".into()],
                &[Scope {
                    kind: "academy".into(),
                    name: name.into(),
                }],
            )
        };
        assert_ne!(scoped("miami"), scoped("madrid"));
        assert!(scoped("miami").starts_with("abuse-user-1-mentorship-service-academy-miami-"));
    }

    proptest! {
        #[test]
        fn generated_names_are_valid_and_stable(
            reason in "[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?",
            value in "\\PC{1,80}",
        ) {
            let subject = SubjectRef::Username(value);
            let name = generated_name(BanKind::UserBan, &reason, &subject, &[], &[]);
            prop_assert!(check_name(&name).is_ok(), "{}", name);
            prop_assert!(name.len() <= 63);
            prop_assert_eq!(name.clone(), generated_name(BanKind::UserBan, &reason, &subject, &[], &[]));
        }
    }

    #[test]
    fn names_and_batches_are_checked_like_the_api_server_does() {
        for good in ["spam-user-1", "a", "a.b-c"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "-a", "a-", "A", "a_b", &"a".repeat(254)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        for good in ["import-0123456789", "B_1.x"] {
            assert!(check_batch(good).is_ok(), "{good}");
        }
        for bad in ["", "-a", "a b", &"a".repeat(64)] {
            assert!(check_batch(bad).is_err(), "{bad}");
        }
        let batch = generated_batch("x");
        assert!(check_batch(&batch).is_ok());
        assert_eq!(batch, generated_batch("x"));
        assert_ne!(batch, generated_batch("y"));
    }
}
