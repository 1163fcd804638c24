//! Least-privileged identities for tests that play an application, an
//! appellant or a moderator: a ServiceAccount bound to a Role with exactly the
//! given rules, authenticating with a token from the TokenRequest API, as a
//! pod's credentials would.

use std::path::{Path, PathBuf};
use std::process::Output;

use kube::Client;

use super::cluster;
use super::cluster::{client_for, kubectl_as, run_with_input};

/// One RBAC rule: API group, resources, verbs.
pub struct Rule<'a> {
    pub group: &'a str,
    pub resources: &'a [&'a str],
    pub verbs: &'a [&'a str],
}

pub struct Principal {
    pub name: String,
    pub namespace: String,
    pub kubeconfig: PathBuf,
    /// The bearer token (from the TokenRequest API), as a pod would hold it.
    pub token: String,
    _dir: tempfile::TempDir,
}

/// A kubeconfig for the test cluster that authenticates with `token` instead of
/// the admin credentials.
pub fn kubeconfig_with_token(token: &str, dir: &Path) -> PathBuf {
    let admin: serde_json::Value = serde_yaml::from_str(
        &std::fs::read_to_string(&cluster().kubeconfig).expect("read the admin kubeconfig"),
    )
    .expect("parse the admin kubeconfig");
    let entry = &admin["clusters"][0]["cluster"];
    let config = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{ "name": "test", "cluster": {
            "server": entry["server"].as_str().expect("server"),
            "certificate-authority-data": entry["certificate-authority-data"].as_str().expect("CA"),
        }}],
        "users": [{ "name": "principal", "user": { "token": token } }],
        "contexts": [{ "name": "principal", "context": { "cluster": "test", "user": "principal" } }],
        "current-context": "principal",
    });
    let path = dir.join("kubeconfig");
    std::fs::write(&path, serde_json::to_string(&config).unwrap()).unwrap();
    path
}

impl Principal {
    /// Creates ServiceAccount `name` in `namespace` with a Role holding `rules`.
    pub fn new(namespace: &str, name: &str, rules: &[Rule]) -> Principal {
        let rules: Vec<serde_json::Value> = rules
            .iter()
            .map(|r| {
                serde_json::json!({
                    "apiGroups": [r.group], "resources": r.resources, "verbs": r.verbs,
                })
            })
            .collect();
        Self::with_rules(namespace, name, rules)
    }

    /// As [`Principal::new`], with RBAC rules as JSON (for `resourceNames`).
    pub fn with_rules(namespace: &str, name: &str, rules: Vec<serde_json::Value>) -> Principal {
        let manifests = serde_json::json!({
            "apiVersion": "v1",
            "kind": "List",
            "items": [
                { "apiVersion": "v1", "kind": "ServiceAccount",
                  "metadata": { "name": name, "namespace": namespace } },
                { "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                  "metadata": { "name": name, "namespace": namespace }, "rules": rules },
                { "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                  "metadata": { "name": name, "namespace": namespace },
                  "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name },
                  "subjects": [{ "kind": "ServiceAccount", "name": name, "namespace": namespace }] },
            ],
        });
        super::apply_ok(namespace, &manifests.to_string());
        let token =
            cluster().kubectl_ok(&["create", "token", name, "-n", namespace, "--duration=1h"]);
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = kubeconfig_with_token(token.trim(), dir.path());
        Principal {
            name: name.to_string(),
            namespace: namespace.to_string(),
            kubeconfig,
            token: token.trim().to_string(),
            _dir: dir,
        }
    }

    /// The user name the API server knows this principal by.
    pub fn username(&self) -> String {
        format!("system:serviceaccount:{}:{}", self.namespace, self.name)
    }

    pub async fn client(&self) -> Client {
        client_for(&self.kubeconfig).await
    }

    /// `kubectl` with `args` and `stdin`, as this principal.
    pub fn kubectl(&self, args: &[&str], stdin: &str) -> Output {
        let mut command = kubectl_as(&self.kubeconfig);
        command.args(args);
        run_with_input(command, stdin)
    }

    /// `kubectl apply` of `manifest` in this principal's namespace.
    pub fn apply(&self, manifest: &str) -> Output {
        self.kubectl(&["apply", "-n", &self.namespace, "-f", "-"], manifest)
    }
}
