//! Rows from different sources about one object, made to agree: an Event
//! and the audit line of the same transition become one row, every row of an
//! object carries what is known about the object (its phase, window, makers),
//! and an appeal carries its ban's subject, reason and origin, so filters and
//! figures see the same object whichever rows they keep.

use std::collections::{BTreeMap, HashSet};

use super::record::{Facts, ObjectKey, Origin, Record, Source, is_ban, sort};

/// What is known about one object, merged from its rows.
#[derive(Default)]
struct Known {
    object: Option<Facts>,
    trail: Facts,
    last_action: Option<String>,
    subject: Option<String>,
    reason: Option<String>,
    origin: Option<Origin>,
    policy: Option<String>,
    by_policy: bool,
}

impl Known {
    fn identity_from(&mut self, record: &Record) {
        if self.subject.is_none() {
            self.subject.clone_from(&record.subject);
        }
        if self.reason.is_none() {
            self.reason.clone_from(&record.reason);
        }
        if self.origin.is_none() {
            self.origin = record.origin;
        }
        if self.policy.is_none() {
            self.policy.clone_from(&record.policy);
        }
    }

    /// Later lines describe a later state: their phase, window, lift and
    /// decision replace earlier ones; the first creation stays.
    fn fold_trail(&mut self, record: &Record) {
        let row = &record.facts;
        let trail = &mut self.trail;
        if row.phase.is_some() {
            trail.phase.clone_from(&row.phase);
        }
        if row.effective_from.is_some() {
            trail.effective_from = row.effective_from;
        }
        if row.expires_at.is_some() {
            trail.expires_at = row.expires_at;
        }
        if row.lifted_at.is_some() {
            trail.lifted_at = row.lifted_at;
            trail.lifted_by.clone_from(&row.lifted_by);
        }
        if row.decided_at.is_some() {
            trail.decided_at = row.decided_at;
            trail.decided_by.clone_from(&row.decided_by);
        }
        if row.deleted_at.is_some() {
            trail.deleted_at = row.deleted_at;
            trail.deleted_by.clone_from(&row.deleted_by);
        }
        trail.fill_from(row);
        self.last_action = Some(record.action.clone());
        self.by_policy |= record.action == "CreatedByPolicy";
    }

    fn facts(&self) -> Facts {
        match &self.object {
            Some(object) => {
                let mut facts = object.clone();
                facts.fill_from(&self.trail);
                facts
            }
            None => {
                let mut facts = self.trail.clone();
                if self.last_action.as_deref() == Some("Deleted") {
                    facts.phase = Some("Deleted".into());
                }
                facts
            }
        }
    }
}

/// The actor of a trail row that names none: who made what the row records.
fn actor_for(record: &Record, facts: &Facts) -> Option<String> {
    match record.action.as_str() {
        "Lifted" => facts.lifted_by.clone(),
        "AppealApproved" | "AppealDenied" if record.kind == "BanAppeal" => facts.decided_by.clone(),
        "AppealReceived" if record.kind == "BanAppeal" => facts.created_by.clone(),
        "Deleted" => facts.deleted_by.clone(),
        "Applied" | "Scheduled" | "Exempted" | "CreatedByPolicy" => facts.created_by.clone(),
        _ => None,
    }
}

pub fn join(records: Vec<Record>) -> Vec<Record> {
    // The audit line is the durable copy of a transition; its Event adds nothing.
    let audited: HashSet<String> = records
        .iter()
        .filter(|r| r.source == Source::Audit)
        .filter_map(|r| r.transition.clone())
        .collect();
    let mut records: Vec<Record> = records
        .into_iter()
        .filter(|r| {
            r.source != Source::Event || r.transition.as_ref().is_none_or(|t| !audited.contains(t))
        })
        .collect();
    sort(&mut records);

    let mut known: BTreeMap<ObjectKey, Known> = BTreeMap::new();
    for record in records.iter().filter(|r| r.source == Source::Object) {
        let entry = known.entry(record.key()).or_default();
        entry.object = Some(record.facts.clone());
        entry.identity_from(record);
    }
    for record in records.iter().filter(|r| r.source != Source::Object) {
        let entry = known.entry(record.key()).or_default();
        entry.fold_trail(record);
        entry.identity_from(record);
    }
    for (key, entry) in known.iter_mut() {
        if entry.by_policy {
            entry.origin = Some(Origin::Automatic);
        } else if entry.origin.is_none() && is_ban(&key.kind) {
            entry.origin = Some(Origin::Manual);
        }
    }

    let mut facts: BTreeMap<ObjectKey, Facts> = known
        .iter()
        .map(|(key, entry)| (key.clone(), entry.facts()))
        .collect();
    // An appeal speaks for its ban's subject; an accepted one shows the ban
    // allowed appeals and was appealed.
    let mut appeals = Vec::new();
    for (key, appeal) in &facts {
        let Some((kind, name)) = appeal.appeal_of.as_deref().and_then(|r| r.split_once('/')) else {
            continue;
        };
        let ban = ObjectKey {
            kind: kind.to_string(),
            namespace: key.namespace.clone(),
            name: name.to_string(),
        };
        let accepted = appeal.phase.as_deref().is_some_and(|p| p != "Refused");
        appeals.push((key.clone(), ban, accepted));
    }
    for (appeal, ban, accepted) in appeals {
        if accepted && let Some(ban_facts) = facts.get_mut(&ban) {
            ban_facts.appealable = true;
            ban_facts.appealed = true;
        }
        if let Some(ban_entry) = known.get(&ban) {
            let (subject, reason, origin, policy) = (
                ban_entry.subject.clone(),
                ban_entry.reason.clone(),
                ban_entry.origin,
                ban_entry.policy.clone(),
            );
            let entry = known.get_mut(&appeal).expect("every appeal is known");
            entry.subject = entry.subject.take().or(subject);
            entry.reason = entry.reason.take().or(reason);
            entry.origin = entry.origin.or(origin);
            entry.policy = entry.policy.take().or(policy);
        }
    }

    for record in &mut records {
        let key = record.key();
        let entry = &known[&key];
        record.facts = facts[&key].clone();
        if record.subject.is_none() {
            record.subject.clone_from(&entry.subject);
        }
        if record.reason.is_none() {
            record.reason.clone_from(&entry.reason);
        }
        record.origin = entry.origin;
        if record.policy.is_none() {
            record.policy.clone_from(&entry.policy);
        }
        if record.actor.is_none() && record.source != Source::Object {
            record.actor = actor_for(record, &record.facts);
        }
    }
    records
}

#[cfg(test)]
#[path = "join_tests.rs"]
mod tests;
