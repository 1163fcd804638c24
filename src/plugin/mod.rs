//! `kubectl interdict` (the `kubectl-interdict` binary): moderator tools on
//! the command line. Each verb is one file with its flags and what it runs;
//! the pure parts (manifests, names, timing, import rows, CSV, tables) are
//! files of their own, apart from the API calls (`bans`, `session`), and
//! tested without a cluster. This file lists the verbs and maps errors to
//! exit codes.

pub mod appeals;
pub mod ban;
pub mod bans;
pub mod checks;
mod completion;
mod csv;
pub mod error;
mod export;
mod import;
pub mod lift;
pub mod manifest;
pub mod naming;
mod output;
mod progress;
mod row_checks;
mod rows;
pub mod session;
pub mod subject;
pub mod table;
pub mod timing;
mod undo;
pub mod view;
pub mod who;
pub mod why;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use bans::FIELD_MANAGER;
pub use error::{EXIT_FAILURE, EXIT_USAGE, PluginError};
pub use manifest::BATCH_LABEL;

use crate::api::BanMode;

/// The checks `kubectl interdict import` applies to one row (column name →
/// cell, as an import file gives them) at `now`, before anything is sent:
/// the manifest the row would write, or the first problem with it. Public so
/// that `tests/admission_parity.rs` can hold these checks against the API
/// server's own on the same specs.
pub fn check_import_row(
    cells: std::collections::BTreeMap<String, String>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<serde_json::Value, String> {
    let row = rows::Row { line: 1, cells };
    let request = row_checks::request_of(&row, now).map_err(|e| e.to_string())?;
    Ok(serde_json::to_value(request.manifest(None)).expect("manifests serialise"))
}

const EXIT_CODES: &str = "Exit codes: 0 done; 1 the API server refused or failed, or nothing matched; \
2 usage error (bad flags or a bad import file; nothing was written).";

#[derive(Parser, Debug)]
#[command(
    name = "kubectl-interdict",
    bin_name = "kubectl interdict",
    version,
    about = "Ban, silence and block the users of your applications, lift bans, review appeals and import ban lists",
    after_help = EXIT_CODES,
    subcommand_required = true,
    arg_required_else_help = true
)]
pub struct PluginCli {
    #[command(flatten)]
    pub global: session::GlobalArgs,

    #[command(subcommand)]
    pub verb: Verb,
}

// One value per process, parsed at start-up.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum Verb {
    /// Suspend a subject: a UserBan with mode Suspend (no access at all).
    Ban(ban::BanArgs),
    /// Silence a subject: a UserBan with mode Silence (may log in, read and
    /// export; may not publish; content hidden).
    Silence(ban::BanArgs),
    /// Take features away from a subject, everywhere or in some scopes: a FeatureBlock.
    Block(ban::BlockArgs),
    /// End bans early with spec.lift, by name or every ban of a subject; the
    /// objects stay as the record.
    #[command(visible_alias = "unban")]
    Lift(lift::LiftArgs),
    /// A subject's record: every ban and block, in force or ended, who created
    /// and lifted it, and its appeal.
    #[command(visible_alias = "history")]
    Who(who::WhoArgs),
    /// The decision an application would get, read from the namespace's
    /// blocklist ConfigMaps.
    Why(why::WhyArgs),
    /// The appeals waiting for a decision.
    Appeals(appeals::AppealsArgs),
    /// Approve or deny an appeal (needs the decide verb on banappeals).
    Decide(appeals::DecideArgs),
    /// Create many bans from a CSV or JSON-lines file, checked whole first,
    /// labelled with one batch id.
    Import(import::ImportArgs),
    /// Lift everything one import created.
    Undo(undo::UndoArgs),
    /// Write bans back in the import format (CSV or JSON lines).
    Export(export::ExportArgs),
    /// Print a shell completion script.
    Completion(completion::CompletionArgs),
}

async fn run(cli: PluginCli) -> error::Result<()> {
    let global = &cli.global;
    match &cli.verb {
        Verb::Ban(args) => ban::run_ban(global, args, BanMode::Suspend).await,
        Verb::Silence(args) => ban::run_ban(global, args, BanMode::Silence).await,
        Verb::Block(args) => ban::run_block(global, args).await,
        Verb::Lift(args) => lift::run(global, args).await,
        Verb::Who(args) => who::run(global, args).await,
        Verb::Why(args) => why::run(global, args).await,
        Verb::Appeals(args) => appeals::run_queue(global, args).await,
        Verb::Decide(args) => appeals::run_decide(global, args).await,
        Verb::Import(args) => import::run(global, args).await,
        Verb::Undo(args) => undo::run(global, args).await,
        Verb::Export(args) => export::run(global, args).await,
        Verb::Completion(args) => completion::run(args),
    }
}

/// The binary's entry point: parse (clap exits 2 on a usage error, 0 for
/// --help), run the verb on a single-threaded runtime, map the error.
pub fn main() -> ExitCode {
    let cli = PluginCli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start: {error}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            error.exit_code()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        PluginCli::command().debug_assert();
    }

    fn parse(args: &[&str]) -> Result<PluginCli, clap::Error> {
        PluginCli::try_parse_from(std::iter::once("kubectl-interdict").chain(args.iter().copied()))
    }

    #[test]
    fn flags_parse_like_kubectl() {
        let cli = parse(&[
            "ban", "--user", "1", "--for", "7d", "--reason", "spam", "-n", "apps", "-o", "yaml",
        ])
        .unwrap();
        assert_eq!(cli.global.namespace.as_deref(), Some("apps"));
        assert!(matches!(cli.verb, Verb::Ban(_)));
        let cli = parse(&["unban", "ub/x", "--reason", "oops"]).unwrap();
        assert!(matches!(cli.verb, Verb::Lift(_)));
        let cli = parse(&["history", "--email", "a@b.c", "-A"]).unwrap();
        assert!(matches!(cli.verb, Verb::Who(_)));
        let Verb::Ban(args) = parse(&[
            "ban",
            "--user",
            "1",
            "--permanent",
            "--reason",
            "spam",
            "--dry-run",
        ])
        .unwrap()
        .verb
        else {
            panic!("ban")
        };
        assert_eq!(args.dry_run, bans::DryRun::Client);
        let Verb::Import(args) = parse(&["import", "f.csv", "--dry-run=server"])
            .unwrap()
            .verb
        else {
            panic!("import")
        };
        assert_eq!(args.dry_run, bans::DryRun::Server);
    }

    #[test]
    fn usage_errors_are_clap_errors() {
        for args in [
            &["ban", "--for", "7d", "--reason", "spam"][..],
            &["ban", "--user", "1", "--reason", "spam"],
            &[
                "ban", "--user", "1", "--email", "a@b.c", "--for", "7d", "--reason", "spam",
            ],
            &[
                "ban",
                "--user",
                "1",
                "--for",
                "7d",
                "--permanent",
                "--reason",
                "spam",
            ],
            &["block", "--user", "1", "--for", "7d", "--reason", "spam"],
            &["lift", "--reason", "x"],
            &["lift", "x", "--user", "1", "--reason", "x"],
            &["decide", "a1", "--approve", "--deny"],
            &[
                "ban",
                "--user",
                "1",
                "--for",
                "7d",
                "--reason",
                "spam",
                "--appeal-instructions",
                "x",
            ],
            &["why", "--feature", "x"],
        ] {
            let error = parse(args).unwrap_err();
            assert_eq!(error.exit_code(), i32::from(EXIT_USAGE), "{args:?}");
        }
    }
}
