//! `interdict audit <verb>`: reading the audit trail after the fact. Each verb
//! is one file here, with its arguments and what it runs; this file only
//! lists them.

mod verify;

use std::process::ExitCode;

use clap::{Args, Subcommand};

pub use verify::{OutputFormat, VerifyArgs};

#[derive(Args, Debug, Clone)]
#[command(subcommand_required = true, arg_required_else_help = true)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
}

#[derive(Subcommand, Debug, Clone)]
pub enum AuditCommand {
    /// Check the hash chain of audit files written with `interdict run --audit-log`.
    Verify(VerifyArgs),
}

impl AuditArgs {
    pub fn run(&self) -> ExitCode {
        match &self.command {
            AuditCommand::Verify(args) => args.run(),
        }
    }
}
