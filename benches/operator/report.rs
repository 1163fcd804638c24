//! The results: a table on stdout, and the `## Operator at scale` section of
//! docs/performance.md (replaced in place, analysis subsections kept).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use chrono::Utc;

use crate::bench::Bench;
use crate::format::{fmt_s, size_label};
use crate::machine::load_average;

impl Bench {
    pub fn table(&self) -> String {
        let headers = [
            "figure",
            "size",
            "measured",
            "floor (same run)",
            "ratio",
            "target",
            "result",
        ];
        let cells: Vec<[&str; 7]> = self
            .rows
            .iter()
            .map(|r| {
                [
                    r.figure.as_str(),
                    &r.size,
                    &r.measured,
                    &r.floor,
                    &r.ratio,
                    &r.target,
                    &r.result,
                ]
            })
            .collect();
        let mut widths = headers.map(|h| h.chars().count());
        for row in &cells {
            for (i, c) in row.iter().enumerate() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
        let line = |cols: [&str; 7]| {
            cols.iter()
                .enumerate()
                .map(|(i, c)| format!("{c}{}", " ".repeat(widths[i] - c.chars().count())))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_string()
        };
        let mut out = line(headers) + "\n";
        for row in cells {
            out += &line(row);
            out.push('\n');
        }
        out
    }

    pub fn markdown(&self, elapsed: Duration) -> String {
        let s = &self.s;
        let large = match self.large_used {
            Some(n) if n == s.large => size_label(n),
            Some(n) => format!(
                "{} (reduced from {} to fit the time budget)",
                size_label(n),
                size_label(s.large)
            ),
            None => format!("{} (not measured)", size_label(s.large)),
        };
        let flags = if s.operator_args.is_empty() {
            String::new()
        } else {
            format!(" {}", s.operator_args.join(" "))
        };
        let mut md = String::new();
        let _ = writeln!(md, "## Operator at scale\n");
        let _ = writeln!(
            md,
            "From `cargo bench --bench operator` (the last step of `make bench`), {}, scale `{}`: \
             sizes 0 / {} / {large} bans, {} latency samples per size, {} creates in flight; \
             the whole run took {}. Figures, not assertions: re-run `make bench` on your machine \
             (`INTERDICT_BENCH_SCALE=quick make bench` for a two-minute smoke run; sizes and budget \
             are set by the `INTERDICT_BENCH_*` variables listed at the top of `benches/operator/main.rs`).\n",
            Utc::now().format("%Y-%m-%d %H:%M UTC"),
            s.scale,
            size_label(s.medium),
            s.samples,
            s.concurrency,
            fmt_s(elapsed)
        );
        let _ = writeln!(
            md,
            "- Machine: {}; load average {} at the start, {} at the end (other work shared the machine).",
            self.machine,
            self.load_start,
            load_average()
        );
        let _ = writeln!(md, "- Versions: {}.", self.versions.join(", "));
        let _ = writeln!(
            md,
            "- Operator: `interdict run --namespace <ns> --metrics-addr 127.0.0.1:<port>{flags}` ({}); \
             every other flag at its default (notably `--debounce-ms 50`).\n",
            s.operator_args_note
        );
        let _ = writeln!(md, "### Method\n");
        for line in METHOD {
            let _ = writeln!(md, "- {line}");
        }
        let _ = writeln!(md, "\n### Results\n");
        let _ = writeln!(
            md,
            "| figure | size | measured | floor (same run) | ratio | target | result |"
        );
        let _ = writeln!(md, "| --- | --- | --- | --- | --- | --- | --- |");
        for r in &self.rows {
            let result = if r.result == "FAIL" {
                "**FAIL**".to_string()
            } else {
                r.result.clone()
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} |",
                r.figure, r.size, r.measured, r.floor, r.ratio, r.target, result
            );
        }
        if !self.notes.is_empty() {
            let _ = writeln!(md, "\nWhat was not measured as planned, and why:\n");
            for n in &self.notes {
                let _ = writeln!(md, "- {n}");
            }
        }
        let _ = writeln!(md, "\n### Raw numbers\n\n```text");
        for line in &self.raw {
            let _ = writeln!(md, "{line}");
        }
        let _ = writeln!(md, "```");
        md
    }

    pub fn write_docs(&self, section: &str) -> std::io::Result<PathBuf> {
        let path = self.root.join("docs/performance.md");
        let text = std::fs::read_to_string(&path)?;
        std::fs::write(
            &path,
            replace_section(&text, "## Operator at scale", section),
        )?;
        Ok(path)
    }
}

const METHOD: &[&str] = &[
    "Control plane: etcd (`--unsafe-no-fsync`) and kube-apiserver from `hack/dev-cluster.sh` on loopback (no kubelet, no controller-manager), CRDs from `crds/`. The API server, etcd, the operator and the bench client share the same cores. Before any sample, one UserBan and one ConfigMap are created in a namespace of their own (the API server's first object of a kind pays one-off costs).",
    "Operator: the release binary as a process (`interdict run`), one process per phase watching only that phase's namespace; `/metrics` and `/readyz` read over HTTP.",
    "Objects are created with the kube client (`Api::create`), 16 requests in flight. Bans are UserBans with a mix of subjects (60 % user ids, 10 % each usernames, emails, IPv4 /24 ranges, key fingerprints), a quarter with `duration: 30d`, all with a message.",
    "Observation: one watch on the namespace's ConfigMaps. Every ConfigMap named `interdict-blocklist` or `interdict-blocklist-*` is read, every `blocklist*.json` key parsed with `BlocklistDocument::parse`. A ban counts as published at the receipt of the first watch event in which its id `UserBan/<name>` is among the entries; parsing time is not counted.",
    "Single-ban latency: create one ban → published. Floor: create a bare ConfigMap in the same namespace → seen on the same watch. Floor and ban samples alternate (and which goes first alternates); after each ban the bench waits until the operator is idle (no pass, status write or transition for twice the recent pass duration, at least 300 ms, read from `/metrics`), so every sample is one isolated change (a change after a quiet spell is not held back by the debounce). p99 is nearest-rank: with 30 samples it is the maximum.",
    "Bulk: N bans created into an empty namespace whose operator is running and idle; time from the first create to the first watch event in which all N are published. Floors, in another namespace at the same concurrency: N small ConfigMaps (200-byte value), once before and once after (when the operator had caught up), and then the N bans themselves with no operator watching. The target's ratio is against the bans (the issue allows either floor: a UserBan create costs the API server more than a ConfigMap, so the bans are the physical bound); the ratio against the ConfigMaps' mean is printed beside it.",
    "Expiry lag: Suspend bans with the same `expiresAt`, a whole second ahead, created, published and their statuses written before that second. Lag = receipt of the watch event in which the entry is gone from the entries − `expiresAt`, per entry.",
    "Memory: `VmRSS` (steady: caught up and idle) and `VmHWM` (peak since the process started) from `/proc/<pid>/status`.",
    "Write amplification: with the operator idle, one ban's `spec.message` is patched; counted are the ConfigMaps whose `resourceVersion` changed between before the patch and when the operator is idle again, and the sum of their data sizes.",
    "Start-up and the large size: the large namespace is filled with the operator stopped, then the operator starts (no blocklist, no statuses): time to `/readyz` 200 and to every ban published, beside the floor: the bench client listing every ban in pages of 500 (what a watch's first list does) just before the operator starts; then the status-write rate of that first pass is read from `/metrics` (20 s, after a 25 s burst). When the rest of the catch-up fits the time budget, every figure is measured at the large size; otherwise the figures that need a caught-up operator come from a second namespace as large as the measured rate allows (the notes say so). Restart: SIGTERM (killed after 15 s when a pass is still running), the blocklist ConfigMaps deleted while it is down, start again: `/readyz`, every ban published again.",
    "CPU: user + system seconds of kube-apiserver, etcd and the operator over each catch-up, from `/proc/<pid>/stat`.",
    "Settling costs: with no operator running, each write the operator makes per ban (the finalizer by server-side apply, the status by server-side apply and, for comparison, by merge patch, one Event) is made to every ban of a set of N (the expiry size), 16 in flight; kube-apiserver + etcd CPU seconds over the run divided by N.",
    "Automatic bans: a BanPolicy (threshold 5 in 10m), the operator with `--intake-addr`, a ServiceAccount token allowed to report. Throughput: 200k offenses of distinct subjects (no crossing) in batches of 1,000, 4 in flight, to the operator and through `interdict serve --operator-url`. Round trip: one offense per request, sequentially. Threshold → published: 4 offenses, then the 5th; from sending it to the first watch event with the created ban in the blocklist, beside a bare ConfigMap's create → seen (the floor), alternating.",
    "Propagation: 1,000 bans in place, a Pod object mounting every shard (projected volume), the operator with `--nudge-pods`. A watch writes every blocklist ConfigMap change into a directory as kubelet lays out a projected volume (new timestamped directory, `..data` renamed); the Rust reader watches it every 1,000 ms (the sidecar's default). Per sample, a ban is created at a point spread over the poll interval; measured: until the reader denies its subject, and until the Pod's nudge annotation changes. Kubelet's own delay is not part of either (no kubelet here).",
    "ConfigMap size: key + value bytes of the data (what the API server's 1 MiB limit counts); the largest blocklist ConfigMap seen on any watch event of the phase, and every blocklist ConfigMap listed at its end.",
];

/// Replaces the `heading` section (up to the next `## ` heading) or appends it.
/// Subsections of the old section that the bench does not write (someone's
/// analysis of the figures) are kept, just before `### Raw numbers`.
fn replace_section(text: &str, heading: &str, section: &str) -> String {
    const GENERATED: [&str; 3] = ["### Method", "### Results", "### Raw numbers"];
    let lines: Vec<&str> = text.lines().collect();
    let Some(start) = lines.iter().position(|l| l.trim_end() == heading) else {
        return format!("{}\n\n{}\n", text.trim_end(), section.trim_end());
    };
    let end = lines[start + 1..]
        .iter()
        .position(|l| l.starts_with("## "))
        .map_or(lines.len(), |i| start + 1 + i);
    let mut kept: Vec<&str> = Vec::new();
    let mut keeping = false;
    let mut fenced = false;
    for line in &lines[start + 1..end] {
        if line.starts_with("```") {
            fenced = !fenced;
        }
        if !fenced && line.starts_with("### ") {
            keeping = !GENERATED.contains(&line.trim_end());
        }
        if keeping {
            kept.push(line);
        }
    }
    let mut new_section = section.trim_end().to_string();
    if !kept.is_empty() {
        let block = format!("{}\n\n", kept.join("\n").trim_end());
        match new_section.find("\n### Raw numbers") {
            Some(at) => new_section.insert_str(at + 1, &block),
            None => new_section = format!("{new_section}\n\n{}", block.trim_end()),
        }
    }
    let mut out: Vec<String> = lines[..start].iter().map(|l| l.to_string()).collect();
    out.push(new_section);
    if end < lines.len() {
        out.push(String::new());
        out.extend(lines[end..].iter().map(|l| l.to_string()));
    }
    out.join("\n") + "\n"
}
