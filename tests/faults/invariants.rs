//! What must hold once the faults have stopped and the system has settled.
//! Every check returns violations as sentences; the caller adds the seed.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use interdict::api::{AppealPhase, BanAppeal, Phase, UserBan};
use interdict::core::BlocklistDocument;
use interdict::core::compile::compile_user_ban;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::events::v1::Event;
use serde_json::Value;

/// One namespace as the API server holds it.
pub struct Observed {
    pub namespace: String,
    pub bans: Vec<UserBan>,
    pub appeals: Vec<BanAppeal>,
    pub blocklists: Vec<ConfigMap>,
    pub events: Vec<Event>,
}

/// The phases a ban may show at `now`: what its window says, or Lifted once
/// a lift or an approved appeal ended it (Expired if it had ended first).
fn allowed_phases(ban: &UserBan, approved: bool, now: DateTime<Utc>) -> Result<Vec<Phase>, String> {
    let window = compile_user_ban(ban, None)
        .map_err(|e| e.to_string())?
        .window;
    let by_time = window.phase_at(now);
    Ok(if ban.spec.lift.is_some() || approved {
        match by_time {
            Phase::Expired => vec![Phase::Expired, Phase::Lifted],
            _ => vec![Phase::Lifted],
        }
    } else {
        vec![by_time]
    })
}

fn ban_id(ban: &UserBan) -> String {
    format!(
        "UserBan/{}",
        ban.metadata.name.as_deref().unwrap_or_default()
    )
}

/// Blocklist and statuses agree with what the objects say at `now`.
pub fn state(observed: &Observed, now: DateTime<Utc>) -> Vec<String> {
    let mut violations = Vec::new();
    let ns = &observed.namespace;
    let approved: BTreeSet<String> = observed
        .appeals
        .iter()
        .filter(|a| a.status.as_ref().and_then(|s| s.phase) == Some(AppealPhase::Approved))
        .map(|a| a.spec.ban_ref.name.clone())
        .collect();
    let mut in_force = BTreeSet::new();
    for ban in observed
        .bans
        .iter()
        .filter(|b| b.metadata.deletion_timestamp.is_none())
    {
        let name = ban.metadata.name.clone().unwrap_or_default();
        let allowed = match allowed_phases(ban, approved.contains(&name), now) {
            Ok(allowed) => allowed,
            Err(error) => {
                violations.push(format!("{ns}/{name}: cannot compute its window: {error}"));
                continue;
            }
        };
        if allowed
            .iter()
            .any(|p| matches!(p, Phase::Active | Phase::Scheduled))
        {
            in_force.insert(ban_id(ban));
        }
        let status = ban.status.as_ref();
        let phase = status.and_then(|s| s.phase);
        if !phase.is_some_and(|p| allowed.contains(&p)) {
            violations.push(format!(
                "{ns}/{name}: status.phase {phase:?}, expected one of {allowed:?}"
            ));
        }
        let observed_generation = status.and_then(|s| s.observed_generation);
        if observed_generation != ban.metadata.generation {
            violations.push(format!(
                "{ns}/{name}: status.observedGeneration {observed_generation:?} != generation {:?}",
                ban.metadata.generation
            ));
        }
    }
    let mut published = BTreeSet::new();
    for cm in &observed.blocklists {
        for (key, text) in cm.data.iter().flatten() {
            if !key.ends_with(".json") {
                continue;
            }
            if text.len() > 1024 * 1024 {
                violations.push(format!(
                    "{ns}: {key} is {} bytes, past the ConfigMap limit",
                    text.len()
                ));
            }
            match BlocklistDocument::parse(text) {
                Ok(document) => published.extend(document.entries.into_iter().map(|e| e.id)),
                Err(error) => violations.push(format!("{ns}: {key} does not parse: {error}")),
            }
        }
    }
    for missing in in_force.difference(&published) {
        violations.push(format!(
            "{ns}: {missing} is in force but not in the blocklist"
        ));
    }
    for extra in published.difference(&in_force) {
        violations.push(format!(
            "{ns}: {extra} is in the blocklist but not in force"
        ));
    }
    violations
}

/// Transitions a ban goes through at most once in its life (appeal Events
/// come once per appeal, and a ban may have several; Applied comes again
/// after an edit).
const ONCE: [&str; 4] = ["Activated", "Expired", "Lifted", "Deleted"];

/// Every transition has exactly one Event: none of [`ONCE`] repeated on one
/// ban.
pub fn events(observed: &Observed) -> Vec<String> {
    let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
    for event in &observed.events {
        let regarding = event.regarding.as_ref();
        if regarding.and_then(|r| r.kind.as_deref()) != Some("UserBan") {
            continue;
        }
        let uid = regarding.and_then(|r| r.uid.clone()).unwrap_or_default();
        let reason = event.reason.clone().unwrap_or_default();
        if !ONCE.contains(&reason.as_str()) {
            continue;
        }
        *counts.entry((uid, reason)).or_default() += 1;
    }
    counts
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|((uid, reason), n)| {
            format!(
                "{}: {n} Events {reason} for the ban with uid {uid}",
                observed.namespace
            )
        })
        .collect()
}

/// Audit lines across every process that ran: no transition id twice in the
/// output of one process; each Event's transition has an audit line, and each
/// once-in-a-life transition's audit line has its Event (the next leader
/// writes an Event its predecessor died before). A ban deleted before any
/// process got to the Event is the exception: its later transitions are
/// recorded, its Event is not written after it is gone.
pub fn audit(lines_by_process: &[Vec<Value>], events: &[&Event]) -> (Vec<String>, usize) {
    let mut violations = Vec::new();
    let event_ids: BTreeSet<&str> = events
        .iter()
        .filter_map(|e| e.metadata.name.as_deref()?.rsplit_once('.'))
        .map(|(_, id)| id)
        .collect();
    let deleted: BTreeSet<&str> = lines_by_process
        .iter()
        .flatten()
        .filter(|line| line["action"] == "Deleted")
        .filter_map(|line| line["uid"].as_str())
        .collect();
    let mut missing = BTreeSet::new();
    for line in lines_by_process.iter().flatten() {
        let (Some(id), Some(action)) = (line["transition"].as_str(), line["action"].as_str())
        else {
            continue;
        };
        let gone = line["uid"]
            .as_str()
            .is_some_and(|uid| deleted.contains(uid));
        if line["kind"] == "UserBan"
            && ONCE.contains(&action)
            && !event_ids.contains(id)
            && (action == "Deleted" || !gone)
            && missing.insert(id.to_string())
        {
            violations.push(format!(
                "audit line {action} {} ({id}) has no Event",
                line["name"]
            ));
        }
    }
    let mut all = BTreeSet::new();
    let mut repeated_across = 0;
    for lines in lines_by_process {
        let mut seen = BTreeSet::new();
        for line in lines {
            let Some(id) = line["transition"].as_str() else {
                continue;
            };
            if !seen.insert(id.to_string()) {
                violations.push(format!(
                    "audit line {} {} ({id}) written twice by one process",
                    line["action"], line["name"]
                ));
            }
            if !all.insert(id.to_string()) {
                repeated_across += 1;
            }
        }
    }
    for event in events {
        // Events are named `<object>.<transition id>`.
        let name = event.metadata.name.clone().unwrap_or_default();
        let Some((_, id)) = name.rsplit_once('.') else {
            continue;
        };
        if id.len() == 24 && !all.contains(id) {
            violations.push(format!(
                "Event {name} ({:?}) has no audit line",
                event.reason
            ));
        }
    }
    (violations, repeated_across)
}

/// No process panicked.
pub fn logs(logs: &[(String, String)]) -> Vec<String> {
    logs.iter()
        .filter(|(_, log)| log.contains("panicked"))
        .map(|(name, _)| format!("{name} panicked"))
        .collect()
}
