//! `undo --batch ID`: lifts, never deletes, everything one import created, so
//! the record of what was imported and undone stays. Counts what was lifted,
//! what had ended already and what failed.

use clap::Args;

use super::bans::{self, DryRun, Where};
use super::error::{PluginError, Result};
use super::lift::lift_of;
use super::manifest::{BATCH_LABEL, resource_name};
use super::naming::check_batch;
use super::session::{GlobalArgs, Session};

#[derive(Args, Debug, Clone)]
pub struct UndoArgs {
    /// The batch id `import` printed (the interdict.dev/batch label).
    #[arg(long, value_name = "ID")]
    pub batch: String,

    /// Who undoes it, recorded in spec.lift.by. Default: the kubeconfig user.
    #[arg(long, value_name = "NAME")]
    pub by: Option<String>,

    /// Undo the batch in every namespace.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,

    /// List what would be lifted (--dry-run), or have the API server check
    /// the lifts without storing them (--dry-run=server).
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
}

/// What an undo did, for the summary line.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct UndoCounts {
    pub lifted: usize,
    pub ended_already: usize,
    pub failed: usize,
}

impl UndoCounts {
    pub fn summary(&self, batch: &str, dry_run: DryRun) -> String {
        let verb = match dry_run {
            DryRun::Client => "would lift",
            DryRun::Server => "lifted (server dry run)",
            DryRun::None => "lifted",
        };
        format!(
            "batch {batch}: {verb} {}, already ended {}, failed {} (of {})",
            self.lifted,
            self.ended_already,
            self.failed,
            self.lifted + self.ended_already + self.failed
        )
    }
}

pub async fn run(global: &GlobalArgs, args: &UndoArgs) -> Result<()> {
    check_batch(&args.batch).map_err(PluginError::usage)?;
    let session = Session::connect(global).await?;
    let lift = lift_of(
        &format!("undo batch {}", args.batch),
        session.actor(args.by.as_deref(), "--by")?,
    )?;
    let place = Where::of(&session.namespace, args.all_namespaces);
    let selector = format!("{BATCH_LABEL}={}", args.batch);
    let batch = bans::list_bans(
        &session.client,
        &place,
        &bans::kinds(None),
        None,
        Some(&selector),
    )
    .await?;
    if batch.is_empty() {
        return Err(PluginError::failed(format!(
            "nothing labelled {selector} {}",
            place.describe()
        )));
    }
    let mut counts = UndoCounts::default();
    for ban in &batch {
        if !ban.is_liftable() {
            counts.ended_already += 1;
            continue;
        }
        if args.dry_run == DryRun::Client {
            counts.lifted += 1;
            continue;
        }
        match bans::lift(&session.client, ban, &lift, args.dry_run).await {
            Ok(_) => counts.lifted += 1,
            Err(error) => {
                counts.failed += 1;
                eprintln!(
                    "error: {}/{} (namespace {}): {error}",
                    resource_name(ban.kind()),
                    ban.name(),
                    ban.namespace()
                );
            }
        }
    }
    println!("{}", counts.summary(&args.batch, args.dry_run));
    if counts.failed > 0 {
        return Err(PluginError::failed(format!(
            "{} of batch {} could not be lifted",
            counts.failed, args.batch
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_counts_everything_in_the_batch() {
        let counts = UndoCounts {
            lifted: 3,
            ended_already: 1,
            failed: 0,
        };
        assert_eq!(
            counts.summary("b1", DryRun::None),
            "batch b1: lifted 3, already ended 1, failed 0 (of 4)"
        );
        assert!(
            counts
                .summary("b1", DryRun::Client)
                .contains("would lift 3")
        );
    }
}
