// Each `printcolumn(...)` legitimately repeats `type_ = "string"`; clippy reads that as a duplicate.
#![allow(clippy::duplicated_attributes)]

use chrono::{DateTime, Utc};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::*;
use super::{Appeal, BanReason, BanStatus, Contact, Lift, Subject};

/// A UserBan takes the whole application away from one subject: `Suspend`
/// (no access, sessions revoked) or `Silence` (may log in and export, may not
/// publish, content hidden). Temporary with `duration` or `expiresAt`,
/// permanent with neither, scheduled with `startsAt`.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "interdict.dev",
    version = "v1alpha1",
    kind = "UserBan",
    plural = "userbans",
    shortname = "ub",
    category = "interdict",
    selectable = ".spec.subject.userId",
    selectable = ".spec.subject.username",
    selectable = ".spec.subject.email",
    selectable = ".spec.subject.ip",
    selectable = ".spec.subject.keyFingerprint",
    selectable = ".spec.reason.code",
    selectable = ".spec.mode",
    selectable = ".status.phase",
    namespaced,
    status = "BanStatus",
    doc = "UserBan takes the whole application away from one subject, now or from startsAt, until it expires.",
    printcolumn(json_path = ".status.subject", name = "Subject", type_ = "string"),
    printcolumn(json_path = ".spec.mode", name = "Mode", type_ = "string"),
    printcolumn(json_path = ".status.phase", name = "Phase", type_ = "string"),
    printcolumn(json_path = ".spec.startsAt", name = "Starts", type_ = "string"),
    printcolumn(json_path = ".status.expiresAt", name = "Expires", type_ = "string"),
    printcolumn(json_path = ".spec.reason.code", name = "Reason", type_ = "string"),
    printcolumn(
        json_path = ".status.conditions[?(@.type==\"ReviewDue\")].status",
        name = "Review-Due",
        type_ = "string"
    ),
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
pub struct UserBanSpec {
    /// Who is banned: exactly one of userId, username, email, ip, keyFingerprint.
    pub subject: Subject,

    /// `Suspend` (default): no access at all. `Silence`: may log in, read and
    /// export own data; may not create content; content hidden from others.
    #[serde(default)]
    pub mode: BanMode,

    /// How long the ban lasts, counted from startsAt (else from creation):
    /// digits with s, m, h, d or w, e.g. `30m`, `12h`, `7d`, `1h30m`.
    /// Mutually exclusive with expiresAt; neither means permanent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    #[x_kube(validation = kube::core::Rule::new(DURATION_RULE).message(kube::core::Message::Expression(DURATION_MESSAGE.into())))]
    #[x_kube(validation = kube::core::Rule::new(DURATION_BOUND_RULE).message(kube::core::Message::Expression(DURATION_BOUND_MESSAGE.into())))]
    pub duration: Option<String>,

    /// When the ban ends (RFC 3339, e.g. `2026-12-01T00:00:00Z`).
    /// Mutually exclusive with duration; neither means permanent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,

    /// When the ban starts (RFC 3339). Unset means at creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new(STARTS_BEFORE_9899_RULE).message(STARTS_BEFORE_9899_MESSAGE))]
    pub starts_at: Option<DateTime<Utc>>,

    /// Why the subject is banned.
    pub reason: BanReason,

    /// Text the application shows the subject: one line, no control characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    #[x_kube(validation = kube::core::Rule::new(ONE_LINE_RULE)
        .message("message must be one line without control characters"))]
    pub message: Option<String>,

    /// Invalidate the subject's sessions issued before the ban starts.
    /// Defaults to true for Suspend and false for Silence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoke_sessions: Option<bool>,

    /// Send notifications about this ban (default true): its transitions go to
    /// the operator's configured webhook and email sinks (`--notify-config`).
    #[serde(default = "default_true")]
    pub notify: bool,

    /// When a permanent ban is due for review: an RFC 3339 date or date-time, or a
    /// duration such as `90d` counted from the start. From then on the ban's
    /// `ReviewDue` condition is True and a `ReviewDue` Event is recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[x_kube(validation = kube::core::Rule::new(REVIEW_AFTER_RULE).message(kube::core::Message::Expression(REVIEW_AFTER_MESSAGE.into())))]
    #[x_kube(validation = kube::core::Rule::new(REVIEW_AFTER_BOUND_RULE).message(kube::core::Message::Expression(REVIEW_AFTER_BOUND_MESSAGE.into())))]
    pub review_after: Option<String>,

    /// Lift the ban now, for good, leaving the object as the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lift: Option<Lift>,

    /// Where to send the subject's notifications when the subject is not an email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<Contact>,

    /// Whether and how the subject may appeal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appeal: Option<Appeal>,
}

/// What a UserBan takes away.
#[derive(
    Serialize,
    Deserialize,
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    JsonSchema,
)]
pub enum BanMode {
    /// No access at all; sessions revoked by default.
    #[default]
    Suspend,
    /// Login, reading and export still work; creating content does not; content is hidden.
    Silence,
}

impl UserBanSpec {
    /// Session revocation follows the mode unless the ban says otherwise.
    pub fn revokes_sessions(&self) -> bool {
        self.revoke_sessions
            .unwrap_or(self.mode == BanMode::Suspend)
    }
}
