use serde_json::{Value, json};

use super::*;
use crate::inject::annotations::{CONTAINERS, INJECT, MOUNT_PATH, SIDECAR, WATCH_API};

fn settings() -> Settings {
    Settings {
        blocklist_name: "interdict-blocklist".into(),
        max_shards: 16,
        sidecar_image: Some("interdict:0.1.0".into()),
        operator_url: None,
    }
}

/// A pod with containers `app` and `worker` and the given annotations.
fn pod(annotations: &[(&str, &str)]) -> Value {
    let annotations: serde_json::Map<String, Value> = annotations
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    json!({
        "metadata": { "name": "shop", "annotations": annotations },
        "spec": {
            "containers": [
                { "name": "app", "image": "shop:1",
                  "volumeMounts": [{ "name": "data", "mountPath": "/data" }] },
                { "name": "worker", "image": "shop:1" }
            ],
            "volumes": [{ "name": "data", "emptyDir": {} }]
        }
    })
}

fn typed(pod: &Value) -> Pod {
    serde_json::from_value(pod.clone()).unwrap()
}

fn ops(pod: &Value, settings: &Settings) -> Result<Vec<Value>, Refusal> {
    wire(&typed(pod), settings)
}

/// The pod with its patch applied, as the API server stores it; checks that
/// wiring the result again changes nothing.
fn wired(pod: &Value, settings: &Settings) -> Value {
    let patch: json_patch::Patch =
        serde_json::from_value(Value::Array(ops(pod, settings).unwrap())).unwrap();
    let mut patched = pod.clone();
    json_patch::patch(&mut patched, &patch).unwrap();
    assert_eq!(
        ops(&patched, settings),
        Ok(vec![]),
        "a wired pod is wired again"
    );
    patched
}

fn mounts(pod: &Value, container: usize) -> Vec<(String, String, bool)> {
    pod["spec"]["containers"][container]["volumeMounts"]
        .as_array()
        .map(|mounts| {
            mounts
                .iter()
                .map(|m| {
                    (
                        m["name"].as_str().unwrap().to_string(),
                        m["mountPath"].as_str().unwrap().to_string(),
                        m["readOnly"].as_bool().unwrap_or(false),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn mount(name: &str, path: &str) -> (String, String, bool) {
    (name.to_string(), path.to_string(), true)
}

fn data() -> (String, String, bool) {
    ("data".to_string(), "/data".to_string(), false)
}

#[test]
fn a_pod_that_does_not_ask_is_not_patched() {
    for annotations in [&[][..], &[("team", "shop")], &[(INJECT, "false")]] {
        assert_eq!(ops(&pod(annotations), &settings()), Ok(vec![]));
    }
}

#[test]
fn the_volume_lists_every_shard_and_every_app_container_mounts_it() {
    let pod = wired(&pod(&[(INJECT, "true")]), &settings());
    let volumes = pod["spec"]["volumes"].as_array().unwrap();
    assert_eq!(volumes.len(), 2);
    assert_eq!(volumes[1]["name"], "interdict-blocklist");
    let sources = volumes[1]["projected"]["sources"].as_array().unwrap();
    let names: Vec<&str> = sources
        .iter()
        .map(|s| s["configMap"]["name"].as_str().unwrap())
        .collect();
    let mut expected = vec!["interdict-blocklist".to_string()];
    expected.extend((1..16).map(|i| format!("interdict-blocklist-{i}")));
    assert_eq!(names, expected);
    assert!(sources.iter().all(|s| s["configMap"]["optional"] == true));

    assert_eq!(
        mounts(&pod, 0),
        [data(), mount("interdict-blocklist", "/etc/interdict")]
    );
    assert_eq!(
        mounts(&pod, 1),
        [mount("interdict-blocklist", "/etc/interdict")]
    );
    assert!(pod["spec"]["initContainers"].is_null());
}

#[test]
fn the_blocklist_name_and_shard_count_come_from_the_settings() {
    let settings = Settings {
        blocklist_name: "bans".into(),
        max_shards: 3,
        ..settings()
    };
    let pod = wired(&pod(&[(INJECT, "true")]), &settings);
    assert_eq!(
        pod["spec"]["volumes"][1]["projected"]["sources"],
        json!([
            { "configMap": { "name": "bans", "optional": true } },
            { "configMap": { "name": "bans-1", "optional": true } },
            { "configMap": { "name": "bans-2", "optional": true } }
        ])
    );
}

#[test]
fn a_pod_without_volumes_gets_the_list() {
    let mut bare = pod(&[(INJECT, "true")]);
    bare["spec"].as_object_mut().unwrap().remove("volumes");
    bare["spec"]["containers"][0]
        .as_object_mut()
        .unwrap()
        .remove("volumeMounts");
    let patched = wired(&bare, &settings());
    assert_eq!(
        patched["spec"]["volumes"].as_array().unwrap().len(),
        1,
        "{patched}"
    );
    assert_eq!(
        mounts(&patched, 0),
        [mount("interdict-blocklist", "/etc/interdict")]
    );
}

#[test]
fn named_containers_and_a_mount_path_are_honoured() {
    let pod = wired(
        &pod(&[
            (INJECT, "true"),
            (CONTAINERS, "worker"),
            (MOUNT_PATH, "/var/run/bans"),
        ]),
        &settings(),
    );
    assert_eq!(mounts(&pod, 0), [data()]);
    assert_eq!(
        mounts(&pod, 1),
        [mount("interdict-blocklist", "/var/run/bans")]
    );
}

#[test]
fn an_unknown_container_is_refused_with_the_pods_containers() {
    let refusal = ops(
        &pod(&[(INJECT, "true"), (CONTAINERS, "app,web")]),
        &settings(),
    )
    .unwrap_err();
    assert_eq!(
        refusal,
        Refusal::UnknownContainer {
            name: "web".into(),
            known: "app, worker".into()
        }
    );
    assert!(refusal.to_string().contains("interdict.dev/containers"));
}

#[test]
fn a_path_taken_by_another_volume_is_refused() {
    let refusal = ops(
        &pod(&[(INJECT, "true"), (MOUNT_PATH, "/data")]),
        &settings(),
    )
    .unwrap_err();
    assert_eq!(
        refusal,
        Refusal::MountPathTaken {
            container: "app".into(),
            volume: "data".into(),
            path: "/data".into()
        }
    );
}

#[test]
fn the_sidecar_is_a_native_sidecar_ahead_of_other_init_containers() {
    let mut asking = pod(&[(INJECT, "true"), (SIDECAR, "true")]);
    asking["spec"]["initContainers"] = json!([{ "name": "migrate", "image": "shop:1" }]);
    let settings = Settings {
        operator_url: Some("http://interdict-intake.interdict-system:8082".into()),
        ..settings()
    };
    let pod = wired(&asking, &settings);
    let init = pod["spec"]["initContainers"].as_array().unwrap();
    assert_eq!(init.len(), 2);
    assert_eq!(init[1]["name"], "migrate");
    let sidecar = &init[0];
    assert_eq!(sidecar["name"], "interdict");
    assert_eq!(sidecar["image"], "interdict:0.1.0");
    assert_eq!(sidecar["restartPolicy"], "Always");
    assert_eq!(
        sidecar["args"],
        json!([
            "serve",
            "--dir",
            "/etc/interdict",
            "--listen",
            "127.0.0.1:8080",
            "--metrics-addr",
            "0.0.0.0:8081",
            "--operator-url",
            "http://interdict-intake.interdict-system:8082"
        ])
    );
    assert_eq!(
        sidecar["volumeMounts"],
        json!([{ "name": "interdict-blocklist", "mountPath": "/etc/interdict", "readOnly": true }])
    );
    assert_eq!(
        sidecar["readinessProbe"]["httpGet"],
        json!({ "path": "/readyz", "port": 8081 })
    );
    let security = &sidecar["securityContext"];
    assert_eq!(security["runAsNonRoot"], true);
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["capabilities"]["drop"], json!(["ALL"]));
    assert!(sidecar["resources"]["requests"]["memory"].is_string());
    assert!(
        sidecar["resources"]["limits"].is_null(),
        "no limit to outgrow"
    );
    // The sidecar is no app container: the app containers keep their mounts.
    assert_eq!(
        mounts(&pod, 1),
        [mount("interdict-blocklist", "/etc/interdict")]
    );
}

#[test]
fn the_sidecar_reads_the_mount_path_asked_for() {
    let pod = wired(
        &pod(&[(INJECT, "true"), (SIDECAR, "true"), (MOUNT_PATH, "/bans")]),
        &settings(),
    );
    let sidecar = &pod["spec"]["initContainers"][0];
    assert_eq!(sidecar["args"][2], "/bans");
    assert_eq!(sidecar["volumeMounts"][0]["mountPath"], "/bans");
    assert!(
        !sidecar["args"]
            .as_array()
            .unwrap()
            .contains(&json!("--operator-url"))
    );
}

#[test]
fn a_watching_sidecar_follows_the_operators_shard_names() {
    let pod = wired(
        &pod(&[(INJECT, "true"), (SIDECAR, "true"), (WATCH_API, "true")]),
        &settings(),
    );
    let args: Vec<String> = pod["spec"]["initContainers"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    let after = |flag: &str| {
        let at = args.iter().position(|a| a == flag).unwrap();
        args[at + 1].clone()
    };
    assert!(args.contains(&"--watch-api".to_string()), "{args:?}");
    assert_eq!(after("--blocklist-name"), settings().blocklist_name);
    assert_eq!(after("--max-shards"), settings().max_shards.to_string());
}

#[test]
fn without_a_sidecar_image_a_pod_asking_for_the_sidecar_is_refused() {
    let settings = Settings {
        sidecar_image: None,
        ..settings()
    };
    assert_eq!(
        ops(&pod(&[(INJECT, "true"), (SIDECAR, "true")]), &settings),
        Err(Refusal::NoSidecarImage)
    );
    // The volume alone needs no image.
    assert_eq!(ops(&pod(&[(INJECT, "true")]), &settings).unwrap().len(), 3);
}

#[test]
fn a_pod_wired_by_hand_is_left_alone_and_its_volume_reused() {
    let mut by_hand = pod(&[(INJECT, "true")]);
    by_hand["spec"]["volumes"] = json!([
        { "name": "data", "emptyDir": {} },
        { "name": "blocklist", "projected": { "sources": [
            { "configMap": { "name": "interdict-blocklist", "optional": true } }
        ] } }
    ]);
    for container in 0..2 {
        by_hand["spec"]["containers"][container]["volumeMounts"] =
            json!([{ "name": "blocklist", "mountPath": "/etc/interdict", "readOnly": true }]);
    }
    assert_eq!(ops(&by_hand, &settings()), Ok(vec![]));

    // Asking for the sidecar as well: it reads the pod's own volume.
    by_hand["metadata"]["annotations"][SIDECAR] = json!("true");
    let patched = wired(&by_hand, &settings());
    assert_eq!(patched["spec"]["volumes"].as_array().unwrap().len(), 2);
    assert_eq!(
        patched["spec"]["initContainers"][0]["volumeMounts"][0]["name"],
        "blocklist"
    );
}

#[test]
fn a_pod_with_a_sidecar_of_its_own_gets_no_second_one() {
    let mut own = pod(&[(INJECT, "true"), (SIDECAR, "true")]);
    own["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "name": "interdict", "image": "interdict:old" }));
    let patched = wired(&own, &settings());
    assert!(patched["spec"]["initContainers"].is_null());
    // Its sidecar is not taken for an app container either.
    assert_eq!(mounts(&patched, 2), []);
}
