//! The large size: bans created with the operator stopped, then its first
//! start, the catch-up of statuses within the time budget, the caught-up
//! figures (at a smaller size when the budget cannot hold the catch-up), and a
//! restart that rebuilds deleted blocklists.

use std::time::Duration;

use futures::StreamExt;

use interdict::api::UserBan;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::DeleteParams;

use crate::bench::{Bench, Cells};
use crate::bulk::MediumOutcome;
use crate::format::{MIB, fmt_s, size_label, verdict};
use crate::metered::{Metered, rss_note};
use crate::objects::{ban, create_all};
use crate::observer::Observer;

impl Bench {
    /// Seconds the latency series and write amplification take at `n` bans
    /// (every sample is two passes over every ban).
    pub fn latency_reserve(&self, n: usize) -> f64 {
        self.s.samples as f64 * (1.0 + 6.0 * n as f64 / 100_000.0) + 30.0
    }

    /// The large namespace: filled with the operator stopped, first start, the
    /// cold status-write rate measured; when the rest of its catch-up fits the
    /// budget, every figure there, else the start-up figures there and the
    /// caught-up figures in a namespace sized from the measured rate.
    pub async fn phase_large(&mut self, medium: Option<&MediumOutcome>) {
        let n = self.s.large;
        let label = size_label(n);
        eprintln!("bench: == large: {n} bans created with the operator stopped, then started");
        let create_per_ban = medium.map_or(0.002, |m| {
            m.created.elapsed.as_secs_f64() / self.s.medium.max(1) as f64
        });
        if self.left().as_secs_f64()
            < 1.3 * n as f64 * create_per_ban + self.latency_reserve(n) + 30.0
        {
            self.note(format!("large ({label}): skipped, the budget is spent"));
            return;
        }
        self.large_used = Some(n);
        let ns = self.namespace("large").await;
        let obs = Observer::start(&self.client, &ns).await;
        let (created, mut op) = self.fill_and_start(&ns, &obs, n, "large").await;
        let Some(created) = created else {
            op.stop(Duration::from_secs(15));
            return;
        };
        let mut expected = created;

        // The cold pass's status-write rate, after its first burst.
        let first = self
            .catch_up(&op, expected, Duration::from_secs(25), "large statuses")
            .await;
        let mut caught = first.done;
        let mut rate = 0.0;
        if !caught {
            let second = self
                .catch_up(&op, expected, Duration::from_secs(20), "large statuses")
                .await;
            caught = second.done;
            rate = (second.statuses - first.statuses) / second.elapsed.as_secs_f64();
            self.raw(format!(
                "large: cold pass writes {rate:.0} statuses/s ({:.0}/{expected} written {} after the start)",
                second.statuses,
                fmt_s(op.spawned.elapsed())
            ));
        }
        let restart_reserve = 60.0 + 0.0003 * n as f64;
        if !caught && rate > 0.0 {
            let remaining = (expected as f64 - first.statuses.max(0.0)) / rate * 1.2;
            let available =
                self.left().as_secs_f64() - self.latency_reserve(n) - restart_reserve - 20.0;
            self.raw(format!(
                "large: the rest of the catch-up would take ~{remaining:.0} s; {available:.0} s available for it"
            ));
            // INTERDICT_BENCH_ADAPT=0: wait at this size for as long as the budget allows.
            if remaining <= available || !self.s.adapt {
                let timeout = Duration::from_secs_f64(available.max(10.0));
                caught = self
                    .catch_up(&op, expected, timeout, "large catch-up")
                    .await
                    .done;
            }
        }
        if caught {
            self.raw(format!(
                "large: caught up {} after the start",
                fmt_s(op.spawned.elapsed())
            ));
            self.caught_up_figures(&ns, &obs, &op, n, &mut expected)
                .await;
        } else {
            self.target_suffix = " (statuses still being written)".into();
            self.report_memory(&label, &op, ", not caught up", true, "");
            self.target_suffix.clear();
        }
        self.report_sizes(&ns, &obs, &label).await;
        self.record_operator(&op, "the large phase").await;
        let (took, graceful) = op.stop(Duration::from_secs(if caught { 60 } else { 15 }));
        self.raw(format!(
            "large: SIGTERM to exit {}{}",
            fmt_s(took),
            if graceful {
                ""
            } else {
                " (still in its pass; killed)"
            }
        ));
        self.restart_figure(&ns, &obs, n, expected, caught).await;
        if caught || !self.s.adapt {
            return;
        }

        // The caught-up figures at the largest size the measured rate allows.
        let per_ban = create_per_ban + 1.3 / rate.max(1.0);
        let step = if n >= 20_000 { 5_000 } else { 100 };
        let fits =
            |m: usize, left: f64| m as f64 * per_ban + self.latency_reserve(m) + 30.0 <= left;
        let left = self.left().as_secs_f64();
        let mut size = n - step;
        while size > step && !fits(size, left) {
            size -= step;
        }
        if size <= self.s.medium || !fits(size, left) {
            self.note(format!(
                "the operator did not catch up with {label} bans within the budget ({rate:.0} statuses/s), and no larger size than {} fits what is left: latency, steady memory and write amplification measured at {} only",
                size_label(self.s.medium),
                size_label(self.s.medium)
            ));
            return;
        }
        self.note(format!(
            "the operator did not catch up with {label} bans within the budget (cold pass {rate:.0} statuses/s): latency, steady memory and write amplification measured at {} bans, the largest size whose catch-up fits",
            size_label(size)
        ));
        self.target_suffix = format!(" at {}", size_label(size));
        self.caught_up_namespace(size).await;
        self.target_suffix.clear();
    }

    /// Creates `n` bans with no operator running, starts one: the first-start
    /// figures. Returns how many bans exist, and the running operator.
    pub async fn fill_and_start(
        &mut self,
        ns: &str,
        obs: &Observer,
        n: usize,
        tag: &str,
    ) -> (Option<usize>, Metered) {
        let label = size_label(n);
        let bans: Api<UserBan> = Api::namespaced(self.client.clone(), ns);
        let objects = (0..n).map(|i| ban(&format!("big-{i:06}"), i));
        let created = create_all(&bans, objects, n, self.s.concurrency, "bans").await;
        self.raw(format!(
            "{tag}: {n} bans created (operator stopped) in {} ({:.0}/s), {} failed",
            fmt_s(created.elapsed),
            created.rate(n),
            created.failed
        ));
        if let Some(e) = &created.first_error {
            self.note(format!(
                "{tag}: {} create(s) failed; first: {e}",
                created.failed
            ));
        }
        let expected = n - created.failed;
        let listed = list_floor(&bans).await;
        self.raw(format!(
            "{tag}: listing the {n} bans in pages of 500 (what the operator's watch does first) took {}",
            fmt_s(listed)
        ));
        let op = self.start_operator(ns, &format!("{tag}-first"));
        let ready = op.wait_ready(Duration::from_secs(300)).await;
        let timeout = self.left().saturating_sub(Duration::from_secs(30));
        let published = self
            .wait_published(obs, &op, expected, timeout)
            .await
            .map(|at| at.saturating_duration_since(op.spawned));
        let memory = op.memory();
        let first = format!(
            "/readyz {}, all published {}",
            ready.map_or("never".into(), fmt_s),
            published
                .as_ref()
                .map_or_else(|e| format!("not reached ({e})"), |d| fmt_s(*d)),
        );
        self.raw(format!("{tag}: first start with {n} bans: {first}"));
        if let Some(m) = memory {
            self.raw(format!(
                "{tag}: memory when every ban was published: VmRSS {} B, VmHWM {} B",
                m.rss, m.hwm
            ));
        }
        let ratio = published.as_ref().map_or(String::new(), |d| {
            format!(
                "{:.1}× the list",
                d.as_secs_f64() / listed.as_secs_f64().max(1e-3)
            )
        });
        self.row(
            "start-up, first start (no blocklist, no statuses)",
            &label,
            Cells::new(first).floor(format!("list alone {}", fmt_s(listed)), ratio),
        );
        if let Ok(published) = published {
            self.first_start = Some((listed, published));
        }
        match published {
            Ok(_) => (Some(expected), op),
            Err(why) => {
                self.note(format!(
                    "{tag}: not every ban was published after the first start: {why}"
                ));
                (None, op)
            }
        }
    }

    /// Latency, steady memory and write amplification with a caught-up operator.
    pub async fn caught_up_figures(
        &mut self,
        ns: &str,
        obs: &Observer,
        op: &Metered,
        n: usize,
        expected: &mut usize,
    ) {
        let label = size_label(n);
        let caught_rss = rss_note(op);
        let series = self.latency_series(ns, obs, op, &label).await;
        *expected += series.creates.len();
        self.report_latency(n, &series, true);
        op.settle(Duration::from_secs(60)).await;
        self.report_memory(&label, op, "", true, &caught_rss);
        self.write_amplification(ns, obs, op, "big-000001", n, true)
            .await;
    }

    /// A namespace of `n` bans whose operator is given the time to catch up.
    pub async fn caught_up_namespace(&mut self, n: usize) {
        let label = size_label(n);
        eprintln!("bench: == caught up: {n} bans, first start, catch-up, then the figures");
        let ns = self.namespace("caught-up").await;
        let obs = Observer::start(&self.client, &ns).await;
        let (created, mut op) = self.fill_and_start(&ns, &obs, n, "caught-up").await;
        if let Some(mut expected) = created {
            let timeout = self
                .left()
                .saturating_sub(Duration::from_secs_f64(self.latency_reserve(n) + 10.0));
            let catch = self
                .catch_up(&op, expected, timeout, "caught-up catch-up")
                .await;
            if catch.done {
                self.raw(format!(
                    "caught-up: caught up {} after the start",
                    fmt_s(op.spawned.elapsed())
                ));
                self.caught_up_figures(&ns, &obs, &op, n, &mut expected)
                    .await;
            } else {
                self.note(format!(
                    "caught-up ({label}): the operator had not caught up ({}); latency and write amplification not measured",
                    catch.why
                ));
                self.report_memory(&label, &op, " (not caught up)", true, "");
            }
            self.report_sizes(&ns, &obs, &label).await;
        }
        self.record_operator(&op, "the caught-up phase").await;
        op.stop(Duration::from_secs(15));
    }

    /// Restart with every ban present; the blocklists are deleted while the
    /// operator is down, so the figure is the rebuild, not a no-op.
    pub async fn restart_figure(
        &mut self,
        ns: &str,
        obs: &Observer,
        n: usize,
        expected: usize,
        caught: bool,
    ) {
        let label = size_label(n);
        if self.left() < Duration::from_secs(45) {
            self.note("large: restart skipped (budget)".into());
            return;
        }
        let cms: Api<ConfigMap> = Api::namespaced(self.client.clone(), ns);
        let names: Vec<String> = obs.with(|v| v.shards.keys().cloned().collect());
        self.start_up_target(&cms, &names, &label).await;
        for name in &names {
            let _ = cms.delete(name, &DeleteParams::default()).await;
        }
        obs.wait(Duration::from_secs(60), |v| {
            v.shards.is_empty().then_some(())
        })
        .await;
        obs.clear_target();
        let expected = obs.with(|v| v.first_present.len()).max(expected);
        let mut op = self.start_operator(ns, "large-restart");
        let ready = op.wait_ready(Duration::from_secs(300)).await;
        let timeout = self.left().saturating_sub(Duration::from_secs(10));
        let published = self
            .wait_published(obs, &op, expected, timeout)
            .await
            .map(|at| at.saturating_duration_since(op.spawned));
        let hwm = op.memory().map(|m| m.hwm);
        let restart = format!(
            "/readyz {}, all published {}",
            ready.map_or("never".into(), fmt_s),
            published
                .as_ref()
                .map_or_else(|e| format!("not reached ({e})"), |d| fmt_s(*d)),
        );
        let statuses = if caught {
            "with their statuses"
        } else {
            "statuses partly written"
        };
        self.raw(format!(
            "large: restart with {expected} bans ({statuses}), blocklists deleted: {restart}"
        ));
        self.row(
            &format!("start-up, restart ({statuses}, blocklists deleted)"),
            &label,
            Cells::new(restart),
        );
        if let Some(hwm) = hwm {
            let cells = Cells::new(format!("{:.0} MiB", hwm as f64 / MIB));
            self.row(
                "operator RSS peak, restart until all published",
                &label,
                cells,
            );
        }
        self.report_sizes(ns, obs, &format!("{label} (restart)"))
            .await;
        self.record_operator(&op, "the restart").await;
        op.stop(Duration::from_secs(15));
    }
}

impl Bench {
    /// The start-up target's row: the first start beside its floor, the
    /// list alone plus the same blocklist shards written alone (by
    /// server-side apply, from the bench client into a namespace of their
    /// own, as many at once as the operator writes, while no operator runs).
    async fn start_up_target(&mut self, cms: &Api<ConfigMap>, names: &[String], label: &str) {
        let Some((listed, published)) = self.first_start else {
            return;
        };
        let mut shards = Vec::new();
        for name in names {
            if let Ok(cm) = cms.get(name).await {
                shards.push((name.clone(), cm.data.unwrap_or_default()));
            }
        }
        let bytes: usize = shards
            .iter()
            .flat_map(|(_, data)| data.values())
            .map(String::len)
            .sum();
        let count = shards.len();
        let scratch = self.namespace("shard-writes").await;
        let copies: Api<ConfigMap> = Api::namespaced(self.client.clone(), &scratch);
        let started = std::time::Instant::now();
        let failed = futures::stream::iter(shards)
            .map(|(name, data)| {
                let copies = copies.clone();
                async move {
                    let copy = ConfigMap {
                        metadata: kube::api::ObjectMeta {
                            name: Some(name.clone()),
                            ..Default::default()
                        },
                        data: Some(data),
                        ..Default::default()
                    };
                    // By server-side apply, as the operator writes them
                    // (and as the shard rewrite floor is measured).
                    let params = kube::api::PatchParams::apply("interdict-bench").force();
                    copies
                        .patch(&name, &params, &kube::api::Patch::Apply(&copy))
                        .await
                        .is_err()
                }
            })
            .buffer_unordered(SHARD_WRITES_IN_FLIGHT)
            .filter(|failed| futures::future::ready(*failed))
            .count()
            .await;
        let written = started.elapsed();
        let _ = copies
            .delete_collection(&DeleteParams::default(), &Default::default())
            .await;
        self.raw(format!(
            "large: the {count} blocklist shards ({:.2} MiB) written alone by server-side apply, {SHARD_WRITES_IN_FLIGHT} at once: {} ({failed} failed)",
            bytes as f64 / MIB,
            fmt_s(written)
        ));
        let floor = listed + written;
        let ratio = published.as_secs_f64() / floor.as_secs_f64().max(1e-3);
        self.row(
            "start-up, first start: every ban published",
            label,
            Cells::new(fmt_s(published))
                .floor(
                    format!(
                        "list alone {} + {count} shards written alone {} = {}",
                        fmt_s(listed),
                        fmt_s(written),
                        fmt_s(floor)
                    ),
                    format!("{ratio:.2}× floor"),
                )
                .target("≤ 10 s", verdict(published <= START_UP_TARGET)),
        );
    }
}

/// The operator's shard writes in flight (`SHARD_WRITES_IN_FLIGHT` in
/// src/controller/incremental.rs): the floor writes as many at once.
const SHARD_WRITES_IN_FLIGHT: usize = 4;

/// All published within this long after a first start with 100k bans.
const START_UP_TARGET: Duration = Duration::from_secs(10);

/// The API server's time to list every ban of the namespace in pages of 500,
/// as a watch's first list does: no start-up can publish sooner.
async fn list_floor(bans: &Api<UserBan>) -> Duration {
    let started = std::time::Instant::now();
    let mut params = kube::api::ListParams::default().limit(500);
    loop {
        match bans.list(&params).await {
            Ok(page) => match page.metadata.continue_.filter(|c| !c.is_empty()) {
                Some(next) => params = params.continue_token(&next),
                None => break,
            },
            Err(error) => {
                eprintln!("bench: listing the bans failed: {error}");
                break;
            }
        }
    }
    started.elapsed()
}
