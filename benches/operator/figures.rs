//! Figures measured in every phase's namespace: blocklist ConfigMap sizes,
//! ConfigMaps rewritten for one change, the operator's memory.

use std::time::{Duration, Instant};

use interdict::api::UserBan;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::bench::{Bench, Cells};
use crate::format::{MIB, fmt_bytes, fmt_ms, millis, size_label, verdict};
use crate::metered::Metered;
use crate::objects::{data_bytes, is_blocklist};
use crate::observer::Observer;

/// The size no blocklist ConfigMap may exceed (the API server refuses 1 MiB).
const SIZE_TARGET: usize = 900 * 1024;

impl Bench {
    /// Every blocklist ConfigMap of the namespace right now, and the largest seen
    /// on the watch during the phase.
    pub async fn report_sizes(&mut self, ns: &str, obs: &Observer, label: &str) {
        let cms: Api<ConfigMap> = Api::namespaced(self.client.clone(), ns);
        let listed: Vec<(String, usize)> = match cms.list(&ListParams::default()).await {
            Ok(list) => list
                .items
                .iter()
                .filter(|cm| is_blocklist(&cm.name_any()))
                .map(|cm| (cm.name_any(), data_bytes(cm)))
                .collect(),
            Err(e) => {
                self.note(format!("cannot list ConfigMaps of {ns}: {e}"));
                Vec::new()
            }
        };
        let (max_seen, max_name, parse_errors, last_error) = obs.with(|v| {
            (
                v.max_bytes,
                v.max_bytes_name.clone(),
                v.parse_errors,
                v.last_parse_error.clone(),
            )
        });
        let largest_now = listed.iter().map(|(_, b)| *b).max().unwrap_or(0);
        let total: usize = listed.iter().map(|(_, b)| *b).sum();
        self.raw(format!(
            "blocklist ConfigMaps at {label}: {} now, {} in total, largest now {}, largest seen on any event {} ({max_name})",
            listed.len(),
            fmt_bytes(total),
            fmt_bytes(largest_now),
            fmt_bytes(max_seen)
        ));
        let sizes: Vec<String> = listed.iter().map(|(n, b)| format!("{n}={b}")).collect();
        self.raw(format!(
            "blocklist ConfigMap sizes at {label} (bytes): {}",
            sizes.join(" ")
        ));
        if parse_errors > 0 {
            self.note(format!(
                "{parse_errors} blocklist document(s) did not parse at {label}; last: {}",
                last_error.unwrap_or_default()
            ));
        }
        let largest = max_seen.max(largest_now);
        let cells = if listed.is_empty() && max_seen == 0 {
            Cells::new("no blocklist".into()).target("≤ 900 KiB", "not measured".into())
        } else {
            Cells::new(format!(
                "{} ({} ConfigMap(s) now, {} in all)",
                fmt_bytes(largest),
                listed.len(),
                fmt_bytes(total)
            ))
            .target("≤ 900 KiB", verdict(largest <= SIZE_TARGET))
        };
        self.row("largest blocklist ConfigMap", label, cells);
    }

    /// Changes one ban's message and counts the ConfigMaps rewritten for it.
    pub async fn write_amplification(
        &mut self,
        ns: &str,
        obs: &Observer,
        op: &Metered,
        ban_name: &str,
        size: usize,
        with_target: bool,
    ) {
        let label = size_label(size);
        let figure = "write amplification (one message change)";
        let target = if with_target {
            "≤ 1 ConfigMap rewritten"
        } else {
            ""
        };
        op.settle(Duration::from_secs(60)).await;
        let token = format!("Changed by the bench, run {} size {label}.", self.run);
        let before = obs.with(|v| {
            v.needle = Some(token.clone());
            v.needle_seen = None;
            v.versions()
        });
        let bans: Api<UserBan> = Api::namespaced(self.client.clone(), ns);
        let t0 = Instant::now();
        let patch = Patch::Merge(json!({ "spec": { "message": token } }));
        if let Err(e) = bans.patch(ban_name, &PatchParams::default(), &patch).await {
            self.note(format!("cannot patch {ban_name}: {e}"));
            return;
        }
        let Some(seen) = obs.wait(Duration::from_secs(60), |v| v.needle_seen).await else {
            let result = if with_target { "not measured" } else { "" };
            let cells =
                Cells::new("change not published within 60 s".into()).target(target, result.into());
            self.row(figure, &label, cells);
            return;
        };
        op.settle(Duration::from_secs(60)).await;
        let after = obs.with(|v| {
            v.needle = None;
            v.versions()
        });
        let changed: Vec<(&String, usize)> = after
            .iter()
            .filter(|(name, (rv, _))| before.get(*name).is_none_or(|(old, _)| old != rv))
            .map(|(name, (_, bytes))| (name, *bytes))
            .collect();
        let removed = before.keys().filter(|n| !after.contains_key(*n)).count();
        let bytes: usize = changed.iter().map(|(_, b)| b).sum();
        let total: usize = after.values().map(|(_, b)| b).sum();
        self.raw(format!(
            "write amplification at {label}: {} of {} ConfigMap(s) rewritten ({}), {removed} deleted, {bytes} bytes written of {total}; published after {}",
            changed.len(),
            after.len(),
            changed
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            fmt_ms(millis(seen.saturating_duration_since(t0)))
        ));
        let result = if with_target {
            verdict(changed.len() <= 1) + &self.target_suffix
        } else {
            String::new()
        };
        let cells = Cells::new(format!(
            "{} of {} ConfigMap(s), {} written",
            changed.len(),
            after.len(),
            fmt_bytes(bytes)
        ))
        .target(target, result);
        self.row(figure, &label, cells);
    }

    pub fn report_memory(
        &mut self,
        label: &str,
        op: &Metered,
        what: &str,
        with_target: bool,
        extra: &str,
    ) {
        let target = if with_target {
            "steady ≤ 150 MiB"
        } else {
            ""
        };
        match op.memory() {
            Some(m) => {
                self.raw(format!(
                    "operator memory at {label}{what}: VmRSS {} B, VmHWM {} B",
                    m.rss, m.hwm
                ));
                let result = if with_target {
                    verdict(m.rss as f64 <= 150.0 * MIB) + &self.target_suffix
                } else {
                    String::new()
                };
                let cells = Cells::new(format!(
                    "{:.0} MiB / {:.0} MiB{extra}",
                    m.rss as f64 / MIB,
                    m.hwm as f64 / MIB
                ))
                .target(target, result);
                self.row(
                    "operator RSS steady / peak",
                    &format!("{label}{what}"),
                    cells,
                );
            }
            None => self.note(format!("cannot read the operator's memory at {label}")),
        }
    }
}
