// Each `printcolumn(...)` legitimately repeats `type_ = "string"`; clippy reads that as a duplicate.
#![allow(clippy::duplicated_attributes)]

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::{BanReason, Subject};

/// A BanExemption is the allowlist: its subject is never held by an IP/CIDR ban
/// (an exempt address inside a banned range, or an exempt user on a banned
/// network, is allowed), a ban on exactly its subject is not published, and
/// automatic bans skip it. A kind of its own so RBAC can keep it admin-only.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "interdict.dev",
    version = "v1alpha1",
    kind = "BanExemption",
    plural = "banexemptions",
    shortname = "bex",
    category = "interdict",
    selectable = ".spec.subject.userId",
    selectable = ".spec.subject.username",
    selectable = ".spec.subject.email",
    selectable = ".spec.subject.ip",
    selectable = ".spec.subject.keyFingerprint",
    selectable = ".spec.reason.code",
    namespaced,
    status = "ExemptionStatus",
    doc = "BanExemption keeps one subject (a user, an address or a range) out of reach of IP/CIDR bans and of bans on exactly that subject.",
    printcolumn(json_path = ".status.subject", name = "Subject", type_ = "string"),
    printcolumn(json_path = ".spec.reason.code", name = "Reason", type_ = "string"),
    printcolumn(json_path = ".spec.expiresAt", name = "Expires", type_ = "string"),
    printcolumn(
        json_path = ".metadata.creationTimestamp",
        name = "Age",
        type_ = "date"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct BanExemptionSpec {
    /// Who is exempt: exactly one of userId, username, email, ip (address or CIDR), keyFingerprint.
    pub subject: Subject,

    /// Why the subject is exempt (e.g. `office-network`, `monitoring`).
    pub reason: BanReason,

    /// When the exemption ends (RFC 3339); unset means until deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// Observed state of a BanExemption.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExemptionStatus {
    /// The metadata.generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// The subject as shown by `kubectl get`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,

    /// Ready is True once the exemption is in the namespace's blocklist.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
}
