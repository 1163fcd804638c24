//! One namespace's model: bans, exemptions, shards and timers, and the rules
//! that tie them together.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};

use crate::core::document::{Shard, render_shard};
use crate::core::shard::Limits;
use crate::core::{Contents, Exemption, SubjectKey};

use super::bans::{BanRecord, BanRecords};
use super::record::{BanFacts, BanKey, EchoFacts, ExemptionFacts, Published};
use super::shards::Shards;
use super::timers::{Timers, Wake};

/// A watch event, reduced to what the model needs.
#[derive(Clone, Debug)]
pub enum Change {
    Ban(BanFacts),
    BanGone(BanKey),
    Exemption(ExemptionFacts),
    ExemptionGone(String),
}

/// After a change or the passing of time: the bans whose status may have to
/// change, and every shard waiting to be rendered again.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dirty {
    pub bans: BTreeSet<BanKey>,
    pub shards: BTreeSet<u32>,
}

impl Dirty {
    fn add(&mut self, other: Dirty) {
        self.bans.extend(other.bans);
        self.shards.extend(other.shards);
    }
}

/// One shard's ConfigMap data, rendered.
pub type RenderedShard = (Shard, BTreeMap<String, String>);

/// A namespace's blocklist needs more shards than allowed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TooLarge {
    pub shards: u32,
    pub bytes: usize,
}

pub struct NamespaceModel {
    namespace: String,
    retention: Duration,
    bans: BanRecords,
    exemptions: BTreeMap<String, ExemptionFacts>,
    shards: Shards,
    timers: Timers,
}

impl NamespaceModel {
    /// `count`: the shard count already in place (it never shrinks on its
    /// own, so assignments stay stable).
    pub fn new(namespace: &str, retention: Duration, count: u32) -> Self {
        NamespaceModel {
            namespace: namespace.to_string(),
            retention,
            bans: BanRecords::default(),
            exemptions: BTreeMap::new(),
            shards: Shards::new(count),
            timers: Timers::default(),
        }
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    pub fn ban(&self, key: &BanKey) -> Option<&BanFacts> {
        self.bans.get(key).map(|r| &r.facts)
    }

    pub fn ban_count(&self) -> usize {
        self.bans.len()
    }

    pub fn shard_count(&self) -> u32 {
        self.shards.count()
    }

    /// Every published entry (in force or scheduled).
    pub fn entries(&self) -> impl Iterator<Item = &crate::core::Entry> {
        self.shards.entries()
    }

    /// The bans the model holds.
    pub fn ban_keys(&self) -> impl Iterator<Item = &BanKey> {
        self.bans.keys()
    }

    /// The exemption this ban is held back by at `now`, if any.
    pub fn exempted_by(&self, key: &BanKey, now: DateTime<Utc>) -> Option<String> {
        let subject = self.bans.get(key)?.facts.subject()?;
        self.exempting(subject, now).map(|x| x.id.clone())
    }

    /// How many armed times belong to no present target's timeline: a
    /// target replaced or removed must take its times with it.
    #[cfg(test)]
    pub fn stray_timers(&self) -> usize {
        self.timers
            .armed()
            .filter(|(at, wake)| {
                let timeline = match wake {
                    Wake::Ban(key) => self.bans.get(key).map(|r| r.facts.timeline(self.retention)),
                    Wake::Exemption(name) => self.exemptions.get(name).map(|x| x.timeline()),
                };
                !timeline.is_some_and(|times| times.contains(at))
            })
            .count()
    }

    /// The earliest time at which something changes by itself.
    pub fn next_wake(&self) -> Option<DateTime<Utc>> {
        self.timers.next()
    }

    /// The exemption in force at `now` whose subject is exactly `subject`
    /// (the first by name, so the answer does not depend on arrival order).
    pub fn exempting(&self, subject: &SubjectKey, now: DateTime<Utc>) -> Option<&Exemption> {
        self.exemptions
            .values()
            .filter_map(|x| x.in_force(now))
            .find(|x| x.subject == *subject)
    }

    /// The exemptions published at `now`, by name.
    pub fn exemptions_in_force(&self, now: DateTime<Utc>) -> Vec<Exemption> {
        self.exemptions
            .values()
            .filter_map(|x| x.in_force(now))
            .cloned()
            .collect()
    }

    /// Folds one change in at `now`. Timers already due fire first: a change
    /// re-arms its ban's timers from `now`, and would otherwise drop a start
    /// or an end that passed since the last wake-up (the plain lists change
    /// at a start although the entry does not).
    pub fn apply(&mut self, change: Change, now: DateTime<Utc>) -> Dirty {
        let mut dirty = self.advance(now);
        match change {
            Change::Ban(facts) => {
                let key = facts.key.clone();
                let published = Published::Nothing;
                let replaced = self.bans.replace(BanRecord { facts, published });
                if let Some(old) = replaced {
                    let timeline = old.facts.timeline(self.retention);
                    self.timers.disarm(&Wake::Ban(key.clone()), &timeline);
                }
                self.refresh(&key, now);
                dirty.bans.insert(key);
            }
            Change::BanGone(key) => {
                if let Some(old) = self.bans.remove(&key) {
                    self.shards.set(&key.id(), &Published::Nothing);
                    let timeline = old.facts.timeline(self.retention);
                    self.timers.disarm(&Wake::Ban(key.clone()), &timeline);
                }
                dirty.bans.insert(key);
            }
            Change::Exemption(facts) => {
                let name = facts.name.clone();
                let mut subjects = self.exemption_subject(&name);
                subjects.extend(facts.compiled.as_ref().ok().map(|x| x.subject.clone()));
                let wake = Wake::Exemption(name.clone());
                let timeline = facts.timeline();
                if let Some(old) = self.exemptions.insert(name.clone(), facts) {
                    self.timers.disarm(&wake, &old.timeline());
                }
                self.timers.arm(&wake, &timeline, now);
                self.shards.touch_exemptions();
                dirty.add(self.refresh_subjects(subjects, now));
            }
            Change::ExemptionGone(name) => {
                let subjects = self.exemption_subject(&name);
                if let Some(old) = self.exemptions.remove(&name) {
                    self.shards.touch_exemptions();
                    self.timers
                        .disarm(&Wake::Exemption(name.clone()), &old.timeline());
                }
                dirty.add(self.refresh_subjects(subjects, now));
            }
        }
        dirty.shards = self.shards.dirty().into_iter().collect();
        dirty
    }

    /// Whether an echo of this process's own write to a ban says nothing
    /// new (the same uid, generation, lift, deletion and retry time): then
    /// nothing becomes dirty, and the bans that a burst of status writes
    /// settled cost no second look. When it does say something, the ban
    /// must be folded in whole ([`NamespaceModel::apply`]). The version is
    /// not kept: nothing the model decides depends on it.
    pub fn echo_says_nothing_new(&self, echo: &EchoFacts) -> bool {
        self.bans
            .get(&echo.key)
            .is_some_and(|record| echo.agrees_with(&record.facts))
    }

    /// Fires every timer due at `now`.
    pub fn advance(&mut self, now: DateTime<Utc>) -> Dirty {
        let mut dirty = Dirty::default();
        for wake in self.timers.take_due(now) {
            match wake {
                Wake::Ban(key) => {
                    self.refresh(&key, now);
                    // A start changes what the plain lists hold though the
                    // entry itself is the same.
                    if matches!(
                        self.bans.get(&key).map(|r| &r.published),
                        Some(Published::Entry(_))
                    ) {
                        self.shards.touch(&key.id());
                    }
                    dirty.bans.insert(key);
                }
                Wake::Exemption(name) => {
                    self.shards.touch_exemptions();
                    let subjects = self.exemption_subject(&name);
                    dirty.add(self.refresh_subjects(subjects, now));
                }
            }
        }
        dirty.shards = self.shards.dirty().into_iter().collect();
        dirty
    }

    /// Renders the shards that changed since they were last rendered, doubling
    /// the shard count (never past `limits.max_count`) while one would pass
    /// `limits.max_bytes`. Rendered shards are clean afterwards; on `TooLarge`
    /// nothing is, so the next attempt renders them again.
    pub fn render_dirty(
        &mut self,
        now: DateTime<Utc>,
        limits: Limits,
    ) -> Result<Vec<RenderedShard>, TooLarge> {
        let max_count = limits.max_count.max(1);
        loop {
            let rendered = self.render_shards(&self.shards.dirty(), now);
            let largest = rendered
                .iter()
                .map(|(_, data)| data.values().map(String::len).sum::<usize>())
                .max()
                .unwrap_or(0);
            if largest <= limits.max_bytes {
                for (shard, _) in &rendered {
                    self.shards.clean(shard.index);
                }
                return Ok(rendered);
            }
            let count = self.shards.count();
            if count >= max_count {
                return Err(TooLarge {
                    shards: count,
                    bytes: largest,
                });
            }
            let next = next_count(&rendered, self.empty_shard_bytes(now), limits);
            self.shards.regroup(next);
        }
    }

    /// Renders the shards `indexes`, sharing them among every core when there
    /// are many (a first start renders every shard of a large namespace:
    /// 26 MiB at 100k bans; nothing else is waiting for the CPU then).
    fn render_shards(&self, indexes: &[u32], now: DateTime<Utc>) -> Vec<RenderedShard> {
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        if indexes.len() < PARALLEL_RENDER_FROM || threads < 2 {
            return indexes
                .iter()
                .map(|index| self.render(*index, now))
                .collect();
        }
        let chunk = indexes.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let parts: Vec<_> = indexes
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || {
                        part.iter()
                            .map(|index| self.render(*index, now))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            parts
                .into_iter()
                .flat_map(|part| part.join().expect("rendering does not panic"))
                .collect()
        })
    }

    /// The most an empty shard of the current count renders to (its document
    /// and list headers), at the index with the most digits.
    fn empty_shard_bytes(&self, now: DateTime<Utc>) -> usize {
        let count = self.shards.count();
        let shard = Shard {
            index: count - 1,
            count,
        };
        render_shard(&self.namespace, Contents::default(), now, shard)
            .values()
            .map(String::len)
            .sum()
    }

    /// Every shard, as it would be rendered now (dirty or not).
    pub fn render_all(&self, now: DateTime<Utc>) -> Vec<BTreeMap<String, String>> {
        (0..self.shards.count())
            .map(|index| self.render(index, now).1)
            .collect()
    }

    /// Everything must be written again (the ConfigMaps were edited or lost).
    pub fn mark_all_dirty(&mut self) {
        self.shards.mark_all_dirty();
    }

    fn render(&self, index: u32, now: DateTime<Utc>) -> RenderedShard {
        let shard = Shard {
            index,
            count: self.shards.count(),
        };
        let exemptions = if index == 0 {
            self.exemptions_in_force(now)
        } else {
            Vec::new()
        };
        let contents = self.shards.contents(index, &exemptions);
        (shard, render_shard(&self.namespace, contents, now, shard))
    }

    /// Recomputes what one ban publishes and re-arms its timers.
    fn refresh(&mut self, key: &BanKey, now: DateTime<Utc>) {
        let Some(record) = self.bans.get(key) else {
            return;
        };
        let exempted = record
            .facts
            .subject()
            .is_some_and(|subject| self.exempting(subject, now).is_some());
        let published = record.facts.published(exempted, now, self.retention);
        let timeline = record.facts.timeline(self.retention);
        self.shards.set(&key.id(), &published);
        // Arming is idempotent: the times already armed stay as they are.
        self.timers.arm(&Wake::Ban(key.clone()), &timeline, now);
        self.bans.update(key, |record| record.published = published);
    }

    /// Recomputes the bans of `subjects` (an exemption of theirs changed).
    /// Found by looking at every ban: exemptions change rarely, the look
    /// costs ~1 ms per 100k bans, and an index of bans by subject cost
    /// ~140 bytes per ban, held all the time.
    fn refresh_subjects(&mut self, subjects: Vec<SubjectKey>, now: DateTime<Utc>) -> Dirty {
        let mut dirty = Dirty::default();
        if subjects.is_empty() {
            return dirty;
        }
        let keys: BTreeSet<BanKey> = self
            .bans
            .iter()
            .filter(|record| {
                record
                    .facts
                    .subject()
                    .is_some_and(|subject| subjects.contains(subject))
            })
            .map(|record| record.facts.key.clone())
            .collect();
        for key in keys {
            self.refresh(&key, now);
            dirty.bans.insert(key);
        }
        dirty
    }

    fn exemption_subject(&self, name: &str) -> Vec<SubjectKey> {
        self.exemptions
            .get(name)
            .and_then(|x| x.compiled.as_ref().ok())
            .map(|x| x.subject.clone())
            .into_iter()
            .collect()
    }
}

/// Dirty shards from which rendering is shared among threads.
const PARALLEL_RENDER_FROM: usize = 4;

/// The next shard count to try after `rendered` (at the current count) did
/// not fit: doubled, and doubled again for as long as what the rendered
/// shards hold beyond their headers could not fit in that many shards even
/// spread perfectly. So the count reached is the one doubling one at a
/// time would reach (the smallest that fits), without rendering every
/// count on the way: a first start with 100k bans goes from 1 shard to 64
/// in two renders, not seven.
fn next_count(rendered: &[RenderedShard], empty_shard: usize, limits: Limits) -> u32 {
    let max_count = limits.max_count.max(1);
    let count = rendered.first().map_or(1, |(shard, _)| shard.count);
    let content: usize = rendered
        .iter()
        .map(|(_, data)| {
            data.values()
                .map(String::len)
                .sum::<usize>()
                .saturating_sub(empty_shard)
        })
        .sum();
    let mut next = (count * 2).min(max_count);
    while next < max_count && content > next as usize * limits.max_bytes {
        next = (next * 2).min(max_count);
    }
    next
}
