// Each `printcolumn(...)` legitimately repeats `type_ = "string"`; clippy reads that as a duplicate.
#![allow(clippy::duplicated_attributes)]

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Contact;
use super::common::{ONE_LINE_RULE, TEXT_RULE};

/// A BanAppeal is one subject's appeal against one ban of its namespace. An
/// application creates it on the subject's behalf (it needs only `create`);
/// a reviewer sets `spec.decision`, which is final and needs the `decide`
/// verb. An approved appeal lifts the ban without editing it.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "interdict.dev",
    version = "v1alpha1",
    kind = "BanAppeal",
    plural = "banappeals",
    shortname = "bap",
    category = "interdict",
    selectable = ".spec.banRef.kind",
    selectable = ".spec.banRef.name",
    selectable = ".status.phase",
    namespaced,
    status = "AppealStatus",
    doc = "BanAppeal is a subject's appeal against one UserBan or FeatureBlock; a reviewer's decision is final and an approval lifts the ban.",
    printcolumn(json_path = ".spec.banRef.kind", name = "Kind", type_ = "string"),
    printcolumn(json_path = ".spec.banRef.name", name = "Ban", type_ = "string"),
    printcolumn(json_path = ".status.phase", name = "Phase", type_ = "string"),
    printcolumn(
        json_path = ".spec.decision.reviewer",
        name = "Reviewer",
        type_ = "string"
    ),
    printcolumn(
        json_path = ".metadata.creationTimestamp",
        name = "Age",
        type_ = "date"
    )
)]
#[x_kube(validation = kube::core::Rule::new(
    "!has(oldSelf.decision) || (has(self.decision) && self.decision == oldSelf.decision)"
).message("spec.decision is final once set"))]
#[serde(rename_all = "camelCase")]
pub struct BanAppealSpec {
    /// The appealed ban, in this namespace. Cannot change.
    #[x_kube(validation = kube::core::Rule::new("self == oldSelf").message("spec.banRef cannot change"))]
    pub ban_ref: BanRef,

    /// The subject's statement. Cannot change after submission.
    #[schemars(length(min = 1, max = 4096))]
    #[x_kube(validation = kube::core::Rule::new("self == oldSelf").message("spec.statement cannot change after submission"))]
    #[x_kube(validation = kube::core::Rule::new(TEXT_RULE)
        .message("statement must not contain control characters other than line feeds and tabs"))]
    pub statement: String,

    /// Where to tell the subject about the decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<Contact>,

    /// The reviewer's decision. Final once set. Setting it, at creation or
    /// later, needs the `decide` verb on `banappeals` in this namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<AppealDecision>,
}

/// Which ban an appeal is about.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BanRef {
    /// `UserBan` or `FeatureBlock`.
    pub kind: BanKind,
    /// The ban's name in this namespace.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum BanKind {
    UserBan,
    FeatureBlock,
}

/// A reviewer's decision on an appeal. Setting it needs the `decide` verb on
/// `banappeals` in the appeal's namespace (checked at admission by the
/// ValidatingAdmissionPolicy `banappeal-decisions.interdict.dev`), on create as
/// on update: permission to create or patch appeals is not enough.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppealDecision {
    /// `Approved` lifts the ban; `Denied` keeps it.
    pub outcome: AppealOutcome,
    /// Who decided.
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = kube::core::Rule::new(ONE_LINE_RULE)
        .message("reviewer must be one line without control characters"))]
    pub reviewer: String,
    /// Why, for the record (and the subject, through notifications).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    #[x_kube(validation = kube::core::Rule::new(TEXT_RULE)
        .message("decision notes must not contain control characters other than line feeds and tabs"))]
    pub notes: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum AppealOutcome {
    Approved,
    Denied,
}

/// Where an appeal stands.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum AppealPhase {
    /// Received; waiting for a reviewer.
    Pending,
    /// Not accepted: the ban does not allow appeals, does not exist, or already has an open appeal.
    Refused,
    Approved,
    Denied,
}

/// Observed state of a BanAppeal.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppealStatus {
    /// The metadata.generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Pending, Refused, Approved or Denied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<AppealPhase>,

    /// When the decision took effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<DateTime<Utc>>,

    /// The user who set the decision, as the API server authenticated them
    /// (the `interdict.dev/decided-by` annotation written at admission);
    /// `spec.decision.reviewer` is what the reviewer typed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,

    /// Ready is True once the appeal is handled; its reason is the phase, and for
    /// a refused appeal the message says why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
}
