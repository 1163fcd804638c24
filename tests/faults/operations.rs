//! The workload's operations as API calls, and what the checker reads back.

use std::time::Duration;

use interdict::api::{BanAppeal, UserBan};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::events::v1::Event;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::invariants;
use crate::workload::{self, Op, Timing};

fn ban_manifest(name: &str, user: u64, timing: Timing, appealable: bool) -> UserBan {
    let mut spec = json!({
        "subject": {"userId": format!("u{user}")},
        "reason": {"code": "spam"},
        // Every notification goes to the SMTP receiver too.
        "contact": {"email": format!("{name}@example.org")},
    });
    match timing {
        Timing::Permanent => {}
        Timing::For(seconds) => spec["duration"] = json!(format!("{seconds}s")),
        Timing::Later(starts, lasts) => {
            let at = chrono::Utc::now() + chrono::Duration::seconds(starts as i64);
            spec["startsAt"] = json!(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
            spec["duration"] = json!(format!("{lasts}s"));
        }
    }
    if appealable {
        spec["appeal"] = json!({"allowed": true});
    }
    serde_json::from_value(json!({
        "apiVersion": "interdict.dev/v1alpha1", "kind": "UserBan",
        "metadata": {"name": name}, "spec": spec,
    }))
    .unwrap()
}

/// Applies one operation; an API error during a fault is retried a few times,
/// then given up (the workload records what it could not do).
pub async fn apply(op: &Op, index: usize, namespaces: &[String], client: &kube::Client) -> bool {
    for _ in 0..20 {
        let result = match op {
            Op::Create {
                ns,
                name,
                user,
                timing,
                appealable,
            } => {
                let api = kube::Api::<UserBan>::namespaced(client.clone(), &namespaces[*ns]);
                api.create(
                    &PostParams::default(),
                    &ban_manifest(name, *user, *timing, *appealable),
                )
                .await
                .map(|_| ())
            }
            Op::Lift { ns, name } => {
                let api = kube::Api::<UserBan>::namespaced(client.clone(), &namespaces[*ns]);
                let lift = json!({"spec": {"lift": {"by": "faults", "reason": "workload"}}});
                api.patch(name, &PatchParams::default(), &Patch::Merge(&lift))
                    .await
                    .map(|_| ())
            }
            Op::Delete { ns, name } => {
                let api = kube::Api::<UserBan>::namespaced(client.clone(), &namespaces[*ns]);
                api.delete(name, &DeleteParams::default()).await.map(|_| ())
            }
            Op::Appeal { ns, ban } => {
                let api = kube::Api::<BanAppeal>::namespaced(client.clone(), &namespaces[*ns]);
                let appeal: BanAppeal = serde_json::from_value(json!({
                    "apiVersion": "interdict.dev/v1alpha1", "kind": "BanAppeal",
                    "metadata": {"name": workload::appeal_name(index, ban)},
                    "spec": {"banRef": {"kind": "UserBan", "name": ban}, "statement": "not me"},
                }))
                .unwrap();
                api.create(&PostParams::default(), &appeal)
                    .await
                    .map(|_| ())
            }
            Op::Approve { ns, appeal } => {
                let api = kube::Api::<BanAppeal>::namespaced(client.clone(), &namespaces[*ns]);
                let decision =
                    json!({"spec": {"decision": {"outcome": "Approved", "reviewer": "faults"}}});
                api.patch(appeal, &PatchParams::default(), &Patch::Merge(&decision))
                    .await
                    .map(|_| ())
            }
        };
        match result {
            Ok(()) => return true,
            // Already done (a retry after a lost answer) or gone: nothing to do.
            Err(kube::Error::Api(status)) if [404, 409, 422].contains(&status.code) => {
                return false;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
    false
}

pub async fn observe(client: &kube::Client, namespace: &str) -> Option<invariants::Observed> {
    let list = ListParams::default();
    Some(invariants::Observed {
        namespace: namespace.to_string(),
        bans: kube::Api::<UserBan>::namespaced(client.clone(), namespace)
            .list(&list)
            .await
            .ok()?
            .items,
        appeals: kube::Api::<BanAppeal>::namespaced(client.clone(), namespace)
            .list(&list)
            .await
            .ok()?
            .items,
        blocklists: kube::Api::<ConfigMap>::namespaced(client.clone(), namespace)
            .list(&list)
            .await
            .ok()?
            .items
            .into_iter()
            .filter(|cm| {
                cm.metadata
                    .name
                    .as_deref()
                    .is_some_and(|n| n.starts_with("interdict-blocklist"))
            })
            .collect(),
        events: kube::Api::<Event>::namespaced(client.clone(), namespace)
            .list(&list)
            .await
            .ok()?
            .items,
    })
}
