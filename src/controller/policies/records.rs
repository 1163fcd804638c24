//! What the policy engine leaves on the record: Events on the policy and on
//! the bans it creates, and audit lines. A created ban's Events wait a moment,
//! so its publication (watch event, pass, blocklist write) goes first on the
//! API server: like every ban's statuses and Events, they are off the path
//! that makes the ban take effect.

use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::ObjectReference;
use kube::{Resource, ResourceExt};

use super::engine::PolicyEngine;
use crate::api::BanPolicy;
use crate::controller::audit::{AUDIT_FORMAT, AuditRecord};

/// How long a created ban's Events wait behind its publication.
const EVENTS_AFTER: Duration = Duration::from_millis(250);

pub fn policy_reference(policy: &BanPolicy) -> ObjectReference {
    ObjectReference {
        api_version: Some(BanPolicy::api_version(&()).to_string()),
        kind: Some("BanPolicy".into()),
        name: Some(policy.name_any()),
        namespace: policy.namespace(),
        uid: policy.meta().uid.clone(),
        ..ObjectReference::default()
    }
}

impl PolicyEngine {
    /// An Event on the policy and an audit line, now.
    pub(super) async fn record(
        &self,
        policy: &BanPolicy,
        reason: &'static str,
        note: &str,
        warning: bool,
        now: DateTime<Utc>,
    ) {
        let regarding = policy_reference(policy);
        if let Err(error) = self
            .events()
            .publish(&regarding, warning, reason, note, None)
            .await
        {
            tracing::warn!(%error, policy = %policy.name_any(), "cannot record a policy Event");
        }
        self.audit_line(policy, reason, note, now);
    }

    pub(super) fn audit_line(
        &self,
        policy: &BanPolicy,
        action: &'static str,
        note: &str,
        now: DateTime<Utc>,
    ) {
        self.audit().record(&AuditRecord {
            audit: AUDIT_FORMAT,
            time: now,
            action,
            kind: "BanPolicy".into(),
            namespace: policy.namespace().unwrap_or_default(),
            name: policy.name_any(),
            uid: policy.meta().uid.clone().unwrap_or_default(),
            generation: policy.metadata.generation,
            transition: None,
            subject: None,
            phase: None,
            from: None,
            until: None,
            reason: None,
            actor: None,
            message: note.to_string(),
        });
    }

    /// Normal Events, written shortly after, in the background.
    pub(super) fn events_later(&self, events: Vec<(ObjectReference, &'static str, String)>) {
        let sink = self.events().clone();
        tokio::spawn(async move {
            tokio::time::sleep(EVENTS_AFTER).await;
            for (regarding, reason, note) in events {
                if let Err(error) = sink.publish(&regarding, false, reason, &note, None).await {
                    tracing::warn!(%error, %reason, "cannot record an automatic ban's Event");
                }
            }
        });
    }
}
