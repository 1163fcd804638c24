//! What a pod asks for, read from its annotations. A malformed value is a
//! refusal that names the annotation: the pod is not created, so the mistake
//! surfaces at `kubectl apply` (or in the ReplicaSet's FailedCreate Event),
//! instead of as a pod that starts without its blocklist and refuses every
//! request.

use std::collections::BTreeMap;

use super::sidecar::DEFAULT_MOUNT_PATH;

/// `"true"` wires the pod; `"false"` switches the webhook off for it, whatever
/// else it carries. Every other annotation here needs `"true"`.
pub const INJECT: &str = "interdict.dev/inject";
/// `"true"` also adds the decision sidecar.
pub const SIDECAR: &str = "interdict.dev/sidecar";
/// Where the blocklist is mounted, instead of `/etc/interdict`.
pub const MOUNT_PATH: &str = "interdict.dev/mount-path";
/// Comma-separated names of the containers that get the mount, instead of all.
pub const CONTAINERS: &str = "interdict.dev/containers";
/// `"true"`: the sidecar also watches the blocklist on the API server
/// (`interdict serve --watch-api`), answering a new ban within a second.
pub const WATCH_API: &str = "interdict.dev/watch-api";

/// Why a pod is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("annotation {annotation}: {value:?} is neither \"true\" nor \"false\"")]
    NotABoolean {
        annotation: &'static str,
        value: String,
    },
    #[error(
        "annotation {annotation} takes effect only with {INJECT}: \"true\"; add that annotation, or remove this one"
    )]
    WithoutInject { annotation: &'static str },
    #[error(
        "annotation {WATCH_API}: \"true\" is for the decision sidecar; add {SIDECAR}: \"true\", or remove it"
    )]
    WatchWithoutSidecar,
    #[error(
        "annotation {MOUNT_PATH}: {value:?} is not an absolute directory path such as {DEFAULT_MOUNT_PATH} (no \".\" or \"..\" parts, not \"/\")"
    )]
    MountPath { value: String },
    #[error("annotation {CONTAINERS}: {value:?} is not a comma-separated list of container names")]
    ContainerList { value: String },
    #[error(
        "annotation {CONTAINERS} names {name:?}, which is not a container of this pod (its containers: {known})"
    )]
    UnknownContainer { name: String, known: String },
    #[error(
        "container {container:?} already mounts volume {volume:?} at {path}; choose another path with annotation {MOUNT_PATH}"
    )]
    MountPathTaken {
        container: String,
        volume: String,
        path: String,
    },
    #[error(
        "annotation {SIDECAR}: \"true\" asks for the decision sidecar, but the operator runs without --sidecar-image"
    )]
    NoSidecarImage,
}

/// A pod's request to be wired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asked {
    /// Where the blocklist directory appears in the containers.
    pub mount_path: String,
    /// The containers to mount it into; `None`: every app container.
    pub containers: Option<Vec<String>>,
    /// Whether to add the decision sidecar.
    pub sidecar: bool,
    /// Whether the sidecar watches the API server too.
    pub watch_api: bool,
}

/// `Ok(None)` for a pod that does not ask to be wired (no annotation, or
/// `interdict.dev/inject: "false"`).
pub fn asked(annotations: &BTreeMap<String, String>) -> Result<Option<Asked>, Refusal> {
    match flag(annotations, INJECT)? {
        Some(true) => {}
        Some(false) => return Ok(None),
        None => {
            // A sidecar or a mount path without the switch is a half-done
            // edit (or a misspelt switch): saying so beats ignoring it.
            return match [SIDECAR, MOUNT_PATH, CONTAINERS, WATCH_API]
                .into_iter()
                .find(|key| annotations.contains_key(*key))
            {
                Some(annotation) => Err(Refusal::WithoutInject { annotation }),
                None => Ok(None),
            };
        }
    }
    let mount_path = match annotations.get(MOUNT_PATH) {
        Some(value) => mount_path(value)?,
        None => DEFAULT_MOUNT_PATH.to_string(),
    };
    let containers = annotations
        .get(CONTAINERS)
        .map(|value| container_list(value))
        .transpose()?;
    let sidecar = flag(annotations, SIDECAR)?.unwrap_or(false);
    let watch_api = flag(annotations, WATCH_API)?.unwrap_or(false);
    if watch_api && !sidecar {
        return Err(Refusal::WatchWithoutSidecar);
    }
    Ok(Some(Asked {
        mount_path,
        containers,
        sidecar,
        watch_api,
    }))
}

fn flag(
    annotations: &BTreeMap<String, String>,
    annotation: &'static str,
) -> Result<Option<bool>, Refusal> {
    match annotations.get(annotation).map(String::as_str) {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(value) => Err(Refusal::NotABoolean {
            annotation,
            value: value.to_string(),
        }),
    }
}

/// An absolute path, one trailing slash tolerated (`/etc/interdict/`).
fn mount_path(value: &str) -> Result<String, Refusal> {
    let refused = || Refusal::MountPath {
        value: value.to_string(),
    };
    let path = value.strip_suffix('/').unwrap_or(value);
    let Some(relative) = path.strip_prefix('/') else {
        return Err(refused());
    };
    // kubelet would create odd directories for these, or refuse the pod late.
    let bad_part = |part: &str| part.is_empty() || part == "." || part == "..";
    if relative.split('/').any(bad_part) || path.contains(['\\', ':']) {
        return Err(refused());
    }
    Ok(path.to_string())
}

/// Names in the order given, each once.
fn container_list(value: &str) -> Result<Vec<String>, Refusal> {
    let mut names: Vec<String> = Vec::new();
    for name in value.split(',').map(str::trim) {
        if name.is_empty() {
            return Err(Refusal::ContainerList {
                value: value.to_string(),
            });
        }
        if !names.iter().any(|known| known == name) {
            names.push(name.to_string());
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn asked_by(pairs: &[(&str, &str)]) -> Result<Option<Asked>, Refusal> {
        asked(&annotations(pairs))
    }

    #[test]
    fn a_pod_without_the_switch_or_with_it_off_asks_for_nothing() {
        assert_eq!(asked_by(&[]), Ok(None));
        assert_eq!(asked_by(&[("app.kubernetes.io/name", "shop")]), Ok(None));
        assert_eq!(asked_by(&[(INJECT, "false")]), Ok(None));
        // "false" wins over everything else, even values that would be refused.
        assert_eq!(
            asked_by(&[(INJECT, "false"), (SIDECAR, "yes"), (MOUNT_PATH, "x")]),
            Ok(None)
        );
    }

    #[test]
    fn the_switch_alone_mounts_at_the_default_path_into_every_container() {
        assert_eq!(
            asked_by(&[(INJECT, "true")]),
            Ok(Some(Asked {
                mount_path: "/etc/interdict".into(),
                containers: None,
                sidecar: false,
                watch_api: false,
            }))
        );
    }

    #[test]
    fn path_containers_and_sidecar_are_read() {
        assert_eq!(
            asked_by(&[
                (INJECT, "true"),
                (SIDECAR, "true"),
                (MOUNT_PATH, "/var/run/bans/"),
                (CONTAINERS, " web , worker,web"),
            ]),
            Ok(Some(Asked {
                mount_path: "/var/run/bans".into(),
                containers: Some(vec!["web".into(), "worker".into()]),
                sidecar: true,
                watch_api: false,
            }))
        );
        assert_eq!(
            asked_by(&[(INJECT, "true"), (SIDECAR, "true"), (WATCH_API, "true")])
                .map(|a| a.map(|a| a.watch_api)),
            Ok(Some(true))
        );
        assert_eq!(
            asked_by(&[(INJECT, "true"), (WATCH_API, "true")]),
            Err(Refusal::WatchWithoutSidecar)
        );
        assert_eq!(
            asked_by(&[(INJECT, "true"), (SIDECAR, "false")]).map(|a| a.map(|a| a.sidecar)),
            Ok(Some(false))
        );
    }

    #[test]
    fn booleans_are_exactly_true_or_false() {
        for value in ["yes", "True", "1", "", " true"] {
            assert_eq!(
                asked_by(&[(INJECT, value)]),
                Err(Refusal::NotABoolean {
                    annotation: INJECT,
                    value: value.into()
                }),
                "{value:?}"
            );
            assert_eq!(
                asked_by(&[(INJECT, "true"), (SIDECAR, value)]),
                Err(Refusal::NotABoolean {
                    annotation: SIDECAR,
                    value: value.into()
                }),
                "{value:?}"
            );
        }
    }

    #[test]
    fn other_annotations_without_the_switch_are_refused_by_name() {
        for key in [SIDECAR, MOUNT_PATH, CONTAINERS] {
            let refusal = asked_by(&[(key, "true")]).unwrap_err();
            assert_eq!(refusal, Refusal::WithoutInject { annotation: key });
            assert!(
                refusal
                    .to_string()
                    .starts_with(&format!("annotation {key} "))
            );
        }
    }

    #[test]
    fn mount_paths_must_be_absolute_and_plain() {
        for value in [
            "",
            "/",
            "etc/interdict",
            "/etc/../interdict",
            "/etc/./interdict",
            "/etc//interdict",
            "/etc/interdict//",
            "C:\\interdict",
            "/etc/inter:dict",
        ] {
            let refusal = asked_by(&[(INJECT, "true"), (MOUNT_PATH, value)]).unwrap_err();
            assert_eq!(
                refusal,
                Refusal::MountPath {
                    value: value.into()
                },
                "{value:?}"
            );
            assert!(refusal.to_string().contains(MOUNT_PATH), "{refusal}");
        }
        assert_eq!(mount_path("/a"), Ok("/a".into()));
        assert_eq!(mount_path("/a/b.d/c/"), Ok("/a/b.d/c".into()));
    }

    #[test]
    fn container_lists_have_no_empty_names() {
        for value in ["", ",", "a,,b", "a, ,b", "a,"] {
            assert_eq!(
                asked_by(&[(INJECT, "true"), (CONTAINERS, value)]),
                Err(Refusal::ContainerList {
                    value: value.into()
                }),
                "{value:?}"
            );
        }
    }
}
