//! `interdict audit [report]`: what happened, for a compliance review. Reads
//! the cluster and/or audit files, then hands plain rows to
//! `crate::audit::report` to join, filter, sum up and render.

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};

use super::cluster::{ClusterArgs, ClusterError, Part, Scope, connect};
use super::files::{self, PathsError};
use super::filters::FilterArgs;
use crate::audit::report::objects::{self, Objects};
use crate::audit::report::render::{self, Format, View};
use crate::audit::report::{Filter, Window, build};

pub(super) const AFTER_HELP: &str = "\
Rows: one per object as it stands (ACTION is its phase: Active, Expired, \
Lifted, Scheduled, Exempted for bans; Pending, Approved, Denied, Refused for \
appeals), one per Event regarding one of the five kinds, and one per audit \
line; an Event and the audit line of the same transition are one row. Subjects \
are printed as published: email addresses only as sha256: hashes. ACTOR is the \
audit line's actor, else the object's interdict.dev/created-by, \
interdict.dev/lifted-by or interdict.dev/decided-by annotation (or its copy in \
the status), else spec.lift.by or the appeal's reviewer, else BanPolicy/NAME \
for an automatic ban; - when none is recorded.

Sources: the cluster (the context's namespace, -n NS..., or -A) and/or \
--audit-file FILE... With only --audit-file, the cluster is not read; add -n, \
-A, --context or --kubeconfig to read both.

Filters combine with \"and\"; repeating one gives alternatives. Each filter \
tests the row's object, so an object's Events and lines stay with it \
(--outcome Lifted keeps the lifted bans with their whole trail).

Figures (after the rows, or alone with --summary; the same in every format, \
under \"summary\" in JSON): objects by kind and phase; actions by reason (bans, \
feature blocks, exemptions); actions by actor (creations, lifts, appeal \
decisions, deletions in the window); bans automatic, manual and permanent; \
appeal rate (appealed / appealable bans); overturn rate (approved / decided appeals); \
median ban duration (effectiveFrom to expiresAt or liftedAt, permanent bans \
left out); trail rows by action.

Exit status: 0 with the report; 1 when the cluster or a file cannot be read \
(a refusal names the verb, the resource and the namespace); 2 for wrong \
arguments.";

/// `-o` of `interdict audit`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportFormat {
    /// Aligned columns, as kubectl prints them.
    Table,
    Csv,
    Json,
    Markdown,
}

impl From<ReportFormat> for Format {
    fn from(format: ReportFormat) -> Format {
        match format {
            ReportFormat::Table => Format::Table,
            ReportFormat::Csv => Format::Csv,
            ReportFormat::Json => Format::Json,
            ReportFormat::Markdown => Format::Markdown,
        }
    }
}

#[derive(Args, Debug, Clone)]
#[command(after_long_help = AFTER_HELP)]
pub struct ReportArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,

    /// Audit files of `interdict run --audit-log` (or its captured stdout):
    /// a rotation set in any order (audit.jsonl*), or its directory.
    #[arg(long = "audit-file", value_name = "FILE", num_args = 1..)]
    pub audit_files: Vec<PathBuf>,

    /// Do not read Events (they need `list` on events; the API server keeps
    /// them about an hour).
    #[arg(long)]
    pub no_events: bool,

    #[command(flatten)]
    pub filters: FilterArgs,

    /// Output format: table (aligned columns, as kubectl prints), csv, json, markdown.
    #[arg(short = 'o', long = "output", value_name = "FORMAT", value_enum, default_value_t = ReportFormat::Table)]
    pub output: ReportFormat,

    /// Print the figures only.
    #[arg(long, conflicts_with = "no_summary")]
    pub summary: bool,

    /// Print the rows only.
    #[arg(long)]
    pub no_summary: bool,
}

/// Usage problems exit 2, as clap's own do.
const USAGE: u8 = 2;

/// What went wrong while reading, and what to try.
struct Unreadable {
    error: ClusterError,
    hint: Option<&'static str>,
}

/// Lists what the report needs. A part the report does not show (bans only
/// read to give appeals their subject, say) may be refused; one it shows
/// may not.
async fn read_cluster(args: &ReportArgs, filter: &Filter) -> Result<(Objects, Scope), Unreadable> {
    let unreadable = |error| Unreadable { error, hint: None };
    let (client, default_namespace) = connect(&args.cluster).await.map_err(unreadable)?;
    let scope = Scope::of(&args.cluster, &default_namespace);
    let places: Vec<Option<&str>> = match &scope {
        Scope::All => vec![None],
        Scope::Namespaces(namespaces) => namespaces.iter().map(|n| Some(n.as_str())).collect(),
    };
    let mut objects = Objects::default();
    for part in Part::ALL {
        let (shown, hint) = match part {
            Part::Events if args.no_events => continue,
            Part::Events => (true, "leave Events out with --no-events"),
            _ => {
                let shown = filter.kinds.is_empty()
                    || filter.kinds.iter().any(|k| Some(k.as_str()) == part.kind());
                (shown, "name the kinds you may read with --kind")
            }
        };
        for place in &places {
            match part.list_into(&client, *place, &mut objects).await {
                Ok(()) => {}
                Err(error) if error.is_forbidden() && !shown => {}
                Err(error) => {
                    let hint = error.is_forbidden().then_some(hint);
                    return Err(Unreadable { error, hint });
                }
            }
        }
    }
    Ok((objects, scope))
}

fn window_text(window: &Window) -> Option<String> {
    let time = |t: Option<DateTime<Utc>>| t.map_or("…".to_string(), render::time);
    (window.from.is_some() || window.to.is_some())
        .then(|| format!("{} to {}", time(window.from), time(window.to)))
}

impl ReportArgs {
    pub fn run(&self) -> ExitCode {
        let now = Utc::now();
        let filter = match self.filters.filter(now) {
            Ok(filter) => filter,
            Err(message) => {
                eprintln!("error: {message}");
                return ExitCode::from(USAGE);
            }
        };
        let paths = match files::chain_paths(&self.audit_files) {
            Ok(paths) => paths,
            Err(error @ PathsError::Twice(_)) => {
                eprintln!("error: --audit-file: {error}");
                return ExitCode::from(USAGE);
            }
            Err(error) => {
                eprintln!("error: --audit-file: {error}");
                return ExitCode::FAILURE;
            }
        };
        let read = match files::read(&paths) {
            Ok(read) => read,
            Err(message) => {
                eprintln!("error: {message}");
                return ExitCode::FAILURE;
            }
        };
        for warning in &read.warnings {
            eprintln!("warning: {warning}");
        }
        let mut scope = Vec::new();
        let mut records = read.records;
        if self.audit_files.is_empty() || self.cluster.any() {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(error) => {
                    eprintln!("error: cannot start the async runtime: {error}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(read_cluster(self, &filter)) {
                Ok((objects, namespaces)) => {
                    scope.push(("namespaces".to_string(), namespaces.describe()));
                    records.extend(objects::records(&objects, now));
                }
                Err(Unreadable { error, hint }) => {
                    match hint {
                        Some(hint) => eprintln!("error: {error} ({hint})"),
                        None => eprintln!("error: {error}"),
                    }
                    return ExitCode::FAILURE;
                }
            }
        }
        if !read.paths.is_empty() {
            scope.push(("audit files".to_string(), read.paths.join(", ")));
        }
        if let Some(window) = window_text(&filter.window) {
            scope.push(("window".to_string(), window));
        }
        if let Some(filters) = self.filters.describe() {
            scope.push(("filters".to_string(), filters));
        }
        scope.push(("generated".to_string(), render::time(now)));
        let (rows, summary) = build(records, &filter);
        let view = View {
            rows: (!self.summary).then_some(rows.as_slice()),
            summary: (!self.no_summary).then_some(&summary),
            scope: &scope,
        };
        print!("{}", render::render(self.output.into(), &view));
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::report::Origin;
    use crate::cli::Cli;
    use clap::Parser;

    fn report(args: &[&str]) -> Result<ReportArgs, clap::Error> {
        let mut argv = vec!["interdict", "audit"];
        argv.extend_from_slice(args);
        let cli = Cli::try_parse_from(argv)?;
        let crate::cli::Command::Audit(audit) = cli.command else {
            panic!("not the audit command");
        };
        Ok(audit.report_args().expect("a report").clone())
    }

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn the_report_is_the_default_verb_and_report_names_it_too() {
        let bare = report(&["-n", "apps", "--reason", "spam", "-o", "csv"]).unwrap();
        let named = report(&["report", "-n", "apps", "--reason", "spam", "-o", "csv"]).unwrap();
        for args in [bare, named] {
            assert_eq!(args.cluster.namespaces, ["apps"]);
            assert_eq!(args.filters.reasons, ["spam"]);
            assert_eq!(args.output, ReportFormat::Csv);
        }
        assert_eq!(report(&[]).unwrap().output, ReportFormat::Table);
    }

    #[test]
    fn filters_read_as_a_reviewer_writes_them() {
        let args = report(&[
            "-A",
            "--since",
            "7d",
            "--to",
            "2026-11-21T00:00:00Z",
            "--kind",
            "ub",
            "--kind",
            "BanAppeals",
            "--outcome",
            "lifted",
            "--email",
            "Alice+x@Example.org",
            "--ip",
            "10.1.2.3/8",
            "--manual",
            "--actor",
            "ann",
        ])
        .unwrap();
        let filter = args.filters.filter(at("2026-11-20T00:00:00Z")).unwrap();
        assert_eq!(filter.window.from, Some(at("2026-11-13T00:00:00Z")));
        assert_eq!(filter.window.to, Some(at("2026-11-21T00:00:00Z")));
        assert_eq!(filter.kinds, ["UserBan", "BanAppeal"]);
        assert_eq!(filter.outcomes, ["Lifted"]);
        assert_eq!(filter.origin, Some(Origin::Manual));
        assert_eq!(filter.actors, ["ann"]);
        let subjects: Vec<String> = filter.subjects.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            subjects,
            [
                "email:sha256:7a64adf28737ea90719cbdf0b1a87a5effff3753b79c91d717f4f4153ead0498",
                "ip:10.0.0.0/8"
            ]
        );
        assert!(args.cluster.all_namespaces);
        assert_eq!(
            args.filters.describe().unwrap(),
            "actor ann; subject email:sha256:7a64adf28737ea90719cbdf0b1a87a5effff3753b79c91d717f4f4153ead0498, \
             ip:10.0.0.0/8; kind UserBan, BanAppeal; outcome Lifted; manual"
        );
        assert_eq!(report(&[]).unwrap().filters.describe(), None);
    }

    #[test]
    fn wrong_arguments_name_the_flag_and_exit_2() {
        for (args, flag) in [
            (vec!["--since", "7x"], "--since"),
            (vec!["--from", "yesterday"], "--from"),
            (vec!["--kind", "Pod"], "--kind"),
            (vec!["--outcome", "Gone"], "--outcome"),
            (vec!["--ip", "300.1.1.1"], "--ip"),
            (vec!["--subject", "phone:1"], "--subject"),
            (vec!["--automatic", "--manual"], "--manual"),
            (vec!["-A", "-n", "apps"], "--namespace"),
            (vec!["--summary", "--no-summary"], "--summary"),
            (vec!["-o", "yaml"], "--output"),
            (
                vec!["--since", "1d", "--from", "2026-11-01T00:00:00Z"],
                "--since",
            ),
        ] {
            let error = report(&args).unwrap_err();
            assert_eq!(error.exit_code(), 2, "{args:?}");
            assert!(error.to_string().contains(flag), "{args:?}: {error}");
        }
        let late = report(&[
            "--from",
            "2026-11-02T00:00:00Z",
            "--to",
            "2026-11-01T00:00:00Z",
        ])
        .unwrap();
        assert_eq!(
            late.filters.filter(Utc::now()).unwrap_err(),
            "--from must start before --to"
        );
    }

    #[test]
    fn the_window_is_said_in_the_scope() {
        let window = Window {
            from: Some(at("2026-11-01T00:00:00Z")),
            to: None,
        };
        assert_eq!(window_text(&window).unwrap(), "2026-11-01T00:00:00Z to …");
        assert_eq!(window_text(&Window::default()), None);
    }
}
