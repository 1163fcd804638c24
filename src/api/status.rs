use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::KubeSchema;
use serde::{Deserialize, Serialize};

pub use crate::core::schedule::Phase;

/// Observed state of a UserBan or FeatureBlock, written by the operator.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct BanStatus {
    /// The metadata.generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Scheduled, Active, Expired or Lifted; Exempted while a BanExemption of
    /// the subject holds the ban back (see exemptedBy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,

    /// When the ban takes effect (startsAt, else creation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_from: Option<DateTime<Utc>>,

    /// When the ban ends; absent for a permanent ban.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,

    /// The subject as shown by `kubectl get`, e.g. `userId:123`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,

    /// The blocked features as shown by `kubectl get` (FeatureBlock only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<String>,

    /// The scopes as shown by `kubectl get`, `*` for everywhere (FeatureBlock only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<String>,

    /// When the ban was lifted early (by `spec.lift` or an approved appeal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifted_at: Option<DateTime<Utc>>,

    /// What lifted it: `spec.lift` or `BanAppeal/<name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifted_by: Option<String>,

    /// The user who created the ban, as the API server authenticated them
    /// (the `interdict.dev/created-by` annotation written at admission).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,

    /// The user who lifted it: who set `spec.lift` (`interdict.dev/lifted-by`),
    /// or who approved the appeal (its `interdict.dev/decided-by`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifted_by_user: Option<String>,

    /// When a permanent ban is due for review (from `spec.reviewAfter`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_at: Option<DateTime<Utc>>,

    /// The BanExemption that keeps this ban out of the blocklist, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exempted_by: Option<String>,

    /// Delivery of this ban's notifications, one record per transition and sink.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub notifications: Vec<NotificationRecord>,

    /// Ready is True once the ban is reflected in the namespace's blocklist.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
}

/// Where one notification stands. The idempotency key is the same on every
/// attempt and across restarts, so receivers can drop duplicates.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationRecord {
    /// Idempotency key sent with every attempt.
    pub key: String,
    /// The transition notified: Applied, Activated, Expired, Lifted, AppealReceived, ...
    pub event: String,
    /// `webhook` or `email`.
    pub sink: String,
    /// `Pending`, `Delivered` or `Failed` (gave up).
    pub state: String,
    /// Attempts made so far.
    #[serde(default)]
    pub attempts: u32,
    /// When the transition happened.
    pub occurred_at: DateTime<Utc>,
    /// When to try again (Pending only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The last failure, for humans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}
