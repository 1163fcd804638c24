//! One AdmissionReview (v1) of a pod in, one out: allowed with the JSONPatch
//! that wires it, allowed unchanged, or denied with the refusal's message
//! (which the API server hands to the client, prefixed by the webhook's name).

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Pod;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};
use serde_json::Value;

use super::Settings;
use super::patch::wire;
use crate::http::Response;

/// The HTTP answer and what it came to, for the log.
pub struct Answer {
    pub response: Response,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Patched with this many operations.
    Wired { pod: String, operations: usize },
    /// Not asked, already wired, or not a pod creation.
    Unchanged { pod: String },
    /// Denied, with the message the client sees.
    Refused { pod: String, message: String },
    /// Not an AdmissionReview of a pod: answered 400, so the API server
    /// applies the webhook's failure policy.
    Unreadable { error: String },
}

impl Answer {
    pub fn log(&self) {
        match &self.outcome {
            Outcome::Wired { pod, operations } => {
                tracing::info!(%pod, operations, "pod wired with the blocklist");
            }
            Outcome::Unchanged { pod } => tracing::debug!(%pod, "pod left unchanged"),
            Outcome::Refused { pod, message } => {
                tracing::info!(%pod, reason = %message, "pod refused");
            }
            Outcome::Unreadable { error } => {
                tracing::warn!(%error, "unreadable admission review");
            }
        }
    }
}

/// Answers the AdmissionReview in `body`.
pub fn review(body: &[u8], settings: &Settings) -> Answer {
    let request: AdmissionRequest<Pod> = match serde_json::from_slice::<AdmissionReview<Pod>>(body)
        .map_err(|e| e.to_string())
        .and_then(|review| {
            review
                .try_into()
                .map_err(|_| "it has no request".to_string())
        }) {
        Ok(request) => request,
        Err(error) => {
            let error = format!("not an AdmissionReview of a pod: {error}");
            return Answer {
                response: Response::error(400, error.clone()),
                outcome: Outcome::Unreadable { error },
            };
        }
    };
    let pod = pod_name(&request);
    let allowed = AdmissionResponse::from(&request);
    let (response, outcome) = match (&request.operation, &request.object) {
        (Operation::Create, Some(object)) => match wire(object, settings) {
            Ok(ops) if ops.is_empty() => (allowed, Outcome::Unchanged { pod }),
            Ok(ops) => {
                let operations = ops.len();
                let patch = serde_json::from_value(Value::Array(ops))
                    .expect("the wiring operations are JSONPatch");
                let patched = allowed.with_patch(patch).expect("a JSONPatch serialises");
                (patched, Outcome::Wired { pod, operations })
            }
            Err(refusal) => {
                let message = refusal.to_string();
                (allowed.deny(&message), Outcome::Refused { pod, message })
            }
        },
        _ => (allowed, Outcome::Unchanged { pod }),
    };
    Answer {
        response: encode(response),
        outcome,
    }
}

/// The AdmissionReview answer as the API server expects it.
pub fn encode(response: AdmissionResponse) -> Response {
    let patch = response.patch.clone();
    let mut body = serde_json::to_value(response.into_review()).expect("a review serialises");
    // kube writes the patch as an array of numbers, which the API server
    // happens to accept; the documented form (Go's []byte) is base64.
    if let Some(patch) = patch {
        body["response"]["patch"] =
            serde_json::to_value(ByteString(patch)).expect("bytes serialise");
    }
    Response::json(200, body)
}

/// `namespace/name`, or `namespace/generateName*` for a pod yet to be named.
fn pod_name(request: &AdmissionRequest<Pod>) -> String {
    let namespace = request.namespace.as_deref().unwrap_or_default();
    let generated = request
        .object
        .as_ref()
        .and_then(|pod| pod.metadata.generate_name.as_deref());
    match (request.name.as_str(), generated) {
        ("", Some(prefix)) => format!("{namespace}/{prefix}*"),
        (name, _) => format!("{namespace}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn settings() -> Settings {
        Settings {
            blocklist_name: "interdict-blocklist".into(),
            max_shards: 2,
            sidecar_image: None,
            operator_url: None,
        }
    }

    fn request(operation: &str, annotations: Value) -> Vec<u8> {
        json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
                "kind": { "group": "", "version": "v1", "kind": "Pod" },
                "resource": { "group": "", "version": "v1", "resource": "pods" },
                "namespace": "shop",
                "name": "",
                "operation": operation,
                "userInfo": { "username": "system:serviceaccount:kube-system:replicaset-controller" },
                "object": {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": { "generateName": "shop-7d9f-", "annotations": annotations },
                    "spec": { "containers": [{ "name": "app", "image": "shop:1" }] }
                },
                "dryRun": false
            }
        })
        .to_string()
        .into_bytes()
    }

    fn answer(body: &[u8]) -> (Answer, Value) {
        let answer = review(body, &settings());
        let value = serde_json::from_str(&answer.response.body).unwrap();
        (answer, value)
    }

    #[test]
    fn an_annotated_pod_is_allowed_with_a_base64_json_patch() {
        let (answer, body) = answer(&request(
            "CREATE",
            json!({ "interdict.dev/inject": "true" }),
        ));
        assert_eq!(answer.response.status, 200);
        assert_eq!(
            answer.outcome,
            Outcome::Wired {
                pod: "shop/shop-7d9f-*".into(),
                operations: 2
            }
        );
        assert_eq!(body["apiVersion"], "admission.k8s.io/v1");
        assert_eq!(body["kind"], "AdmissionReview");
        let response = &body["response"];
        assert_eq!(response["uid"], "705ab4f5-6393-11e8-b7cc-42010a800002");
        assert_eq!(response["allowed"], true);
        assert_eq!(response["patchType"], "JSONPatch");
        assert!(response["patch"].is_string(), "base64: {response}");
        let ByteString(patch) = serde_json::from_value(response["patch"].clone()).unwrap();
        let patch: Value = serde_json::from_slice(&patch).unwrap();
        assert_eq!(patch[0]["path"], "/spec/volumes");
        assert_eq!(patch[1]["path"], "/spec/containers/0/volumeMounts");
    }

    #[test]
    fn a_pod_that_does_not_ask_is_allowed_without_a_patch() {
        let (answer, body) = answer(&request("CREATE", json!({})));
        assert!(matches!(answer.outcome, Outcome::Unchanged { .. }));
        assert_eq!(body["response"]["allowed"], true);
        assert!(body["response"]["patch"].is_null());
        assert!(body["response"]["patchType"].is_null());
    }

    #[test]
    fn only_creations_are_wired() {
        let (answer, body) = answer(&request(
            "UPDATE",
            json!({ "interdict.dev/inject": "true" }),
        ));
        assert!(matches!(answer.outcome, Outcome::Unchanged { .. }));
        assert!(body["response"]["patch"].is_null());
    }

    #[test]
    fn a_malformed_annotation_is_denied_naming_it() {
        let (answer, body) = answer(&request("CREATE", json!({ "interdict.dev/inject": "yes" })));
        assert!(matches!(answer.outcome, Outcome::Refused { .. }));
        let response = &body["response"];
        assert_eq!(response["uid"], "705ab4f5-6393-11e8-b7cc-42010a800002");
        assert_eq!(response["allowed"], false);
        assert_eq!(
            response["status"]["message"],
            "annotation interdict.dev/inject: \"yes\" is neither \"true\" nor \"false\""
        );
        assert!(response["patch"].is_null());
    }

    #[test]
    fn a_body_that_is_no_admission_review_is_a_400() {
        for body in [
            &b"{"[..],
            b"{\"kind\":\"AdmissionReview\",\"apiVersion\":\"admission.k8s.io/v1\"}",
        ] {
            let (answer, body) = answer(body);
            assert_eq!(answer.response.status, 400);
            assert!(
                body["error"]
                    .as_str()
                    .unwrap()
                    .starts_with("not an AdmissionReview of a pod"),
                "{body}"
            );
        }
    }
}
