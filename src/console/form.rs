//! From a posted form to the plugin's checked request, and from what went
//! wrong back to the form: each problem lands beside the field it names,
//! whether the plugin's own checks found it first (the same rules the API
//! server applies) or the API server's validation did (a 422 whose causes
//! name `spec.*` fields). A 403 is shown as the API server worded it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::api::{Appeal, BanKind, BanMode};
use crate::plugin::PluginError;
use crate::plugin::manifest::{BanRequest, parse_scope};
use crate::plugin::subject::SubjectRef;
use crate::plugin::timing::timing;

/// A urlencoded body (or query string) as fields; a repeated field keeps its last value.
pub fn fields(body: &[u8]) -> BTreeMap<String, String> {
    form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// What the ban form asks for: the three actions of one form.
pub const ACTIONS: [(&str, &str); 3] = [
    ("ban", "Ban (suspend: no access)"),
    ("silence", "Silence (may log in, may not publish)"),
    ("block", "Block features"),
];

/// Subject kinds, as the plugin's columns name them.
pub const SUBJECT_KINDS: [(&str, &str); 5] = [
    ("user", "User id"),
    ("username", "Username"),
    ("email", "Email (hashed before it is sent)"),
    ("ip", "IP address or network"),
    ("key", "Key fingerprint"),
];

/// Duration presets; `permanent` writes no end.
pub const DURATIONS: [(&str, &str); 5] = [
    ("1h", "1 hour"),
    ("24h", "24 hours"),
    ("7d", "7 days"),
    ("30d", "30 days"),
    ("permanent", "Permanent"),
];

/// Reason codes offered (any lowercase token is accepted).
pub const REASONS: [&str; 6] = [
    "spam",
    "abuse",
    "fraud",
    "brute-force",
    "compromised",
    "maintenance",
];

/// Messages offered to the subject (any one line is accepted).
pub const MESSAGES: [&str; 4] = [
    "Your account is suspended for spamming.",
    "Your account is suspended for abusive behaviour.",
    "You may not publish for now: your account is silenced.",
    "You have been blocked from this feature.",
];

/// Problems with a form, by field.
pub type FieldErrors = BTreeMap<String, String>;

fn one(field: &str, message: impl Into<String>) -> FieldErrors {
    BTreeMap::from([(field.to_string(), message.into())])
}

/// The plugin's request for the ban form's `fields`, checked by the
/// plugin's rules; `Err` holds every problem found, by form field.
pub fn ban_request(
    fields: &BTreeMap<String, String>,
    now: DateTime<Utc>,
) -> Result<BanRequest, FieldErrors> {
    let get = |k: &str| fields.get(k).map(|v| v.trim()).unwrap_or("");
    let mut errors = FieldErrors::new();
    if get("namespace").is_empty() {
        errors.insert("namespace".into(), "a namespace is required".into());
    }
    let (kind, mode) = match get("action") {
        "ban" => (BanKind::UserBan, BanMode::Suspend),
        "silence" => (BanKind::UserBan, BanMode::Silence),
        "block" => (BanKind::FeatureBlock, BanMode::Suspend),
        _ => {
            errors.insert("action".into(), "choose ban, silence or block".into());
            (BanKind::UserBan, BanMode::Suspend)
        }
    };
    let subject = SubjectRef::parse(get("subject_kind"), get("subject"))
        .map_err(|e| errors.insert("subject".into(), format!("the subject {e}")))
        .ok();
    let duration = match get("duration") {
        "permanent" => None,
        "" => {
            errors.insert("duration".into(), "choose how long it lasts".into());
            None
        }
        preset => Some(preset),
    };
    let timing = timing(duration, None, None, now)
        .map_err(|e| errors.insert("duration".into(), e.message))
        .ok();
    if get("reason").is_empty() {
        errors.insert("reason".into(), "a reason code is required".into());
    }
    let mut scopes = Vec::new();
    for line in get("scopes")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        match parse_scope(line) {
            Ok(scope) => scopes.push(scope),
            Err(e) => {
                errors.insert("scopes".into(), e);
            }
        }
    }
    let features: Vec<String> = get("features")
        .split([',', '\n'])
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(str::to_string)
        .collect();
    let (Some(subject), Some(timing), true) = (subject, timing, errors.is_empty()) else {
        return Err(errors);
    };
    let optional = |k: &str| Some(get(k).to_string()).filter(|v| !v.is_empty());
    let mut request = BanRequest::new(kind, subject, get("reason"));
    request.mode = mode;
    request.timing = timing;
    request.notes = optional("notes");
    request.message = optional("message");
    request.appeal = matches!(get("appealable"), "on" | "true").then(|| Appeal {
        allowed: true,
        instructions: optional("appeal_instructions"),
    });
    if kind == BanKind::FeatureBlock {
        request.features = features;
        request.scopes = scopes;
    } else if !features.is_empty() || !scopes.is_empty() {
        return Err(one(
            "features",
            "features and scopes are for blocks: choose \"Block features\" or clear them",
        ));
    }
    request.check().map_err(|e| {
        let field = match e.field {
            "ip" => "subject",
            "appeal_instructions" => "appeal_instructions",
            "mode" => "action",
            other => other,
        };
        one(field, e.message)
    })?;
    Ok(request)
}

/// A form field for a field path the API server names (`spec.reason.code`,
/// `spec.features[0]`, `metadata.name`, ...).
pub fn form_field(path: &str) -> Option<&'static str> {
    let path = path.trim_start_matches('.');
    let path = path.split('[').next().unwrap_or(path);
    Some(match path {
        p if p.starts_with("spec.subject") => "subject",
        "spec.reason.code" | "spec.reason" => "reason",
        "spec.reason.notes" => "notes",
        "spec.message" => "message",
        "spec.duration" | "spec.expiresAt" | "spec.startsAt" => "duration",
        p if p.starts_with("spec.features") => "features",
        p if p.starts_with("spec.scopes") => "scopes",
        "spec.appeal.instructions" => "appeal_instructions",
        "spec.lift.reason" | "spec.lift" => "reason",
        "spec.decision.notes" => "notes",
        "metadata.name" => "name",
        "metadata.namespace" => "namespace",
        _ => return None,
    })
}

/// What a failed write means for the page: errors beside fields (a 422 with
/// causes), else one message for the top of the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub fields: FieldErrors,
    pub message: String,
}

pub fn failure(error: &PluginError) -> Failure {
    let mut fields = FieldErrors::new();
    if let PluginError::Kube(kube::Error::Api(status)) = error {
        let causes = status
            .details
            .as_ref()
            .map(|d| d.causes.as_slice())
            .unwrap_or_default();
        for cause in causes {
            if let Some(field) = form_field(&cause.field) {
                let text = if cause.message.is_empty() {
                    cause.reason.clone()
                } else {
                    cause.message.clone()
                };
                fields
                    .entry(field.to_string())
                    .and_modify(|m: &mut String| {
                        m.push_str("; ");
                        m.push_str(&text);
                    })
                    .or_insert(text);
            }
        }
    }
    let message = match error {
        PluginError::Kube(kube::Error::Api(status)) if status.code == 422 && !fields.is_empty() => {
            "The API server refused it: see the fields marked below.".to_string()
        }
        other => other.to_string(),
    };
    Failure { fields, message }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::email::hash_email;

    fn form(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn now() -> DateTime<Utc> {
        crate::plugin::timing::parse_time("2026-11-21T10:00:00Z").unwrap()
    }

    #[test]
    fn a_ban_form_becomes_the_plugins_request_with_the_email_hashed() {
        let request = ban_request(
            &form(&[
                ("namespace", "apps"),
                ("action", "silence"),
                ("subject_kind", "email"),
                ("subject", "Eve+x@Example.org"),
                ("duration", "24h"),
                ("reason", "spam"),
                ("message", "Silenced."),
                ("appealable", "on"),
            ]),
            now(),
        )
        .unwrap();
        assert_eq!(
            request.subject,
            SubjectRef::EmailHash(hash_email("eve@example.org"))
        );
        assert_eq!(request.mode, BanMode::Silence);
        assert_eq!(request.timing.duration.as_deref(), Some("24h"));
        assert!(request.appeal.as_ref().unwrap().allowed);
        let text = serde_json::to_string(&request.manifest(Some("apps"))).unwrap();
        assert!(!text.to_lowercase().contains("eve"), "{text}");
    }

    #[test]
    fn problems_land_beside_their_fields() {
        let errors = ban_request(
            &form(&[
                ("namespace", ""),
                ("action", "ban"),
                ("subject_kind", "ip"),
                ("subject", "300.1.1.1"),
                ("duration", ""),
                ("reason", ""),
            ]),
            now(),
        )
        .unwrap_err();
        let named: Vec<&str> = errors.keys().map(String::as_str).collect();
        assert_eq!(named, ["duration", "namespace", "reason", "subject"]);
        let errors = ban_request(
            &form(&[
                ("namespace", "apps"),
                ("action", "block"),
                ("subject_kind", "user"),
                ("subject", "1"),
                ("duration", "permanent"),
                ("reason", "Spam!"),
                ("features", "comments"),
            ]),
            now(),
        )
        .unwrap_err();
        assert!(errors["reason"].contains("reason code"), "{errors:?}");
        let block = ban_request(
            &form(&[
                ("namespace", "apps"),
                ("action", "block"),
                ("subject_kind", "user"),
                ("subject", "1"),
                ("duration", "permanent"),
                ("reason", "abuse"),
                ("features", "comments, uploads"),
                ("scopes", "academy=downtown\npage=/p/1"),
            ]),
            now(),
        )
        .unwrap();
        assert_eq!(block.features, ["comments", "uploads"]);
        assert_eq!(block.scopes.len(), 2);
        assert_eq!(block.timing.duration, None);
    }

    #[test]
    fn the_api_servers_causes_name_form_fields() {
        let status: kube::core::Status = serde_json::from_value(serde_json::json!({
            "code": 422, "reason": "Invalid", "message": "UserBan.interdict.dev \"x\" is invalid",
            "details": { "causes": [
                { "field": "spec.reason.code", "reason": "FieldValueInvalid", "message": "Invalid value: \"Spam\": must be a lowercase token" },
                { "field": "spec.features[0]", "reason": "FieldValueInvalid", "message": "bad feature" },
                { "field": "spec.somethingElse", "reason": "FieldValueInvalid", "message": "x" },
            ]},
        }))
        .unwrap();
        let found = failure(&PluginError::Kube(kube::Error::Api(Box::new(status))));
        assert_eq!(
            found.fields["reason"],
            "Invalid value: \"Spam\": must be a lowercase token"
        );
        assert_eq!(found.fields["features"], "bad feature");
        assert_eq!(found.fields.len(), 2);
        assert!(found.message.contains("fields marked"));
        let forbidden: kube::core::Status = serde_json::from_value(serde_json::json!({
            "code": 403, "reason": "Forbidden",
            "message": "userbans.interdict.dev is forbidden: User \"x\" cannot create resource",
        }))
        .unwrap();
        let found = failure(&PluginError::Kube(kube::Error::Api(Box::new(forbidden))));
        assert!(found.fields.is_empty());
        assert!(
            found.message.contains("cannot create resource"),
            "{found:?}"
        );
    }
}
