//! One AdmissionReview of an Interdict object in, one out: always allowed,
//! with the JSONPatch that signs it with the requesting user (see `patch`).

use kube::core::DynamicObject;
use kube::core::admission::{
    AdmissionRequest, AdmissionResponse, AdmissionReview, Operation as Op,
};

use super::patch::{Operation, operations, wanted};
use crate::http::Response;

/// Answers the AdmissionReview in `body`; `Err` for a body that is not one
/// (answered 400, so the API server applies the failure policy).
pub fn review(body: &[u8]) -> Result<Response, String> {
    let request: AdmissionRequest<DynamicObject> =
        serde_json::from_slice::<AdmissionReview<DynamicObject>>(body)
            .map_err(|e| format!("not an AdmissionReview: {e}"))?
            .try_into()
            .map_err(|_| "the AdmissionReview has no request".to_string())?;
    let allowed = AdmissionResponse::from(&request);
    let operation = match request.operation {
        Op::Create => Operation::Create,
        Op::Update => Operation::Update,
        _ => return Ok(crate::inject::encode(allowed)),
    };
    let (Some(object), Some(user)) = (&request.object, request.user_info.username.as_deref())
    else {
        return Ok(crate::inject::encode(allowed));
    };
    let object = serde_json::to_value(object).map_err(|e| e.to_string())?;
    let old = request
        .old_object
        .as_ref()
        .map(serde_json::to_value)
        .transpose()
        .map_err(|e| e.to_string())?;
    let wanted = wanted(&request.kind.kind, operation, &object, old.as_ref(), user);
    let ops = operations(&object, &wanted);
    if ops.is_empty() {
        return Ok(crate::inject::encode(allowed));
    }
    tracing::debug!(
        kind = %request.kind.kind,
        name = %request.name,
        %user,
        operations = ops.len(),
        "signing with the requesting user"
    );
    let patch = serde_json::from_value(serde_json::Value::Array(ops))
        .expect("the signing operations are JSONPatch");
    Ok(crate::inject::encode(
        allowed.with_patch(patch).expect("a JSONPatch serialises"),
    ))
}
