//! Who a command is about, from `--user`, `--username`, `--email`, `--ip` or
//! `--key` (or an import row's subject column). An email is hashed here, on
//! the moderator's machine: manifests, requests and field selectors only ever
//! carry `sha256:` of the canonical address.

use clap::Args;

use crate::api::Subject;
use crate::core::email::{hash_email, parse_email_hash};
use crate::core::ip::IpNet;

/// The subject flags shared by `ban`, `silence`, `block`, `lift` and `who`.
#[derive(Args, Debug, Clone, Default)]
#[group(id = "subject", multiple = false)]
pub struct SubjectArgs {
    /// The subject's user id (spec.subject.userId).
    #[arg(long, value_name = "ID")]
    pub user: Option<String>,

    /// The subject's public user name or handle, matched exactly.
    #[arg(long, value_name = "NAME")]
    pub username: Option<String>,

    /// The subject's email address. Hashed here (sha256: of the canonical
    /// address) before anything is written or sent: the address never leaves
    /// this machine. A sha256: hash is taken as is.
    #[arg(long, value_name = "ADDRESS")]
    pub email: Option<String>,

    /// An IPv4 or IPv6 address, or a network such as 203.0.113.0/24.
    #[arg(long, value_name = "IP/CIDR")]
    pub ip: Option<String>,

    /// A signing-key fingerprint.
    #[arg(long, value_name = "FINGERPRINT")]
    pub key: Option<String>,
}

/// One subject identifier, ready to be written: emails hashed, networks in
/// their one spelling (host bits cleared).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubjectRef {
    UserId(String),
    Username(String),
    /// `sha256:<64 hex>`, never an address.
    EmailHash(String),
    Ip(String),
    Key(String),
}

/// The subject kinds as import files and exports name their columns.
pub const SUBJECT_COLUMNS: [&str; 5] = ["user", "username", "email", "ip", "key"];

impl SubjectArgs {
    /// The subject given, if any; `Err` names the flag whose value is unusable.
    pub fn subject(&self) -> Result<Option<SubjectRef>, String> {
        let given = [
            ("user", &self.user),
            ("username", &self.username),
            ("email", &self.email),
            ("ip", &self.ip),
            ("key", &self.key),
        ];
        match given
            .into_iter()
            .find_map(|(k, v)| Some((k, v.as_deref()?)))
        {
            None => Ok(None),
            Some((column, value)) => SubjectRef::parse(column, value)
                .map(Some)
                .map_err(|e| format!("--{column}: {e}")),
        }
    }

    /// The subject, which this verb needs.
    pub fn required(&self) -> Result<SubjectRef, String> {
        self.subject()?.ok_or_else(|| {
            "a subject is required: one of --user, --username, --email, --ip, --key".to_string()
        })
    }
}

impl SubjectRef {
    /// A subject from its column name (`user`, `username`, `email`, `ip`,
    /// `key`) and value, checked as the API server would check it.
    pub fn parse(column: &str, value: &str) -> Result<SubjectRef, String> {
        if value.trim().is_empty() {
            return Err("is empty".to_string());
        }
        if has_control(value) {
            return Err("must be one line without control characters".to_string());
        }
        let too_long = |max: usize| value.chars().count() > max;
        match column {
            "user" if too_long(253) => Err("is longer than 253 characters".into()),
            "user" => Ok(SubjectRef::UserId(value.to_string())),
            "username" if too_long(253) => Err("is longer than 253 characters".into()),
            "username" => Ok(SubjectRef::Username(value.to_string())),
            // The CRD's limit on the field, though only the hash is sent: an
            // address no manifest could hold is no address (found by
            // `tests/admission_parity.rs`).
            "email" if too_long(254) => Err("is longer than 254 characters".into()),
            "email" => match parse_email_hash(value) {
                Some(hash) => Ok(SubjectRef::EmailHash(hash)),
                None if looks_like_address(value) => Ok(SubjectRef::EmailHash(hash_email(value))),
                // The value may be an address with a typo: it is not repeated.
                None => Err("must be an address like name@domain, or its sha256: hash".into()),
            },
            "ip" => value
                .trim()
                .parse::<IpNet>()
                .map(|net| SubjectRef::Ip(net.to_string()))
                .map_err(|_| {
                    format!("{value:?} is not an IPv4/IPv6 address or network like 203.0.113.0/24")
                }),
            "key" if too_long(512) => Err("is longer than 512 characters".into()),
            "key" => Ok(SubjectRef::Key(value.to_string())),
            other => Err(format!("unknown subject kind {other:?}")),
        }
    }

    /// The column (or flag) this subject is given with.
    pub fn column(&self) -> &'static str {
        match self {
            SubjectRef::UserId(_) => "user",
            SubjectRef::Username(_) => "username",
            SubjectRef::EmailHash(_) => "email",
            SubjectRef::Ip(_) => "ip",
            SubjectRef::Key(_) => "key",
        }
    }

    pub fn value(&self) -> &str {
        match self {
            SubjectRef::UserId(v)
            | SubjectRef::Username(v)
            | SubjectRef::EmailHash(v)
            | SubjectRef::Ip(v)
            | SubjectRef::Key(v) => v,
        }
    }

    /// The field of `spec.subject` that holds it.
    pub fn field(&self) -> &'static str {
        match self {
            SubjectRef::UserId(_) => "userId",
            SubjectRef::Username(_) => "username",
            SubjectRef::EmailHash(_) => "email",
            SubjectRef::Ip(_) => "ip",
            SubjectRef::Key(_) => "keyFingerprint",
        }
    }

    /// `userId:123`, as `kubectl get` shows subjects.
    pub fn display(&self) -> String {
        format!("{}:{}", self.field(), self.value())
    }

    /// Is `self` wider than an IP ban may be without acknowledgement?
    pub fn is_wide_range(&self) -> bool {
        match self {
            SubjectRef::Ip(v) => v.parse::<IpNet>().is_ok_and(|net| net.is_wide()),
            _ => false,
        }
    }

    pub fn to_api(&self, acknowledge_wide_range: bool) -> Subject {
        let value = Some(self.value().to_string());
        let mut subject = Subject::default();
        match self {
            SubjectRef::UserId(_) => subject.user_id = value,
            SubjectRef::Username(_) => subject.username = value,
            SubjectRef::EmailHash(_) => subject.email = value,
            SubjectRef::Ip(_) => {
                subject.ip = value;
                subject.acknowledge_wide_range = acknowledge_wide_range.then_some(true);
            }
            SubjectRef::Key(_) => subject.key_fingerprint = value,
        }
        subject
    }

    /// The subject a stored ban names, as it was written.
    pub fn from_api(subject: &Subject) -> Option<SubjectRef> {
        let Subject {
            user_id,
            username,
            email,
            ip,
            key_fingerprint,
            ..
        } = subject;
        if let Some(v) = user_id {
            return Some(SubjectRef::UserId(v.clone()));
        }
        if let Some(v) = username {
            return Some(SubjectRef::Username(v.clone()));
        }
        if let Some(v) = email {
            // A ban written by hand may hold the address; only its hash is shown.
            return Some(SubjectRef::EmailHash(
                parse_email_hash(v).unwrap_or_else(|| hash_email(v)),
            ));
        }
        if let Some(v) = ip {
            return Some(SubjectRef::Ip(v.clone()));
        }
        key_fingerprint.clone().map(SubjectRef::Key)
    }

    /// The value of the operator's `interdict.dev/subject` label on this
    /// subject's bans.
    pub fn lookup_label(&self) -> String {
        self.to_api(false)
            .lookup_label()
            .expect("a subject reference names one identifier")
    }

    /// Field selectors that find the bans of this subject: the stored value
    /// must match exactly, so a network is looked for as given and in its
    /// normalised spelling.
    pub fn field_selectors(&self, typed_ip: Option<&str>) -> Vec<String> {
        let field = format!("spec.subject.{}", self.field());
        let mut values = vec![self.value().to_string()];
        if let (SubjectRef::Ip(normal), Some(typed)) = (self, typed_ip) {
            let typed = typed.trim();
            if typed != normal {
                values.push(typed.to_string());
            }
        }
        values
            .iter()
            .map(|v| format!("{field}={}", escape_selector_value(v)))
            .collect()
    }
}

/// A field selector value with the characters the API server's selector
/// grammar gives a meaning (`\`, `,`, `=`, `!`) escaped.
pub fn escape_selector_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for ch in value.chars() {
        if matches!(ch, '\\' | ',' | '=' | '!') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// The CRD's own shape check for an address: something, `@`, something.
fn looks_like_address(value: &str) -> bool {
    let value = value.trim();
    match value.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !value.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

/// C0, DEL, C1 and the Unicode line separators, as the CRD's one-line rule.
pub fn has_control(value: &str) -> bool {
    value
        .chars()
        .any(|c| c.is_control() || c == '\u{2028}' || c == '\u{2029}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_email_is_hashed_before_it_goes_anywhere() {
        let args = SubjectArgs {
            email: Some("Alice+promo@Example.org".into()),
            ..SubjectArgs::default()
        };
        let subject = args.required().unwrap();
        let hash = hash_email("alice@example.org");
        assert_eq!(subject, SubjectRef::EmailHash(hash.clone()));
        let api = subject.to_api(false);
        assert_eq!(api.email.as_deref(), Some(hash.as_str()));
        let shown = format!(
            "{}{:?}{:?}",
            subject.display(),
            subject.field_selectors(None),
            serde_json::to_string(&api).unwrap()
        );
        assert!(!shown.to_lowercase().contains("alice@"), "{shown}");
        assert_eq!(
            subject.field_selectors(None),
            [format!("spec.subject.email={hash}")]
        );
    }

    #[test]
    fn a_hash_is_kept_and_a_malformed_address_is_not_repeated() {
        let hash = hash_email("bob@example.org");
        assert_eq!(
            SubjectRef::parse("email", &hash.to_uppercase().replace("SHA256", "sha256")),
            Ok(SubjectRef::EmailHash(hash))
        );
        let error = SubjectRef::parse("email", "bob at example.org").unwrap_err();
        assert!(!error.contains("bob"), "{error}");
    }

    #[test]
    fn networks_get_one_spelling_and_are_looked_for_as_typed_too() {
        let subject = SubjectRef::parse("ip", "10.1.2.3/8").unwrap();
        assert_eq!(subject, SubjectRef::Ip("10.0.0.0/8".into()));
        assert_eq!(
            subject.field_selectors(Some("10.1.2.3/8")),
            ["spec.subject.ip=10.0.0.0/8", "spec.subject.ip=10.1.2.3/8"]
        );
        assert!(SubjectRef::parse("ip", "300.1.1.1").is_err());
        assert!(
            SubjectRef::parse("ip", "0.0.0.0/0")
                .unwrap()
                .is_wide_range()
        );
        assert!(
            !SubjectRef::parse("ip", "203.0.113.7")
                .unwrap()
                .is_wide_range()
        );
        let api = SubjectRef::parse("ip", "0.0.0.0/0").unwrap().to_api(true);
        assert_eq!(api.acknowledge_wide_range, Some(true));
    }

    #[test]
    fn selector_values_are_escaped() {
        let subject = SubjectRef::parse("username", r"a,b=c!d\e").unwrap();
        assert_eq!(
            subject.field_selectors(None),
            [r"spec.subject.username=a\,b\=c\!d\\e"]
        );
    }

    #[test]
    fn bad_values_name_the_flag() {
        let args = SubjectArgs {
            user: Some("a\nb".into()),
            ..SubjectArgs::default()
        };
        assert!(args.required().unwrap_err().starts_with("--user: "));
        let none = SubjectArgs::default();
        assert!(none.subject().unwrap().is_none());
        assert!(none.required().is_err());
        assert!(SubjectRef::parse("user", " ").is_err());
        assert!(SubjectRef::parse("phone", "1").is_err());
    }

    #[test]
    fn stored_subjects_read_back_and_addresses_in_clear_show_hashed() {
        for subject in [
            SubjectRef::UserId("1".into()),
            SubjectRef::Username("u".into()),
            SubjectRef::EmailHash(hash_email("a@b.c")),
            SubjectRef::Ip("203.0.113.0/24".into()),
            SubjectRef::Key("ab:cd".into()),
        ] {
            assert_eq!(
                SubjectRef::from_api(&subject.to_api(false)),
                Some(subject.clone())
            );
        }
        let by_hand = Subject {
            email: Some("A@b.c".into()),
            ..Subject::default()
        };
        assert_eq!(
            SubjectRef::from_api(&by_hand),
            Some(SubjectRef::EmailHash(hash_email("a@b.c")))
        );
    }
}
