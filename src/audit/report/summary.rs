//! The figures a compliance review asks for, as a pure function of the rows
//! a report kept. Rows are folded into objects first (an object counts once
//! however many of its Events and lines were kept), then counted. Every
//! output format prints [`Summary::figures`] (JSON adds the structure), so
//! the numbers cannot differ between them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::filter::Filter;
use super::record::{Facts, KINDS, ObjectKey, Origin, Record, Source, is_ban};

/// A share: `numerator` of `denominator`; `rate` is absent when nothing was
/// there to count.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct Rate {
    pub numerator: u64,
    pub denominator: u64,
    pub rate: Option<f64>,
    /// As the other formats print it: `1/2 (50.0%)`, or `0/0 (-)`.
    pub text: String,
}

impl Rate {
    fn of(numerator: u64, denominator: u64) -> Rate {
        let rate = (denominator > 0).then(|| numerator as f64 / denominator as f64);
        let text = match rate {
            Some(rate) => format!("{numerator}/{denominator} ({:.1}%)", rate * 100.0),
            None => format!("{numerator}/{denominator} (-)"),
        };
        Rate {
            numerator,
            denominator,
            rate,
            text,
        }
    }

    pub fn display(&self) -> String {
        self.text.clone()
    }
}

#[derive(Serialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bans {
    /// UserBans and FeatureBlocks.
    pub total: u64,
    /// Made by a BanPolicy (label `interdict.dev/policy`).
    pub automatic: u64,
    pub manual: u64,
    /// No end: neither expiresAt nor liftedAt. Not in the median.
    pub permanent: u64,
}

#[derive(Serialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct MedianDuration {
    /// Whole seconds; absent when no ban has an end.
    pub seconds: Option<i64>,
    /// The same, as `7d`, `1d12h`, `2h30m`.
    pub text: Option<String>,
    /// Bans measured: a start and an end (expiry or lift) known.
    pub bans: u64,
}

#[derive(Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub rows: u64,
    /// Distinct objects among the rows.
    pub objects: u64,
    /// kind → phase → objects.
    pub by_kind_and_phase: BTreeMap<String, BTreeMap<String, u64>>,
    /// Reason code → bans, feature blocks and exemptions.
    pub actions_by_reason: BTreeMap<String, u64>,
    /// Actor → creations, lifts, appeal decisions and deletions (`-`: not recorded).
    pub actions_by_actor: BTreeMap<String, u64>,
    pub bans: Bans,
    /// Appealable bans that were appealed, of appealable bans.
    pub appeal_rate: Rate,
    /// Approved appeals, of decided (approved or denied) appeals.
    pub overturn_rate: Rate,
    pub median_ban_duration: MedianDuration,
    /// Event and audit-line rows by action.
    pub trail_by_action: BTreeMap<String, u64>,
}

/// One printed figure: `figure`, an optional `key`, its `value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Figure {
    pub figure: &'static str,
    pub key: String,
    pub value: String,
}

const NOT_RECORDED: &str = "-";

/// One object, as its rows describe it (joined rows agree on these).
struct Object<'a> {
    key: ObjectKey,
    facts: &'a Facts,
    reason: Option<&'a str>,
    origin: Option<Origin>,
}

fn objects(records: &[Record]) -> Vec<Object<'_>> {
    let mut seen: BTreeMap<ObjectKey, Object<'_>> = BTreeMap::new();
    for record in records.iter().filter(|r| KINDS.contains(&r.kind.as_str())) {
        seen.entry(record.key()).or_insert_with(|| Object {
            key: record.key(),
            facts: &record.facts,
            reason: record.reason.as_deref(),
            origin: record.origin,
        });
    }
    seen.into_values().collect()
}

/// `7d`, `1d12h`, `2h30m`, `45s`: the largest units first, zeros left out.
pub fn human_duration(seconds: i64) -> String {
    let mut rest = seconds.max(0);
    let mut text = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if rest >= size {
            text.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    if text.is_empty() { "0s".into() } else { text }
}

fn median(mut values: Vec<i64>) -> Option<i64> {
    values.sort_unstable();
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2),
    }
}

/// When a ban ended or will end: the earlier of its lift and its expiry.
fn end(facts: &Facts) -> Option<DateTime<Utc>> {
    match (facts.lifted_at, facts.expires_at) {
        (Some(lifted), Some(expires)) => Some(lifted.min(expires)),
        (lifted, expires) => lifted.or(expires),
    }
}

pub fn summarize(records: &[Record], filter: &Filter) -> Summary {
    let objects = objects(records);
    let mut by_kind_and_phase: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut actions_by_reason = BTreeMap::new();
    let mut actions_by_actor: BTreeMap<String, u64> = BTreeMap::new();
    let mut bans = Bans::default();
    let (mut appealable, mut appealed, mut decided, mut approved) = (0, 0, 0, 0);
    let mut durations = Vec::new();

    let mut act = |at: Option<DateTime<Utc>>, actor: Option<&str>| {
        if filter.keeps_act(at, actor) {
            *actions_by_actor
                .entry(actor.unwrap_or(NOT_RECORDED).to_string())
                .or_default() += 1;
        }
    };
    for object in &objects {
        let facts = object.facts;
        let kind = object.key.kind.as_str();
        let phase = facts.phase.as_deref().unwrap_or(NOT_RECORDED);
        *by_kind_and_phase
            .entry(kind.to_string())
            .or_default()
            .entry(phase.to_string())
            .or_default() += 1;
        act(facts.created, facts.created_by.as_deref());
        if facts.deleted_at.is_some() {
            act(facts.deleted_at, facts.deleted_by.as_deref());
        }
        if is_ban(kind) || kind == "BanExemption" {
            *actions_by_reason
                .entry(object.reason.unwrap_or(NOT_RECORDED).to_string())
                .or_default() += 1;
        }
        if is_ban(kind) {
            bans.total += 1;
            if object.origin == Some(Origin::Automatic) {
                bans.automatic += 1;
            } else {
                bans.manual += 1;
            }
            if facts.lifted_at.is_some() {
                act(facts.lifted_at, facts.lifted_by.as_deref());
            }
            if facts.appealable {
                appealable += 1;
                appealed += u64::from(facts.appealed);
            }
            match (facts.effective_from, end(facts)) {
                (Some(from), Some(until)) => durations.push((until - from).num_seconds().max(0)),
                (Some(_), None) => bans.permanent += 1,
                _ => {}
            }
        }
        if kind == "BanAppeal" && matches!(phase, "Approved" | "Denied") {
            decided += 1;
            approved += u64::from(phase == "Approved");
            act(facts.decided_at, facts.decided_by.as_deref());
        }
    }

    let mut trail_by_action = BTreeMap::new();
    for record in records.iter().filter(|r| r.source != Source::Object) {
        *trail_by_action.entry(record.action.clone()).or_default() += 1;
    }
    let measured = durations.len() as u64;
    let seconds = median(durations);
    Summary {
        rows: records.len() as u64,
        objects: objects.len() as u64,
        by_kind_and_phase,
        actions_by_reason,
        actions_by_actor,
        bans,
        appeal_rate: Rate::of(appealed, appealable),
        overturn_rate: Rate::of(approved, decided),
        median_ban_duration: MedianDuration {
            seconds,
            text: seconds.map(human_duration),
            bans: measured,
        },
        trail_by_action,
    }
}

impl Summary {
    /// The figures in print order, the same for every format.
    pub fn figures(&self) -> Vec<Figure> {
        let mut figures = Vec::new();
        let mut push = |figure: &'static str, key: &str, value: String| {
            figures.push(Figure {
                figure,
                key: key.to_string(),
                value,
            });
        };
        push("rows", "", self.rows.to_string());
        push("objects", "", self.objects.to_string());
        for (kind, phases) in &self.by_kind_and_phase {
            for (phase, count) in phases {
                push(
                    "objects by kind and phase",
                    &format!("{kind} {phase}"),
                    count.to_string(),
                );
            }
        }
        for (reason, count) in &self.actions_by_reason {
            push("actions by reason", reason, count.to_string());
        }
        for (actor, count) in &self.actions_by_actor {
            push("actions by actor", actor, count.to_string());
        }
        push("bans", "total", self.bans.total.to_string());
        push("bans", "automatic", self.bans.automatic.to_string());
        push("bans", "manual", self.bans.manual.to_string());
        push("bans", "permanent", self.bans.permanent.to_string());
        push("appeal rate", "", self.appeal_rate.display());
        push("overturn rate", "", self.overturn_rate.display());
        let median = &self.median_ban_duration;
        push(
            "median ban duration",
            "",
            median.text.clone().unwrap_or_else(|| NOT_RECORDED.into()),
        );
        push(
            "median ban duration",
            "bans measured",
            median.bans.to_string(),
        );
        for (action, count) in &self.trail_by_action {
            push("trail by action", action, count.to_string());
        }
        figures
    }
}

#[cfg(test)]
#[path = "summary_tests.rs"]
mod tests;
