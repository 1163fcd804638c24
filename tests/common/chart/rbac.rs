//! The operator's RBAC as the chart renders it, compared as sets of
//! permissions, and the least-privilege rules every rendering must keep.

use std::collections::BTreeSet;

use serde_yaml::Value;

use super::DEFAULT_SHARDS;
use super::docs::{kind, name, namespace, strings};

/// `base`, `base-1`, ... `base-(count-1)`: the ConfigMaps of one blocklist.
pub fn shard_names(base: &str, count: u32) -> Vec<String> {
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

/// One permission: (apiGroup, resource, sorted verbs, sorted resourceNames).
pub type Permission = (String, String, Vec<String>, Vec<String>);

/// The rules of a Role or ClusterRole, one entry per (apiGroup, resource).
pub fn permissions(role: &Value) -> BTreeSet<Permission> {
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

pub fn permission(group: &str, resource: &str, verbs: &[&str], names: &[&str]) -> Permission {
    let mut verbs: Vec<String> = verbs.iter().map(|s| s.to_string()).collect();
    verbs.sort();
    let mut names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    names.sort();
    (group.into(), resource.into(), verbs, names)
}

/// What the operator needs in each namespace it watches.
pub fn watched_namespace_permissions(blocklist: &str, nudge_pods: bool) -> BTreeSet<Permission> {
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
            &["create", "get", "list", "watch", "patch"],
            &shard_names(blocklist, DEFAULT_SHARDS)
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        ),
        permission("events.k8s.io", "events", &["create"], &[]),
        // BanPolicies: read them, write their statuses, create the bans they decide on.
        permission("interdict.dev", "banpolicies", &["list", "watch"], &[]),
        permission("interdict.dev", "banpolicies/status", &["patch"], &[]),
        permission("interdict.dev", "userbans", &["create"], &[]),
        permission("interdict.dev", "featureblocks", &["create"], &[]),
        // Actors: record who deletes a ban or an exemption (an admission-policy verb).
        permission("interdict.dev", "userbans", &["record-deletion"], &[]),
        permission("interdict.dev", "featureblocks", &["record-deletion"], &[]),
        permission("interdict.dev", "banexemptions", &["record-deletion"], &[]),
    ]
    .into_iter()
    .collect();
    if nudge_pods {
        set.insert(permission("", "pods", &["list", "patch"], &[]));
    }
    set
}

/// Cluster-wide, for the offense intake: who sent a report, and may they.
pub fn review_permissions() -> BTreeSet<Permission> {
    [
        permission("authentication.k8s.io", "tokenreviews", &["create"], &[]),
        permission(
            "authorization.k8s.io",
            "subjectaccessreviews",
            &["create"],
            &[],
        ),
    ]
    .into_iter()
    .collect()
}

pub fn lease_permissions(lease: &str) -> BTreeSet<Permission> {
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
pub fn assert_least_privilege(docs: &[Value]) {
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
pub fn assert_bindings(docs: &[Value], release_namespace: &str, service_account: &str) {
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
