//! `POST /v1/appeals` and `GET /v1/appeals/{name}` on the sidecar: an
//! application files a subject's appeal against one of its bans, and later
//! reads the outcome to tell the subject, with no Kubernetes client of its own.
//! The sidecar writes the BanAppeal with the pod's ServiceAccount, so RBAC
//! (`create` and `get` on `banappeals`) decides what the application may do,
//! and the API server's own validation answers a bad statement.

use kube::api::{Api, PostParams};
use kube::{Client, ResourceExt};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::{AppealPhase, BanAppeal, BanAppealSpec, BanKind, BanRef, Contact};
use crate::http::{Posted, Response};

pub const APPEALS_PATH: &str = "/v1/appeals";

/// What an application sends: the `ban` of a decision (`UserBan/NAME` or
/// `FeatureBlock/NAME`), the subject's statement, and optionally a contact.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Filing {
    ban: String,
    statement: String,
    #[serde(default)]
    contact: Option<Contact>,
}

pub struct Appeals {
    client: Option<Client>,
    namespace: Option<String>,
}

impl Appeals {
    pub fn new(client: Option<Client>, namespace: Option<String>) -> Self {
        Appeals { client, namespace }
    }

    pub async fn handle(&self, posted: Posted) -> Response {
        let (Some(client), Some(namespace)) = (&self.client, &self.namespace) else {
            return Response::error(
                503,
                "appeals need the pod's ServiceAccount and namespace: no Kubernetes \
                 configuration was found (in-cluster or KUBECONFIG)"
                    .into(),
            );
        };
        let api: Api<BanAppeal> = Api::namespaced(client.clone(), namespace);
        match (posted.method.as_str(), posted.path.as_str()) {
            ("POST", APPEALS_PATH) => file(&api, &posted.body).await,
            ("GET", path) => match path
                .strip_prefix(APPEALS_PATH)
                .and_then(|rest| rest.strip_prefix('/'))
            {
                Some(name) if is_name(name) => outcome(&api, name).await,
                _ => Response::error(
                    400,
                    format!("GET {APPEALS_PATH}/NAME with the name POST answered"),
                ),
            },
            (method, path) => Response::error(404, format!("no such endpoint: {method} {path}")),
        }
    }
}

async fn file(api: &Api<BanAppeal>, body: &[u8]) -> Response {
    let filing: Filing = match serde_json::from_slice(body) {
        Ok(filing) => filing,
        Err(error) => {
            return Response::error(
                400,
                format!(
                    "not an appeal ({{\"ban\": \"UserBan/NAME\", \"statement\": \"...\"}}): {error}"
                ),
            );
        }
    };
    let ban_ref = match parse_ban(&filing.ban) {
        Ok(ban_ref) => ban_ref,
        Err(error) => return Response::error(400, error),
    };
    let mut appeal = BanAppeal::new(
        "",
        BanAppealSpec {
            ban_ref: ban_ref.clone(),
            statement: filing.statement,
            contact: filing.contact,
            decision: None,
        },
    );
    appeal.metadata.name = None;
    appeal.metadata.generate_name = Some(generate_name(&ban_ref.name));
    match api.create(&PostParams::default(), &appeal).await {
        Ok(created) => Response::json(
            201,
            json!({
                "name": created.name_any(),
                "namespace": created.namespace(),
                "ban": filing.ban,
                "phase": "Pending",
            }),
        ),
        Err(error) => api_error(error),
    }
}

async fn outcome(api: &Api<BanAppeal>, name: &str) -> Response {
    match api.get(name).await {
        Ok(appeal) => Response::json(200, answer(&appeal)),
        Err(error) => api_error(error),
    }
}

/// What the application may tell the subject: where the appeal stands and,
/// once decided, the outcome and the reviewer's notes (not the reviewer).
fn answer(appeal: &BanAppeal) -> Value {
    let status = appeal.status.as_ref();
    let phase = status.and_then(|s| s.phase).unwrap_or(AppealPhase::Pending);
    let mut answer = json!({
        "name": appeal.name_any(),
        "ban": format!("{:?}/{}", appeal.spec.ban_ref.kind, appeal.spec.ban_ref.name),
        "phase": phase,
    });
    if let Some(decided_at) = status.and_then(|s| s.decided_at) {
        answer["decidedAt"] = json!(decided_at);
    }
    if let Some(decision) = &appeal.spec.decision
        && phase != AppealPhase::Pending
    {
        answer["outcome"] = json!(decision.outcome);
        if let Some(notes) = &decision.notes {
            answer["notes"] = json!(notes);
        }
    }
    if phase == AppealPhase::Refused
        && let Some(ready) = status
            .into_iter()
            .flat_map(|s| &s.conditions)
            .find(|c| c.type_ == "Ready")
    {
        answer["message"] = json!(ready.message);
    }
    answer
}

fn parse_ban(text: &str) -> Result<BanRef, String> {
    let bad = || {
        format!("ban must be UserBan/NAME or FeatureBlock/NAME (a decision's `ban`), got {text:?}")
    };
    let (kind, name) = text.split_once('/').ok_or_else(bad)?;
    let kind = match kind {
        "UserBan" => BanKind::UserBan,
        "FeatureBlock" => BanKind::FeatureBlock,
        _ => return Err(bad()),
    };
    if !is_name(name) {
        return Err(bad());
    }
    Ok(BanRef {
        kind,
        name: name.to_string(),
    })
}

/// A Kubernetes object name (DNS subdomain), checked before it reaches a URL.
fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && !name.starts_with(['-', '.'])
        && !name.ends_with(['-', '.'])
}

/// `<ban>-appeal-` cut so the API server's five random characters still fit a
/// label-length name (kubectl columns stay readable).
fn generate_name(ban: &str) -> String {
    let stem: String = ban.chars().take(45).collect();
    format!("{}-appeal-", stem.trim_end_matches(['-', '.']))
}

/// The API server's refusal, relayed: its status code and message name the
/// field or the missing permission.
fn api_error(error: kube::Error) -> Response {
    match error {
        kube::Error::Api(status) => Response::error(status.code, status.message),
        other => Response::error(503, format!("cannot reach the API server: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Any `ban` text: a reference only for `UserBan/NAME` or
        /// `FeatureBlock/NAME` with a Kubernetes name, else a refusal that
        /// names the expected form (never a panic, never a URL built from it).
        #[test]
        fn any_ban_text_is_a_reference_or_a_clear_refusal(
            text in "(UserBan|FeatureBlock|userban|[A-Za-z]{0,6})?/?[a-z0-9.\\-/ %?#]{0,12}|\\PC{0,16}"
        ) {
            match parse_ban(&text) {
                Ok(ban) => {
                    let kind = match ban.kind {
                        BanKind::UserBan => "UserBan",
                        BanKind::FeatureBlock => "FeatureBlock",
                    };
                    proptest::prop_assert_eq!(format!("{kind}/{}", ban.name), text.clone());
                    proptest::prop_assert!(is_name(&ban.name));
                    proptest::prop_assert!(!ban.name.contains('/'));
                }
                Err(error) => proptest::prop_assert!(error.contains("UserBan/NAME or FeatureBlock/NAME")),
            }
        }
    }

    #[test]
    fn a_decisions_ban_names_the_appealed_object() {
        let ban = parse_ban("FeatureBlock/chat-7").unwrap();
        assert_eq!(ban.kind, BanKind::FeatureBlock);
        assert_eq!(ban.name, "chat-7");
        for bad in [
            "chat-7",
            "Ban/x",
            "UserBan/",
            "UserBan/UPPER",
            "UserBan/a/b",
            "UserBan/-x",
        ] {
            assert!(parse_ban(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn generated_names_stay_short() {
        let long = "x".repeat(200);
        assert!(generate_name(&long).len() <= 53);
        assert_eq!(generate_name("spam-1"), "spam-1-appeal-");
    }
}
