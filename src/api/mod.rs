//! The custom resources of `interdict.dev/v1alpha1`: their Rust types are the
//! single source of the CRDs (`interdict crds` prints them, `crds/` holds the copy).

mod admission;
mod appeal;
mod common;
mod crd;
mod exemption;
mod feature_block;
mod policy;
mod status;
mod subject;
mod user_ban;

pub use admission::{APPEAL_DECISIONS_POLICY, DECIDE_VERB};
pub use appeal::{
    AppealDecision, AppealOutcome, AppealPhase, AppealStatus, BanAppeal, BanAppealSpec, BanKind,
    BanRef,
};
pub use common::{Appeal, BanReason, Contact, Lift, Scope};
pub use crd::{crd_yaml, crds};
pub use exemption::{BanExemption, BanExemptionSpec, ExemptionStatus};
pub use feature_block::{FeatureBlock, FeatureBlockSpec};
pub use policy::{
    BanPolicy, BanPolicySpec, BanPolicyStatus, FeatureBlockTemplate, PolicyAction, PolicyMode,
    PolicyTemplate, SubjectKind, UserBanTemplate,
};
pub use status::{BanStatus, NotificationRecord, Phase};
pub use subject::{SUBJECT_LABEL, Subject};
pub use user_ban::{BanMode, UserBan, UserBanSpec};

/// API group of every Interdict kind.
pub const GROUP: &str = "interdict.dev";
/// API version served and stored.
pub const VERSION: &str = "v1alpha1";
/// `kubectl get interdict` lists every kind of this category.
pub const CATEGORY: &str = "interdict";
