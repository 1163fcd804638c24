//! `who` (alias `history`): a subject's whole record, bans and blocks, in
//! force or ended, with who created and lifted each and where its appeal
//! stands.

use chrono::Utc;
use clap::{ArgGroup, Args};
use kube::api::{Api, ListParams};

use super::bans::{self, Where, short_kind};
use super::error::{PluginError, Result};
use super::output::{self, OutputFormat};
use super::session::{GlobalArgs, Session};
use super::subject::{SubjectArgs, escape_selector_value};
use super::table;
use super::view::{AnyBan, HistoryRow};
use crate::api::BanAppeal;

#[derive(Args, Debug, Clone)]
#[command(group(ArgGroup::new("who").required(true).args(["user", "username", "email", "ip", "key"])))]
pub struct WhoArgs {
    #[command(flatten)]
    pub subject: SubjectArgs,

    /// Look in every namespace.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
}

/// Where a ban's appeal stands: the latest appeal's phase (`Pending` before
/// the operator has seen it), else `allowed` when one may be filed, else `-`.
pub fn appeal_state(ban: &AnyBan, appeals: &[BanAppeal]) -> String {
    let latest = appeals
        .iter()
        .filter(|a| a.spec.ban_ref.kind == ban.kind() && a.spec.ban_ref.name == ban.name())
        .max_by_key(|a| a.metadata.creation_timestamp.clone());
    match latest {
        Some(appeal) => appeal
            .status
            .as_ref()
            .and_then(|s| s.phase)
            .map_or_else(|| "Pending".to_string(), |p| format!("{p:?}")),
        None if ban.common().appeal.is_some_and(|a| a.allowed) => "allowed".to_string(),
        None => "-".to_string(),
    }
}

/// The table of a subject's record; the namespace column only across namespaces.
pub fn render(rows: &[HistoryRow], all_namespaces: bool, now: chrono::DateTime<Utc>) -> String {
    let mut headers = vec![
        "NAME",
        "WHAT",
        "PHASE",
        "FROM",
        "UNTIL",
        "REASON",
        "CREATED-BY",
        "LIFTED-BY",
        "APPEAL",
        "AGE",
    ];
    if all_namespaces {
        headers.insert(0, "NAMESPACE");
    }
    let lines: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let mut line = vec![
                format!("{}/{}", short_kind(row.kind), row.name),
                row.what.clone(),
                table::cell(row.phase.as_deref()),
                table::time(row.from),
                row.until
                    .map_or_else(|| "permanent".to_string(), |t| table::time(Some(t))),
                row.reason.clone(),
                table::cell(row.created_by.as_deref()),
                table::cell(row.lifted_by.as_deref()),
                row.appeal.clone(),
                row.created
                    .map_or_else(|| "-".to_string(), |c| table::age(c, now)),
            ];
            if all_namespaces {
                line.insert(0, row.namespace.clone());
            }
            line
        })
        .collect();
    table::render(&headers, &lines)
}

/// A subject's record in `place`: every ban and block, oldest first, each
/// with where its appeal stands.
pub async fn history(
    client: &kube::Client,
    place: &Where,
    subject: &super::subject::SubjectRef,
    typed_ip: Option<&str>,
    lookup: bans::Lookup,
) -> Result<Vec<HistoryRow>> {
    let found = bans::bans_of(client, place, subject, typed_ip, lookup).await?;
    let mut rows = Vec::with_capacity(found.len());
    for ban in &found {
        // Appeals name their ban; a field selector keeps this one small query per ban.
        let appeals: Api<BanAppeal> = Api::namespaced(client.clone(), &ban.namespace());
        let selector = format!("spec.banRef.name={}", escape_selector_value(&ban.name()));
        let appeals = appeals
            .list(&ListParams::default().fields(&selector))
            .await?
            .items;
        rows.push(HistoryRow::of(ban, appeal_state(ban, &appeals)));
    }
    Ok(rows)
}

pub async fn run(global: &GlobalArgs, args: &WhoArgs) -> Result<()> {
    use OutputFormat::*;
    let format = output::choose(global.output, &[Table, Json, Yaml], "who")?;
    let subject = args.subject.required().map_err(PluginError::usage)?;
    let session = Session::connect(global).await?;
    let place = Where::of(&session.namespace, args.all_namespaces);
    let rows = history(
        &session.client,
        &place,
        &subject,
        args.subject.ip.as_deref(),
        global.lookup,
    )
    .await?;
    match format {
        Table if rows.is_empty() => {
            eprintln!(
                "No bans or blocks of {} {}.",
                subject.display(),
                place.describe()
            );
        }
        Table => print!("{}", render(&rows, args.all_namespaces, Utc::now())),
        other => print!("{}", output::serialise(&rows, other)),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::timing::parse_time;

    fn ban(appeal_allowed: bool) -> AnyBan {
        let appeal = if appeal_allowed {
            "  appeal: {allowed: true}\n"
        } else {
            ""
        };
        AnyBan::User(
            serde_yaml::from_str(&format!(
                "apiVersion: interdict.dev/v1alpha1\nkind: UserBan\nmetadata: {{name: b, namespace: apps, creationTimestamp: '2026-11-21T10:00:00Z'}}\nspec:\n  subject: {{userId: '1'}}\n  reason: {{code: spam}}\n{appeal}status: {{phase: Active, effectiveFrom: '2026-11-21T10:00:00Z'}}\n"
            ))
            .unwrap(),
        )
    }

    fn appeal(name: &str, created: &str, phase: Option<&str>) -> BanAppeal {
        let status = phase.map_or(String::new(), |p| format!("status: {{phase: {p}}}\n"));
        serde_yaml::from_str(&format!(
            "apiVersion: interdict.dev/v1alpha1\nkind: BanAppeal\nmetadata: {{name: {name}, creationTimestamp: '{created}'}}\nspec:\n  banRef: {{kind: UserBan, name: b}}\n  statement: please\n{status}"
        ))
        .unwrap()
    }

    #[test]
    fn the_latest_appeal_tells_where_it_stands() {
        assert_eq!(appeal_state(&ban(false), &[]), "-");
        assert_eq!(appeal_state(&ban(true), &[]), "allowed");
        let appeals = [
            appeal("old", "2026-11-21T10:00:00Z", Some("Denied")),
            appeal("new", "2026-11-22T10:00:00Z", None),
        ];
        assert_eq!(appeal_state(&ban(true), &appeals), "Pending");
        assert_eq!(appeal_state(&ban(true), &appeals[..1]), "Denied");
    }

    #[test]
    fn the_table_has_a_namespace_column_only_across_namespaces() {
        let rows = [HistoryRow::of(&ban(true), "allowed".into())];
        let now = parse_time("2026-11-21T12:00:00Z").unwrap();
        let one = render(&rows, false, now);
        let lines: Vec<&str> = one.lines().collect();
        assert!(lines[0].starts_with("NAME "), "{one}");
        assert!(lines[1].starts_with("ub/b "), "{one}");
        for cell in ["Suspend", "Active", "permanent", "spam", "allowed", "120m"] {
            assert!(lines[1].contains(cell), "{cell}: {one}");
        }
        let all = render(&rows, true, now);
        assert!(all.starts_with("NAMESPACE "), "{all}");
        assert!(all.lines().nth(1).unwrap().starts_with("apps "), "{all}");
    }
}
