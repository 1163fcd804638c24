//! Every time at which something changes by itself, in one ordered set.
//!
//! Only the ordered set is kept: what a target has armed is always a subset
//! of its timeline, a pure function of its facts, so the model disarms a
//! target with the timeline of the facts it armed from. A second index of
//! the times armed per target cost a hash table and a copy of every key
//! (≈ 3 MB at 100k bans).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use super::record::BanKey;

/// What a timer wakes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Wake {
    Ban(BanKey),
    /// An exemption's end (by name).
    Exemption(String),
}

#[derive(Default)]
pub struct Timers {
    due: BTreeSet<(DateTime<Utc>, Wake)>,
}

impl Timers {
    /// Arms the target at each of `times` still to come.
    pub fn arm(&mut self, wake: &Wake, times: &[DateTime<Utc>], now: DateTime<Utc>) {
        for at in times.iter().filter(|at| **at > now) {
            self.due.insert((*at, wake.clone()));
        }
    }

    /// Disarms the target at each of `times` (those already fired or never
    /// armed are no-ops).
    pub fn disarm(&mut self, wake: &Wake, times: &[DateTime<Utc>]) {
        for at in times {
            // Removing by a borrowed tuple would need the key cloned anyway.
            self.due.remove(&(*at, wake.clone()));
        }
    }

    /// Takes every target due at or before `now`, each once.
    pub fn take_due(&mut self, now: DateTime<Utc>) -> BTreeSet<Wake> {
        let mut fired = BTreeSet::new();
        while self.due.first().is_some_and(|(at, _)| *at <= now) {
            let (_, wake) = self.due.pop_first().expect("checked above");
            fired.insert(wake);
        }
        fired
    }

    /// The earliest armed time.
    pub fn next(&self) -> Option<DateTime<Utc>> {
        self.due.first().map(|(at, _)| *at)
    }

    /// Every armed time and its target (for tests of the disarming).
    #[cfg(test)]
    pub fn armed(&self) -> impl Iterator<Item = &(DateTime<Utc>, Wake)> {
        self.due.iter()
    }
}
