//! A BanPolicy reduced to what counting needs, and the ban it creates for a
//! subject at a rung: the object, its labels (how the escalation history is
//! found again), and notes that say which policy, offenses and rung made it.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

use super::ladder::{Ladder, Rung};
use super::offense::Offense;
use crate::api::{
    BanPolicySpec, BanReason, FeatureBlock, FeatureBlockSpec, PolicyMode, PolicyTemplate, Subject,
    SubjectKind, UserBan, UserBanSpec,
};
use crate::core::duration::parse_duration;
use crate::core::{Scope, SubjectKey};

/// Every ban a policy creates carries it: `interdict.dev/policy: <name>`.
pub const POLICY_LABEL: &str = "interdict.dev/policy";
/// A hash of the subject the ban is for (emails never appear in clear).
pub const SUBJECT_LABEL: &str = "interdict.dev/policy-subject";
/// The ladder rung (0 is the first) of the ban.
pub const RUNG_LABEL: &str = "interdict.dev/policy-rung";

#[derive(Clone, Debug, PartialEq)]
pub struct CompiledPolicy {
    pub offenses: Vec<String>,
    /// Empty: every kind.
    pub subjects: Vec<SubjectKind>,
    pub threshold: u32,
    pub window: Duration,
    pub ladder: Ladder,
    pub forgive_after: Option<Duration>,
    pub mode: PolicyMode,
    pub max_bans_per_minute: u32,
    pub template: PolicyTemplate,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PolicyError {
    #[error("spec.window: {0}")]
    Window(String),
    #[error("spec.ladder[{0}]: {1}")]
    Ladder(usize, String),
    #[error("spec.forgiveAfter: {0}")]
    ForgiveAfter(String),
    #[error("spec.template must set exactly one of userBan or featureBlock")]
    Template,
}

pub fn compile(spec: &BanPolicySpec) -> Result<CompiledPolicy, PolicyError> {
    let window = parse_duration(&spec.window).map_err(|e| PolicyError::Window(e.to_string()))?;
    let ladder =
        Ladder::parse(&spec.ladder).map_err(|(i, e)| PolicyError::Ladder(i, e.to_string()))?;
    let forgive_after = spec
        .forgive_after
        .as_deref()
        .map(parse_duration)
        .transpose()
        .map_err(|e| PolicyError::ForgiveAfter(e.to_string()))?;
    if spec.template.user_ban.is_some() == spec.template.feature_block.is_some() {
        return Err(PolicyError::Template);
    }
    Ok(CompiledPolicy {
        offenses: spec.offenses.clone(),
        subjects: spec.subjects.clone(),
        threshold: spec.threshold.max(1),
        window,
        ladder,
        forgive_after,
        mode: spec.mode,
        max_bans_per_minute: spec.max_bans_per_minute.max(1),
        template: spec.template.clone(),
    })
}

fn kind_of(key: &SubjectKey) -> SubjectKind {
    match key {
        SubjectKey::UserId(_) => SubjectKind::UserId,
        SubjectKey::Username(_) => SubjectKind::Username,
        SubjectKey::Email(_) => SubjectKind::Email,
        SubjectKey::Ip(_) => SubjectKind::Ip,
        SubjectKey::KeyFingerprint(_) => SubjectKind::KeyFingerprint,
    }
}

/// One subject of one offense, as a policy counts it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counted<'a> {
    /// The window's key: the subject, and the scopes when bans are per scope.
    pub track_key: String,
    pub key: &'a SubjectKey,
    pub subject: &'a Subject,
}

impl CompiledPolicy {
    fn scoped(&self) -> bool {
        self.template
            .feature_block
            .as_ref()
            .is_some_and(|t| t.scopes_from_offense)
    }

    /// The subjects of `offense` this policy counts (none when it does not
    /// count the offense's type).
    pub fn counted<'a>(&self, offense: &'a Offense) -> Vec<Counted<'a>> {
        if !self.offenses.contains(&offense.kind) {
            return Vec::new();
        }
        offense
            .subjects
            .iter()
            .filter(|(key, _)| self.subjects.is_empty() || self.subjects.contains(&kind_of(key)))
            .map(|(key, subject)| {
                let mut track_key = key.display();
                if self.scoped() {
                    let mut scopes = offense.scopes.clone();
                    scopes.sort();
                    for scope in scopes {
                        track_key.push_str(&format!("|{}={}", scope.kind, scope.name));
                    }
                }
                Counted {
                    track_key,
                    key,
                    subject,
                }
            })
            .collect()
    }
}

/// A label-safe hash of a window key (subject, and scopes when per scope).
pub fn subject_hash(track_key: &str) -> String {
    Sha256::digest(track_key.as_bytes())
        .iter()
        .take(20)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What a crossing creates, before it is written.
#[derive(Clone, Debug)]
pub enum AutoBan {
    UserBan(UserBan),
    FeatureBlock(FeatureBlock),
}

impl AutoBan {
    pub fn name(&self) -> String {
        match self {
            AutoBan::UserBan(b) => b.metadata.name.clone().unwrap_or_default(),
            AutoBan::FeatureBlock(b) => b.metadata.name.clone().unwrap_or_default(),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            AutoBan::UserBan(_) => "UserBan",
            AutoBan::FeatureBlock(_) => "FeatureBlock",
        }
    }
}

/// Everything that decides one automatic ban.
pub struct Crossing<'a> {
    pub policy: &'a str,
    pub counted: &'a Counted<'a>,
    pub scopes: &'a [Scope],
    pub rung: u32,
    /// Earlier automatic bans of this policy and subject: the ban's name is
    /// numbered by it, so two leaders racing on one crossing create one ban.
    pub sequence: usize,
    pub now: DateTime<Utc>,
}

impl CompiledPolicy {
    pub fn ban(&self, crossing: &Crossing) -> AutoBan {
        let (rung, rung_text) = self.ladder.rung(crossing.rung);
        let duration = match rung {
            Rung::For(_) => Some(rung_text.to_string()),
            Rung::Permanent => None,
        };
        let hash = subject_hash(&crossing.counted.track_key);
        let policy_part: String = crossing.policy.chars().take(200).collect();
        let name = format!("{policy_part}-{}-{}", &hash[..10], crossing.sequence + 1);
        let labels = BTreeMap::from([
            (POLICY_LABEL.to_string(), crossing.policy.to_string()),
            (SUBJECT_LABEL.to_string(), hash),
            (RUNG_LABEL.to_string(), crossing.rung.to_string()),
        ]);
        let notes = format!(
            "Created by BanPolicy {}: {} {} offense(s) within {}; rung {} of {} ({}).",
            crossing.policy,
            self.threshold,
            self.offenses.join("/"),
            humanize(self.window),
            crossing.rung + 1,
            self.ladder.len(),
            rung.label(rung_text),
        );
        let metadata = kube::api::ObjectMeta {
            name: Some(name),
            labels: Some(labels),
            ..Default::default()
        };
        let reason = |template: &BanReason| BanReason {
            notes: Some(match &template.notes {
                Some(own) => format!("{own}\n{notes}"),
                None => notes.clone(),
            }),
            ..template.clone()
        };
        match (&self.template.user_ban, &self.template.feature_block) {
            (Some(t), _) => AutoBan::UserBan(UserBan {
                metadata,
                spec: UserBanSpec {
                    subject: crossing.counted.subject.clone(),
                    mode: t.mode,
                    duration,
                    expires_at: None,
                    starts_at: None,
                    reason: reason(&t.reason),
                    message: t.message.clone(),
                    revoke_sessions: t.revoke_sessions,
                    notify: true,
                    review_after: None,
                    lift: None,
                    contact: None,
                    appeal: t.appeal.clone(),
                },
                status: None,
            }),
            (None, Some(t)) => {
                let mut scopes: Vec<crate::api::Scope> = t.scopes.clone();
                if t.scopes_from_offense {
                    for scope in crossing.scopes {
                        let scope = crate::api::Scope {
                            kind: scope.kind.clone(),
                            name: scope.name.clone(),
                        };
                        if !scopes.contains(&scope) {
                            scopes.push(scope);
                        }
                    }
                }
                AutoBan::FeatureBlock(FeatureBlock {
                    metadata,
                    spec: FeatureBlockSpec {
                        subject: crossing.counted.subject.clone(),
                        features: t.features.clone(),
                        scopes,
                        duration,
                        expires_at: None,
                        starts_at: None,
                        reason: reason(&t.reason),
                        message: t.message.clone(),
                        lift: None,
                        contact: None,
                        appeal: t.appeal.clone(),
                        notify: true,
                    },
                    status: None,
                })
            }
            (None, None) => unreachable!("compile refuses a template without a kind"),
        }
    }
}

/// `600s` as `10m`: how the notes name the window.
fn humanize(duration: Duration) -> String {
    let seconds = duration.num_seconds();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
        if seconds >= size && seconds % size == 0 {
            return format!("{}{unit}", seconds / size);
        }
    }
    format!("{seconds}s")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::offense::parse_batch;

    fn spec(json: serde_json::Value) -> BanPolicySpec {
        serde_json::from_value(json).unwrap()
    }

    fn brute_force() -> BanPolicySpec {
        spec(serde_json::json!({
            "offenses": ["failed-login"],
            "subjects": ["username", "ip"],
            "threshold": 5,
            "window": "10m",
            "ladder": ["15m", "1h", "Permanent"],
            "forgiveAfter": "30d",
            "template": { "userBan": { "reason": { "code": "brute-force" } } },
        }))
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    #[test]
    fn only_the_counted_types_and_subject_kinds_count() {
        let policy = compile(&brute_force()).unwrap();
        let body = br#"{"namespace":"shop","offenses":[
            {"type":"failed-login","subject":{"userId":"1","username":"mallory","ip":"203.0.113.7"}},
            {"type":"api-abuse","subject":{"username":"mallory"}}]}"#;
        let (_, offenses) = parse_batch(body, now()).unwrap();
        let keys: Vec<_> = policy
            .counted(&offenses[0])
            .iter()
            .map(|c| c.track_key.clone())
            .collect();
        assert_eq!(keys, ["username:mallory", "ip:203.0.113.7"]);
        assert!(policy.counted(&offenses[1]).is_empty());
    }

    #[test]
    fn the_ban_carries_the_rung_duration_labels_and_notes() {
        let policy = compile(&brute_force()).unwrap();
        let body = br#"{"namespace":"shop","offenses":[{"type":"failed-login","subject":{"username":"mallory"}}]}"#;
        let (_, offenses) = parse_batch(body, now()).unwrap();
        let counted = policy.counted(&offenses[0]);
        let crossing = Crossing {
            policy: "brute-force-login",
            counted: &counted[0],
            scopes: &[],
            rung: 1,
            sequence: 1,
            now: now(),
        };
        let AutoBan::UserBan(ban) = policy.ban(&crossing) else {
            panic!("a UserBan template makes UserBans")
        };
        assert_eq!(ban.spec.duration.as_deref(), Some("1h"));
        assert_eq!(ban.spec.subject.username.as_deref(), Some("mallory"));
        let labels = ban.metadata.labels.unwrap();
        assert_eq!(labels[POLICY_LABEL], "brute-force-login");
        assert_eq!(labels[RUNG_LABEL], "1");
        assert_eq!(labels[SUBJECT_LABEL].len(), 40);
        assert!(ban.metadata.name.unwrap().ends_with("-2"));
        assert_eq!(
            ban.spec.reason.notes.unwrap(),
            "Created by BanPolicy brute-force-login: 5 failed-login offense(s) within 10m; rung 2 of 3 (1h)."
        );
        let top = Crossing {
            rung: 5,
            ..crossing
        };
        let AutoBan::UserBan(ban) = policy.ban(&top) else {
            unreachable!()
        };
        assert_eq!(
            ban.spec.duration, None,
            "past the top the last rung (Permanent) repeats"
        );
    }

    #[test]
    fn per_scope_blocks_count_each_scope_set_apart_and_block_there() {
        let policy = compile(&spec(serde_json::json!({
            "offenses": ["spam"],
            "threshold": 3,
            "window": "1h",
            "ladder": ["1d"],
            "template": { "featureBlock": {
                "features": ["comments"], "scopesFromOffense": true,
                "reason": { "code": "spam" } } },
        })))
        .unwrap();
        let body = br#"{"namespace":"shop","offenses":[{"type":"spam","subject":{"userId":"7"},"scopes":[{"kind":"page","name":"/p/1"}]}]}"#;
        let (_, offenses) = parse_batch(body, now()).unwrap();
        let counted = policy.counted(&offenses[0]);
        assert_eq!(counted[0].track_key, "userId:7|page=/p/1");
        let crossing = Crossing {
            policy: "spam",
            counted: &counted[0],
            scopes: &offenses[0].scopes,
            rung: 0,
            sequence: 0,
            now: now(),
        };
        let AutoBan::FeatureBlock(block) = policy.ban(&crossing) else {
            unreachable!()
        };
        assert_eq!(block.spec.scopes[0].name, "/p/1");
        assert_eq!(block.spec.duration.as_deref(), Some("1d"));
    }
}
