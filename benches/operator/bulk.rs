//! Bulk: a burst of bans into a namespace whose operator is running, against
//! the same burst of ConfigMaps and of bans nobody watches; then the figures at
//! that size.

use std::time::{Duration, Instant};

use interdict::api::UserBan;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;

use crate::bench::{Bench, Cells};
use crate::format::{fmt_s, size_label, verdict};
use crate::metered::rss_note;
use crate::objects::{Created, ban, config_map, create_all};
use crate::observer::Observer;
use crate::settling::Write;

pub struct MediumOutcome {
    pub created: Created,
}

impl Bench {
    pub async fn phase_medium(&mut self) -> Option<MediumOutcome> {
        let n = self.s.medium;
        let conc = self.s.concurrency;
        let label = size_label(n);
        eprintln!("bench: == bulk: {n} bans at concurrency {conc}, then the {label} figures");
        let ns = self.namespace("bulk").await;
        let floor_ns = self.namespace("bulk-floor").await;
        let obs = Observer::start(&self.client, &ns).await;
        let mut op = self.start_operator(&ns, "bulk");
        if op.wait_ready(Duration::from_secs(60)).await.is_none() {
            self.note("the operator did not become ready in the bulk namespace".into());
            return None;
        }
        op.settle(Duration::from_secs(30)).await;
        let cms: Api<ConfigMap> = Api::namespaced(self.client.clone(), &floor_ns);
        let floor_cms = |prefix: &'static str| {
            (0..n).map(move |i| config_map(&format!("{prefix}-{i:06}"), 200))
        };
        let floor1 = create_all(&cms, floor_cms("a"), n, conc, "floor ConfigMaps").await;
        self.raw(format!(
            "bulk floor (before): {n} ConfigMaps in {} ({:.0}/s), {} failed",
            fmt_s(floor1.elapsed),
            floor1.rate(n),
            floor1.failed
        ));

        let bans: Api<UserBan> = Api::namespaced(self.client.clone(), &ns);
        obs.set_target(n);
        let t0 = Instant::now();
        let objects = (0..n).map(|i| ban(&format!("bulk-{i:06}"), i));
        let created = create_all(&bans, objects, n, conc, "bulk bans").await;
        self.raw(format!(
            "bulk: {n} bans created in {} ({:.0}/s), {} failed",
            fmt_s(created.elapsed),
            created.rate(n),
            created.failed
        ));
        if let Some(e) = &created.first_error {
            self.note(format!(
                "bulk: {} create(s) failed; first: {e}",
                created.failed
            ));
        }
        let timeout = self
            .left()
            .saturating_sub(Duration::from_secs(60))
            .min(Duration::from_secs(600).max(created.elapsed * 10))
            .saturating_sub(t0.elapsed());
        let all_in = match self
            .wait_published(&obs, &op, n - created.failed, timeout)
            .await
        {
            Ok(at) => Some(at.saturating_duration_since(t0)),
            Err(why) => {
                self.note(format!("bulk: not every ban reached the blocklist: {why}"));
                None
            }
        };
        let hwm_bulk = op.memory().map(|m| m.hwm);
        let mut caught_up = None;
        if all_in.is_some() {
            let left = self.left().saturating_sub(Duration::from_secs(90));
            let catch = self
                .catch_up(&op, n - created.failed, left, "bulk catch-up")
                .await;
            if catch.done {
                caught_up = Some(t0.elapsed());
                self.raw(format!(
                    "bulk: statuses written and operator idle {} after the first create ({:.0} status writes)",
                    fmt_s(t0.elapsed()),
                    catch.statuses
                ));
            } else {
                self.note(format!(
                    "bulk: the operator did not catch up: {}",
                    catch.why
                ));
            }
        }
        let floor2 = create_all(&cms, floor_cms("b"), n, conc, "floor ConfigMaps").await;
        self.raw(format!(
            "bulk floor (after): {n} ConfigMaps in {} ({:.0}/s), {} failed",
            fmt_s(floor2.elapsed),
            floor2.rate(n),
            floor2.failed
        ));
        // The other floor: the bans themselves, created where no
        // operator watches. A UserBan create costs the API server more than a
        // ConfigMap (JSON, schema and CEL validation), so this is the bound.
        let floor_bans: Api<UserBan> = Api::namespaced(self.client.clone(), &floor_ns);
        let objects = (0..n).map(|i| ban(&format!("floor-{i:06}"), i));
        let floor_ban = create_all(&floor_bans, objects, n, conc, "floor bans").await;
        self.raw(format!(
            "bulk floor (bans, no operator watching): {n} UserBans in {} ({:.0}/s), {} failed",
            fmt_s(floor_ban.elapsed),
            floor_ban.rate(n),
            floor_ban.failed
        ));
        // What Ready needs at the least: each of those bans' status written
        // (as the operator writes it, by server-side apply), still with no
        // operator. Creates + status writes is the floor no operator can beat.
        let status_started = Instant::now();
        let status_failed = self
            .write_all(
                &floor_ns,
                Write::StatusApply,
                (0..n).map(|i| format!("floor-{i:06}")).collect(),
            )
            .await;
        let statuses_alone = status_started.elapsed();
        let ready_floor = floor_ban.elapsed + statuses_alone;
        self.raw(format!(
            "bulk floor (statuses, no operator watching): {n} statuses written in {} ({:.0}/s), {status_failed} failed; creates + statuses {}",
            fmt_s(statuses_alone),
            n as f64 / statuses_alone.as_secs_f64(),
            fmt_s(ready_floor)
        ));
        let floor = (floor1.elapsed + floor2.elapsed) / 2;
        let floor_text = format!(
            "UserBans alone {}; ConfigMaps {} ({} before, {} after)",
            fmt_s(floor_ban.elapsed),
            fmt_s(floor),
            fmt_s(floor1.elapsed),
            fmt_s(floor2.elapsed)
        );
        let cells = match all_in {
            Some(all) => {
                let ratio = all.as_secs_f64() / floor_ban.elapsed.as_secs_f64();
                let cm_ratio = all.as_secs_f64() / floor.as_secs_f64();
                self.raw(format!(
                    "bulk: all {n} bans published {} after the first create",
                    fmt_s(all)
                ));
                Cells::new(format!(
                    "{} (created in {})",
                    fmt_s(all),
                    fmt_s(created.elapsed)
                ))
                .floor(
                    floor_text,
                    format!("{ratio:.2}× the UserBans ({cm_ratio:.2}× the ConfigMaps)"),
                )
                .target("≤ 1.5× floor", verdict(ratio <= 1.5))
            }
            None => Cells::new("not reached (see notes)".into())
                .floor(floor_text, String::new())
                .target("≤ 1.5× floor", "FAIL".into()),
        };
        self.row("bulk: all bans published", &label, cells);
        // Ready means the status written: three writes per ban (finalizer,
        // status, Event), each costing the API server more than the create.
        // The target counts the creates alone; the creates and the status
        // writes alone are printed beside it, the floor Ready cannot beat.
        let ready_cells = match caught_up {
            Some(ready) => {
                let ratio = ready.as_secs_f64() / floor_ban.elapsed.as_secs_f64();
                let bound = ready_floor.as_secs_f64() / floor_ban.elapsed.as_secs_f64();
                let over_bound = ready.as_secs_f64() / ready_floor.as_secs_f64();
                Cells::new(fmt_s(ready))
                    .floor(
                        format!(
                            "UserBans alone {}; with their statuses {} ({bound:.2}× the UserBans)",
                            fmt_s(floor_ban.elapsed),
                            fmt_s(ready_floor)
                        ),
                        format!("{ratio:.2}× ({over_bound:.2}× creates + statuses)"),
                    )
                    .target("≤ 2.5× floor", verdict(ratio <= 2.5))
            }
            None => {
                Cells::new("not reached (see notes)".into()).target("≤ 2.5× floor", "FAIL".into())
            }
        };
        self.row(
            "bulk: every ban Ready (status written)",
            &label,
            ready_cells,
        );
        if let Some(hwm) = hwm_bulk {
            self.raw(format!(
                "operator VmHWM right after the bulk burst: {hwm} B"
            ));
        }
        if caught_up.is_some() {
            let caught_rss = rss_note(&op);
            let series = self.latency_series(&ns, &obs, &op, &label).await;
            self.report_latency(n, &series, false);
            self.report_memory(&label, &op, "", false, &caught_rss);
            self.write_amplification(&ns, &obs, &op, "bulk-000001", n, false)
                .await;
        } else {
            self.report_memory(&label, &op, " (not caught up)", false, "");
        }
        self.report_sizes(&ns, &obs, &label).await;
        self.record_operator(&op, "the bulk phase").await;
        let (took, graceful) = op.stop(Duration::from_secs(30));
        if !graceful {
            self.note(format!(
                "bulk: the operator did not stop within {} of SIGTERM; killed",
                fmt_s(took)
            ));
        }
        Some(MediumOutcome { created })
    }
}
