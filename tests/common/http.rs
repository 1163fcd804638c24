//! A minimal HTTP/1.1 client for the sidecar, the example apps and the
//! operator's `/metrics` and `/readyz`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.1 request on a fresh connection: (status, body).
pub fn http(port: u16, method: &str, path: &str) -> Option<(u16, String)> {
    exchange(port, method, path, &[], "", Duration::from_secs(5))
}

/// A POST of `body` (JSON) with extra `headers`: (status, body).
pub fn post(port: u16, path: &str, headers: &[(&str, &str)], body: &str) -> Option<(u16, String)> {
    let mut all = vec![("Content-Type", "application/json")];
    all.extend_from_slice(headers);
    exchange(port, "POST", path, &all, body, Duration::from_secs(30))
}

/// Sends one request with `Connection: close` and reads the whole answer.
fn exchange(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
    timeout: Duration,
) -> Option<(u16, String)> {
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(body.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((status, body))
}

pub fn json(port: u16, path: &str) -> Option<Value> {
    let (status, body) = http(port, "GET", path)?;
    (status == 200)
        .then(|| serde_json::from_str(&body).ok())
        .flatten()
}
