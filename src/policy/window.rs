//! Each tracked subject's recent offenses: a ban is due when `threshold` of
//! them fall within `window`. Memory is bounded: past `cap` tracked subjects
//! the one whose latest offense is oldest is dropped (and counted).
//!
//! Memory per tracked subject: its key (the subject as `kind:value`, plus
//! scopes when the policy counts per scope), the offense times (12 bytes
//! each, at most `threshold`), and two map entries: about 150 bytes plus the
//! key for a threshold of 5.

use std::collections::{BTreeSet, HashMap, VecDeque};

use chrono::{DateTime, Duration, Utc};

#[derive(Debug)]
struct Tracked {
    times: VecDeque<DateTime<Utc>>,
    /// Its position in `by_latest`.
    latest: DateTime<Utc>,
}

#[derive(Debug, Default)]
pub struct Windows {
    tracked: HashMap<String, Tracked>,
    /// (latest offense, key): the eviction order.
    by_latest: BTreeSet<(DateTime<Utc>, String)>,
    /// Subjects dropped to stay under the cap.
    pub evicted: u64,
}

impl Windows {
    /// Counts one offense of `key` at `at`. Returns true when this offense
    /// makes `threshold` within `window`: the window is then emptied, so the
    /// next ban needs a full threshold of new offenses.
    pub fn record(
        &mut self,
        key: &str,
        at: DateTime<Utc>,
        now: DateTime<Utc>,
        threshold: u32,
        window: Duration,
        cap: usize,
    ) -> bool {
        let oldest_counted = now - window;
        if at <= oldest_counted {
            return false;
        }
        if !self.tracked.contains_key(key) {
            while self.tracked.len() >= cap.max(1) {
                let Some((_, victim)) = self.by_latest.pop_first() else {
                    break;
                };
                self.tracked.remove(&victim);
                self.evicted += 1;
            }
            self.tracked.insert(
                key.to_string(),
                Tracked {
                    times: VecDeque::new(),
                    latest: at,
                },
            );
            self.by_latest.insert((at, key.to_string()));
        }
        let tracked = self.tracked.get_mut(key).expect("inserted above");
        // Reports may arrive out of order: keep the times sorted.
        let position = tracked.times.partition_point(|t| *t <= at);
        tracked.times.insert(position, at);
        while tracked.times.front().is_some_and(|t| *t <= oldest_counted) {
            tracked.times.pop_front();
        }
        // Only the latest `threshold` offenses can ever matter.
        while tracked.times.len() > threshold.max(1) as usize {
            tracked.times.pop_front();
        }
        let crossed = tracked.times.len() >= threshold.max(1) as usize;
        let latest = tracked
            .times
            .back()
            .copied()
            .unwrap_or(at)
            .max(tracked.latest);
        if latest != tracked.latest {
            self.by_latest.remove(&(tracked.latest, key.to_string()));
            self.by_latest.insert((latest, key.to_string()));
            tracked.latest = latest;
        }
        if crossed {
            self.forget(key);
        }
        crossed
    }

    fn forget(&mut self, key: &str) {
        if let Some(tracked) = self.tracked.remove(key) {
            self.by_latest.remove(&(tracked.latest, key.to_string()));
        }
    }

    /// Drops subjects whose every offense is older than `window`.
    pub fn expire(&mut self, now: DateTime<Utc>, window: Duration) {
        let oldest_counted = now - window;
        while let Some((latest, _)) = self.by_latest.first() {
            if *latest > oldest_counted {
                break;
            }
            let (_, key) = self.by_latest.pop_first().expect("just seen");
            self.tracked.remove(&key);
        }
    }

    pub fn len(&self) -> usize {
        self.tracked.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tracked.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    const TEN_MINUTES: Duration = Duration::minutes(10);

    #[test]
    fn the_threshold_within_the_window_crosses_and_starts_over() {
        let mut w = Windows::default();
        for i in 0..4 {
            assert!(!w.record("userId:1", at(i * 60), at(i * 60), 5, TEN_MINUTES, 100));
        }
        assert!(w.record("userId:1", at(240), at(240), 5, TEN_MINUTES, 100));
        assert!(w.is_empty(), "a crossing empties the subject's window");
        assert!(!w.record("userId:1", at(250), at(250), 5, TEN_MINUTES, 100));
    }

    #[test]
    fn offenses_older_than_the_window_do_not_count() {
        let mut w = Windows::default();
        for i in 0..4 {
            w.record("userId:1", at(i * 200), at(i * 200), 5, TEN_MINUTES, 100);
        }
        // 0, 200, 400, 600, 800: at 800 the one at 0 and 200 are out.
        assert!(!w.record("userId:1", at(800), at(800), 5, TEN_MINUTES, 100));
        // Late reports of old offenses are not counted either.
        assert!(!w.record("userId:1", at(100), at(900), 5, TEN_MINUTES, 100));
    }

    #[test]
    fn out_of_order_reports_count_when_inside_the_window() {
        let mut w = Windows::default();
        for t in [50, 10, 40, 20] {
            assert!(!w.record("ip:203.0.113.7", at(t), at(60), 5, TEN_MINUTES, 100));
        }
        assert!(w.record("ip:203.0.113.7", at(30), at(60), 5, TEN_MINUTES, 100));
    }

    #[test]
    fn past_the_cap_the_stalest_subject_is_dropped_and_counted() {
        let mut w = Windows::default();
        w.record("a", at(0), at(0), 3, TEN_MINUTES, 2);
        w.record("b", at(5), at(5), 3, TEN_MINUTES, 2);
        w.record("a", at(6), at(6), 3, TEN_MINUTES, 2);
        w.record("c", at(7), at(7), 3, TEN_MINUTES, 2);
        assert_eq!(w.len(), 2);
        assert_eq!(w.evicted, 1);
        // "b" was the stalest: its offense is forgotten, "a" still has two.
        assert!(w.record("a", at(8), at(8), 3, TEN_MINUTES, 2));
    }

    #[test]
    fn expire_drops_subjects_with_nothing_left_in_the_window() {
        let mut w = Windows::default();
        w.record("a", at(0), at(0), 3, TEN_MINUTES, 10);
        w.record("b", at(500), at(500), 3, TEN_MINUTES, 10);
        w.expire(at(700), TEN_MINUTES);
        assert_eq!(w.len(), 1);
    }
}
