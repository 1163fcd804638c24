use std::io::Write;

use super::*;
use crate::audit::verify::{Report, verify_all};

fn record(i: usize) -> String {
    format!(
        r#"{{"audit":"interdict.dev/audit/v1","time":"2026-11-21T10:00:00Z","action":"Applied","transition":"t{i}","message":"line {i}"}}"#
    )
}

fn now() -> DateTime<Utc> {
    "2026-11-21T12:00:00Z".parse().unwrap()
}

fn append(file: &mut AuditFile, i: usize) -> Vec<String> {
    let mut written = Vec::new();
    file.append(&record(i), now(), &mut written).unwrap();
    written
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Verifies `paths` (oldest first) as `interdict audit verify` would.
fn verify(paths: &[PathBuf], allow_restarts: bool) -> Report {
    let texts: Vec<(String, String)> = paths.iter().map(|p| (file_name(p), read(p))).collect();
    verify_all(
        texts.iter().map(|(n, t)| (n.as_str(), t.as_bytes())),
        allow_restarts,
    )
}

fn first_line(path: &Path) -> serde_json::Value {
    serde_json::from_str(read(path).lines().next().expect("a first line")).unwrap()
}

#[test]
fn the_chain_continues_across_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let mut opened = AuditFile::open(&path, Rotation::default(), now()).unwrap();
    assert!(opened.written.is_empty());
    assert_eq!(opened.file.head(), GENESIS);
    append(&mut opened.file, 1);
    append(&mut opened.file, 2);
    let head = opened.file.head().to_string();
    drop(opened);

    let mut again = AuditFile::open(&path, Rotation::default(), now()).unwrap();
    assert!(
        again.written.is_empty(),
        "an intact end is continued quietly"
    );
    assert_eq!(again.file.head(), head);
    assert_eq!(again.transitions, ["t1", "t2"]);
    let written = append(&mut again.file, 3);
    let third: serde_json::Value = serde_json::from_str(&written[0]).unwrap();
    assert_eq!(third["prev"], head.as_str());

    let report = verify(std::slice::from_ref(&path), false);
    assert!(report.ok, "{report:?}");
    assert_eq!(report.lines, 3);
    assert!(report.from_genesis);
    assert_eq!(report.last_hash.as_deref(), Some(again.file.head()));
    assert_eq!(read(&path).lines().last(), Some(written[0].as_str()));
}

#[test]
fn rotation_keeps_the_chain_across_files_and_only_keep_of_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let line_length = chain::seal(GENESIS, &record(0)).line.len() as u64 + 1;
    // Three lines fit, the fourth rotates.
    let rotation = Rotation {
        max_bytes: 3 * line_length + 2,
        keep: 2,
    };
    let mut opened = AuditFile::open(&path, rotation, now()).unwrap();
    for i in 0..10 {
        append(&mut opened.file, i);
    }
    let files = [rotated(&path, 2), rotated(&path, 1), path.clone()];
    let counts: Vec<usize> = files.iter().map(|p| read(p).lines().count()).collect();
    assert_eq!(counts, [3, 3, 1], "lines 0-2 and 3-5 rotated out of keep");
    assert!(!rotated(&path, 3).exists());
    for file in &files {
        assert!(std::fs::metadata(file).unwrap().len() <= rotation.max_bytes);
    }

    let report = verify(&files, false);
    assert!(report.ok, "{report:?}");
    assert_eq!((report.lines, report.files), (7, 3));
    assert!(
        !report.from_genesis,
        "the oldest kept file continues a deleted one"
    );
    let last_of_previous = chain::last_link(read(&files[1]).as_bytes())
        .unwrap()
        .unwrap();
    assert_eq!(first_line(&path)["prev"], last_of_previous.hash.as_str());
    assert!(
        !verify(&[files[1].clone(), files[0].clone(), path.clone()], false).ok,
        "out of order breaks the chain"
    );
}

#[test]
fn an_empty_file_after_a_rotation_continues_the_rotated_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let mut opened = AuditFile::open(&path, Rotation::default(), now()).unwrap();
    append(&mut opened.file, 1);
    let head = opened.file.head().to_string();
    drop(opened);
    // As if the process stopped right after a rotation.
    std::fs::rename(&path, rotated(&path, 1)).unwrap();

    let mut again = AuditFile::open(&path, Rotation::default(), now()).unwrap();
    assert!(again.written.is_empty());
    assert_eq!(again.file.head(), head);
    assert_eq!(
        again.transitions,
        ["t1"],
        "ids of the rotated file count too"
    );
    append(&mut again.file, 2);
    assert!(verify(&[rotated(&path, 1), path.clone()], false).ok);
}

/// Opens a chained file of two lines, damages its end with `damage`, and
/// opens it again: the damaged file must be kept byte for byte as `FILE.1`
/// and the new `FILE` must start with a restart line naming `reason`.
fn restart_after(damage: impl FnOnce(&Path), reason: &str) -> (PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let mut opened = AuditFile::open(&path, Rotation::default(), now()).unwrap();
    append(&mut opened.file, 1);
    append(&mut opened.file, 2);
    drop(opened);
    damage(&path);
    let damaged = std::fs::read(&path).unwrap();

    let mut again = AuditFile::open(&path, Rotation::default(), now()).unwrap();
    assert_eq!(std::fs::read(rotated(&path, 1)).unwrap(), damaged);
    assert_eq!(again.written.len(), 1, "the restart line");
    let restart = first_line(&path);
    assert_eq!(read(&path).lines().next(), Some(again.written[0].as_str()));
    assert_eq!(restart["action"], "ChainRestarted");
    assert_eq!(restart["kind"], "AuditLog");
    assert_eq!(restart["name"], "audit.jsonl");
    assert_eq!(restart["reason"], reason);
    assert_eq!(restart["prev"], GENESIS);
    assert_eq!(restart["time"], "2026-11-21T12:00:00Z");
    let message = restart["message"].as_str().unwrap();
    assert!(
        message.starts_with("the last line of audit.jsonl (now audit.jsonl.1): "),
        "{message}"
    );
    append(&mut again.file, 3);
    (path, dir)
}

#[test]
fn a_line_cut_short_starts_a_new_segment() {
    let (path, _dir) = restart_after(
        |path| {
            let mut file = OpenOptions::new().append(true).open(path).unwrap();
            file.write_all(b"{\"audit\":\"interdict.dev/au").unwrap();
        },
        "IncompleteLine",
    );
    let files = [rotated(&path, 1), path.clone()];
    let strict = verify(&files, false);
    let error = strict.error.unwrap();
    assert_eq!(
        (error.file.as_str(), error.line, error.problem),
        ("audit.jsonl.1", 3, "IncompleteLine")
    );
    let lenient = verify(&files, true);
    assert!(lenient.ok, "{lenient:?}");
    assert_eq!(lenient.restarts, 1);
    assert_eq!(lenient.lines, 5);
}

#[test]
fn an_edited_last_line_starts_a_new_segment() {
    let (path, _dir) = restart_after(
        |path| {
            let text = read(path).replace("line 2", "line two");
            std::fs::write(path, text).unwrap();
        },
        "HashMismatch",
    );
    let report = verify(&[rotated(&path, 1), path.clone()], false);
    let error = report.error.unwrap();
    assert_eq!((error.line, error.problem), (2, "HashMismatch"));
}

#[test]
fn lines_from_before_the_chain_are_not_continued_nor_excused() {
    let (path, _dir) = restart_after(
        |path| {
            let plain: String = (0..3).map(|i| format!("{}\n", record(i))).collect();
            std::fs::write(path, plain).unwrap();
        },
        "NoHash",
    );
    // The restart accounts for the last line only: the rest was never chained.
    let report = verify(&[rotated(&path, 1), path.clone()], true);
    let error = report.error.unwrap();
    assert_eq!((error.line, error.problem), (1, "NoHash"));
    assert!(verify(&[path], true).ok);
}

#[test]
fn a_damaged_rotated_file_behind_an_empty_one_restarts_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    std::fs::write(rotated(&path, 1), record(1)).unwrap();
    let opened = AuditFile::open(&path, Rotation::default(), now()).unwrap();
    assert_eq!(opened.written.len(), 1);
    assert!(!rotated(&path, 2).exists(), "nothing to rotate");
    let restart = first_line(&path);
    assert_eq!(restart["reason"], "IncompleteLine");
    assert!(
        restart["message"]
            .as_str()
            .unwrap()
            .starts_with("the last line of audit.jsonl.1: ")
    );
}

#[test]
fn after_a_failed_write_the_end_is_checked_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let mut opened = AuditFile::open(&path, Rotation::default(), now()).unwrap();
    append(&mut opened.file, 1);
    // What a write that failed half-way leaves behind.
    opened.file.file = None;
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(b"{\"half\":")
        .unwrap();
    let written = append(&mut opened.file, 2);
    assert_eq!(written.len(), 2, "a restart, then the record: {written:?}");
    assert!(written[0].contains("ChainRestarted"));
    assert!(written[1].contains("line 2"));
    assert!(verify(&[rotated(&path, 1), path.clone()], true).ok);
}

#[test]
fn two_writers_taking_turns_keep_one_chain() {
    // A new leader with a stale view of the file (it opened it while standing by).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let mut first = AuditFile::open(&path, Rotation::default(), now())
        .unwrap()
        .file;
    let mut second = AuditFile::open(&path, Rotation::default(), now())
        .unwrap()
        .file;
    append(&mut first, 1);
    append(&mut first, 2);
    append(&mut second, 3);
    append(&mut first, 4);
    let report = verify(std::slice::from_ref(&path), false);
    assert!(report.ok, "{report:?}");
    assert_eq!(report.lines, 4);
}

#[test]
fn a_rotation_set_reads_oldest_first_whatever_order_it_is_given_in() {
    let paths = |names: &[&str]| -> Vec<PathBuf> { names.iter().map(PathBuf::from).collect() };
    // What a shell glob `audit.jsonl*` gives.
    assert_eq!(
        in_chain_order(&paths(&[
            "d/audit.jsonl",
            "d/audit.jsonl.1",
            "d/audit.jsonl.10",
            "d/audit.jsonl.2"
        ])),
        paths(&[
            "d/audit.jsonl.10",
            "d/audit.jsonl.2",
            "d/audit.jsonl.1",
            "d/audit.jsonl"
        ])
    );
    // Other files keep their place; each set stays where it first appears.
    assert_eq!(
        in_chain_order(&paths(&["copy.jsonl", "a.log", "a.log.1", "b.txt"])),
        paths(&["copy.jsonl", "a.log.1", "a.log", "b.txt"])
    );
    assert_eq!(
        in_chain_order(&paths(&["x.0", "x.1"])),
        paths(&["x.0", "x.1"]),
        "`.0` is not a rotation number"
    );
}
