//! `interdict audit verify` on files the operator's audit sink wrote (through
//! the library, no control plane): an intact chain passes with its last hash,
//! and an edited, removed or cut-short line fails naming the line.

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, Utc};
use interdict::audit::Rotation;
use interdict::controller::{AUDIT_FORMAT, AuditRecord, AuditSink};
use serde_json::Value;

fn record(i: usize) -> AuditRecord {
    let time: DateTime<Utc> = format!("2026-11-21T10:00:{i:02}Z").parse().unwrap();
    AuditRecord {
        audit: AUDIT_FORMAT,
        time,
        action: "Applied",
        kind: "UserBan".into(),
        namespace: "apps".into(),
        name: format!("ban-{i}"),
        uid: format!("uid-{i}"),
        generation: Some(1),
        transition: Some(format!("transition-{i}")),
        subject: Some(format!("userId:{i}")),
        phase: Some("Active"),
        from: Some(time),
        until: None,
        reason: Some("spam".into()),
        actor: None,
        message: format!("Suspend of userId:{i} applied"),
    }
}

/// Records `first..first + count` written by the sink to `dir/audit.jsonl`.
fn write_from(dir: &Path, first: usize, count: usize, rotation: Rotation) -> PathBuf {
    let path = dir.join("audit.jsonl");
    let sink = AuditSink::open(Some(&path), rotation).unwrap();
    for i in first..first + count {
        assert!(sink.record(&record(i)));
    }
    path
}

fn write(dir: &Path, count: usize, rotation: Rotation) -> PathBuf {
    write_from(dir, 0, count, rotation)
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn verify(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_interdict"))
        .args(["audit", "verify"])
        .args(args)
        .output()
        .expect("run interdict");
    Run {
        code: output.status.code().expect("an exit code"),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn rewrite(path: &Path, lines: &[String]) {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(path, text).unwrap();
}

fn hash_of(line: &str) -> String {
    let value: Value = serde_json::from_str(line).unwrap();
    value["hash"].as_str().unwrap().to_string()
}

#[test]
fn an_intact_file_passes_with_its_ends_and_last_hash() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), 5, Rotation::default());
    let last = hash_of(lines(&path).last().unwrap());
    let run = verify(&[&path]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        run.stdout.trim(),
        format!(
            "ok: 5 lines, 1 file, 2026-11-21T10:00:00Z to 2026-11-21T10:00:04Z, \
             from genesis, last hash {last}"
        )
    );
}

#[test]
fn an_edited_line_fails_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), 5, Rotation::default());
    let mut text = lines(&path);
    text[2] = text[2].replace("\"reason\":\"spam\"", "\"reason\":\"abuse\"");
    rewrite(&path, &text);
    let run = verify(&[&path]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        run.stdout.trim(),
        format!("{}:3: hash does not match (line edited?)", path.display())
    );
}

#[test]
fn a_removed_line_fails_naming_the_next_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), 5, Rotation::default());
    let mut text = lines(&path);
    text.remove(2);
    rewrite(&path, &text);
    let run = verify(&[&path]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        run.stdout.trim(),
        format!(
            "{}:3: prev does not match the previous line (a line removed or reordered?)",
            path.display()
        )
    );
    let run = verify(&[&"-o", &"json", &path]);
    assert_eq!(run.code, 1);
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["error"]["line"], 3);
    assert_eq!(report["error"]["problem"], "PrevMismatch");
    assert_eq!(report["error"]["severity"], "error");
}

#[test]
fn rotated_files_verify_as_one_chain_in_any_order_given() {
    let dir = tempfile::tempdir().unwrap();
    let one_line = {
        let probe = tempfile::tempdir().unwrap();
        let path = write(probe.path(), 1, Rotation::default());
        std::fs::metadata(path).unwrap().len()
    };
    // Two lines per file: 7 lines make audit.jsonl.3 .2 .1 and audit.jsonl.
    let rotation = Rotation {
        max_bytes: 2 * one_line + 10,
        keep: 5,
    };
    let path = write(dir.path(), 7, rotation);
    let rotated = |n: u32| PathBuf::from(format!("{}.{n}", path.display()));
    assert!(rotated(3).exists() && !rotated(4).exists());
    let last = hash_of(lines(&path).last().unwrap());

    // As a shell glob lists them.
    let run = verify(&[&path, &rotated(1), &rotated(2), &rotated(3)]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.starts_with("ok: 7 lines, 4 files, ") && run.stdout.contains(&last),
        "{}",
        run.stdout
    );
    // The directory stands for the set.
    let run = verify(&[&dir.path(), &"-o", &"json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["lines"], 7);
    assert_eq!(report["lastHash"], last.as_str());
    assert_eq!(
        report["paths"],
        serde_json::json!([rotated(3), rotated(2), rotated(1), path])
    );
    // Without the oldest file the chain no longer starts from genesis.
    let run = verify(&[&rotated(2), &rotated(1), &path]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains(", first prev "), "{}", run.stdout);
}

#[test]
fn a_damaged_end_is_reported_as_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), 3, Rotation::default());
    // A crash in the middle of a write.
    let mut text = std::fs::read(&path).unwrap();
    text.extend_from_slice(b"{\"audit\":\"interdict.dev/audit/v1\",\"ti");
    std::fs::write(&path, text).unwrap();
    // The next start finds it and begins a new chain in a new file.
    write_from(dir.path(), 3, 1, Rotation::default());
    let previous = PathBuf::from(format!("{}.1", path.display()));

    let run = verify(&[&previous, &path]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .trim()
            .starts_with(&format!("{}:4: incomplete line", previous.display())),
        "{}",
        run.stdout
    );
    let run = verify(&[&"--allow-restarts", &previous, &path]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let out: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(out.len(), 3, "{}", run.stdout);
    assert!(out[0].starts_with(&format!(
        "warning: {}:4: incomplete line",
        previous.display()
    )));
    assert!(out[1].starts_with(&format!(
        "warning: {}:1: the chain restarts here: the last line of audit.jsonl \
         (now audit.jsonl.1): incomplete line",
        path.display()
    )));
    assert!(out[2].starts_with("ok: 6 lines, 2 files, "), "{}", out[2]);
    assert!(out[2].contains("1 restart"), "{}", out[2]);
}

#[test]
fn unusable_arguments_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.jsonl");
    let run = verify(&[&missing]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("cannot read") && run.stderr.contains("missing.jsonl"),
        "{}",
        run.stderr
    );
    assert_eq!(verify(&[]).code, 2, "no file");
    let path = write(dir.path(), 1, Rotation::default());
    let run = verify(&[&path, &path]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("given twice"), "{}", run.stderr);
    std::fs::write(dir.path().join("other.log"), "").unwrap();
    let run = verify(&[&dir.path()]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("more than one"), "{}", run.stderr);
}

#[test]
fn help_says_what_verify_can_and_cannot_show() {
    let output = Command::new(env!("CARGO_BIN_EXE_interdict"))
        .args(["audit", "verify", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    for needle in [
        "--allow-restarts",
        "Exit status",
        "removed from the end",
        "last hash",
    ] {
        assert!(help.contains(needle), "{needle}: {help}");
    }
}
