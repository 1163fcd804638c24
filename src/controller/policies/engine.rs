//! The leader's policy engine: offenses are counted against every BanPolicy
//! of their namespace (pure windows, `crate::policy`), and each threshold
//! crossing becomes a ban, unless the subject is exempt, is already under an
//! automatic ban of the policy, the policy only observes, or the circuit
//! breaker is open. Counting lives in memory (a failover loses the open
//! windows, documented); the escalation history lives in the bans' labels.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use kube::{Client, ResourceExt};

use super::history::Earlier;
use crate::api::{BanPolicy, BanPolicyStatus, PolicyAction};
use crate::controller::audit::AuditSink;
use crate::controller::events::EventSink;
use crate::controller::metrics::Metrics;
use crate::controller::policy_metrics::PolicyLabel;
use crate::controller::sources::Stores;
use crate::core::{EmailKey, Scope, SubjectKey};
use crate::policy::{Breaker, CompiledPolicy, Offense, Windows};

/// Recent decisions kept in a policy's status.
const RECENT: usize = 10;

/// What one policy has counted and decided since this process started
/// counting (seeded from its status, so the totals survive restarts).
pub struct PolicyState {
    pub generation: Option<i64>,
    pub compiled: Result<CompiledPolicy, String>,
    pub windows: Windows,
    pub breaker: Breaker,
    pub counts: BanPolicyStatus,
    /// Bans this process created, until the watch shows them.
    pub(super) created: HashMap<String, Vec<Earlier>>,
}

impl PolicyState {
    pub(super) fn new(policy: &BanPolicy) -> Self {
        let mut counts = policy.status.clone().unwrap_or_default();
        counts.conditions.clear();
        PolicyState {
            generation: None,
            compiled: Err(String::new()),
            windows: Windows::default(),
            breaker: Breaker::default(),
            counts,
            created: HashMap::new(),
        }
    }

    /// Compiles the policy again when its spec changed.
    pub(super) fn refresh(&mut self, policy: &BanPolicy) {
        let generation = policy.metadata.generation;
        if self.generation != generation || self.generation.is_none() {
            self.compiled = crate::policy::compile(&policy.spec).map_err(|e| e.to_string());
            self.generation = generation;
        }
    }

    pub(super) fn note(&mut self, action: PolicyAction) {
        self.counts.recent.insert(0, action);
        self.counts.recent.truncate(RECENT);
    }
}

/// One crossing, taken out of the lock to be acted on.
pub(super) struct Pending {
    pub(super) policy: Arc<BanPolicy>,
    pub(super) compiled: CompiledPolicy,
    pub(super) track_key: String,
    pub(super) key: SubjectKey,
    pub(super) subject: crate::api::Subject,
    pub(super) scopes: Vec<Scope>,
}

/// What a batch came to.
#[derive(Debug, Default)]
pub struct Reported {
    /// Offenses counted, once per policy and subject that counts them.
    pub counted: u64,
    /// Bans created by this batch, `Kind/name`.
    pub bans: Vec<String>,
}

pub struct PolicyEngine {
    pub(super) client: Client,
    policies: super::watch::PolicyStores,
    pub(super) stores: Arc<Stores>,
    events: Arc<EventSink>,
    pub(super) audit: Arc<AuditSink>,
    pub(super) metrics: Arc<Metrics>,
    /// Most subjects tracked per policy.
    pub(super) cap: usize,
    pub(super) state: Mutex<HashMap<(String, String), PolicyState>>,
    /// The operator's email key: offenses count emails keyed, as bans publish them.
    pub(super) email_key: Option<EmailKey>,
}

impl PolicyEngine {
    pub fn new(
        client: Client,
        policies: super::watch::PolicyStores,
        stores: Arc<Stores>,
        events: EventSink,
        audit: Arc<AuditSink>,
        metrics: Arc<Metrics>,
        cap: usize,
    ) -> Self {
        PolicyEngine {
            client,
            policies,
            stores,
            events: Arc::new(events),
            audit,
            metrics,
            cap,
            state: Mutex::default(),
            email_key: None,
        }
    }

    /// Counts emails keyed with `key` (the operator's `--email-hash-key-file`).
    pub fn with_email_key(mut self, key: Option<EmailKey>) -> Self {
        self.email_key = key;
        self
    }

    pub fn email_key(&self) -> Option<&EmailKey> {
        self.email_key.as_ref()
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub(super) fn events(&self) -> &Arc<EventSink> {
        &self.events
    }

    pub(super) fn audit(&self) -> &AuditSink {
        &self.audit
    }

    /// Every policy the watches hold.
    pub fn all_policies(&self) -> Vec<Arc<BanPolicy>> {
        self.policies.iter().flat_map(|(_, s)| s.state()).collect()
    }

    fn policies_in(&self, namespace: &str) -> Vec<Arc<BanPolicy>> {
        self.policies
            .iter()
            .filter(|(scope, _)| scope.as_deref().is_none_or(|s| s == namespace))
            .flat_map(|(_, store)| {
                store.state_filter(|p| p.namespace().as_deref() == Some(namespace))
            })
            .collect()
    }

    /// Counts a checked batch of `namespace` and acts on every crossing.
    pub async fn report(
        &self,
        namespace: &str,
        offenses: &[Offense],
        now: DateTime<Utc>,
    ) -> Reported {
        self.metrics.policies.reports(offenses.len());
        let mut reported = Reported::default();
        let mut crossings = Vec::new();
        {
            let mut state = self.state.lock().expect("policy state");
            for policy in self.policies_in(namespace) {
                let label = label(&policy);
                let st = state
                    .entry((label.namespace.clone(), label.policy.clone()))
                    .or_insert_with(|| PolicyState::new(&policy));
                st.refresh(&policy);
                let Ok(compiled) = &st.compiled else { continue };
                let compiled = compiled.clone();
                let mut seen = 0;
                for offense in offenses {
                    for counted in compiled.counted(offense) {
                        seen += 1;
                        let crossed = st.windows.record(
                            &counted.track_key,
                            offense.at,
                            now,
                            compiled.threshold,
                            compiled.window,
                            self.cap,
                        );
                        if crossed {
                            crossings.push(Pending {
                                policy: policy.clone(),
                                compiled: compiled.clone(),
                                track_key: counted.track_key,
                                key: counted.key.clone(),
                                subject: counted.subject.clone(),
                                scopes: offense.scopes.clone(),
                            });
                        }
                    }
                }
                st.windows.expire(now, compiled.window);
                st.counts.offenses_seen += seen;
                st.counts.subjects_tracked = st.windows.len() as u64;
                reported.counted += seen;
                self.metrics.policies.offenses(&label, seen);
                self.metrics
                    .policies
                    .tracked(&label, st.windows.len(), st.windows.evicted);
            }
        }
        for crossing in crossings {
            if let Some(ban) = self.act(crossing, now).await {
                reported.bans.push(ban);
            }
        }
        reported
    }
}

pub fn label(policy: &BanPolicy) -> PolicyLabel {
    PolicyLabel {
        namespace: policy.namespace().unwrap_or_default(),
        policy: policy.name_any(),
    }
}
