//! Opt-in faster propagation: kubelet refreshes a mounted ConfigMap on its own
//! sync period (60–90 s) but syncs a pod's volumes at once when the pod object
//! changes. After a blocklist write, the pods that mount it get an annotation
//! carrying the content's hash, which is that change.
//!
//! The trade-off: one pod patch per mounting pod per blocklist change (API
//! load, and the pods' resourceVersions move), and the operator needs `patch`
//! on pods. Readers enforce `from`/`until` themselves, so this only matters for
//! new bans and early removals.

use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use sha2::{Digest, Sha256};

pub const ANNOTATION: &str = "interdict.dev/blocklist-hash";

/// Short hash of the shards' content fingerprints: equal content, equal
/// annotation, so a repeated nudge for the same content changes nothing.
pub fn content_hash(fingerprints: &[u64]) -> String {
    let mut hasher = Sha256::new();
    for fingerprint in fingerprints {
        hasher.update(fingerprint.to_le_bytes());
    }
    hasher
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn mounts(pod: &Pod, configmaps: &[String]) -> bool {
    let volumes = pod
        .spec
        .iter()
        .flat_map(|spec| spec.volumes.iter().flatten());
    volumes.into_iter().any(|volume| {
        let direct = volume
            .config_map
            .as_ref()
            .is_some_and(|c| configmaps.contains(&c.name));
        let projected = volume
            .projected
            .iter()
            .flat_map(|p| p.sources.iter().flatten())
            .any(|source| {
                source
                    .config_map
                    .as_ref()
                    .is_some_and(|c| configmaps.contains(&c.name))
            });
        direct || projected
    })
}

/// Annotates every pod of `namespace` that mounts `configmap`. Failures are
/// logged, never fatal: the pods still get the change on kubelet's own schedule.
pub async fn nudge(client: &Client, namespace: &str, configmaps: &[String], hash: &str) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let list = match pods.list(&ListParams::default()).await {
        Ok(list) => list,
        Err(error) => {
            tracing::warn!(namespace, %error, "cannot list pods to nudge");
            return;
        }
    };
    let patch = json!({ "metadata": { "annotations": { ANNOTATION: hash } } });
    for pod in list.items.iter().filter(|pod| mounts(pod, configmaps)) {
        if pod.annotations().get(ANNOTATION).map(String::as_str) == Some(hash) {
            continue;
        }
        let name = pod.name_any();
        match pods
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => tracing::debug!(namespace, pod = %name, "nudged"),
            Err(error) => tracing::warn!(namespace, pod = %name, %error, "cannot nudge pod"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(volumes: serde_json::Value) -> Pod {
        serde_json::from_value(json!({ "metadata": { "name": "p" }, "spec": { "containers": [], "volumes": volumes } })).unwrap()
    }

    fn names() -> Vec<String> {
        vec!["interdict-blocklist".into(), "interdict-blocklist-1".into()]
    }

    #[test]
    fn finds_direct_and_projected_mounts() {
        assert!(mounts(
            &pod(json!([{ "name": "b", "configMap": { "name": "interdict-blocklist" } }])),
            &names()
        ));
        let projected = json!([{ "name": "b", "projected": { "sources": [{ "configMap": { "name": "interdict-blocklist" } }] } }]);
        assert!(mounts(&pod(projected), &names()));
        assert!(!mounts(
            &pod(json!([{ "name": "b", "configMap": { "name": "other" } }])),
            &names()
        ));
    }

    #[test]
    fn hash_follows_content() {
        assert_eq!(content_hash(&[1, 2]), content_hash(&[1, 2]));
        assert_ne!(content_hash(&[1, 2]), content_hash(&[1, 3]));
        assert_eq!(content_hash(&[1]).len(), 16);
    }
}
