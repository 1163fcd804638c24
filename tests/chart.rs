//! The Helm chart (`charts/interdict`): its CRDs are the checked-in ones, it lints,
//! it renders the least-privilege RBAC for each mode, its schema rejects bad
//! values naming them, and what it renders is accepted by a real API server
//! (and the ServiceAccount can do what the operator does, and no more).
//!
//! `helm` comes from `hack/helm-bin.sh` (`$HELM`, or a build from the Go module,
//! cached).

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use common::principal::kubeconfig_with_token;
use common::{cluster, repo_root};
use serde::Deserialize;
use serde_yaml::Value;

const BLOCKLIST: &str = "interdict-blocklist";
/// The chart's default `maxShards`.
const DEFAULT_SHARDS: u32 = 16;

/// `base`, `base-1`, ... `base-(count-1)`: the ConfigMaps of one blocklist.
fn shard_names(base: &str, count: u32) -> Vec<String> {
    (0..count)
        .map(|i| {
            if i == 0 {
                base.to_string()
            } else {
                format!("{base}-{i}")
            }
        })
        .collect()
}
/// Both notification sinks, the email with SMTP credentials; the Secrets
/// `interdict-webhook` (key `signing-secret`) and `interdict-smtp` (keys
/// `username`, `password`) are referenced, not created, by the chart.
const NOTIFICATIONS: &str = "\
sessionRevocationRetention: 1d12h
notifications:
  webhook:
    url: https://hooks.example.com/interdict?token=abc
    secretName: interdict-webhook
    secretKey: signing-secret
    timeoutSeconds: 7
  email:
    host: smtp.example.com
    port: 465
    tls: tls
    from: \"Moderation <moderation@example.com>\"
    helloName: operator.example.com
    credentialsSecretName: interdict-smtp
    timeoutSeconds: 20
";
/// The Kubernetes version `helm template` and `helm lint` assume (the test cluster's).
const KUBE_VERSION: &str = "v1.34.4";

fn chart() -> PathBuf {
    repo_root().join("charts/interdict")
}

fn helm_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let script = repo_root().join("hack/helm-bin.sh");
        let output = Command::new(&script)
            .stderr(Stdio::inherit())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(
            output.status.success(),
            "hack/helm-bin.sh could not provide helm (see its messages above): set HELM to a \
             helm v3 binary, or install Go so the script can build helm from its module"
        );
        let path = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        assert!(
            path.is_file(),
            "hack/helm-bin.sh printed {path:?}, which is not a file"
        );
        path
    })
}

fn helm(args: &[&str]) -> Output {
    let home = std::env::temp_dir().join("interdict-chart-test-helm-home");
    Command::new(helm_binary())
        .args(args)
        // Keep the user's helm configuration and repositories out of the test.
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_DATA_HOME", home.join("data"))
        .env_remove("KUBECONFIG")
        .output()
        .expect("run helm")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A unique suffix for names in the shared test cluster.
fn unique() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{:x}{}",
        nanos % 0xffffff,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A values file in a temporary directory (kept alive by the returned guard).
fn values_file(yaml: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("values.yaml");
    std::fs::write(&path, yaml).unwrap();
    let path = path.to_str().unwrap().to_string();
    (dir, path)
}

/// `helm template RELEASE charts/interdict -n NAMESPACE ARGS...`; must succeed.
fn template(release: &str, namespace: &str, args: &[&str]) -> String {
    let chart = chart();
    let mut full = vec![
        "template",
        release,
        chart.to_str().unwrap(),
        "--namespace",
        namespace,
        "--kube-version",
        KUBE_VERSION,
    ];
    full.extend_from_slice(args);
    let output = helm(&full);
    assert!(
        output.status.success(),
        "helm {full:?} failed: {}",
        text(&output)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The documents of a multi-document YAML stream, empty ones left out.
fn documents(yaml: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(yaml)
        .map(|d| Value::deserialize(d).expect("helm rendered invalid YAML"))
        .filter(|v| !v.is_null())
        .collect()
}

fn kind(doc: &Value) -> &str {
    doc["kind"].as_str().unwrap_or_default()
}

fn name(doc: &Value) -> &str {
    doc["metadata"]["name"].as_str().unwrap_or_default()
}

fn namespace(doc: &Value) -> &str {
    doc["metadata"]["namespace"].as_str().unwrap_or_default()
}

fn of_kind<'a>(docs: &'a [Value], wanted: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| kind(d) == wanted).collect()
}

/// The ClusterRoles the operator itself is bound to (not the user roles the
/// chart offers for binding, labelled `app.kubernetes.io/component: user-role`).
fn operator_cluster_roles(docs: &[Value]) -> Vec<&Value> {
    of_kind(docs, "ClusterRole")
        .into_iter()
        .filter(|d| {
            d["metadata"]["labels"]["app.kubernetes.io/component"].as_str() != Some("user-role")
        })
        .collect()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_sequence()
        .map(|s| {
            s.iter()
                .map(|v| v.as_str().expect("a string").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// One permission: (apiGroup, resource, sorted verbs, sorted resourceNames).
type Permission = (String, String, Vec<String>, Vec<String>);

/// The rules of a Role or ClusterRole, one entry per (apiGroup, resource).
fn permissions(role: &Value) -> BTreeSet<Permission> {
    let mut set = BTreeSet::new();
    for rule in role["rules"].as_sequence().expect("rules") {
        let mut verbs = strings(&rule["verbs"]);
        verbs.sort();
        let mut names = strings(&rule["resourceNames"]);
        names.sort();
        for group in strings(&rule["apiGroups"]) {
            for resource in strings(&rule["resources"]) {
                let added = set.insert((group.clone(), resource, verbs.clone(), names.clone()));
                assert!(added, "duplicate rule in {}", name(role));
            }
        }
    }
    set
}

fn permission(group: &str, resource: &str, verbs: &[&str], names: &[&str]) -> Permission {
    let mut verbs: Vec<String> = verbs.iter().map(|s| s.to_string()).collect();
    verbs.sort();
    let mut names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    names.sort();
    (group.into(), resource.into(), verbs, names)
}

/// What the operator needs in each namespace it watches.
fn watched_namespace_permissions(blocklist: &str, nudge_pods: bool) -> BTreeSet<Permission> {
    let mut set: BTreeSet<Permission> = [
        permission(
            "interdict.dev",
            "userbans",
            &["list", "watch", "patch"],
            &[],
        ),
        permission(
            "interdict.dev",
            "featureblocks",
            &["list", "watch", "patch"],
            &[],
        ),
        permission(
            "interdict.dev",
            "banexemptions",
            &["list", "watch", "patch"],
            &[],
        ),
        permission("interdict.dev", "banappeals", &["list", "watch"], &[]),
        permission("interdict.dev", "userbans/status", &["patch"], &[]),
        permission("interdict.dev", "featureblocks/status", &["patch"], &[]),
        permission("interdict.dev", "banexemptions/status", &["patch"], &[]),
        permission("interdict.dev", "banappeals/status", &["patch"], &[]),
        // Create too is restricted by name: the operator creates the blocklist by
        // server-side apply, whose create check carries the name (see the test
        // `namespaced_values_apply_and_grant_what_the_operator_does`).
        permission(
            "",
            "configmaps",
            &["create", "list", "watch", "patch"],
            &shard_names(blocklist, DEFAULT_SHARDS)
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        ),
        permission("events.k8s.io", "events", &["create"], &[]),
    ]
    .into_iter()
    .collect();
    if nudge_pods {
        set.insert(permission("", "pods", &["list", "patch"], &[]));
    }
    set
}

fn lease_permissions(lease: &str) -> BTreeSet<Permission> {
    [
        permission("coordination.k8s.io", "leases", &["create"], &[]),
        permission(
            "coordination.k8s.io",
            "leases",
            &["get", "update"],
            &[lease],
        ),
    ]
    .into_iter()
    .collect()
}

/// No role grants secrets or uses a wildcard, whatever the configuration.
fn assert_least_privilege(docs: &[Value]) {
    for role in docs
        .iter()
        .filter(|d| matches!(kind(d), "Role" | "ClusterRole"))
    {
        for (group, resource, verbs, names) in permissions(role) {
            let all = [group.as_str(), resource.as_str()]
                .into_iter()
                .chain(verbs.iter().map(String::as_str))
                .chain(names.iter().map(String::as_str))
                .collect::<Vec<_>>();
            assert!(
                !all.iter().any(|s| s.contains('*')),
                "{} {} has a wildcard: {all:?}",
                kind(role),
                name(role)
            );
            assert!(
                !resource.starts_with("secrets"),
                "{} {} grants secrets",
                kind(role),
                name(role)
            );
        }
        assert!(
            role.get("aggregationRule").is_none(),
            "{} aggregates",
            name(role)
        );
    }
}

/// Every (Cluster)RoleBinding binds its role to the chart's ServiceAccount only.
fn assert_bindings(docs: &[Value], release_namespace: &str, service_account: &str) {
    for binding in docs
        .iter()
        .filter(|d| matches!(kind(d), "RoleBinding" | "ClusterRoleBinding"))
    {
        let role_kind = if kind(binding) == "RoleBinding" {
            "Role"
        } else {
            "ClusterRole"
        };
        assert_eq!(binding["roleRef"]["kind"].as_str(), Some(role_kind));
        let role = binding["roleRef"]["name"].as_str().unwrap();
        assert!(
            docs.iter().any(|d| kind(d) == role_kind
                && name(d) == role
                && namespace(d) == namespace(binding)),
            "{} {} refers to a {role_kind} {role} the chart does not render",
            kind(binding),
            name(binding)
        );
        let subjects = binding["subjects"].as_sequence().unwrap();
        assert_eq!(subjects.len(), 1, "{}", name(binding));
        assert_eq!(subjects[0]["kind"].as_str(), Some("ServiceAccount"));
        assert_eq!(subjects[0]["name"].as_str(), Some(service_account));
        assert_eq!(subjects[0]["namespace"].as_str(), Some(release_namespace));
    }
}

fn container(docs: &[Value]) -> &Value {
    let deployments = of_kind(docs, "Deployment");
    assert_eq!(deployments.len(), 1);
    &deployments[0]["spec"]["template"]["spec"]["containers"][0]
}

fn args(docs: &[Value]) -> Vec<String> {
    strings(&container(docs)["args"])
}

/// `flag value` appears in the argument list as two consecutive items.
fn has_flag(args: &[String], flag: &str, value: &str) -> bool {
    args.windows(2).any(|w| w[0] == flag && w[1] == value)
}

// ---------------------------------------------------------------- no cluster

#[test]
fn chart_crds_are_the_checked_in_crds() {
    let listing = |dir: &Path| -> BTreeSet<String> {
        std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    let top = repo_root().join("crds");
    let copy = chart().join("crds");
    assert_eq!(
        listing(&top),
        listing(&copy),
        "charts/interdict/crds/ must hold the same files as crds/"
    );
    for file in listing(&top) {
        assert!(
            std::fs::read(top.join(&file)).unwrap() == std::fs::read(copy.join(&file)).unwrap(),
            "charts/interdict/crds/{file} differs from crds/{file}: run \
             `cp crds/interdict.dev.yaml charts/interdict/crds/`"
        );
    }
}

#[test]
fn helm_lint_passes() {
    let (_dir, everything) = values_file(
        "watchNamespaces: [apps, shop]\n\
         globalBans:\n  namespace: interdict-global\n\
         nudgePods:\n  enabled: true\n\
         audit:\n  file:\n    enabled: true\n\
         metrics:\n  serviceMonitor:\n    enabled: true\n    labels: {release: prometheus}\n",
    );
    let (_dir, notifications) = values_file(NOTIFICATIONS);
    let chart = chart();
    let chart = chart.to_str().unwrap();
    for extra in [
        vec![],
        vec!["--set", "watchNamespaces={a,b}"],
        vec!["-f", everything.as_str()],
        vec!["-f", everything.as_str(), "-f", notifications.as_str()],
        vec!["--set", "replicas=1,leaderElection.enabled=false"],
    ] {
        let mut full = vec!["lint", "--strict", chart, "--kube-version", KUBE_VERSION];
        full.extend_from_slice(&extra);
        let output = helm(&full);
        assert!(
            output.status.success(),
            "helm {full:?} failed: {}",
            text(&output)
        );
    }
}

#[test]
fn default_values_render_a_cluster_role_with_exactly_the_operator_permissions() {
    let docs = documents(&template("interdict", "interdict-system", &[]));
    assert_least_privilege(&docs);
    assert_bindings(&docs, "interdict-system", "interdict");

    let cluster_roles = operator_cluster_roles(&docs);
    assert_eq!(cluster_roles.len(), 1, "one ClusterRole without globalBans");
    assert_eq!(
        permissions(cluster_roles[0]),
        watched_namespace_permissions(BLOCKLIST, false)
    );
    assert_eq!(of_kind(&docs, "ClusterRoleBinding").len(), 1);

    // The only Role: the leader Lease, in the release namespace.
    let roles = of_kind(&docs, "Role");
    assert_eq!(roles.len(), 1);
    assert_eq!(namespace(roles[0]), "interdict-system");
    assert_eq!(permissions(roles[0]), lease_permissions("interdict-leader"));

    // Every namespaced object lands in the release namespace.
    for doc in &docs {
        if !matches!(kind(doc), "ClusterRole" | "ClusterRoleBinding") {
            assert_eq!(namespace(doc), "interdict-system", "{}", name(doc));
        }
    }

    let deployment = of_kind(&docs, "Deployment")[0];
    assert_eq!(deployment["spec"]["replicas"].as_u64(), Some(2));
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"].as_str(), Some("interdict"));
    assert_eq!(pod["automountServiceAccountToken"].as_bool(), Some(true));
    assert_eq!(pod["securityContext"]["runAsNonRoot"].as_bool(), Some(true));
    assert_eq!(pod["securityContext"]["runAsUser"].as_u64(), Some(65532));
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"].as_str(),
        Some("RuntimeDefault")
    );
    let container = container(&docs);
    assert_eq!(container["image"].as_str(), Some("interdict:0.1.0"));
    let security = &container["securityContext"];
    assert_eq!(security["readOnlyRootFilesystem"].as_bool(), Some(true));
    assert_eq!(security["allowPrivilegeEscalation"].as_bool(), Some(false));
    assert_eq!(strings(&security["capabilities"]["drop"]), ["ALL"]);
    assert_eq!(
        container["resources"]["requests"]["cpu"].as_str(),
        Some("50m")
    );
    assert_eq!(
        container["resources"]["requests"]["memory"].as_str(),
        Some("64Mi")
    );
    assert_eq!(
        container["resources"]["limits"]["memory"].as_str(),
        Some("256Mi")
    );
    assert_eq!(
        container["livenessProbe"]["httpGet"]["path"].as_str(),
        Some("/healthz")
    );
    assert_eq!(
        container["readinessProbe"]["httpGet"]["path"].as_str(),
        Some("/readyz")
    );
    assert_eq!(container["ports"][0]["name"].as_str(), Some("metrics"));
    assert_eq!(container["ports"][0]["containerPort"].as_u64(), Some(9090));
    let env: BTreeSet<&str> = container["env"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        env,
        BTreeSet::from(["RUST_LOG", "POD_NAME", "POD_NAMESPACE"])
    );

    let args = args(&docs);
    assert_eq!(args[0], "run");
    assert!(!args.contains(&"--namespace".to_string()), "{args:?}");
    assert!(has_flag(&args, "--blocklist-name", BLOCKLIST), "{args:?}");
    assert!(has_flag(&args, "--log-format", "json"), "{args:?}");
    assert!(
        has_flag(&args, "--metrics-addr", "0.0.0.0:9090"),
        "{args:?}"
    );
    assert!(args.contains(&"--leader-elect".to_string()), "{args:?}");
    assert!(
        has_flag(&args, "--lease-name", "interdict-leader"),
        "{args:?}"
    );
    for absent in [
        "--global-namespace",
        "--global-opt-in-label",
        "--nudge-pods",
        "--audit-log",
        "--notify-config",
    ] {
        assert!(!args.contains(&absent.to_string()), "{absent}: {args:?}");
    }
    assert!(
        has_flag(&args, "--session-revocation-retention", "7d"),
        "{args:?}"
    );
    // No notifications: no config, nothing mounted, no checksum.
    assert!(of_kind(&docs, "ConfigMap").is_empty());
    assert!(container["volumeMounts"].is_null());
    assert!(pod["volumes"].is_null());
    assert!(deployment["spec"]["template"]["metadata"]["annotations"].is_null());

    let services = of_kind(&docs, "Service");
    assert_eq!(services.len(), 1);
    assert_eq!(
        services[0]["spec"]["ports"][0]["name"].as_str(),
        Some("metrics")
    );
    assert_eq!(services[0]["spec"]["ports"][0]["port"].as_u64(), Some(9090));
    assert!(of_kind(&docs, "ServiceMonitor").is_empty());
    let pdbs = of_kind(&docs, "PodDisruptionBudget");
    assert_eq!(pdbs.len(), 1);
    assert_eq!(pdbs[0]["spec"]["minAvailable"].as_u64(), Some(1));
    assert_eq!(of_kind(&docs, "ServiceAccount").len(), 1);

    for doc in &docs {
        let labels = &doc["metadata"]["labels"];
        assert_eq!(labels["app.kubernetes.io/name"].as_str(), Some("interdict"));
        assert_eq!(
            labels["app.kubernetes.io/instance"].as_str(),
            Some("interdict")
        );
        assert_eq!(labels["app.kubernetes.io/version"].as_str(), Some("0.1.0"));
        assert_eq!(
            labels["app.kubernetes.io/managed-by"].as_str(),
            Some("Helm")
        );
        assert_eq!(
            labels["app.kubernetes.io/part-of"].as_str(),
            Some("interdict")
        );
    }
}

#[test]
fn listed_namespaces_get_roles_and_no_cluster_role() {
    let docs = documents(&template(
        "ops",
        "interdict-system",
        &["--set", "watchNamespaces={apps,shop}"],
    ));
    assert_least_privilege(&docs);
    assert_bindings(&docs, "interdict-system", "ops-interdict");
    assert!(operator_cluster_roles(&docs).is_empty());
    assert!(of_kind(&docs, "ClusterRoleBinding").is_empty());

    let roles = of_kind(&docs, "Role");
    let by_namespace = |ns: &str| -> Vec<&Value> {
        roles
            .iter()
            .copied()
            .filter(|r| namespace(r) == ns)
            .collect()
    };
    for ns in ["apps", "shop"] {
        let roles = by_namespace(ns);
        assert_eq!(roles.len(), 1, "one Role in {ns}");
        assert_eq!(
            permissions(roles[0]),
            watched_namespace_permissions(BLOCKLIST, false)
        );
    }
    let lease = by_namespace("interdict-system");
    assert_eq!(lease.len(), 1);
    assert_eq!(
        permissions(lease[0]),
        lease_permissions("ops-interdict-leader")
    );
    assert_eq!(roles.len(), 3);
    assert_eq!(of_kind(&docs, "RoleBinding").len(), 3);

    let args = args(&docs);
    assert!(has_flag(&args, "--namespace", "apps"), "{args:?}");
    assert!(has_flag(&args, "--namespace", "shop"), "{args:?}");
    assert!(
        has_flag(&args, "--lease-name", "ops-interdict-leader"),
        "{args:?}"
    );
}

#[test]
fn global_bans_nudge_pods_and_audit_file() {
    let (_dir, values) = values_file(
        "watchNamespaces: [apps]\n\
         blocklistName: bans.example\n\
         globalBans:\n  namespace: interdict-global\n\
         nudgePods:\n  enabled: true\n\
         audit:\n  file:\n    enabled: true\n",
    );
    let docs = documents(&template("interdict", "interdict-system", &["-f", &values]));
    assert_least_privilege(&docs);
    assert_bindings(&docs, "interdict-system", "interdict");

    // Namespaces are cluster-scoped: reading their labels takes a ClusterRole,
    // and that is all it grants.
    let cluster_roles = operator_cluster_roles(&docs);
    assert_eq!(cluster_roles.len(), 1);
    assert_eq!(
        permissions(cluster_roles[0]),
        BTreeSet::from([permission("", "namespaces", &["list", "watch"], &[])])
    );
    // The bans' namespace is watched too: a Role there as in every listed namespace.
    for ns in ["apps", "interdict-global"] {
        let roles: Vec<_> = of_kind(&docs, "Role")
            .into_iter()
            .filter(|r| namespace(r) == ns)
            .collect();
        assert_eq!(roles.len(), 1, "one Role in {ns}");
        assert_eq!(
            permissions(roles[0]),
            watched_namespace_permissions("bans.example", true)
        );
    }

    let args = args(&docs);
    assert!(
        has_flag(&args, "--global-namespace", "interdict-global"),
        "{args:?}"
    );
    assert!(
        has_flag(
            &args,
            "--global-opt-in-label",
            "interdict.dev/global-bans=true"
        ),
        "{args:?}"
    );
    assert!(args.contains(&"--nudge-pods".to_string()), "{args:?}");
    assert!(
        has_flag(&args, "--audit-log", "/var/log/interdict/audit.jsonl"),
        "{args:?}"
    );
    assert!(
        has_flag(&args, "--blocklist-name", "bans.example"),
        "{args:?}"
    );
    // The root filesystem is read-only: the audit file is on an emptyDir.
    let mount = &container(&docs)["volumeMounts"][0];
    assert_eq!(mount["mountPath"].as_str(), Some("/var/log/interdict"));
    let pod = &of_kind(&docs, "Deployment")[0]["spec"]["template"]["spec"];
    assert_eq!(pod["volumes"][0]["name"], mount["name"]);
    assert!(pod["volumes"][0]["emptyDir"].is_mapping());
}

#[test]
fn a_single_replica_without_leader_election() {
    let docs = documents(&template(
        "interdict",
        "interdict-system",
        &["--set", "replicas=1,leaderElection.enabled=false"],
    ));
    let args = args(&docs);
    assert!(!args.contains(&"--leader-elect".to_string()), "{args:?}");
    assert!(!args.contains(&"--lease-name".to_string()), "{args:?}");
    assert!(of_kind(&docs, "Role").is_empty(), "no Lease role");
    assert!(of_kind(&docs, "PodDisruptionBudget").is_empty());

    // More than one replica always elects a leader.
    let docs = documents(&template(
        "interdict",
        "interdict-system",
        &["--set", "replicas=3,leaderElection.enabled=false"],
    ));
    assert!(args_contain(&docs, "--leader-elect"));
}

fn volume<'a>(docs: &'a [Value], volume: &str) -> &'a Value {
    let pod = &of_kind(docs, "Deployment")[0]["spec"]["template"]["spec"];
    pod["volumes"]
        .as_sequence()
        .expect("volumes")
        .iter()
        .find(|v| v["name"].as_str() == Some(volume))
        .unwrap_or_else(|| panic!("no volume {volume}: {:?}", pod["volumes"]))
}

fn volume_mount<'a>(docs: &'a [Value], path: &str) -> &'a Value {
    let mounts = &container(docs)["volumeMounts"];
    mounts
        .as_sequence()
        .expect("volumeMounts")
        .iter()
        .find(|m| m["mountPath"].as_str() == Some(path))
        .unwrap_or_else(|| panic!("nothing mounted at {path}: {mounts:?}"))
}

/// The rendered `notify.yaml` of the release `interdict`.
fn notify_yaml(docs: &[Value]) -> String {
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

fn checksum(docs: &[Value]) -> String {
    of_kind(docs, "Deployment")[0]["spec"]["template"]["metadata"]["annotations"]
        ["checksum/notify-config"]
        .as_str()
        .expect("checksum/notify-config annotation")
        .to_string()
}

#[test]
fn notifications_render_the_config_its_mounts_and_flags() {
    let (_dir, values) = values_file(NOTIFICATIONS);
    let docs = documents(&template("interdict", "interdict-system", &["-f", &values]));

    // The config file names the mounted secrets; it holds none itself.
    let text = notify_yaml(&docs);
    let parsed: Value = serde_yaml::from_str(&text).unwrap();
    let expected: Value = serde_yaml::from_str(
        "webhook:\n\
         \x20 url: https://hooks.example.com/interdict?token=abc\n\
         \x20 secretFile: /etc/interdict/notify/webhook-secret\n\
         \x20 timeoutSeconds: 7\n\
         email:\n\
         \x20 host: smtp.example.com\n\
         \x20 port: 465\n\
         \x20 tls: tls\n\
         \x20 usernameEnv: SMTP_USERNAME\n\
         \x20 passwordFile: /etc/interdict/notify/smtp-password\n\
         \x20 from: Moderation <moderation@example.com>\n\
         \x20 helloName: operator.example.com\n\
         \x20 timeoutSeconds: 20\n",
    )
    .unwrap();
    assert_eq!(parsed, expected, "{text}");
    // ...and the operator accepts it as its --notify-config.
    let config = interdict::notify::NotifyConfig::parse(&text)
        .unwrap_or_else(|e| panic!("the operator refuses the rendered notify.yaml: {e}\n{text}"));
    assert!(config.webhook.is_some() && config.email.is_some());

    let args = args(&docs);
    assert!(
        has_flag(
            &args,
            "--notify-config",
            "/etc/interdict/notify/config/notify.yaml"
        ),
        "{args:?}"
    );
    assert!(
        has_flag(&args, "--session-revocation-retention", "1d12h"),
        "{args:?}"
    );

    // The ConfigMap, as a directory.
    let mount = volume_mount(&docs, "/etc/interdict/notify/config");
    assert_eq!(mount["readOnly"].as_bool(), Some(true));
    assert!(mount["subPath"].is_null());
    let config_volume = volume(&docs, mount["name"].as_str().unwrap());
    assert_eq!(
        config_volume["configMap"]["name"].as_str(),
        Some("interdict-notify")
    );

    // The secrets, each as one read-only file taken from one key.
    for (path, secret, key) in [
        (
            "/etc/interdict/notify/webhook-secret",
            "interdict-webhook",
            "signing-secret",
        ),
        (
            "/etc/interdict/notify/smtp-password",
            "interdict-smtp",
            "password",
        ),
    ] {
        let mount = volume_mount(&docs, path);
        assert_eq!(mount["readOnly"].as_bool(), Some(true), "{path}");
        let file = mount["subPath"].as_str().expect("a subPath: one file");
        let source = &volume(&docs, mount["name"].as_str().unwrap())["secret"];
        assert_eq!(source["secretName"].as_str(), Some(secret), "{path}");
        let items = source["items"].as_sequence().expect("items");
        assert_eq!(items.len(), 1, "{path}");
        assert_eq!(items[0]["key"].as_str(), Some(key), "{path}");
        assert_eq!(items[0]["path"].as_str(), Some(file), "{path}");
    }

    // The SMTP user name, from the Secret by kubelet.
    let env = container(&docs)["env"].as_sequence().unwrap();
    let username: Vec<_> = env
        .iter()
        .filter(|e| e["name"].as_str() == Some("SMTP_USERNAME"))
        .collect();
    assert_eq!(username.len(), 1, "{env:?}");
    let reference = &username[0]["valueFrom"]["secretKeyRef"];
    assert_eq!(reference["name"].as_str(), Some("interdict-smtp"));
    assert_eq!(reference["key"].as_str(), Some("username"));

    // kubelet reads the Secrets: the operator's identity gets no access to them.
    assert_least_privilege(&docs);
    for role in docs
        .iter()
        .filter(|d| matches!(kind(d), "Role" | "ClusterRole"))
    {
        let rules = serde_yaml::to_string(&role["rules"]).unwrap();
        assert!(
            !rules.contains("secrets"),
            "{} {} mentions secrets: {rules}",
            kind(role),
            name(role)
        );
    }
    let default_docs = documents(&template("interdict", "interdict-system", &[]));
    let roles = |docs: &[Value]| -> Vec<(String, String, BTreeSet<Permission>)> {
        docs.iter()
            .filter(|d| matches!(kind(d), "Role" | "ClusterRole"))
            .map(|r| (kind(r).to_string(), name(r).to_string(), permissions(r)))
            .collect()
    };
    assert_eq!(roles(&docs), roles(&default_docs), "RBAC is unchanged");

    // A changed config rolls the pods; the same config keeps the checksum.
    let sum = checksum(&docs);
    assert_eq!(sum.len(), 64, "{sum}");
    let same = documents(&template("interdict", "interdict-system", &["-f", &values]));
    assert_eq!(checksum(&same), sum);
    let changed = documents(&template(
        "interdict",
        "interdict-system",
        &[
            "-f",
            &values,
            "--set",
            "notifications.webhook.timeoutSeconds=8",
        ],
    ));
    assert_ne!(checksum(&changed), sum);
    assert!(notify_yaml(&changed).contains("timeoutSeconds: 8"));
}

#[test]
fn notifications_one_sink_at_a_time() {
    // A webhook alone: no email section, no SMTP variable or password file.
    let docs = documents(&template(
        "interdict",
        "interdict-system",
        &[
            "--set",
            "notifications.webhook.url=http://receiver.apps:8080/hook,\
             notifications.webhook.secretName=hook,notifications.webhook.secretKey=secret",
        ],
    ));
    let text = notify_yaml(&docs);
    let parsed: Value = serde_yaml::from_str(&text).unwrap();
    let expected: Value = serde_yaml::from_str(
        "webhook:\n\
         \x20 url: http://receiver.apps:8080/hook\n\
         \x20 secretFile: /etc/interdict/notify/webhook-secret\n",
    )
    .unwrap();
    assert_eq!(parsed, expected);
    interdict::notify::NotifyConfig::parse(&text).unwrap();
    let env = serde_yaml::to_string(&container(&docs)["env"]).unwrap();
    assert!(!env.contains("SMTP_USERNAME"), "{env}");
    let mounts = serde_yaml::to_string(&container(&docs)["volumeMounts"]).unwrap();
    assert!(!mounts.contains("smtp-password"), "{mounts}");

    // An email relay without credentials: the operator's defaults fill the rest.
    let docs = documents(&template(
        "interdict",
        "interdict-system",
        &[
            "--set",
            "notifications.email.host=relay.mail.svc,notifications.email.tls=none,\
             notifications.email.from=moderation@example.com",
        ],
    ));
    let text = notify_yaml(&docs);
    let parsed: Value = serde_yaml::from_str(&text).unwrap();
    let expected: Value = serde_yaml::from_str(
        "email:\n\
         \x20 host: relay.mail.svc\n\
         \x20 tls: none\n\
         \x20 from: moderation@example.com\n",
    )
    .unwrap();
    assert_eq!(parsed, expected);
    interdict::notify::NotifyConfig::parse(&text).unwrap();
    let env = serde_yaml::to_string(&container(&docs)["env"]).unwrap();
    assert!(!env.contains("SMTP_USERNAME"), "{env}");
    let volumes = serde_yaml::to_string(
        &of_kind(&docs, "Deployment")[0]["spec"]["template"]["spec"]["volumes"],
    )
    .unwrap();
    assert!(!volumes.contains("secret"), "{volumes}");
    assert!(
        has_flag(
            &args(&docs),
            "--notify-config",
            "/etc/interdict/notify/config/notify.yaml"
        ),
        "{:?}",
        args(&docs)
    );
}

fn args_contain(docs: &[Value], flag: &str) -> bool {
    args(docs).iter().any(|a| a == flag)
}

#[test]
fn invalid_values_are_rejected_naming_the_value() {
    let chart = chart();
    // (values file, what the error must name: helm reports "- at '/path': ...").
    let cases = [
        ("replicas: 0\n", "'/replicas'"),
        ("logFormat: xml\n", "'/logFormat'"),
        ("watchNamespaces: [\"Bad_NS\"]\n", "'/watchNamespaces/0'"),
        ("replica: 2\n", "'replica' not allowed"),
        ("blocklistName: \"UPPER\"\n", "'/blocklistName'"),
        (
            "globalBans:\n  namespace: \"-x\"\n",
            "'/globalBans/namespace'",
        ),
        ("image:\n  tga: latest\n", "'tga' not allowed"),
        ("metrics:\n  port: \"9090\"\n", "'/metrics/port'"),
        (
            "notifications:\n  webhook:\n    url: ftp://x\n    secretName: s\n    secretKey: k\n",
            "'/notifications/webhook/url'",
        ),
        (
            // The operator refuses credentials in the URL (the signature authenticates).
            "notifications:\n  webhook:\n    url: https://user:pw@x/\n    secretName: s\n    secretKey: k\n",
            "'/notifications/webhook/url'",
        ),
        (
            "notifications:\n  webhook:\n    secretName: s\n    secretKey: k\n",
            "missing property 'url'",
        ),
        (
            "notifications:\n  webhook:\n    url: https://x\n",
            "missing properties 'secretName', 'secretKey'",
        ),
        (
            "notifications:\n  webhook:\n    url: https://x\n    secretName: s\n    secretKey: k\n    \
             timeoutSeconds: 301\n",
            "'/notifications/webhook/timeoutSeconds'",
        ),
        (
            "notifications:\n  email:\n    host: smtp.example.com\n    from: a@example.com\n    tls: ssl\n",
            "'/notifications/email/tls'",
        ),
        (
            "notifications:\n  email:\n    host: smtp.example.com\n",
            "missing property 'from'",
        ),
        (
            // Credentials are never sent in clear text.
            "notifications:\n  email:\n    host: smtp.example.com\n    from: a@example.com\n    \
             tls: none\n    credentialsSecretName: smtp\n",
            "'/notifications/email/credentialsSecretName'",
        ),
        (
            "notifications:\n  email:\n    host: smtp.example.com\n    from: a@example.com\n    \
             password: hunter2\n",
            "'password' not allowed",
        ),
        (
            "sessionRevocationRetention: 7 days\n",
            "'/sessionRevocationRetention'",
        ),
        (
            "sessionRevocationRetention: 0d\n",
            "'/sessionRevocationRetention'",
        ),
        (
            "sessionRevocationRetention: 7\n",
            "'/sessionRevocationRetention'",
        ),
    ];
    for (yaml, named) in cases {
        let (_dir, values) = values_file(yaml);
        let output = helm(&[
            "template",
            "interdict",
            chart.to_str().unwrap(),
            "--kube-version",
            KUBE_VERSION,
            "-f",
            &values,
        ]);
        let message = text(&output);
        assert!(
            !output.status.success(),
            "helm template accepted {yaml:?}: {message}"
        );
        assert!(
            message.contains("schema") && message.contains(named),
            "the error for {yaml:?} should be a schema error naming {named}: {message}"
        );
    }
}

// ------------------------------------------------------------- test cluster

/// kubectl against the test cluster with `input` on its standard input.
fn kubectl_stdin(args: &[&str], input: &str) -> Output {
    let mut child = cluster()
        .kubectl()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kubectl");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn kubectl_apply_server_side(manifests: &str) {
    let output = kubectl_stdin(
        &[
            "apply",
            "--server-side",
            "--field-manager=interdict-chart-test",
            "-f",
            "-",
        ],
        manifests,
    );
    assert!(
        output.status.success(),
        "the rendered chart was not accepted: {}",
        text(&output)
    );
}

fn create_namespace(name: &str) {
    cluster().kubectl_ok(&["create", "namespace", name]);
}

fn delete_namespaces(names: &[&str]) {
    for name in names {
        let _ = cluster()
            .kubectl()
            .args(["delete", "namespace", name, "--wait=false"])
            .output();
    }
}

fn delete_cluster_objects(release: &str) {
    let _ = cluster()
        .kubectl()
        .args([
            "delete",
            "clusterrole,clusterrolebinding",
            "-l",
            &format!("app.kubernetes.io/instance={release}"),
            "--wait=false",
        ])
        .output();
}

fn assert_deployment_stored(namespace: &str, name: &str) {
    let replicas = cluster().kubectl_ok(&[
        "get",
        "deployment",
        name,
        "-n",
        namespace,
        "-o",
        "jsonpath={.spec.replicas}",
    ]);
    assert_eq!(replicas, "2");
}

#[test]
fn default_values_apply_to_the_cluster() {
    let id = unique();
    let release_ns = format!("chart-default-{id}");
    let release = format!("idt-{id}");
    create_namespace(&release_ns);
    kubectl_apply_server_side(&template(&release, &release_ns, &[]));
    assert_deployment_stored(&release_ns, &format!("{release}-interdict"));
    cluster().kubectl_ok(&["get", "clusterrole", &format!("{release}-interdict")]);
    delete_cluster_objects(&release);
    delete_namespaces(&[&release_ns]);
}

#[test]
fn notifications_apply_to_the_cluster() {
    let id = unique();
    let release_ns = format!("chart-notify-{id}");
    let release = format!("idt-{id}");
    create_namespace(&release_ns);
    // The Secrets the values refer to, created first as a user would.
    cluster().kubectl_ok(&[
        "create",
        "secret",
        "generic",
        "interdict-webhook",
        "-n",
        &release_ns,
        "--from-literal=signing-secret=0123456789abcdef0123456789abcdef",
    ]);
    cluster().kubectl_ok(&[
        "create",
        "secret",
        "generic",
        "interdict-smtp",
        "-n",
        &release_ns,
        "--from-literal=username=moderation",
        "--from-literal=password=hunter2",
    ]);
    let (_dir, values) = values_file(NOTIFICATIONS);
    let rendered = template(&release, &release_ns, &["-f", &values]);
    kubectl_apply_server_side(&rendered);
    let fullname = format!("{release}-interdict");
    assert_deployment_stored(&release_ns, &fullname);

    let stored = cluster().kubectl_ok(&[
        "get",
        "configmap",
        &format!("{fullname}-notify"),
        "-n",
        &release_ns,
        "-o",
        "jsonpath={.data.notify\\.yaml}",
    ]);
    interdict::notify::NotifyConfig::parse(&stored).unwrap();
    let volumes = cluster().kubectl_ok(&[
        "get",
        "deployment",
        &fullname,
        "-n",
        &release_ns,
        "-o",
        "jsonpath={.spec.template.spec.volumes[*].name}",
    ]);
    assert_eq!(
        volumes.split_whitespace().collect::<BTreeSet<_>>(),
        BTreeSet::from([
            "notify-config",
            "notify-webhook-secret",
            "notify-smtp-password"
        ])
    );

    // kubelet mounts the Secrets; the operator's own identity cannot read them.
    let sa = format!("system:serviceaccount:{release_ns}:{fullname}");
    for resource in [
        "secrets",
        "secrets/interdict-webhook",
        "secrets/interdict-smtp",
    ] {
        assert!(
            !can_i(&sa, &["get", resource, "-n", &release_ns]),
            "get {resource}"
        );
    }
    assert!(!can_i(&sa, &["list", "secrets", "-n", &release_ns]));

    delete_cluster_objects(&release);
    delete_namespaces(&[&release_ns]);
}

/// `kubectl auth can-i` as the chart's ServiceAccount.
fn can_i(service_account: &str, args: &[&str]) -> bool {
    let mut full = vec!["auth", "can-i", "--as", service_account];
    full.extend_from_slice(args);
    let output = cluster().kubectl().args(&full).output().expect("kubectl");
    match String::from_utf8_lossy(&output.stdout).trim() {
        "yes" => true,
        "no" => false,
        other => panic!("kubectl {full:?}: {other} {}", text(&output)),
    }
}

#[test]
fn namespaced_values_apply_and_grant_what_the_operator_does() {
    let id = unique();
    let release_ns = format!("chart-ns-{id}");
    let apps = format!("apps-{id}");
    let shop = format!("shop-{id}");
    let other = format!("other-{id}");
    let release = format!("idt-{id}");
    for ns in [&release_ns, &apps, &shop, &other] {
        create_namespace(ns);
    }
    let watch = format!("watchNamespaces={{{apps},{shop}}}");
    kubectl_apply_server_side(&template(&release, &release_ns, &["--set", &watch]));
    let fullname = format!("{release}-interdict");
    assert_deployment_stored(&release_ns, &fullname);
    for ns in [&apps, &shop] {
        cluster().kubectl_ok(&["get", "role,rolebinding", &fullname, "-n", ns]);
    }

    // The ServiceAccount can do what the operator does in a watched namespace...
    let sa = format!("system:serviceaccount:{release_ns}:{fullname}");
    let blocklist = format!("configmaps/{BLOCKLIST}");
    for (verb, resource, subresource) in [
        ("list", "userbans.interdict.dev", ""),
        ("watch", "featureblocks.interdict.dev", ""),
        ("patch", "userbans.interdict.dev", "status"),
        ("patch", "featureblocks.interdict.dev", "status"),
        ("create", blocklist.as_str(), ""),
        ("patch", blocklist.as_str(), ""),
        ("list", blocklist.as_str(), ""),
        ("watch", blocklist.as_str(), ""),
        ("create", "events.events.k8s.io", ""),
    ] {
        let subresource = format!("--subresource={subresource}");
        assert!(
            can_i(&sa, &[verb, resource, "-n", &apps, &subresource]),
            "{verb} {resource} {subresource}"
        );
    }
    // Patch on bans is for the finalizer; their spec cannot be replaced or deleted.
    assert!(can_i(
        &sa,
        &["patch", "userbans.interdict.dev", "-n", &apps]
    ));
    let lease = format!("leases.coordination.k8s.io/{fullname}-leader");
    assert!(can_i(&sa, &["update", &lease, "-n", &release_ns]));
    assert!(can_i(
        &sa,
        &["create", "leases.coordination.k8s.io", "-n", &release_ns]
    ));
    // ...and no more.
    for (verb, resource, ns) in [
        ("get", "secrets", apps.as_str()),
        ("update", blocklist.as_str(), apps.as_str()),
        ("delete", blocklist.as_str(), apps.as_str()),
        ("list", "secrets", release_ns.as_str()),
        ("patch", "configmaps/someone-elses", apps.as_str()),
        ("list", "configmaps", apps.as_str()),
        ("update", "userbans.interdict.dev", apps.as_str()),
        ("delete", "userbans.interdict.dev", apps.as_str()),
        ("list", "userbans.interdict.dev", other.as_str()),
        ("create", "configmaps", apps.as_str()),
        ("create", "configmaps/someone-elses", apps.as_str()),
        ("create", blocklist.as_str(), other.as_str()),
        ("list", "pods", apps.as_str()),
        ("list", "namespaces", ""),
        (
            "update",
            "leases.coordination.k8s.io/someone-elses",
            release_ns.as_str(),
        ),
        ("update", lease.as_str(), apps.as_str()),
    ] {
        let mut args = vec![verb, resource];
        if !ns.is_empty() {
            args.extend(["-n", ns]);
        }
        assert!(!can_i(&sa, &args), "{verb} {resource} in {ns:?} is allowed");
    }

    // The blocklist is written the way the operator writes it: server-side apply,
    // which creates it the first time. That create is authorized with the object's
    // name, so `create` restricted to the blocklist's name is enough...
    let configmap = |name: &str, value: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {apps}\n\
             data:\n  blocklist.json: '{value}'\n"
        )
    };
    let server_side = [
        "apply",
        "--server-side",
        "--field-manager=interdict",
        "--as",
        &sa,
        "-f",
        "-",
    ];
    // ...where a plain create (POST, no name in the request) is refused.
    let output = kubectl_stdin(
        &["create", "--as", &sa, "-f", "-"],
        &configmap(BLOCKLIST, "{}"),
    );
    assert!(
        !output.status.success() && text(&output).contains("cannot create"),
        "a POST create of the blocklist should be forbidden: {}",
        text(&output)
    );
    for value in ["{}", "{\"v\":1}"] {
        let output = kubectl_stdin(&server_side, &configmap(BLOCKLIST, value));
        assert!(
            output.status.success(),
            "server-side apply of the blocklist as the operator failed: {}",
            text(&output)
        );
    }
    let output = kubectl_stdin(&server_side, &configmap("someone-elses", "{}"));
    assert!(
        !output.status.success(),
        "server-side apply of another ConfigMap as the operator succeeded"
    );
    // The operator lists and watches its blocklists with a metadata.name field selector.
    let selector = format!("--field-selector=metadata.name={BLOCKLIST}");
    let listed = cluster().kubectl_ok(&[
        "get",
        "configmaps",
        "-n",
        &apps,
        "--as",
        &sa,
        &selector,
        "-o",
        "name",
    ]);
    assert_eq!(listed.trim(), format!("configmap/{BLOCKLIST}"));
    let output = cluster()
        .kubectl()
        .args(["get", "configmaps", "-n", &apps, "--as", &sa])
        .output()
        .unwrap();
    assert!(
        !output.status.success(),
        "listing every ConfigMap is allowed"
    );

    delete_cluster_objects(&release);
    delete_namespaces(&[&release_ns, &apps, &shop, &other]);
}

#[test]
fn global_bans_in_namespaced_mode_apply_and_read_namespaces() {
    let id = unique();
    let release_ns = format!("chart-global-{id}");
    let apps = format!("apps-{id}");
    let global = format!("global-{id}");
    let release = format!("idt-{id}");
    for ns in [&release_ns, &apps, &global] {
        create_namespace(ns);
    }
    let (_dir, values) = values_file(&format!(
        "watchNamespaces: [{apps}]\n\
         globalBans:\n  namespace: {global}\n\
         nudgePods:\n  enabled: true\n\
         audit:\n  file:\n    enabled: true\n"
    ));
    kubectl_apply_server_side(&template(&release, &release_ns, &["-f", &values]));
    let fullname = format!("{release}-interdict");
    assert_deployment_stored(&release_ns, &fullname);

    let sa = format!("system:serviceaccount:{release_ns}:{fullname}");
    // Namespace labels, cluster-wide; nothing else cluster-wide.
    assert!(can_i(&sa, &["watch", "namespaces"]));
    assert!(!can_i(&sa, &["patch", "namespaces"]));
    assert!(!can_i(&sa, &["list", "userbans.interdict.dev", "-A"]));
    // The bans of the global namespace are read like those of a watched one.
    assert!(can_i(
        &sa,
        &["list", "userbans.interdict.dev", "-n", &global]
    ));
    // nudgePods: the pods of the watched namespaces only.
    assert!(can_i(&sa, &["patch", "pods", "-n", &apps]));
    assert!(!can_i(&sa, &["patch", "pods", "-n", &release_ns]));
    assert!(!can_i(&sa, &["delete", "pods", "-n", &apps]));

    delete_cluster_objects(&release);
    delete_namespaces(&[&release_ns, &apps, &global]);
}

/// The chart's RBAC is enough and no more: the operator binary, run as a local
/// process with a token of the chart's ServiceAccount (TokenRequest API) and the
/// Deployment's own arguments, reconciles every example; the same identity is
/// refused Secrets and ConfigMaps it does not own.
#[tokio::test]
async fn operator_runs_with_only_the_charts_service_account() {
    let id = unique();
    let release_ns = format!("chart-sa-{id}");
    let apps = format!("chart-sa-apps-{id}");
    let release = format!("sa-{id}");
    create_namespace(&release_ns);
    create_namespace(&apps);
    let set = format!("watchNamespaces={{{apps}}}");
    let docs = documents(&template(&release, &release_ns, &["--set", &set]));
    let rbac: Vec<&Value> = docs
        .iter()
        .filter(|d| {
            [
                "ServiceAccount",
                "Role",
                "RoleBinding",
                "ClusterRole",
                "ClusterRoleBinding",
            ]
            .contains(&kind(d))
        })
        .collect();
    let manifests: String = rbac
        .iter()
        .map(|d| format!("---\n{}", serde_yaml::to_string(d).unwrap()))
        .collect();
    kubectl_apply_server_side(&manifests);

    let account = of_kind(&docs, "ServiceAccount")[0];
    let token = cluster().kubectl_ok(&[
        "create",
        "token",
        name(account),
        "-n",
        &release_ns,
        "--duration=1h",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = kubeconfig_with_token(token.trim(), dir.path());

    // The Deployment's arguments, with a free port for the metrics endpoint.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut arguments = args(&docs);
    if let Some(at) = arguments.iter().position(|a| a == "--metrics-addr") {
        arguments[at + 1] = format!("127.0.0.1:{port}");
    }
    assert_eq!(
        arguments.first().map(String::as_str),
        Some("run"),
        "{arguments:?}"
    );
    let log = dir.path().join("operator.log");
    let mut operator = Command::new(env!("CARGO_BIN_EXE_interdict"))
        .args(&arguments)
        .env("KUBECONFIG", &kubeconfig)
        .env("POD_NAMESPACE", &release_ns)
        .env("POD_NAME", format!("{release}-0"))
        .env("RUST_LOG", "info,kube=warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();

    let examples = repo_root().join("examples");
    cluster().kubectl_ok(&["apply", "-n", &apps, "-f", examples.to_str().unwrap()]);
    let waited = cluster()
        .kubectl()
        .args([
            "wait",
            "--for=condition=Ready",
            "-n",
            &apps,
            "ub,fb",
            "--all",
            "--timeout=60s",
        ])
        .output()
        .unwrap();
    let operator_log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        waited.status.success(),
        "examples not reconciled as the ServiceAccount: {}\n{operator_log}",
        text(&waited)
    );
    let published = cluster().kubectl_ok(&[
        "get",
        "configmap",
        BLOCKLIST,
        "-n",
        &apps,
        "-o",
        "jsonpath={.data.blocklist\\.json}",
    ]);
    let applied = cluster()
        .kubectl_ok(&["get", "ub,fb", "-n", &apps, "-o", "name"])
        .lines()
        .count();
    assert_eq!(
        published.matches("\"id\":").count(),
        applied,
        "every example is in the blocklist"
    );
    let events = cluster().kubectl_ok(&["get", "events.events.k8s.io", "-n", &apps, "-o", "name"]);
    assert!(
        events.lines().count() >= applied,
        "an Event per applied ban: {events}"
    );
    assert!(
        !operator_log.to_lowercase().contains("forbidden"),
        "no permission was missing: {operator_log}"
    );

    // Its metrics describe what it just did.
    let (_, metrics) = common::http::http(port, "GET", "/metrics").expect("metrics endpoint");
    let value = |name: &str| -> f64 {
        let line = metrics
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in:\n{metrics}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert_eq!(value("interdict_leader "), 1.0);
    assert_eq!(
        value("interdict_entries{mode=\"Suspend\",phase=\"Scheduled\"}"),
        1.0,
        "{metrics}"
    );
    let active: f64 = ["Suspend", "Silence", "FeatureBlock"]
        .iter()
        .map(|mode| {
            value(&format!(
                "interdict_entries{{mode=\"{mode}\",phase=\"Active\"}}"
            ))
        })
        .sum();
    assert_eq!(active + 1.0, applied as f64, "{metrics}");
    assert!(
        value("interdict_transitions_total{type=\"Applied\"}") >= active,
        "{metrics}"
    );
    assert!(
        value(&format!(
            "interdict_blocklist_bytes{{namespace=\"{apps}\"}}"
        )) > 1000.0,
        "{metrics}"
    );
    assert!(
        value("interdict_reconcile_duration_seconds_count") >= 1.0,
        "{metrics}"
    );
    assert!(
        value("interdict_reconciles_total{kind=\"UserBan\",result=\"success\"}") >= 1.0,
        "{metrics}"
    );
    assert!(
        metrics.contains("interdict_expiry_lag_seconds"),
        "{metrics}"
    );

    // The same identity, asked directly, is refused what it does not need.
    cluster().kubectl_ok(&[
        "create",
        "configmap",
        "someone-elses",
        "-n",
        &apps,
        "--from-literal=a=b",
    ]);
    cluster().kubectl_ok(&[
        "create",
        "secret",
        "generic",
        "credentials",
        "-n",
        &apps,
        "--from-literal=a=b",
    ]);
    let as_operator = |command: &[&str]| {
        let output = Command::new(cluster().kubectl().get_program())
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(command)
            .output()
            .unwrap();
        (output.status.success(), text(&output))
    };
    for command in [
        vec!["get", "secret", "credentials", "-n", &apps],
        vec!["get", "secrets", "-n", &apps],
        vec![
            "patch",
            "configmap",
            "someone-elses",
            "-n",
            &apps,
            "--type=merge",
            "-p",
            "{\"data\":{\"a\":\"c\"}}",
        ],
        vec!["delete", "configmap", BLOCKLIST, "-n", &apps],
        vec![
            "create",
            "configmap",
            "new-one",
            "-n",
            &apps,
            "--from-literal=a=b",
        ],
        vec!["get", "configmaps", "-n", &apps],
        vec!["get", "userbans", "-n", &release_ns],
    ] {
        let (succeeded, output) = as_operator(&command);
        assert!(
            !succeeded,
            "the operator's identity may {command:?}: {output}"
        );
        assert!(
            output.contains("Forbidden") || output.contains("forbidden"),
            "{command:?}: {output}"
        );
    }

    let _ = operator.kill();
    let _ = operator.wait();
    delete_cluster_objects(&release);
    delete_namespaces(&[&release_ns, &apps]);
}

#[test]
fn max_shards_grants_exactly_the_shard_configmaps() {
    let docs = documents(&template(
        "sharded",
        "interdict-system",
        &["--set", "maxShards=4"],
    ));
    let role = of_kind(&docs, "ClusterRole")
        .into_iter()
        .find(|r| name(r) == "sharded-interdict")
        .expect("the operator's ClusterRole");
    let configmaps: Vec<Permission> = permissions(role)
        .into_iter()
        .filter(|(_, resource, _, _)| resource == "configmaps")
        .collect();
    let names = [
        "interdict-blocklist",
        "interdict-blocklist-1",
        "interdict-blocklist-2",
        "interdict-blocklist-3",
    ];
    assert_eq!(
        configmaps,
        vec![permission(
            "",
            "configmaps",
            &["create", "list", "watch", "patch"],
            &names
        )]
    );
    let arguments = args(&docs);
    assert!(has_flag(&arguments, "--max-shards", "4"), "{arguments:?}");
    let output = helm(&[
        "template",
        "bad",
        chart().to_str().unwrap(),
        "--set",
        "maxShards=0",
    ]);
    assert!(
        !output.status.success() && text(&output).contains("maxShards"),
        "{}",
        text(&output)
    );
}

/// The chart's user roles, bound in one namespace: only the moderator and
/// admin roles carry `decide` on appeals (what the admission policy checks);
/// the appellant role creates appeals and nothing else.
#[test]
fn user_roles_reserve_appeal_decisions_to_moderators() {
    let id = unique();
    let ns = format!("chart-roles-{id}");
    let release = format!("roles-{id}");
    create_namespace(&ns);
    let docs = documents(&template(&release, &ns, &[]));
    let fullname = format!("{release}-interdict");
    let mut manifests = String::new();
    for role in ["appellant", "moderator", "admin", "viewer"] {
        let cluster_role = of_kind(&docs, "ClusterRole")
            .into_iter()
            .find(|d| name(d) == format!("{fullname}-{role}"))
            .unwrap_or_else(|| panic!("no ClusterRole {fullname}-{role}"));
        manifests.push_str(&format!(
            "---\n{}---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\n\
             metadata: {{name: {role}, namespace: {ns}}}\n\
             roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: {fullname}-{role}}}\n\
             subjects: [{{apiGroup: rbac.authorization.k8s.io, kind: User, name: {role}-{id}}}]\n",
            serde_yaml::to_string(cluster_role).unwrap()
        ));
    }
    kubectl_apply_server_side(&manifests);
    let may = |role: &str, verb: &str, resource: &str| {
        can_i(&format!("{role}-{id}"), &[verb, resource, "-n", &ns])
    };
    let appeals = "banappeals.interdict.dev";
    assert!(may("moderator", "decide", appeals));
    assert!(may("admin", "decide", appeals));
    assert!(!may("appellant", "decide", appeals));
    assert!(!may("viewer", "decide", appeals));
    assert!(may("appellant", "create", appeals));
    assert!(!may("appellant", "patch", appeals));
    assert!(!may("moderator", "delete", "userbans.interdict.dev"));
    assert!(!may("moderator", "create", "banexemptions.interdict.dev"));
    assert!(may("admin", "create", "banexemptions.interdict.dev"));
    assert!(!may("viewer", "create", "userbans.interdict.dev"));
    delete_cluster_objects(&release);
    delete_namespaces(&[&ns]);
}
