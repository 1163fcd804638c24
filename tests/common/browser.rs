//! A real headless Chromium driven over WebDriver (Debian's `chromedriver`,
//! installed by hack/chromium.sh), with the dozen commands the console test
//! needs; and raw HTTP/1.1 requests whose every header the test chooses, to
//! show what the console refuses. Both are plain blocking sockets: the
//! browser and the console are other processes, so blocking the test's
//! thread holds nothing up.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::http::free_port;
use super::repo_root;

/// The W3C name of an element reference in WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// An HTTP answer: status, headers (names lower-cased) and body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One request on a fresh connection with exactly these headers (plus
/// Content-Length and Connection: close).
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Answer {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body.as_bytes()).unwrap();
    // Read by Content-Length when there is one: chromedriver says
    // `Connection: close` but may keep the socket open.
    let mut raw = Vec::new();
    let mut buffer = [0u8; 16384];
    let (head, body_start) = loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break (String::from_utf8_lossy(&raw[..end]).into_owned(), end + 4);
        }
        let read = stream.read(&mut buffer).expect("read an HTTP answer");
        assert!(read > 0, "the connection closed before the headers ended");
        raw.extend_from_slice(&buffer[..read]);
    };
    let length = head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse::<usize>().ok())?
    });
    loop {
        if length.is_some_and(|n| raw.len() - body_start >= n) {
            break;
        }
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => raw.extend_from_slice(&buffer[..read]),
            Err(error) => panic!("read an HTTP answer: {error}"),
        }
    }
    let body = String::from_utf8_lossy(&raw[body_start..]).into_owned();
    let body = body.as_str();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Answer {
        status,
        headers,
        body,
    }
}

pub fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// hack/chromium.sh: installs Chromium and its driver when missing.
pub fn chromium() -> PathBuf {
    let output = Command::new(repo_root().join("hack/chromium.sh"))
        .stderr(Stdio::inherit())
        .output()
        .expect("run hack/chromium.sh");
    assert!(output.status.success(), "hack/chromium.sh failed");
    PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
}

/// A chromedriver process; stopped when dropped.
pub struct Driver {
    child: Child,
    pub port: u16,
}

impl Driver {
    pub fn start() -> Driver {
        let port = free_port();
        let child = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let driver = Driver { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = TcpStream::connect(("127.0.0.1", port)).is_ok()
                && driver.call("GET", "/status", None)["value"]["ready"] == json!(true);
            if ready {
                return driver;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let headers: &[(&str, &str)] = if method == "POST" {
            &[("Host", "127.0.0.1"), ("Content-Type", "application/json")]
        } else {
            &[("Host", "127.0.0.1")]
        };
        let answer = request(self.port, method, path, headers, &body);
        serde_json::from_str(&answer.body).unwrap_or(Value::Null)
    }

    /// A new headless browser window.
    pub fn browser(&self, chromium: &Path) -> Browser<'_> {
        let answer = self.call(
            "POST",
            "/session",
            Some(json!({ "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": chromium,
                    "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                             "--disable-dev-shm-usage", "--window-size=1280,1000"],
                },
            }}})),
        );
        let session = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {answer}"))
            .to_string();
        Browser {
            driver: self,
            session,
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One browser window.
pub struct Browser<'a> {
    driver: &'a Driver,
    session: String,
}

impl Browser<'_> {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let answer = self.driver.call(
            method,
            &format!("/session/{}{path}", self.session),
            body.or_else(|| (method == "POST").then(|| json!({}))),
        );
        if let Some(error) = answer["value"]["error"].as_str() {
            panic!(
                "WebDriver {method} {path}: {error}: {}",
                answer["value"]["message"]
            );
        }
        answer["value"].clone()
    }

    pub fn goto(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": url })));
    }

    pub fn url(&self) -> String {
        self.call("GET", "/url", None)
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// The page's HTML as the browser has it now.
    pub fn source(&self) -> String {
        self.call("GET", "/source", None)
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// The element `css` selects; panics naming the selector and the page when none does.
    pub fn find(&self, css: &str) -> String {
        let answer = self.driver.call(
            "POST",
            &format!("/session/{}/element", self.session),
            Some(json!({ "using": "css selector", "value": css })),
        );
        answer["value"][ELEMENT]
            .as_str()
            .unwrap_or_else(|| {
                panic!(
                    "no element {css:?} on {} ({answer}):\n{}",
                    self.url(),
                    self.source()
                )
            })
            .to_string()
    }

    /// Waits up to `timeout` for an element `css` selects (a form's answer
    /// page may still be loading when a click returns).
    pub fn wait_for(&self, css: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let answer = self.driver.call(
                "POST",
                &format!("/session/{}/elements", self.session),
                Some(json!({ "using": "css selector", "value": css })),
            );
            if answer["value"]
                .as_array()
                .is_some_and(|found| !found.is_empty())
            {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "no element {css:?} on {} after {timeout:?}:\n{}",
                    self.url(),
                    self.source()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Clicks what `css` selects (a link or a submit button) and waits until
    /// the browser has left the current page: a click may return while the
    /// next page is still loading, and a page read then would be the old one.
    pub fn submit(&self, css: &str) {
        let old = self.find("html");
        self.click(css);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let answer = self.driver.call(
                "GET",
                &format!("/session/{}/element/{old}/name", self.session),
                None,
            );
            if answer["value"]["error"].as_str() == Some("stale element reference") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "clicking {css:?} did not leave {}",
                self.url()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn click(&self, css: &str) {
        let element = self.find(css);
        self.call("POST", &format!("/element/{element}/click"), None);
    }

    /// Replaces the value of the input `css` selects with `text`, as typed.
    pub fn fill(&self, css: &str, text: &str) {
        let element = self.find(css);
        self.call("POST", &format!("/element/{element}/clear"), None);
        self.call(
            "POST",
            &format!("/element/{element}/value"),
            Some(json!({ "text": text })),
        );
    }

    /// The visible text of the element `css` selects.
    pub fn text(&self, css: &str) -> String {
        let element = self.find(css);
        self.call("GET", &format!("/element/{element}/text"), None)
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// The browser's cookies, HttpOnly ones included (WebDriver sees them all).
    pub fn cookies(&self) -> Vec<Value> {
        self.call("GET", "/cookie", None)
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// A PNG of the window.
    pub fn screenshot(&self) -> Vec<u8> {
        let encoded = self.call("GET", "/screenshot", None);
        base64_decode(encoded.as_str().expect("a base64 screenshot"))
    }
}

impl Drop for Browser<'_> {
    fn drop(&mut self) {
        let _ = self
            .driver
            .call("DELETE", &format!("/session/{}", self.session), None);
    }
}

/// Standard base64 (WebDriver's screenshots), padding and whitespace ignored.
pub fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let digits: Vec<u32> = text.bytes().filter_map(value).collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let mut word = 0u32;
        for (i, d) in chunk.iter().enumerate() {
            word |= d << (18 - 6 * i);
        }
        let bytes = word.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
}

/// `http://host:port` → `host:port`, the `Host` header of a request to it.
pub fn host_of(origin: &str) -> &str {
    origin.split_once("://").map_or(origin, |(_, rest)| rest)
}

/// `interdict console` as a process: the login URL it printed, and its port.
pub struct ConsoleProcess {
    child: Child,
    pub login_url: String,
    pub port: u16,
    pub origin: String,
}

impl ConsoleProcess {
    /// `interdict console --kubeconfig KUBECONFIG EXTRA...`, waiting for its URL.
    pub fn start(kubeconfig: &Path, extra: &[&str]) -> ConsoleProcess {
        let mut child = Command::new(super::operator::binary())
            .arg("console")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(extra)
            .env_remove("KUBECONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start interdict console");
        let stdout = child.stdout.take().unwrap();
        let (send, receive) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = send.send(line);
        });
        let line = receive
            .recv_timeout(Duration::from_secs(60))
            .expect("interdict console printed no URL within 60 s");
        let login_url = line
            .trim()
            .strip_prefix("Console: ")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_string();
        let origin = login_url.split("/login").next().unwrap().to_string();
        let port = origin.rsplit(':').next().unwrap().parse().unwrap();
        ConsoleProcess {
            child,
            login_url,
            port,
            origin,
        }
    }
}

impl ConsoleProcess {
    /// `interdict console --auth=bearer` on 127.0.0.1:`port` for `origin`,
    /// with the cluster of `kubeconfig` (never its credentials).
    pub fn start_bearer(kubeconfig: &Path, port: u16, extra: &[&str]) -> ConsoleProcess {
        let origin = format!("http://127.0.0.1:{port}");
        let mut child = Command::new(super::operator::binary())
            .args(["console", "--auth=bearer", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["--public-url", &origin, "--kubeconfig"])
            .arg(kubeconfig)
            .args(extra)
            .env_remove("KUBECONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start interdict console");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.starts_with("Console listening on"), "{line:?}");
        ConsoleProcess {
            child,
            login_url: String::new(),
            port,
            origin,
        }
    }
}

impl Drop for ConsoleProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
