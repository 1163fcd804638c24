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

    /// Scheduled, Active, Expired or Lifted.
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

    /// Ready is True once the ban is reflected in the namespace's blocklist.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
}
