//! Two operator replicas with leader election, run as processes the way a
//! Deployment runs them: a replica that exits is started again, as kubelet
//! restarts a container.

use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;

use crate::common::{self, Operator};

const LEASE: &str = "interdict-faults";

pub struct Replicas {
    pub namespaces: Vec<String>,
    pub slots: [Option<Operator>; 2],
    /// Every process that ran, for its audit lines and its log.
    pub finished: Vec<Operator>,
    /// Leaders killed by the workload.
    pub restarts: usize,
    /// Processes that exited by themselves (a lost lease) and were started
    /// again, as kubelet restarts a pod's container.
    pub revived: usize,
    started: usize,
    /// Environment of every process (a failpoint, for the checker's own test).
    env: Vec<(String, String)>,
    /// Arguments every process gets beside the namespaces (the notification
    /// sinks).
    args: Vec<String>,
    /// The replicas reach the API server through the fault proxy.
    kubeconfig: PathBuf,
    /// Where each process appends its audit file, if anywhere.
    audit_dir: Option<PathBuf>,
}

impl Replicas {
    fn start_one(&mut self, slot: usize) -> Operator {
        let mut command = common::operator::command(&self.kubeconfig);
        command
            .args(["run", "--leader-elect", "--lease-name", LEASE])
            .args(["--lease-namespace", &self.namespaces[0]])
            .env("RUST_LOG", "info,interdict=debug,kube=warn")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .args(&self.args);
        for ns in &self.namespaces {
            command.args(["--namespace", ns]);
        }
        self.started += 1;
        // A stem of its own per process: two replicas started in the same
        // millisecond must not share a log.
        let stem = format!("{}-r{slot}-{}", self.namespaces[0], self.started);
        if let Some(dir) = &self.audit_dir {
            command
                .arg("--audit-log")
                .arg(dir.join(format!("{stem}.jsonl")));
        }
        Operator::spawn(command, &common::operator::test_logs(), &stem)
    }

    pub fn new(
        namespaces: Vec<String>,
        env: &[(&str, &str)],
        args: Vec<String>,
        audit_dir: Option<PathBuf>,
        kubeconfig: PathBuf,
    ) -> Self {
        let mut replicas = Replicas {
            kubeconfig,
            audit_dir,
            args,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            namespaces,
            slots: [None, None],
            finished: Vec::new(),
            restarts: 0,
            revived: 0,
            started: 0,
        };
        replicas.slots = [Some(replicas.start_one(0)), Some(replicas.start_one(1))];
        replicas
    }

    /// Starts again every replica whose process has exited.
    pub fn revive(&mut self) {
        for slot in 0..2 {
            if self.slots[slot].as_ref().is_some_and(Operator::exited) {
                let old = self.slots[slot].take().unwrap();
                self.finished.push(old);
                self.slots[slot] = Some(self.start_one(slot));
                self.revived += 1;
            }
        }
    }

    /// SIGKILLs the process holding the lease and starts a fresh one in its
    /// place. Right after a kill the lease still names the dead process until
    /// it expires and a replica takes it over, so this first waits (up to a
    /// lease's duration and a margin) for a live leader: every injection is
    /// a real kill. Returns whether one happened.
    pub async fn kill_leader(&mut self, client: &kube::Client) -> bool {
        let leases = kube::Api::<Lease>::namespaced(client.clone(), &self.namespaces[0]);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(25);
        loop {
            let holder = leases
                .get_opt(LEASE)
                .await
                .ok()
                .flatten()
                .and_then(|l| l.spec?.holder_identity);
            let slot = holder.and_then(|holder| {
                (0..2).find(|slot| {
                    self.slots[*slot]
                        .as_ref()
                        .and_then(Operator::pid)
                        .is_some_and(|pid| holder.ends_with(&format!("-{pid}")))
                })
            });
            if let Some(slot) = slot {
                let mut old = self.slots[slot].take().unwrap();
                old.kill();
                self.finished.push(old);
                tokio::time::sleep(Duration::from_millis(500)).await;
                self.slots[slot] = Some(self.start_one(slot));
                self.restarts += 1;
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            self.revive();
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    pub fn all(&self) -> impl Iterator<Item = &Operator> {
        self.finished.iter().chain(self.slots.iter().flatten())
    }
}
