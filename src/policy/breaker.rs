//! The circuit breaker: at most N automatic bans per minute per policy. A
//! storm of false positives (a broken login page reporting every user) must
//! stop at N bans, not ban the whole user base.

use std::collections::VecDeque;

use chrono::{DateTime, Duration, Utc};

#[derive(Debug, Default)]
pub struct Breaker {
    /// Times of the bans admitted within the last minute, oldest first.
    recent: VecDeque<DateTime<Utc>>,
    /// Set while the breaker holds bans back.
    open_since: Option<DateTime<Utc>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    Admitted,
    /// Held back; `opened` is true for the first ban held back since the
    /// breaker last closed (the moment to tell someone).
    HeldBack {
        opened: bool,
        until: DateTime<Utc>,
    },
}

impl Breaker {
    pub fn admit(&mut self, now: DateTime<Utc>, per_minute: u32) -> Admission {
        let minute = Duration::minutes(1);
        while self.recent.front().is_some_and(|at| *at + minute <= now) {
            self.recent.pop_front();
        }
        if self.recent.len() < per_minute.max(1) as usize {
            self.recent.push_back(now);
            self.open_since = None;
            return Admission::Admitted;
        }
        let opened = self.open_since.is_none();
        self.open_since.get_or_insert(now);
        let until = self.recent.front().map_or(now, |at| *at + minute);
        Admission::HeldBack { opened, until }
    }

    /// Whether bans are being held back at `now`.
    pub fn is_open(&self, now: DateTime<Utc>) -> bool {
        self.open_since.is_some()
            && self
                .recent
                .front()
                .is_some_and(|at| *at + Duration::minutes(1) > now)
    }

    pub fn open_since(&self) -> Option<DateTime<Utc>> {
        self.open_since
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    #[test]
    fn admits_up_to_the_limit_per_minute_then_holds_back_until_the_minute_is_over() {
        let mut breaker = Breaker::default();
        for i in 0..3 {
            assert_eq!(breaker.admit(at(i), 3), Admission::Admitted);
        }
        assert_eq!(
            breaker.admit(at(10), 3),
            Admission::HeldBack {
                opened: true,
                until: at(60)
            }
        );
        assert_eq!(
            breaker.admit(at(20), 3),
            Admission::HeldBack {
                opened: false,
                until: at(60)
            }
        );
        assert!(breaker.is_open(at(30)));
        assert_eq!(breaker.admit(at(60), 3), Admission::Admitted);
        assert!(!breaker.is_open(at(61)));
    }

    #[test]
    fn a_storm_of_a_thousand_crossings_admits_exactly_the_limit() {
        let mut breaker = Breaker::default();
        let admitted = (0..1000)
            .filter(|i| breaker.admit(at(i / 100), 25) == Admission::Admitted)
            .count();
        assert_eq!(admitted, 25);
    }
}
