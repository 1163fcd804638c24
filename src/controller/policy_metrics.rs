//! The policy engine's Prometheus metrics: offenses counted, what each
//! threshold crossing came to, subjects tracked and dropped, breaker trips.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PolicyLabel {
    pub namespace: String,
    pub policy: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PolicyOutcome {
    pub namespace: String,
    pub policy: String,
    /// Created, Observed, Exempt, AlreadyBanned, Breaker, Failed.
    pub outcome: String,
}

#[derive(Clone, Default)]
pub struct PolicyMetrics {
    offenses: Family<PolicyLabel, Counter>,
    outcomes: Family<PolicyOutcome, Counter>,
    tracked: Family<PolicyLabel, Gauge>,
    evicted: Family<PolicyLabel, Gauge>,
    breaker_trips: Family<PolicyLabel, Counter>,
    reports: Counter,
}

impl PolicyMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let m = PolicyMetrics::default();
        registry.register(
            "offense_reports",
            "Offenses accepted by the intake endpoint (each report of a batch)",
            m.reports.clone(),
        );
        registry.register(
            "policy_offenses",
            "Offenses counted by each BanPolicy (one per counted subject of a report)",
            m.offenses.clone(),
        );
        registry.register(
            "policy_crossings",
            "Threshold crossings by outcome: Created, Observed (Observe mode), Exempt, AlreadyBanned, Breaker, Failed",
            m.outcomes.clone(),
        );
        registry.register(
            "policy_subjects_tracked",
            "Subjects with offenses in a policy's current window",
            m.tracked.clone(),
        );
        registry.register(
            "policy_subjects_dropped",
            "Tracked subjects dropped to stay under --policy-max-subjects (their windows were lost)",
            m.evicted.clone(),
        );
        registry.register(
            "policy_breaker_trips",
            "Times a policy's circuit breaker opened",
            m.breaker_trips.clone(),
        );
        m
    }

    pub fn reports(&self, count: usize) {
        self.reports.inc_by(count as u64);
    }

    pub fn offenses(&self, label: &PolicyLabel, count: u64) {
        self.offenses.get_or_create(label).inc_by(count);
    }

    pub fn outcome(&self, label: &PolicyLabel, outcome: &str) {
        self.outcomes
            .get_or_create(&PolicyOutcome {
                namespace: label.namespace.clone(),
                policy: label.policy.clone(),
                outcome: outcome.into(),
            })
            .inc();
    }

    pub fn tracked(&self, label: &PolicyLabel, tracked: usize, evicted: u64) {
        self.tracked.get_or_create(label).set(tracked as i64);
        self.evicted.get_or_create(label).set(evicted as i64);
    }

    pub fn breaker_tripped(&self, label: &PolicyLabel) {
        self.breaker_trips.get_or_create(label).inc();
    }
}
