//! Each run's figures as one JSON file under `target/faults-report/`, which
//! `hack/reliability-report.py` (run by `make chaos`) turns into the figures
//! of docs/reliability.md.

use std::time::Duration;

use serde_json::json;

use super::workload::Fault;

pub struct Run {
    pub seed: u64,
    pub faults: Vec<Fault>,
    pub steps: usize,
    pub applied: usize,
    pub injected: Vec<Fault>,
    pub convergence: Vec<(Fault, Duration)>,
    pub workload_seconds: f64,
    pub settled_seconds: f64,
    pub peak_rss_bytes: u64,
    /// Audit lines the operators logged as refused by a full disk.
    pub refused_appends: usize,
    pub violations: Vec<String>,
    /// The failpoints switched on (the checker's own test), if any.
    pub broken: Vec<String>,
}

pub fn write(run: &Run) {
    let dir = crate::common::repo_root().join("target/faults-report");
    let _ = std::fs::create_dir_all(&dir);
    let kinds: Vec<String> = run.faults.iter().map(|f| format!("{f:?}")).collect();
    let tag = if run.broken.is_empty() {
        kinds.join("+")
    } else {
        format!("broken-{}", run.broken.join("+"))
    };
    let body = json!({
        "seed": run.seed,
        "faults": kinds,
        "steps": run.steps,
        "applied": run.applied,
        "injected": run.injected.iter().map(|f| format!("{f:?}")).collect::<Vec<_>>(),
        "convergence": run.convergence.iter()
            .map(|(f, d)| json!({"fault": format!("{f:?}"), "seconds": d.as_secs_f64()}))
            .collect::<Vec<_>>(),
        "workloadSeconds": run.workload_seconds,
        "settledSeconds": run.settled_seconds,
        "peakRssBytes": run.peak_rss_bytes,
        "refusedAppends": run.refused_appends,
        "violations": run.violations,
        "broken": run.broken,
    });
    let path = dir.join(format!(
        "{}-seed{}.json",
        if tag.is_empty() { "none" } else { &tag },
        run.seed
    ));
    let _ = std::fs::write(path, serde_json::to_string_pretty(&body).unwrap());
}
