//! A tiny HTTP/1.1 server for plain GET endpoints (the sidecar's decisions, the
//! operator's metrics and probes): handlers are plain functions of the request
//! line, so every answer is unit-testable without sockets.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl Response {
    pub fn json(status: u16, body: serde_json::Value) -> Self {
        Response {
            status,
            content_type: "application/json",
            body: body.to_string() + "\n",
        }
    }

    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into(),
        }
    }

    pub fn error(status: u16, message: String) -> Self {
        Response::json(status, serde_json::json!({ "error": message }))
    }
}

/// `(method, path, query)` to a response.
pub type Handler = Arc<dyn Fn(&str, &str, &str) -> Response + Send + Sync>;

async fn respond(
    request: hyper::Request<Incoming>,
    handler: Handler,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let uri = request.uri();
    let answer = handler(
        request.method().as_str(),
        uri.path(),
        uri.query().unwrap_or(""),
    );
    let body = if request.method() == hyper::Method::HEAD {
        Bytes::new()
    } else {
        Bytes::from(answer.body)
    };
    Ok(hyper::Response::builder()
        .status(answer.status)
        .header("content-type", answer.content_type)
        .body(Full::new(body))
        .expect("static response parts are valid"))
}

/// Binds `addr` (so a bad address fails at start-up, not later) and returns the
/// bound address and the serving future, which runs until `shutdown` resolves.
pub async fn bind(
    addr: SocketAddr,
    handler: Handler,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(SocketAddr, impl Future<Output = ()> + Send), String> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let serving = async move {
        tokio::pin!(shutdown);
        loop {
            let stream = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(error) => {
                        tracing::warn!(%error, "accept failed");
                        continue;
                    }
                },
                _ = &mut shutdown => break,
            };
            // Small request/response pairs: waiting to coalesce writes only adds latency.
            let _ = stream.set_nodelay(true);
            let handler = handler.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| respond(request, handler.clone()));
                if let Err(error) = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await
                {
                    tracing::debug!(%error, "connection closed with an error");
                }
            });
        }
    };
    Ok((local, serving))
}
