//! The leader's policy engine: offenses are counted against every BanPolicy
//! of their namespace (pure windows, `crate::policy`), and each threshold
//! crossing becomes a ban, unless the subject is exempt, is already under an
//! automatic ban of the policy, the policy only observes, or the circuit
//! breaker is open. Counting lives in memory (a failover loses the open
//! windows, documented); the escalation history lives in the bans' labels.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::PostParams;
use kube::{Api, Client, Resource, ResourceExt};

use super::history::{Earlier, earlier_bans};
use super::records::policy_reference;
use crate::api::{BanPolicy, BanPolicyStatus, FeatureBlock, PolicyAction, PolicyMode, UserBan};
use crate::controller::audit::AuditSink;
use crate::controller::events::EventSink;
use crate::controller::metrics::Metrics;
use crate::controller::policy_metrics::PolicyLabel;
use crate::controller::sources::Stores;
use crate::core::{Scope, SubjectKey};
use crate::policy::compiled::{AutoBan, Counted, Crossing, subject_hash};
use crate::policy::{Admission, Breaker, CompiledPolicy, Offense, PastBan, Windows, next_rung};

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
    created: HashMap<String, Vec<Earlier>>,
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

    fn note(&mut self, action: PolicyAction) {
        self.counts.recent.insert(0, action);
        self.counts.recent.truncate(RECENT);
    }
}

/// One crossing, taken out of the lock to be acted on.
struct Pending {
    policy: Arc<BanPolicy>,
    compiled: CompiledPolicy,
    track_key: String,
    key: SubjectKey,
    subject: crate::api::Subject,
    scopes: Vec<Scope>,
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
    client: Client,
    policies: super::watch::PolicyStores,
    stores: Arc<Stores>,
    events: Arc<EventSink>,
    audit: Arc<AuditSink>,
    metrics: Arc<Metrics>,
    /// Most subjects tracked per policy.
    cap: usize,
    pub(super) state: Mutex<HashMap<(String, String), PolicyState>>,
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
        }
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

    fn with_state<T>(&self, policy: &BanPolicy, f: impl FnOnce(&mut PolicyState) -> T) -> T {
        let label = label(policy);
        let mut state = self.state.lock().expect("policy state");
        let st = state
            .entry((label.namespace, label.policy))
            .or_insert_with(|| PolicyState::new(policy));
        f(st)
    }

    fn decided(
        &self,
        pending: &Pending,
        outcome: &str,
        rung: Option<u32>,
        ban: Option<String>,
        now: DateTime<Utc>,
    ) {
        let label = label(&pending.policy);
        self.metrics.policies.outcome(&label, outcome);
        let duration = rung.map(|r| {
            let (rung, text) = pending.compiled.ladder.rung(r);
            rung.label(text)
        });
        self.with_state(&pending.policy, |st| {
            let counts = &mut st.counts;
            match outcome {
                "Created" => counts.bans_created += 1,
                "Observed" => counts.bans_observed += 1,
                "Exempt" => counts.suppressed_exempt += 1,
                "AlreadyBanned" => counts.suppressed_active += 1,
                "Breaker" => counts.suppressed_breaker += 1,
                _ => {}
            }
            if matches!(outcome, "Created" | "Observed") {
                counts.last_ban_at = Some(now);
            }
            st.note(PolicyAction {
                at: now,
                subject: pending.key.display(),
                outcome: outcome.to_string(),
                rung,
                duration,
                ban,
            });
        });
    }

    async fn act(&self, pending: Pending, now: DateTime<Utc>) -> Option<String> {
        let policy = pending.policy.clone();
        let namespace = policy.namespace().unwrap_or_default();
        let name = policy.name_any();
        if self.is_exempt(&namespace, &pending.key, now) {
            self.decided(&pending, "Exempt", None, None, now);
            return None;
        }
        let hash = subject_hash(&pending.track_key);
        let mut history = earlier_bans(&self.stores, &namespace, &name, &hash, now);
        self.with_state(&policy, |st| {
            for own in st.created.get(&hash).into_iter().flatten() {
                if !history.iter().any(|h| h.name == own.name) {
                    history.push(own.clone());
                }
            }
        });
        if history.iter().any(|e| e.ban.in_force(now)) {
            self.decided(&pending, "AlreadyBanned", None, None, now);
            return None;
        }
        let past: Vec<PastBan> = history.iter().map(|e| e.ban).collect();
        let rung = next_rung(&past, now, pending.compiled.forgive_after);
        let sequence = history.iter().map(|e| e.sequence).max().unwrap_or(0);
        let counted = Counted {
            track_key: pending.track_key.clone(),
            key: &pending.key,
            subject: &pending.subject,
        };
        let ban = pending.compiled.ban(&Crossing {
            policy: &name,
            counted: &counted,
            scopes: &pending.scopes,
            rung,
            sequence,
            now,
        });
        let id = format!("{}/{}", ban.kind(), ban.name());
        let (rung_kind, rung_text) = pending.compiled.ladder.rung(rung);
        let lasting = rung_kind.label(rung_text);
        if pending.compiled.mode == PolicyMode::Observe {
            self.decided(&pending, "Observed", Some(rung), None, now);
            let note = format!(
                "would ban {} for {lasting} (rung {} of {}): Observe mode creates nothing",
                pending.key.display(),
                rung + 1,
                pending.compiled.ladder.len()
            );
            self.record(&policy, "WouldBan", &note, false, now).await;
            return None;
        }
        let admission = self.with_state(&policy, |st| {
            st.breaker.admit(now, pending.compiled.max_bans_per_minute)
        });
        if let Admission::HeldBack { opened, until } = admission {
            self.decided(&pending, "Breaker", Some(rung), None, now);
            if opened {
                self.metrics.policies.breaker_tripped(&label(&policy));
                let note = format!(
                    "circuit breaker open: more than {} bans within a minute; no automatic ban until {until} (crossings are counted in status.suppressedBreaker)",
                    pending.compiled.max_bans_per_minute
                );
                self.record(&policy, "BreakerOpen", &note, true, now).await;
            }
            return None;
        }
        let created = match &ban {
            AutoBan::UserBan(object) => Api::<UserBan>::namespaced(self.client.clone(), &namespace)
                .create(&PostParams::default(), object)
                .await
                .map(|o| o.meta().uid.clone()),
            AutoBan::FeatureBlock(object) => {
                Api::<FeatureBlock>::namespaced(self.client.clone(), &namespace)
                    .create(&PostParams::default(), object)
                    .await
                    .map(|o| o.meta().uid.clone())
            }
        };
        match created {
            Ok(uid) => {
                let ended = match rung_kind {
                    crate::policy::Rung::For(duration) => Some(now + duration),
                    crate::policy::Rung::Permanent => None,
                };
                self.with_state(&policy, |st| {
                    st.created.entry(hash).or_default().push(Earlier {
                        name: ban.name(),
                        ban: PastBan {
                            rung,
                            created: now,
                            ended,
                        },
                        sequence: sequence + 1,
                    });
                });
                self.decided(&pending, "Created", Some(rung), Some(id.clone()), now);
                let note = format!(
                    "banned {} for {lasting} as {id} (rung {} of {}): {} offense(s) within {}",
                    pending.key.display(),
                    rung + 1,
                    pending.compiled.ladder.len(),
                    pending.compiled.threshold,
                    policy.spec.window
                );
                self.audit_line(&policy, "AutoBan", &note, now);
                let ban_reference = ObjectReference {
                    api_version: Some(format!("{}/{}", crate::api::GROUP, crate::api::VERSION)),
                    kind: Some(ban.kind().into()),
                    name: Some(ban.name()),
                    namespace: Some(namespace.clone()),
                    uid,
                    ..ObjectReference::default()
                };
                let ban_note = format!(
                    "created by BanPolicy {name} (rung {} of {})",
                    rung + 1,
                    pending.compiled.ladder.len()
                );
                self.events_later(vec![
                    (policy_reference(&policy), "AutoBan", note),
                    (ban_reference, "CreatedByPolicy", ban_note),
                ]);
                Some(id)
            }
            Err(kube::Error::Api(status)) if status.code == 409 => {
                // Another replica, or an earlier try, created it: one ban.
                self.decided(&pending, "AlreadyBanned", None, None, now);
                None
            }
            Err(error) => {
                tracing::warn!(%error, ban = %id, policy = %name, "cannot create an automatic ban");
                self.decided(&pending, "Failed", Some(rung), None, now);
                let note = format!("cannot create {id}: {error}");
                self.record(&policy, "AutoBanFailed", &note, true, now)
                    .await;
                None
            }
        }
    }

    /// An exemption in force names exactly this subject, or (for an address)
    /// a range that holds it.
    fn is_exempt(&self, namespace: &str, key: &SubjectKey, now: DateTime<Utc>) -> bool {
        self.stores
            .exemptions
            .in_namespace(namespace)
            .iter()
            .filter_map(|x| crate::controller::assess::compile_exemption(x).ok())
            .filter(|x| x.in_force(now))
            .any(|x| match (&x.subject, key) {
                (SubjectKey::Ip(range), SubjectKey::Ip(addr)) => {
                    match (range.parse::<crate::core::ip::IpNet>(), addr.parse()) {
                        (Ok(range), Ok(addr)) => range.contains(addr),
                        _ => range == addr,
                    }
                }
                (exempt, subject) => exempt == subject,
            })
    }
}

pub fn label(policy: &BanPolicy) -> PolicyLabel {
    PolicyLabel {
        namespace: policy.namespace().unwrap_or_default(),
        policy: policy.name_any(),
    }
}
