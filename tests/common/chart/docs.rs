//! The documents `helm template` renders, and the parts of them the tests
//! look at: kinds and names, the operator's container and its arguments,
//! volumes and mounts.

use serde::Deserialize;
use serde_yaml::Value;

/// The documents of a multi-document YAML stream, empty ones left out.
pub fn documents(yaml: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(yaml)
        .map(|d| Value::deserialize(d).expect("helm rendered invalid YAML"))
        .filter(|v| !v.is_null())
        .collect()
}

pub fn kind(doc: &Value) -> &str {
    doc["kind"].as_str().unwrap_or_default()
}

pub fn name(doc: &Value) -> &str {
    doc["metadata"]["name"].as_str().unwrap_or_default()
}

pub fn namespace(doc: &Value) -> &str {
    doc["metadata"]["namespace"].as_str().unwrap_or_default()
}

pub fn of_kind<'a>(docs: &'a [Value], wanted: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| kind(d) == wanted).collect()
}

/// The ClusterRoles the operator itself is bound to (not the user roles the
/// chart offers for binding, labelled `app.kubernetes.io/component: user-role`).
pub fn operator_cluster_roles(docs: &[Value]) -> Vec<&Value> {
    of_kind(docs, "ClusterRole")
        .into_iter()
        .filter(|d| {
            d["metadata"]["labels"]["app.kubernetes.io/component"].as_str() != Some("user-role")
        })
        .collect()
}

pub fn strings(value: &Value) -> Vec<String> {
    value
        .as_sequence()
        .map(|s| {
            s.iter()
                .map(|v| v.as_str().expect("a string").to_string())
                .collect()
        })
        .unwrap_or_default()
}

pub fn container(docs: &[Value]) -> &Value {
    let deployments = of_kind(docs, "Deployment");
    assert_eq!(deployments.len(), 1);
    &deployments[0]["spec"]["template"]["spec"]["containers"][0]
}

pub fn args(docs: &[Value]) -> Vec<String> {
    strings(&container(docs)["args"])
}

/// `flag value` appears in the argument list as two consecutive items.
pub fn has_flag(args: &[String], flag: &str, value: &str) -> bool {
    args.windows(2).any(|w| w[0] == flag && w[1] == value)
}

pub fn args_contain(docs: &[Value], flag: &str) -> bool {
    args(docs).iter().any(|a| a == flag)
}

pub fn volume<'a>(docs: &'a [Value], volume: &str) -> &'a Value {
    let pod = &of_kind(docs, "Deployment")[0]["spec"]["template"]["spec"];
    pod["volumes"]
        .as_sequence()
        .expect("volumes")
        .iter()
        .find(|v| v["name"].as_str() == Some(volume))
        .unwrap_or_else(|| panic!("no volume {volume}: {:?}", pod["volumes"]))
}

pub fn volume_mount<'a>(docs: &'a [Value], path: &str) -> &'a Value {
    let mounts = &container(docs)["volumeMounts"];
    mounts
        .as_sequence()
        .expect("volumeMounts")
        .iter()
        .find(|m| m["mountPath"].as_str() == Some(path))
        .unwrap_or_else(|| panic!("nothing mounted at {path}: {mounts:?}"))
}

/// The rendered `notify.yaml` of the release `interdict`.
pub fn notify_yaml(docs: &[Value]) -> String {
    let maps: Vec<_> = of_kind(docs, "ConfigMap")
        .into_iter()
        .filter(|m| name(m) == "interdict-notify")
        .collect();
    assert_eq!(maps.len(), 1, "one ConfigMap interdict-notify");
    assert_eq!(namespace(maps[0]), "interdict-system");
    maps[0]["data"]["notify.yaml"]
        .as_str()
        .expect("data.notify.yaml")
        .to_string()
}

pub fn checksum(docs: &[Value]) -> String {
    of_kind(docs, "Deployment")[0]["spec"]["template"]["metadata"]["annotations"]
        ["checksum/notify-config"]
        .as_str()
        .expect("checksum/notify-config annotation")
        .to_string()
}
