//! `import FILE`: many bans at once from CSV or JSON lines. The whole file
//! is checked before anything is written; every object is labelled with the
//! batch id (`interdict.dev/batch`) and created, or brought to its row by
//! server-side apply when it exists, so the same file imported again changes
//! nothing, and `undo --batch` can lift it.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;

use chrono::Utc;
use clap::Args;
use futures::StreamExt;

use super::bans::{self, DryRun};
use super::error::{PluginError, Result};
use super::manifest::{BanRequest, Manifest};
use super::naming::{check_batch, generated_batch};
use super::output::{self, OutputFormat};
use super::progress::Progress;
use super::rows::{self, FileFormat, RowError};
use super::session::{GlobalArgs, Session};

#[derive(Args, Debug, Clone)]
pub struct ImportArgs {
    /// The file: CSV with a header, or JSON lines; - reads standard input.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// The file's format, when its name does not say (.csv, .jsonl).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<FileFormat>,

    /// The batch id to label every object with. Default: derived from the
    /// file's bans (import-<hash>), so a re-run uses the same one.
    #[arg(long, value_name = "ID")]
    pub batch: Option<String>,

    /// Import the good rows even when some are bad (the bad ones are listed).
    /// Without it, one bad row means nothing is written.
    #[arg(long)]
    pub skip_invalid: bool,

    /// Print the manifests and send nothing (--dry-run), or have the API
    /// server check them without storing them (--dry-run=server).
    #[arg(
        long,
        value_enum,
        value_name = "MODE",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "client",
        default_value = "none"
    )]
    pub dry_run: DryRun,

    /// Writes in flight at once: enough to hide round trips; the API
    /// server's priority and fairness settings still pace them.
    #[arg(long, value_name = "N", default_value_t = 8,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,

    /// Show progress (count, rate, time left) on standard error: auto (when
    /// it is a terminal), always, or never.
    #[arg(long, value_enum, value_name = "WHEN", default_value = "auto")]
    pub progress: ProgressWhen,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressWhen {
    Auto,
    Always,
    Never,
}

fn read(file: &PathBuf) -> Result<String> {
    let mut text = String::new();
    if file.as_os_str() == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| PluginError::failed(format!("cannot read standard input: {e}")))?;
    } else {
        text = std::fs::read_to_string(file)
            .map_err(|e| PluginError::failed(format!("cannot read {}: {e}", file.display())))?;
    }
    Ok(text)
}

/// The requests of the good rows (with their lines) and the bad rows skipped.
pub type Plan = (Vec<(usize, BanRequest)>, Vec<RowError>);

/// The file checked whole: its requests, or every problem.
pub fn plan(
    file_name: &str,
    text: &str,
    format: Option<FileFormat>,
    skip_invalid: bool,
    now: chrono::DateTime<Utc>,
) -> std::result::Result<Plan, Vec<RowError>> {
    let format = format.unwrap_or_else(|| rows::detect(file_name, text));
    let parsed = rows::parse(format, text)?;
    let (good, errors) = super::row_checks::validate(&parsed, now);
    if good.is_empty() && errors.is_empty() {
        return Err(vec![RowError {
            line: 1,
            column: String::new(),
            message: "the file holds no bans".into(),
        }]);
    }
    if !errors.is_empty() && (!skip_invalid || good.is_empty()) {
        return Err(errors);
    }
    Ok((good, errors))
}

/// The batch id of `requests` when none is given: a hash of their manifests.
pub fn batch_of(requests: &[(usize, BanRequest)]) -> String {
    let manifests: Vec<Manifest> = requests.iter().map(|(_, r)| r.manifest(None)).collect();
    generated_batch(&serde_json::to_string(&manifests).expect("manifests serialise"))
}

fn report(errors: &[RowError], prefix: &str) {
    for error in errors {
        eprintln!("{prefix}{error}");
    }
}

pub async fn run(global: &GlobalArgs, args: &ImportArgs) -> Result<()> {
    use OutputFormat::*;
    let format = if args.dry_run == DryRun::Client {
        output::choose(global.output, &[Yaml, Json], "import --dry-run")?
    } else {
        output::choose(global.output, &[Table], "import")?
    };
    let text = read(&args.file)?;
    let file_name = args.file.to_string_lossy();
    let (mut requests, skipped) = match plan(
        &file_name,
        &text,
        args.format,
        args.skip_invalid,
        Utc::now(),
    ) {
        Ok(planned) => planned,
        Err(errors) => {
            report(&errors, "error: ");
            return Err(PluginError::usage(format!(
                "nothing imported: {} problem{} in {file_name}",
                errors.len(),
                if errors.len() == 1 { "" } else { "s" }
            )));
        }
    };
    report(&skipped, "skipped: ");
    let batch = match &args.batch {
        Some(batch) => {
            check_batch(batch).map_err(PluginError::usage)?;
            batch.clone()
        }
        None => batch_of(&requests),
    };
    for (_, request) in &mut requests {
        request.batch = Some(batch.clone());
    }
    if args.dry_run == DryRun::Client {
        let namespace = match &global.namespace {
            Some(ns) => Some(ns.clone()),
            None => Session::connect(global).await.ok().map(|s| s.namespace),
        };
        let manifests: Vec<Manifest> = requests
            .iter()
            .map(|(_, r)| r.manifest(namespace.as_deref()))
            .collect();
        if format == Json {
            print!("{}", output::serialise(&manifests, format));
        } else {
            for manifest in &manifests {
                print!("---\n{}", manifest.to_yaml());
            }
        }
        eprintln!(
            "batch {batch}: {} bans (dry run, nothing sent)",
            manifests.len()
        );
        return Ok(());
    }
    let session = Session::connect(global).await?;
    let total = requests.len();
    let mut progress = Progress::new(
        total,
        match args.progress {
            ProgressWhen::Auto => std::io::stderr().is_terminal(),
            ProgressWhen::Always => true,
            ProgressWhen::Never => false,
        },
    );
    let writes = futures::stream::iter(requests.iter().map(|(line, request)| {
        let manifest = request.manifest(Some(&session.namespace));
        let session = &session;
        async move {
            let result =
                bans::create_or_apply(&session.client, &session.namespace, &manifest, args.dry_run)
                    .await;
            (*line, manifest, result)
        }
    }))
    .buffer_unordered(usize::from(args.concurrency));
    futures::pin_mut!(writes);
    let mut failures = Vec::new();
    while let Some((line, manifest, result)) = writes.next().await {
        if let Err(error) = result {
            failures.push(format!("line {line} ({}): {error}", manifest.reference()));
        }
        progress.one_done();
    }
    progress.finish();
    for failure in &failures {
        eprintln!("error: {failure}");
    }
    let note = if args.dry_run == DryRun::Server {
        " (server dry run)"
    } else {
        ""
    };
    println!(
        "batch {batch}: applied {} of {total} in namespace {}{note}",
        total - failures.len(),
        session.namespace
    );
    if !failures.is_empty() {
        return Err(PluginError::failed(format!(
            "{} of {total} could not be written; run the import again to retry them",
            failures.len()
        )));
    }
    if !skipped.is_empty() {
        eprintln!("{} invalid rows skipped", skipped.len());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::timing::parse_time;

    fn now() -> chrono::DateTime<Utc> {
        parse_time("2026-11-21T10:00:00Z").unwrap()
    }

    const FILE: &str = "user,reason,duration\n1,spam,7d\n2,spam,7x\n3,abuse,\n";

    #[test]
    fn one_bad_row_stops_the_import_unless_skipped() {
        let errors = plan("bans.csv", FILE, None, false, now()).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!((errors[0].line, errors[0].column.as_str()), (3, "duration"));
        let (good, skipped) = plan("bans.csv", FILE, None, true, now()).unwrap();
        assert_eq!(good.len(), 2);
        assert_eq!(skipped.len(), 1);
        assert!(plan("bans.csv", "user,reason\n", None, true, now()).is_err());
        assert!(plan("bans.csv", "user,reason\n1,Bad\n", None, true, now()).is_err());
    }

    #[test]
    fn the_batch_follows_the_content() {
        let (good, _) = plan("bans.csv", FILE, None, true, now()).unwrap();
        let again = plan("other-name.csv", FILE, None, true, now()).unwrap().0;
        assert_eq!(batch_of(&good), batch_of(&again));
        let changed = plan("bans.csv", "user,reason\n1,spam\n", None, true, now())
            .unwrap()
            .0;
        assert_ne!(batch_of(&good), batch_of(&changed));
        assert!(batch_of(&good).starts_with("import-"));
    }
}
