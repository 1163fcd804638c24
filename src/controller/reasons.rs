//! Machine reasons shared by conditions, Events and audit lines.

pub const APPLIED: &str = "Applied";
pub const SCHEDULED: &str = "Scheduled";
pub const ACTIVATED: &str = "Activated";
pub const EXPIRED: &str = "Expired";
pub const UPDATED: &str = "Updated";
pub const INVALID_SPEC: &str = "InvalidSpec";
pub const RECONCILE_FAILED: &str = "ReconcileFailed";
/// A ConfigMap the operator does not manage holds the blocklist's name.
pub const BLOCKLIST_CONFLICT: &str = "BlocklistConflict";
/// The blocklist would need more shards than `--max-shards` allows.
pub const BLOCKLIST_TOO_LARGE: &str = "BlocklistTooLarge";
pub const LIFTED: &str = "Lifted";
pub const EXEMPTED: &str = "Exempted";
pub const EXEMPT: &str = "Exempt";
pub const REVIEW_DUE: &str = "ReviewDue";
pub const DELETED: &str = "Deleted";
pub const APPEAL_RECEIVED: &str = "AppealReceived";
pub const APPEAL_APPROVED: &str = "AppealApproved";
pub const APPEAL_DENIED: &str = "AppealDenied";
pub const APPEAL_REFUSED: &str = "AppealRefused";
