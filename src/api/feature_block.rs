// Each `printcolumn(...)` legitimately repeats `type_ = "string"`; clippy reads that as a duplicate.
#![allow(clippy::duplicated_attributes)]

use chrono::{DateTime, Utc};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::*;
use super::{Appeal, BanReason, BanStatus, Contact, Lift, Scope, Subject};

/// A FeatureBlock takes some features away from one subject, everywhere or
/// only in the listed scopes.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "interdict.dev",
    version = "v1alpha1",
    kind = "FeatureBlock",
    plural = "featureblocks",
    shortname = "fb",
    category = "interdict",
    selectable = ".spec.subject.userId",
    selectable = ".spec.subject.username",
    selectable = ".spec.subject.email",
    selectable = ".spec.subject.ip",
    selectable = ".spec.subject.keyFingerprint",
    selectable = ".spec.reason.code",
    selectable = ".status.phase",
    namespaced,
    status = "BanStatus",
    doc = "FeatureBlock takes some features away from one subject, everywhere or in some scopes.",
    printcolumn(json_path = ".status.subject", name = "Subject", type_ = "string"),
    printcolumn(json_path = ".status.features", name = "Features", type_ = "string"),
    printcolumn(json_path = ".status.scopes", name = "Scopes", type_ = "string"),
    printcolumn(json_path = ".status.phase", name = "Phase", type_ = "string"),
    printcolumn(json_path = ".spec.startsAt", name = "Starts", type_ = "string"),
    printcolumn(json_path = ".status.expiresAt", name = "Expires", type_ = "string"),
    printcolumn(
        json_path = ".metadata.creationTimestamp",
        name = "Age",
        type_ = "date"
    )
)]
#[x_kube(validation = kube::core::Rule::new(DURATION_XOR_EXPIRES_RULE).message(DURATION_XOR_EXPIRES_MESSAGE))]
#[x_kube(validation = kube::core::Rule::new(STARTS_BEFORE_EXPIRES_RULE)
    .message(STARTS_BEFORE_EXPIRES_MESSAGE).field_path(".startsAt"))]
#[serde(rename_all = "camelCase")]
pub struct FeatureBlockSpec {
    /// Who is blocked: exactly one of userId, username, email, ip, keyFingerprint.
    pub subject: Subject,

    /// Feature identifiers taken away, in the application's vocabulary
    /// (`mentorship-service`, `EXPENSES`, `comments`), matched ignoring ASCII
    /// case (`expenses` finds `EXPENSES`); `*` means every feature.
    #[schemars(length(min = 1, max = 64), inner(length(min = 1, max = 63)))]
    #[x_kube(validation = kube::core::Rule::new(
        "self.all(f, f == '*' || f.matches('^[A-Za-z0-9][A-Za-z0-9._:/-]*$'))"
    ).message(kube::core::Message::Expression(
        "'features must be * or identifiers of letters, digits and . _ : / -; got ' + self.join(', ')".into()
    )))]
    pub features: Vec<String>,

    /// Contexts where the block applies; a request is blocked when any scope
    /// equals one of its context pairs. Empty means everywhere.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub scopes: Vec<Scope>,

    /// How long the block lasts, counted from startsAt (else from creation):
    /// digits with s, m, h, d or w, e.g. `30m`, `12h`, `7d`, `1h30m`.
    /// Mutually exclusive with expiresAt; neither means permanent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    #[x_kube(validation = kube::core::Rule::new(DURATION_RULE).message(kube::core::Message::Expression(DURATION_MESSAGE.into())))]
    #[x_kube(validation = kube::core::Rule::new(DURATION_BOUND_RULE).message(kube::core::Message::Expression(DURATION_BOUND_MESSAGE.into())))]
    pub duration: Option<String>,

    /// When the block ends (RFC 3339). Mutually exclusive with duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,

    /// When the block starts (RFC 3339). Unset means at creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new(STARTS_BEFORE_9899_RULE).message(STARTS_BEFORE_9899_MESSAGE))]
    pub starts_at: Option<DateTime<Utc>>,

    /// Why the subject is blocked.
    pub reason: BanReason,

    /// Text the application shows the subject, e.g. as a warning banner: one
    /// line, no control characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    #[x_kube(validation = kube::core::Rule::new(ONE_LINE_RULE)
        .message("message must be one line without control characters"))]
    pub message: Option<String>,

    /// Lift the block now, for good, leaving the object as the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lift: Option<Lift>,

    /// Where to send the subject's notifications when the subject is not an email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<Contact>,

    /// Whether and how the subject may appeal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appeal: Option<Appeal>,

    /// Send notifications about this block (default true): its transitions go to
    /// the operator's configured webhook and email sinks (`--notify-config`).
    #[serde(default = "default_true")]
    pub notify: bool,
}
