//! Who deleted it. A deletion request carries no object to annotate, so this
//! validating webhook writes `interdict.dev/deleted-by` onto the object itself
//! before allowing the request; the ban's finalizer keeps the object until
//! the operator has recorded the deletion, with that name. It never refuses a
//! deletion: a failed write is logged and the record says "unknown".
//!
//! The annotation is guarded like the others: the admission policy lets only
//! a user with the `record-deletion` verb on the kind write it (the chart
//! grants it to the operator alone).

use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::json;

use super::DELETED_BY;
use crate::http::Response;

/// Answers the AdmissionReview of a deletion in `body`, after recording who
/// asked for it; `Err` for a body that is not one.
pub async fn record_deletion(client: &Client, body: &[u8]) -> Result<Response, String> {
    let request: AdmissionRequest<DynamicObject> =
        serde_json::from_slice::<AdmissionReview<DynamicObject>>(body)
            .map_err(|e| format!("not an AdmissionReview: {e}"))?
            .try_into()
            .map_err(|_| "the AdmissionReview has no request".to_string())?;
    let allowed = AdmissionResponse::from(&request);
    let (Operation::Delete, false, Some(user), Some(namespace)) = (
        &request.operation,
        request.dry_run,
        request.user_info.username.as_deref(),
        request.namespace.as_deref(),
    ) else {
        return Ok(crate::inject::encode(allowed));
    };
    let kind = &request.kind;
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(&kind.group, &kind.version, &kind.kind),
        &request.resource.resource,
    );
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource);
    let patch = json!({ "metadata": { "annotations": { DELETED_BY: user } } });
    match api
        .patch(
            &request.name,
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => tracing::debug!(kind = %kind.kind, name = %request.name, %user, "deletion signed"),
        Err(error) => tracing::warn!(
            kind = %kind.kind,
            name = %request.name,
            %user,
            %error,
            "cannot record who deletes this; the deletion goes ahead without it"
        ),
    }
    Ok(crate::inject::encode(allowed))
}
