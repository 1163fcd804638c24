//! Test harness: one real control plane (etcd + kube-apiserver) per test binary,
//! one namespace per test, and the operator as a real process, as in a pod.
#![allow(dead_code)]

pub mod http;
pub mod mount;
pub mod operator;
pub mod principal;
pub mod smtp;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

pub use operator::Operator;

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The cluster this test binary uses. `INTERDICT_TEST_KUBECONFIG` points the tests
/// at an existing cluster; otherwise one is started with `hack/dev-cluster.sh`
/// (which builds or reuses the binaries) and stopped when this process exits.
pub struct TestCluster {
    pub kubeconfig: PathBuf,
    dir: Option<PathBuf>,
}

static CLUSTER: OnceLock<TestCluster> = OnceLock::new();

pub fn cluster() -> &'static TestCluster {
    CLUSTER.get_or_init(|| {
        let cluster = match std::env::var_os("INTERDICT_TEST_KUBECONFIG") {
            Some(path) => TestCluster {
                kubeconfig: path.into(),
                dir: None,
            },
            None => start_cluster(),
        };
        cluster.install_crds();
        cluster
    })
}

fn start_cluster() -> TestCluster {
    let binary = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()));
    let dir = repo_root().join("target/test-clusters").join(format!(
        "{}-{}",
        binary.unwrap_or_default(),
        std::process::id()
    ));
    let output = Command::new(repo_root().join("hack/dev-cluster.sh"))
        .args(["up", "--dir"])
        .arg(&dir)
        .arg("--owner-pid")
        .arg(std::process::id().to_string())
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("run hack/dev-cluster.sh");
    assert!(
        output.status.success(),
        "could not start the test control plane (hack/dev-cluster.sh up failed; see its messages above). \
         Integration tests need kube-apiserver and etcd: set KUBEBUILDER_ASSETS or let the script build them with Go."
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let kubeconfig = stdout
        .lines()
        .last()
        .expect("dev-cluster.sh prints the kubeconfig path")
        .trim()
        .into();
    TestCluster {
        kubeconfig,
        dir: Some(dir),
    }
}

impl TestCluster {
    /// `kubectl` against this cluster, as a user would run it.
    pub fn kubectl(&self) -> Command {
        let mut command = Command::new(kubectl_binary());
        command.arg("--kubeconfig").arg(&self.kubeconfig);
        command
    }

    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let output = self.kubectl().args(args).output().expect("run kubectl");
        assert!(
            output.status.success(),
            "kubectl {args:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    fn install_crds(&self) {
        let crds = repo_root().join("crds");
        self.kubectl_ok(&[
            "apply",
            "--server-side",
            "--field-manager=interdict-tests",
            "-f",
            crds.to_str().unwrap(),
        ]);
        // `kubectl wait` fails at once, instead of waiting, when it reads a CRD
        // before the API server wrote its first condition: ask again.
        let wait = [
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/userbans.interdict.dev",
            "crd/featureblocks.interdict.dev",
            "crd/banexemptions.interdict.dev",
            "crd/banappeals.interdict.dev",
        ];
        for attempt in 1.. {
            let output = self.kubectl().args(wait).output().expect("run kubectl");
            if output.status.success() {
                break;
            }
            assert!(
                attempt < 30,
                "CRDs not established: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
    }

    fn dev_cluster(&self, command: &str) {
        let dir = self
            .dir
            .as_ref()
            .expect("restarting the API server needs the harness's own cluster (unset INTERDICT_TEST_KUBECONFIG)");
        let status = Command::new(repo_root().join("hack/dev-cluster.sh"))
            .args([command, "--dir"])
            .arg(dir)
            .status()
            .expect("run hack/dev-cluster.sh");
        assert!(status.success(), "hack/dev-cluster.sh {command} failed");
    }

    /// Stops kube-apiserver (etcd keeps running), as in a control-plane upgrade.
    pub fn stop_apiserver(&self) {
        self.dev_cluster("stop-apiserver");
    }

    /// Starts kube-apiserver again on the same port; returns once it is ready.
    pub fn start_apiserver(&self) {
        self.dev_cluster("start-apiserver");
    }

    pub async fn client(&self) -> Client {
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig).expect("read kubeconfig");
        let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .expect("kubeconfig");
        Client::try_from(config).expect("client")
    }
}

pub fn kubectl_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let output = Command::new(repo_root().join("hack/control-plane-bin.sh"))
            .stderr(std::process::Stdio::inherit())
            .output()
            .expect("run hack/control-plane-bin.sh");
        assert!(output.status.success(), "hack/control-plane-bin.sh failed");
        let dir = String::from_utf8_lossy(&output.stdout).trim().to_string();
        let bundled = Path::new(&dir).join("kubectl");
        if bundled.exists() {
            bundled
        } else {
            PathBuf::from("kubectl")
        }
    })
    .clone()
}

/// A namespace of its own for one test; deleted (best effort) at the end.
pub struct TestNamespace {
    pub name: String,
    pub client: Client,
}

impl TestNamespace {
    pub async fn new(prefix: &str) -> Self {
        let client = cluster().client().await;
        let suffix = format!(
            "{:x}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
                % 0xffffff
        );
        let name = format!("{prefix}-{suffix}");
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let ns: Namespace =
            serde_json::from_value(serde_json::json!({ "metadata": { "name": name } })).unwrap();
        namespaces
            .create(&PostParams::default(), &ns)
            .await
            .expect("create namespace");
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
    use std::io::Write;
    let mut child = cluster()
        .kubectl()
        .args(["apply", "-n", namespace, "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run kubectl apply");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(manifest.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

pub fn apply_ok(namespace: &str, manifest: &str) {
    let output = apply(namespace, manifest);
    assert!(
        output.status.success(),
        "kubectl apply failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
