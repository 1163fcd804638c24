//! Keeping one namespace's blocklist ConfigMap equal to what the bans say.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use super::Context;
use super::error::Error;
use super::own_writes::key;

pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY: &str = "interdict";
pub const FIELD_MANAGER: &str = "interdict";

/// `existing` as read from the API server, data and all.
fn is_current(existing: &ConfigMap, desired: &BTreeMap<String, String>) -> bool {
    existing.data.as_ref() == Some(desired)
        && existing.binary_data.as_ref().is_none_or(|b| b.is_empty())
        && existing.labels().get(MANAGED_BY_LABEL).map(String::as_str) == Some(MANAGED_BY)
}

/// What [`ensure`] did.
pub struct Ensured {
    pub written: bool,
    /// The ConfigMap's resourceVersion holding `desired`, when known.
    pub version: Option<u64>,
}

/// Writes the blocklist only when its content differs, so an idle operator (or a
/// restarted one) changes nothing and readers' caches stay valid.
///
/// `existing` is the watch's view: metadata only. `ours_in_place` says it is
/// this process's own last write, whose content differs from `desired` (the
/// caller knows what it wrote), so it is written without being read. Else
/// (someone else's edit, or a ConfigMap this process has not written yet)
/// the ConfigMap is read first: only a difference is written, and keys
/// someone else added are removed.
pub async fn ensure(
    ctx: &Context,
    namespace: &str,
    name: &str,
    existing: Option<&ConfigMap>,
    ours_in_place: bool,
    desired: BTreeMap<String, String>,
) -> Result<Ensured, Error> {
    let failed = |source| Error::WriteBlocklist {
        namespace: namespace.to_string(),
        name: name.to_string(),
        source,
    };
    let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), namespace);
    let read = match existing {
        Some(_) if !ours_in_place => api.get_opt(name).await.map_err(failed)?,
        _ => None,
    };
    if let Some(in_place) = read.as_ref().filter(|cm| is_current(cm, &desired)) {
        return Ok(Ensured {
            written: false,
            version: in_place.resource_version().and_then(|v| v.parse().ok()),
        });
    }
    let existing = read.as_ref();
    // Keys someone else added (an edit, another tool) are not ours to keep:
    // a stray `blocklist-x.json` would be merged by every reader.
    let stray: Vec<String> = existing
        .into_iter()
        .flat_map(|cm| {
            let data = cm
                .data
                .iter()
                .flat_map(|d| d.keys())
                .filter(|k| !desired.contains_key(*k));
            data.chain(cm.binary_data.iter().flat_map(|d| d.keys()))
                .cloned()
                .collect::<Vec<_>>()
        })
        .collect();
    let bytes: usize = desired.values().map(String::len).sum();
    let manifest = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": { MANAGED_BY_LABEL: MANAGED_BY },
        },
        "data": desired,
    });
    let own_key = key::<ConfigMap>(namespace, name);
    let write = ctx.written.begin(own_key.clone(), namespace);
    let result = api
        .patch(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&manifest),
        )
        .await;
    write.done(result.as_ref().ok().map(|cm| &cm.metadata));
    let mut written = result.map_err(failed)?;
    if !stray.is_empty() {
        let (data, binary): (Vec<&String>, Vec<&String>) = stray.iter().partition(|k| {
            existing.is_some_and(|cm| cm.data.as_ref().is_some_and(|d| d.contains_key(*k)))
        });
        let nulls = |keys: Vec<&String>| {
            keys.into_iter()
                .map(|k| (k.clone(), serde_json::Value::Null))
                .collect::<serde_json::Map<_, _>>()
        };
        let removal = json!({ "data": nulls(data), "binaryData": nulls(binary) });
        let write = ctx.written.begin(own_key, namespace);
        let result = api
            .patch(name, &PatchParams::default(), &Patch::Merge(&removal))
            .await;
        write.done(result.as_ref().ok().map(|cm| &cm.metadata));
        written = result.map_err(failed)?;
    }
    tracing::info!(
        namespace,
        configmap = name,
        bytes,
        removed_keys = stray.len(),
        "blocklist written"
    );
    Ok(Ensured {
        written: true,
        version: written.resource_version().and_then(|v| v.parse().ok()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(data: &[(&str, &str)]) -> ConfigMap {
        let mut configmap = ConfigMap {
            data: Some(desired(data)),
            ..ConfigMap::default()
        };
        configmap
            .labels_mut()
            .insert(MANAGED_BY_LABEL.into(), MANAGED_BY.into());
        configmap
    }

    fn desired(data: &[(&str, &str)]) -> BTreeMap<String, String> {
        data.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn only_the_same_content_is_current() {
        let in_place = stored(&[("blocklist.json", "{\"entries\":[]}")]);
        assert!(is_current(
            &in_place,
            &desired(&[("blocklist.json", "{\"entries\":[]}")])
        ));
        assert!(!is_current(
            &in_place,
            &desired(&[("blocklist.json", "{\"entries\":[1]}")])
        ));
    }

    #[test]
    fn an_added_or_missing_key_is_not_current() {
        let in_place = stored(&[("blocklist.json", "a"), ("stray.json", "b")]);
        assert!(!is_current(&in_place, &desired(&[("blocklist.json", "a")])));
        let in_place = stored(&[("blocklist.json", "a")]);
        assert!(!is_current(
            &in_place,
            &desired(&[("blocklist.json", "a"), ("blocklist-plain.json", "b")])
        ));
    }

    #[test]
    fn binary_data_or_a_missing_label_is_not_current() {
        let mut in_place = stored(&[("blocklist.json", "a")]);
        in_place.binary_data = Some(BTreeMap::from([(
            "x.bin".to_string(),
            k8s_openapi::ByteString(vec![1]),
        )]));
        assert!(!is_current(&in_place, &desired(&[("blocklist.json", "a")])));
        let mut unlabelled = stored(&[("blocklist.json", "a")]);
        unlabelled.labels_mut().clear();
        assert!(!is_current(
            &unlabelled,
            &desired(&[("blocklist.json", "a")])
        ));
    }
}
