//! `export`: bans written back in the import format (CSV or JSON lines), by
//! batch or selector. Ended and lifted bans are left out unless asked for:
//! imported again, their windows would start over.

use clap::Args;

use super::bans::{self, Where};
use super::error::{PluginError, Result};
use super::manifest::BATCH_LABEL;
use super::naming::check_batch;
use super::output::{self, OutputFormat};
use super::rows;
use super::session::{GlobalArgs, Session};
use super::view::AnyBan;
use crate::api::BanKind;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum KindArg {
    #[value(alias = "ub", alias = "userbans")]
    Userban,
    #[value(alias = "fb", alias = "featureblocks")]
    Featureblock,
}

#[derive(Args, Debug, Clone)]
pub struct ExportArgs {
    /// Only the objects of this import batch.
    #[arg(long, value_name = "ID")]
    pub batch: Option<String>,

    /// Only objects with these labels (as kubectl -l).
    #[arg(short = 'l', long = "selector", value_name = "LABELS")]
    pub selector: Option<String>,

    /// Only objects matching these fields (as kubectl --field-selector),
    /// e.g. spec.reason.code=spam.
    #[arg(long, value_name = "FIELDS")]
    pub field_selector: Option<String>,

    /// Only this kind (userban or featureblock).
    #[arg(long, value_enum, value_name = "KIND")]
    pub kind: Option<KindArg>,

    /// Also export expired and lifted bans.
    #[arg(long)]
    pub include_ended: bool,
}

/// Whether an export without --include-ended keeps `ban`.
pub fn in_force(ban: &AnyBan) -> bool {
    ban.is_liftable()
}

pub async fn run(global: &GlobalArgs, args: &ExportArgs) -> Result<()> {
    use OutputFormat::*;
    let format = output::choose(global.output, &[Csv, Jsonl], "export")?;
    let mut labels = Vec::new();
    if let Some(batch) = &args.batch {
        check_batch(batch).map_err(PluginError::usage)?;
        labels.push(format!("{BATCH_LABEL}={batch}"));
    }
    labels.extend(args.selector.clone());
    let labels = (!labels.is_empty()).then(|| labels.join(","));
    let kind = args.kind.map(|k| match k {
        KindArg::Userban => BanKind::UserBan,
        KindArg::Featureblock => BanKind::FeatureBlock,
    });
    let session = Session::connect(global).await?;
    let found = bans::list_bans(
        &session.client,
        &Where::Namespace(session.namespace.clone()),
        &bans::kinds(kind),
        args.field_selector.as_deref(),
        labels.as_deref(),
    )
    .await?;
    let kept: Vec<_> = found
        .iter()
        .filter(|b| args.include_ended || in_force(b))
        .map(rows::row_of)
        .collect();
    match format {
        Jsonl => print!("{}", rows::to_jsonl(&kept)),
        _ => print!("{}", rows::to_csv(&kept)),
    }
    eprintln!(
        "exported {} of {} in namespace {}{}",
        kept.len(),
        found.len(),
        session.namespace,
        if args.include_ended || kept.len() == found.len() {
            ""
        } else {
            " (ended ones left out; --include-ended adds them)"
        }
    );
    Ok(())
}
