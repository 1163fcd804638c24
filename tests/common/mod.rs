//! Support shared by the integration tests and the operator bench: one real
//! control plane (etcd + kube-apiserver) per process, one namespace per test or
//! phase, and the operator as a real process, as in a pod. The bench includes
//! this module by path, so every helper stays free of test-only assumptions.
#![allow(dead_code)]

pub mod audit;
pub mod browser;
pub mod certs;
pub mod chart;
pub mod cluster;
pub mod http;
pub mod metrics;
pub mod mount;
pub mod operator;
pub mod plugin;
pub mod principal;
pub mod smtp;
pub mod webhook;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use kube::Client;
use kube::api::{Api, DeleteParams, PostParams};

// Each test binary and the bench use a different subset of these names.
#[allow(unused_imports)]
pub use cluster::{TestCluster, cluster, kubectl_binary, output_text};
pub use operator::Operator;

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A suffix that makes names unique in a cluster shared by several tests.
pub fn unique() -> String {
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

/// Creates namespace `name`.
pub async fn create_namespace(client: &Client, name: &str) {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace =
        serde_json::from_value(serde_json::json!({ "metadata": { "name": name } })).unwrap();
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap_or_else(|e| panic!("create namespace {name}: {e}"));
}

/// A namespace of its own for one test; deleted (best effort) at the end.
pub struct TestNamespace {
    pub name: String,
    pub client: Client,
}

impl TestNamespace {
    pub async fn new(prefix: &str) -> Self {
        let client = cluster().client().await;
        let name = format!("{prefix}-{}", unique());
        create_namespace(&client, &name).await;
        TestNamespace { name, client }
    }

    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), &self.name)
    }

    pub fn operator(&self) -> Operator {
        Operator::start(&cluster().kubeconfig, &self.name, &[])
    }

    pub fn operator_with(&self, extra: &[&str]) -> Operator {
        Operator::start(&cluster().kubeconfig, &self.name, extra)
    }

    pub async fn cleanup(self) {
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        let _ = namespaces
            .delete(&self.name, &DeleteParams::default())
            .await;
    }
}

/// Polls `check` until it returns `Some`, or panics with `what` after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Applies a manifest (YAML or JSON) to the test namespace with kubectl, as a user would.
pub fn apply(namespace: &str, manifest: &str) -> std::process::Output {
    cluster().kubectl_input(&["apply", "-n", namespace, "-f", "-"], manifest)
}

pub fn apply_ok(namespace: &str, manifest: &str) {
    let output = apply(namespace, manifest);
    assert!(
        output.status.success(),
        "kubectl apply failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
