//! `POST /v1/offenses` on the sidecar: an application reports offenses on
//! loopback with no Kubernetes client and no credentials of its own; the
//! sidecar checks the batch, fills in the pod's namespace, and passes it on
//! to the operator with the pod's ServiceAccount token (re-read as kubelet
//! rotates it). The operator's answer (counts, bans created, or a 4xx that
//! names the problem) comes back unchanged.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Bytes;
use serde_json::{Value, json};

use crate::http::{PostHandler, Posted, Response};
use crate::http_post::Poster;
use crate::policy::parse_batch;

pub const OFFENSES_PATH: &str = "/v1/offenses";

pub struct Forwarder {
    operator_url: Option<String>,
    token_file: PathBuf,
    namespace: Option<String>,
    poster: Poster,
}

impl Forwarder {
    pub fn new(
        operator_url: Option<String>,
        token_file: PathBuf,
        namespace: Option<String>,
    ) -> Self {
        Forwarder {
            operator_url,
            token_file,
            namespace,
            poster: Poster::new(Duration::from_secs(10)),
        }
    }

    pub fn handler(self: Arc<Self>) -> PostHandler {
        Arc::new(move |posted| {
            let forwarder = self.clone();
            Box::pin(async move { forwarder.handle(posted).await })
        })
    }

    async fn handle(&self, posted: Posted) -> Response {
        if posted.path != OFFENSES_PATH {
            return Response::error(404, format!("no such endpoint: POST {}", posted.path));
        }
        let Some(url) = &self.operator_url else {
            return Response::error(
                503,
                "offense reporting is not configured: start the sidecar with --operator-url".into(),
            );
        };
        let body = match self.batch(&posted.body) {
            Ok(body) => body,
            Err(error) => return Response::error(400, error),
        };
        let token = match std::fs::read_to_string(&self.token_file) {
            Ok(token) if !token.trim().is_empty() => token.trim().to_string(),
            _ => {
                return Response::error(
                    503,
                    format!(
                        "cannot read the ServiceAccount token {} (--token-file)",
                        self.token_file.display()
                    ),
                );
            }
        };
        let target = format!("{}{OFFENSES_PATH}", url.trim_end_matches('/'));
        let headers = [("authorization", format!("Bearer {token}"))];
        match self.poster.post(&target, &headers, body).await {
            Ok(answer) => answer.relayed(),
            Err(error) => Response::error(503, format!("cannot reach the operator: {error}")),
        }
    }

    /// The batch as the operator takes it: one offense or a list, the pod's
    /// namespace filled in, checked here first so a bad batch costs no trip.
    fn batch(&self, body: &[u8]) -> Result<Bytes, String> {
        let mut value: Value =
            serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
        if value.get("offenses").is_none() && value.get("type").is_some() {
            value = json!({ "offenses": [value] });
        }
        let Some(object) = value.as_object_mut() else {
            return Err("send an offense object or {\"offenses\": [...]}".into());
        };
        if !object.contains_key("namespace") {
            let Some(namespace) = &self.namespace else {
                return Err(
                    "the batch names no namespace and the sidecar knows none (--namespace)".into(),
                );
            };
            object.insert("namespace".into(), Value::String(namespace.clone()));
        }
        let bytes = serde_json::to_vec(&value).expect("JSON values serialise");
        parse_batch(&bytes, chrono::Utc::now()).map_err(|e| e.to_string())?;
        Ok(Bytes::from(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::Strategy;

    fn forwarder() -> Forwarder {
        Forwarder::new(None, PathBuf::from("/nonexistent"), Some("shop".into()))
    }

    #[test]
    fn one_offense_is_wrapped_and_the_namespace_filled_in() {
        let body = forwarder()
            .batch(br#"{"type":"failed-login","subject":{"userId":"1"}}"#)
            .unwrap();
        let value: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(value["namespace"], "shop");
        assert_eq!(value["offenses"][0]["type"], "failed-login");
    }

    proptest::proptest! {
        /// Any body: never a panic; a refusal says what is wrong; what is
        /// passed on is a batch the operator's own parser accepts.
        #[test]
        fn any_body_is_refused_with_a_reason_or_passed_on_whole(
            body in proptest::prop_oneof![
                proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
                "[\\[\\]{}\",:0-9a-zA-Z \n-]{0,80}".prop_map(String::into_bytes),
                (
                    "[a-z-]{0,12}",
                    proptest::prop_oneof![
                        proptest::prelude::Just("userId"),
                        proptest::prelude::Just("ip"),
                        proptest::prelude::Just("email"),
                        proptest::prelude::Just("nobody"),
                    ],
                    "\\PC{0,10}",
                    proptest::option::of(proptest::prelude::any::<i64>()),
                )
                    .prop_map(|(kind, subject, value, count)| {
                        let mut offense = json!({"type": kind, "subject": {subject: value}});
                        if let Some(count) = count {
                            offense["count"] = json!(count);
                        }
                        offense.to_string().into_bytes()
                    }),
            ]
        ) {
            use proptest::prelude::*;
            match forwarder().batch(&body) {
                Err(error) => prop_assert!(!error.is_empty()),
                Ok(passed) => {
                    let value: Value = serde_json::from_slice(&passed).unwrap();
                    prop_assert!(value["namespace"].is_string());
                    prop_assert!(parse_batch(&passed, chrono::Utc::now()).is_ok());
                }
            }
        }
    }

    #[test]
    fn a_bad_batch_is_refused_before_any_trip() {
        let error = forwarder()
            .batch(br#"{"offenses":[{"type":"failed-login","subject":{"userId":9999}}]}"#)
            .unwrap_err();
        assert!(error.contains("not a valid offense batch"), "{error}");
    }
}
