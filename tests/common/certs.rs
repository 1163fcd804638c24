//! Certificates for webhooks served on loopback: a CA and a serving pair for
//! 127.0.0.1, made with the `openssl` command (as the dev cluster script does).

use std::path::Path;
use std::process::{Command, Stdio};

use super::output_text;

/// `openssl ARGS` in `dir`; must succeed.
fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        output_text(&output)
    );
}

/// A CA (`ca.crt`, `ca.key`) in `dir`.
pub fn make_ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            &format!("/CN={name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
        ],
    );
}

/// A serving pair for 127.0.0.1 signed by the CA in `ca_dir`, moved into
/// `cert_dir` as `tls.crt` and `tls.key`. The key is PKCS#1 RSA, the form
/// Helm's genSignedCert writes into the chart's Secret.
pub fn issue(ca_dir: &Path, cert_dir: &Path) {
    openssl(
        ca_dir,
        &["genrsa", "-traditional", "-out", "leaf.key", "2048"],
    );
    openssl(
        ca_dir,
        &[
            "req",
            "-new",
            "-key",
            "leaf.key",
            "-subj",
            "/CN=127.0.0.1",
            "-out",
            "leaf.csr",
        ],
    );
    std::fs::write(
        ca_dir.join("leaf.ext"),
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(
        ca_dir,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "leaf.ext",
            "-out",
            "leaf.crt",
        ],
    );
    // Renames, as kubelet swaps a Secret's files: never a half-written file.
    std::fs::rename(ca_dir.join("leaf.key"), cert_dir.join("tls.key")).unwrap();
    std::fs::rename(ca_dir.join("leaf.crt"), cert_dir.join("tls.crt")).unwrap();
}
