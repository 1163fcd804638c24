//! The operator's Prometheus metrics.

use std::collections::HashMap;
use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindResult {
    /// `Blocklist` for a namespace pass, `UserBan` / `FeatureBlock` for status writes.
    pub kind: String,
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModePhase {
    /// `Suspend`, `Silence` or `FeatureBlock`.
    pub mode: String,
    /// `Active` or `Scheduled`.
    pub phase: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TransitionLabel {
    pub r#type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConflictLabel {
    pub namespace: String,
    pub configmap: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NamespaceLabel {
    pub namespace: String,
}

pub struct Metrics {
    registry: Registry,
    reconciles: Family<KindResult, Counter>,
    reconcile_seconds: Histogram,
    entries: Family<ModePhase, Gauge>,
    transitions: Family<TransitionLabel, Counter>,
    blocklist_bytes: Family<NamespaceLabel, Gauge>,
    blocklist_conflicts: Family<ConflictLabel, Gauge>,
    blocklist_too_large: Family<NamespaceLabel, Gauge>,
    expiry_lag_seconds: Histogram,
    leader: Gauge,
    watches_healthy: Gauge,
    /// The policy engine's figures.
    pub policies: super::policy_metrics::PolicyMetrics,
    /// Published entries per namespace, so the totals can be recomputed when one changes.
    entries_by_namespace: Mutex<HashMap<String, HashMap<ModePhase, i64>>>,
    /// The foreign ConfigMap each conflicted namespace reports, to clear it later.
    conflicts: Mutex<HashMap<String, String>>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("interdict");
        let reconciles = Family::<KindResult, Counter>::default();
        registry.register(
            "reconciles",
            "Reconcile passes and status writes, by kind and result",
            reconciles.clone(),
        );
        let reconcile_seconds = Histogram::new([
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ]);
        registry.register(
            "reconcile_duration_seconds",
            "Duration of one namespace's reconcile pass",
            reconcile_seconds.clone(),
        );
        let entries = Family::<ModePhase, Gauge>::default();
        registry.register(
            "entries",
            "Published blocklist entries, by mode and phase",
            entries.clone(),
        );
        let transitions = Family::<TransitionLabel, Counter>::default();
        registry.register(
            "transitions",
            "Ban transitions recorded (Applied, Scheduled, Activated, Expired, ...)",
            transitions.clone(),
        );
        let blocklist_bytes = Family::<NamespaceLabel, Gauge>::default();
        registry.register(
            "blocklist_bytes",
            "Size of each namespace's blocklist data",
            blocklist_bytes.clone(),
        );
        let blocklist_conflicts = Family::<ConflictLabel, Gauge>::default();
        registry.register(
            "blocklist_conflicts",
            "1 while a ConfigMap with the blocklist's name exists that the operator does not manage (nothing is written there)",
            blocklist_conflicts.clone(),
        );
        let blocklist_too_large = Family::<NamespaceLabel, Gauge>::default();
        registry.register(
            "blocklist_too_large",
            "1 while a namespace's blocklist needs more shards than --max-shards allows (nothing new is published there)",
            blocklist_too_large.clone(),
        );
        let expiry_lag_seconds =
            Histogram::new([0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 30.0, 300.0]);
        registry.register(
            "expiry_lag_seconds",
            "Time between a scheduled start or expiry and the blocklist write that applied it",
            expiry_lag_seconds.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this process holds the leader lease (or runs without leader election)",
            leader.clone(),
        );
        let watches_healthy = Gauge::default();
        registry.register(
            "watches_healthy",
            "1 while every watch works; 0 while one has failed within the last 5 s (the API server unreachable, say)",
            watches_healthy.clone(),
        );
        let policies = super::policy_metrics::PolicyMetrics::register(&mut registry);
        Metrics {
            policies,
            registry,
            watches_healthy,
            reconciles,
            reconcile_seconds,
            entries,
            transitions,
            blocklist_bytes,
            blocklist_conflicts,
            blocklist_too_large,
            expiry_lag_seconds,
            leader,
            entries_by_namespace: Mutex::default(),
            conflicts: Mutex::default(),
        }
    }
}

impl Metrics {
    pub fn reconciled(&self, kind: &str, ok: bool, seconds: Option<f64>) {
        let result = if ok { "success" } else { "error" };
        self.reconciles
            .get_or_create(&KindResult {
                kind: kind.into(),
                result: result.into(),
            })
            .inc();
        if let Some(seconds) = seconds {
            self.reconcile_seconds.observe(seconds);
        }
    }

    pub fn transition(&self, kind: &str, lag_seconds: Option<f64>) {
        self.transitions
            .get_or_create(&TransitionLabel {
                r#type: kind.into(),
            })
            .inc();
        if let Some(lag) = lag_seconds {
            self.expiry_lag_seconds.observe(lag.max(0.0));
        }
    }

    pub fn blocklist_published(
        &self,
        namespace: &str,
        bytes: usize,
        counts: HashMap<ModePhase, i64>,
    ) {
        self.blocklist_bytes
            .get_or_create(&NamespaceLabel {
                namespace: namespace.into(),
            })
            .set(bytes as i64);
        let mut by_namespace = self.entries_by_namespace.lock().expect("metrics lock");
        let mut labels: Vec<ModePhase> = counts.keys().cloned().collect();
        if let Some(previous) = by_namespace.insert(namespace.to_string(), counts) {
            labels.extend(previous.into_keys());
        }
        for label in labels {
            let total: i64 = by_namespace.values().filter_map(|c| c.get(&label)).sum();
            self.entries.get_or_create(&label).set(total);
        }
    }

    /// `configmap` is the foreign ConfigMap in the way, or none once the
    /// namespace publishes again (every earlier conflict there drops to 0).
    pub fn blocklist_conflict(&self, namespace: &str, configmap: Option<&str>) {
        let mut conflicts = self.conflicts.lock().expect("metrics lock");
        let previous = conflicts.remove(namespace);
        if let Some(previous) = previous {
            self.blocklist_conflicts
                .get_or_create(&ConflictLabel {
                    namespace: namespace.into(),
                    configmap: previous,
                })
                .set(0);
        }
        if let Some(configmap) = configmap {
            self.blocklist_conflicts
                .get_or_create(&ConflictLabel {
                    namespace: namespace.into(),
                    configmap: configmap.into(),
                })
                .set(1);
            conflicts.insert(namespace.to_string(), configmap.to_string());
        }
    }

    pub fn blocklist_too_large(&self, namespace: &str, too_large: bool) {
        let label = NamespaceLabel {
            namespace: namespace.into(),
        };
        // Only namespaces that ever were too large get a series.
        if too_large || self.blocklist_too_large.get(&label).is_some() {
            self.blocklist_too_large
                .get_or_create(&label)
                .set(i64::from(too_large));
        }
    }

    pub fn set_watches_healthy(&self, healthy: bool) {
        self.watches_healthy.set(i64::from(healthy));
    }

    pub fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("metrics encode into a String");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_totals_follow_each_namespace() {
        let metrics = Metrics::default();
        let label = |mode: &str| ModePhase {
            mode: mode.into(),
            phase: "Active".into(),
        };
        metrics.blocklist_published("a", 100, HashMap::from([(label("Suspend"), 2)]));
        metrics.blocklist_published(
            "b",
            50,
            HashMap::from([(label("Suspend"), 3), (label("Silence"), 1)]),
        );
        metrics.blocklist_published("a", 10, HashMap::new());
        let text = metrics.render();
        assert!(
            text.contains("interdict_entries{mode=\"Suspend\",phase=\"Active\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("interdict_entries{mode=\"Silence\",phase=\"Active\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("interdict_blocklist_bytes{namespace=\"a\"} 10"),
            "{text}"
        );
    }
}
