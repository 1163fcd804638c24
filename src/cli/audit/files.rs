//! Audit files on disk, for every `interdict audit` verb: the order they are
//! read in (one rotation set oldest first, however it is given; a directory
//! for the set it holds), and their lines as report rows.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use crate::audit::file::{in_chain_order, rotation_of};
use crate::audit::report::Record;
use crate::audit::report::lines::{self, LineError};
use crate::audit::report::subject::AuditLine;
use crate::audit::verify::Verifier;

/// Why the files cannot be put in order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathsError {
    /// The arguments are wrong.
    #[error("{0} is given twice")]
    Twice(String),
    /// A directory cannot be read, or is not one rotation set.
    #[error("{0}")]
    Directory(String),
}

/// The files to read, in chain order; an error names the file or directory.
pub fn chain_paths(files: &[PathBuf]) -> Result<Vec<PathBuf>, PathsError> {
    let mut given = Vec::new();
    for path in files {
        if path.is_dir() {
            given.extend(rotation_set_in(path).map_err(PathsError::Directory)?);
        } else {
            given.push(path.clone());
        }
    }
    let ordered = in_chain_order(&given);
    for (i, path) in ordered.iter().enumerate() {
        if ordered[..i].contains(path) {
            return Err(PathsError::Twice(path.display().to_string()));
        }
    }
    Ok(ordered)
}

/// The files of the one rotation set in `dir` (`F`, `F.1`, …).
fn rotation_set_in(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        if entry.file_type().is_ok_and(|t| t.is_file()) {
            files.push(entry.path());
        }
    }
    files.sort();
    let mut bases: Vec<PathBuf> = files.iter().map(|f| rotation_of(f).0).collect();
    bases.sort();
    bases.dedup();
    match bases.len() {
        1 => Ok(files),
        0 => Err(format!("{} holds no files", dir.display())),
        _ => Err(format!(
            "{} holds more than one file's rotations ({}): name the files",
            dir.display(),
            bases
                .iter()
                .filter_map(|b| b.file_name())
                .map(|n| n.to_string_lossy())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// What the files held.
#[derive(Default)]
pub struct Read {
    pub paths: Vec<String>,
    pub records: Vec<Record>,
    /// Every audit line, as JSON, with where it was.
    pub lines: Vec<AuditLine>,
    /// Lines that are not audit lines, and a chain that does not verify:
    /// said on stderr, the report goes on with what it could read.
    pub warnings: Vec<String>,
}

/// Reads every line of `paths` (in chain order); a file that cannot be read
/// is an error naming it.
pub fn read(paths: &[PathBuf]) -> Result<Read, String> {
    let mut read = Read::default();
    // The chain is checked on the way: a report from edited files should say so.
    let mut verifier = Verifier::new(true);
    let mut verifying = true;
    let mut skipped = 0u64;
    let mut buffer = Vec::new();
    for path in paths {
        let name = path.display().to_string();
        let unreadable = |e: std::io::Error| format!("cannot read {name}: {e}");
        let mut reader = BufReader::new(File::open(path).map_err(unreadable)?);
        verifier.start_file(&name);
        read.paths.push(name.clone());
        let mut number = 0u64;
        loop {
            buffer.clear();
            if reader.read_until(b'\n', &mut buffer).map_err(unreadable)? == 0 {
                break;
            }
            number += 1;
            if verifying {
                verifying = verifier.line(&buffer);
            }
            let text = buffer.strip_suffix(b"\n").unwrap_or(&buffer);
            if text.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match lines::parse(text) {
                Ok(record) => {
                    read.records.push(record);
                    if let Ok(value) = serde_json::from_slice(text) {
                        read.lines.push(AuditLine {
                            file: name.clone(),
                            line: number,
                            record: value,
                        });
                    }
                }
                // Operator logs mixed into a captured stdout are not audit lines.
                Err(LineError::NotAudit) => skipped += 1,
                Err(error) => read
                    .warnings
                    .push(format!("{name}:{number}: {error}; line left out")),
            }
        }
    }
    if skipped > 0 {
        read.warnings
            .push(format!("{skipped} lines are not audit lines; left out"));
    }
    let report = verifier.finish();
    if let Some(error) = report.error {
        // Lines from stdout without --audit-log carry no chain: nothing to check.
        let unchained = error.line == 1 && matches!(error.problem, "NoHash" | "NoPrev");
        if !unchained {
            read.warnings.push(format!(
                "the audit files do not verify: {error} (interdict audit verify says more); \
                 the report shows the lines as they are"
            ));
        }
    }
    Ok(read)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::chain::{GENESIS, seal};

    const LINE: &str = r#"{"audit":"interdict.dev/audit/v1","time":"2026-11-21T10:00:00Z","action":"Applied","kind":"UserBan","namespace":"a","name":"b","message":"m"}"#;

    #[test]
    fn a_rotation_set_is_read_oldest_first_and_odd_lines_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let first = seal(GENESIS, LINE);
        let second = seal(&first.hash, &LINE.replace("\"b\"", "\"c\""));
        std::fs::write(
            dir.path().join("audit.jsonl.1"),
            format!("{}\n", first.line),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("audit.jsonl"),
            format!("{}\n{{\"level\":\"info\"}}\nnot json\n", second.line),
        )
        .unwrap();
        let paths = chain_paths(&[dir.path().to_path_buf()]).unwrap();
        let names: Vec<_> = paths
            .iter()
            .map(|p| p.file_name().unwrap().to_owned())
            .collect();
        assert_eq!(names, ["audit.jsonl.1", "audit.jsonl"]);
        let read = read(&paths).unwrap();
        let objects: Vec<&str> = read.records.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(objects, ["b", "c"]);
        assert_eq!(read.lines[1].line, 1);
        assert!(
            read.warnings.iter().any(|w| w.ends_with(
                "audit.jsonl:3: not JSON: expected ident at line 1 column 2; line left out"
            )),
            "{:?}",
            read.warnings
        );
        assert!(
            read.warnings
                .contains(&"1 lines are not audit lines; left out".to_string())
        );
        assert!(
            read.warnings
                .iter()
                .any(|w| w.starts_with("the audit files do not verify")),
            "the stray lines break the chain: {:?}",
            read.warnings
        );
    }

    #[test]
    fn an_unchained_capture_is_read_without_a_chain_warning() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stdout.jsonl");
        std::fs::write(&path, format!("{LINE}\n{LINE}\n")).unwrap();
        let read = read(&[path]).unwrap();
        assert_eq!(read.records.len(), 2);
        assert!(read.warnings.is_empty(), "{:?}", read.warnings);
    }

    #[test]
    fn a_missing_file_is_an_error_naming_it() {
        let error = read(&[PathBuf::from("/nonexistent/audit.jsonl")])
            .err()
            .unwrap();
        assert!(
            error.starts_with("cannot read /nonexistent/audit.jsonl:"),
            "{error}"
        );
        let dir = tempfile::tempdir().unwrap();
        assert!(
            chain_paths(&[dir.path().to_path_buf()])
                .unwrap_err()
                .to_string()
                .contains("holds no files")
        );
        let file = dir.path().join("a");
        assert_eq!(
            chain_paths(&[file.clone(), file.clone()]),
            Err(PathsError::Twice(file.display().to_string()))
        );
    }
}
