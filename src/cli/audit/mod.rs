//! `interdict audit <verb>`: reading the audit trail after the fact. Each verb
//! is one file here, with its arguments and what it runs; `cluster.rs` and
//! `files.rs` are the reading they share; this file only lists them.
//!
//! The report is also what `interdict audit` runs with no verb, as
//! `kubectl get` lists without being told to: `interdict audit -n apps`.

mod cluster;
mod files;
mod filters;
mod report;
mod subject;
mod verify;

use std::process::ExitCode;

use clap::{Args, Subcommand};

pub use cluster::ClusterArgs;
pub use filters::FilterArgs;
pub use report::{ReportArgs, ReportFormat};
pub use subject::{SubjectArgs, SubjectFormat};
pub use verify::{OutputFormat, VerifyArgs};

#[derive(Args, Debug, Clone)]
#[command(args_conflicts_with_subcommands = true, after_long_help = report::AFTER_HELP)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: Option<AuditCommand>,

    /// With no verb: the report's flags (see `interdict audit report --help`).
    #[command(flatten)]
    pub report: ReportArgs,
}

#[derive(Subcommand, Debug, Clone)]
pub enum AuditCommand {
    /// Rows and figures for a compliance review, from the cluster and/or audit
    /// files (the default verb: `interdict audit -n apps` is the same).
    Report(ReportArgs),
    /// Everything held about one subject, for a data-subject access request.
    Subject(SubjectArgs),
    /// Check the hash chain of audit files written with `interdict run --audit-log`.
    Verify(VerifyArgs),
}

impl AuditArgs {
    /// The report's arguments, when the report is what runs.
    pub fn report_args(&self) -> Option<&ReportArgs> {
        match &self.command {
            None => Some(&self.report),
            Some(AuditCommand::Report(args)) => Some(args),
            Some(_) => None,
        }
    }

    pub fn run(&self) -> ExitCode {
        match &self.command {
            None => self.report.run(),
            Some(AuditCommand::Report(args)) => args.run(),
            Some(AuditCommand::Subject(args)) => args.run(),
            Some(AuditCommand::Verify(args)) => args.run(),
        }
    }
}
