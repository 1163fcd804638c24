//! The rendered chart on a real API server: it is accepted as rendered, and
//! its ServiceAccount may do what the operator does and no more; the user
//! roles reserve appeal decisions to moderators.

mod common;

use std::collections::BTreeSet;

use common::chart::apply::{
    assert_deployment_stored, can_i, create_namespace, delete_cluster_objects, delete_namespaces,
    kubectl_apply_server_side, kubectl_stdin,
};
use common::chart::docs::{documents, name, of_kind};
use common::chart::{BLOCKLIST, NOTIFICATIONS, template, values_file};
use common::{cluster, output_text, unique};

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
            "notify-smtp-password",
            "webhook-tls"
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

#[test]
fn injection_applies_to_the_cluster() {
    let id = unique();
    let release_ns = format!("chart-inject-{id}");
    let release = format!("idt-{id}");
    create_namespace(&release_ns);
    // The API server checks what only it can: the webhook configuration's
    // fields and its match condition's CEL.
    let rendered = template(&release, &release_ns, &["--set", "injection.enabled=true"]);
    kubectl_apply_server_side(&rendered);
    let fullname = format!("{release}-interdict");
    assert_deployment_stored(&release_ns, &fullname);
    let stored = cluster().kubectl_ok(&[
        "get",
        "mutatingwebhookconfiguration",
        &format!("{fullname}-inject"),
        "-o",
        "jsonpath={.webhooks[0].clientConfig.service.name} {.webhooks[0].matchConditions[0].name}",
    ]);
    assert_eq!(stored, format!("{fullname}-webhook asks-interdict"));
    let secret_type = cluster().kubectl_ok(&[
        "get",
        "secret",
        &format!("{fullname}-webhook-tls"),
        "-n",
        &release_ns,
        "-o",
        "jsonpath={.type}",
    ]);
    assert_eq!(secret_type, "kubernetes.io/tls");
    delete_cluster_objects(&release);
    delete_namespaces(&[&release_ns]);
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
        ("get", blocklist.as_str(), ""),
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
        ("get", "configmaps/someone-elses", apps.as_str()),
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
        !output.status.success() && output_text(&output).contains("cannot create"),
        "a POST create of the blocklist should be forbidden: {}",
        output_text(&output)
    );
    for value in ["{}", "{\"v\":1}"] {
        let output = kubectl_stdin(&server_side, &configmap(BLOCKLIST, value));
        assert!(
            output.status.success(),
            "server-side apply of the blocklist as the operator failed: {}",
            output_text(&output)
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
