//! The HTTP/1.1 listener: turns hyper's request into a plain [`Request`]
//! (the few headers the console reads, a bounded body) and a [`Reply`] back,
//! adding the headers every answer carries. No CORS header is ever sent, so
//! browsers keep other origins from reading any answer.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

/// Forms are small; anything larger is refused before it is read whole.
const MAX_BODY: usize = 64 * 1024;

/// Headers on every answer: nothing loads from elsewhere, the page cannot be
/// framed, and nothing is cached.
///
/// The referrer policy is `same-origin`, not `no-referrer`: under
/// `no-referrer` browsers send `Origin: null` with every form POST (Fetch
/// standard), and the origin check could not tell the console's own forms
/// from anyone's. `same-origin` still sends nothing to other sites.
pub const SECURITY_HEADERS: [(&str, &str); 6] = [
    (
        "content-security-policy",
        "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    ),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "same-origin"),
    ("x-content-type-options", "nosniff"),
    ("cache-control", "no-store"),
    ("cross-origin-opener-policy", "same-origin"),
];

/// What a handler sees of a request.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: String,
    pub host: Option<String>,
    pub origin: Option<String>,
    pub referer: Option<String>,
    pub cookie: Option<String>,
    pub authorization: Option<String>,
    pub body: Bytes,
}

/// An answer: status, extra headers, HTML (or CSS) body.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl Reply {
    pub fn html(status: u16, body: String) -> Self {
        Reply {
            status,
            content_type: "text/html; charset=utf-8",
            headers: Vec::new(),
            body,
        }
    }

    /// 303 See Other: after a POST, or a login, the browser GETs `location`.
    pub fn redirect(location: &str) -> Self {
        Reply {
            status: 303,
            content_type: "text/plain; charset=utf-8",
            headers: vec![("location", location.to_string())],
            body: String::new(),
        }
    }

    pub fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }
}

fn header(request: &hyper::Request<Incoming>, name: &str) -> Option<String> {
    request
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

async fn read(request: hyper::Request<Incoming>) -> Result<Request, Reply> {
    let plain = Request {
        method: request.method().as_str().to_string(),
        path: request.uri().path().to_string(),
        query: request.uri().query().unwrap_or("").to_string(),
        host: header(&request, "host"),
        origin: header(&request, "origin"),
        referer: header(&request, "referer"),
        cookie: header(&request, "cookie"),
        authorization: header(&request, "authorization"),
        body: Bytes::new(),
    };
    let body = Limited::new(request.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|_| {
            Reply::html(
                413,
                super::html::refusal_page("Too large", "The form is too large."),
            )
        })?
        .to_bytes();
    Ok(Request { body, ..plain })
}

fn respond(reply: Reply) -> hyper::Response<Full<Bytes>> {
    let mut builder = hyper::Response::builder()
        .status(reply.status)
        .header("content-type", reply.content_type);
    for (name, value) in SECURITY_HEADERS {
        builder = builder.header(name, value);
    }
    for (name, value) in &reply.headers {
        builder = builder.header(*name, value);
    }
    builder
        .body(Full::new(Bytes::from(reply.body)))
        .expect("static header names and checked values")
}

/// Serves `listener` until the process ends, one task per connection.
pub async fn serve<H, F>(listener: TcpListener, handler: H)
where
    H: Fn(Request) -> F + Send + Sync + 'static,
    F: Future<Output = Reply> + Send + 'static,
{
    let handler = Arc::new(handler);
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let handler = handler.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: hyper::Request<Incoming>| {
                let handler = handler.clone();
                async move {
                    let reply = match read(request).await {
                        Ok(request) => handler(request).await,
                        Err(reply) => reply,
                    };
                    Ok::<_, Infallible>(respond(reply))
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
