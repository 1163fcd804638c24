//! A TCP proxy between the operator replicas and kube-apiserver, for the
//! network faults: it passes bytes through, delays them, holds them (a link
//! that drops packets: nothing arrives until it heals, as TCP retransmits), or
//! resets every open connection. TLS passes through untouched: the replicas'
//! kubeconfig names the proxy's address, which the API server's certificate
//! also covers (127.0.0.1).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the link does to the bytes crossing it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    Pass,
    /// Every chunk waits this long before it is passed on.
    Delay(Duration),
    /// Nothing is passed on until the link heals.
    Hold,
}

pub struct FaultProxy {
    pub addr: SocketAddr,
    link: watch::Sender<Link>,
    /// Bumped to reset every connection open at that moment.
    resets: watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    pub async fn start(upstream: SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let addr = listener.local_addr().unwrap();
        let (link, link_rx) = watch::channel(Link::Pass);
        let (resets, resets_rx) = watch::channel(0u64);
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                let (link, resets) = (link_rx.clone(), resets_rx.clone());
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(upstream).await {
                        carry(client, server, link, resets).await;
                    }
                });
            }
        });
        FaultProxy {
            addr,
            link,
            resets,
            task,
        }
    }

    pub fn set(&self, link: Link) {
        let _ = self.link.send(link);
    }

    /// Every open connection is closed with a TCP reset.
    pub fn reset_all(&self) {
        self.resets.send_modify(|n| *n += 1);
    }

    /// A copy of `kubeconfig` whose server is this proxy.
    pub fn kubeconfig(&self, kubeconfig: &Path, dir: &Path) -> PathBuf {
        let text = std::fs::read_to_string(kubeconfig).expect("read the kubeconfig");
        let proxied: String = text
            .lines()
            .map(|line| match line.trim_start().strip_prefix("server: ") {
                Some(_) => {
                    let indent = &line[..line.len() - line.trim_start().len()];
                    format!("{indent}server: https://{}", self.addr)
                }
                None => line.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n");
        let path = dir.join(format!("proxied-{}.kubeconfig", self.addr.port()));
        std::fs::write(&path, proxied).unwrap();
        path
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Both directions of one connection, until either side closes or a reset.
async fn carry(
    client: TcpStream,
    server: TcpStream,
    link: watch::Receiver<Link>,
    mut resets: watch::Receiver<u64>,
) {
    resets.mark_unchanged();
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let client = Arc::new(client);
    let server = Arc::new(server);
    let up = pump(client.clone(), server.clone(), link.clone());
    let down = pump(server.clone(), client.clone(), link);
    tokio::select! {
        _ = up => {}
        _ = down => {}
        _ = resets.changed() => {
            // SO_LINGER 0: close sends RST instead of FIN. (Deprecated
            // because a non-zero linger blocks the dropping thread; a zero
            // one never waits.)
            #[allow(deprecated)]
            let _ = client.set_linger(Some(Duration::ZERO));
            #[allow(deprecated)]
            let _ = server.set_linger(Some(Duration::ZERO));
        }
    }
}

async fn pump(from: Arc<TcpStream>, to: Arc<TcpStream>, mut link: watch::Receiver<Link>) {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        if from.readable().await.is_err() {
            return;
        }
        let n = match from.try_read(&mut buffer) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(_) => return,
        };
        loop {
            let now = *link.borrow_and_update();
            match now {
                Link::Pass => break,
                Link::Delay(by) => {
                    tokio::time::sleep(by).await;
                    break;
                }
                Link::Hold => {
                    if link.changed().await.is_err() {
                        return;
                    }
                }
            }
        }
        let mut written = 0;
        while written < n {
            if to.writable().await.is_err() {
                return;
            }
            match to.try_write(&buffer[written..n]) {
                Ok(m) => written += m,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(_) => return,
            }
        }
    }
}
