//! `ban`, `silence` and `block`: one new UserBan (Suspend or Silence) or
//! FeatureBlock from flags. `--dry-run` prints the manifest as YAML for a
//! GitOps repository and sends nothing; `--dry-run=server` has the API server
//! check and admit it without storing it.

use chrono::{DateTime, Utc};
use clap::{ArgGroup, Args};

use super::bans::{self, DryRun};
use super::error::{PluginError, Result};
use super::manifest::{BanRequest, Manifest, parse_scope};
use super::output::{self, OutputFormat};
use super::session::{GlobalArgs, Session};
use super::subject::SubjectArgs;
use super::timing::TimingArgs;
use crate::api::{Appeal, BanKind, BanMode, Scope};

/// What `ban`, `silence` and `block` share.
#[derive(Args, Debug, Clone)]
#[command(group(ArgGroup::new("who").required(true).args(["user", "username", "email", "ip", "key"])))]
pub struct BanArgs {
    #[command(flatten)]
    pub subject: SubjectArgs,

    #[command(flatten)]
    pub timing: TimingArgs,

    /// When it starts, if later: an RFC 3339 time or a date. Default: at once.
    #[arg(long, value_name = "TIME")]
    pub starts: Option<String>,

    /// Reason code, a lowercase token: spam, abuse, fraud, brute-force, ...
    #[arg(long, value_name = "CODE")]
    pub reason: String,

    /// Notes for moderators (never shown to the subject or published).
    #[arg(long, value_name = "TEXT")]
    pub notes: Option<String>,

    /// The text the application shows the subject (one line).
    #[arg(long, value_name = "TEXT")]
    pub message: Option<String>,

    /// The subject may appeal.
    #[arg(long)]
    pub appealable: bool,

    /// How to appeal, shown to the subject.
    #[arg(long, value_name = "TEXT", requires = "appealable")]
    pub appeal_instructions: Option<String>,

    /// The object's name. Default: derived from reason and subject, e.g.
    /// spam-user-123 (the same command gives the same name).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// Confirm an --ip range wider than /8 (IPv4) or /32 (IPv6).
    #[arg(long)]
    pub acknowledge_wide_range: bool,

    /// Print the manifest and send nothing (--dry-run), or have the API server
    /// check it without storing it (--dry-run=server).
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

/// `block`: the shared flags plus what is blocked and where.
#[derive(Args, Debug, Clone)]
pub struct BlockArgs {
    #[command(flatten)]
    pub ban: BanArgs,

    /// A feature to take away (repeatable, or comma-separated); * for all.
    #[arg(
        long = "feature",
        value_name = "FEATURE",
        required = true,
        value_delimiter = ','
    )]
    pub features: Vec<String>,

    /// Only in this context, e.g. academy=downtown-miami (repeatable).
    /// Default: everywhere.
    #[arg(long = "scope", value_name = "KIND=NAME", value_parser = parse_scope)]
    pub scopes: Vec<Scope>,
}

impl BanArgs {
    /// The checked request; every problem is a usage error naming its flag.
    pub fn request(&self, kind: BanKind, mode: BanMode, now: DateTime<Utc>) -> Result<BanRequest> {
        let subject = self.subject.required().map_err(PluginError::usage)?;
        let timing = self
            .timing
            .timing(self.starts.as_deref(), now)
            .map_err(PluginError::usage)?;
        let mut request = BanRequest::new(kind, subject, &self.reason);
        request.mode = mode;
        request.timing = timing;
        request.acknowledge_wide_range = self.acknowledge_wide_range;
        request.notes = self.notes.clone();
        request.message = self.message.clone();
        request.appeal = self.appealable.then(|| Appeal {
            allowed: true,
            instructions: self.appeal_instructions.clone(),
        });
        request.name = self.name.clone();
        Ok(request)
    }
}

/// Checks the request as the API server would, naming the flag at fault.
pub fn checked(request: BanRequest) -> Result<BanRequest> {
    request.check().map_err(|e| {
        let flag = match e.field {
            "features" => "--feature",
            "scopes" => "--scope",
            "appeal_instructions" => "--appeal-instructions",
            "ip" => "--ip",
            other => return PluginError::usage(format!("--{other}: {}", e.message)),
        };
        PluginError::usage(format!("{flag}: {}", e.message))
    })?;
    Ok(request)
}

pub async fn run_ban(global: &GlobalArgs, args: &BanArgs, mode: BanMode) -> Result<()> {
    let request = checked(args.request(BanKind::UserBan, mode, Utc::now())?)?;
    write(global, &request, args.dry_run, "ban").await
}

pub async fn run_block(global: &GlobalArgs, args: &BlockArgs) -> Result<()> {
    let mut request = args
        .ban
        .request(BanKind::FeatureBlock, BanMode::Suspend, Utc::now())?;
    request.features = args.features.clone();
    request.scopes = args.scopes.clone();
    let request = checked(request)?;
    write(global, &request, args.ban.dry_run, "block").await
}

async fn write(
    global: &GlobalArgs,
    request: &BanRequest,
    dry_run: DryRun,
    verb: &str,
) -> Result<()> {
    use OutputFormat::*;
    if dry_run == DryRun::Client {
        let format = output::choose(global.output, &[Yaml, Json], verb)?;
        // The namespace the write would go to, when one is known without a cluster.
        let namespace = match &global.namespace {
            Some(ns) => Some(ns.clone()),
            None => Session::connect(global).await.ok().map(|s| s.namespace),
        };
        let manifest = request.manifest(namespace.as_deref());
        print!("{}", output::serialise(&manifest, format));
        return Ok(());
    }
    let format = output::choose(global.output, &[Table, Json, Yaml], verb)?;
    let session = Session::connect(global).await?;
    let manifest: Manifest = request.manifest(Some(&session.namespace));
    let stored = bans::create(&session.client, &session.namespace, &manifest, dry_run).await?;
    match format {
        Table => println!(
            "{} created{}",
            manifest.reference(),
            if dry_run == DryRun::Server {
                " (server dry run)"
            } else {
                ""
            }
        ),
        other => print!("{}", output::serialise(&stored, other)),
    }
    Ok(())
}
