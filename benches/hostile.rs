//! `make chaos`: the sidecar under hostile load. `interdict serve` with its
//! default limits answers well-behaved keep-alive clients, first alone, then
//! while thousands of hostile connections take the rest of its
//! `--max-connections`: clients that send nothing, clients that send their
//! headers a byte at a time, clients that pipeline requests and never read the
//! answers, and clients that send malformed requests as fast as they can.
//! Printed: the well-behaved requests' p50/p99 and rate in both phases, the
//! process's memory and open files, how the hostile connections ended,
//! whether a second storm grows memory again, and whether the process is
//! back to its idle open files once they stop; the
//! figures go to `target/faults-report/hostile.json` for
//! `hack/reliability-report.py`. Figures, never assertions: the bounds they are
//! compared with are the ones docs/applications.md documents.
//!
//! | variable | default | |
//! | --- | --- | --- |
//! | `INTERDICT_HOSTILE_SECS` | 20 | length of each phase |
//! | `INTERDICT_HOSTILE_CLIENTS` | 32 | well-behaved keep-alive clients |
//! | `INTERDICT_HOSTILE_ENTRIES` | 100000 | entries in the blocklist |

#[path = "support/blocklist.rs"]
mod blocklist;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

/// The sidecar's default `--max-connections` (docs/applications.md).
const MAX_CONNECTIONS: usize = 4096;
/// Hostile connections held at once, by kind; with the well-behaved clients
/// and the malformed-request workers they fill the limit but for a margin.
const SILENT: usize = 1400;
const SLOW_HEADERS: usize = 1400;
const NON_READERS: usize = 1000;
const MALFORMED_WORKERS: usize = 64;

/// The documented bounds (docs/applications.md, "Connection limits").
const P99_BOUND: Duration = Duration::from_millis(10);
/// What one open connection may cost at most: its buffers are bounded by
/// `MAX_HEAD_BYTES` each way (src/http.rs), plus the task and the socket.
const RSS_PER_CONNECTION_KIB: f64 = 32.0;
const RSS_GROWTH_BOUND_MIB: f64 = MAX_CONNECTIONS as f64 * RSS_PER_CONNECTION_KIB / 1024.0;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Sidecar {
    child: Child,
    port: u16,
}

impl Sidecar {
    fn start(dir: &std::path::Path) -> Sidecar {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_interdict"))
            .args(["serve", "--dir", dir.to_str().unwrap()])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start interdict serve");
        Sidecar { child, port }
    }

    fn status_kib(&self, field: &str) -> f64 {
        let text = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        text.lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0.0)
    }

    fn rss_mib(&self) -> f64 {
        self.status_kib("VmRSS:") / 1024.0
    }

    fn open_files(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .map(|d| d.count())
            .unwrap_or(0)
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One keep-alive client asking decisions in a loop; the latency of each.
async fn well_behaved(port: u16, paths: Arc<Vec<String>>, stop: Arc<AtomicBool>) -> Vec<Duration> {
    let mut samples = Vec::new();
    let mut i = 0usize;
    'connect: while !stop.load(Ordering::Relaxed) {
        let Ok(stream) = TcpStream::connect(("127.0.0.1", port)).await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        stream.set_nodelay(true).unwrap();
        let mut stream = BufReader::new(stream);
        while !stop.load(Ordering::Relaxed) {
            let path = &paths[i % paths.len()];
            i += 1;
            let started = Instant::now();
            let request = format!("GET {path} HTTP/1.1\r\nHost: app\r\n\r\n");
            if stream
                .get_mut()
                .write_all(request.as_bytes())
                .await
                .is_err()
            {
                continue 'connect;
            }
            match read_response(&mut stream).await {
                Some(200) => samples.push(started.elapsed()),
                // Closed (an idle keep-alive past --header-timeout): reconnect.
                _ => continue 'connect,
            }
        }
    }
    samples
}

/// The status of one response, its body read; None when the connection ended.
async fn read_response(stream: &mut BufReader<TcpStream>) -> Option<u16> {
    let mut line = String::new();
    stream.read_line(&mut line).await.ok().filter(|n| *n > 0)?;
    let status = line.split_whitespace().nth(1)?.parse().ok()?;
    let mut length = 0usize;
    loop {
        line.clear();
        stream.read_line(&mut line).await.ok().filter(|n| *n > 0)?;
        if line == "\r\n" {
            break;
        }
        if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await.ok()?;
    Some(status)
}

#[derive(Default)]
struct Hostility {
    /// Connections the sidecar closed on a hostile client, by kind.
    closed: BTreeMap<&'static str, AtomicU64>,
    /// Answers to malformed requests, by status ("closed": no answer).
    answers: Mutex<BTreeMap<String, u64>>,
}

impl Hostility {
    fn new() -> Self {
        let mut closed = BTreeMap::new();
        for kind in ["silent", "slow headers", "non-reader"] {
            closed.insert(kind, AtomicU64::new(0));
        }
        Hostility {
            closed,
            answers: Mutex::default(),
        }
    }
}

/// Wait until the server closes the connection (or the phase ends).
async fn until_closed(stream: &mut TcpStream, stop: &AtomicBool) -> bool {
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        match tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            _ => {}
        }
    }
    false
}

/// Connects and sends nothing, again and again.
async fn silent(port: u16, stop: Arc<AtomicBool>, seen: Arc<Hostility>) {
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)).await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        if until_closed(&mut stream, &stop).await {
            seen.closed["silent"].fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Sends a request line, then its headers one byte every half second.
async fn slow_headers(port: u16, stop: Arc<AtomicBool>, seen: Arc<Hostility>) {
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)).await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let _ = stream
            .write_all(b"GET /v1/decision?feature=comments&user=1 HTTP/1.1\r\n")
            .await;
        let mut closed = false;
        for byte in b"X-Padding: ".iter().chain([b'a'; 10_000].iter()).cycle() {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            if stream.write_all(&[*byte]).await.is_err() {
                closed = true;
                break;
            }
            let mut probe = [0u8; 512];
            match tokio::time::timeout(Duration::from_millis(500), stream.read(&mut probe)).await {
                Ok(Ok(0)) | Ok(Err(_)) => {
                    closed = true;
                    break;
                }
                // An answer (the server refusing the request): it will close next.
                Ok(Ok(_)) | Err(_) => {}
            }
        }
        if closed {
            seen.closed["slow headers"].fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Pipelines requests and never reads an answer.
async fn non_reader(port: u16, stop: Arc<AtomicBool>, seen: Arc<Hostility>) {
    let request = b"GET /v1/decision?feature=comments&user=user-3 HTTP/1.1\r\nHost: x\r\n\r\n";
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)).await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let mut closed = false;
        while !stop.load(Ordering::Relaxed) {
            match tokio::time::timeout(Duration::from_millis(200), stream.write_all(request)).await
            {
                Ok(Ok(())) => {}
                Ok(Err(_)) => {
                    closed = true;
                    break;
                }
                // Both socket buffers are full: the server has stopped reading.
                Err(_) => {}
            }
        }
        if closed {
            seen.closed["non-reader"].fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Malformed requests, each on a new connection, as fast as they are answered.
fn malformed_requests() -> Vec<(&'static str, Vec<u8>)> {
    let long_header = format!(
        "GET /healthz HTTP/1.1\r\nX-Long: {}\r\n\r\n",
        "a".repeat(200_000)
    );
    let many_headers = format!(
        "GET /healthz HTTP/1.1\r\n{}\r\n",
        (0..500)
            .map(|i| format!("X-{i}: v\r\n"))
            .collect::<String>()
    );
    let long_url = format!(
        "GET /v1/decision?feature={} HTTP/1.1\r\n\r\n",
        "f".repeat(100_000)
    );
    vec![
        (
            "garbage",
            b"\x00\x01\x02 not http at all \xff\xfe\r\n\r\n".to_vec(),
        ),
        (
            "unknown parameter",
            b"GET /v1/decision?feature=a&userid=1 HTTP/1.1\r\n\r\n".to_vec(),
        ),
        (
            "bad address",
            b"GET /v1/decision?feature=a&ip=300.1.1.1 HTTP/1.1\r\n\r\n".to_vec(),
        ),
        (
            "bad time",
            b"GET /v1/decision?feature=a&user=1&at=yesterday HTTP/1.1\r\n\r\n".to_vec(),
        ),
        ("bad method", b"BREW /v1/decision HTTP/1.1\r\n\r\n".to_vec()),
        ("bad version", b"GET / HTTP/9.9\r\n\r\n".to_vec()),
        ("200 KB header", long_header.into_bytes()),
        ("500 headers", many_headers.into_bytes()),
        ("100 KB URL", long_url.into_bytes()),
        (
            "body promised, not sent",
            b"POST /v1/offenses HTTP/1.1\r\nContent-Length: 100000000\r\n\r\n{".to_vec(),
        ),
        (
            "bad offense body",
            b"POST /v1/offenses HTTP/1.1\r\nContent-Length: 5\r\n\r\n{]]]]".to_vec(),
        ),
    ]
}

async fn malformed(port: u16, worker: usize, stop: Arc<AtomicBool>, seen: Arc<Hostility>) {
    let requests = malformed_requests();
    let mut i = worker;
    while !stop.load(Ordering::Relaxed) {
        let (name, bytes) = &requests[i % requests.len()];
        i += 1;
        let Ok(stream) = TcpStream::connect(("127.0.0.1", port)).await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let mut stream = BufReader::new(stream);
        let _ = stream.get_mut().write_all(bytes).await;
        let answer = tokio::time::timeout(Duration::from_secs(2), read_response(&mut stream))
            .await
            .ok()
            .flatten();
        let outcome = match answer {
            Some(status) => format!("{name}: {status}"),
            None => format!("{name}: closed"),
        };
        *seen.answers.lock().await.entry(outcome).or_default() += 1;
    }
}

struct Phase {
    samples: Vec<Duration>,
    seconds: f64,
    peak_rss_mib: f64,
    peak_open_files: usize,
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

async fn phase(
    sidecar: &Sidecar,
    paths: &Arc<Vec<String>>,
    clients: usize,
    secs: u64,
    hostility: Option<&Arc<Hostility>>,
) -> Phase {
    let stop = Arc::new(AtomicBool::new(false));
    let mut hostile = Vec::new();
    if let Some(seen) = hostility {
        let port = sidecar.port;
        // Open the hostile connections over a second, then let them settle in
        // before the measured clients start.
        for i in 0..SILENT.max(SLOW_HEADERS).max(NON_READERS) {
            if i < SILENT {
                hostile.push(tokio::spawn(silent(port, stop.clone(), seen.clone())));
            }
            if i < SLOW_HEADERS {
                hostile.push(tokio::spawn(slow_headers(port, stop.clone(), seen.clone())));
            }
            if i < NON_READERS {
                hostile.push(tokio::spawn(non_reader(port, stop.clone(), seen.clone())));
            }
            if i % 100 == 99 {
                tokio::time::sleep(Duration::from_millis(60)).await;
            }
        }
        for worker in 0..MALFORMED_WORKERS {
            hostile.push(tokio::spawn(malformed(
                port,
                worker,
                stop.clone(),
                seen.clone(),
            )));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let measured_stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            tokio::spawn(well_behaved(
                sidecar.port,
                paths.clone(),
                measured_stop.clone(),
            ))
        })
        .collect();
    let mut peak_rss_mib = sidecar.rss_mib();
    let mut peak_open_files = sidecar.open_files();
    while started.elapsed() < Duration::from_secs(secs) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        peak_rss_mib = peak_rss_mib.max(sidecar.rss_mib());
        peak_open_files = peak_open_files.max(sidecar.open_files());
    }
    measured_stop.store(true, Ordering::Relaxed);
    let mut samples = Vec::new();
    for worker in workers {
        samples.extend(worker.await.unwrap());
    }
    let seconds = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for task in hostile {
        let _ = task.await;
    }
    samples.sort();
    Phase {
        samples,
        seconds,
        peak_rss_mib,
        peak_open_files,
    }
}

fn raise_open_file_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

fn report_path() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("faults-report").join("hostile.json")
}

#[tokio::main]
async fn main() {
    raise_open_file_limit();
    let secs = env_or("INTERDICT_HOSTILE_SECS", 20) as u64;
    let clients = env_or("INTERDICT_HOSTILE_CLIENTS", 32);
    let count = env_or("INTERDICT_HOSTILE_ENTRIES", 100_000);
    let dir = tempfile::tempdir().unwrap();
    blocklist::write_blocklist(dir.path(), blocklist::entries(count));
    let paths: Arc<Vec<String>> = Arc::new(
        blocklist::queries(count)
            .iter()
            .map(|q| {
                format!(
                    "/v1/decision?feature=comments&user={}&scope=academy%3Dacademy-3",
                    q.user_id.as_deref().unwrap()
                )
            })
            .collect(),
    );
    let sidecar = Sidecar::start(dir.path());
    let ready = Instant::now();
    loop {
        if let Ok(stream) = TcpStream::connect(("127.0.0.1", sidecar.port)).await {
            let mut stream = BufReader::new(stream);
            let _ = stream
                .get_mut()
                .write_all(b"GET /readyz HTTP/1.1\r\n\r\n")
                .await;
            if read_response(&mut stream).await == Some(200) {
                break;
            }
        }
        assert!(
            ready.elapsed() < Duration::from_secs(60),
            "the sidecar never became ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let idle_rss = sidecar.rss_mib();
    let idle_files = sidecar.open_files();
    eprintln!(
        "hostile: {count} entries loaded, {idle_rss:.0} MiB; {clients} well-behaved clients alone for {secs} s"
    );
    let calm = phase(&sidecar, &paths, clients, secs, None).await;
    let hostile_connections = SILENT + SLOW_HEADERS + NON_READERS + MALFORMED_WORKERS;
    eprintln!(
        "hostile: the same with {hostile_connections} hostile connections (limit {MAX_CONNECTIONS})"
    );
    let seen = Arc::new(Hostility::new());
    let rss_before = sidecar.rss_mib();
    let stormy = phase(&sidecar, &paths, clients, secs, Some(&seen)).await;
    // Once more: memory the first storm freed is reused, not added to.
    tokio::time::sleep(Duration::from_secs(7)).await;
    let again = phase(&sidecar, &paths, clients, secs / 2, Some(&seen)).await;
    // Past the header timeout (5 s) every hostile connection is gone.
    tokio::time::sleep(Duration::from_secs(7)).await;
    let after_rss = sidecar.rss_mib();
    let after_files = sidecar.open_files();
    let peak_rss = sidecar.status_kib("VmHWM:") / 1024.0;

    let line = |name: &str, p: &Phase| {
        println!(
            "{name:<34} {:>9} {:>9.2} ms {:>9.2} ms {:>10.0}/s {:>8.0} MiB {:>7}",
            p.samples.len(),
            ms(quantile(&p.samples, 0.5)),
            ms(quantile(&p.samples, 0.99)),
            p.samples.len() as f64 / p.seconds,
            p.peak_rss_mib,
            p.peak_open_files
        );
    };
    println!(
        "{:<34} {:>9} {:>12} {:>12} {:>12} {:>12} {:>7}",
        "phase", "requests", "p50", "p99", "rate", "peak RSS", "files"
    );
    line("well-behaved alone", &calm);
    line("well-behaved among hostile", &stormy);
    line("the same again", &again);
    let p99 = quantile(&stormy.samples, 0.99);
    let growth = stormy.peak_rss_mib - rss_before;
    println!(
        "well-behaved p99 among hostile clients: {:.2} ms (bound {} ms): {}",
        ms(p99),
        P99_BOUND.as_millis(),
        if p99 <= P99_BOUND {
            "within"
        } else {
            "OUTSIDE"
        }
    );
    println!(
        "memory growth under hostility: {growth:.1} MiB (bound {RSS_GROWTH_BOUND_MIB} MiB): {}",
        if growth <= RSS_GROWTH_BOUND_MIB {
            "within"
        } else {
            "OUTSIDE"
        }
    );
    println!(
        "after: {after_rss:.0} MiB (idle {idle_rss:.0} MiB), {after_files} open files (idle {idle_files}), peak RSS {peak_rss:.0} MiB"
    );
    let closed: BTreeMap<&str, u64> = seen
        .closed
        .iter()
        .map(|(k, v)| (*k, v.load(Ordering::Relaxed)))
        .collect();
    println!("hostile connections closed by the sidecar: {closed:?}");
    let answers = seen.answers.lock().await.clone();
    for (outcome, count) in &answers {
        println!("  malformed {outcome}: {count}");
    }

    let phase_json = |p: &Phase| {
        serde_json::json!({
            "requests": p.samples.len(),
            "seconds": p.seconds,
            "p50Ms": ms(quantile(&p.samples, 0.5)),
            "p99Ms": ms(quantile(&p.samples, 0.99)),
            "maxMs": ms(p.samples.last().copied().unwrap_or_default()),
            "peakRssMib": p.peak_rss_mib,
            "peakOpenFiles": p.peak_open_files,
        })
    };
    let report = serde_json::json!({
        "entries": count,
        "clients": clients,
        "maxConnections": MAX_CONNECTIONS,
        "hostile": {
            "silent": SILENT,
            "slowHeaders": SLOW_HEADERS,
            "nonReaders": NON_READERS,
            "malformedWorkers": MALFORMED_WORKERS,
        },
        "calm": phase_json(&calm),
        "hostilePhase": phase_json(&stormy),
        "hostileAgain": phase_json(&again),
        "boundP99Ms": ms(P99_BOUND),
        "boundRssGrowthMib": RSS_GROWTH_BOUND_MIB,
        "rssBeforeMib": rss_before,
        "idle": { "rssMib": idle_rss, "openFiles": idle_files },
        "after": { "rssMib": after_rss, "openFiles": after_files },
        "peakRssMib": peak_rss,
        "closed": closed,
        "malformedAnswers": answers,
    });
    let path = report_path();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, serde_json::to_string_pretty(&report).unwrap()).unwrap();
    eprintln!("hostile: figures written to {}", path.display());
}
