//! What objects of each cached kind have in common, as the compression
//! dictionary of that kind's cache: a few made-up objects in the shape the
//! operator leaves them in (its finalizer and label, a settled status),
//! serialized exactly as the cache serializes objects, so that field names
//! and order, fixed values and the operator's own messages are found in the
//! dictionary instead of in every object. Only ratios depend on it: any
//! object packs and unpacks whatever the dictionary holds.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Resource;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::api::{BanAppeal, BanExemption, FeatureBlock, UserBan};

/// A kind the cache holds.
pub trait Cached: Resource<DynamicType = ()> + Serialize + DeserializeOwned {
    /// Typical objects of the kind, as JSON values.
    fn templates() -> Vec<Value>;

    /// The templates as the cache serializes them.
    fn dictionary() -> Vec<u8> {
        let mut dictionary = Vec::new();
        for template in Self::templates() {
            // A template that does not read as the kind is a defect caught by
            // the tests below; in a release it only costs compression.
            if let Ok(object) = serde_json::from_value::<Self>(template)
                && let Ok(json) = serde_json::to_vec(&object)
            {
                dictionary.extend(json);
            }
        }
        dictionary
    }
}

const TIME: &str = "2026-01-01T00:00:00Z";

fn metadata(name: &str, kind: &str, generation: i64) -> Value {
    json!({
        "creationTimestamp": TIME,
        "finalizers": ["interdict.dev/record-deletion"],
        "generation": generation,
        "labels": { "interdict.dev/subject": "0123456789abcdef0123456789abcdef0123456789abcdef" },
        "name": name,
        "namespace": "apps",
        "resourceVersion": "1234567",
        "uid": format!("{kind}-0000-4000-8000-000000000000"),
    })
}

fn ready(reason: &str, message: &str) -> Value {
    json!({
        "type": "Ready", "status": "True", "reason": reason, "message": message,
        "lastTransitionTime": TIME, "observedGeneration": 1,
    })
}

impl Cached for UserBan {
    fn templates() -> Vec<Value> {
        vec![
            json!({
                "apiVersion": "interdict.dev/v1alpha1", "kind": "UserBan",
                "metadata": metadata("spam-user-1234", "a1b2c3d4", 1),
                "spec": {
                    "subject": { "userId": "user-1234" }, "mode": "Suspend", "notify": true,
                    "reason": { "code": "spam", "notes": "Reported by moderators" },
                    "message": "Your account is suspended for repeated spam.",
                },
                "status": {
                    "observedGeneration": 1, "phase": "Active", "effectiveFrom": TIME,
                    "subject": "userId:user-1234",
                    "conditions": [ready("Active", "In force and published in ConfigMap interdict-blocklist until further notice (permanent)")],
                },
            }),
            json!({
                "apiVersion": "interdict.dev/v1alpha1", "kind": "UserBan",
                "metadata": metadata("brute-force-203-0-113-0", "e5f6a7b8", 2),
                "spec": {
                    "subject": { "ip": "203.0.113.0/24" }, "mode": "Silence", "duration": "30d", "notify": true,
                    "reason": { "code": "abuse" }, "message": "Posting is disabled for this network.",
                    "revokeSessions": true,
                    "appeal": { "allowed": true, "instructions": "Write to appeals@example.org" },
                    "lift": { "reason": "Appeal approved", "by": "moderator" },
                },
                "status": {
                    "observedGeneration": 2, "phase": "Lifted", "effectiveFrom": TIME, "expiresAt": TIME,
                    "subject": "ip:203.0.113.0/24", "liftedAt": TIME, "liftedBy": "spec.lift",
                    "conditions": [ready("Lifted", "Lifted at 2026-01-01T00:00:00Z by spec.lift; no longer in force in ConfigMap interdict-blocklist")],
                },
            }),
            json!({
                "apiVersion": "interdict.dev/v1alpha1", "kind": "UserBan",
                "metadata": metadata("email-ban", "c9d0e1f2", 1),
                "spec": {
                    "subject": { "email": "someone@example.org" },
                    "mode": "Suspend", "expiresAt": TIME, "reason": { "code": "fraud" }, "notify": true,
                },
                "status": {
                    "observedGeneration": 1, "phase": "Expired", "effectiveFrom": TIME, "expiresAt": TIME,
                    "subject": "email:sha256:0123…",
                    "conditions": [ready("Expired", "Ended at 2026-01-01T00:00:00Z; no longer in force in ConfigMap interdict-blocklist")],
                },
            }),
        ]
    }
}

impl Cached for FeatureBlock {
    fn templates() -> Vec<Value> {
        vec![json!({
            "apiVersion": "interdict.dev/v1alpha1", "kind": "FeatureBlock",
            "metadata": metadata("comments-user-1234", "f3a4b5c6", 1),
            "spec": {
                "subject": { "userId": "user-1234" }, "features": ["comments", "uploads"],
                "scopes": [{ "kind": "academy", "name": "downtown" }],
                "duration": "7d", "reason": { "code": "abuse" }, "notify": true,
                "message": "You have been blocked from this feature.",
            },
            "status": {
                "observedGeneration": 1, "phase": "Active", "effectiveFrom": TIME, "expiresAt": TIME,
                "subject": "userId:user-1234", "features": "comments,uploads", "scopes": "academy=downtown",
                "conditions": [ready("Active", "In force and published in ConfigMap interdict-blocklist until 2026-01-01T00:00:00Z")],
            },
        })]
    }
}

impl Cached for BanExemption {
    fn templates() -> Vec<Value> {
        vec![json!({
            "apiVersion": "interdict.dev/v1alpha1", "kind": "BanExemption",
            "metadata": metadata("office-network", "d7e8f9a0", 1),
            "spec": { "subject": { "ip": "198.51.100.0/24" }, "reason": { "code": "office-network" } },
        })]
    }
}

impl Cached for BanAppeal {
    fn templates() -> Vec<Value> {
        vec![json!({
            "apiVersion": "interdict.dev/v1alpha1", "kind": "BanAppeal",
            "metadata": metadata("appeal-spam-user-1234", "b1c2d3e4", 1),
            "spec": {
                "banRef": { "kind": "UserBan", "name": "spam-user-1234" },
                "statement": "I was not spamming.",
            },
        })]
    }
}

impl Cached for ConfigMap {
    /// Few (a namespace's blocklist shards), their data kept as digests.
    fn templates() -> Vec<Value> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field of every template is one the kind has (a misspelt one
    /// would be dropped, and the dictionary would hold nothing of it).
    fn every_template_reads_as<K: Cached>() {
        for template in K::templates() {
            let object: K = serde_json::from_value(template.clone())
                .unwrap_or_else(|error| panic!("{template}: {error}"));
            assert_eq!(serde_json::to_value(&object).unwrap(), template);
        }
    }

    #[test]
    fn every_template_reads_as_its_kind() {
        every_template_reads_as::<UserBan>();
        every_template_reads_as::<FeatureBlock>();
        every_template_reads_as::<BanExemption>();
        every_template_reads_as::<BanAppeal>();
        assert!(UserBan::dictionary().len() > 1000);
    }
}
