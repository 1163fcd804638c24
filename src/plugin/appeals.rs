//! `appeals`: the queue of appeals waiting for a reviewer, and `decide`: a
//! reviewer's final answer (`spec.decision`). Setting a decision needs the
//! `decide` verb on banappeals; a refusal is explained, not just relayed.

use chrono::{DateTime, Utc};
use clap::{ArgGroup, Args};
use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde::Serialize;

use super::bans::{FIELD_MANAGER, Where, short_kind};
use super::error::{PluginError, Result};
use super::output::{self, OutputFormat};
use super::session::{GlobalArgs, Session};
use super::table;
use crate::api::{AppealDecision, AppealOutcome, AppealPhase, BanAppeal, BanKind};

#[derive(Args, Debug, Clone)]
pub struct AppealsArgs {
    /// The queue of every namespace.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
}

#[derive(Args, Debug, Clone)]
#[command(group(ArgGroup::new("outcome").required(true).args(["approve", "deny"])))]
pub struct DecideArgs {
    /// The appeal: NAME or bap/NAME.
    #[arg(value_name = "APPEAL")]
    pub appeal: String,

    /// Approve: the operator lifts the ban.
    #[arg(long)]
    pub approve: bool,

    /// Deny: the ban stays.
    #[arg(long)]
    pub deny: bool,

    /// Why, for the record and the subject's notification.
    #[arg(long, value_name = "TEXT")]
    pub notes: Option<String>,

    /// The reviewer's name, recorded in spec.decision.reviewer. Default: the
    /// kubeconfig context's user. The API server records the authenticated
    /// user itself (interdict.dev/decided-by).
    #[arg(long, value_name = "NAME")]
    pub reviewer: Option<String>,
}

/// One appeal waiting for a decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueRow {
    pub namespace: String,
    pub name: String,
    pub ban_kind: BanKind,
    pub ban: String,
    pub statement: String,
    pub created: Option<DateTime<Utc>>,
}

/// Open: no decision yet, and accepted (`Pending`) or not yet seen by the
/// operator (no status).
pub fn is_open(appeal: &BanAppeal) -> bool {
    let phase = appeal.status.as_ref().and_then(|s| s.phase);
    appeal.spec.decision.is_none() && matches!(phase, None | Some(AppealPhase::Pending))
}

pub fn queue(appeals: &[BanAppeal]) -> Vec<QueueRow> {
    let mut rows: Vec<QueueRow> = appeals
        .iter()
        .filter(|a| is_open(a))
        .map(|a| QueueRow {
            namespace: a.namespace().unwrap_or_default(),
            name: a.name_any(),
            ban_kind: a.spec.ban_ref.kind,
            ban: a.spec.ban_ref.name.clone(),
            statement: a.spec.statement.clone(),
            created: a
                .metadata
                .creation_timestamp
                .as_ref()
                .and_then(|t| DateTime::from_timestamp(t.0.as_second(), 0)),
        })
        .collect();
    // Oldest first: the queue is worked from the front.
    rows.sort_by(|a, b| {
        (a.created, &a.namespace, &a.name).cmp(&(b.created, &b.namespace, &b.name))
    });
    rows
}

pub fn render(rows: &[QueueRow], all_namespaces: bool, now: DateTime<Utc>) -> String {
    let mut headers = vec!["NAME", "BAN", "STATEMENT", "AGE"];
    if all_namespaces {
        headers.insert(0, "NAMESPACE");
    }
    let lines: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let mut line = vec![
                row.name.clone(),
                format!("{}/{}", short_kind(row.ban_kind), row.ban),
                table::truncate(&row.statement, 60),
                row.created
                    .map_or_else(|| "-".into(), |c| table::age(c, now)),
            ];
            if all_namespaces {
                line.insert(0, row.namespace.clone());
            }
            line
        })
        .collect();
    table::render(&headers, &lines)
}

pub async fn run_queue(global: &GlobalArgs, args: &AppealsArgs) -> Result<()> {
    use OutputFormat::*;
    let format = output::choose(global.output, &[Table, Json, Yaml], "appeals")?;
    let session = Session::connect(global).await?;
    let place = Where::of(&session.namespace, args.all_namespaces);
    let api: Api<BanAppeal> = match &place {
        Where::Namespace(ns) => Api::namespaced(session.client.clone(), ns),
        Where::All => Api::all(session.client.clone()),
    };
    let appeals = api.list(&ListParams::default()).await?.items;
    let rows = queue(&appeals);
    match format {
        Table if rows.is_empty() => eprintln!("No open appeals {}.", place.describe()),
        Table => print!("{}", render(&rows, args.all_namespaces, Utc::now())),
        other => print!("{}", output::serialise(&rows, other)),
    }
    Ok(())
}

/// The appeal's name from `NAME` or `bap/NAME` (`banappeal/…`, `banappeals.interdict.dev/…`).
pub fn appeal_name(reference: &str) -> std::result::Result<&str, String> {
    let name = match reference.split_once('/') {
        None => reference,
        Some((kind, name)) => match kind.to_ascii_lowercase().as_str() {
            "bap"
            | "banappeal"
            | "banappeals"
            | "banappeal.interdict.dev"
            | "banappeals.interdict.dev" => name,
            other => return Err(format!("{other:?} is not an appeal: use bap/NAME")),
        },
    };
    if name.is_empty() {
        return Err(format!("{reference:?} names no appeal"));
    }
    Ok(name)
}

/// Why a refusal to set a decision happened, in words a reviewer can act on.
pub fn refusal(namespace: &str, server_message: &str) -> String {
    format!(
        "you may not decide appeals in namespace {namespace}: deciding needs the decide verb on \
         banappeals.interdict.dev there (check with: kubectl auth can-i decide \
         banappeals.interdict.dev -n {namespace}). The API server said: {server_message}"
    )
}

/// Sets an appeal's `spec.decision` (final: a decided or refused appeal is
/// left alone), with `manager` as the field manager. Returns the appeal as it
/// was and as stored; a 403 is explained in words a reviewer can act on.
pub async fn decide(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    decision: &AppealDecision,
    manager: &str,
) -> Result<(BanAppeal, BanAppeal)> {
    let api: Api<BanAppeal> = Api::namespaced(client.clone(), namespace);
    let appeal = api.get_opt(name).await?.ok_or_else(|| {
        PluginError::failed(format!(
            "no BanAppeal named {name} in namespace {namespace}"
        ))
    })?;
    if let Some(decision) = &appeal.spec.decision {
        return Err(PluginError::failed(format!(
            "appeal {name} was decided already ({:?} by {}); decisions are final",
            decision.outcome, decision.reviewer
        )));
    }
    if appeal.status.as_ref().and_then(|s| s.phase) == Some(AppealPhase::Refused) {
        return Err(PluginError::failed(format!(
            "appeal {name} was refused by the operator (see kubectl describe bap {name}); there is nothing to decide"
        )));
    }
    let patch = Patch::Merge(serde_json::json!({ "spec": { "decision": decision } }));
    let params = PatchParams {
        field_manager: Some(manager.to_string()),
        ..PatchParams::default()
    };
    let stored = match api.patch(name, &params, &patch).await {
        Err(kube::Error::Api(status)) if status.code == 403 => {
            return Err(PluginError::failed(refusal(namespace, &status.message)));
        }
        other => other?,
    };
    Ok((appeal, stored))
}

pub async fn run_decide(global: &GlobalArgs, args: &DecideArgs) -> Result<()> {
    use OutputFormat::*;
    let format = output::choose(global.output, &[Table, Json, Yaml], "decide")?;
    let name = appeal_name(&args.appeal).map_err(PluginError::usage)?;
    if args
        .notes
        .as_ref()
        .is_some_and(|n| n.chars().count() > 4096)
    {
        return Err(PluginError::usage("--notes is longer than 4096 characters"));
    }
    let session = Session::connect(global).await?;
    let reviewer = session.actor(args.reviewer.as_deref(), "--reviewer")?;
    if reviewer.chars().count() > 253 || super::subject::has_control(&reviewer) {
        return Err(PluginError::usage(
            "--reviewer must be one line of at most 253 characters",
        ));
    }
    let outcome = if args.approve {
        AppealOutcome::Approved
    } else {
        AppealOutcome::Denied
    };
    let decision = AppealDecision {
        outcome,
        reviewer,
        notes: args.notes.clone(),
    };
    let (appeal, stored) = decide(
        &session.client,
        &session.namespace,
        name,
        &decision,
        FIELD_MANAGER,
    )
    .await?;
    match format {
        Table => {
            let effect = match outcome {
                AppealOutcome::Approved => format!(
                    "the operator lifts {}/{}",
                    short_kind(appeal.spec.ban_ref.kind),
                    appeal.spec.ban_ref.name
                ),
                AppealOutcome::Denied => "the ban stays".to_string(),
            };
            println!(
                "banappeal.interdict.dev/{name} {}: {effect}",
                format!("{outcome:?}").to_lowercase()
            );
        }
        other => print!("{}", output::serialise(&stored, other)),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn appeal(name: &str, created: &str, extra: &str) -> BanAppeal {
        serde_yaml::from_str(&format!(
            "apiVersion: interdict.dev/v1alpha1\nkind: BanAppeal\nmetadata: {{name: {name}, namespace: apps, creationTimestamp: '{created}'}}\nspec:\n  banRef: {{kind: UserBan, name: spam-user-1}}\n  statement: \"It was my brother.\\nSorry.\"\n{extra}"
        ))
        .unwrap()
    }

    #[test]
    fn the_queue_holds_open_appeals_oldest_first() {
        let appeals = [
            appeal("new", "2026-11-21T11:00:00Z", ""),
            appeal("old", "2026-11-21T10:00:00Z", "status: {phase: Pending}\n"),
            appeal(
                "refused",
                "2026-11-21T09:00:00Z",
                "status: {phase: Refused}\n",
            ),
            appeal(
                "decided",
                "2026-11-21T09:00:00Z",
                "  decision: {outcome: Denied, reviewer: ann}\nstatus: {phase: Pending}\n",
            ),
        ];
        let rows = queue(&appeals);
        let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["old", "new"]);
        let now = crate::plugin::timing::parse_time("2026-11-21T12:00:00Z").unwrap();
        let text = render(&rows, false, now);
        assert_eq!(
            text.lines().nth(1).unwrap(),
            "old    ub/spam-user-1   It was my brother. Sorry.   120m"
        );
    }

    #[test]
    fn appeals_are_named_like_kubectl_resources() {
        assert_eq!(appeal_name("a1"), Ok("a1"));
        assert_eq!(appeal_name("bap/a1"), Ok("a1"));
        assert!(appeal_name("ub/a1").is_err());
        assert!(appeal_name("bap/").is_err());
    }

    #[test]
    fn a_refusal_says_what_is_missing() {
        let text = refusal("apps", "spec.decision: x may not decide appeals");
        assert!(text.contains("decide verb"));
        assert!(text.contains("kubectl auth can-i decide banappeals.interdict.dev -n apps"));
        assert!(text.ends_with("x may not decide appeals"));
    }
}
