//! Whether the watches are healthy, and how fast they retry. After an API
//! server restart a watch must come back within seconds: kube's default backoff
//! grows to 30 s, which (with the 410 Gone re-list that often follows) left new
//! bans unpublished for up to a minute while `/readyz` said ok.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kube::runtime::utils::Backoff;

/// A watch that failed this recently counts as unhealthy. Longer than the
/// longest retry delay, so an outage keeps it unhealthy throughout; a watch
/// that resumed without error (no event is due then) turns healthy after it.
pub const UNHEALTHY_FOR: Duration = Duration::from_secs(5);

/// Exponential retry delays from `MIN` doubling to `MAX`, with up to a quarter
/// of jitter so that many watches do not retry in lockstep.
pub struct WatchBackoff {
    next: Duration,
    /// Jitter source: a small xorshift seeded per watch.
    state: u64,
}

impl WatchBackoff {
    pub const MIN: Duration = Duration::from_millis(200);
    pub const MAX: Duration = Duration::from_secs(2);

    pub fn new(seed: u64) -> Self {
        WatchBackoff {
            next: Self::MIN,
            state: seed | 1,
        }
    }

    fn jitter(&mut self) -> f64 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        (self.state % 1000) as f64 / 1000.0
    }
}

impl Iterator for WatchBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let base = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        let jitter = 1.0 - 0.25 * self.jitter();
        Some(base.mul_f64(jitter))
    }
}

impl Backoff for WatchBackoff {
    fn reset(&mut self) {
        self.next = Self::MIN;
    }
}

/// The last error of each watch that has failed, by watch name.
#[derive(Default)]
pub struct WatchHealth {
    failures: Mutex<BTreeMap<String, (Instant, String)>>,
}

impl WatchHealth {
    pub fn failed(&self, watch: &str, error: String) {
        self.failures
            .lock()
            .expect("watch health lock")
            .insert(watch.to_string(), (Instant::now(), error));
    }

    /// The watches that failed within [`UNHEALTHY_FOR`] before `now`, with their last error.
    pub fn unhealthy_at(&self, now: Instant) -> Vec<(String, String)> {
        self.failures
            .lock()
            .expect("watch health lock")
            .iter()
            .filter(|(_, (at, _))| now.saturating_duration_since(*at) < UNHEALTHY_FOR)
            .map(|(watch, (_, error))| (watch.clone(), error.clone()))
            .collect()
    }

    pub fn unhealthy(&self) -> Vec<(String, String)> {
        self.unhealthy_at(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_and_reset() {
        let mut backoff = WatchBackoff::new(42);
        let delays: Vec<Duration> = (&mut backoff).take(8).collect();
        for (delay, base) in delays
            .iter()
            .zip([200, 400, 800, 1600, 2000, 2000, 2000, 2000])
        {
            let base = Duration::from_millis(base);
            assert!(
                *delay <= base && *delay >= base.mul_f64(0.75),
                "{delay:?} vs {base:?}"
            );
        }
        assert!(delays.iter().all(|d| *d < UNHEALTHY_FOR));
        backoff.reset();
        assert!(backoff.next().unwrap() <= WatchBackoff::MIN);
    }

    #[test]
    fn a_failure_is_unhealthy_for_a_while() {
        let health = WatchHealth::default();
        let start = Instant::now();
        assert!(health.unhealthy_at(start).is_empty());
        health.failed("UserBan", "connection refused".into());
        assert_eq!(health.unhealthy_at(Instant::now()).len(), 1);
        assert!(
            health
                .unhealthy_at(Instant::now() + UNHEALTHY_FOR)
                .is_empty()
        );
    }
}
