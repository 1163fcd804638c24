//! The sidecar stays answerable when clients misbehave (issue 17): thousands of
//! slow clients, a connection limit filled by clients that never finish a
//! request, and a process out of file descriptors. Each test runs the real
//! binary on a blocklist directory; no control plane is started.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::http::free_port;
use serde_json::Value;

const BLOCKLIST: &str = r#"{
  "format": "interdict.dev/blocklist/v1",
  "namespace": "apps",
  "shard": {"count": 1, "index": 0},
  "entries": [
    {"id": "UserBan/mallory", "kind": "UserBan", "subject": {"userId": "mallory"},
     "mode": "Suspend", "from": "2020-01-01T00:00:00Z", "reason": "spam"}
  ]
}"#;

/// A request line that never ends: what a slow or malicious client sends.
const PARTIAL_REQUEST: &[u8] = b"GET /v1/decision?feature=chat&user=";

/// A sidecar process, killed when the test ends, whatever happens.
struct Sidecar {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sidecar {
    /// Starts `interdict serve` with `flags`; `open_files` caps its descriptors
    /// (soft and hard, so its own start-up raise cannot lift the cap).
    fn start(flags: &[&str], open_files: Option<u64>) -> Sidecar {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("blocklist.json"), BLOCKLIST).unwrap();
        let log = dir.path().join("sidecar.log");
        let port = free_port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_interdict"));
        command
            .args(["serve", "--dir"])
            .arg(dir.path())
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(flags)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        if let Some(limit) = open_files {
            let limit = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            // SAFETY: setrlimit is async-signal-safe and touches no memory of
            // the parent; it runs in the child between fork and exec.
            unsafe {
                command.pre_exec(move || {
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        }
        let mut sidecar = Sidecar {
            child: command.spawn().expect("start interdict serve"),
            port,
            log,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while get(port, "/readyz", Duration::from_secs(2)).map(|(status, _)| status) != Some(200) {
            assert!(
                sidecar.child.try_wait().unwrap().is_none(),
                "the sidecar exited at start-up:\n{}",
                sidecar.log_text()
            );
            assert!(Instant::now() < deadline, "the sidecar never became ready");
            std::thread::sleep(Duration::from_millis(50));
        }
        sidecar
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Client connections the sidecar has accepted and holds open (the ones still
    /// in the kernel's accept queue are not its descriptors yet).
    fn connections(&self) -> usize {
        let pid = self.child.id();
        let inodes: std::collections::HashSet<String> =
            std::fs::read_dir(format!("/proc/{pid}/fd"))
                .unwrap()
                .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
                .filter_map(|target| {
                    let target = target.to_string_lossy();
                    Some(
                        target
                            .strip_prefix("socket:[")?
                            .strip_suffix(']')?
                            .to_string(),
                    )
                })
                .collect();
        let local = format!(":{:04X}", self.port);
        std::fs::read_to_string(format!("/proc/{pid}/net/tcp"))
            .unwrap()
            .lines()
            .skip(1)
            .map(|line| line.split_whitespace().collect::<Vec<_>>())
            // Columns of proc(5): local address, remote, state (01: established), ..., inode.
            .filter(|columns| columns[1].ends_with(&local) && columns[3] == "01")
            .filter(|columns| inodes.contains(columns[9]))
            .count()
    }

    /// CPU time (user + system) the sidecar has used so far.
    fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        // Fields after the command name, which may itself hold spaces: state is
        // field 3 of proc(5), utime 14 and stime 15.
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        // SAFETY: sysconf only reads a configuration value.
        let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
        Duration::from_secs_f64(ticks as f64 / per_second as f64)
    }

    /// Asserts a correct answer for a banned and for an unrestricted user.
    fn assert_answers(&self, timeout: Duration) {
        assert_decision(self.port, "mallory", false, timeout);
        assert_decision(self.port, "alice", true, timeout);
    }
}

/// One GET on a fresh connection: (status, body), or `None` when no complete
/// answer arrived within `timeout`.
fn get(port: u16, path: &str, timeout: Duration) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let (_, body) = response.split_once("\r\n\r\n")?;
    Some((status, body.to_string()))
}

fn assert_decision(port: u16, user: &str, allowed: bool, timeout: Duration) {
    let path = format!("/v1/decision?feature=chat&user={user}");
    let (status, body) =
        get(port, &path, timeout).unwrap_or_else(|| panic!("no answer to {path} in {timeout:?}"));
    assert_eq!(status, 200, "{path}: {body}");
    let decision: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(decision["allowed"], allowed, "{path}: {body}");
    if !allowed {
        assert_eq!(decision["ban"], "UserBan/mallory", "{path}: {body}");
    }
}

fn slow_clients(port: u16, count: usize) -> Vec<TcpStream> {
    (0..count)
        .map(|i| {
            let mut stream = TcpStream::connect(("127.0.0.1", port))
                .unwrap_or_else(|e| panic!("slow client {i} cannot connect: {e}"));
            stream.write_all(PARTIAL_REQUEST).unwrap();
            stream
        })
        .collect()
}

/// Whether the server closed `stream`: EOF or a reset, as opposed to a read
/// that is still waiting after `wait`.
fn closed_by_server(stream: &mut TcpStream, wait: Duration) -> bool {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut sink = Vec::new();
    match stream.read_to_end(&mut sink) {
        Ok(_) => true,
        Err(e) => matches!(
            e.kind(),
            ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
        ),
    }
}

/// Lifts this process's soft descriptor limit to its hard limit (the tests
/// hold thousands of sockets) and returns the soft limit in force.
fn raise_own_open_file_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read or write the struct they get.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        limit.rlim_cur = limit.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
    }
    limit.rlim_cur
}

#[test]
fn a_well_behaved_client_is_answered_while_thousands_of_slow_ones_are_connected() {
    // The other tests of this binary run at the same time and hold a few hundred.
    let available = raise_own_open_file_limit().saturating_sub(600) as usize;
    let count = available.min(2000);
    assert!(count >= 500, "too few descriptors for this test: {count}");
    let sidecar = Sidecar::start(&["--header-timeout", "60s"], None);
    let mut slow = slow_clients(sidecar.port, count);
    for _ in 0..20 {
        sidecar.assert_answers(Duration::from_secs(5));
    }
    // Served beside the slow clients, not by cutting them.
    for stream in &mut slow {
        stream.set_nonblocking(true).unwrap();
        let mut byte = [0u8; 1];
        let still_open =
            matches!(stream.read(&mut byte), Err(e) if e.kind() == ErrorKind::WouldBlock);
        assert!(
            still_open,
            "a slow client was cut before its header timeout"
        );
    }
    let held = sidecar.connections();
    assert!(
        held >= count,
        "the sidecar holds {held} connections for {count} clients"
    );
}

#[test]
fn slow_clients_filling_the_connection_limit_are_cut_and_do_not_lock_others_out() {
    let sidecar = Sidecar::start(&["--max-connections", "20", "--header-timeout", "1s"], None);
    let mut slow = slow_clients(sidecar.port, 100);
    std::thread::sleep(Duration::from_millis(300));
    // The connections over the limit wait in the kernel's queue, not in the process.
    let held = sidecar.connections();
    assert!(
        (1..=20).contains(&held),
        "{held} connections held with --max-connections 20"
    );
    // Queued behind all 100 slow clients, cut 20 at a time each second.
    sidecar.assert_answers(Duration::from_secs(20));
    for (i, stream) in slow.iter_mut().enumerate() {
        assert!(
            closed_by_server(stream, Duration::from_secs(5)),
            "slow client {i} is still connected after its header timeout"
        );
    }
}

#[test]
fn out_of_file_descriptors_the_sidecar_backs_off_instead_of_spinning() {
    let sidecar = Sidecar::start(
        &[
            "--max-connections",
            "1000",
            "--header-timeout",
            "60s",
            "--idle-timeout",
            "60s",
        ],
        Some(64),
    );
    let started = Instant::now();
    let cpu_before = sidecar.cpu_time();
    // Well over 64, so the sidecar fills its table and every further accept
    // fails; few enough that the rest fit the accept queue even where the
    // kernel caps it at 128, or connecting would stall on SYN retries.
    let slow = slow_clients(sidecar.port, 150);
    std::thread::sleep(Duration::from_secs(3));
    let cpu = sidecar.cpu_time() - cpu_before;
    let wall = started.elapsed();
    let log = sidecar.log_text();
    let accept_errors = log.lines().filter(|l| l.contains("accept failed")).count();
    assert!(
        accept_errors >= 1,
        "descriptors were never exhausted (no accept error logged):\n{log}"
    );
    assert!(
        accept_errors < 10,
        "{accept_errors} accept-error lines in {wall:?}; the log is not rate-limited"
    );
    assert!(
        cpu.as_secs_f64() < 0.5 * wall.as_secs_f64(),
        "the sidecar used {cpu:?} of CPU in {wall:?} while out of descriptors"
    );
    drop(slow);
    // Freed descriptors are used again once the back-off (at most 1 s) ends.
    let deadline = Instant::now() + Duration::from_secs(15);
    while get(sidecar.port, "/healthz", Duration::from_secs(2)).map(|(status, _)| status)
        != Some(200)
    {
        assert!(
            Instant::now() < deadline,
            "no answer after the descriptors were freed:\n{}",
            sidecar.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    sidecar.assert_answers(Duration::from_secs(5));
}

/// A request whose line and headers exceed 16 KiB is refused with 431, not
/// buffered; one just under is answered.
#[test]
fn an_oversized_request_head_is_refused() {
    let sidecar = Sidecar::start(&[], None);
    let ask = |padding: usize| {
        let mut stream = TcpStream::connect(("127.0.0.1", sidecar.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let request = format!(
            "GET /v1/decision?feature=chat&user=mallory HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\nConnection: close\r\n\r\n",
            "a".repeat(padding)
        );
        // The server may answer and close before it has read everything.
        let _ = stream.write_all(request.as_bytes());
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer
    };
    let small = ask(8 * 1024);
    assert!(small.starts_with("HTTP/1.1 200"), "{small}");
    let large = ask(64 * 1024);
    assert!(large.starts_with("HTTP/1.1 431"), "{large}");
}
