//! Every time at which something changes by itself, in one ordered set.

use std::collections::{BTreeSet, HashMap};

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
    /// The times armed for each target, so re-arming removes the old ones.
    armed: HashMap<Wake, Vec<DateTime<Utc>>>,
}

impl Timers {
    /// Replaces the target's times with `times` (past ones are kept out).
    pub fn arm(&mut self, wake: Wake, times: Vec<DateTime<Utc>>, now: DateTime<Utc>) {
        self.disarm(&wake);
        let future: Vec<DateTime<Utc>> = times.into_iter().filter(|at| *at > now).collect();
        for at in &future {
            self.due.insert((*at, wake.clone()));
        }
        if !future.is_empty() {
            self.armed.insert(wake, future);
        }
    }

    pub fn disarm(&mut self, wake: &Wake) {
        for at in self.armed.remove(wake).unwrap_or_default() {
            self.due.remove(&(at, wake.clone()));
        }
    }

    /// Takes every target due at or before `now`, each once.
    pub fn take_due(&mut self, now: DateTime<Utc>) -> BTreeSet<Wake> {
        let mut fired = BTreeSet::new();
        while let Some((at, _)) = self.due.first() {
            if *at > now {
                break;
            }
            let (at, wake) = self.due.pop_first().expect("checked above");
            if let Some(times) = self.armed.get_mut(&wake) {
                times.retain(|t| *t != at);
                if times.is_empty() {
                    self.armed.remove(&wake);
                }
            }
            fired.insert(wake);
        }
        fired
    }

    /// The earliest armed time.
    pub fn next(&self) -> Option<DateTime<Utc>> {
        self.due.first().map(|(at, _)| *at)
    }
}
