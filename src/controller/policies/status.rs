//! The policies' statuses: counts, recent decisions and conditions, written
//! by server-side apply when they changed (at most once per tick), only by
//! the leader.

use chrono::{DateTime, Utc};
use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use super::engine::{PolicyEngine, label};
use crate::api::{BanPolicy, BanPolicyStatus, PolicyMode};
use crate::controller::FIELD_MANAGER;
use crate::controller::status::condition;

pub const READY: &str = "Ready";
pub const BREAKER_OPEN: &str = "BreakerOpen";

impl PolicyEngine {
    /// Writes every policy status that differs from what is stored.
    pub async fn write_statuses(&self, now: DateTime<Utc>) {
        for policy in self.all_policies() {
            let Some(desired) = self.desired_status(&policy, now) else {
                continue;
            };
            if policy.status.as_ref() == Some(&desired) {
                continue;
            }
            let patch = json!({
                "apiVersion": "interdict.dev/v1alpha1",
                "kind": "BanPolicy",
                "status": desired,
            });
            let namespace = policy.namespace().unwrap_or_default();
            let result = Api::<BanPolicy>::namespaced(self.client().clone(), &namespace)
                .patch_status(
                    &policy.name_any(),
                    &PatchParams::apply(FIELD_MANAGER).force(),
                    &Patch::Apply(&patch),
                )
                .await;
            match result {
                Ok(_) => {}
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(error) => {
                    tracing::warn!(%error, policy = %policy.name_any(), %namespace, "cannot write a BanPolicy status")
                }
            }
        }
    }

    fn desired_status(&self, policy: &BanPolicy, now: DateTime<Utc>) -> Option<BanPolicyStatus> {
        let key = label(policy);
        let mut state = self.state.lock().expect("policy state");
        let st = state
            .entry((key.namespace, key.policy))
            .or_insert_with(|| super::engine::PolicyState::new(policy));
        st.refresh(policy);
        let previous = policy
            .status
            .as_ref()
            .map(|s| s.conditions.as_slice())
            .unwrap_or(&[]);
        let generation = policy.metadata.generation;
        let mut status = st.counts.clone();
        status.observed_generation = generation;
        status.subjects_tracked = st.windows.len() as u64;
        let ready = match &st.compiled {
            Ok(compiled) => {
                let (reason, doing) = match compiled.mode {
                    PolicyMode::Enforce => ("Enforcing", "bans"),
                    PolicyMode::Observe => ("Observing", "would ban (Observe: creates nothing)"),
                };
                let message = format!(
                    "counts {} offenses; {} of one subject within {} {doing} for {}",
                    policy.spec.offenses.join(", "),
                    compiled.threshold,
                    policy.spec.window,
                    policy.spec.ladder.join(", then "),
                );
                condition(previous, READY, true, reason, message, generation, now)
            }
            Err(error) => condition(
                previous,
                READY,
                false,
                "InvalidSpec",
                error.clone(),
                generation,
                now,
            ),
        };
        let open = st.breaker.is_open(now);
        let breaker = match (open, &st.compiled) {
            (true, Ok(compiled)) => condition(
                previous,
                BREAKER_OPEN,
                true,
                "TooManyBans",
                format!(
                    "more than {} automatic bans within a minute since {}: new bans are held back",
                    compiled.max_bans_per_minute,
                    st.breaker
                        .open_since()
                        .map(|t| t.to_rfc3339())
                        .unwrap_or_default()
                ),
                generation,
                now,
            ),
            _ => condition(
                previous,
                BREAKER_OPEN,
                false,
                "Closed",
                "automatic bans are within the per-minute limit".into(),
                generation,
                now,
            ),
        };
        status.conditions = vec![ready, breaker];
        Some(status)
    }
}
