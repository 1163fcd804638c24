//! The webhook's serving certificate: `tls.crt` and `tls.key` in a directory
//! (a mounted Secret), read again when they change. cert-manager renews the
//! Secret, kubelet swaps the files, and the next handshake uses the new pair
//! without a restart. A pair that cannot be used (half written, a key that
//! does not match) never replaces the one in use.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

pub const CERT_FILE: &str = "tls.crt";
pub const KEY_FILE: &str = "tls.key";

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: no PEM certificate in it ({reason})")]
    Certificate { path: PathBuf, reason: String },
    #[error("{path}: no PEM private key in it ({reason})")]
    Key { path: PathBuf, reason: String },
    #[error("{dir}: {CERT_FILE} and {KEY_FILE} are not a usable pair: {reason}")]
    Pair { dir: PathBuf, reason: String },
}

/// The certificate pair of a directory, and the one in use.
pub struct CertFiles {
    dir: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Current>,
}

struct Current {
    /// The files' bytes, to tell a change from a re-read of the same pair.
    files: (Vec<u8>, Vec<u8>),
    key: Arc<CertifiedKey>,
}

impl CertFiles {
    /// Reads the pair in `dir`; an error names the file and what is wrong.
    pub fn load(dir: &Path) -> Result<Self, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let files = read_pair(dir)?;
        let key = certified_key(dir, &files, &provider)?;
        Ok(CertFiles {
            dir: dir.to_path_buf(),
            provider,
            current: RwLock::new(Current { files, key }),
        })
    }

    /// Reads the pair again and uses it if it changed: `Ok(true)` then.
    pub fn reload(&self) -> Result<bool, TlsError> {
        let files = read_pair(&self.dir)?;
        if self.current.read().expect("not poisoned").files == files {
            return Ok(false);
        }
        let key = certified_key(&self.dir, &files, &self.provider)?;
        *self.current.write().expect("not poisoned") = Current { files, key };
        Ok(true)
    }

    /// Checks the files every `interval` until the task is aborted.
    pub fn reload_every(self: Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            // Only the first failure of a run is logged: a Secret deleted for
            // a day would otherwise log every interval.
            let mut failing = false;
            loop {
                tick.tick().await;
                match self.reload() {
                    Ok(changed) => {
                        if changed {
                            tracing::info!(dir = %self.dir.display(), "webhook certificate reloaded");
                        }
                        failing = false;
                    }
                    Err(error) if !failing => {
                        tracing::warn!(%error, "cannot reload the webhook certificate; the previous one stays in use");
                        failing = true;
                    }
                    Err(_) => {}
                }
            }
        })
    }

    /// A TLS server configuration that always presents the current pair.
    pub fn server_config(self: &Arc<Self>) -> Arc<rustls::ServerConfig> {
        let mut config = rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(Resolver(self.clone())));
        // hyper serves HTTP/1.1 here; the API server falls back to it.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }

    /// The end-entity certificate in use (DER), for tests and logs.
    pub fn certificate(&self) -> CertificateDer<'static> {
        let current = self.current.read().expect("not poisoned");
        current.key.cert[0].clone()
    }
}

fn read_pair(dir: &Path) -> Result<(Vec<u8>, Vec<u8>), TlsError> {
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read(&path).map_err(|source| TlsError::Read { path, source })
    };
    Ok((read(CERT_FILE)?, read(KEY_FILE)?))
}

fn certified_key(
    dir: &Path,
    (cert, key): &(Vec<u8>, Vec<u8>),
    provider: &CryptoProvider,
) -> Result<Arc<CertifiedKey>, TlsError> {
    let chain = CertificateDer::pem_slice_iter(cert)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())
        .and_then(|chain| match chain.is_empty() {
            true => Err("the file is empty".to_string()),
            false => Ok(chain),
        })
        .map_err(|reason| TlsError::Certificate {
            path: dir.join(CERT_FILE),
            reason,
        })?;
    let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| TlsError::Key {
        path: dir.join(KEY_FILE),
        reason: e.to_string(),
    })?;
    let certified = CertifiedKey::from_der(chain, key, provider).map_err(|e| TlsError::Pair {
        dir: dir.to_path_buf(),
        reason: e.to_string(),
    })?;
    Ok(Arc::new(certified))
}

#[derive(Debug)]
struct Resolver(Arc<CertFiles>);

impl std::fmt::Debug for CertFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertFiles").field("dir", &self.dir).finish()
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.current.read().expect("not poisoned").key.clone())
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    /// A self-signed pair made with the `openssl` command, as the test
    /// control plane makes its own.
    fn make_pair(dir: &Path, name: &str) {
        let status = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ])
            .args(["-nodes", "-days", "1", "-subj", &format!("/CN={name}")])
            .arg("-keyout")
            .arg(dir.join(KEY_FILE))
            .arg("-out")
            .arg(dir.join(CERT_FILE))
            .stderr(std::process::Stdio::null())
            .status()
            .expect("run openssl");
        assert!(status.success());
    }

    #[test]
    fn a_changed_pair_is_used_and_a_broken_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        make_pair(dir.path(), "first");
        let certs = CertFiles::load(dir.path()).unwrap();
        let first = certs.certificate();
        assert!(!certs.reload().unwrap(), "unchanged files are not a change");

        make_pair(dir.path(), "second");
        assert!(certs.reload().unwrap());
        let second = certs.certificate();
        assert_ne!(first, second);

        // The new certificate with the old key: refused, the pair in use stays.
        let key = std::fs::read(dir.path().join(KEY_FILE)).unwrap();
        make_pair(dir.path(), "third");
        std::fs::write(dir.path().join(KEY_FILE), key).unwrap();
        let error = certs.reload().unwrap_err();
        assert!(matches!(error, TlsError::Pair { .. }), "{error}");
        assert_eq!(certs.certificate(), second);

        std::fs::write(dir.path().join(CERT_FILE), "").unwrap();
        let error = certs.reload().unwrap_err();
        assert!(error.to_string().contains("tls.crt"), "{error}");
        assert_eq!(certs.certificate(), second);
    }

    #[test]
    fn missing_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let error = CertFiles::load(dir.path()).unwrap_err();
        assert!(
            error.to_string().starts_with(&format!(
                "cannot read {}",
                dir.path().join(CERT_FILE).display()
            )),
            "{error}"
        );
    }
}
