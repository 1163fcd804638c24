//! A pod and the operator's settings to the JSONPatch operations that wire
//! it. Only what is missing is added, so the same pod patched twice (the API
//! server retrying, a pod re-created from its own YAML, a pod wired by hand as
//! the docs show) gets nothing twice.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Pod, PodSpec, Volume};
use serde_json::{Value, json};

use super::Settings;
use super::annotations::{Asked, Refusal, asked};
use super::sidecar::{SIDECAR_NAME, VOLUME, blocklist_mount, blocklist_volume, sidecar_container};

/// The operations that wire `pod` as its annotations ask; empty when it asks
/// for nothing or has everything already.
pub fn wire(pod: &Pod, settings: &Settings) -> Result<Vec<Value>, Refusal> {
    let none = BTreeMap::new();
    let annotations = pod.metadata.annotations.as_ref().unwrap_or(&none);
    let (Some(asked), Some(spec)) = (asked(annotations)?, pod.spec.as_ref()) else {
        return Ok(Vec::new());
    };
    let mut ops = Vec::new();
    let volume = match existing_volume(spec, &settings.blocklist_name) {
        Some(name) => name,
        None => {
            ops.push(append(
                "/spec/volumes",
                spec.volumes.as_deref(),
                value(blocklist_volume(settings)),
            ));
            VOLUME.to_string()
        }
    };
    for (index, container) in targets(spec, &asked)? {
        ops.extend(mount(index, container, &volume, &asked.mount_path)?);
    }
    if asked.sidecar && !has_sidecar(spec) {
        let image = settings
            .sidecar_image
            .as_deref()
            .ok_or(Refusal::NoSidecarImage)?;
        let sidecar =
            sidecar_container(image, &volume, &asked.mount_path, asked.watch_api, settings);
        // First among the init containers, so the others can ask it too.
        ops.push(prepend(
            "/spec/initContainers",
            spec.init_containers.as_deref(),
            value(sidecar),
        ));
    }
    Ok(ops)
}

/// The pod's blocklist volume: ours by name, or one the pod's authors made
/// that reads the blocklist ConfigMap (as docs/applications.md shows).
fn existing_volume(spec: &PodSpec, blocklist: &str) -> Option<String> {
    let volumes = spec.volumes.as_deref().unwrap_or_default();
    if volumes.iter().any(|v| v.name == VOLUME) {
        return Some(VOLUME.to_string());
    }
    volumes
        .iter()
        .find(|v| reads_configmap(v, blocklist))
        .map(|v| v.name.clone())
}

fn reads_configmap(volume: &Volume, name: &str) -> bool {
    let direct = volume.config_map.as_ref().is_some_and(|c| c.name == name);
    let projected = volume
        .projected
        .as_ref()
        .and_then(|p| p.sources.as_ref())
        .is_some_and(|sources| {
            sources
                .iter()
                .any(|s| s.config_map.as_ref().is_some_and(|c| c.name == name))
        });
    direct || projected
}

/// The app containers to mount into, with their index in `spec.containers`.
fn targets<'a>(spec: &'a PodSpec, asked: &Asked) -> Result<Vec<(usize, &'a Container)>, Refusal> {
    let indexed = spec.containers.iter().enumerate();
    let Some(names) = &asked.containers else {
        // A sidecar someone added as a plain container is not an app.
        return Ok(indexed.filter(|(_, c)| c.name != SIDECAR_NAME).collect());
    };
    names
        .iter()
        .map(|name| {
            spec.containers
                .iter()
                .enumerate()
                .find(|(_, c)| c.name == *name)
                .ok_or_else(|| Refusal::UnknownContainer {
                    name: name.clone(),
                    known: spec
                        .containers
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                })
        })
        .collect()
}

fn mount(
    index: usize,
    container: &Container,
    volume: &str,
    path: &str,
) -> Result<Option<Value>, Refusal> {
    let mounts = container.volume_mounts.as_deref().unwrap_or_default();
    if mounts.iter().any(|m| m.name == volume) {
        return Ok(None);
    }
    // The API server would refuse the pod too, but without saying which
    // annotation moves the mount out of the way.
    if let Some(taken) = mounts
        .iter()
        .find(|m| m.mount_path.trim_end_matches('/') == path)
    {
        return Err(Refusal::MountPathTaken {
            container: container.name.clone(),
            volume: taken.name.clone(),
            path: path.to_string(),
        });
    }
    Ok(Some(append(
        &format!("/spec/containers/{index}/volumeMounts"),
        container.volume_mounts.as_deref(),
        value(blocklist_mount(volume, path)),
    )))
}

fn has_sidecar(spec: &PodSpec) -> bool {
    let init = spec.init_containers.as_deref().unwrap_or_default();
    spec.containers
        .iter()
        .chain(init)
        .any(|c| c.name == SIDECAR_NAME)
}

/// Adds `item` at the end of the list at `path`, creating the list if needed.
fn append<T>(path: &str, list: Option<&[T]>, item: Value) -> Value {
    match list {
        Some(items) if !items.is_empty() => {
            json!({ "op": "add", "path": format!("{path}/-"), "value": item })
        }
        _ => json!({ "op": "add", "path": path, "value": [item] }),
    }
}

/// Adds `item` at the start of the list at `path`, creating the list if needed.
fn prepend<T>(path: &str, list: Option<&[T]>, item: Value) -> Value {
    match list {
        Some(items) if !items.is_empty() => {
            json!({ "op": "add", "path": format!("{path}/0"), "value": item })
        }
        _ => json!({ "op": "add", "path": path, "value": [item] }),
    }
}

fn value(object: impl serde::Serialize) -> Value {
    serde_json::to_value(object).expect("Kubernetes objects serialise to JSON")
}

#[cfg(test)]
#[path = "patch_tests.rs"]
mod tests;
