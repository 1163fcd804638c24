//! The control plane (etcd + kube-apiserver from `hack/dev-cluster.sh`) and the
//! ways to talk to it: `kubectl` as a user runs it, and a kube client.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use super::repo_root;

/// A control plane: the harness's own (started in `dir`, stopped when this
/// process exits) or an existing one reached through a kubeconfig.
pub struct TestCluster {
    pub kubeconfig: PathBuf,
    dir: Option<PathBuf>,
}

static CLUSTER: OnceLock<TestCluster> = OnceLock::new();

/// The cluster this test binary uses. `INTERDICT_TEST_KUBECONFIG` points the tests
/// at an existing cluster; otherwise one is started under `target/test-clusters/`.
pub fn cluster() -> &'static TestCluster {
    CLUSTER.get_or_init(|| {
        let cluster = match std::env::var_os("INTERDICT_TEST_KUBECONFIG") {
            Some(path) => TestCluster {
                kubeconfig: path.into(),
                dir: None,
            },
            None => {
                let binary = std::env::current_exe()
                    .ok()
                    .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()));
                let dir = repo_root().join("target/test-clusters").join(format!(
                    "{}-{}",
                    binary.unwrap_or_default(),
                    std::process::id()
                ));
                TestCluster::start(&dir)
            }
        };
        cluster.install_crds("interdict-tests");
        cluster
    })
}

impl TestCluster {
    /// Starts a control plane in `dir` (building or reusing the binaries); a
    /// watchdog stops it when this process exits.
    pub fn start(dir: &Path) -> TestCluster {
        let output = Command::new(repo_root().join("hack/dev-cluster.sh"))
            .args(["up", "--dir"])
            .arg(dir)
            .arg("--owner-pid")
            .arg(std::process::id().to_string())
            .stderr(Stdio::inherit())
            .output()
            .expect("run hack/dev-cluster.sh");
        assert!(
            output.status.success(),
            "could not start the control plane (hack/dev-cluster.sh up failed; see its messages above). \
             It needs kube-apiserver and etcd: set KUBEBUILDER_ASSETS or let the script build them with Go."
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
            dir: Some(dir.to_path_buf()),
        }
    }

    /// `kubectl` against this cluster, as a user would run it.
    pub fn kubectl(&self) -> Command {
        kubectl_as(&self.kubeconfig)
    }

    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let output = self.kubectl().args(args).output().expect("run kubectl");
        assert!(
            output.status.success(),
            "kubectl {args:?} failed: {}",
            output_text(&output)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// `kubectl ARGS` with `input` on its standard input.
    pub fn kubectl_input(&self, args: &[&str], input: &str) -> Output {
        let mut command = self.kubectl();
        command.args(args);
        run_with_input(command, input)
    }

    /// Applies `crds/` with `field_manager` and waits until every kind is served.
    pub fn install_crds(&self, field_manager: &str) {
        let crds = repo_root().join("crds");
        self.kubectl_ok(&[
            "apply",
            "--server-side",
            &format!("--field-manager={field_manager}"),
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

    /// The pid of one of the harness's own daemons (`etcd`, `kube-apiserver`).
    pub fn pid(&self, daemon: &str) -> Option<u32> {
        let file = self.dir.as_ref()?.join(format!("{daemon}.pid"));
        std::fs::read_to_string(file).ok()?.trim().parse().ok()
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

    /// Stops etcd (kube-apiserver keeps running and answers errors).
    pub fn stop_etcd(&self) {
        self.dev_cluster("stop-etcd");
    }

    /// Starts etcd again on the same port with its data; returns once healthy.
    pub fn start_etcd(&self) {
        self.dev_cluster("start-etcd");
    }

    pub async fn client(&self) -> Client {
        client_for(&self.kubeconfig).await
    }
}

/// A kube client with the credentials of `kubeconfig`.
pub async fn client_for(kubeconfig: &Path) -> Client {
    let kubeconfig = Kubeconfig::read_from(kubeconfig).expect("read kubeconfig");
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig");
    Client::try_from(config).expect("client")
}

/// The directory holding `kube-apiserver`, `etcd` and `kubectl`, as
/// `hack/control-plane-bin.sh` finds or builds them.
pub fn control_plane_bin() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let output = Command::new(repo_root().join("hack/control-plane-bin.sh"))
            .stderr(Stdio::inherit())
            .output()
            .expect("run hack/control-plane-bin.sh");
        assert!(output.status.success(), "hack/control-plane-bin.sh failed");
        PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
    })
}

/// The control plane's `kubectl`, else the one on `PATH` (`KUBEBUILDER_ASSETS`
/// directories may not have one).
pub fn kubectl_binary() -> PathBuf {
    let bundled = control_plane_bin().join("kubectl");
    if bundled.exists() {
        bundled
    } else {
        PathBuf::from("kubectl")
    }
}

/// `kubectl` with the credentials of `kubeconfig`.
pub fn kubectl_as(kubeconfig: &Path) -> Command {
    let mut command = Command::new(kubectl_binary());
    command.arg("--kubeconfig").arg(kubeconfig);
    command
}

/// Runs `command` with `input` on its standard input; what it printed.
pub fn run_with_input(mut command: Command, input: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", command.get_program()));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Standard output then standard error, for messages.
pub fn output_text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
