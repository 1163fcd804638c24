//! Checking a sequence of audit files against the chain, line by line, with
//! no I/O: the caller feeds the lines in the order the files were written
//! and gets a report naming the first line that breaks the chain.
//!
//! What the chain shows and what it cannot: an edited line no longer matches
//! its hash; a removed or moved line leaves the next line's `prev` pointing at
//! something else. A removed *last* line leaves an intact, shorter chain, and
//! so does a removed first line unless the first line given starts at
//! `GENESIS`: the report carries the first `prev` and the last hash so both
//! ends can be compared with a copy kept elsewhere (the operator's stdout).
//! Anyone able to rewrite the whole file can also recompute every hash: the
//! chain proves consistency, not authorship.

use serde::Serialize;

use super::chain::{self, Fault, GENESIS, Link};

#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    /// A chain restart the operator recorded, or the damage it recorded:
    /// listed always, fatal unless restarts are allowed.
    Warning,
}

/// One line that is not as the chain says it should be.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub file: String,
    pub line: u64,
    pub severity: Severity,
    /// `Fault::code`, or `ChainRestarted`.
    pub problem: &'static str,
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

/// What a verification found.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub ok: bool,
    /// Lines read up to the verdict.
    pub lines: u64,
    pub files: u32,
    /// `time` of the first and last intact lines.
    pub first_time: Option<String>,
    pub last_time: Option<String>,
    /// `prev` of the first line: `GENESIS`, or the last hash of a file not given.
    pub first_prev: Option<String>,
    pub from_genesis: bool,
    /// Hash of the last intact line: compare it with a copy kept elsewhere.
    pub last_hash: Option<String>,
    pub restarts: u32,
    /// Restarts, and the damage they record, in file order.
    pub warnings: Vec<Finding>,
    /// The first line that fails the verification.
    pub error: Option<Finding>,
}

pub struct Verifier {
    allow_restarts: bool,
    file: String,
    line: u64,
    report: Report,
    /// A damaged line, held back while restarts are allowed, with the number
    /// of its file: when it turns out to be the end of that file and the next
    /// line is a restart (the operator's record of it), it is only a warning.
    pending: Option<(u32, Finding)>,
}

impl Verifier {
    pub fn new(allow_restarts: bool) -> Self {
        Verifier {
            allow_restarts,
            file: String::new(),
            line: 0,
            report: Report {
                ok: false,
                lines: 0,
                files: 0,
                first_time: None,
                last_time: None,
                first_prev: None,
                from_genesis: false,
                last_hash: None,
                restarts: 0,
                warnings: Vec::new(),
                error: None,
            },
            pending: None,
        }
    }

    /// The next file, named as it should appear in findings.
    pub fn start_file(&mut self, name: &str) {
        self.file = name.to_string();
        self.line = 0;
        self.report.files += 1;
    }

    /// One line as read, with its newline when it has one. False once the
    /// verdict is in: the rest need not be read.
    pub fn line(&mut self, raw: &[u8]) -> bool {
        if self.report.error.is_some() {
            return false;
        }
        self.line += 1;
        self.report.lines += 1;
        let link = match raw.strip_suffix(b"\n") {
            Some(text) => chain::read_line(text),
            None => Err(Fault::Incomplete),
        };
        if let Some((file, mut damage)) = self.pending.take() {
            // Excused only when it was the end of its file and what follows
            // is the restart that records it.
            let recorded =
                file != self.report.files && matches!(&link, Ok(link) if link.is_restart());
            if !recorded {
                damage.severity = Severity::Error;
                return self.fail(damage);
            }
            damage.message.push_str(&format!(
                " (recorded by the restart at {}:{})",
                self.file, self.line
            ));
            self.report.warnings.push(damage);
        }
        match link {
            Ok(link) if link.is_restart() => self.restart(link),
            Ok(link) => {
                match &self.report.last_hash {
                    None => {
                        self.report.from_genesis = link.prev == GENESIS;
                        self.report.first_prev = Some(link.prev.clone());
                    }
                    Some(head) if *head != link.prev => {
                        return self.fail(self.finding(&Fault::PrevMismatch, Severity::Error));
                    }
                    Some(_) => {}
                }
                self.accept(link);
                true
            }
            Err(fault) if self.allow_restarts => {
                self.pending = Some((self.report.files, self.finding(&fault, Severity::Warning)));
                true
            }
            Err(fault) => self.fail(self.finding(&fault, Severity::Error)),
        }
    }

    pub fn finish(mut self) -> Report {
        if let Some((_, mut damage)) = self.pending.take() {
            damage.severity = Severity::Error;
            self.fail(damage);
        }
        self.report.ok = self.report.error.is_none();
        self.report
    }

    /// A restart line: a new chain (the operator starts it from `GENESIS`),
    /// whose `prev` is not held against the line before. Fatal unless allowed.
    fn restart(&mut self, link: Link) -> bool {
        let why = link.message.clone().unwrap_or_default();
        let mut restart = Finding {
            file: self.file.clone(),
            line: self.line,
            severity: Severity::Warning,
            problem: chain::RESTART_ACTION,
            message: format!("the chain restarts here: {why}"),
        };
        if !self.allow_restarts {
            restart.message.push_str(" (--allow-restarts accepts it)");
            return self.fail(restart);
        }
        self.report.warnings.push(restart);
        self.report.restarts += 1;
        if self.report.last_hash.is_none() {
            self.report.from_genesis = link.prev == GENESIS;
            self.report.first_prev = Some(link.prev.clone());
        }
        self.accept(link);
        true
    }

    fn accept(&mut self, link: Link) {
        if let Some(time) = link.time {
            if self.report.first_time.is_none() {
                self.report.first_time = Some(time.clone());
            }
            self.report.last_time = Some(time);
        }
        self.report.last_hash = Some(link.hash);
    }

    fn finding(&self, fault: &Fault, severity: Severity) -> Finding {
        Finding {
            file: self.file.clone(),
            line: self.line,
            severity,
            problem: fault.code(),
            message: fault.to_string(),
        }
    }

    /// Ends the verification on `finding` (a restart keeps its warning level).
    fn fail(&mut self, finding: Finding) -> bool {
        self.report.error = Some(finding);
        false
    }
}

/// Verifies whole files held in memory: `(name, bytes)` in chain order.
pub fn verify_all<'a>(
    files: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    allow_restarts: bool,
) -> Report {
    let mut verifier = Verifier::new(allow_restarts);
    for (name, bytes) in files {
        verifier.start_file(name);
        for line in bytes.split_inclusive(|&b| b == b'\n') {
            if !verifier.line(line) {
                return verifier.finish();
            }
        }
    }
    verifier.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::chain::seal;

    fn record(i: usize) -> String {
        format!(
            r#"{{"audit":"interdict.dev/audit/v1","time":"2026-11-21T10:00:{i:02}Z","action":"Applied","message":"ban {i}"}}"#
        )
    }

    fn restart_record() -> String {
        r#"{"audit":"interdict.dev/audit/v1","time":"2026-11-21T11:00:00Z","action":"ChainRestarted","reason":"IncompleteLine","message":"the last line of audit.jsonl (now audit.jsonl.1): incomplete"}"#.to_string()
    }

    /// `count` chained lines from `prev`; returns them and the last hash.
    fn lines(prev: &str, count: usize) -> (Vec<String>, String) {
        let mut head = prev.to_string();
        let mut out = Vec::new();
        for i in 0..count {
            let sealed = seal(&head, &record(i));
            head = sealed.hash;
            out.push(sealed.line);
        }
        (out, head)
    }

    fn text(lines: &[String]) -> String {
        lines.iter().map(|l| format!("{l}\n")).collect()
    }

    fn one(lines: &[String], allow: bool) -> Report {
        let text = text(lines);
        verify_all([("audit.jsonl", text.as_bytes())], allow)
    }

    fn error(report: &Report) -> (u64, &'static str) {
        let error = report.error.as_ref().expect("a finding");
        (error.line, error.problem)
    }

    #[test]
    fn an_intact_chain_reports_its_ends() {
        let (lines, head) = lines(GENESIS, 5);
        let report = one(&lines, false);
        assert!(report.ok, "{report:?}");
        assert_eq!((report.lines, report.files), (5, 1));
        assert_eq!(report.first_time.as_deref(), Some("2026-11-21T10:00:00Z"));
        assert_eq!(report.last_time.as_deref(), Some("2026-11-21T10:00:04Z"));
        assert_eq!(report.last_hash.as_deref(), Some(head.as_str()));
        assert!(report.from_genesis);
        assert!(report.warnings.is_empty());
    }

    #[test]
    fn an_edited_line_is_named() {
        let (mut lines, _) = lines(GENESIS, 5);
        lines[2] = lines[2].replace("ban 2", "ban two");
        let report = one(&lines, false);
        assert!(!report.ok);
        assert_eq!(error(&report), (3, "HashMismatch"));
        assert_eq!(
            report.error.unwrap().to_string(),
            "audit.jsonl:3: hash does not match (line edited?)"
        );
        assert_eq!(report.lines, 3, "reading stops at the verdict");
    }

    #[test]
    fn a_removed_line_names_the_next_one() {
        let (mut lines, _) = lines(GENESIS, 5);
        lines.remove(1);
        let report = one(&lines, false);
        assert_eq!(error(&report), (2, "PrevMismatch"));
        assert_eq!(
            report.error.unwrap().to_string(),
            "audit.jsonl:2: prev does not match the previous line (a line removed or reordered?)"
        );
    }

    #[test]
    fn swapped_lines_name_the_first_out_of_place() {
        let (mut lines, _) = lines(GENESIS, 5);
        lines.swap(1, 2);
        assert_eq!(error(&one(&lines, false)), (2, "PrevMismatch"));
    }

    #[test]
    fn a_removed_last_line_cannot_be_seen_but_changes_the_last_hash() {
        let (lines, head) = lines(GENESIS, 5);
        let report = one(&lines[..4], false);
        assert!(report.ok, "nothing in the file says a line is missing");
        assert_ne!(report.last_hash.as_deref(), Some(head.as_str()));
    }

    #[test]
    fn a_removed_first_line_shows_only_as_a_chain_not_from_genesis() {
        let (lines, _) = lines(GENESIS, 5);
        let report = one(&lines[1..], false);
        assert!(report.ok);
        assert!(!report.from_genesis);
        assert_eq!(report.first_prev, Some(seal(GENESIS, &record(0)).hash));
    }

    #[test]
    fn the_chain_runs_across_files_in_order_only() {
        let (older, head) = lines(GENESIS, 3);
        let (newer, last) = lines(&head, 2);
        let (older, newer) = (text(&older), text(&newer));
        let report = verify_all(
            [
                ("audit.jsonl.1", older.as_bytes()),
                ("audit.jsonl", newer.as_bytes()),
            ],
            false,
        );
        assert!(report.ok, "{report:?}");
        assert_eq!((report.lines, report.files), (5, 2));
        assert_eq!(report.last_hash, Some(last));
        let swapped = verify_all(
            [
                ("audit.jsonl", newer.as_bytes()),
                ("audit.jsonl.1", older.as_bytes()),
            ],
            false,
        );
        let error = swapped.error.unwrap();
        assert_eq!(
            (error.file.as_str(), error.line, error.problem),
            ("audit.jsonl.1", 1, "PrevMismatch")
        );
    }

    #[test]
    fn unparsable_and_incomplete_lines_are_named() {
        let (mut lines, _) = lines(GENESIS, 3);
        lines.insert(1, "{\"audit\": tru".into());
        assert_eq!(error(&one(&lines, false)), (2, "UnparsableLine"));
        let (lines, _) = self::lines(GENESIS, 3);
        let cut = text(&lines);
        let cut = &cut[..cut.len() - 20];
        let report = verify_all([("audit.jsonl", cut.as_bytes())], false);
        assert_eq!(error(&report), (3, "IncompleteLine"));
    }

    #[test]
    fn a_restart_fails_unless_allowed_and_is_listed_either_way() {
        let (before, _) = lines(GENESIS, 2);
        let restart = seal(GENESIS, &restart_record());
        let (after, _) = lines(&restart.hash, 2);
        let mut damaged = text(&before);
        damaged.push_str("{\"audit\":\"interdict.dev/au"); // cut short by a crash
        let mut current = format!("{}\n", restart.line);
        current.push_str(&text(&after));
        let files = [
            ("audit.jsonl.1", damaged.as_bytes()),
            ("audit.jsonl", current.as_bytes()),
        ];

        let strict = verify_all(files, false);
        let error = strict.error.unwrap();
        assert_eq!(
            (
                error.file.as_str(),
                error.line,
                error.problem,
                error.severity
            ),
            ("audit.jsonl.1", 3, "IncompleteLine", Severity::Error),
            "the damage comes first"
        );

        let lenient = verify_all(files, true);
        assert!(lenient.ok, "{lenient:?}");
        assert_eq!(lenient.restarts, 1);
        let warnings: Vec<_> = lenient
            .warnings
            .iter()
            .map(|w| (w.file.as_str(), w.line, w.problem, w.severity))
            .collect();
        assert_eq!(
            warnings,
            [
                ("audit.jsonl.1", 3, "IncompleteLine", Severity::Warning),
                ("audit.jsonl", 1, "ChainRestarted", Severity::Warning),
            ]
        );
        assert!(
            lenient.warnings[0]
                .message
                .contains("recorded by the restart at audit.jsonl:1")
        );

        // The restart alone (the damaged file already rotated out).
        let alone = verify_all([("audit.jsonl", current.as_bytes())], false);
        let error = alone.error.unwrap();
        assert_eq!(
            (error.line, error.problem, error.severity),
            (1, "ChainRestarted", Severity::Warning),
            "a warning, and still a failure"
        );
        assert!(
            error.message.contains("--allow-restarts"),
            "{}",
            error.message
        );
        assert!(verify_all([("audit.jsonl", current.as_bytes())], true).ok);
    }

    #[test]
    fn allowed_restarts_excuse_only_the_damage_they_follow() {
        let (mut lines, _) = lines(GENESIS, 4);
        lines[1] = lines[1].replace("ban 1", "ban one");
        // Damage in the middle of a file is not what a restart records.
        assert_eq!(error(&one(&lines, true)), (2, "HashMismatch"));
        // Damage at the end of a file with no restart after it.
        let (mut tail_edited, _) = self::lines(GENESIS, 3);
        tail_edited[2] = tail_edited[2].replace("ban 2", "ban two");
        assert_eq!(error(&one(&tail_edited, true)), (3, "HashMismatch"));
        let next = text(&self::lines(GENESIS, 1).0);
        let tail_edited = text(&tail_edited);
        let report = verify_all(
            [("a", tail_edited.as_bytes()), ("b", next.as_bytes())],
            true,
        );
        let found = report.error.unwrap();
        assert_eq!((found.file.as_str(), found.line), ("a", 3));
        // A restart in the middle of a file is listed like any other.
        let (before, _) = self::lines(GENESIS, 2);
        let mut with_restart = before.clone();
        with_restart.push(seal(GENESIS, &restart_record()).line);
        assert_eq!(error(&one(&with_restart, false)), (3, "ChainRestarted"));
        let report = one(&with_restart, true);
        assert!(report.ok);
        assert_eq!(report.warnings.len(), 1);
    }

    #[test]
    fn an_empty_file_is_intact() {
        let report = verify_all([("audit.jsonl", &b""[..])], false);
        assert!(report.ok);
        assert_eq!((report.lines, report.files, report.last_hash), (0, 1, None));
    }
}
