//! Recent transitions: the operator's Events (Applied, Scheduled, Expired,
//! Lifted, ...) in the namespaces the moderator may read, newest first, with
//! their actor: the one the operator names in the note ("... (by ann)"),
//! else the one the object records (who created or lifted the ban, who
//! decided the appeal), as `kubectl interdict who` reads it.

use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams};

use super::search::time;
use crate::api::BanAppeal;
use crate::console::html::{self, Nav, esc};
use crate::console::routes::Ctx;
use crate::console::server::Reply;
use crate::plugin::PluginError;
use crate::plugin::bans::{Where, kinds, list_bans};
use crate::plugin::view::AnyBan;

/// The operator's `reportingController`.
const OPERATOR: &str = "interdict.dev/operator";
/// How many transitions the page shows.
const SHOWN: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityRow {
    pub time: Option<chrono::DateTime<chrono::Utc>>,
    pub namespace: String,
    pub object: String,
    pub reason: String,
    pub actor: Option<String>,
    pub note: String,
    pub warning: bool,
}

/// The actor a note names at its end: `... (by NAME)`.
pub fn actor_of(note: &str) -> Option<String> {
    let start = note.rfind("(by ")? + 4;
    let rest = note[start..].strip_suffix(')')?;
    Some(rest.to_string()).filter(|a| !a.is_empty())
}

/// The operator's Events as rows, newest first.
pub fn rows(events: &[Event]) -> Vec<ActivityRow> {
    let mut rows: Vec<ActivityRow> = events
        .iter()
        .filter(|e| e.reporting_controller.as_deref() == Some(OPERATOR))
        .map(|e| {
            let regarding = e.regarding.as_ref();
            let note = e.note.clone().unwrap_or_default();
            let time = e
                .event_time
                .as_ref()
                .map(|t| t.0.as_second())
                .or_else(|| {
                    e.metadata
                        .creation_timestamp
                        .as_ref()
                        .map(|t| t.0.as_second())
                })
                .and_then(|s| chrono::DateTime::from_timestamp(s, 0));
            ActivityRow {
                time,
                namespace: e.metadata.namespace.clone().unwrap_or_default(),
                object: regarding.map_or("-".into(), |r| {
                    format!(
                        "{}/{}",
                        r.kind.as_deref().unwrap_or("?"),
                        r.name.as_deref().unwrap_or("?")
                    )
                }),
                reason: e.reason.clone().unwrap_or_default(),
                actor: actor_of(&note),
                note,
                warning: e.type_.as_deref() == Some("Warning"),
            }
        })
        .collect();
    rows.sort_by(|a, b| b.time.cmp(&a.time).then_with(|| a.object.cmp(&b.object)));
    rows.truncate(SHOWN);
    rows
}

/// The actor an object records for a transition, when its Event names none.
pub fn recorded_actor(row: &ActivityRow, bans: &[AnyBan], appeals: &[BanAppeal]) -> Option<String> {
    let (kind, name) = row.object.split_once('/')?;
    if kind == "BanAppeal" {
        let appeal = appeals.iter().find(|a| {
            a.metadata.name.as_deref() == Some(name)
                && a.metadata.namespace.as_deref() == Some(row.namespace.as_str())
        })?;
        return match row.reason.as_str() {
            "AppealApproved" | "AppealDenied" => crate::actor::actor(
                appeal.metadata.annotations.as_ref(),
                crate::actor::DECIDED_BY,
            )
            .or_else(|| appeal.spec.decision.as_ref().map(|d| d.reviewer.clone())),
            _ => None,
        };
    }
    let ban = bans.iter().find(|b| {
        format!("{:?}", b.kind()) == kind && b.name() == name && b.namespace() == row.namespace
    })?;
    match row.reason.as_str() {
        "Lifted" => ban.lifted_by(),
        "Applied" | "Scheduled" | "Created" => ban.created_by(),
        _ => None,
    }
}

pub fn render(rows: &[ActivityRow]) -> String {
    if rows.is_empty() {
        return "<p>No transitions recorded in the namespaces you may read.</p>".into();
    }
    let lines: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                time(r.time),
                esc(&r.namespace),
                esc(&r.object),
                if r.warning {
                    format!("<strong>{}</strong> (warning)", esc(&r.reason))
                } else {
                    esc(&r.reason)
                },
                esc(r.actor.as_deref().unwrap_or("-")),
                esc(&r.note),
            ]
        })
        .collect();
    html::table(
        "Recent transitions, newest first",
        &["Time", "Namespace", "Object", "Transition", "Actor", "Note"],
        &lines,
    )
}

pub async fn get(ctx: &Ctx<'_>) -> Reply {
    let (events, problems) = ctx
        .across(|place: Where| {
            let client = ctx.client.clone();
            async move {
                let api: Api<Event> = match &place {
                    Where::Namespace(ns) => Api::namespaced(client, ns),
                    Where::All => Api::all(client),
                };
                Ok::<_, PluginError>(api.list(&ListParams::default()).await?.items)
            }
        })
        .await;
    let (bans, _) = ctx
        .across(|place: Where| {
            let client = ctx.client.clone();
            async move { list_bans(&client, &place, &kinds(None), None, None).await }
        })
        .await;
    let (appeals, _) = ctx
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
    let mut shown = rows(&events);
    for row in &mut shown {
        if row.actor.is_none() {
            row.actor = recorded_actor(row, &bans, &appeals);
        }
    }
    let mut body = String::new();
    for problem in problems {
        body.push_str(&html::notice(false, &problem));
    }
    body.push_str(&render(&shown));
    ctx.page("Activity", Nav::Activity, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_actor_is_read_from_the_end_of_the_note() {
        assert_eq!(
            actor_of("Lifted: Mistaken (by system:serviceaccount:a:b)").as_deref(),
            Some("system:serviceaccount:a:b")
        );
        assert_eq!(actor_of("Applied"), None);
        let events: Vec<Event> = serde_json::from_value(serde_json::json!([
            { "metadata": { "name": "a", "namespace": "apps" }, "eventTime": "2026-11-21T10:00:00.000000Z",
              "reportingController": OPERATOR, "reason": "Applied", "note": "in force (by ann)",
              "regarding": { "kind": "UserBan", "name": "b1" } },
            { "metadata": { "name": "b", "namespace": "apps" }, "eventTime": "2026-11-21T11:00:00.000000Z",
              "reportingController": OPERATOR, "reason": "Lifted", "note": "lifted", "type": "Normal",
              "regarding": { "kind": "UserBan", "name": "b1" } },
            { "metadata": { "name": "c", "namespace": "apps" }, "eventTime": "2026-11-21T12:00:00.000000Z",
              "reportingController": "someone-else", "reason": "Other" },
        ]))
        .unwrap();
        let found = rows(&events);
        let reasons: Vec<&str> = found.iter().map(|r| r.reason.as_str()).collect();
        assert_eq!(reasons, ["Lifted", "Applied"]);
        assert_eq!(found[1].actor.as_deref(), Some("ann"));
        assert!(render(&found).contains("UserBan/b1"));
        let ban: crate::api::UserBan = serde_json::from_value(serde_json::json!({
            "apiVersion": "interdict.dev/v1alpha1", "kind": "UserBan",
            "metadata": { "name": "b1", "namespace": "apps" },
            "spec": { "subject": { "userId": "1" }, "reason": { "code": "spam" },
                      "lift": { "reason": "oops", "by": "carol" } },
        }))
        .unwrap();
        let bans = [AnyBan::User(ban)];
        assert_eq!(
            recorded_actor(&found[0], &bans, &[]).as_deref(),
            Some("carol")
        );
        assert_eq!(
            recorded_actor(&found[1], &bans, &[]),
            None,
            "created by nobody known"
        );
    }
}
