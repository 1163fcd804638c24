//! Appeals: which are accepted, which are decided, and which bans they lift.
//! Pure; the namespace pass writes the results.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::api::{AppealOutcome, AppealPhase, BanAppeal, BanKind};

/// What the pass knows about an appealed ban.
#[derive(Clone, Copy, Debug)]
pub struct Appealable {
    pub allowed: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub phase: AppealPhase,
    pub message: String,
    pub decided_at: Option<DateTime<Utc>>,
}

/// How long an appeal whose ban is not (yet) seen waits for it before it is
/// refused.
pub const MISSING_BAN_GRACE_SECONDS: i64 = 10;

/// When the appeals held back for a ban not yet seen are looked at again.
pub fn recheck_at(
    appeals: &[&BanAppeal],
    verdicts: &HashMap<String, Verdict>,
) -> Option<DateTime<Utc>> {
    appeals
        .iter()
        .filter(|a| !verdicts.contains_key(a.metadata.name.as_deref().unwrap_or_default()))
        .filter(|a| {
            a.status
                .as_ref()
                .and_then(|s| s.phase)
                .is_none_or(|p| p == AppealPhase::Pending)
        })
        .filter_map(|a| DateTime::from_timestamp(created(a) + MISSING_BAN_GRACE_SECONDS, 0))
        .min()
}

fn created(appeal: &BanAppeal) -> i64 {
    appeal
        .metadata
        .creation_timestamp
        .as_ref()
        .map_or(0, |t| t.0.as_second())
}

fn kind_name(kind: BanKind) -> &'static str {
    match kind {
        BanKind::UserBan => "UserBan",
        BanKind::FeatureBlock => "FeatureBlock",
    }
}

/// Decides every appeal of a namespace. A phase other than Pending is final, so
/// a restart or a later change never reopens or re-decides an appeal; at most
/// one appeal per ban is open, the earliest.
pub fn assess(
    appeals: &[&BanAppeal],
    ban: impl Fn(BanKind, &str) -> Option<Appealable>,
    now: DateTime<Utc>,
) -> HashMap<String, Verdict> {
    let mut ordered: Vec<&BanAppeal> = appeals.to_vec();
    ordered.sort_by_key(|a| (created(a), a.metadata.name.clone()));
    let mut open: HashMap<(BanKind, String), String> = HashMap::new();
    let mut verdicts = HashMap::new();
    for appeal in ordered {
        let name = appeal.metadata.name.clone().unwrap_or_default();
        let target = (appeal.spec.ban_ref.kind, appeal.spec.ban_ref.name.clone());
        let label = format!("{} {}", kind_name(target.0), target.1);
        let old = appeal.status.as_ref();
        let verdict = match old.and_then(|s| s.phase) {
            Some(phase) if phase != AppealPhase::Pending => Verdict {
                phase,
                message: old
                    .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
                    .map(|c| c.message.clone())
                    .unwrap_or_default(),
                decided_at: old.and_then(|s| s.decided_at),
            },
            _ => match ban(target.0, &target.1) {
                // A ban created just before its appeal may not have reached
                // this watch yet (each kind has its own): a refusal is final,
                // so it waits until the appeal is older than that.
                None if now.timestamp() < created(appeal) + MISSING_BAN_GRACE_SECONDS => continue,
                None => refused(format!("{label} does not exist in this namespace")),
                Some(found) if !found.allowed => refused(format!(
                    "{label} does not allow appeals (spec.appeal.allowed is false)"
                )),
                Some(_) => match open.get(&target) {
                    Some(other) if *other != name => {
                        refused(format!("BanAppeal {other} is already open for {label}"))
                    }
                    _ => match &appeal.spec.decision {
                        Some(decision) => {
                            let (phase, verb) = match decision.outcome {
                                AppealOutcome::Approved => {
                                    (AppealPhase::Approved, "approved; the ban is lifted")
                                }
                                AppealOutcome::Denied => {
                                    (AppealPhase::Denied, "denied; the ban stays")
                                }
                            };
                            Verdict {
                                phase,
                                message: format!("{} by {}", verb, decision.reviewer),
                                decided_at: Some(now),
                            }
                        }
                        None => Verdict {
                            phase: AppealPhase::Pending,
                            message: format!(
                                "Received; waiting for a reviewer to decide on {label}"
                            ),
                            decided_at: None,
                        },
                    },
                },
            },
        };
        if verdict.phase == AppealPhase::Pending {
            open.entry(target).or_insert_with(|| name.clone());
        }
        verdicts.insert(name, verdict);
    }
    verdicts
}

fn refused(message: String) -> Verdict {
    Verdict {
        phase: AppealPhase::Refused,
        message,
        decided_at: None,
    }
}

/// The bans lifted by approved appeals: (kind, name) → (when, `BanAppeal/<name>`).
pub fn lifts(
    appeals: &[&BanAppeal],
    verdicts: &HashMap<String, Verdict>,
) -> HashMap<(BanKind, String), (DateTime<Utc>, String)> {
    appeals
        .iter()
        .filter_map(|appeal| {
            let name = appeal.metadata.name.clone()?;
            let verdict = verdicts.get(&name)?;
            let at = verdict
                .decided_at
                .filter(|_| verdict.phase == AppealPhase::Approved)?;
            Some((
                (appeal.spec.ban_ref.kind, appeal.spec.ban_ref.name.clone()),
                (at, format!("BanAppeal/{name}")),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{AppealDecision, AppealStatus, BanAppealSpec, BanRef};
    use crate::core::entry::fixtures::at;

    fn appeal(name: &str, ban: &str, created: i64, decision: Option<AppealOutcome>) -> BanAppeal {
        let mut appeal = BanAppeal::new(
            name,
            BanAppealSpec {
                ban_ref: BanRef {
                    kind: BanKind::UserBan,
                    name: ban.into(),
                },
                statement: "I did nothing wrong".into(),
                contact: None,
                decision: decision.map(|outcome| AppealDecision {
                    outcome,
                    reviewer: "mod".into(),
                    notes: None,
                }),
            },
        );
        appeal.metadata.creation_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::from_second(1_800_000_000 + created).unwrap(),
            ));
        appeal
    }

    fn bans(kind: BanKind, name: &str) -> Option<Appealable> {
        match (kind, name) {
            (BanKind::UserBan, "open") => Some(Appealable { allowed: true }),
            (BanKind::UserBan, "closed") => Some(Appealable { allowed: false }),
            _ => None,
        }
    }

    #[test]
    fn accepts_refuses_and_decides() {
        let pending = appeal("a1", "open", 1, None);
        let duplicate = appeal("a2", "open", 2, None);
        let not_allowed = appeal("a3", "closed", 3, None);
        let missing = appeal("a4", "gone", 4, None);
        let list = [&pending, &duplicate, &not_allowed, &missing];
        // Its ban may still be on its way: no verdict yet.
        let early = assess(&list, bans, at(10));
        assert!(!early.contains_key("a4"));
        assert_eq!(recheck_at(&list, &early), Some(at(14)));
        let verdicts = assess(&list, bans, at(30));
        assert_eq!(verdicts["a1"].phase, AppealPhase::Pending);
        assert_eq!(verdicts["a2"].phase, AppealPhase::Refused);
        assert!(verdicts["a2"].message.contains("a1 is already open"));
        assert!(verdicts["a3"].message.contains("does not allow appeals"));
        assert!(verdicts["a4"].message.contains("does not exist"));
        assert!(lifts(&list, &verdicts).is_empty());
    }

    #[test]
    fn approval_lifts_and_decisions_are_final() {
        let approved = appeal("a1", "open", 1, Some(AppealOutcome::Approved));
        let verdicts = assess(&[&approved], bans, at(10));
        assert_eq!(verdicts["a1"].phase, AppealPhase::Approved);
        assert_eq!(
            lifts(&[&approved], &verdicts)[&(BanKind::UserBan, "open".to_string())],
            (at(10), "BanAppeal/a1".to_string())
        );

        // Stored as decided: a later pass keeps the decision time and phase.
        let mut stored = approved.clone();
        stored.status = Some(AppealStatus {
            phase: Some(AppealPhase::Approved),
            decided_at: Some(at(10)),
            ..Default::default()
        });
        let again = assess(&[&stored], bans, at(99));
        assert_eq!(
            (again["a1"].phase, again["a1"].decided_at),
            (AppealPhase::Approved, Some(at(10)))
        );
    }

    #[test]
    fn a_denied_appeal_frees_the_ban_for_a_new_one() {
        let mut denied = appeal("a1", "open", 1, Some(AppealOutcome::Denied));
        denied.status = Some(AppealStatus {
            phase: Some(AppealPhase::Denied),
            decided_at: Some(at(5)),
            ..Default::default()
        });
        let second = appeal("a2", "open", 2, None);
        let verdicts = assess(&[&denied, &second], bans, at(10));
        assert_eq!(verdicts["a2"].phase, AppealPhase::Pending);
    }
}
