//! `lift` (alias `unban`): ends bans early with `spec.lift {by, reason}`,
//! keeping the objects as the record. By name, or every ban and block of a
//! subject still in force or scheduled (found with field selectors), in the
//! namespace or with `-A` in all of them.

use clap::{ArgGroup, Args};

use super::bans::{self, DryRun, Where};
use super::checks::{check_line, check_text};
use super::error::{PluginError, Result};
use super::manifest::resource_name;
use super::output::{self, OutputFormat};
use super::session::{GlobalArgs, Session};
use super::subject::SubjectArgs;
use super::view::AnyBan;
use crate::api::Lift;

#[derive(Args, Debug, Clone)]
#[command(group(ArgGroup::new("target").required(true).args(["names", "user", "username", "email", "ip", "key"])))]
pub struct LiftArgs {
    /// Bans to lift by name: NAME, ub/NAME or fb/NAME.
    #[arg(value_name = "NAME", conflicts_with_all = ["user", "username", "email", "ip", "key", "all_namespaces"])]
    pub names: Vec<String>,

    #[command(flatten)]
    pub subject: SubjectArgs,

    /// Why the ban ends early (recorded in spec.lift.reason).
    #[arg(long, value_name = "TEXT")]
    pub reason: String,

    /// Who lifts it, recorded in spec.lift.by. Default: the kubeconfig
    /// context's user. The API server records the authenticated user itself.
    #[arg(long, value_name = "NAME")]
    pub by: Option<String>,

    /// With a subject: lift its bans in every namespace.
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

/// `spec.lift`, checked as the API server checks it.
pub fn lift_of(reason: &str, by: String) -> Result<Lift> {
    if reason.trim().is_empty() {
        return Err(PluginError::usage("--reason must not be empty"));
    }
    check_text(reason, 1024).map_err(|e| PluginError::usage(format!("--reason {e}")))?;
    if by.is_empty() {
        return Err(PluginError::usage("--by must not be empty"));
    }
    check_line(&by, 253).map_err(|e| PluginError::usage(format!("--by {e}")))?;
    Ok(Lift {
        reason: reason.to_string(),
        by: Some(by),
    })
}

pub async fn run(global: &GlobalArgs, args: &LiftArgs) -> Result<()> {
    use OutputFormat::*;
    let format = output::choose(global.output, &[Table, Json, Yaml], "lift")?;
    let subject = args.subject.subject().map_err(PluginError::usage)?;
    let session = Session::connect(global).await?;
    let lift = lift_of(&args.reason, session.actor(args.by.as_deref(), "--by")?)?;
    let mut targets: Vec<AnyBan> = Vec::new();
    if let Some(subject) = &subject {
        let place = Where::of(&session.namespace, args.all_namespaces);
        let found = bans::bans_of(
            &session.client,
            &place,
            subject,
            args.subject.ip.as_deref(),
            global.lookup,
        )
        .await?;
        targets.extend(found.into_iter().filter(AnyBan::is_liftable));
        if targets.is_empty() {
            return Err(PluginError::failed(format!(
                "nothing to lift: {} has no ban or block in force or scheduled {}",
                subject.display(),
                place.describe()
            )));
        }
    } else {
        for name in &args.names {
            let ban = bans::get_named(&session.client, &session.namespace, name).await?;
            if ban.is_liftable() {
                targets.push(ban);
            } else {
                eprintln!(
                    "{}/{} has ended already ({}); left as it is",
                    resource_name(ban.kind()),
                    ban.name(),
                    ban.phase().map_or("lift requested", |p| p.as_str())
                );
            }
        }
    }
    let mut lifted = Vec::new();
    for ban in &targets {
        let reference = format!("{}/{}", resource_name(ban.kind()), ban.name());
        if args.dry_run == DryRun::Client {
            println!(
                "{reference} would be lifted (namespace {})",
                ban.namespace()
            );
            continue;
        }
        let stored = bans::lift(&session.client, ban, &lift, args.dry_run).await?;
        if format == Table {
            let note = if args.dry_run == DryRun::Server {
                " (server dry run)"
            } else {
                ""
            };
            println!("{reference} lifted{note} (namespace {})", ban.namespace());
        }
        lifted.push(stored);
    }
    if format != Table && args.dry_run != DryRun::Client {
        print!("{}", output::serialise(&lifted, format));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifts_are_checked_like_the_crd() {
        let lift = lift_of("Mistaken identity\nsee ticket", "ann".into()).unwrap();
        assert_eq!(lift.by.as_deref(), Some("ann"));
        assert!(lift_of(" ", "ann".into()).is_err());
        assert!(lift_of(&"x".repeat(1025), "ann".into()).is_err());
        assert!(lift_of("ok", "a\nb".into()).is_err());
        assert!(lift_of("ok", String::new()).is_err());
    }
}
