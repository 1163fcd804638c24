//! The Helm chart (`charts/interdict`) rendered with `helm template`, no
//! cluster: its CRDs are the checked-in ones, it lints, and it renders the
//! least-privilege RBAC, arguments and pod settings for each mode.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::chart::docs::{
    args, args_contain, container, documents, has_flag, kind, name, namespace, of_kind,
    operator_cluster_roles, strings,
};
use common::chart::rbac::{
    Permission, assert_bindings, assert_least_privilege, lease_permissions, permission,
    permissions, review_permissions, watched_namespace_permissions,
};

fn by_name<'a>(roles: &[&'a Value], wanted: &str) -> &'a Value {
    roles
        .iter()
        .copied()
        .find(|r| name(r) == wanted)
        .unwrap_or_else(|| panic!("no ClusterRole {wanted}"))
}
use common::chart::{BLOCKLIST, KUBE_VERSION, NOTIFICATIONS, chart, helm, template, values_file};
use common::{output_text, repo_root};
use serde_yaml::Value;

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
        vec!["--set", "injection.enabled=true"],
        vec![
            "--set",
            "injection.enabled=true,injection.certManager.enabled=true",
        ],
        vec![
            "--set",
            "replicas=1,audit.file.enabled=true,audit.file.persistence.enabled=true",
        ],
    ] {
        let mut full = vec!["lint", "--strict", chart, "--kube-version", KUBE_VERSION];
        full.extend_from_slice(&extra);
        let output = helm(&full);
        assert!(
            output.status.success(),
            "helm {full:?} failed: {}",
            output_text(&output)
        );
    }
}

#[test]
fn default_values_render_a_cluster_role_with_exactly_the_operator_permissions() {
    let docs = documents(&template("interdict", "interdict-system", &[]));
    assert_least_privilege(&docs);
    assert_bindings(&docs, "interdict-system", "interdict");

    let cluster_roles = operator_cluster_roles(&docs);
    assert_eq!(
        cluster_roles.len(),
        3,
        "the bans' ClusterRole, the reviews' and the namespaces' (blocklistNamespaceLabel)"
    );
    assert_eq!(
        permissions(by_name(&cluster_roles, "interdict")),
        watched_namespace_permissions(BLOCKLIST, false)
    );
    assert_eq!(
        permissions(by_name(&cluster_roles, "interdict-reviews")),
        review_permissions()
    );
    // Namespace labels say which namespaces get a blocklist before their first ban.
    assert_eq!(
        permissions(by_name(&cluster_roles, "interdict-namespaces")),
        BTreeSet::from([permission("", "namespaces", &["list", "watch"], &[])])
    );
    assert_eq!(of_kind(&docs, "ClusterRoleBinding").len(), 3);

    // The only Role: the leader Lease, in the release namespace.
    let roles = of_kind(&docs, "Role");
    assert_eq!(roles.len(), 1);
    assert_eq!(namespace(roles[0]), "interdict-system");
    assert_eq!(permissions(roles[0]), lease_permissions("interdict-leader"));

    // Every namespaced object lands in the release namespace.
    for doc in &docs {
        if !matches!(
            kind(doc),
            "ClusterRole"
                | "ClusterRoleBinding"
                | "MutatingWebhookConfiguration"
                | "ValidatingWebhookConfiguration"
        ) {
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
        BTreeSet::from(["RUST_LOG", "POD_NAME", "POD_NAMESPACE", "POD_IP"])
    );
    // The offense intake: a port, a Service, and the leader's address from POD_IP.
    assert_eq!(container["ports"][1]["name"].as_str(), Some("intake"));
    assert_eq!(container["ports"][1]["containerPort"].as_u64(), Some(8082));
    assert!(
        of_kind(&docs, "Service")
            .iter()
            .any(|s| name(s) == "interdict-intake"),
        "an intake Service"
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
    assert!(has_flag(&args, "--intake-addr", "0.0.0.0:8082"), "{args:?}");
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
    // No notifications: no config, no checksum; the only volume is the
    // admission webhooks' certificate (the actors webhook is on by default).
    assert!(of_kind(&docs, "ConfigMap").is_empty());
    let volumes = pod["volumes"].as_sequence().unwrap();
    assert_eq!(volumes.len(), 1);
    assert_eq!(volumes[0]["name"].as_str(), Some("webhook-tls"));
    assert!(deployment["spec"]["template"]["metadata"]["annotations"].is_null());

    let services = of_kind(&docs, "Service");
    assert_eq!(
        services.len(),
        3,
        "metrics, the offense intake and the admission webhooks"
    );
    let service = |wanted: &str| {
        *services
            .iter()
            .find(|s| name(s) == wanted)
            .unwrap_or_else(|| panic!("no Service {wanted}"))
    };
    assert_eq!(
        service("interdict-webhook")["spec"]["ports"][0]["port"].as_u64(),
        Some(443)
    );
    assert_eq!(
        service("interdict-intake")["spec"]["ports"][0]["port"].as_u64(),
        Some(8082)
    );
    let metrics = service("interdict-metrics");
    assert_eq!(
        metrics["spec"]["ports"][0]["name"].as_str(),
        Some("metrics")
    );
    assert_eq!(metrics["spec"]["ports"][0]["port"].as_u64(), Some(9090));
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
    // Only the reviews of offense reporters are cluster-wide (they have no namespace).
    let cluster_roles = operator_cluster_roles(&docs);
    assert_eq!(cluster_roles.len(), 1);
    assert_eq!(permissions(cluster_roles[0]), review_permissions());
    assert_eq!(of_kind(&docs, "ClusterRoleBinding").len(), 1);

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
    assert_eq!(cluster_roles.len(), 2);
    assert_eq!(
        permissions(by_name(&cluster_roles, "interdict-namespaces")),
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
    assert!(
        has_flag(&args, "--audit-log-max-bytes", "104857600"),
        "{args:?}"
    );
    assert!(has_flag(&args, "--audit-log-keep", "10"), "{args:?}");
    // The root filesystem is read-only: the audit file is on an emptyDir.
    let mount = &container(&docs)["volumeMounts"][0];
    assert_eq!(mount["mountPath"].as_str(), Some("/var/log/interdict"));
    let deployment = of_kind(&docs, "Deployment")[0];
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["volumes"][0]["name"], mount["name"]);
    assert!(pod["volumes"][0]["emptyDir"].is_mapping());
    assert!(of_kind(&docs, "PersistentVolumeClaim").is_empty());
    assert!(deployment["spec"]["strategy"].is_null(), "rolling updates");
}

#[test]
fn audit_persistence_puts_the_files_on_a_claim_for_one_replica() {
    let (_dir, values) = values_file(
        "replicas: 1\n\
         audit:\n  file:\n    enabled: true\n    maxBytes: 1048576\n    keep: 3\n\
         \x20   persistence:\n      enabled: true\n      size: 5Gi\n\
         \x20     storageClassName: fast\n      accessModes: [ReadWriteOncePod]\n",
    );
    let docs = documents(&template("trail", "interdict-system", &["-f", &values]));
    let claims = of_kind(&docs, "PersistentVolumeClaim");
    assert_eq!(claims.len(), 1);
    let claim = claims[0];
    assert_eq!(name(claim), "trail-interdict-audit");
    assert_eq!(namespace(claim), "interdict-system");
    assert_eq!(
        claim["metadata"]["annotations"]["helm.sh/resource-policy"].as_str(),
        Some("keep"),
        "uninstalling the release leaves the audit trail"
    );
    assert_eq!(strings(&claim["spec"]["accessModes"]), ["ReadWriteOncePod"]);
    assert_eq!(claim["spec"]["storageClassName"].as_str(), Some("fast"));
    assert_eq!(
        claim["spec"]["resources"]["requests"]["storage"].as_str(),
        Some("5Gi")
    );

    let args = args(&docs);
    assert!(
        has_flag(&args, "--audit-log", "/var/log/interdict/audit.jsonl"),
        "{args:?}"
    );
    assert!(
        has_flag(&args, "--audit-log-max-bytes", "1048576"),
        "{args:?}"
    );
    assert!(has_flag(&args, "--audit-log-keep", "3"), "{args:?}");
    let deployment = of_kind(&docs, "Deployment")[0];
    // One writer at a time: the old pod is gone before the new one opens the file.
    assert_eq!(
        deployment["spec"]["strategy"]["type"].as_str(),
        Some("Recreate")
    );
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["fsGroup"].as_i64(), Some(65532));
    let mount = &container(&docs)["volumeMounts"][0];
    assert_eq!(mount["mountPath"].as_str(), Some("/var/log/interdict"));
    assert_eq!(pod["volumes"][0]["name"], mount["name"]);
    assert_eq!(
        pod["volumes"][0]["persistentVolumeClaim"]["claimName"].as_str(),
        Some("trail-interdict-audit")
    );
    assert!(pod["volumes"][0]["emptyDir"].is_null());

    // "": the cluster's default class (no field); "-": explicitly none.
    for (class, expected) in [("\"\"", None), ("\"-\"", Some(""))] {
        let docs = documents(&template(
            "trail",
            "interdict-system",
            &[
                "-f",
                &values,
                "--set-json",
                &format!("audit.file.persistence.storageClassName={class}"),
            ],
        ));
        let claim = of_kind(&docs, "PersistentVolumeClaim")[0];
        assert_eq!(
            claim["spec"]["storageClassName"].as_str(),
            expected,
            "{class}"
        );
    }
}

#[test]
fn audit_persistence_refuses_what_cannot_work() {
    let chart = chart();
    for (set, says) in [
        // Two writers of one chain, or two pods waiting for one ReadWriteOnce volume.
        (
            "audit.file.enabled=true,audit.file.persistence.enabled=true",
            "audit.file.persistence.enabled needs replicas: 1 (got 2)",
        ),
        (
            "replicas=3,audit.file.enabled=true,audit.file.persistence.enabled=true",
            "needs replicas: 1 (got 3)",
        ),
        (
            "replicas=1,audit.file.persistence.enabled=true",
            "audit.file.persistence.enabled needs audit.file.enabled: true",
        ),
    ] {
        let output = helm(&[
            "template",
            "trail",
            chart.to_str().unwrap(),
            "--kube-version",
            KUBE_VERSION,
            "--set",
            set,
        ]);
        let message = output_text(&output);
        assert!(!output.status.success(), "{set} rendered: {message}");
        assert!(message.contains(says), "{set}: {message}");
    }
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
            &["create", "get", "list", "watch", "patch"],
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
        !output.status.success() && output_text(&output).contains("maxShards"),
        "{}",
        output_text(&output)
    );
}
