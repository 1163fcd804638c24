//! `interdict console`: the moderation web page. Moderators who are not
//! platform engineers get the plugin's operations (search a subject, ban,
//! silence, block, lift, decide appeals, see what a user sees, recent
//! activity) as server-rendered HTML forms, acting with their own Kubernetes
//! rights: the caller's kubeconfig on 127.0.0.1 (local mode), or each
//! request's bearer token behind an authenticating proxy (bearer mode).
//!
//! Files by concern: `args` (flags), `auth` (who may drive it: login token,
//! session, CSRF, origin), `identity` (whose rights each request uses),
//! `server` (HTTP), `routes` (checks, then the page), `form` (forms to the
//! plugin's requests and errors back to fields), `html` and `pages` (pure
//! rendering plus each page's calls).

pub mod args;
pub mod auth;
pub mod form;
pub mod html;
pub mod identity;
pub mod pages;
pub mod routes;
pub mod server;

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;

pub use args::{AuthMode, ConsoleArgs};

use routes::{App, Gate};

/// Runs the console until the process is stopped.
pub fn main(args: ConsoleArgs) -> ExitCode {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .try_init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: ConsoleArgs) -> Result<(), String> {
    let mode = args.mode();
    let access = identity::Access::new(&args).await?;
    let address = match mode {
        AuthMode::Local => SocketAddr::from((Ipv4Addr::LOCALHOST, args.port)),
        AuthMode::Bearer => args.listen,
    };
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|e| format!("cannot listen on {address}: {e}"))?;
    let bound = listener
        .local_addr()
        .map_err(|e| format!("cannot read the bound address: {e}"))?;
    let random = |n| auth::random_hex(n).map_err(|e| format!("cannot read random bytes: {e}"));
    let (gate, origin, announce) = match mode {
        AuthMode::Local => {
            let token = random(32)?;
            let origin = format!("http://{bound}");
            let announce = format!("Console: {origin}/login?token={token}");
            (Gate::Local(auth::LocalAuth::new(token)), origin, announce)
        }
        AuthMode::Bearer => {
            let origin = args
                .public_url
                .as_deref()
                .ok_or("bearer mode needs --public-url: the URL moderators open, whose origin form posts must come from")?
                .trim_end_matches('/')
                .to_string();
            if !(origin.starts_with("https://") || origin.starts_with("http://")) {
                return Err(format!(
                    "--public-url {origin:?} must start with https:// or http://"
                ));
            }
            let key = random(32)?.into_bytes();
            let announce = format!("Console listening on {bound} for {origin} (bearer tokens)");
            (Gate::Bearer { key }, origin, announce)
        }
    };
    let app = Arc::new(App {
        gate,
        origin,
        access,
        namespaces: args.namespaces.clone(),
        blocklist_name: args.blocklist_name.clone(),
    });
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{announce}").map_err(|e| e.to_string())?;
    stdout.flush().map_err(|e| e.to_string())?;
    server::serve(listener, move |request| {
        let app = app.clone();
        async move { app.handle(request).await }
    })
    .await;
    Ok(())
}
