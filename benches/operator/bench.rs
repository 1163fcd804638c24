//! One run of the bench: its settings, the cluster and client it uses, the
//! rows, raw lines and notes it reports, and the steps every phase shares
//! (namespaces, operators, waiting for publication and catch-up).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use interdict::api::UserBan;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::{Api, Client};

use crate::common::metrics::Scrape;
use crate::common::{TestCluster, create_namespace};
use crate::format::{fmt_bytes, fmt_ms, fmt_s, millis};
use crate::metered::{Figures, Metered, cpu_seconds};
use crate::objects::{ban, config_map, create_one};
use crate::observer::Observer;
use crate::settings::Settings;

pub struct Row {
    pub figure: String,
    pub size: String,
    pub measured: String,
    pub floor: String,
    pub ratio: String,
    pub target: String,
    pub result: String,
}

pub struct Bench {
    pub s: Settings,
    pub root: PathBuf,
    pub cluster: TestCluster,
    pub client: Client,
    pub run: String,
    pub started: Instant,
    pub deadline: Instant,
    pub logs: PathBuf,
    pub rows: Vec<Row>,
    pub raw: Vec<String>,
    pub notes: Vec<String>,
    pub versions: Vec<String>,
    pub machine: String,
    pub load_start: String,
    pub operators_started: usize,
    /// The large size actually used (the budget may shrink it).
    pub large_used: Option<usize>,
    /// The control plane's processes, for CPU accounting.
    pub cluster_pids: Vec<(&'static str, u32)>,
    /// Appended to pass/FAIL while a target is checked at another size.
    pub target_suffix: String,
    /// The large first start: the bench client's list alone, and the
    /// operator's time to every ban published (the start-up target's row
    /// is written once the shard-write floor is measured, at the restart).
    pub first_start: Option<(Duration, Duration)>,
}

pub struct CatchUp {
    pub done: bool,
    pub elapsed: Duration,
    pub statuses: f64,
    pub why: String,
}

pub struct Cells {
    pub measured: String,
    pub floor: String,
    pub ratio: String,
    pub target: &'static str,
    pub result: String,
}

impl Cells {
    pub fn new(measured: String) -> Cells {
        Cells {
            measured,
            floor: String::new(),
            ratio: String::new(),
            target: "",
            result: String::new(),
        }
    }

    pub fn floor(mut self, floor: String, ratio: String) -> Cells {
        (self.floor, self.ratio) = (floor, ratio);
        self
    }

    pub fn target(mut self, target: &'static str, result: String) -> Cells {
        (self.target, self.result) = (target, result);
        self
    }
}

impl Bench {
    pub fn left(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    pub fn row(&mut self, figure: &str, size: &str, cells: Cells) {
        self.rows.push(Row {
            figure: figure.into(),
            size: size.into(),
            measured: cells.measured,
            floor: cells.floor,
            ratio: cells.ratio,
            target: cells.target.into(),
            result: cells.result,
        });
    }

    pub fn raw(&mut self, line: String) {
        eprintln!("bench: {line}");
        self.raw.push(line);
    }

    pub fn note(&mut self, line: String) {
        eprintln!("bench: NOTE {line}");
        self.notes.push(line);
    }

    pub async fn namespace(&self, tag: &str) -> String {
        let name = format!("bench-{tag}-{}", self.run);
        create_namespace(&self.client, &name).await;
        name
    }

    pub fn start_operator(&mut self, namespace: &str, tag: &str) -> Metered {
        self.start_operator_with(namespace, tag, &[])
    }

    /// The operator with flags beside the bench's own.
    pub fn start_operator_with(&mut self, namespace: &str, tag: &str, extra: &[&str]) -> Metered {
        self.operators_started += 1;
        let stem = format!("{:02}-{tag}", self.operators_started);
        let mut args = self.s.operator_args.clone();
        args.extend(extra.iter().map(|a| a.to_string()));
        Metered::start(&self.cluster, namespace, &args, &self.logs, &stem)
    }

    pub async fn record_operator(&mut self, op: &Metered, label: &str) {
        if let Some(scrape) = op.scrape().await {
            self.raw(format!("operator metrics after {label}:"));
            for line in scrape.digest() {
                self.raw(format!("  {line}"));
            }
        }
        let (count, problems) = op.log_problems();
        if count > 0 {
            self.raw(format!(
                "operator log after {label}: {count} warning/error lines; first distinct:"
            ));
            for p in problems {
                self.raw(format!("  {p}"));
            }
        }
    }

    /// The API server's first object of a kind pays one-off costs (CEL
    /// compilation, caches): paid here, in a namespace of its own, not in a sample.
    pub async fn warm_up(&mut self) {
        let ns = self.namespace("warmup").await;
        let bans: Api<UserBan> = Api::namespaced(self.client.clone(), &ns);
        let cms: Api<ConfigMap> = Api::namespaced(self.client.clone(), &ns);
        for i in 0..3 {
            let t0 = Instant::now();
            let _ = create_one(&bans, &ban(&format!("warm-{i}"), i)).await;
            let ban_ms = millis(t0.elapsed());
            let t0 = Instant::now();
            let _ = create_one(&cms, &config_map(&format!("warm-{i}"), 16)).await;
            self.raw(format!(
                "warm-up {i}: UserBan create {}, ConfigMap create {}",
                fmt_ms(ban_ms),
                fmt_ms(millis(t0.elapsed()))
            ));
        }
    }

    /// Waits for `target` bans to be published, giving up early when the operator
    /// keeps failing its passes without a success.
    pub async fn wait_published(
        &mut self,
        obs: &Observer,
        op: &Metered,
        target: usize,
        timeout: Duration,
    ) -> Result<Instant, String> {
        obs.set_target(target);
        let start = Instant::now();
        let mut last_success: Option<(f64, Instant)> = None;
        loop {
            if let Some(at) = obs.wait(Duration::from_secs(5), |v| v.target_reached).await {
                return Ok(at);
            }
            let present = obs.with(|v| v.present);
            if start.elapsed() >= timeout {
                return Err(format!(
                    "{present}/{target} published after {}",
                    fmt_s(start.elapsed())
                ));
            }
            if op.exited() {
                return Err(format!("the operator exited; {present}/{target} published"));
            }
            if let Some(s) = op.scrape().await {
                let count = |result| {
                    s.value(
                        "interdict_reconciles_total",
                        &[("kind", "Blocklist"), ("result", result)],
                    )
                    .unwrap_or(0.0)
                };
                let (ok, errors) = (count("success"), count("error"));
                match last_success {
                    Some((seen, since)) if seen == ok => {
                        if errors >= 3.0 && since.elapsed() > Duration::from_secs(45) {
                            let (_, problems) = op.log_problems();
                            return Err(format!(
                                "{present}/{target} published; the operator's passes fail ({errors} errors, no success for {}): {}",
                                fmt_s(since.elapsed()),
                                problems.first().cloned().unwrap_or_default()
                            ));
                        }
                    }
                    _ => last_success = Some((ok, Instant::now())),
                }
            }
        }
    }

    /// Waits until `expected` statuses were written and the operator is idle;
    /// logs the progress (the status-write rate is the operator's throughput).
    pub async fn catch_up(
        &mut self,
        op: &Metered,
        expected: usize,
        timeout: Duration,
        label: &str,
    ) -> CatchUp {
        let start = Instant::now();
        let cpu_before = self.cpu_snapshot(op);
        let result = self.catch_up_inner(op, expected, timeout, label).await;
        self.cpu_report(label, op, &cpu_before, start.elapsed());
        result
    }

    /// CPU seconds used so far by the API server, etcd and the operator.
    pub fn cpu_snapshot(&self, op: &Metered) -> Vec<(&'static str, f64)> {
        self.cluster_pids
            .iter()
            .copied()
            .chain([("operator", op.pid)])
            .filter_map(|(name, pid)| Some((name, cpu_seconds(pid)?)))
            .collect()
    }

    pub fn cpu_report(
        &mut self,
        label: &str,
        op: &Metered,
        before: &[(&'static str, f64)],
        wall: Duration,
    ) {
        let now = self.cpu_snapshot(op);
        let parts: Vec<String> = before
            .iter()
            .filter_map(|(name, then)| {
                let now = now.iter().find(|(n, _)| n == name)?.1;
                Some(format!(
                    "{name} {:.1} s ({:.0} % of one core)",
                    now - then,
                    100.0 * (now - then) / wall.as_secs_f64()
                ))
            })
            .collect();
        if !parts.is_empty() {
            self.raw(format!(
                "{label}: CPU over {}: {}",
                fmt_s(wall),
                parts.join(", ")
            ));
        }
    }

    pub async fn catch_up_inner(
        &mut self,
        op: &Metered,
        expected: usize,
        timeout: Duration,
        label: &str,
    ) -> CatchUp {
        let start = Instant::now();
        let (mut printed_at, mut printed) = (Instant::now(), 0.0);
        let (mut stalled_since, mut stall_value) = (Instant::now(), -1.0);
        loop {
            let scrape = op.scrape().await;
            let s = scrape.as_ref().map_or(0.0, Scrape::status_writes);
            if s != stall_value {
                (stalled_since, stall_value) = (Instant::now(), s);
            }
            if printed_at.elapsed() >= Duration::from_secs(15) {
                let rate = (s - printed) / printed_at.elapsed().as_secs_f64();
                let passes = scrape.as_ref().map(|x| x.activity().passes).unwrap_or(0.0);
                let rss = op.memory().map(|m| m.rss).unwrap_or(0);
                self.raw(format!(
                    "{label}: t={:.0}s statuses written {s:.0}/{expected} ({rate:.0}/s over the last {:.0} s), passes done {passes:.0}, RSS {}",
                    start.elapsed().as_secs_f64(),
                    printed_at.elapsed().as_secs_f64(),
                    fmt_bytes(rss)
                ));
                (printed_at, printed) = (Instant::now(), s);
            }
            if s >= expected as f64 {
                let left = timeout
                    .saturating_sub(start.elapsed())
                    .max(Duration::from_secs(5));
                if op.settle(left).await {
                    let elapsed = start.elapsed();
                    let statuses = op.scrape().await.map_or(s, |x| x.status_writes());
                    return CatchUp {
                        done: true,
                        elapsed,
                        statuses,
                        why: String::new(),
                    };
                }
            }
            let stalled = stalled_since.elapsed() > Duration::from_secs(90);
            if start.elapsed() >= timeout || op.exited() || stalled {
                let why = if op.exited() {
                    "the operator exited".to_string()
                } else if stalled {
                    format!("no status written for 90 s ({s:.0}/{expected})")
                } else {
                    format!(
                        "{s:.0}/{expected} statuses after {}",
                        fmt_s(start.elapsed())
                    )
                };
                return CatchUp {
                    done: false,
                    elapsed: start.elapsed(),
                    statuses: s,
                    why,
                };
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}
