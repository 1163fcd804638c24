//! The subject search: any identifier as typed (an email is hashed here,
//! exactly as `kubectl interdict who --email` hashes it), every ban and block
//! of the subject in force or ended across the namespaces the moderator may
//! read, and a lift form beside each ban still in force.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::api::Lift;
use crate::console::html::{self, FormState, Nav, csrf_field, esc, url};
use crate::console::routes::Ctx;
use crate::console::server::Reply;
use crate::plugin::bans::Lookup;
use crate::plugin::bans::{self, DryRun, Where, short_kind};
use crate::plugin::lift::lift_of;
use crate::plugin::subject::SubjectRef;
use crate::plugin::view::HistoryRow;
use crate::plugin::who::history;

/// The field manager of the console's writes.
pub const FIELD_MANAGER: &str = "interdict-console";

const KINDS: [(&str, &str); 6] = [
    ("any", "Any identifier"),
    ("user", "User id"),
    ("username", "Username"),
    ("email", "Email"),
    ("ip", "IP address or network"),
    ("key", "Key fingerprint"),
];

/// The subjects a search stands for: the kind chosen, or with "any" every
/// kind the text can be (an email only when it looks like one, an IP only
/// when it parses).
pub fn subjects_for(kind: &str, text: &str) -> Result<Vec<SubjectRef>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(Vec::new());
    }
    if kind != "any" {
        return SubjectRef::parse(kind, text).map(|s| vec![s]);
    }
    Ok(["user", "username", "email", "ip", "key"]
        .iter()
        .filter_map(|column| SubjectRef::parse(column, text).ok())
        .collect())
}

pub fn time(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(
        || "-".to_string(),
        |t| t.to_rfc3339_opts(SecondsFormat::Secs, true),
    )
}

fn lift_form(row: &HistoryRow, csrf: &str, query: &BTreeMap<String, String>) -> String {
    let id = format!(
        "lift-{}-{}-{}",
        row.namespace,
        short_kind(row.kind),
        row.name
    );
    let keep = |k: &str| query.get(k).map_or(String::new(), |v| esc(v));
    format!(
        "<form method=\"post\" action=\"/lift\">{csrf}\
         <input type=\"hidden\" name=\"namespace\" value=\"{ns}\">\
         <input type=\"hidden\" name=\"ref\" value=\"{kind}/{name}\">\
         <input type=\"hidden\" name=\"q\" value=\"{q}\"><input type=\"hidden\" name=\"kind\" value=\"{k}\">\
         <label for=\"{id}\" class=\"visually-hidden\">Reason to lift {kind}/{name}</label>\
         <input id=\"{id}\" name=\"reason\" required placeholder=\"Reason to lift\">\
         <button type=\"submit\" class=\"secondary\">Lift</button></form>",
        csrf = csrf_field(csrf),
        ns = esc(&row.namespace),
        kind = short_kind(row.kind),
        name = esc(&row.name),
        q = keep("q"),
        k = keep("kind"),
        id = esc(&id),
    )
}

/// The record as a table, with a lift form beside each ban still in force.
pub fn render_rows(rows: &[HistoryRow], csrf: &str, query: &BTreeMap<String, String>) -> String {
    if rows.is_empty() {
        return "<p id=\"no-bans\">No bans or blocks of this subject in the namespaces you may read.</p>"
            .to_string();
    }
    let lines: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            vec![
                esc(&row.namespace),
                format!("{}/{}", short_kind(row.kind), esc(&row.name)),
                esc(&row.subject),
                esc(&row.what),
                esc(row.phase.as_deref().unwrap_or("-")),
                time(row.from),
                row.until.map_or("permanent".to_string(), |t| time(Some(t))),
                esc(&row.reason),
                esc(row.created_by.as_deref().unwrap_or("-")),
                esc(row.lifted_by.as_deref().unwrap_or("-")),
                esc(&row.appeal),
                if row.liftable {
                    lift_form(row, csrf, query)
                } else {
                    String::new()
                },
            ]
        })
        .collect();
    html::table(
        "Bans and blocks, oldest first",
        &[
            "Namespace",
            "Ban",
            "Subject",
            "What",
            "Phase",
            "From",
            "Until",
            "Reason",
            "Created by",
            "Lifted by",
            "Appeal",
            "Lift",
        ],
        &lines,
    )
}

fn search_form(query: &BTreeMap<String, String>) -> String {
    let form = FormState {
        values: query.clone(),
        errors: BTreeMap::new(),
    };
    format!(
        "<form method=\"get\" action=\"/\" class=\"card\" role=\"search\"><div class=\"row\">{}{}\
         <div class=\"field\"><button type=\"submit\" id=\"search\">Search</button></div></div></form>",
        form.input(
            "q",
            "Subject",
            "A user id, username, email address (hashed, never sent), IP or key fingerprint",
            " type=\"search\" autofocus",
        ),
        form.select("kind", "Kind", &KINDS),
    )
}

/// The page for `query` (`q`, `kind`), with `notice` on top.
pub async fn page(ctx: &Ctx<'_>, query: &BTreeMap<String, String>, notice: String) -> Reply {
    let text = query.get("q").map_or("", String::as_str);
    let kind = query.get("kind").map_or("any", String::as_str);
    let mut body = notice + &search_form(query);
    match subjects_for(kind, text) {
        Err(e) => body.push_str(&html::notice(false, &format!("The subject {e}."))),
        Ok(subjects) if subjects.is_empty() => {}
        Ok(subjects) => {
            let mut rows: Vec<HistoryRow> = Vec::new();
            let mut problems = Vec::new();
            for subject in &subjects {
                let (found, trouble) = ctx
                    .across(|place: Where| {
                        let client = ctx.client.clone();
                        let subject = subject.clone();
                        let typed = text.to_string();
                        async move {
                            history(&client, &place, &subject, Some(&typed), Lookup::Auto).await
                        }
                    })
                    .await;
                for row in found {
                    let seen = rows.iter().any(|r| {
                        (r.kind, &r.namespace, &r.name) == (row.kind, &row.namespace, &row.name)
                    });
                    if !seen {
                        rows.push(row);
                    }
                }
                problems.extend(trouble);
            }
            rows.sort_by(|a, b| {
                (a.created, &a.namespace, &a.name).cmp(&(b.created, &b.namespace, &b.name))
            });
            problems.dedup();
            for problem in problems {
                body.push_str(&html::notice(false, &problem));
            }
            let searched: Vec<String> = subjects.iter().map(|s| esc(&s.display())).collect();
            let first = &subjects[0];
            body.push_str(&format!(
                "<h2>Record</h2><p class=\"muted\">Looked for {}.</p>{}\
                 <p><a href=\"/ban?subject_kind={}&amp;subject={}\" id=\"ban-this\">Ban, silence or block this subject</a></p>",
                searched.join(", "),
                render_rows(&rows, &ctx.csrf, query),
                first.column(),
                url(first.value()),
            ));
        }
    }
    ctx.page("Search a subject", Nav::Search, &body)
}

pub async fn get(ctx: &Ctx<'_>, query: &BTreeMap<String, String>) -> Reply {
    page(ctx, query, String::new()).await
}

/// `POST /lift`: `spec.lift {by, reason}` on one ban, as `kubectl interdict lift` sets it.
pub async fn lift(ctx: &Ctx<'_>, form: &BTreeMap<String, String>) -> Reply {
    let get = |k: &str| form.get(k).map_or("", String::as_str);
    let back: BTreeMap<String, String> = [("q", get("q")), ("kind", get("kind"))]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let outcome = async {
        let lift: Lift = lift_of(get("reason"), ctx.actor.clone())?;
        let ban = bans::get_named(&ctx.client, get("namespace"), get("ref")).await?;
        if !ban.is_liftable() {
            return Err(crate::plugin::PluginError::failed(format!(
                "{}/{} has ended already; nothing to lift",
                short_kind(ban.kind()),
                ban.name()
            )));
        }
        bans::lift_as(&ctx.client, &ban, &lift, DryRun::None, FIELD_MANAGER).await?;
        Ok(format!(
            "Lifted {}/{} in namespace {}.",
            short_kind(ban.kind()),
            ban.name(),
            ban.namespace()
        ))
    }
    .await;
    let notice = match outcome {
        Ok(text) => html::notice(true, &text),
        Err(error) => html::notice(false, &error.to_string()),
    };
    page(ctx, &back, notice).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::email::hash_email;

    #[test]
    fn any_identifier_searches_every_kind_it_can_be() {
        let kinds = |text: &str| -> Vec<&'static str> {
            subjects_for("any", text)
                .unwrap()
                .iter()
                .map(SubjectRef::column)
                .collect()
        };
        assert_eq!(kinds("123"), ["user", "username", "key"]);
        assert_eq!(kinds("203.0.113.7"), ["user", "username", "ip", "key"]);
        let email = subjects_for("any", "Eve+x@Example.org").unwrap();
        assert!(email.contains(&SubjectRef::EmailHash(hash_email("eve@example.org"))));
        assert!(subjects_for("ip", "nope").is_err());
        assert!(subjects_for("any", " ").unwrap().is_empty());
    }
}
