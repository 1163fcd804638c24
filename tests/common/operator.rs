//! The operator binary run as a local process with a cluster's credentials:
//! its audit lines (stdout) and log (stderr) kept in files for the report.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `interdict` binary cargo built for this test or bench.
pub fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_interdict"))
}

/// `interdict` with `KUBECONFIG` set and no standard input; arguments and the
/// rest of the environment are the caller's.
pub fn command(kubeconfig: &Path) -> Command {
    let mut command = Command::new(binary());
    command.env("KUBECONFIG", kubeconfig).stdin(Stdio::null());
    command
}

/// Where tests leave operator logs and audit lines.
pub fn test_logs() -> PathBuf {
    let logs = super::repo_root().join("target/test-logs");
    std::fs::create_dir_all(&logs).unwrap();
    logs
}

pub struct Operator {
    child: Option<Child>,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
}

impl Operator {
    /// `interdict run --namespace NAMESPACE EXTRA...`, logs in `target/test-logs/`.
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
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis();
        let mut command = command(kubeconfig);
        command
            .args(["run", "--namespace", namespace])
            .args(extra)
            .env("RUST_LOG", "info,interdict=debug,kube=warn")
            .envs(env.iter().copied());
        Self::spawn(command, &test_logs(), &format!("{namespace}-{stamp}"))
    }

    /// Starts `command` with its audit lines in `dir/STEM.audit.jsonl` and its
    /// log in `dir/STEM.log`.
    pub fn spawn(mut command: Command, dir: &Path, stem: &str) -> Self {
        let stdout = dir.join(format!("{stem}.audit.jsonl"));
        let stderr = dir.join(format!("{stem}.log"));
        let child = command
            .stdout(Stdio::from(File::create(&stdout).unwrap()))
            .stderr(Stdio::from(File::create(&stderr).unwrap()))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary().display()));
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
            sigterm(&child);
            let _ = child.wait();
        }
    }

    /// SIGTERM, then SIGKILL once `timeout` has passed, as the kubelet does at
    /// the end of a grace period: how long it took, and whether the process
    /// exited by itself.
    pub fn stop_within(&mut self, timeout: Duration) -> (Duration, bool) {
        let start = Instant::now();
        let Some(mut child) = self.child.take() else {
            return (Duration::ZERO, true);
        };
        sigterm(&child);
        while start.elapsed() < timeout {
            if let Ok(Some(_)) = child.try_wait() {
                return (start.elapsed(), true);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        (start.elapsed(), false)
    }

    /// Abrupt death (SIGKILL).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits up to `timeout` for the process to end by itself; true if it did.
    pub fn wait_exit(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            match self.child.as_mut().map(Child::try_wait) {
                Some(Ok(Some(_))) | None => {
                    self.child = None;
                    return true;
                }
                _ => std::thread::sleep(Duration::from_millis(100)),
            }
        }
        false
    }

    /// Whether the process has ended, without reaping it (a zombie has ended).
    pub fn exited(&self) -> bool {
        let Some(pid) = self.pid() else {
            return true;
        };
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => stat
                .rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with('Z')),
            Err(_) => true,
        }
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

fn sigterm(child: &Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.kill();
    }
}
