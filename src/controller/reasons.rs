//! Machine reasons shared by conditions, Events and audit lines.

pub const APPLIED: &str = "Applied";
pub const SCHEDULED: &str = "Scheduled";
pub const ACTIVATED: &str = "Activated";
pub const EXPIRED: &str = "Expired";
pub const UPDATED: &str = "Updated";
pub const INVALID_SPEC: &str = "InvalidSpec";
pub const RECONCILE_FAILED: &str = "ReconcileFailed";
