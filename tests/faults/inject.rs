//! The faults themselves: on the replicas, the control plane, the network
//! between them (the fault proxy) and the notification receiver.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::audit_disk::AuditDisk;
use crate::common::cluster;
use crate::common::smtp::SmtpSink;
use crate::common::webhook::{Mode, Receiver, SECRET, mode_file};
use crate::proxy::{FaultProxy, Link};
use crate::replicas::Replicas;
use crate::workload::Fault;

fn signal(pid: u32, signal: &str) {
    let _ = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status();
}

/// The API server's address in `kubeconfig`, for the proxy to forward to.
pub fn upstream(kubeconfig: &std::path::Path) -> std::net::SocketAddr {
    let text = std::fs::read_to_string(kubeconfig).unwrap();
    let server = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: "))
        .expect("a server in the kubeconfig");
    server
        .trim_start_matches("https://")
        .parse()
        .unwrap_or_else(|e| panic!("server {server}: {e}"))
}

/// How long a network, receiver or disk fault lasts.
const NETWORK_FAULT: Duration = Duration::from_secs(5);

/// What the faults act on besides the replicas.
pub struct Targets {
    pub proxy: FaultProxy,
    pub receiver: Receiver,
    pub receiver_out: PathBuf,
    /// The SMTP receiver, restarted on the same port and directory.
    pub smtp: SmtpSink,
    pub smtp_dir: PathBuf,
    /// The audit files' own disk, in runs that fill it.
    pub audit: Option<AuditDisk>,
}

/// Injects `fault`; false when it could not be (no live leader to kill).
pub async fn inject(
    fault: Fault,
    replicas: &mut Replicas,
    client: &kube::Client,
    targets: &mut Targets,
) -> bool {
    let proxy = &targets.proxy;
    match fault {
        Fault::KillLeader => return replicas.kill_leader(client).await,
        Fault::RestartApiServer => {
            cluster().stop_apiserver();
            tokio::time::sleep(Duration::from_secs(1)).await;
            cluster().start_apiserver();
        }
        Fault::PauseEtcd => {
            if let Some(pid) = cluster().pid("etcd") {
                signal(pid, "-STOP");
                tokio::time::sleep(Duration::from_secs(3)).await;
                signal(pid, "-CONT");
            }
        }
        Fault::RestartEtcd => {
            cluster().stop_etcd();
            tokio::time::sleep(Duration::from_secs(1)).await;
            cluster().start_etcd();
        }
        Fault::SlowNetwork => {
            proxy.set(Link::Delay(Duration::from_millis(300)));
            tokio::time::sleep(NETWORK_FAULT).await;
            proxy.set(Link::Pass);
        }
        Fault::PartitionNetwork => {
            proxy.set(Link::Hold);
            tokio::time::sleep(NETWORK_FAULT).await;
            proxy.set(Link::Pass);
        }
        Fault::ResetConnections => proxy.reset_all(),
        // Both receivers at once: the webhook's and the SMTP server.
        Fault::ReceiverDown => {
            let port = targets.receiver.port;
            let smtp_port = targets.smtp.port;
            targets.receiver.stop();
            targets.smtp.stop();
            tokio::time::sleep(NETWORK_FAULT).await;
            targets.receiver = Receiver::start(&targets.receiver_out, port);
            targets.smtp = smtp(&targets.smtp_dir, &targets.receiver_out, smtp_port);
        }
        Fault::ReceiverFailing | Fault::ReceiverSlow => {
            targets.receiver.set_mode(match fault {
                Fault::ReceiverFailing => Mode::Fail,
                _ => Mode::Slow,
            });
            tokio::time::sleep(NETWORK_FAULT).await;
            targets.receiver.set_mode(Mode::Answer);
        }
        Fault::AuditDiskFull => {
            if let Some(disk) = &targets.audit {
                disk.fill();
                // A full disk still takes a line that fits the slack of the
                // file's last page; bans created now make transitions whose
                // lines (together well over a page) must be refused.
                let namespace = replicas.namespaces[0].clone();
                crate::audit_disk::ban_while_full(client, &namespace, NETWORK_FAULT).await;
                disk.drain();
            }
        }
    }
    true
}

/// The SMTP receiver of the fault suite: it answers as the webhook receiver's
/// mode file says, so the receiver faults act on both.
pub fn smtp(dir: &Path, receiver_out: &Path, port: u16) -> SmtpSink {
    SmtpSink::start_in(dir, port, Some(&mode_file(receiver_out)))
}

/// The notification sinks of every replica: the webhook receiver and the
/// SMTP server (every workload ban has a contact address).
pub fn notify_config(dir: &Path, port: u16, smtp_port: u16) -> PathBuf {
    let secret = dir.join("secret");
    std::fs::write(&secret, SECRET).unwrap();
    let path = dir.join("notify.yaml");
    std::fs::write(
        &path,
        format!(
            "webhook:\n  url: http://127.0.0.1:{port}/hooks/interdict\n  secretFile: {}\n  timeoutSeconds: 2\nemail:\n  host: 127.0.0.1\n  port: {smtp_port}\n  tls: none\n  from: Moderation <moderation@example.com>\n  timeoutSeconds: 2\n",
            secret.display()
        ),
    )
    .unwrap();
    path
}
