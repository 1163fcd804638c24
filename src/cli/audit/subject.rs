//! `interdict audit subject (--user ID | --username N | --email ADDRESS |
//! --ip IP | --key FP)`: everything held about one subject, for a
//! data-subject access request. Searches every namespace the caller may read
//! unless told which; what it may not read is listed in the answer, never
//! skipped in silence.

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::Utc;
use clap::{ArgGroup, Args, ValueEnum};
use kube::Client;

use super::cluster::{self, ClusterArgs, ClusterError, Part, connect};
use super::files::{self, PathsError};
use crate::audit::report::Identifier;
use crate::audit::report::render::subject as render;
use crate::audit::report::subject::{Inputs, NotSearched, Requested, Searched, build};

const AFTER_HELP: &str = "\
Finds, in every namespace the caller may read (or those given with -n): \
UserBans and FeatureBlocks on the subject, current and ended, with their \
reasons, moderators' notes, messages and notifications, and bans whose \
spec.contact.email is the address; their appeals (statements, decisions); \
exemptions; the Events of all of these; the audit-file lines that name the \
subject or one of these objects (with --audit-file); and the items of the \
blocklist ConfigMaps (interdict-blocklist*, label \
app.kubernetes.io/managed-by=interdict) that publish the subject.

An email address is hashed as the blocklist hashes it (trimmed, lower-cased, \
+tag dropped) and shown only as given here, beside its sha256: hash: no \
address read from the cluster is printed. An IP finds bans on every \
overlapping address or range.

A namespace or kind the caller may not read is listed under \"Not searched\" \
(notSearched in JSON). When nothing matches, the answer says \"Nothing held\" \
(nothingHeld: true) and the exit status is 0. Exit status 1: the cluster or a \
file cannot be read; 2: wrong arguments.";

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubjectFormat {
    /// A document for the person answering the request.
    Markdown,
    Json,
}

/// The one identifier asked about, as given.
#[derive(Args, Debug, Clone, Default)]
#[command(group(ArgGroup::new("identifier").required(true).multiple(false)))]
pub struct Who {
    /// The application's user id.
    #[arg(long = "user", value_name = "ID", group = "identifier")]
    pub user: Option<String>,

    /// A username.
    #[arg(long, value_name = "NAME", group = "identifier")]
    pub username: Option<String>,

    /// An email address as the requester typed it (or its sha256:HEX).
    #[arg(long, value_name = "ADDRESS", group = "identifier")]
    pub email: Option<String>,

    /// An IP address or CIDR.
    #[arg(long, value_name = "IP", group = "identifier")]
    pub ip: Option<String>,

    /// A signing-key fingerprint.
    #[arg(long = "key", value_name = "FP", group = "identifier")]
    pub key: Option<String>,
}

impl Who {
    /// The subject asked about; an error names the flag.
    pub fn requested(&self) -> Result<Requested, String> {
        let (flag, value, make): (&str, &String, fn(&str) -> _) = if let Some(v) = &self.user {
            ("--user", v, Identifier::user_id)
        } else if let Some(v) = &self.username {
            ("--username", v, Identifier::username)
        } else if let Some(v) = &self.email {
            ("--email", v, Identifier::email)
        } else if let Some(v) = &self.ip {
            ("--ip", v, Identifier::ip)
        } else if let Some(v) = &self.key {
            ("--key", v, Identifier::key_fingerprint)
        } else {
            return Err("name the subject with --user, --username, --email, --ip or --key".into());
        };
        make(value)
            .map(|identifier| Requested::new(identifier, value))
            .map_err(|e| format!("{flag}: {e}"))
    }
}

#[derive(Args, Debug, Clone)]
#[command(after_long_help = AFTER_HELP)]
pub struct SubjectArgs {
    #[command(flatten)]
    pub who: Who,

    #[command(flatten)]
    pub cluster: ClusterArgs,

    /// Audit files to search too (a rotation set in any order, or its directory).
    #[arg(long = "audit-file", value_name = "FILE", num_args = 1..)]
    pub audit_files: Vec<PathBuf>,

    /// The operator's --blocklist-name: ConfigMaps whose name starts with it are searched.
    #[arg(long, default_value = "interdict-blocklist", value_name = "NAME")]
    pub blocklist_name: String,

    /// Output format: markdown (a document) or json.
    #[arg(short = 'o', long = "output", value_name = "FORMAT", value_enum, default_value_t = SubjectFormat::Markdown)]
    pub output: SubjectFormat,
}

/// What the search reads, besides the audit files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wanted {
    Part(Part),
    Blocklists,
}

const WANTED: [Wanted; 6] = [
    Wanted::Part(Part::UserBans),
    Wanted::Part(Part::FeatureBlocks),
    Wanted::Part(Part::BanAppeals),
    Wanted::Part(Part::BanExemptions),
    Wanted::Part(Part::Events),
    Wanted::Blocklists,
];

async fn list_one(
    client: &Client,
    wanted: Wanted,
    namespace: Option<&str>,
    blocklist_name: &str,
    inputs: &mut Inputs,
) -> Result<(), ClusterError> {
    match wanted {
        Wanted::Part(part) => part.list_into(client, namespace, &mut inputs.objects).await,
        Wanted::Blocklists => {
            let found = cluster::blocklists(client, namespace, blocklist_name).await?;
            inputs.blocklists.extend(found);
            Ok(())
        }
    }
}

/// Lists what the subject report needs. Each kind is listed everywhere at
/// once when allowed, else namespace by namespace; a refusal becomes a
/// "not searched" line, any other failure ends the search.
async fn search(args: &SubjectArgs) -> Result<(Inputs, Searched), ClusterError> {
    let (client, default_namespace) = connect(&args.cluster).await?;
    let mut inputs = Inputs::default();
    let mut searched = Searched::default();
    let explicit = (!args.cluster.namespaces.is_empty()).then(|| {
        let mut namespaces = args.cluster.namespaces.clone();
        namespaces.sort();
        namespaces.dedup();
        namespaces
    });
    // Namespace by namespace only once a cluster-wide list was refused.
    let mut each: Option<Vec<String>> = explicit.clone();
    let mut everywhere = explicit.is_none();
    for wanted in WANTED {
        if explicit.is_none() {
            match list_one(&client, wanted, None, &args.blocklist_name, &mut inputs).await {
                Ok(()) => continue,
                Err(error) if error.is_forbidden() => everywhere = false,
                Err(error) => return Err(error),
            }
        }
        if each.is_none() {
            each = Some(match cluster::namespaces(&client).await {
                Ok(names) => names,
                Err(error) if error.is_forbidden() => {
                    searched.not_searched.push(NotSearched {
                        namespace: "*".into(),
                        why: format!(
                            "{error}, so only namespace {default_namespace} was searched where \
                             a cluster-wide list was refused"
                        ),
                    });
                    vec![default_namespace.clone()]
                }
                Err(error) => return Err(error),
            });
        }
        for namespace in each.iter().flatten() {
            match list_one(
                &client,
                wanted,
                Some(namespace),
                &args.blocklist_name,
                &mut inputs,
            )
            .await
            {
                Ok(()) => {}
                Err(error) if error.is_forbidden() => searched.not_searched.push(NotSearched {
                    namespace: namespace.clone(),
                    why: error.to_string(),
                }),
                Err(error) => return Err(error),
            }
        }
    }
    searched.namespaces = match (everywhere, each) {
        (true, _) => vec!["*".into()],
        (false, Some(namespaces)) => namespaces,
        (false, None) => vec![],
    };
    Ok((inputs, searched))
}

const USAGE: u8 = 2;

impl SubjectArgs {
    pub fn run(&self) -> ExitCode {
        let now = Utc::now();
        let requested = match self.who.requested() {
            Ok(requested) => requested,
            Err(message) => {
                eprintln!("error: {message}");
                return ExitCode::from(USAGE);
            }
        };
        let paths = match files::chain_paths(&self.audit_files) {
            Ok(paths) => paths,
            Err(error) => {
                eprintln!("error: --audit-file: {error}");
                let usage = matches!(error, PathsError::Twice(_));
                return if usage {
                    ExitCode::from(USAGE)
                } else {
                    ExitCode::FAILURE
                };
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
        let (mut inputs, mut searched) = (Inputs::default(), Searched::default());
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
            match runtime.block_on(search(self)) {
                Ok(found) => (inputs, searched) = found,
                Err(error) => {
                    eprintln!("error: {error}");
                    return ExitCode::FAILURE;
                }
            }
        }
        for gap in &searched.not_searched {
            eprintln!("warning: not searched: {}: {}", gap.namespace, gap.why);
        }
        inputs.audit_lines = read.lines;
        searched.audit_files = read.paths;
        let report = build(requested, &inputs, searched, now);
        let text = match self.output {
            SubjectFormat::Markdown => render::markdown(&report),
            SubjectFormat::Json => render::json(&report),
        };
        print!("{text}");
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn parse(args: &[&str]) -> Result<SubjectArgs, clap::Error> {
        let mut argv = vec!["interdict", "audit", "subject"];
        argv.extend_from_slice(args);
        let Command::Audit(audit) = Cli::try_parse_from(argv)?.command else {
            panic!("not the audit command");
        };
        match audit.command {
            Some(super::super::AuditCommand::Subject(args)) => Ok(args),
            other => panic!("not the subject verb: {other:?}"),
        }
    }

    #[test]
    fn exactly_one_identifier_is_asked_for() {
        let args = parse(&["--email", "Typed@Address.example", "-o", "json"]).unwrap();
        let requested = args.who.requested().unwrap();
        assert_eq!(requested.as_given, "Typed@Address.example");
        assert_eq!(requested.kind, "email");
        assert!(requested.published.starts_with("email:sha256:"));
        assert_eq!(args.output, SubjectFormat::Json);
        assert_eq!(
            parse(&["--user", "1"]).unwrap().output,
            SubjectFormat::Markdown
        );
        for args in [vec![], vec!["--user", "1", "--ip", "10.0.0.1"]] {
            let error = parse(&args).unwrap_err();
            assert_eq!(error.exit_code(), 2, "{args:?}");
        }
    }

    #[test]
    fn a_bad_identifier_names_its_flag() {
        let args = parse(&["--ip", "300.0.0.1"]).unwrap();
        assert_eq!(
            args.who.requested().unwrap_err(),
            "--ip: \"300.0.0.1\" is not an IPv4/IPv6 address or CIDR"
        );
        let args = parse(&["--user", " "]).unwrap();
        assert!(args.who.requested().unwrap_err().starts_with("--user: "));
    }
}
