//! One threshold crossing, decided: exempt, already banned, observed, held
//! back by the breaker, or a ban created, each with its counts, metric,
//! Event and audit line.

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::PostParams;
use kube::{Api, Resource, ResourceExt};

use super::engine::{Pending, PolicyEngine, PolicyState, label};
use super::history::{Earlier, earlier_bans};
use super::records::policy_reference;
use crate::api::{BanPolicy, FeatureBlock, PolicyAction, PolicyMode, UserBan};
use crate::core::SubjectKey;
use crate::policy::compiled::{AutoBan, Counted, Crossing, subject_hash};
use crate::policy::{Admission, PastBan, next_rung};

impl PolicyEngine {
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

    pub(super) async fn act(&self, pending: Pending, now: DateTime<Utc>) -> Option<String> {
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
            .filter_map(|x| {
                crate::controller::assess::compile_exemption(x, self.email_key.as_ref()).ok()
            })
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
