//! Expiry: many bans ending in the same second; the lag between that second
//! and each entry leaving the published blocklist.

use std::time::Duration;

use chrono::{DateTime, Utc};
use interdict::api::UserBan;
use kube::Api;

use crate::bench::{Bench, Cells};
use crate::format::{fmt_ms, fmt_s, pct, samples_line, size_label, verdict};
use crate::objects::{create_all, expiring_ban};
use crate::observer::Observer;

impl Bench {
    pub async fn phase_expiry(&mut self) {
        let n = self.s.expiry;
        let ahead = self.s.expiry_ahead;
        let label = size_label(n);
        let figure = "expiry lag p50 / p99";
        eprintln!("bench: == expiry: {n} bans expiring in the same second, ~{ahead} s ahead");
        if self.left() < Duration::from_secs(ahead + 60) {
            self.note("expiry: skipped, not enough budget left".into());
            let cells =
                Cells::new("skipped (budget)".into()).target("p99 ≤ 1 s", "not measured".into());
            self.row(figure, &label, cells);
            return;
        }
        let ns = self.namespace("expiry").await;
        let obs = Observer::start(&self.client, &ns).await;
        let mut op = self.start_operator(&ns, "expiry");
        if op.wait_ready(Duration::from_secs(60)).await.is_none() {
            self.note("the operator did not become ready in the expiry namespace".into());
            return;
        }
        let until = DateTime::from_timestamp(Utc::now().timestamp() + ahead as i64 + 1, 0).unwrap();
        let seconds_to =
            |until: DateTime<Utc>| (until - Utc::now()).num_milliseconds() as f64 / 1e3;
        let bans: Api<UserBan> = Api::namespaced(self.client.clone(), &ns);
        let objects = (0..n).map(|i| expiring_ban(&format!("exp-{i:05}"), i, until));
        let created = create_all(&bans, objects, n, self.s.concurrency, "expiring bans").await;
        self.raw(format!(
            "expiry: {n} bans (expiresAt {until}) created in {}, {} failed; {:.1} s before expiry",
            fmt_s(created.elapsed),
            created.failed,
            seconds_to(until)
        ));
        let expected = n - created.failed;
        let before = Duration::from_secs_f64(seconds_to(until).max(0.0));
        let published = self.wait_published(&obs, &op, expected, before).await;
        let left = Duration::from_secs_f64((seconds_to(until) - 2.0).max(1.0));
        let caught = self.catch_up(&op, expected, left, "expiry catch-up").await;
        let margin = seconds_to(until);
        match &published {
            Ok(_) => self.raw(format!(
                "expiry: all published, statuses {}; {margin:.1} s left before expiry",
                if caught.done {
                    "written and operator idle"
                } else {
                    "NOT all written"
                }
            )),
            Err(why) => self.note(format!(
                "expiry: not all bans were published before they expire: {why}"
            )),
        }
        if published.is_err() || !caught.done || margin < 1.0 {
            self.note("expiry: the operator had not finished with the new bans before expiresAt; the lag includes that".into());
        }
        let deadline = Duration::from_secs_f64(margin.max(0.0)) + Duration::from_secs(60);
        let all_gone = obs
            .wait(deadline, |v| (v.present == 0).then_some(()))
            .await
            .is_some();
        let (mut lags, missing): (Vec<f64>, usize) = obs.with(|v| {
            let mut lags = Vec::new();
            let mut missing = 0;
            for i in 0..n {
                match v.removed_at.get(&format!("UserBan/exp-{i:05}")) {
                    Some(at) => {
                        lags.push((*at - until).num_microseconds().unwrap_or(0) as f64 / 1e3)
                    }
                    None => missing += 1,
                }
            }
            (lags, missing)
        });
        lags.sort_by(f64::total_cmp);
        self.raw(format!(
            "expiry lag samples (ms, removal seen on the watch − expiresAt), {} entries, sorted: {}",
            lags.len(),
            samples_line(&lags)
        ));
        // The operator records the Expired transitions (status, Event) after the
        // blocklist write; let it finish so its own lag histogram is complete.
        op.settle(Duration::from_secs(60)).await;
        if let Some(s) = op.scrape().await {
            let sum = s
                .value("interdict_expiry_lag_seconds_sum", &[])
                .unwrap_or(0.0);
            let count = s
                .value("interdict_expiry_lag_seconds_count", &[])
                .unwrap_or(0.0);
            if count > 0.0 {
                self.raw(format!(
                    "expiry: the operator's own interdict_expiry_lag_seconds (status transitions, after the blocklist write): {count:.0} transitions, mean {:.3} s",
                    sum / count
                ));
            }
        }
        if !all_gone || missing > 0 {
            self.note(format!(
                "expiry: {missing} of {n} entries still published 60 s after expiresAt"
            ));
        }
        let cells = if lags.is_empty() {
            Cells::new("no entry left the blocklist".into()).target("p99 ≤ 1 s", "FAIL".into())
        } else {
            let (p50, p99, max) = (pct(&lags, 0.5), pct(&lags, 0.99), pct(&lags, 1.0));
            let mut measured = format!("{} / {} (max {})", fmt_ms(p50), fmt_ms(p99), fmt_ms(max));
            if missing > 0 {
                measured.push_str(&format!(", {missing} never left"));
            }
            Cells::new(measured)
                .floor("—".into(), String::new())
                .target("p99 ≤ 1 s", verdict(p99 <= 1000.0 && missing == 0))
        };
        self.row(figure, &label, cells);
        self.report_sizes(&ns, &obs, &format!("{label} (expiry)"))
            .await;
        self.record_operator(&op, "the expiry phase").await;
        op.stop(Duration::from_secs(30));
    }
}
