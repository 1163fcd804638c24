//! The operator binary run as a local process with the test cluster's credentials.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub struct Operator {
    child: Option<Child>,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
}

impl Operator {
    pub fn start(kubeconfig: &Path, namespace: &str, extra: &[&str]) -> Self {
        Self::start_with_env(kubeconfig, namespace, extra, &[])
    }

    /// As [`Operator::start`], with extra environment variables (a failpoint, say).
    pub fn start_with_env(
        kubeconfig: &Path,
        namespace: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let logs = super::repo_root().join("target/test-logs");
        std::fs::create_dir_all(&logs).unwrap();
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis();
        let stdout = logs.join(format!("{namespace}-{stamp}.audit.jsonl"));
        let stderr = logs.join(format!("{namespace}-{stamp}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_interdict"))
            .args(["run", "--namespace", namespace])
            .args(extra)
            .env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", "info,interdict=debug,kube=warn")
            .envs(env.iter().copied())
            .stdout(Stdio::from(File::create(&stdout).unwrap()))
            .stderr(Stdio::from(File::create(&stderr).unwrap()))
            .spawn()
            .expect("start interdict run");
        Operator {
            child: Some(child),
            stdout,
            stderr,
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Graceful stop (SIGTERM), as Kubernetes does on a rollout.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }

    /// Abrupt death (SIGKILL).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits up to `timeout` for the process to end by itself; true if it did.
    pub fn wait_exit(&mut self, timeout: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            match self.child.as_mut().map(Child::try_wait) {
                Some(Ok(Some(_))) | None => {
                    self.child = None;
                    return true;
                }
                _ => std::thread::sleep(std::time::Duration::from_millis(100)),
            }
        }
        false
    }

    pub fn audit_lines(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.stdout)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.kill();
    }
}
