//! `interdict serve`: the decision sidecar. Applications in any language ask over
//! HTTP on loopback instead of linking a reader library, and report offenses
//! for BanPolicies the same way (`offenses`).

mod appeals;
mod offenses;
mod params;
mod routes;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

pub use routes::Counters;

use crate::cli::ServeArgs;
use crate::http::Limits;
use crate::reader::Blocklist;

/// The pod's namespace, as kubelet mounts it with the ServiceAccount token.
const SERVICE_ACCOUNT_NAMESPACE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

fn limits(args: &ServeArgs) -> Limits {
    Limits {
        max_connections: args.max_connections as usize,
        header_timeout: args.header_timeout,
        idle_timeout: args.idle_timeout,
    }
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    let open_files = raise_open_file_limit();
    let limits = limits(&args);
    let interval = Duration::from_millis(args.reload_interval_ms);
    let blocklist = match args.email_key.load()? {
        Some(key) => {
            tracing::info!(key_id = key.id(), "matching emails keyed with this key too");
            Blocklist::with_email_key(&args.dir, key).watching(interval)
        }
        None => Blocklist::new(&args.dir).watching(interval),
    };
    let counters = Arc::new(Counters::default());
    let unloaded = if args.fail_open {
        routes::Unloaded::FailOpen
    } else {
        routes::Unloaded::FailClosed
    };
    if let Some(addr) = args.metrics_addr {
        let (blocklist, counters) = (blocklist.clone(), counters.clone());
        let probes: crate::http::Handler = Arc::new(move |method: &str, path: &str, _: &str| {
            routes::handle_probes(method, path, &blocklist, &counters)
        });
        let (local, serving) =
            crate::http::bind(addr, probes, crate::process::shutdown_signal()).await?;
        tracing::info!(listen = %local, "serving /healthz, /readyz and /metrics");
        tokio::spawn(serving);
    }
    let handler: crate::http::Handler = {
        let blocklist = blocklist.clone();
        Arc::new(move |method: &str, path: &str, query: &str| {
            routes::handle(
                method,
                path,
                query,
                &blocklist,
                &counters,
                unloaded,
                chrono::Utc::now(),
            )
        })
    };
    let namespace = args.namespace.clone().or_else(|| {
        std::fs::read_to_string(SERVICE_ACCOUNT_NAMESPACE)
            .ok()
            .map(|ns| ns.trim().to_string())
            .filter(|ns| !ns.is_empty())
    });
    let client = kubernetes_client().await;
    if args.watch_api {
        match (&client, &namespace) {
            (Some(client), Some(namespace)) => {
                let source = crate::reader::api_source::ApiSource::new(
                    namespace,
                    &args.blocklist_name,
                    args.max_shards,
                );
                tokio::spawn(crate::reader::api_source::follow(
                    client.clone(),
                    source,
                    blocklist.clone(),
                ));
                tracing::info!(%namespace, "following the blocklist on the API server");
            }
            _ => {
                return Err("--watch-api needs a Kubernetes configuration (in-cluster or                             KUBECONFIG) and a namespace (--namespace or the pod's own)"
                    .into());
            }
        }
    }
    let forwarder = Arc::new(offenses::Forwarder::new(
        args.operator_url.clone(),
        args.token_file.clone(),
        namespace.clone(),
    ));
    let appeals = Arc::new(appeals::Appeals::new(client, namespace));
    let offense_handler = forwarder.handler();
    let asynchronous: crate::http::PostHandler = Arc::new(move |posted| {
        if posted.path.starts_with(appeals::APPEALS_PATH) {
            let appeals = appeals.clone();
            Box::pin(async move { appeals.handle(posted).await })
        } else {
            offense_handler(posted)
        }
    });
    let (local, serving) = crate::http::bind_with_posts(
        args.listen,
        handler,
        Some(crate::http::AsyncRoutes {
            handler: asynchronous,
            get_prefixes: &[appeals::APPEALS_PATH],
        }),
        limits,
        crate::process::shutdown_signal(),
    )
    .await?;
    tracing::info!(
        listen = %local,
        dir = %args.dir.display(),
        max_connections = limits.max_connections,
        open_files_limit = open_files,
        "serving decisions"
    );
    if open_files.is_some_and(|n| n < limits.max_connections as libc::rlim_t) {
        tracing::warn!(
            "the open-file limit is below --max-connections: past it new connections \
             wait in the kernel's queue while the server retries with back-off"
        );
    }
    serving.await;
    blocklist.stop();
    tracing::info!("stopped");
    Ok(())
}

/// The pod's credentials (in-cluster) or KUBECONFIG's, for appeals and
/// --watch-api; `None` when there are none (decisions need no client).
async fn kubernetes_client() -> Option<kube::Client> {
    match kube::Client::try_default().await {
        Ok(client) => Some(client),
        Err(error) => {
            tracing::info!(%error, "no Kubernetes configuration: appeals and --watch-api are off");
            None
        }
    }
}

/// Lifts the soft open-file limit to the hard one, as Go's runtime does: the
/// soft limit is often 1024, below the default connection limit, and nothing in
/// this process uses select(2), the reason that soft limit exists. Returns the
/// limit in force, or `None` when it cannot be read.
fn raise_open_file_limit() -> Option<libc::rlim_t> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes only into the struct it is handed.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit only reads the struct; failing leaves the limit as it was.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit = raised;
        }
    }
    Some(limit.rlim_cur)
}

/// Parses a timeout flag: digits and a unit (`ms`, `s`, `m`, `h`), repeated
/// (`1m30s`). A bare number is refused so `5` cannot silently mean milliseconds.
pub(crate) fn parse_timeout(text: &str) -> Result<Duration, String> {
    let malformed = || format!("{text:?} is not a duration like 500ms, 5s, 1m or 1m30s");
    if text.is_empty() {
        return Err(malformed());
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits_end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (digits, after) = rest.split_at(digits_end);
        let unit_end = after
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_end);
        let amount: u64 = digits.parse().map_err(|_| malformed())?;
        let millis_per_unit: u64 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            _ => return Err(malformed()),
        };
        let part = amount.checked_mul(millis_per_unit).ok_or_else(malformed)?;
        total = total
            .checked_add(Duration::from_millis(part))
            .ok_or_else(malformed)?;
        rest = next;
    }
    if total.is_zero() {
        return Err(format!("{text:?} must be longer than zero"));
    }
    Ok(total)
}

/// Entry point of `interdict serve`.
pub fn main(args: ServeArgs) -> ExitCode {
    crate::process::init_logging(args.log_format);
    crate::process::run_to_exit(serve(args))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    #[test]
    fn parses_timeouts_with_units() {
        let cases = [
            ("500ms", 500),
            ("5s", 5_000),
            ("1m", 60_000),
            ("1m30s", 90_000),
            ("2h", 7_200_000),
            ("1s250ms", 1_250),
        ];
        for (text, millis) in cases {
            assert_eq!(
                parse_timeout(text),
                Ok(Duration::from_millis(millis)),
                "{text}"
            );
        }
    }

    #[test]
    fn refuses_bare_numbers_unknown_units_and_zero() {
        for text in [
            "",
            "5",
            "s",
            "5x",
            "5 s",
            "-5s",
            "1.5s",
            "0s",
            "0ms",
            "5S",
            "99999999999999999999s",
        ] {
            assert!(parse_timeout(text).is_err(), "{text:?} was accepted");
        }
    }

    #[test]
    fn flag_defaults_are_the_server_defaults() {
        let cli = Cli::try_parse_from(["interdict", "serve", "--dir", "/tmp"]).unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("parsed as another command");
        };
        assert_eq!(limits(&args), Limits::default());
    }

    #[test]
    fn limit_flags_reach_the_server() {
        let cli = Cli::try_parse_from([
            "interdict",
            "serve",
            "--dir",
            "/tmp",
            "--max-connections",
            "20",
            "--header-timeout",
            "1s",
            "--idle-timeout",
            "500ms",
        ])
        .unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("parsed as another command");
        };
        assert_eq!(
            limits(&args),
            Limits {
                max_connections: 20,
                header_timeout: Duration::from_secs(1),
                idle_timeout: Duration::from_millis(500),
            }
        );
        assert!(
            Cli::try_parse_from([
                "interdict",
                "serve",
                "--dir",
                "/tmp",
                "--max-connections",
                "0"
            ])
            .is_err()
        );
    }
}
