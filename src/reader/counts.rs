//! What the blocklist did: decisions counted by outcome, mode and reason code,
//! never by subject, so a moderator can see whether a ban or a policy stops
//! anything. The sidecar exposes them on `/metrics`; a Rust application hands
//! a [`DecisionCounts`] to [`super::Blocklist::set_decision_hook`] and exports
//! them however it exports metrics.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::core::Decision;

/// Distinct (outcome, mode, reason) series kept; past it reasons count as
/// `other`, so a flood of odd reason codes cannot grow the metrics without end.
pub const MAX_SERIES: usize = 256;

/// One series of [`DecisionCounts`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DecisionKey {
    /// `allowed`, `denied` or `unavailable` (nothing loaded, fail-closed).
    pub outcome: &'static str,
    /// The answer's mode (`Suspend`, `Silence`, `FeatureBlock`), or "".
    pub mode: String,
    /// The answer's reason code, or "".
    pub reason: String,
}

/// Thread-safe decision counters.
#[derive(Default, Debug)]
pub struct DecisionCounts {
    series: Mutex<BTreeMap<DecisionKey, u64>>,
}

impl DecisionCounts {
    pub fn record(&self, decision: &Decision) {
        let outcome = if decision.allowed {
            "allowed"
        } else {
            "denied"
        };
        self.add(DecisionKey {
            outcome,
            mode: decision.mode.clone().unwrap_or_default(),
            reason: decision.reason.clone().unwrap_or_default(),
        });
    }

    /// A decision refused because no blocklist had loaded.
    pub fn record_unavailable(&self) {
        self.add(DecisionKey {
            outcome: "unavailable",
            mode: String::new(),
            reason: String::new(),
        });
    }

    fn add(&self, mut key: DecisionKey) {
        let mut series = self.series.lock().expect("counts lock");
        if !series.contains_key(&key) && series.len() >= MAX_SERIES {
            key.reason = "other".into();
        }
        *series.entry(key).or_default() += 1;
    }

    /// Every series and its count, in a stable order.
    pub fn snapshot(&self) -> Vec<(DecisionKey, u64)> {
        let series = self.series.lock().expect("counts lock");
        series.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_by_outcome_mode_and_reason_never_by_subject() {
        let counts = DecisionCounts::default();
        let mut denied = Decision::allow();
        denied.allowed = false;
        denied.mode = Some("Suspend".into());
        denied.reason = Some("spam".into());
        denied.ban = Some("UserBan/a".into());
        counts.record(&denied);
        denied.ban = Some("UserBan/b".into());
        counts.record(&denied);
        counts.record(&Decision::allow());
        counts.record_unavailable();
        let snapshot = counts.snapshot();
        assert_eq!(snapshot.len(), 3);
        let denied = snapshot
            .iter()
            .find(|(k, _)| k.outcome == "denied")
            .unwrap();
        assert_eq!(
            (denied.0.mode.as_str(), denied.0.reason.as_str(), denied.1),
            ("Suspend", "spam", 2)
        );
    }

    #[test]
    fn reasons_past_the_series_cap_count_as_other() {
        let counts = DecisionCounts::default();
        let mut decision = Decision::allow();
        decision.allowed = false;
        for i in 0..MAX_SERIES + 10 {
            decision.reason = Some(format!("r{i}"));
            counts.record(&decision);
        }
        let snapshot = counts.snapshot();
        assert_eq!(snapshot.len(), MAX_SERIES + 1);
        assert!(
            snapshot
                .iter()
                .any(|(k, v)| k.reason == "other" && *v == 10)
        );
    }
}
