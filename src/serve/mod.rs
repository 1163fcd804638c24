//! `interdict serve`: the decision sidecar. Applications in any language ask over
//! HTTP on loopback instead of linking a reader library.

mod params;
mod routes;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

pub use routes::Counters;

use crate::cli::ServeArgs;
use crate::reader::Blocklist;

async fn serve(args: ServeArgs) -> Result<(), String> {
    let blocklist = Blocklist::watch(&args.dir, Duration::from_millis(args.reload_interval_ms));
    let counters = Arc::new(Counters::default());
    let handler: crate::http::Handler = {
        let blocklist = blocklist.clone();
        Arc::new(move |method: &str, path: &str, query: &str| {
            routes::handle(
                method,
                path,
                query,
                &blocklist,
                &counters,
                chrono::Utc::now(),
            )
        })
    };
    let (local, serving) =
        crate::http::bind(args.listen, handler, crate::process::shutdown_signal()).await?;
    tracing::info!(listen = %local, dir = %args.dir.display(), "serving decisions");
    serving.await;
    blocklist.stop();
    tracing::info!("stopped");
    Ok(())
}

/// Entry point of `interdict serve`.
pub fn main(args: ServeArgs) -> ExitCode {
    crate::process::init_logging(args.log_format);
    crate::process::run_to_exit(serve(args))
}
