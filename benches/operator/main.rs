//! `make bench`, operator part: the operator end to end on a local control plane
//! (etcd + kube-apiserver started by `hack/dev-cluster.sh`), run as a process
//! exactly as `interdict run`, objects created with the kube client. Every
//! figure is measured next to its floor (what the API server alone does) in
//! the same run. Prints a table and writes the `## Operator at scale` section of
//! docs/performance.md. Figures, never assertions: a missed target prints FAIL
//! and the bench still exits 0.
//!
//! Sizes and limits come from the environment:
//!
//! | variable | full | quick | what |
//! | --- | --- | --- | --- |
//! | `INTERDICT_BENCH_SCALE` | `full` (default) | `quick` | preset for everything below |
//! | `INTERDICT_BENCH_LARGE` | 100000 | 1000 | bans in the large namespace |
//! | `INTERDICT_BENCH_MEDIUM` | 10000 | 300 | bulk burst, then the medium size |
//! | `INTERDICT_BENCH_EXPIRY` | 1000 | 100 | bans expiring in the same second |
//! | `INTERDICT_BENCH_EXPIRY_AHEAD_SECS` | 60 | 15 | how far ahead that second is |
//! | `INTERDICT_BENCH_SAMPLES` | 30 | 10 | single-ban latency samples per size |
//! | `INTERDICT_BENCH_CONCURRENCY` | 16 | 16 | creates in flight |
//! | `INTERDICT_BENCH_BUDGET_SECS` | 1440 | 150 | wall-clock budget of this bench |
//! | `INTERDICT_BENCH_ADAPT` | 1 | 1 | 0: never fall back to a smaller caught-up size |
//! | `INTERDICT_BENCH_DOCS` | 1 | 0 | write docs/performance.md |
//! | `INTERDICT_BENCH_OPERATOR_ARGS` | auto | auto | extra `interdict run` flags |
//! | `INTERDICT_BENCH_CLUSTER_DIR` | `target/bench-cluster` | | where the control plane lives |
//! | `INTERDICT_BENCH_PHASES` | all | all | comma-separated subset of empty, medium, import, expiry, settling, policies, propagation, large (docs are written only when all run) |

// The support module of the integration tests: one way to start a control
// plane, run kubectl and the operator, for tests and bench alike.
#[path = "../../tests/common/mod.rs"]
mod common;

#[path = "../support/bans.rs"]
mod bans;
mod bench;
mod bulk;
mod expiry;
mod figures;
mod format;
mod import;
mod large;
mod latency;
mod machine;
mod metered;
mod objects;
mod observer;
mod policies;
mod propagation;
mod report;
mod settings;
mod settling;

use std::path::PathBuf;
use std::time::Instant;

use chrono::Utc;

use bench::Bench;
use common::cluster::control_plane_bin;
use common::operator::binary;
use common::{TestCluster, repo_root};
use format::fmt_s;
use machine::{load_average, machine, versions};
use settings::Settings;

fn main() {
    let root = repo_root();
    let settings = Settings::from_env(&root);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(run(root, settings));
}

async fn run(root: PathBuf, s: Settings) {
    let started = Instant::now();
    let load_start = load_average();
    eprintln!(
        "bench: operator at scale, scale {} (medium {}, large {}, expiry {}, {} samples), budget {}",
        s.scale,
        s.medium,
        s.large,
        s.expiry,
        s.samples,
        fmt_s(s.budget)
    );
    eprintln!(
        "bench: operator binary {} {}",
        binary().display(),
        s.operator_args.join(" ")
    );
    let cluster = TestCluster::start(&s.cluster_dir);
    cluster.install_crds("interdict-bench");
    let client = cluster.client().await;
    let logs = root.join("target/bench-operator").join(&s.scale);
    let _ = std::fs::remove_dir_all(&logs);
    std::fs::create_dir_all(&logs).unwrap();
    let mut versions = versions(&root, control_plane_bin());
    if let Ok(info) = client.apiserver_version().await {
        versions.insert(2, format!("kube-apiserver {}", info.git_version));
    }

    let budget = s.budget;
    let cluster_pids = ["kube-apiserver", "etcd"]
        .into_iter()
        .filter_map(|name| Some((name, cluster.pid(name)?)))
        .collect();
    let mut bench = Bench {
        run: format!("{:x}", Utc::now().timestamp_millis() % 0xfffff),
        s,
        root,
        cluster,
        client,
        started,
        deadline: started + budget,
        logs,
        rows: Vec::new(),
        raw: Vec::new(),
        notes: Vec::new(),
        versions,
        machine: machine(),
        load_start,
        operators_started: 0,
        large_used: None,
        cluster_pids,
        target_suffix: String::new(),
        first_start: None,
    };
    bench.warm_up().await;
    if bench.s.runs("empty") {
        bench.phase_empty().await;
    }
    let medium = if bench.s.runs("medium") {
        bench.phase_medium().await
    } else {
        None
    };
    if bench.s.runs("import") {
        bench.phase_import().await;
    }
    if bench.s.runs("expiry") {
        bench.phase_expiry().await;
    }
    if bench.s.runs("settling") {
        bench.phase_settling().await;
    }
    if bench.s.runs("policies") {
        bench.phase_policies().await;
    }
    if bench.s.runs("propagation") {
        bench.phase_propagation().await;
    }
    if bench.s.runs("large") {
        bench.phase_large(medium.as_ref()).await;
    }

    let elapsed = bench.started.elapsed();
    println!(
        "\nOperator at scale (scale {}, {} in total)\n",
        bench.s.scale,
        fmt_s(elapsed)
    );
    print!("{}", bench.table());
    if !bench.notes.is_empty() {
        println!("\nNotes:");
        for n in &bench.notes {
            println!("- {n}");
        }
    }
    let section = bench.markdown(elapsed);
    let copy = bench.logs.join("operator-at-scale.md");
    std::fs::write(&copy, &section).unwrap();
    println!(
        "\nMarkdown section: {} (operator logs in {})",
        copy.display(),
        bench.logs.display()
    );
    if bench.s.write_docs {
        match bench.write_docs(&section) {
            Ok(path) => println!(
                "Updated {} (section \"## Operator at scale\")",
                path.display()
            ),
            Err(e) => println!("could not update docs/performance.md: {e}"),
        }
    } else {
        println!("docs/performance.md left alone (quick scale, or INTERDICT_BENCH_DOCS=0)");
    }
}
