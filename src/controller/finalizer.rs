//! The finalizer that lets the operator record a ban's deletion (Event and
//! audit line) and take it out of the blocklist before the object disappears.

use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use super::ban::BanResource;
use super::blocklist::FIELD_MANAGER;
use super::own_writes::{OwnWrites, key};

pub const FINALIZER: &str = "interdict.dev/record-deletion";

pub fn has_finalizer<K: BanResource>(object: &K) -> bool {
    object.finalizers().iter().any(|f| f == FINALIZER)
}

pub fn is_deleting<K: BanResource>(object: &K) -> bool {
    object.meta().deletion_timestamp.is_some()
}

/// Server-side apply of only this list item: other finalizers, and the spec
/// that GitOps owns, are untouched. An empty list gives ours up.
pub async fn set<K: BanResource>(
    written: &OwnWrites,
    api: &Api<K>,
    object: &K,
    present: bool,
) -> Result<(), kube::Error> {
    let finalizers: Vec<&str> = if present { vec![FINALIZER] } else { vec![] };
    let patch = json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "metadata": { "name": object.name_any(), "finalizers": finalizers },
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
