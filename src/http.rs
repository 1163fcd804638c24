//! A tiny HTTP/1.1 server for plain GET endpoints (the sidecar's decisions, the
//! operator's metrics and probes): handlers are plain functions of the request
//! line, so every answer is unit-testable without sockets. The few endpoints
//! that take a body (offense reports, admission reviews) get it whole,
//! bounded, with the `Authorization` header. The admission webhook is served
//! over TLS (`bind_tls`), since the API server calls webhooks only over HTTPS.
//!
//! The server must stay answerable when clients misbehave: a bounded number of
//! connections, each closed when its request headers are late or when no byte
//! moves for a while, and an accept loop that backs off (and logs sparingly)
//! when the process is out of file descriptors instead of spinning.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

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

/// A request for an asynchronous endpoint: a POST with its body, or a GET
/// under one of [`AsyncRoutes::get_prefixes`] (empty body).
pub struct Posted {
    pub method: String,
    pub path: String,
    /// The `Authorization` header, as sent.
    pub authorization: Option<String>,
    /// Set by an operator replica that passed the request on to the leader.
    pub forwarded: bool,
    pub body: Bytes,
}

/// POSTed requests to a response, asynchronously (they may call the API server).
pub type PostHandler =
    Arc<dyn Fn(Posted) -> Pin<Box<dyn Future<Output = Response> + Send>> + Send + Sync>;

/// The endpoints answered asynchronously (they may call the API server):
/// every POST, and GETs whose path starts with one of `get_prefixes`.
#[derive(Clone)]
pub struct AsyncRoutes {
    pub handler: PostHandler,
    pub get_prefixes: &'static [&'static str],
}

impl AsyncRoutes {
    /// POSTs only.
    pub fn posts(handler: PostHandler) -> Self {
        AsyncRoutes {
            handler,
            get_prefixes: &[],
        }
    }

    fn takes(&self, method: &hyper::Method, path: &str) -> bool {
        *method == hyper::Method::POST
            || (*method == hyper::Method::GET
                && self.get_prefixes.iter().any(|p| path.starts_with(p)))
    }
}

/// The header a replica adds when it passes a request on to the leader: the
/// leader must not pass it on again.
pub const FORWARDED_HEADER: &str = "x-interdict-forwarded";

/// Largest request body accepted: a batch of 10,000 offenses fits.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// What one server lets its clients hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once; past it the server stops accepting and new
    /// clients wait in the kernel's accept queue for a free slot.
    pub max_connections: usize,
    /// From the moment a connection waits for a request until its headers are
    /// complete; an idle keep-alive connection waits for its next request.
    pub header_timeout: Duration,
    /// Longest time with no byte read or written before the connection is closed.
    pub idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 4096,
            header_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// At most one accept-error warning per this interval: at descriptor
/// exhaustion every retry fails, and a line per failure fills disks.
const ACCEPT_ERROR_LOG_EVERY: Duration = Duration::from_secs(10);

async fn respond(
    request: hyper::Request<Incoming>,
    handler: Handler,
    post: Option<AsyncRoutes>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let head = request.method() == hyper::Method::HEAD;
    let answer = match post {
        Some(post) if post.takes(request.method(), request.uri().path()) => {
            posted(request, post.handler).await
        }
        _ => {
            let uri = request.uri();
            handler(
                request.method().as_str(),
                uri.path(),
                uri.query().unwrap_or(""),
            )
        }
    };
    let body = if head {
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

/// Reads a POST's body (bounded) and hands it to `post`.
async fn posted(request: hyper::Request<Incoming>, post: PostHandler) -> Response {
    use http_body_util::BodyExt;
    let (parts, body) = request.into_parts();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let body = match http_body_util::Limited::new(body, MAX_BODY_BYTES)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(error) => {
            return if error.is::<http_body_util::LengthLimitError>() {
                Response::error(
                    413,
                    format!("the body is larger than {MAX_BODY_BYTES} bytes; send smaller batches"),
                )
            } else {
                Response::error(400, format!("cannot read the body: {error}"))
            };
        }
    };
    post(Posted {
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        authorization: header("authorization"),
        forwarded: header(FORWARDED_HEADER).is_some(),
        body,
    })
    .await
}

/// [`bind_with_limits`] with [`Limits::default`].
pub async fn bind(
    addr: SocketAddr,
    handler: Handler,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(SocketAddr, impl Future<Output = ()> + Send), String> {
    bind_with_limits(addr, handler, Limits::default(), shutdown).await
}

/// Binds `addr` (so a bad address fails at start-up, not later) and returns the
/// bound address and the serving future, which runs until `shutdown` resolves.
pub async fn bind_with_limits(
    addr: SocketAddr,
    handler: Handler,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(SocketAddr, impl Future<Output = ()> + Send), String> {
    bind_with_posts(addr, handler, None, limits, shutdown).await
}

/// [`bind_with_limits`], with POSTed requests going to `post` when given.
pub async fn bind_with_posts(
    addr: SocketAddr,
    handler: Handler,
    post: Option<AsyncRoutes>,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(SocketAddr, impl Future<Output = ()> + Send), String> {
    let listener = listen(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let serving = accept_loop(listener, limits, shutdown, move |stream, slot| {
        tokio::spawn(serve_connection(
            stream,
            handler.clone(),
            post.clone(),
            limits,
            slot,
        ));
    });
    Ok((local, serving))
}

/// [`bind_with_posts`] over TLS with `tls`. The handshake runs on the
/// connection's own task and must finish within the header timeout, so a
/// client that stalls it holds one connection slot, not the accept loop.
pub async fn bind_tls(
    addr: SocketAddr,
    handler: Handler,
    post: PostHandler,
    limits: Limits,
    tls: Arc<rustls::ServerConfig>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(SocketAddr, impl Future<Output = ()> + Send), String> {
    let listener = listen(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let serving = accept_loop(listener, limits, shutdown, move |stream, slot| {
        let (acceptor, handler, post) = (acceptor.clone(), handler.clone(), post.clone());
        tokio::spawn(async move {
            match tokio::time::timeout(limits.header_timeout, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => {
                    serve_connection(
                        stream,
                        handler,
                        Some(AsyncRoutes::posts(post)),
                        limits,
                        slot,
                    )
                    .await
                }
                // Most often a client that does not trust the certificate
                // (a stale caBundle): worth a line, unlike a closed connection.
                Ok(Err(error)) => tracing::info!(%error, "TLS handshake failed"),
                Err(_) => tracing::debug!("TLS handshake timed out"),
            }
        });
    });
    Ok((local, serving))
}

/// Accepts connections until `shutdown`, handing each to `serve` with its
/// connection slot.
async fn accept_loop(
    listener: tokio::net::TcpListener,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
    serve: impl Fn(tokio::net::TcpStream, OwnedSemaphorePermit) + Send + 'static,
) {
    let slots = Arc::new(Semaphore::new(
        limits.max_connections.clamp(1, Semaphore::MAX_PERMITS),
    ));
    let mut failures: u32 = 0;
    let mut warnings = Throttle::new(ACCEPT_ERROR_LOG_EVERY);
    tokio::pin!(shutdown);
    loop {
        // Taking the slot before accepting leaves the surplus in the kernel's
        // queue, where it costs this process nothing, instead of accepting
        // connections only to drop them.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            _ = &mut shutdown => break,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut shutdown => break,
        };
        match accepted {
            Ok((stream, _)) => {
                failures = 0;
                // Small request/response pairs: waiting to coalesce writes only adds latency.
                let _ = stream.set_nodelay(true);
                serve(stream, slot);
            }
            Err(error) => {
                // The pending connection stays queued, so retrying at once
                // fails again at once: without the pause this loop spins.
                failures = failures.saturating_add(1);
                if let Some(suppressed) = warnings.admit(Instant::now()) {
                    tracing::warn!(%error, suppressed, "accept failed; retrying with back-off");
                }
                tokio::select! {
                    _ = tokio::time::sleep(accept_backoff(failures)) => continue,
                    _ = &mut shutdown => break,
                }
            }
        }
    }
}

/// Largest request line and headers, and the most a connection buffers of
/// what its client sent or has yet to read (a larger head is refused with
/// 431). hyper's default, about 400 KiB, lets thousands of clients that
/// pipeline requests and never read the answers hold gigabytes.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// Clients over the connection limit wait in the accept queue; the usual 128
/// slots overflow in a burst, and an overflowing SYN is retried only after a
/// second or more. The kernel caps this at `net.core.somaxconn`.
const ACCEPT_QUEUE: u32 = 1024;

fn listen(addr: SocketAddr) -> io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // A restarted sidecar can rebind while its old connections linger in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(ACCEPT_QUEUE)
}

async fn serve_connection<S>(
    stream: S,
    handler: Handler,
    post: Option<AsyncRoutes>,
    limits: Limits,
    _slot: OwnedSemaphorePermit,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |request| respond(request, handler.clone(), post.clone()));
    let io = TokioIo::new(Idle::new(stream, limits.idle_timeout));
    if let Err(error) = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .serve_connection(io, service)
        .await
    {
        tracing::debug!(%error, "connection closed with an error");
    }
}

/// The pause after the `failures`-th accept error in a row: 10 ms doubling up
/// to 1 s, so a passing error costs little and a lasting one almost nothing.
fn accept_backoff(failures: u32) -> Duration {
    const FIRST: Duration = Duration::from_millis(10);
    const MAX: Duration = Duration::from_secs(1);
    let doublings = failures.saturating_sub(1).min(16);
    (FIRST * (1u32 << doublings)).min(MAX)
}

/// Which of a stream of repeated errors are logged: the first, then at most one
/// per `every`, each carrying how many were left unlogged since the previous.
struct Throttle {
    every: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl Throttle {
    fn new(every: Duration) -> Self {
        Throttle {
            every,
            last: None,
            suppressed: 0,
        }
    }

    /// `Some(suppressed)` when the error seen at `now` is to be logged.
    fn admit(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.saturating_duration_since(last) < self.every => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

/// A stream that fails with `TimedOut` once no byte has moved either way for
/// `limit`: hyper's header timeout only covers waiting for a request, not a
/// client that stops reading its answers or trickles a body.
struct Idle<S> {
    inner: S,
    limit: Duration,
    last_progress: Instant,
    // Re-armed lazily when it fires, so a busy connection does not touch the
    // timer on every read.
    deadline: Pin<Box<Sleep>>,
}

impl<S> Idle<S> {
    fn new(inner: S, limit: Duration) -> Self {
        let now = Instant::now();
        Idle {
            inner,
            limit,
            last_progress: now,
            deadline: Box::pin(tokio::time::sleep_until(now + limit)),
        }
    }

    fn timed_out(&mut self, cx: &mut Context<'_>) -> bool {
        loop {
            if self.deadline.as_mut().poll(cx).is_pending() {
                return false;
            }
            let due = self.last_progress + self.limit;
            if due <= Instant::now() {
                return true;
            }
            self.deadline.as_mut().reset(due);
        }
    }

    fn after_write(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match polled {
            Poll::Ready(Ok(written)) if written > 0 => {
                self.last_progress = Instant::now();
                Poll::Ready(Ok(written))
            }
            Poll::Pending if self.timed_out(cx) => Poll::Ready(Err(Self::idle_error())),
            other => other,
        }
    }

    fn idle_error() -> io::Error {
        io::Error::new(
            io::ErrorKind::TimedOut,
            "no bytes moved within the idle timeout",
        )
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Idle<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) if buf.filled().len() > before => {
                this.last_progress = Instant::now();
                Poll::Ready(Ok(()))
            }
            Poll::Pending if this.timed_out(cx) => Poll::Ready(Err(Self::idle_error())),
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Idle<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.after_write(cx, polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.after_write(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn accept_backoff_doubles_from_10ms_to_a_1s_ceiling() {
        let schedule: Vec<u64> = (1..=10)
            .map(|n| accept_backoff(n).as_millis() as u64)
            .collect();
        assert_eq!(schedule, [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000]);
        assert_eq!(accept_backoff(0), Duration::from_millis(10));
        assert_eq!(accept_backoff(u32::MAX), Duration::from_secs(1));
    }

    #[test]
    fn throttle_logs_the_first_error_then_one_per_interval_with_the_count_skipped() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let mut throttle = Throttle::new(Duration::from_secs(10));
        let decisions: Vec<Option<u64>> = [0, 10, 20, 9_999, 10_000, 10_001, 25_000, 40_000]
            .into_iter()
            .map(|ms| throttle.admit(at(ms)))
            .collect();
        assert_eq!(
            decisions,
            [Some(0), None, None, None, Some(3), None, Some(1), Some(0)]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn idle_stream_times_out_only_after_a_full_quiet_interval() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut server = Idle::new(server, Duration::from_secs(10));
        let mut byte = [0u8; 1];
        // Traffic every 6 s keeps the connection alive well past one interval.
        for _ in 0..4 {
            tokio::time::advance(Duration::from_secs(6)).await;
            client.write_all(b"x").await.unwrap();
            server.read_exact(&mut byte).await.unwrap();
        }
        let started = Instant::now();
        let error = server.read(&mut byte).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn idle_stream_times_out_a_peer_that_stops_reading() {
        let (_client, server) = tokio::io::duplex(16);
        let mut server = Idle::new(server, Duration::from_secs(10));
        let started = Instant::now();
        let error = server.write_all(&[0u8; 64]).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(10));
    }
}
