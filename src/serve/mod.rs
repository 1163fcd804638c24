//! `interdict serve`: the decision sidecar. Applications in any language ask over
//! HTTP on loopback instead of linking a reader library.

mod params;
mod routes;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

pub use routes::Counters;

use crate::cli::ServeArgs;
use crate::reader::Blocklist;

async fn respond(
    request: Request<Incoming>,
    blocklist: Blocklist,
    counters: Arc<Counters>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let uri = request.uri();
    let answer = routes::handle(
        request.method().as_str(),
        uri.path(),
        uri.query().unwrap_or(""),
        &blocklist,
        &counters,
        chrono::Utc::now(),
    );
    let body = if request.method() == hyper::Method::HEAD {
        Bytes::new()
    } else {
        Bytes::from(answer.body)
    };
    let response = Response::builder()
        .status(answer.status)
        .header("content-type", answer.content_type)
        .body(Full::new(body))
        .expect("static response parts are valid");
    Ok(response)
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    let blocklist = Blocklist::watch(&args.dir, Duration::from_millis(args.reload_interval_ms));
    let counters = Arc::new(Counters::default());
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let local: SocketAddr = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(listen = %local, dir = %args.dir.display(), "serving decisions");
    let shutdown = crate::process::shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let (blocklist, counters) = (blocklist.clone(), counters.clone());
        tokio::spawn(async move {
            let service =
                service_fn(move |request| respond(request, blocklist.clone(), counters.clone()));
            if let Err(error) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%error, "connection closed with an error");
            }
        });
    }
    blocklist.stop();
    tracing::info!("stopped");
    Ok(())
}

/// Entry point of `interdict serve`.
pub fn main(args: ServeArgs) -> ExitCode {
    crate::process::init_logging(args.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(%error, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error}");
            ExitCode::FAILURE
        }
    }
}
