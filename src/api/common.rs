use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// CEL for a lowercase token such as `spam` or `brute-force`.
pub(crate) const TOKEN_RULE: &str = "self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')";

/// CEL for a positive duration such as `30m`, `12h`, `7d`, `2w` or `1h30m`.
pub(crate) const DURATION_RULE: &str =
    "self.matches('^([0-9]{1,6}[smhdw]){1,4}$') && self.matches('[1-9]')";
pub(crate) const DURATION_MESSAGE: &str = "'duration ' + self + ' must be a positive amount of s, m, h, d or w, like 30m, 12h, 7d or 1h30m'";
/// CEL: a duration's total in seconds (each part's digits times its unit).
macro_rules! duration_seconds {
    ($value:literal) => {
        concat!(
            $value,
            ".findAll('[0-9]+[smhdw]').map(p, int(p.substring(0, p.size() - 1)) * (p.endsWith('s') ? 1 : p.endsWith('m') ? 60 : p.endsWith('h') ? 3600 : p.endsWith('d') ? 86400 : 604800)).sum()"
        )
    };
}
/// CEL: at most 100 years, as `core::duration::MAX_DURATION_SECONDS` (a unit test checks).
pub(crate) const DURATION_BOUND_RULE: &str = concat!(duration_seconds!("self"), " <= 3155760000");
pub(crate) const DURATION_BOUND_MESSAGE: &str = "'duration ' + self + ' is longer than 100 years (36525d); leave duration and expiresAt unset for a permanent ban'";
/// CEL: a start late enough that even the longest duration ends within the
/// RFC 3339 calendar (year 9999). Cheaper for the API server's cost budget than
/// adding the duration to the start; the core checks the exact end.
pub(crate) const STARTS_BEFORE_9899_RULE: &str = "self < timestamp('9899-01-01T00:00:00Z')";
pub(crate) const STARTS_BEFORE_9899_MESSAGE: &str =
    "startsAt must be before 9899-01-01T00:00:00Z, so that any duration ends within year 9999";
pub(crate) const DURATION_XOR_EXPIRES_RULE: &str = "!(has(self.duration) && has(self.expiresAt))";
pub(crate) const DURATION_XOR_EXPIRES_MESSAGE: &str =
    "set either duration or expiresAt, not both (neither means permanent)";
pub(crate) const STARTS_BEFORE_EXPIRES_RULE: &str =
    "!has(self.startsAt) || !has(self.expiresAt) || self.startsAt < self.expiresAt";
pub(crate) const STARTS_BEFORE_EXPIRES_MESSAGE: &str = "startsAt must be before expiresAt";

pub(crate) const REVIEW_AFTER_RULE: &str = "self.matches('^([0-9]{1,6}[smhdw]){1,4}$') || self.matches('^[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\\\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2}))?$')";
pub(crate) const REVIEW_AFTER_MESSAGE: &str = "'reviewAfter ' + self + ' must be a date (2027-01-31), an RFC 3339 time, or a duration like 90d'";
/// CEL: a reviewAfter duration is bounded like a ban's duration (dates are
/// bounded by their four-digit year).
pub(crate) const REVIEW_AFTER_BOUND_RULE: &str = concat!(
    "!self.matches('^([0-9]{1,6}[smhdw]){1,4}$') || ",
    duration_seconds!("self"),
    " <= 3155760000"
);
pub(crate) const REVIEW_AFTER_BOUND_MESSAGE: &str =
    "'reviewAfter ' + self + ' is longer than 100 years (36525d)'";

/// CEL for a value that must stay on one line: no control character (C0, DEL,
/// C1) and no Unicode line or paragraph separator. Such a value reaches plain
/// one-per-line lists, Event messages and mail headers, where a line break
/// would forge a second entry.
pub(crate) const ONE_LINE_RULE: &str =
    r"!self.matches('[\\x00-\\x1f\\x7f-\\x9f\\x{2028}\\x{2029}]')";
/// CEL for free text: as [`ONE_LINE_RULE`], but line feeds and tabs are allowed.
pub(crate) const TEXT_RULE: &str =
    r"!self.matches('[\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f\\x{2028}\\x{2029}]')";

pub(crate) fn default_true() -> bool {
    true
}

/// Why a ban exists: a machine-readable code plus free text for humans.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct BanReason {
    /// Lowercase reason token, e.g. `spam`, `abuse`, `fraud`, `brute-force`,
    /// `compromised`, `maintenance`. Applications may map it to their own texts.
    #[schemars(length(min = 1, max = 63))]
    #[x_kube(validation = kube::core::Rule::new(TOKEN_RULE)
        .message(kube::core::Message::Expression("'reason.code ' + self + ' must be a lowercase token such as spam, abuse or brute-force'".into())))]
    pub code: String,

    /// Free-form notes for moderators (line breaks allowed, no other control
    /// characters). Never published in the blocklist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    #[x_kube(validation = kube::core::Rule::new(TEXT_RULE)
        .message("reason.notes must not contain control characters other than line feeds and tabs"))]
    pub notes: Option<String>,

    /// Optional link to a ticket or report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    #[x_kube(validation = kube::core::Rule::new(ONE_LINE_RULE)
        .message("reason.reference must be one line without control characters"))]
    pub reference: Option<String>,
}

/// One context in which a feature block applies, in the application's own vocabulary.
#[derive(
    Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, KubeSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct Scope {
    /// Kind of context, a lowercase token: `academy`, `cohort`, `page`, `service`, ...
    #[schemars(length(min = 1, max = 63))]
    #[x_kube(validation = kube::core::Rule::new(TOKEN_RULE)
        .message(kube::core::Message::Expression("'scope kind ' + self + ' must be a lowercase token such as academy, cohort or page'".into())))]
    pub kind: String,

    /// Name of the context, matched exactly, e.g. `downtown-miami` or `/posts/42`.
    /// One line, without control characters.
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = kube::core::Rule::new(ONE_LINE_RULE)
        .message("scope name must be one line without control characters"))]
    pub name: String,
}

/// Whether and how the subject may appeal.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Appeal {
    /// The subject may appeal this ban.
    #[serde(default)]
    pub allowed: bool,

    /// How to appeal, shown to the subject by the application (published in the
    /// blocklist; line breaks allowed, no other control characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    #[x_kube(validation = kube::core::Rule::new(TEXT_RULE)
        .message("appeal.instructions must not contain control characters other than line feeds and tabs"))]
    pub instructions: Option<String>,
}

/// Ends a ban early and for good, keeping the object for the record. Once the
/// operator has honoured it (`status.liftedAt`), removing it again does not
/// bring the ban back: create a new ban instead.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Lift {
    /// Why the ban is lifted (line breaks allowed, no other control characters).
    #[schemars(length(min = 1, max = 1024))]
    #[x_kube(validation = kube::core::Rule::new(TEXT_RULE)
        .message("lift.reason must not contain control characters other than line feeds and tabs"))]
    pub reason: String,

    /// Who lifted it (a moderator's name or ticket).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    #[x_kube(validation = kube::core::Rule::new(ONE_LINE_RULE)
        .message("lift.by must be one line without control characters"))]
    pub by: Option<String>,
}

/// Where to reach the subject when the subject itself is not an email address.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    /// Email address for notifications about this ban. Never published in the blocklist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 3, max = 254))]
    #[x_kube(validation = kube::core::Rule::new("self.matches('^\\\\s*[^@\\\\s]+@[^@\\\\s]+\\\\s*$')")
        .message(kube::core::Message::Expression("'contact.email ' + self + ' must look like name@domain'".into())))]
    #[x_kube(validation = kube::core::Rule::new(ONE_LINE_RULE)
        .message("contact.email must be one line without control characters"))]
    pub email: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::duration::MAX_DURATION_SECONDS;

    #[test]
    fn the_cel_bounds_are_the_cores() {
        for rule in [DURATION_BOUND_RULE, REVIEW_AFTER_BOUND_RULE] {
            assert!(
                rule.ends_with(&format!(" <= {MAX_DURATION_SECONDS}")),
                "{rule}"
            );
        }
        let latest_start = chrono::DateTime::parse_from_rfc3339("9899-01-01T00:00:00Z").unwrap();
        let longest = chrono::Duration::seconds(MAX_DURATION_SECONDS);
        assert!(latest_start + longest <= crate::core::schedule::latest_time());
        assert!(STARTS_BEFORE_9899_RULE.contains("9899-01-01T00:00:00Z"));
    }
}
