//! Who did it, unforgeably. The API server authenticates every request; an
//! admission webhook served by the operator copies the requesting user into
//! annotations on the Interdict objects (`created-by` on creation, `lifted-by`
//! when `spec.lift` is set, `decided-by` when an appeal's `spec.decision` is),
//! and a ValidatingAdmissionPolicy shipped with the CRDs refuses any request
//! that sets one of them to anyone but its own user, so the record holds even
//! while the webhook is down. The controller reads the annotations into
//! statuses, Events, audit lines and notifications.
//!
//! A GitOps tool's changes carry the tool's own identity (its ServiceAccount):
//! the API server knows no other.

mod deletion;
mod patch;
mod review;

use std::collections::BTreeMap;

pub use deletion::record_deletion;
pub use patch::{Operation, operations, wanted};
pub use review::review;

/// The user who created the object.
pub const CREATED_BY: &str = "interdict.dev/created-by";
/// The user who set the ban's `spec.lift`.
pub const LIFTED_BY: &str = "interdict.dev/lifted-by";
/// The user who set the appeal's `spec.decision`.
pub const DECIDED_BY: &str = "interdict.dev/decided-by";
/// The user who deleted the object (written by the operator at admission).
pub const DELETED_BY: &str = "interdict.dev/deleted-by";
/// The annotations that must name the requesting user.
pub const ACTOR_ANNOTATIONS: [&str; 3] = [CREATED_BY, LIFTED_BY, DECIDED_BY];
/// The verb that allows writing [`DELETED_BY`] (the operator's alone).
pub const RECORD_DELETION_VERB: &str = "record-deletion";

/// Where the API server sends Interdict objects (the webhook's path).
pub const MUTATE_INTERDICT_PATH: &str = "/mutate-interdict";
/// Where the API server sends deletions of bans and exemptions.
pub const RECORD_DELETION_PATH: &str = "/record-deletion";

/// One actor annotation of an object, if it has it.
pub fn actor(annotations: Option<&BTreeMap<String, String>>, key: &str) -> Option<String> {
    annotations?.get(key).cloned()
}
