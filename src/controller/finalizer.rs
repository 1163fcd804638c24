//! The finalizer that lets the operator record a deletion (Event and audit
//! line) and take the object out of the blocklist before it disappears: bans
//! and exemptions alike.

use kube::api::{Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::blocklist::FIELD_MANAGER;
use super::own_writes::{OwnWrites, key};

pub const FINALIZER: &str = "interdict.dev/record-deletion";

/// A kind whose deletions the operator records.
pub trait Recorded:
    Resource<DynamicType = ()> + Clone + DeserializeOwned + Serialize + std::fmt::Debug
{
}

impl<K> Recorded for K where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Serialize + std::fmt::Debug
{
}

pub fn has_finalizer<K: Recorded>(object: &K) -> bool {
    object.finalizers().iter().any(|f| f == FINALIZER)
}

pub fn is_deleting<K: Recorded>(object: &K) -> bool {
    object.meta().deletion_timestamp.is_some()
}

/// Server-side apply of only this list item and, on a ban, the subject's
/// lookup label ([`crate::api::SUBJECT_LABEL`]): other finalizers and labels,
/// and the spec that GitOps owns, are untouched. An empty list gives ours up
/// (and the label with it: the object is on its way out).
pub async fn set<K: Recorded>(
    written: &OwnWrites,
    api: &Api<K>,
    object: &K,
    present: bool,
    subject_label: Option<&str>,
) -> Result<(), kube::Error> {
    let finalizers: Vec<&str> = if present { vec![FINALIZER] } else { vec![] };
    let mut metadata = json!({ "name": object.name_any(), "finalizers": finalizers });
    if let (true, Some(label)) = (present, subject_label) {
        metadata["labels"] = json!({ crate::api::SUBJECT_LABEL: label });
    }
    let patch = json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "metadata": metadata,
    });
    let namespace = object.namespace().unwrap_or_default();
    let write = written.begin(key::<K>(&namespace, &object.name_any()), &namespace);
    let result = api
        .patch(
            &object.name_any(),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await;
    write.done(result.as_ref().ok().map(|updated| updated.meta()));
    match result {
        Ok(_) => Ok(()),
        // Already gone: nothing to hold or release.
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(error) => Err(error),
    }
}
