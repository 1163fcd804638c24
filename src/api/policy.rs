// Each `printcolumn(...)` legitimately repeats `type_ = "string"`; clippy reads that as a duplicate.
#![allow(clippy::duplicated_attributes)]

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::*;
use super::{Appeal, BanMode, BanReason, Scope};

/// CEL: a ladder rung is a duration or, as the last rung only, `Permanent`.
const LADDER_RULE: &str = "self.all(r, r == 'Permanent' || (r.matches('^([0-9]{1,6}[smhdw]){1,4}$') && r.matches('[1-9]')))";
const LADDER_MESSAGE: &str =
    "'ladder rungs must be durations like 15m, 1h or 1d, or Permanent; got ' + self.join(', ')";
const PERMANENT_LAST_RULE: &str = "self.size() == 0 || !self.exists(r, r == 'Permanent') || (self.filter(r, r == 'Permanent').size() == 1 && self[self.size() - 1] == 'Permanent')";
const PERMANENT_LAST_MESSAGE: &str = "Permanent may only be the last rung of the ladder";
const ONE_TEMPLATE_RULE: &str = "has(self.userBan) != has(self.featureBlock)";
const ONE_TEMPLATE_MESSAGE: &str = "template must set exactly one of userBan or featureBlock";
const OFFENSES_RULE: &str = "self.all(t, t.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'))";
const OFFENSES_MESSAGE: &str = "'offense types must be lowercase tokens such as failed-login or api-abuse; got ' + self.join(', ')";
/// CEL: the counting window is held in memory, so it is bounded (one day).
const WINDOW_BOUND_RULE: &str = concat!(
    "self.findAll('[0-9]+[smhdw]').map(p, int(p.substring(0, p.size() - 1)) * (p.endsWith('s') ? 1 : p.endsWith('m') ? 60 : p.endsWith('h') ? 3600 : p.endsWith('d') ? 86400 : 604800)).sum()",
    " <= 86400"
);
const WINDOW_BOUND_MESSAGE: &str =
    "'window ' + self + ' is longer than one day (24h): offenses are counted in memory'";

/// A BanPolicy bans automatically: it counts the offenses applications report
/// for each subject and, when `threshold` of them fall within `window`,
/// creates a ban from its template, longer for each repeat (`ladder`).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "interdict.dev",
    version = "v1alpha1",
    kind = "BanPolicy",
    plural = "banpolicies",
    shortname = "bp",
    category = "interdict",
    namespaced,
    status = "BanPolicyStatus",
    doc = "BanPolicy creates bans automatically when a subject's reported offenses cross a threshold, longer for repeat offenders.",
    printcolumn(json_path = ".spec.offenses", name = "Offenses", type_ = "string"),
    printcolumn(json_path = ".spec.threshold", name = "Threshold", type_ = "integer"),
    printcolumn(json_path = ".spec.window", name = "Window", type_ = "string"),
    printcolumn(json_path = ".spec.mode", name = "Mode", type_ = "string"),
    printcolumn(json_path = ".status.bansCreated", name = "Bans", type_ = "integer"),
    printcolumn(
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason",
        name = "Status",
        type_ = "string"
    ),
    printcolumn(
        json_path = ".metadata.creationTimestamp",
        name = "Age",
        type_ = "date"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct BanPolicySpec {
    /// Offense types counted, in the application's vocabulary: lowercase
    /// tokens such as `failed-login`, `api-abuse` or `report-upheld`.
    #[schemars(length(min = 1, max = 16), inner(length(min = 1, max = 63)))]
    #[x_kube(validation = kube::core::Rule::new(OFFENSES_RULE)
        .message(kube::core::Message::Expression(OFFENSES_MESSAGE.into())))]
    pub offenses: Vec<String>,

    /// Subject kinds counted; unset or empty counts every kind. An offense
    /// names one subject of each kind it knows (a login attempt may carry the
    /// username and the address): each is counted separately.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 5))]
    pub subjects: Vec<SubjectKind>,

    /// How many offenses of one subject within `window` create a ban.
    #[schemars(range(min = 1, max = 100000))]
    pub threshold: u32,

    /// The counting window: digits with s, m, h or d, at most one day, e.g. `10m`.
    #[schemars(length(max = 32))]
    #[x_kube(validation = kube::core::Rule::new(DURATION_RULE).message(kube::core::Message::Expression(DURATION_MESSAGE.into())))]
    #[x_kube(validation = kube::core::Rule::new(WINDOW_BOUND_RULE).message(kube::core::Message::Expression(WINDOW_BOUND_MESSAGE.into())))]
    pub window: String,

    /// Durations of successive automatic bans of one subject, e.g.
    /// `[15m, 1h, 1d, Permanent]`; past the last rung the last one repeats.
    #[schemars(length(min = 1, max = 16), inner(length(min = 1, max = 32)))]
    #[x_kube(validation = kube::core::Rule::new(LADDER_RULE)
        .message(kube::core::Message::Expression(LADDER_MESSAGE.into())))]
    #[x_kube(validation = kube::core::Rule::new(PERMANENT_LAST_RULE).message(PERMANENT_LAST_MESSAGE))]
    pub ladder: Vec<String>,

    /// A clean period after which a subject starts at the bottom of the
    /// ladder again, counted from the end of its last automatic ban. Unset
    /// means never forgiven.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    #[x_kube(validation = kube::core::Rule::new(DURATION_RULE).message(kube::core::Message::Expression(DURATION_MESSAGE.into())))]
    #[x_kube(validation = kube::core::Rule::new(DURATION_BOUND_RULE).message(kube::core::Message::Expression(DURATION_BOUND_MESSAGE.into())))]
    pub forgive_after: Option<String>,

    /// `Enforce` (default) creates bans. `Observe` creates nothing and
    /// records what it would have done (status, Events, metrics): a way to
    /// tune a threshold safely.
    #[serde(default)]
    pub mode: PolicyMode,

    /// Circuit breaker: at most this many bans per minute (default 10). Past
    /// it the policy creates nothing until the minute is over and says why in
    /// its `BreakerOpen` condition, so a false-positive storm cannot ban a
    /// whole user base.
    #[serde(default = "default_max_bans_per_minute")]
    #[schemars(range(min = 1, max = 10000))]
    pub max_bans_per_minute: u32,

    /// What each automatic ban looks like.
    pub template: PolicyTemplate,
}

fn default_max_bans_per_minute() -> u32 {
    10
}

/// Whether a policy acts or only reports what it would do.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum PolicyMode {
    /// Creates bans.
    #[default]
    Enforce,
    /// Creates nothing; records what it would have created.
    Observe,
}

/// A kind of subject identifier.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum SubjectKind {
    /// The application's user id.
    UserId,
    /// A public user name.
    Username,
    /// An email address (counted and labelled by its hash).
    Email,
    /// One IPv4 or IPv6 address.
    Ip,
    /// A signing-key fingerprint.
    KeyFingerprint,
}

/// The ban a policy creates: exactly one of userBan or featureBlock.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new(ONE_TEMPLATE_RULE).message(ONE_TEMPLATE_MESSAGE))]
pub struct PolicyTemplate {
    /// Create UserBans (the whole application taken away, or silenced).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_ban: Option<UserBanTemplate>,
    /// Create FeatureBlocks (some features taken away, optionally only in the
    /// scopes the offense reported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature_block: Option<FeatureBlockTemplate>,
}

/// The fields of an automatic UserBan (its subject and duration come from
/// the offense and the ladder).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserBanTemplate {
    /// `Suspend` (default) or `Silence`.
    #[serde(default)]
    pub mode: BanMode,

    /// The ban's reason; the notes say which policy, offenses and rung made it.
    pub reason: BanReason,

    /// Text the application shows the subject: one line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    #[x_kube(validation = kube::core::Rule::new(ONE_LINE_RULE)
        .message("message must be one line without control characters"))]
    pub message: Option<String>,

    /// Whether and how the subject may appeal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appeal: Option<Appeal>,

    /// Invalidate the subject's sessions (default: true for Suspend).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoke_sessions: Option<bool>,
}

/// The fields of an automatic FeatureBlock.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct FeatureBlockTemplate {
    /// Features taken away (`*` for every feature).
    #[schemars(length(min = 1, max = 64), inner(length(min = 1, max = 63)))]
    #[x_kube(validation = kube::core::Rule::new(
        "self.all(f, f == '*' || f.matches('^[A-Za-z0-9][A-Za-z0-9._:/-]*$'))"
    ).message(kube::core::Message::Expression(
        "'features must be * or identifiers of letters, digits and . _ : / -; got ' + self.join(', ')".into()
    )))]
    pub features: Vec<String>,

    /// Fixed scopes of every block; empty means everywhere (unless
    /// scopesFromOffense).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub scopes: Vec<Scope>,

    /// Block only in the scopes the offense reported (added to `scopes`):
    /// offenses are then counted per subject and scope set.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub scopes_from_offense: bool,

    /// The block's reason.
    pub reason: BanReason,

    /// Text the application shows the subject: one line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    #[x_kube(validation = kube::core::Rule::new(ONE_LINE_RULE)
        .message("message must be one line without control characters"))]
    pub message: Option<String>,

    /// Whether and how the subject may appeal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appeal: Option<Appeal>,
}

/// Observed state of a BanPolicy: its counters since the leader started
/// counting, and what it did last.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct BanPolicyStatus {
    /// The metadata.generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Offenses of the policy's types counted.
    #[serde(default)]
    pub offenses_seen: u64,

    /// Subjects with offenses in the current window.
    #[serde(default)]
    pub subjects_tracked: u64,

    /// Bans created (Enforce).
    #[serde(default)]
    pub bans_created: u64,

    /// Bans the policy would have created (Observe).
    #[serde(default)]
    pub bans_observed: u64,

    /// Thresholds crossed by exempt subjects: no ban.
    #[serde(default)]
    pub suppressed_exempt: u64,

    /// Thresholds crossed by subjects already banned by this policy: no second ban.
    #[serde(default)]
    pub suppressed_active: u64,

    /// Bans held back by the circuit breaker.
    #[serde(default)]
    pub suppressed_breaker: u64,

    /// When the policy last created (or, observing, would have created) a ban.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_ban_at: Option<DateTime<Utc>>,

    /// The most recent decisions, newest first (at most 10).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent: Vec<PolicyAction>,

    /// `Ready`: the policy is valid and counting. `BreakerOpen`: the circuit
    /// breaker holds bans back.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
}

/// One threshold crossing and what came of it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyAction {
    /// When the threshold was crossed.
    pub at: DateTime<Utc>,
    /// The subject as shown by `kubectl get` (emails hashed).
    pub subject: String,
    /// `Created`, `Observed`, `Exempt`, `AlreadyBanned` or `Breaker`.
    pub outcome: String,
    /// The ladder rung (0 is the first), for Created and Observed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rung: Option<u32>,
    /// The ban's duration, or `Permanent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    /// The ban created, for Created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ban: Option<String>,
}
