//! `interdict audit verify FILE...`: the chain check of `crate::audit::verify`
//! over files on disk, with exit codes a script can act on.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use serde::Serialize;

use crate::audit::verify::{Report, Verifier};

const AFTER_HELP: &str = "\
Each line must parse, carry as \"prev\" the \"hash\" of the line before, and \
carry a \"hash\" that recomputes: lowercase hex SHA-256 of prev, a newline, and \
the line as written without its trailing ,\"hash\":\"...\" member (see \
docs/operations.md).

Exit status: 0 when the chain is intact (one summary line); 1 naming the first \
line that breaks it, as FILE:LINE: why; 2 when the arguments are wrong or a file \
cannot be read.

What it shows: no line between the first and the last was edited, removed, \
added or moved. What it cannot: a line removed from the end leaves a shorter, \
intact chain, and so does one removed from the start unless the first line \
starts from genesis. Compare the last hash printed with the copy of the lines \
the operator wrote to stdout. Whoever can rewrite a whole file can recompute \
its hashes as well.";

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Args, Debug, Clone)]
#[command(after_long_help = AFTER_HELP)]
pub struct VerifyArgs {
    /// Audit files, oldest first: `audit.jsonl.2 audit.jsonl.1 audit.jsonl`.
    /// One file's rotation set is checked in that order however it is given
    /// (`audit.jsonl*` works); a directory stands for the one rotation set
    /// it holds.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,

    /// Accept the chain restarts the operator records when it finds the end
    /// of a file damaged (and that damaged last line); both are still listed,
    /// as warnings.
    #[arg(long)]
    pub allow_restarts: bool,

    /// `text`: warnings and one verdict line; `json`: one object.
    #[arg(short = 'o', long = "output", value_name = "FORMAT", value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

/// What `-o json` prints: the report and the files in the order checked.
#[derive(Serialize)]
struct JsonReport<'a> {
    paths: Vec<String>,
    #[serde(flatten)]
    report: &'a Report,
}

/// Exit status 2: the question could not be asked.
const UNUSABLE: u8 = 2;

impl VerifyArgs {
    pub fn run(&self) -> ExitCode {
        let paths = match super::files::chain_paths(&self.files) {
            Ok(paths) => paths,
            Err(message) => {
                eprintln!("error: {message}");
                return ExitCode::from(UNUSABLE);
            }
        };
        let report = match check(&paths, self.allow_restarts) {
            Ok(report) => report,
            Err(message) => {
                eprintln!("error: {message}");
                return ExitCode::from(UNUSABLE);
            }
        };
        match self.output {
            OutputFormat::Json => {
                let paths = paths.iter().map(|p| p.display().to_string()).collect();
                let json = JsonReport {
                    paths,
                    report: &report,
                };
                println!(
                    "{}",
                    serde_json::to_string(&json).expect("reports serialise")
                );
            }
            OutputFormat::Text => {
                for warning in &report.warnings {
                    println!("warning: {warning}");
                }
                match &report.error {
                    Some(error) => println!("{error}"),
                    None => println!("{}", summary(&report)),
                }
            }
        }
        if report.ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        }
    }
}

/// Reads `paths` line by line into the verifier; stops at the verdict.
fn check(paths: &[PathBuf], allow_restarts: bool) -> Result<Report, String> {
    let mut verifier = Verifier::new(allow_restarts);
    let mut line = Vec::new();
    'files: for path in paths {
        let unreadable = |e: std::io::Error| format!("cannot read {}: {e}", path.display());
        let mut reader = BufReader::new(File::open(path).map_err(unreadable)?);
        verifier.start_file(&path.display().to_string());
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line).map_err(unreadable)? == 0 {
                break;
            }
            if !verifier.line(&line) {
                break 'files;
            }
        }
    }
    Ok(verifier.finish())
}

fn plural(count: u64, one: &str) -> String {
    if count == 1 {
        format!("1 {one}")
    } else {
        format!("{count} {one}s")
    }
}

/// `ok: N lines, M files, FIRST to LAST, from genesis, last hash H`.
fn summary(report: &Report) -> String {
    let mut text = format!(
        "ok: {}, {}",
        plural(report.lines, "line"),
        plural(report.files.into(), "file")
    );
    if let (Some(first), Some(last)) = (&report.first_time, &report.last_time) {
        text.push_str(&format!(", {first} to {last}"));
    }
    if report.restarts > 0 {
        text.push_str(&format!(", {}", plural(report.restarts.into(), "restart")));
    }
    match (&report.first_prev, report.from_genesis) {
        (Some(_), true) => text.push_str(", from genesis"),
        (Some(prev), false) => text.push_str(&format!(", first prev {prev}")),
        (None, _) => {}
    }
    if let Some(hash) = &report.last_hash {
        text.push_str(&format!(", last hash {hash}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn parse(args: &[&str]) -> Result<VerifyArgs, clap::Error> {
        let cli = Cli::try_parse_from(args)?;
        let Command::Audit(audit) = cli.command else {
            panic!("not the audit command");
        };
        match audit.command {
            Some(super::super::AuditCommand::Verify(verify)) => Ok(verify),
            other => panic!("not the verify verb: {other:?}"),
        }
    }

    #[test]
    fn verify_is_a_verb_of_audit() {
        let args = parse(&[
            "interdict",
            "audit",
            "verify",
            "a.1",
            "a",
            "--allow-restarts",
            "-o",
            "json",
        ])
        .unwrap();
        assert_eq!(args.files, [PathBuf::from("a.1"), PathBuf::from("a")]);
        assert!(args.allow_restarts);
        assert_eq!(args.output, OutputFormat::Json);
        let error = parse(&["interdict", "audit", "verify"]).unwrap_err();
        assert_eq!(error.exit_code(), 2, "usage errors exit 2");
        let error = parse(&["interdict", "audit", "verify", "a", "-o", "xml"]).unwrap_err();
        assert_eq!(error.exit_code(), 2);
    }

    #[test]
    fn the_summary_names_both_ends() {
        let report = Report {
            ok: true,
            lines: 1,
            files: 2,
            first_time: Some("2026-11-21T10:00:00Z".into()),
            last_time: Some("2026-11-22T10:00:00Z".into()),
            first_prev: Some("ab".into()),
            from_genesis: false,
            last_hash: Some("cd".into()),
            restarts: 0,
            warnings: vec![],
            error: None,
        };
        assert_eq!(
            summary(&report),
            "ok: 1 line, 2 files, 2026-11-21T10:00:00Z to 2026-11-22T10:00:00Z, \
             first prev ab, last hash cd"
        );
    }
}
