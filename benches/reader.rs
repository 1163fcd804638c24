//! `make bench`: decision and reload figures for the Rust reader, and decisions
//! over HTTP from `interdict serve`. Prints a table; timings are medians of
//! repeated batches, never assertions.

#[path = "support/blocklist.rs"]
mod blocklist;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use interdict::core::{Index, Query, decide};
use interdict::reader::Blocklist;

use blocklist::{at, entries, queries, write_blocklist};

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    samples[samples.len() / 2]
}

/// ns per call, median over batches.
fn time_per_call(batches: usize, calls: usize, mut f: impl FnMut(usize)) -> f64 {
    let samples = (0..batches)
        .map(|_| {
            let start = Instant::now();
            for i in 0..calls {
                f(i);
            }
            start.elapsed().as_nanos() as f64 / calls as f64
        })
        .collect();
    median(samples)
}

struct Http {
    stream: BufReader<TcpStream>,
}

impl Http {
    fn get(&mut self, path: &str) -> usize {
        let request = format!("GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n");
        self.stream.get_mut().write_all(request.as_bytes()).unwrap();
        let mut length = 0;
        loop {
            let mut line = String::new();
            self.stream.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = value.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).unwrap();
        length
    }
}

fn main() {
    println!("{:<58} {:>14}", "figure", "median");
    for count in [10_000usize, 100_000] {
        let all = entries(count);
        let index = Index::new(all.clone());
        let qs = queries(count);
        let now = at(10);
        let indexed = time_per_call(21, 20_000, |i| {
            std::hint::black_box(index.decide(&qs[i % qs.len()], now));
        });
        println!(
            "{:<58} {:>11.0} ns",
            format!("rust: indexed decision, {count} entries"),
            indexed
        );
        if count == 10_000 {
            let linear = time_per_call(5, 200, |i| {
                std::hint::black_box(decide(&all, &qs[i % qs.len()], now));
            });
            println!(
                "{:<58} {:>11.0} ns",
                format!("rust: linear scan decision (reference), {count} entries"),
                linear
            );
        }

        let dir = tempfile::tempdir().unwrap();
        write_blocklist(dir.path(), all);
        let reload = median(
            (0..7)
                .map(|_| {
                    let start = Instant::now();
                    let blocklist = Blocklist::new(dir.path());
                    assert_eq!(blocklist.stats().entries, count);
                    start.elapsed().as_secs_f64() * 1e3
                })
                .collect(),
        );
        println!(
            "{:<58} {:>11.1} ms",
            format!("rust: reload (read, parse, index), {count} entries"),
            reload
        );
        let bytes: u64 = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum();
        println!(
            "{:<58} {:>11.1} MiB",
            format!("blocklist size on disk, {count} entries"),
            bytes as f64 / 1048576.0
        );

        if count == 100_000 {
            http_figures(dir.path(), &qs);
        }
    }
}

fn http_figures(dir: &Path, qs: &[Query]) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut sidecar = Command::new(env!("CARGO_BIN_EXE_interdict"))
        .args([
            "serve",
            "--dir",
            dir.to_str().unwrap(),
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start interdict serve");
    let connect = || loop {
        if let Ok(stream) = TcpStream::connect(("127.0.0.1", port)) {
            stream.set_nodelay(true).unwrap();
            return Http {
                stream: BufReader::new(stream),
            };
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut client = connect();
    while client.get("/readyz") != 3 {
        std::thread::sleep(Duration::from_millis(50));
        client = connect();
    }
    let paths: Vec<String> = qs
        .iter()
        .map(|q| {
            format!(
                "/v1/decision?feature=comments&user={}&scope=academy%3Dacademy-3",
                q.user_id.as_deref().unwrap()
            )
        })
        .collect();
    let per_request = time_per_call(11, 2_000, |i| {
        std::hint::black_box(client.get(&paths[i % paths.len()]));
    });
    println!(
        "{:<58} {:>11.0} ns",
        "sidecar: HTTP decision, keep-alive, 1 client, 100000 entries", per_request
    );
    println!(
        "{:<58} {:>11.0} /s",
        "sidecar: decisions per second, 1 client",
        1e9 / per_request
    );
    let _ = sidecar.kill();
    let _ = sidecar.wait();
}
