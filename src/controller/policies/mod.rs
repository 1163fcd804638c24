//! Automatic bans at run time: the BanPolicies of the watched namespaces, the
//! offense intake endpoint (`intake`, authenticated by `auth`), the leader's
//! counting (`engine`, on the pure `crate::policy`), what each threshold
//! crossing comes to (`crossing`), its Events and audit lines (`records`), the
//! escalation history read back from the bans (`history`) and the policies'
//! statuses (`status`).

mod auth;
mod crossing;
mod engine;
mod history;
mod intake;
mod records;
mod status;
mod watch;

pub use engine::PolicyEngine;
pub use intake::{Intake, LeaderLookup, OFFENSES_PATH};
pub use watch::watch_policies;
