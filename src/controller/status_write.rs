//! Writing a status: server-side apply on the status subresource, one field
//! manager, and "the object is gone" as a non-event.

use kube::api::{Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::own_writes::{OwnWrites, key};

use super::blocklist::FIELD_MANAGER;
use super::error::Error;

/// Returns whether the object still existed.
pub async fn apply_status<K>(
    written: &OwnWrites,
    api: &Api<K>,
    object: &K,
    status: &impl Serialize,
) -> Result<bool, Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    let name = object.name_any();
    let namespace = object.namespace().unwrap_or_default();
    let patch =
        json!({ "apiVersion": K::api_version(&()), "kind": K::kind(&()), "status": status });
    let write = written.begin(key::<K>(&namespace, &name), &namespace);
    let result = api
        .patch_status(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await;
    match result {
        Ok(updated) => {
            // Kept until the watch shows it; when the watch was faster than
            // this response, there is nothing to wait for.
            written.remember_status(
                updated.meta(),
                serde_json::to_value(status).unwrap_or_default(),
            );
            if write.done(Some(updated.meta())) {
                written.forget_status(updated.meta());
            }
            Ok(true)
        }
        // Deleted since the store saw it: nothing left to describe.
        Err(kube::Error::Api(status)) if status.code == 404 => {
            write.done(None);
            Ok(false)
        }
        Err(source) => Err(Error::WriteStatus {
            kind: K::kind(&()).to_string(),
            namespace,
            name,
            source,
        }),
    }
}
