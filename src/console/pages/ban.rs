//! The ban, silence and feature-block form: one form for the three actions,
//! turned into the plugin's request (same checks, email hashed before
//! anything is sent) and created as `kubectl interdict ban` creates it. A
//! refusal is shown in place: field problems beside their fields, an RBAC
//! refusal as the API server worded it.

use std::collections::BTreeMap;

use chrono::Utc;

use super::search::{self, FIELD_MANAGER};
use crate::console::form::{
    self, ACTIONS, DURATIONS, FieldErrors, MESSAGES, REASONS, SUBJECT_KINDS,
};
use crate::console::html::{self, FormState, Nav, csrf_field, esc};
use crate::console::routes::Ctx;
use crate::console::server::Reply;
use crate::plugin::bans::{self, DryRun};
use crate::plugin::manifest::resource_name;

fn datalist(id: &str, options: &[&str]) -> String {
    let options: String = options
        .iter()
        .map(|o| format!("<option value=\"{}\"></option>", esc(o)))
        .collect();
    format!("<datalist id=\"{id}\">{options}</datalist>")
}

/// The form, with the values and errors of `state`.
pub fn render(state: &FormState, csrf: &str, namespaces: &[String]) -> String {
    let durations: String = DURATIONS
        .iter()
        .map(|(value, label)| {
            let checked = if state.value("duration") == *value {
                " checked"
            } else {
                ""
            };
            format!(
                "<input type=\"radio\" name=\"duration\" id=\"duration-{value}\" value=\"{value}\"{checked}>\
                 <label for=\"duration-{value}\">{label}</label>"
            )
        })
        .collect();
    format!(
        "<form method=\"post\" action=\"/ban\" class=\"card\" novalidate>{csrf}\
         {action}{namespace}{namespaces}\
         <div class=\"row\">{subject_kind}{subject}</div>\
         <fieldset><legend>How long</legend>{durations}{duration_error}</fieldset>\
         {reason}{reasons}{message}{messages}{notes}\
         {appealable}{instructions}\
         <h2>Feature block only</h2>{features}{scopes}\
         <button type=\"submit\" id=\"submit-ban\">Create</button></form>",
        csrf = csrf_field(csrf),
        action = state.select("action", "Action", &ACTIONS),
        namespace = state.input(
            "namespace",
            "Namespace",
            "Where the application's bans live",
            " list=\"namespaces\" required"
        ),
        namespaces = datalist(
            "namespaces",
            &namespaces.iter().map(String::as_str).collect::<Vec<_>>()
        ),
        subject_kind = state.select("subject_kind", "Subject kind", &SUBJECT_KINDS),
        subject = state.input("subject", "Subject", "", " required"),
        duration_error = state.error("duration"),
        reason = state.input(
            "reason",
            "Reason code",
            "A lowercase token: spam, abuse, fraud, ...",
            " list=\"reasons\" required"
        ),
        reasons = datalist("reasons", &REASONS),
        message = state.input(
            "message",
            "Message to the subject",
            "One line the application shows them",
            " list=\"messages\""
        ),
        messages = datalist("messages", &MESSAGES),
        notes = state.textarea(
            "notes",
            "Notes for moderators",
            "Never shown to the subject"
        ),
        appealable = state.checkbox("appealable", "The subject may appeal"),
        instructions = state.input(
            "appeal_instructions",
            "How to appeal",
            "Shown to the subject",
            ""
        ),
        features = state.input(
            "features",
            "Features",
            "Comma-separated, e.g. comments, uploads; * for every feature",
            ""
        ),
        scopes = state.textarea(
            "scopes",
            "Scopes",
            "One KIND=NAME per line, e.g. academy=downtown-miami; none means everywhere"
        ),
    )
}

fn show(ctx: &Ctx<'_>, state: &FormState, notice: &str, status: u16) -> Reply {
    let body = format!("{notice}{}", render(state, &ctx.csrf, &ctx.app.namespaces));
    let mut reply = ctx.page("Ban, silence or block", Nav::Ban, &body);
    reply.status = status;
    reply
}

/// `GET /ban`: the empty form, or one started from a search.
pub fn get(ctx: &Ctx<'_>, query: &BTreeMap<String, String>) -> Reply {
    let mut state = FormState::default();
    state.values.insert("action".into(), "ban".into());
    state.values.insert("duration".into(), "24h".into());
    state
        .values
        .insert("namespace".into(), ctx.default_namespace());
    for key in ["action", "subject_kind", "subject", "namespace"] {
        if let Some(value) = query.get(key) {
            state.values.insert(key.into(), value.clone());
        }
    }
    show(ctx, &state, "", 200)
}

/// `POST /ban`: check, create, and show the subject's record with the new ban.
pub async fn post(ctx: &Ctx<'_>, fields: &BTreeMap<String, String>) -> Reply {
    let mut state = FormState {
        values: fields.clone(),
        errors: FieldErrors::new(),
    };
    state.values.remove("csrf");
    let request = match form::ban_request(fields, Utc::now()) {
        Ok(request) => request,
        Err(errors) => {
            state.errors = errors;
            let notice = html::notice(false, "Nothing was written: see the fields marked below.");
            return show(ctx, &state, &notice, 422);
        }
    };
    let namespace = fields.get("namespace").map_or("", |v| v.trim());
    let manifest = request.manifest(Some(namespace));
    match bans::create_as(
        &ctx.client,
        namespace,
        &manifest,
        DryRun::None,
        FIELD_MANAGER,
    )
    .await
    {
        Ok(_) => {
            let text = format!(
                "Created {}/{} in namespace {namespace}.",
                resource_name(request.kind),
                request.name()
            );
            let query = BTreeMap::from([
                ("q".to_string(), request.subject.value().to_string()),
                ("kind".to_string(), request.subject.column().to_string()),
            ]);
            search::page(ctx, &query, html::notice(true, &text)).await
        }
        Err(error) => {
            let failure = form::failure(&error);
            state.errors = failure.fields;
            let status = error.status_code().unwrap_or(502);
            show(ctx, &state, &html::notice(false, &failure.message), status)
        }
    }
}
