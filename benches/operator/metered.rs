//! The operator process the bench measures: started as `interdict run` with a
//! metrics port, read through `/metrics`, `/readyz` and `/proc`.

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::common::TestCluster;
use crate::common::http::{free_port, http};
use crate::common::metrics::Scrape;
use crate::common::operator::{Operator, command};
use crate::format::MIB;
use crate::machine::first_line;

/// What the operator has done so far, as counters: it is idle when they stop
/// moving.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Activity {
    pub passes: f64,
    pub pass_seconds: f64,
    pub statuses: f64,
    pub transitions: f64,
}

#[derive(Clone, Copy, Debug)]
pub struct Memory {
    pub rss: usize,
    pub hwm: usize,
}

/// One `interdict run` watching one namespace, with its metrics endpoint.
pub struct Metered {
    pub process: Operator,
    /// Kept after the process is stopped, for the `/proc` figures taken until then.
    pub pid: u32,
    pub port: u16,
    pub spawned: Instant,
    /// Mean duration of the most recent namespace passes, seconds.
    recent_pass: Mutex<f64>,
}

impl Metered {
    /// `interdict run --namespace NAMESPACE --metrics-addr 127.0.0.1:PORT ARGS...`,
    /// its log and audit lines in `logs/STEM.*`.
    pub fn start(
        cluster: &TestCluster,
        namespace: &str,
        args: &[String],
        logs: &Path,
        stem: &str,
    ) -> Metered {
        let port = free_port();
        let mut run = command(&cluster.kubeconfig);
        run.args(["run", "--namespace", namespace])
            .args(["--metrics-addr", &format!("127.0.0.1:{port}")])
            .args(args)
            .env("RUST_LOG", "info,kube=warn")
            .env("NO_COLOR", "1");
        let process = Operator::spawn(run, logs, stem);
        Metered {
            pid: process.pid().expect("a running process"),
            process,
            port,
            spawned: Instant::now(),
            recent_pass: Mutex::new(0.0),
        }
    }

    pub async fn scrape(&self) -> Option<Scrape> {
        let port = self.port;
        tokio::task::spawn_blocking(move || Scrape::get(port))
            .await
            .ok()
            .flatten()
    }

    /// Polls /readyz; returns when it first answered 200 (after spawn).
    pub async fn wait_ready(&self, timeout: Duration) -> Option<Duration> {
        let deadline = Instant::now() + timeout;
        let port = self.port;
        while Instant::now() < deadline {
            let status = tokio::task::spawn_blocking(move || http(port, "GET", "/readyz"))
                .await
                .ok()
                .flatten();
            if let Some((200, _)) = status {
                return Some(self.spawned.elapsed());
            }
            if self.exited() {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        None
    }

    pub fn exited(&self) -> bool {
        self.process.exited()
    }

    pub fn memory(&self) -> Option<Memory> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        let field = |name: &str| -> Option<usize> {
            let line = status.lines().find(|l| l.starts_with(name))?;
            let kb: usize = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kb * 1024)
        };
        Some(Memory {
            rss: field("VmRSS:")?,
            hwm: field("VmHWM:")?,
        })
    }

    /// SIGTERM (as a rollout does); SIGKILL after `timeout`. Returns how long it took.
    pub fn stop(&mut self, timeout: Duration) -> (Duration, bool) {
        self.process.stop_within(timeout)
    }

    /// Warnings and errors of the operator's log: count and the first few distinct.
    pub fn log_problems(&self) -> (usize, Vec<String>) {
        let text = self.process.log();
        let mut count = 0;
        let mut distinct: Vec<String> = Vec::new();
        for line in text
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        {
            count += 1;
            // Drop the timestamp so repeats of one message collapse.
            let message: String = line
                .split_once(' ')
                .map_or(line, |(_, m)| m)
                .chars()
                .take(400)
                .collect();
            let key: String = message.chars().take(80).collect();
            if distinct.len() < 3 && !distinct.iter().any(|d| d.starts_with(&key)) {
                distinct.push(message);
            }
        }
        (count, distinct)
    }

    /// Waits until the operator is idle: nothing (namespace pass, status write,
    /// transition) finished for twice the recent pass duration, at least 300 ms.
    pub async fn settle(&self, max: Duration) -> bool {
        let start = Instant::now();
        let mut last = match self.scrape().await {
            Some(s) => s.activity(),
            None => {
                tokio::time::sleep(Duration::from_millis(500)).await;
                return false;
            }
        };
        let mut quiet_since = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if let Some(now) = self.scrape().await.map(|s| s.activity())
                && now != last
            {
                if now.passes > last.passes {
                    let mean = (now.pass_seconds - last.pass_seconds) / (now.passes - last.passes);
                    *self.recent_pass.lock().unwrap() = mean;
                }
                last = now;
                quiet_since = Instant::now();
            }
            let recent = *self.recent_pass.lock().unwrap();
            let window = Duration::from_secs_f64((2.0 * recent + 0.1).clamp(0.3, 10.0));
            if quiet_since.elapsed() >= window {
                return true;
            }
            if start.elapsed() >= max {
                return false;
            }
        }
    }
}

/// The figures the bench reads from the operator's metrics.
pub trait Figures {
    fn status_writes(&self) -> f64;
    fn activity(&self) -> Activity;
}

impl Figures for Scrape {
    /// Statuses written so far (the series appears with the first write).
    fn status_writes(&self) -> f64 {
        self.value(
            "interdict_reconciles_total",
            &[("kind", "UserBan"), ("result", "success")],
        )
        .unwrap_or(0.0)
    }

    fn activity(&self) -> Activity {
        Activity {
            passes: self
                .value("interdict_reconcile_duration_seconds_count", &[])
                .unwrap_or(0.0),
            pass_seconds: self
                .value("interdict_reconcile_duration_seconds_sum", &[])
                .unwrap_or(0.0),
            statuses: self
                .value("interdict_reconciles_total", &[("kind", "UserBan")])
                .unwrap_or(0.0),
            transitions: self
                .value("interdict_transitions_total", &[])
                .unwrap_or(0.0),
        }
    }
}

/// CPU time (user + system) a process has used so far, in seconds.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(") ")?;
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / clock_ticks())
}

fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        first_line(Path::new("getconf"), &["CLK_TCK"])
            .and_then(|t| t.parse().ok())
            .unwrap_or(100.0)
    })
}

/// The RSS when the operator has just caught up, for the steady-memory cell.
pub fn rss_note(op: &Metered) -> String {
    op.memory().map_or(String::new(), |m| {
        format!(
            " ({:.0} MiB when it had just caught up)",
            m.rss as f64 / MIB
        )
    })
}
