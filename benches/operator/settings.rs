//! The bench's sizes, limits and operator flags, from the `INTERDICT_BENCH_*`
//! variables (listed at the top of `main.rs`) over a `quick` or `full` preset.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::common::operator::binary;

#[derive(Clone, Debug)]
pub struct Settings {
    pub scale: String,
    pub large: usize,
    pub medium: usize,
    pub expiry: usize,
    pub expiry_ahead: u64,
    pub samples: usize,
    pub concurrency: usize,
    pub budget: Duration,
    pub adapt: bool,
    pub write_docs: bool,
    pub operator_args: Vec<String>,
    pub operator_args_note: String,
    pub cluster_dir: PathBuf,
    /// The phases to run; `None`: all of them.
    pub phases: Option<Vec<String>>,
}

fn env_num(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(text) => text
            .trim()
            .replace('_', "")
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text:?} is not a whole number")),
        Err(_) => default,
    }
}

impl Settings {
    pub fn from_env(root: &Path) -> Settings {
        let scale = std::env::var("INTERDICT_BENCH_SCALE").unwrap_or_else(|_| "full".into());
        // large, medium, expiry, ahead, samples, budget, docs
        let preset = match scale.as_str() {
            "full" => (100_000, 10_000, 1_000, 60, 30, 1440, true),
            "quick" => (1_000, 300, 100, 15, 10, 150, false),
            other => panic!("INTERDICT_BENCH_SCALE={other:?}: use quick or full"),
        };
        let (operator_args, operator_args_note) =
            match std::env::var("INTERDICT_BENCH_OPERATOR_ARGS") {
                Ok(text) => (
                    text.split_whitespace().map(String::from).collect(),
                    "from INTERDICT_BENCH_OPERATOR_ARGS".to_string(),
                ),
                Err(_) => default_operator_args(),
            };
        let phases = std::env::var("INTERDICT_BENCH_PHASES").ok().map(|text| {
            text.split(',')
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect()
        });
        Settings {
            phases: phases.clone(),
            scale,
            large: env_num("INTERDICT_BENCH_LARGE", preset.0) as usize,
            medium: env_num("INTERDICT_BENCH_MEDIUM", preset.1) as usize,
            expiry: env_num("INTERDICT_BENCH_EXPIRY", preset.2) as usize,
            expiry_ahead: env_num("INTERDICT_BENCH_EXPIRY_AHEAD_SECS", preset.3),
            samples: (env_num("INTERDICT_BENCH_SAMPLES", preset.4) as usize).max(1),
            concurrency: (env_num("INTERDICT_BENCH_CONCURRENCY", 16) as usize).max(1),
            budget: Duration::from_secs(env_num("INTERDICT_BENCH_BUDGET_SECS", preset.5)),
            adapt: env_num("INTERDICT_BENCH_ADAPT", 1) != 0,
            // A partial run would replace the docs' figures with some of them.
            write_docs: env_num("INTERDICT_BENCH_DOCS", u64::from(preset.6)) != 0
                && phases.is_none(),
            operator_args,
            operator_args_note,
            cluster_dir: std::env::var_os("INTERDICT_BENCH_CLUSTER_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| root.join("target/bench-cluster")),
        }
    }
}

impl Settings {
    pub fn runs(&self, phase: &str) -> bool {
        self.phases
            .as_ref()
            .is_none_or(|phases| phases.iter().any(|p| p == phase))
    }
}

/// A sharding-capable operator is told it may use enough shards for the large
/// size; an older one gets no extra flags.
fn default_operator_args() -> (Vec<String>, String) {
    let help = Command::new(binary())
        .args(["run", "--help"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if help.contains("--max-shards") {
        (
            vec!["--max-shards".into(), "64".into()],
            "the binary has --max-shards; 64 lets 100k bans fit".into(),
        )
    } else {
        (Vec::new(), "none (the binary has no --max-shards)".into())
    }
}
