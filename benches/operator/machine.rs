//! What the figures ran on: the machine, its load, and the versions of
//! everything measured.

use std::path::Path;
use std::process::Command;

pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            let line = m.lines().find(|l| l.starts_with("MemTotal:"))?;
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map(|kb| format!("{:.0} GiB", kb / 1024.0 / 1024.0))
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cores} vCPU {model}, {memory}, Linux {}", kernel.trim())
}

pub fn first_line(program: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    text.lines().next().map(|l| l.trim().to_string())
}

pub fn versions(root: &Path, bin: &Path) -> Vec<String> {
    let root = root.to_str().unwrap();
    let commit = first_line(
        Path::new("git"),
        &["-C", root, "rev-parse", "--short", "HEAD"],
    )
    .map_or("no git".into(), |c| format!("git {c}"));
    let dirty: Vec<String> = Command::new("git")
        .args(["-C", root, "status", "--porcelain", "src", "Cargo.toml"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(|l| l.get(3..).unwrap_or(l).to_string())
                .collect()
        })
        .unwrap_or_default();
    let mut versions = vec![format!(
        "interdict {} ({commit}{})",
        env!("CARGO_PKG_VERSION"),
        if dirty.is_empty() {
            String::new()
        } else {
            format!(", built with uncommitted changes in {}", dirty.join(", "))
        }
    )];
    versions.extend(first_line(Path::new("rustc"), &["--version"]));
    if let Some(etcd) = first_line(&bin.join("etcd"), &["--version"]) {
        versions.push(etcd.replace("etcd Version:", "etcd").trim().to_string());
    }
    versions.push("kube client 5.0.0".into());
    versions
}
