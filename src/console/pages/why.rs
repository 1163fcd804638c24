//! "What does this user see": the decision an application of one namespace
//! would give for a subject, a feature and a context, read from the
//! namespace's blocklist ConfigMaps with the plugin's `why` (the readers' own
//! loader and index, so the answer is the one applications get).

use std::collections::BTreeMap;

use chrono::Utc;

use super::search::time;
use crate::console::html::{self, FormState, Nav, esc};
use crate::console::routes::Ctx;
use crate::console::server::Reply;
use crate::core::email::{hash_email, parse_email_hash};
use crate::core::{Decision, Query, Scope};

/// The query of the form's fields; `Err` names the field at fault.
pub fn query(fields: &BTreeMap<String, String>) -> Result<Query, (String, String)> {
    let get = |k: &str| {
        fields
            .get(k)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let bad = |field: &str, message: String| (field.to_string(), message);
    let feature = get("feature").ok_or_else(|| bad("feature", "a feature is required".into()))?;
    let ip = get("ip")
        .map(|ip| {
            ip.parse()
                .map_err(|_| bad("ip", format!("{ip:?} is not an IP address")))
        })
        .transpose()?;
    let email = get("email").map(|e| parse_email_hash(&e).unwrap_or_else(|| hash_email(&e)));
    let scopes = get("scopes")
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(Scope::parse_pair)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad("scopes", e))?;
    let query = Query {
        user_id: get("user"),
        username: get("username"),
        email,
        ip,
        key_fingerprint: get("key"),
        feature,
        scopes,
    };
    if query.user_id.is_none()
        && query.username.is_none()
        && query.email.is_none()
        && query.ip.is_none()
        && query.key_fingerprint.is_none()
    {
        return Err(bad("user", "give at least one identifier".into()));
    }
    Ok(query)
}

/// The verdict, the ban behind it and its notices.
pub fn render_decision(decision: &Decision, feature: &str) -> String {
    let (class, verdict) = if decision.allowed {
        (
            "allowed",
            format!("Allowed: this subject may use {feature}"),
        )
    } else {
        (
            "denied",
            format!("Denied: this subject may not use {feature}"),
        )
    };
    let mut out = format!(
        "<section class=\"card\" aria-labelledby=\"verdict\"><p id=\"verdict\" class=\"verdict {class}\">{}</p><dl>",
        esc(&verdict)
    );
    let mut fact = |key: &str, value: Option<String>| {
        if let Some(value) = value {
            out.push_str(&format!("<dt>{key}</dt><dd>{}</dd>", esc(&value)));
        }
    };
    fact("Ban", decision.ban.clone());
    fact("Mode", decision.mode.clone());
    fact("Reason", decision.reason.clone());
    fact("Message shown", decision.message.clone());
    fact("From", decision.from.map(|t| time(Some(t))));
    if decision.ban.is_some() {
        fact(
            "Until",
            Some(decision.until.map_or("permanent".into(), |t| time(Some(t)))),
        );
    }
    fact(
        "Sessions issued before this are revoked",
        decision.revoke_sessions_before.map(|t| time(Some(t))),
    );
    fact(
        "Content",
        decision
            .content_hidden
            .then(|| "hidden from others (silenced)".to_string()),
    );
    fact("How to appeal", decision.appeal_instructions.clone());
    out.push_str("</dl></section>");
    if !decision.notices.is_empty() {
        let rows: Vec<Vec<String>> = decision
            .notices
            .iter()
            .map(|n| {
                vec![
                    esc(&n.ban),
                    esc(&n.mode),
                    esc(&format!("{:?}", n.phase)),
                    esc(&n.reason),
                    time(Some(n.from)),
                    n.until.map_or("permanent".into(), |t| time(Some(t))),
                ]
            })
            .collect();
        out.push_str(&html::table(
            "Notices (bans that do not decide this request but concern the subject)",
            &["Ban", "Mode", "Phase", "Reason", "From", "Until"],
            &rows,
        ));
    }
    out
}

fn render_form(state: &FormState) -> String {
    format!(
        "<form method=\"get\" action=\"/why\" class=\"card\">{}<div class=\"row\">{}{}{}</div>\
         <div class=\"row\">{}{}</div>{}{}<button type=\"submit\" id=\"ask\">Ask</button></form>",
        state.input(
            "namespace",
            "Namespace",
            "Whose blocklist to read",
            " required"
        ),
        state.input("user", "User id", "", ""),
        state.input("username", "Username", "", ""),
        state.input("email", "Email", "Hashed; compared, never sent", ""),
        state.input("ip", "IP address", "", ""),
        state.input("key", "Key fingerprint", "", ""),
        state.input("feature", "Feature", "e.g. comments, login", " required"),
        state.textarea(
            "scopes",
            "Context",
            "One KIND=NAME per line, e.g. academy=downtown-miami"
        ),
    )
}

/// `GET /why`: the form, and with a feature given, the answer.
pub async fn get(ctx: &Ctx<'_>, fields: &BTreeMap<String, String>) -> Reply {
    let mut state = FormState {
        values: fields.clone(),
        errors: BTreeMap::new(),
    };
    state
        .values
        .entry("namespace".into())
        .or_insert_with(|| ctx.default_namespace());
    let mut answer = String::new();
    if fields.contains_key("feature") {
        match query(fields) {
            Err((field, message)) => {
                state.errors.insert(field, message);
            }
            Ok(query) => {
                let namespace = state.value("namespace").to_string();
                let found = crate::plugin::why::decide(
                    &ctx.client,
                    &namespace,
                    &ctx.app.blocklist_name,
                    &query,
                    Utc::now(),
                )
                .await;
                answer = match found {
                    Ok((decision, skipped)) => {
                        let mut text = render_decision(&decision, &query.feature);
                        for item in skipped {
                            text.push_str(&html::notice(false, &format!("{item}; item skipped")));
                        }
                        text
                    }
                    Err(error) => html::notice(false, &error.to_string()),
                };
            }
        }
    }
    let body = format!("{}{answer}", render_form(&state));
    ctx.page("What does this user see", Nav::Why, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_form_becomes_the_readers_query_with_the_email_hashed() {
        let q = query(&fields(&[
            ("email", "Eve+x@Example.org"),
            ("feature", "comments"),
            ("scopes", "academy=a\npage=/p/1"),
        ]))
        .unwrap();
        assert_eq!(q.email, Some(hash_email("eve@example.org")));
        assert_eq!(q.scopes.len(), 2);
        assert_eq!(query(&fields(&[("feature", "x")])).unwrap_err().0, "user");
        assert_eq!(query(&fields(&[("user", "1")])).unwrap_err().0, "feature");
        assert_eq!(
            query(&fields(&[("ip", "x"), ("feature", "f")]))
                .unwrap_err()
                .0,
            "ip"
        );
    }

    #[test]
    fn a_denial_names_its_ban() {
        let mut decision = Decision::allow();
        decision.allowed = false;
        decision.ban = Some("UserBan/spam-user-1".into());
        let html = render_decision(&decision, "comments");
        assert!(html.contains("Denied: this subject may not use comments"));
        assert!(html.contains("UserBan/spam-user-1"));
        assert!(html.contains("permanent"));
        assert!(render_decision(&Decision::allow(), "x").contains("Allowed"));
    }
}
