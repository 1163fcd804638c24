//! The filter flags of `interdict audit`, parsed as a reviewer writes them
//! (kinds by any of kubectl's names, phases in any case, subjects hashed
//! or normalised at once) into a `crate::audit::report::Filter`.

use chrono::{DateTime, Utc};
use clap::Args;

use crate::audit::report::identifier::IdentifierError;
use crate::audit::report::record::KINDS;
use crate::audit::report::{Filter, Identifier, Origin, Window};

fn parse_since(text: &str) -> Result<chrono::Duration, String> {
    crate::core::duration::parse_duration(text).map_err(|e| e.to_string())
}

pub(crate) fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| "not an RFC 3339 time such as 2026-11-01T00:00:00Z".to_string())
}

/// A kind as the API, kubectl's plural or short name spells it.
fn parse_kind(text: &str) -> Result<String, String> {
    let lower = text.to_ascii_lowercase();
    let kind = match lower.as_str() {
        "userban" | "userbans" | "ub" => "UserBan",
        "featureblock" | "featureblocks" | "fb" => "FeatureBlock",
        "banappeal" | "banappeals" | "bap" => "BanAppeal",
        "banexemption" | "banexemptions" | "bex" => "BanExemption",
        "banpolicy" | "banpolicies" | "bp" => "BanPolicy",
        _ => return Err(format!("one of {}", KINDS.join(", "))),
    };
    Ok(kind.to_string())
}

const OUTCOMES: [&str; 10] = [
    "Active",
    "Expired",
    "Lifted",
    "Scheduled",
    "Exempted",
    "Deleted",
    "Pending",
    "Approved",
    "Denied",
    "Refused",
];

fn parse_outcome(text: &str) -> Result<String, String> {
    OUTCOMES
        .iter()
        .find(|o| o.eq_ignore_ascii_case(text))
        .map(|o| o.to_string())
        .ok_or_else(|| format!("one of {}", OUTCOMES.join(", ")))
}

type MakeIdentifier = fn(&str) -> Result<Identifier, IdentifierError>;

/// A value parser for one subject flag, so clap names the flag in its error.
pub(crate) fn identifier(
    make: MakeIdentifier,
) -> impl Fn(&str) -> Result<Identifier, String> + Clone {
    move |text| make(text).map_err(|e| e.to_string())
}

#[derive(Args, Debug, Clone, Default)]
pub struct FilterArgs {
    /// Only what happened in this last stretch of time: 30m, 12h, 7d, 2w.
    #[arg(long, value_name = "DURATION", value_parser = parse_since, conflicts_with = "from")]
    pub since: Option<chrono::Duration>,

    /// Only what happened at or after this time (RFC 3339).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub from: Option<DateTime<Utc>>,

    /// Only what happened before this time (RFC 3339).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub to: Option<DateTime<Utc>>,

    /// Only this reason code (spam, fraud, ...); repeat for several.
    #[arg(long = "reason", value_name = "CODE")]
    pub reasons: Vec<String>,

    /// Only objects this user created, lifted or decided, and rows naming them; repeatable.
    #[arg(long = "actor", value_name = "USER")]
    pub actors: Vec<String>,

    /// Only this subject's user id; repeatable, like the other subject flags.
    #[arg(long = "user", value_name = "ID", value_parser = identifier(Identifier::user_id))]
    pub users: Vec<Identifier>,

    /// Only this username.
    #[arg(long = "username", value_name = "NAME", value_parser = identifier(Identifier::username))]
    pub usernames: Vec<Identifier>,

    /// Only this email address, as typed (hashed before it is compared) or as sha256:HEX.
    #[arg(long = "email", value_name = "ADDRESS", value_parser = identifier(Identifier::email))]
    pub emails: Vec<Identifier>,

    /// Only this IP address or CIDR: bans on any overlapping address or range.
    #[arg(long = "ip", value_name = "IP", value_parser = identifier(Identifier::ip))]
    pub ips: Vec<Identifier>,

    /// Only this signing-key fingerprint.
    #[arg(long = "key", value_name = "FP", value_parser = identifier(Identifier::key_fingerprint))]
    pub keys: Vec<Identifier>,

    /// Only this subject as rows print it: userId:42, email:sha256:HEX, ip:10.0.0.0/8.
    #[arg(long = "subject", value_name = "KIND:VALUE", value_parser = identifier(Identifier::published))]
    pub subjects: Vec<Identifier>,

    /// Only this kind (UserBan, ub, userbans, FeatureBlock, BanAppeal, BanExemption, BanPolicy); repeatable.
    #[arg(long = "kind", value_name = "KIND", value_parser = parse_kind)]
    pub kinds: Vec<String>,

    /// Only objects in this phase: Active, Expired, Lifted, Scheduled, Exempted,
    /// Deleted; Pending, Approved, Denied, Refused for appeals. Repeatable.
    #[arg(long = "outcome", value_name = "PHASE", value_parser = parse_outcome)]
    pub outcomes: Vec<String>,

    /// Only bans a BanPolicy made (label interdict.dev/policy), and their appeals.
    #[arg(long, conflicts_with = "manual")]
    pub automatic: bool,

    /// Only bans a person made, and their appeals.
    #[arg(long)]
    pub manual: bool,
}

impl FilterArgs {
    /// The filters given, for the report's scope (`reason spam; automatic`);
    /// subjects in their published form, so an address is shown hashed.
    pub fn describe(&self) -> Option<String> {
        let mut parts = Vec::new();
        let mut list = |name: &str, values: Vec<String>| {
            if !values.is_empty() {
                parts.push(format!("{name} {}", values.join(", ")));
            }
        };
        list("reason", self.reasons.clone());
        list("actor", self.actors.clone());
        let subjects = [
            &self.users,
            &self.usernames,
            &self.emails,
            &self.ips,
            &self.keys,
            &self.subjects,
        ];
        list(
            "subject",
            subjects
                .into_iter()
                .flatten()
                .map(|s| s.to_string())
                .collect(),
        );
        list("kind", self.kinds.clone());
        list("outcome", self.outcomes.clone());
        if self.automatic {
            parts.push("automatic".into());
        }
        if self.manual {
            parts.push("manual".into());
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }

    /// The filter, with `--since` counted back from `now`; an error names the flags.
    pub fn filter(&self, now: DateTime<Utc>) -> Result<Filter, String> {
        let from = self.since.map(|since| now - since).or(self.from);
        if let (Some(from), Some(to)) = (from, self.to)
            && from >= to
        {
            let start = if self.since.is_some() {
                "--since"
            } else {
                "--from"
            };
            return Err(format!("{start} must start before --to"));
        }
        let subjects = [
            &self.users,
            &self.usernames,
            &self.emails,
            &self.ips,
            &self.keys,
            &self.subjects,
        ]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
        Ok(Filter {
            window: Window { from, to: self.to },
            reasons: self.reasons.clone(),
            actors: self.actors.clone(),
            subjects,
            kinds: self.kinds.clone(),
            outcomes: self.outcomes.clone(),
            origin: match (self.automatic, self.manual) {
                (true, _) => Some(Origin::Automatic),
                (_, true) => Some(Origin::Manual),
                _ => None,
            },
        })
    }
}
