//! Single-ban latency: one ban created, the time until it is published, each
//! sample next to a bare ConfigMap's trip through the same watch (the floor).

use std::time::{Duration, Instant};

use interdict::api::UserBan;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{Patch, PatchParams};

use crate::bench::{Bench, Cells};
use crate::format::{fmt_ms, fmt_s, millis, pct, samples_line, size_label, verdict};
use crate::metered::{Figures, Metered};
use crate::objects::{ban, config_map, create_one};
use crate::observer::Observer;

pub struct Series {
    pub bans: Vec<f64>,
    pub creates: Vec<f64>,
    pub floors: Vec<f64>,
    /// A ConfigMap the size of one blocklist shard rewritten (server-side
    /// apply, one value changed) → seen on the watch: what publishing one
    /// change costs the API server alone.
    pub shard_floors: Vec<f64>,
    pub shard_bytes: usize,
    pub timeouts: usize,
    pub unsettled: usize,
    /// Namespace passes during the samples, and their mean duration.
    pub passes: f64,
    pub pass_ms: f64,
}

impl Bench {
    pub async fn phase_empty(&mut self) {
        eprintln!("bench: == single-ban latency with 0 existing bans");
        let ns = self.namespace("empty").await;
        let obs = Observer::start(&self.client, &ns).await;
        let mut op = self.start_operator(&ns, "empty");
        match op.wait_ready(Duration::from_secs(60)).await {
            Some(ready) => self.raw(format!("0 bans: /readyz after {}", fmt_s(ready))),
            None => {
                self.note("the operator did not become ready in the empty namespace".into());
                return;
            }
        }
        let series = self.latency_series(&ns, &obs, &op, "0").await;
        self.report_latency(0, &series, false);
        self.report_memory("0", &op, "", false, "");
        self.report_sizes(&ns, &obs, "0").await;
        self.record_operator(&op, "the 0-ban phase").await;
        op.stop(Duration::from_secs(30));
    }

    /// Interleaved samples: a bare ConfigMap seen on the watch (floor), then a
    /// ban seen in the blocklist (alternating which comes first).
    pub async fn latency_series(
        &mut self,
        ns: &str,
        obs: &Observer,
        op: &Metered,
        label: &str,
    ) -> Series {
        let bans: Api<UserBan> = Api::namespaced(self.client.clone(), ns);
        let cms: Api<ConfigMap> = Api::namespaced(self.client.clone(), ns);
        let mut series = Series {
            bans: Vec::new(),
            creates: Vec::new(),
            floors: Vec::new(),
            shard_floors: Vec::new(),
            shard_bytes: 0,
            timeouts: 0,
            unsettled: 0,
            passes: 0.0,
            pass_ms: 0.0,
        };
        op.settle(Duration::from_secs(60)).await;
        // An idle client's pooled connection may be gone: reconnecting (TLS) is
        // no part of either figure.
        let warm = format!("floor-{label}-warm");
        let _ = create_one(&cms, &config_map(&warm, 16)).await;
        obs.wait(Duration::from_secs(30), |v| v.others.get(&warm).copied())
            .await;
        // The shard floor's ConfigMap is as large as the blocklist's shards
        // are on average now (a new ban lands in one of them).
        series.shard_bytes = obs
            .with(|view| {
                let shards = view.shards.len().max(1);
                view.shards.values().map(|s| s.bytes).sum::<usize>() / shards
            })
            .max(16);
        let shard_floor = format!("shard-floor-{label}");
        let before = op.scrape().await.map(|s| s.activity());
        for i in 0..self.s.samples {
            if self.left() < Duration::from_secs(20) {
                self.note(format!(
                    "single-ban latency at {label}: budget exhausted after {i} samples"
                ));
                break;
            }
            for step in 0..2 {
                if (step == 0) == (i % 2 == 0) {
                    let name = format!("floor-{label}-{i:03}");
                    let t0 = Instant::now();
                    if let Err(e) = create_one(&cms, &config_map(&name, 16)).await {
                        panic!("cannot create ConfigMap {name}: {e}");
                    }
                    let seen = obs
                        .wait(Duration::from_secs(30), |v| v.others.get(&name).copied())
                        .await;
                    match seen {
                        Some(at) => series.floors.push(millis(at.saturating_duration_since(t0))),
                        None => series.timeouts += 1,
                    }
                } else {
                    let name = format!("lat-{label}-{i:03}");
                    let id = format!("UserBan/{name}");
                    let t0 = Instant::now();
                    if let Err(e) = create_one(&bans, &ban(&name, 900_000 + i)).await {
                        panic!("cannot create UserBan {name}: {e}");
                    }
                    series.creates.push(millis(t0.elapsed()));
                    let seen = obs
                        .wait(Duration::from_secs(60), |v| {
                            v.first_present.get(&id).copied()
                        })
                        .await;
                    match seen {
                        Some(at) => series.bans.push(millis(at.saturating_duration_since(t0))),
                        None => series.timeouts += 1,
                    }
                    if !op.settle(Duration::from_secs(60)).await {
                        series.unsettled += 1;
                    }
                }
            }
            match rewrite_seen(&cms, obs, &shard_floor, series.shard_bytes, i).await {
                // The first write creates the ConfigMap: not a rewrite.
                Some(ms) if i > 0 => series.shard_floors.push(ms),
                Some(_) => {}
                None => series.timeouts += 1,
            }
        }
        let after = op.scrape().await.map(|s| s.activity());
        if let (Some(before), Some(after)) = (before, after)
            && after.passes > before.passes
        {
            series.passes = after.passes - before.passes;
            series.pass_ms = 1e3 * (after.pass_seconds - before.pass_seconds) / series.passes;
        }
        series
    }
}

/// Server-side applies a ConfigMap of `bytes` with a value that differs
/// from the last one; milliseconds until the watch delivers it.
async fn rewrite_seen(
    cms: &Api<ConfigMap>,
    obs: &Observer,
    name: &str,
    bytes: usize,
    round: usize,
) -> Option<f64> {
    let before = obs.with(|v| v.others_latest.get(name).map(|(rv, _)| rv.clone()));
    let mut object = config_map(name, bytes);
    let stamp = format!("{round:08}");
    object.data.as_mut()?.insert("round".into(), stamp);
    let t0 = Instant::now();
    let written = cms
        .patch(
            name,
            &PatchParams::apply("interdict-bench").force(),
            &Patch::Apply(&object),
        )
        .await
        .unwrap_or_else(|e| panic!("cannot write ConfigMap {name}: {e}"));
    let rv = written.metadata.resource_version;
    if rv.is_some() && rv == before {
        return None;
    }
    obs.wait(Duration::from_secs(30), |v| {
        v.others_latest
            .get(name)
            .filter(|(seen, _)| Some(seen) == rv.as_ref())
            .map(|(_, at)| *at)
    })
    .await
    .map(|at| millis(at.saturating_duration_since(t0)))
}

impl Bench {
    pub fn report_latency(&mut self, size: usize, series: &Series, with_target: bool) {
        let label = size_label(size);
        self.raw(format!(
            "single-ban latency at {label}: ban samples (ms): {}",
            samples_line(&series.bans)
        ));
        self.raw(format!(
            "single-ban latency at {label}: of which the create call (ms): {}",
            samples_line(&series.creates)
        ));
        self.raw(format!(
            "single-ban latency at {label}: floor samples (ms): {}",
            samples_line(&series.floors)
        ));
        if series.passes > 0.0 {
            self.raw(format!(
                "single-ban latency at {label}: {:.0} namespace passes during the samples, mean {}",
                series.passes,
                fmt_ms(series.pass_ms)
            ));
            let cells = Cells::new(format!(
                "{} ({:.0} passes for {} bans)",
                fmt_ms(series.pass_ms),
                series.passes,
                series.creates.len()
            ));
            self.row("namespace pass, mean during the samples", &label, cells);
        }
        if series.timeouts > 0 || series.unsettled > 0 {
            self.note(format!(
                "single-ban latency at {label}: {} sample(s) timed out, {} time(s) the operator did not settle within 60 s",
                series.timeouts, series.unsettled
            ));
        }
        let target = if with_target {
            "p99 ≤ 3× floor p99"
        } else {
            ""
        };
        if series.bans.is_empty() || series.floors.is_empty() {
            let result = if with_target { "not measured" } else { "" };
            let cells = Cells::new(format!("no sample ({} timeouts)", series.timeouts))
                .target(target, result.into());
            self.row("single-ban latency p50 / p99", &label, cells);
            return;
        }
        let (p50, p99) = (pct(&series.bans, 0.5), pct(&series.bans, 0.99));
        let (f50, f99) = (pct(&series.floors, 0.5), pct(&series.floors, 0.99));
        let ratio = p99 / f99;
        let mut measured = format!("{} / {}", fmt_ms(p50), fmt_ms(p99));
        if series.timeouts > 0 {
            measured.push_str(&format!(" ({} timed out > 60 s)", series.timeouts));
        }
        let result = if with_target {
            verdict(ratio <= 3.0 && series.timeouts == 0) + &self.target_suffix
        } else {
            String::new()
        };
        let cells = Cells::new(measured)
            .floor(
                format!("{} / {}", fmt_ms(f50), fmt_ms(f99)),
                format!("{ratio:.1}×"),
            )
            .target(target, result);
        self.row(
            "single-ban latency p50 / p99",
            &format!("{label} ({} samples)", series.bans.len()),
            cells,
        );
        self.report_shard_floor(&label, series, p99, f99);
    }

    /// What bounds the latency once the blocklist is large: the API server
    /// rewriting one shard. Compared with the two floors together (the ban's
    /// create and the shard's rewrite, both seen on a watch).
    fn report_shard_floor(&mut self, label: &str, series: &Series, p99: f64, f99: f64) {
        self.raw(format!(
            "single-ban latency at {label}: shard rewrite floor samples ({} B) (ms): {}",
            series.shard_bytes,
            samples_line(&series.shard_floors)
        ));
        if series.shard_floors.is_empty() {
            return;
        }
        let (s50, s99) = (
            pct(&series.shard_floors, 0.5),
            pct(&series.shard_floors, 0.99),
        );
        let bound = f99 + s99;
        let cells = Cells::new(format!("{} / {}", fmt_ms(s50), fmt_ms(s99))).floor(
            format!("create + rewrite p99 {}", fmt_ms(bound)),
            format!("ban p99 {:.1}× that", p99 / bound),
        );
        self.row(
            "shard rewrite floor p50 / p99 (one shard-sized ConfigMap)",
            &format!("{label} ({} B)", series.shard_bytes),
            cells,
        );
    }
}
