//! `why`: the answer an application would get for one request, read straight
//! from the namespace's blocklist ConfigMaps (every shard) with the readers'
//! own loader and index, so no mounted directory is needed and the answer is
//! the one `interdict check` gives on the same data.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{ArgGroup, Args};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;

use super::error::{PluginError, Result};
use super::output::{self, OutputFormat};
use super::session::{GlobalArgs, Session};
use super::table;
use super::timing::parse_time;
use crate::core::{Decision, Index, Query, Scope};

#[derive(Args, Debug, Clone)]
#[command(group(ArgGroup::new("who").required(true).multiple(true).args(["user", "username", "email", "ip", "key"])))]
pub struct WhyArgs {
    /// The subject's user id.
    #[arg(long, value_name = "ID")]
    pub user: Option<String>,

    /// The subject's user name.
    #[arg(long, value_name = "NAME")]
    pub username: Option<String>,

    /// The subject's email address (hashed here; it is compared, never sent).
    #[arg(long, value_name = "ADDRESS")]
    pub email: Option<String>,

    /// The client's IP address.
    #[arg(long, value_name = "IP")]
    pub ip: Option<IpAddr>,

    /// The subject's signing-key fingerprint.
    #[arg(long, value_name = "FINGERPRINT")]
    pub key: Option<String>,

    /// The feature the subject wants to use.
    #[arg(long, value_name = "FEATURE")]
    pub feature: String,

    /// A context of the request, e.g. academy=downtown-miami (repeatable).
    #[arg(long = "scope", value_name = "KIND=NAME", value_parser = Scope::parse_pair)]
    pub scopes: Vec<Scope>,

    /// Decide as of this time (RFC 3339 or a date) instead of now.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub at: Option<DateTime<Utc>>,

    /// The blocklist ConfigMap's name (the operator's --blocklist-name).
    #[arg(long, value_name = "NAME", default_value = "interdict-blocklist")]
    pub blocklist_name: String,
}

impl WhyArgs {
    pub fn query(&self) -> Query {
        Query {
            user_id: self.user.clone(),
            username: self.username.clone(),
            email: self.email.clone(),
            ip: self.ip,
            key_fingerprint: self.key.clone(),
            feature: self.feature.clone(),
            scopes: self.scopes.clone(),
        }
    }
}

/// How many shards the first document says the blocklist has.
pub fn shard_count(documents: &BTreeMap<String, String>) -> u32 {
    documents
        .get("blocklist.json")
        .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
        .and_then(|doc| doc["shard"]["count"].as_u64())
        .and_then(|count| u32::try_from(count).ok())
        .unwrap_or(1)
        .clamp(1, 256)
}

/// The answer for people: the verdict, the ban behind it, then the notices.
pub fn render(decision: &Decision, subject: &str, feature: &str, at: DateTime<Utc>) -> String {
    let verdict = if decision.allowed {
        "ALLOWED"
    } else {
        "DENIED"
    };
    let mut out = format!(
        "{verdict}: {subject} {} {feature} at {}\n",
        if decision.allowed {
            "may use"
        } else {
            "may not use"
        },
        table::time(Some(at))
    );
    let mut facts: Vec<Vec<String>> = Vec::new();
    let mut fact = |key: &str, value: Option<String>| {
        if let Some(value) = value {
            facts.push(vec![format!("{key}:"), value]);
        }
    };
    fact("Ban", decision.ban.clone());
    fact("Mode", decision.mode.clone());
    fact("Reason", decision.reason.clone());
    fact("Message", decision.message.clone());
    fact("From", decision.from.map(|t| table::time(Some(t))));
    if decision.ban.is_some() {
        fact(
            "Until",
            Some(
                decision
                    .until
                    .map_or("permanent".into(), |t| table::time(Some(t))),
            ),
        );
    }
    fact(
        "Revoke sessions before",
        decision
            .revoke_sessions_before
            .map(|t| table::time(Some(t))),
    );
    fact(
        "Content",
        decision
            .content_hidden
            .then(|| "hidden from others (silenced)".to_string()),
    );
    fact("Appeal", decision.appeal_instructions.clone());
    if !facts.is_empty() {
        for line in table::render(&["", ""], &facts).lines().skip(1) {
            out.push_str(&format!("  {line}\n"));
        }
    }
    if !decision.notices.is_empty() {
        out.push_str("Notices:\n");
        let rows: Vec<Vec<String>> = decision
            .notices
            .iter()
            .map(|n| {
                vec![
                    n.ban.clone(),
                    n.mode.clone(),
                    format!("{:?}", n.phase),
                    n.reason.clone(),
                    table::time(Some(n.from)),
                    n.until.map_or("permanent".into(), |t| table::time(Some(t))),
                    n.features.as_ref().map_or("-".into(), |f| f.join(",")),
                ]
            })
            .collect();
        let notices = table::render(
            &[
                "BAN", "MODE", "PHASE", "REASON", "FROM", "UNTIL", "FEATURES",
            ],
            &rows,
        );
        for line in notices.lines() {
            out.push_str(&format!("  {line}\n"));
        }
    }
    out
}

/// Every shard's data, keyed by file name (shard files have distinct names).
async fn documents(
    client: &kube::Client,
    namespace: &str,
    base: &str,
) -> Result<BTreeMap<String, String>> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let first = api.get_opt(base).await?.ok_or_else(|| {
        PluginError::failed(format!(
            "namespace {namespace} has no ConfigMap {base}: it has no bans yet, or the operator does not run for it"
        ))
    })?;
    let mut documents = first.data.unwrap_or_default();
    for index in 1..shard_count(&documents) {
        let name = format!("{base}-{index}");
        // A missing shard is left for the loader to name as such.
        if let Some(shard) = api.get_opt(&name).await? {
            documents.extend(shard.data.unwrap_or_default());
        }
    }
    Ok(documents)
}

/// The decision an application of `namespace` would get for `query` at `at`,
/// from the blocklist ConfigMaps named `base` (every shard), with the items
/// the reader skipped (each one described).
pub async fn decide(
    client: &kube::Client,
    namespace: &str,
    base: &str,
    query: &Query,
    at: DateTime<Utc>,
) -> Result<(Decision, Vec<String>)> {
    let documents = documents(client, namespace, base).await?;
    let shown = PathBuf::from(format!("configmaps/{namespace}"));
    let loaded = crate::reader::load_texts(&shown, &documents)
        .map_err(|e| PluginError::failed(format!("cannot read the blocklist: {e}")))?;
    let skipped = loaded.skipped.iter().map(ToString::to_string).collect();
    Ok((Index::new(loaded.contents).decide(query, at), skipped))
}

pub async fn run(global: &GlobalArgs, args: &WhyArgs) -> Result<()> {
    use OutputFormat::*;
    let format = output::choose(global.output, &[Table, Json, Yaml], "why")?;
    let session = Session::connect(global).await?;
    let at = args.at.unwrap_or_else(Utc::now);
    let (decision, skipped) = decide(
        &session.client,
        &session.namespace,
        &args.blocklist_name,
        &args.query(),
        at,
    )
    .await?;
    for skipped in &skipped {
        eprintln!("warning: {skipped}; item skipped, the rest of the document is in force");
    }
    match format {
        Table => {
            let subject = subject_shown(args);
            print!("{}", render(&decision, &subject, &args.feature, at));
        }
        other => print!("{}", output::serialise(&decision, other)),
    }
    Ok(())
}

/// The identifiers asked about, emails hashed.
fn subject_shown(args: &WhyArgs) -> String {
    let mut parts = Vec::new();
    if let Some(v) = &args.user {
        parts.push(format!("userId:{v}"));
    }
    if let Some(v) = &args.username {
        parts.push(format!("username:{v}"));
    }
    if let Some(v) = &args.email {
        let hash = crate::core::email::parse_email_hash(v)
            .unwrap_or_else(|| crate::core::email::hash_email(v));
        parts.push(format!("email:{hash}"));
    }
    if let Some(v) = &args.ip {
        parts.push(format!("ip:{v}"));
    }
    if let Some(v) = &args.key {
        parts.push(format!("keyFingerprint:{v}"));
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::document::{Shard, render_shard};
    use crate::core::entry::fixtures::{at, user_ban};
    use crate::core::{Mode, SubjectKey};

    #[test]
    fn every_shard_named_by_the_first_document_is_read() {
        let mut all = BTreeMap::new();
        for index in 0..2 {
            let entry = user_ban(
                &format!("UserBan/b{index}"),
                SubjectKey::UserId(format!("{index}")),
                Mode::Suspend,
            );
            all.extend(render_shard(
                "apps",
                vec![entry].into(),
                at(0),
                Shard { index, count: 2 },
            ));
        }
        assert_eq!(shard_count(&all), 2);
        let loaded = crate::reader::load_texts(&PathBuf::from("configmaps/apps"), &all).unwrap();
        let query = |user: &str| Query {
            user_id: Some(user.into()),
            feature: "login".into(),
            ..Query::default()
        };
        let index = Index::new(loaded.contents);
        assert_eq!(
            index.decide(&query("1"), at(10)).ban.as_deref(),
            Some("UserBan/b1")
        );
        assert!(index.decide(&query("9"), at(10)).allowed);
        assert_eq!(shard_count(&BTreeMap::new()), 1);
    }

    #[test]
    fn a_denial_reads_as_a_verdict_then_its_ban() {
        let mut decision = Decision::allow();
        decision.allowed = false;
        decision.ban = Some("UserBan/spam-user-1".into());
        decision.mode = Some("Suspend".into());
        decision.reason = Some("spam".into());
        let now = parse_time("2026-11-21T10:00:00Z").unwrap();
        let text = render(&decision, "userId:1", "comments", now);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "DENIED: userId:1 may not use comments at 2026-11-21T10:00:00Z"
        );
        let fact = |key: &str| {
            let line = lines.iter().find(|l| l.trim_start().starts_with(key));
            line.map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
        };
        assert_eq!(
            fact("Ban:").as_deref(),
            Some("UserBan/spam-user-1"),
            "{text}"
        );
        assert_eq!(fact("Until:").as_deref(), Some("permanent"), "{text}");
        assert_eq!(fact("Message:"), None, "{text}");
        let allowed = render(&Decision::allow(), "userId:2", "comments", now);
        assert_eq!(allowed.lines().count(), 1, "{allowed}");
    }
}
