//! The appeal queue (the plugin's `appeals`: open appeals, oldest first) with
//! an approve/deny form and notes beside each; a decision is the plugin's
//! `decide`, recorded with the moderator as reviewer.

use std::collections::BTreeMap;

use kube::api::{Api, ListParams};

use super::search::{FIELD_MANAGER, time};
use crate::api::{AppealDecision, AppealOutcome, BanAppeal};
use crate::console::html::{self, Nav, csrf_field, esc};
use crate::console::routes::Ctx;
use crate::console::server::Reply;
use crate::plugin::PluginError;
use crate::plugin::appeals::{QueueRow, decide as decide_appeal, queue};
use crate::plugin::bans::{Where, short_kind};

fn decide_form(row: &QueueRow, csrf: &str) -> String {
    let id = format!("notes-{}-{}", row.namespace, row.name);
    format!(
        "<form method=\"post\" action=\"/decide\">{csrf}\
         <input type=\"hidden\" name=\"namespace\" value=\"{ns}\">\
         <input type=\"hidden\" name=\"name\" value=\"{name}\">\
         <label for=\"{id}\" class=\"visually-hidden\">Notes on appeal {name}</label>\
         <input id=\"{id}\" name=\"notes\" placeholder=\"Notes (sent with the decision)\">\
         <button type=\"submit\" name=\"outcome\" value=\"approve\" id=\"approve-{name}\">Approve</button>\
         <button type=\"submit\" name=\"outcome\" value=\"deny\" class=\"danger\" id=\"deny-{name}\">Deny</button></form>",
        csrf = csrf_field(csrf),
        ns = esc(&row.namespace),
        name = esc(&row.name),
        id = esc(&id),
    )
}

/// The queue as a table.
pub fn render(rows: &[QueueRow], csrf: &str) -> String {
    if rows.is_empty() {
        return "<p id=\"no-appeals\">No open appeals in the namespaces you may read.</p>".into();
    }
    let lines: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            vec![
                esc(&row.namespace),
                esc(&row.name),
                format!("{}/{}", short_kind(row.ban_kind), esc(&row.ban)),
                esc(&row.statement),
                time(row.created),
                decide_form(row, csrf),
            ]
        })
        .collect();
    html::table(
        "Open appeals, oldest first",
        &[
            "Namespace",
            "Appeal",
            "Ban",
            "Statement",
            "Filed",
            "Decision",
        ],
        &lines,
    )
}

/// `GET /appeals`, with `notice` on top when a decision was just made.
pub async fn get(ctx: &Ctx<'_>, notice: Option<String>) -> Reply {
    let (appeals, problems) = ctx
        .across(|place: Where| {
            let client = ctx.client.clone();
            async move {
                let api: Api<BanAppeal> = match &place {
                    Where::Namespace(ns) => Api::namespaced(client, ns),
                    Where::All => Api::all(client),
                };
                Ok::<_, PluginError>(api.list(&ListParams::default()).await?.items)
            }
        })
        .await;
    let mut body = notice.unwrap_or_default();
    for problem in problems {
        body.push_str(&html::notice(false, &problem));
    }
    body.push_str(&render(&queue(&appeals), &ctx.csrf));
    ctx.page("Appeals", Nav::Appeals, &body)
}

/// `POST /decide`: approve (the operator lifts the ban) or deny.
pub async fn decide(ctx: &Ctx<'_>, form: &BTreeMap<String, String>) -> Reply {
    let get = |k: &str| form.get(k).map_or("", String::as_str);
    let outcome = match get("outcome") {
        "approve" => AppealOutcome::Approved,
        "deny" => AppealOutcome::Denied,
        _ => {
            let notice = html::notice(false, "Choose Approve or Deny.");
            return get_page(ctx, notice).await;
        }
    };
    let notes = Some(get("notes").trim().to_string()).filter(|n| !n.is_empty());
    if notes.as_ref().is_some_and(|n| n.chars().count() > 4096) {
        let notice = html::notice(false, "The notes are longer than 4096 characters.");
        return get_page(ctx, notice).await;
    }
    let decision = AppealDecision {
        outcome,
        reviewer: ctx.actor.clone(),
        notes,
    };
    let name = get("name");
    let notice = match decide_appeal(
        &ctx.client,
        get("namespace"),
        name,
        &decision,
        FIELD_MANAGER,
    )
    .await
    {
        Ok((appeal, _)) => {
            let effect = match outcome {
                AppealOutcome::Approved => format!(
                    "approved: the operator lifts {}/{}",
                    short_kind(appeal.spec.ban_ref.kind),
                    appeal.spec.ban_ref.name
                ),
                AppealOutcome::Denied => "denied: the ban stays".to_string(),
            };
            html::notice(true, &format!("Appeal {name} {effect}."))
        }
        Err(error) => html::notice(false, &error.to_string()),
    };
    get_page(ctx, notice).await
}

async fn get_page(ctx: &Ctx<'_>, notice: String) -> Reply {
    get(ctx, Some(notice)).await
}
