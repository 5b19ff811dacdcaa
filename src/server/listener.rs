//! One listener's accept loop and per-connection pipeline:
//! accept → (PROXY header) → (TLS: peek the first bytes → sniff → handshake) → HTTP/1.1 or
//! HTTP/2 → proxy, with the connection's idle, header, body and send timeouts watched alongside
//! (`lifecycle`).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::future::Either;
use http::{HeaderValue, Request, Response, StatusCode, Version};
use http_body::Body as _;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};

pub use super::context::{HttpBuilders, ListenerContext, TlsSide};
use super::handshake::{self, HandshakeOutcome};
use super::lifecycle::{
    accept_backoff, judge, Activity, Drain, DrainWatcher, Limit, Stall, StallWatch, TimedBody,
    Tracked, Verdict, Watched,
};
use super::proxied::{self, Peer};
use crate::config::{ClientErrorDetail, Limits};
use crate::findings::{Code, Finding};
use crate::proxy::body::ProxyBody;
use crate::proxy::ConnMeta;

/// How long an HTTP/2 connection closed for idleness gets, after GOAWAY, to close by itself.
const GOAWAY_GRACE: Duration = Duration::from_secs(5);

/// At most this much not-yet-sent data waits in a client socket's kernel buffer
/// (`TCP_NOTSENT_LOWAT`). Without it the kernel wakes a blocked writer only once half of a
/// multi-megabyte send buffer has drained, so a client reading slowly but steadily would look
/// like one not reading at all for many seconds (and trip `send_timeout`); with it, every bit
/// of progress the client makes is seen within a few reads, and less of a response sits queued
/// in the kernel.
#[cfg(any(target_os = "linux", target_os = "android"))]
const NOTSENT_LOWAT: u32 = 128 * 1024;

/// The HTTP server settings shared by every connection of a listener.
pub fn http_builder(limits: &Limits) -> HttpBuilders {
    let auto = auto_builder(limits);
    HttpBuilders {
        h2: auto.clone().http2_only(),
        auto,
    }
}

fn auto_builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // The proxy enforces max_request_header_bytes itself (a JSON 431); hyper's own limits sit
    // above it, as the backstop for heads too large to buffer (hyper's answer is rewritten as
    // JSON on HTTP/1.1 by `parse_errors`; h2's stays bare). hyper refuses values < 8 KiB.
    let max_head = (limits.max_request_header_bytes.0 as usize)
        .saturating_mul(2)
        .max(16 * 1024);
    // No hyper header timer: hyper's starts only once a head is being read, and not at all
    // while the auto builder waits for the first bytes; `lifecycle` times the head from the
    // moment the connection is ready instead.
    builder
        .http1()
        .header_read_timeout(None)
        .max_buf_size(max_head)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(max_head).unwrap_or(u32::MAX))
        .max_concurrent_streams(limits.http2_max_concurrent_streams)
        .keep_alive_interval(Some(Duration::from_secs(30)));
    builder
}

/// Accepts connections until `shutdown` flips, then stops accepting; open connections are
/// drained by the caller through `drain`.
pub async fn run(
    tcp: TcpListener,
    ctx: Arc<ListenerContext>,
    conn_limit: Arc<Semaphore>,
    drain: Arc<Drain>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut failures = 0u32;
    loop {
        // Accept, then wait for capacity before serving. With one socket per worker a permit
        // must not be held by an accept loop whose socket is quiet while another worker's
        // backlog fills: so each worker holds at most one accepted connection waiting for a
        // slot (served first when one frees: the semaphore is fair), and stops accepting
        // meanwhile, leaving the rest in the kernel's backlog.
        let (stream, peer) = tokio::select! {
            biased;
            _ = shutdown.changed() => break,
            accepted = tcp.accept() => match accepted {
                Ok(pair) => {
                    failures = 0;
                    pair
                }
                // A connection that died in the backlog: nothing wrong with the listener.
                Err(e) if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionAborted
                        | std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::Interrupted
                ) => continue,
                Err(e) => {
                    // EMFILE, ENFILE, ENOMEM…: the same error comes back at once until
                    // something frees up, so pause (and log rate-limited) rather than spin.
                    failures = failures.saturating_add(1);
                    let pause = accept_backoff(failures);
                    ctx.closer.accept_failed(&e, pause);
                    tokio::select! {
                        biased;
                        _ = shutdown.changed() => break,
                        _ = tokio::time::sleep(pause) => continue,
                    }
                }
            },
        };
        // Behind a load balancer every connection comes from its address: the cap applies to
        // the client named by the PROXY header instead, once it is read (`serve_connection`).
        let per_ip = ctx.per_ip.as_ref().filter(|_| ctx.proxy_protocol.is_none());
        let slot = match per_ip {
            None => None,
            Some(limit) => match limit.try_acquire(peer.ip()) {
                Some(slot) => Some(slot),
                None => {
                    ctx.closer.report(
                        Code::ClientTooManyConnections,
                        peer,
                        "limits.max_connections_per_ip",
                        &limit.max(),
                    );
                    drop(stream);
                    continue;
                }
            },
        };
        let permit = tokio::select! {
            biased;
            _ = shutdown.changed() => break,
            p = conn_limit.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let ctx = ctx.clone();
        let watcher = drain.watcher();
        tokio::spawn(async move {
            ctx.open_connections.inc();
            serve_connection(stream, peer, &ctx, watcher).await;
            ctx.open_connections.dec();
            drop(permit);
            drop(slot);
        });
    }
}

async fn serve_connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    ctx: &Arc<ListenerContext>,
    drain: DrainWatcher,
) {
    let _ = stream.set_nodelay(true);
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let _ = socket2::SockRef::from(&stream).set_tcp_notsent_lowat(NOTSENT_LOWAT);
    // From accept to a finished handshake, a PROXY header included.
    let deadline = tokio::time::Instant::now() + ctx.handshake_timeout;
    // Behind a load balancer the client is who its PROXY header says, from here on.
    let peer = match &ctx.proxy_protocol {
        None => Peer::direct(peer),
        Some(side) => match proxied::accept(&mut stream, peer, side, ctx, deadline).await {
            Some(peer) => peer,
            None => return,
        },
    };
    // The per-IP cap of a PROXY listener, on the client's address (held until the end).
    let _slot = match (&ctx.proxy_protocol, &ctx.per_ip) {
        (Some(_), Some(limit)) => match limit.try_acquire(peer.addr.ip()) {
            Some(slot) => Some(slot),
            None => {
                ctx.closer.report(
                    Code::ClientTooManyConnections,
                    peer.addr,
                    "limits.max_connections_per_ip",
                    &limit.max(),
                );
                return;
            }
        },
        _ => None,
    };
    let meta = ConnMeta {
        peer: peer.addr,
        tls: ctx.tls.is_some(),
        client_errors: ctx.state.client_errors(ctx.name.clone()),
    };
    match &ctx.tls {
        None => {
            serve_http(stream, meta, ctx, drain, None, Protocol::Sniff).await;
        }
        Some(tls) => {
            let started = Instant::now();
            match handshake::accept(stream, &peer, deadline, tls, ctx).await {
                HandshakeOutcome::Established(tls_stream, after) => {
                    // The request count serves one diagnosis (a client that left without a
                    // request); the benchmark switch that turns diagnosis off skips it.
                    let diagnosis = crate::telemetry::diagnosis_on();
                    let requests = diagnosis.then(|| after.requests.clone());
                    // ALPN alone decides the protocol of a TLS connection: `h2` negotiated → HTTP/2
                    // only; anything else (http/1.1, no ALPN) → HTTP/1.1 only, so an HTTP/2
                    // preface there is refused rather than served.
                    let h2 = tls_stream.get_ref().1.alpn_protocol() == Some(b"h2");
                    let protocol = if h2 { Protocol::Http2 } else { Protocol::Http1 };
                    let closed = serve_http(tls_stream, meta, ctx, drain, requests, protocol).await;
                    // A connection we closed for idleness is not a client that left silently.
                    if closed.is_none() && diagnosis {
                        after.finish(ctx, tls, &peer, started);
                    }
                }
                HandshakeOutcome::Failed => {}
            }
        }
    }
}

/// Which HTTP version a connection may speak.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// Plain HTTP: HTTP/1.1, or HTTP/2 with prior knowledge (the preface decides).
    Sniff,
    /// TLS without `h2` negotiated: HTTP/1.1 only.
    Http1,
    /// TLS with `h2` negotiated: HTTP/2 only.
    Http2,
}

/// Serves HTTP on an established connection until it closes, enforcing the connection
/// timeouts. Returns the code when tlsgate closed it for a limit.
async fn serve_http<I>(
    io: I,
    meta: ConnMeta,
    ctx: &Arc<ListenerContext>,
    mut drain: DrainWatcher,
    requests: Option<Arc<std::sync::atomic::AtomicU64>>,
    protocol: Protocol,
) -> Option<Code>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let h2 = protocol == Protocol::Http2;
    let activity = Activity::new(h2);
    let refused = Arc::new(AtomicBool::new(false));
    let io = RefusePreface::new(io, protocol, refused.clone());
    let io = TokioIo::new(Watched::new(io, activity.clone()));
    // hyper's canned HTTP/1.1 parse-error answers (empty 400/431) are rewritten as JSON.
    let owed = super::parse_errors::Owed::default();
    let io = super::parse_errors::RewriteParseErrors::new(
        io,
        owed.clone(),
        ctx.proxy.detail(),
        meta.client_errors.clone(),
    );
    let peer = meta.peer;
    let service = {
        let proxy = ctx.proxy.clone();
        let closer = ctx.closer.clone();
        let activity = activity.clone();
        let limit = ctx.timeouts.client_body;
        let detail = ctx.error_detail;
        let state = ctx.state.clone();
        service_fn(move |req: Request<Incoming>| {
            owed.request_received();
            if let Some(r) = &requests {
                r.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            let in_flight = activity.request_started(req.version() == Version::HTTP_2);
            let proxy = proxy.clone();
            let http1 = req.version() < Version::HTTP_2;
            // Draining (SIGTERM): an HTTP/1.1 client is told to reconnect — through the load
            // balancer, to another replica — after this response. HTTP/2 gets GOAWAY instead.
            let state = http1.then(|| state.clone());
            let (parts, body) = req.into_parts();
            // Only a body still to come is timed (and costs the signal's allocation).
            let stall = (!body.is_end_stream()).then(Arc::<Stall>::default);
            let watch = stall.as_ref().map(|s| StallWatch {
                stall: s.clone(),
                closer: closer.clone(),
                peer: meta.peer,
                limit,
            });
            let meta = meta.clone();
            let req = Request::from_parts(parts, TimedBody::new(body, limit, stall.clone()));
            async move {
                let mut resp = match &stall {
                    None => proxy.handle(req, &meta).await,
                    Some(stall) => {
                        tokio::select! {
                            biased;
                            resp = proxy.handle(req, &meta) => resp,
                            () = stall.fired() => {
                                if let Some(w) = &watch {
                                    w.closer.report(Code::ClientBodyTimeout, meta.peer, Limit::ClientBody.key(), &limit);
                                }
                                meta.client_errors.record(Code::ClientBodyTimeout);
                                return Ok::<_, Infallible>(
                                    body_timeout_response(detail, http1, limit)
                                        .map(|b| Tracked::new(b, in_flight, None)),
                                );
                            }
                        }
                    }
                };
                if state.is_some_and(|s| s.is_draining())
                    && resp.status() != StatusCode::SWITCHING_PROTOCOLS
                {
                    resp.headers_mut()
                        .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
                }
                Ok::<_, Infallible>(resp.map(|b| Tracked::new(b, in_flight, watch)))
            }
        })
    };
    // `h2` negotiated: hyper-util's HTTP/2-only connection (its upgrade-capable one would
    // still serve an HTTP/1.1 request); HTTP/2 has no Upgrade to serve anyway.
    let conn = if h2 {
        Either::Right(ctx.http.h2.serve_connection(io, service))
    } else {
        Either::Left(ctx.http.auto.serve_connection_with_upgrades(io, service))
    };
    let mut conn = std::pin::pin!(conn);
    let timeouts = ctx.timeouts;
    let far = || tokio::time::Instant::now() + Duration::from_secs(86400 * 365);
    let mut timer = std::pin::pin!(tokio::time::sleep_until(far()));
    let mut armed: Option<tokio::time::Instant> = None;
    let mut draining = false;
    let mut goaway: Option<tokio::time::Instant> = None;
    loop {
        let due = match judge(&activity.snapshot(), &timeouts) {
            Verdict::Close(code, limit) => {
                ctx.closer
                    .report(code, peer, limit.key(), &timeouts.value(limit));
                return Some(code);
            }
            Verdict::GoAway(limit) => match goaway {
                None => {
                    graceful_shutdown(conn.as_mut());
                    ctx.closer.report(
                        Code::ClientIdleTimeout,
                        peer,
                        limit.key(),
                        &timeouts.value(limit),
                    );
                    let at = tokio::time::Instant::now() + GOAWAY_GRACE;
                    goaway = Some(at);
                    Some(at)
                }
                // The client neither closed nor opened a stream after GOAWAY.
                Some(at) if tokio::time::Instant::now() >= at => {
                    return Some(Code::ClientIdleTimeout)
                }
                Some(at) => Some(at),
            },
            Verdict::Wait(at) => at.map(|ms| activity.at(ms)),
        };
        if due != armed {
            timer.as_mut().reset(due.unwrap_or_else(far));
            armed = due;
        }
        tokio::select! {
            biased;
            res = conn.as_mut() => {
                if let Err(e) = res {
                    // The HTTP/2 preface on a connection that negotiated HTTP/1.1 (or no ALPN),
                    // or something else on one that negotiated h2: refused, and the
                    // connection closed.
                    if refused.load(Ordering::Relaxed) {
                        let negotiated = if h2 { "h2" } else { "http/1.1" };
                        ctx.closer.report(
                            Code::ClientProtocolNotNegotiated,
                            peer,
                            "listeners.tls.alpn",
                            &negotiated,
                        );
                        return Some(Code::ClientProtocolNotNegotiated);
                    }
                    tracing::debug!(event = crate::telemetry::Event::ConnectionError.as_str(), listener = %ctx.name, peer = %peer, error = %e);
                }
                return goaway.map(|_| Code::ClientIdleTimeout);
            }
            () = drain.signaled(), if !draining => {
                draining = true;
                graceful_shutdown(conn.as_mut());
            }
            () = activity.changed() => {}
            () = &mut timer => {
                timer.as_mut().reset(far());
                armed = None;
            }
        }
    }
}

/// The HTTP/2 connection preface (RFC 9113 §3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Checks the first bytes of a TLS connection against the protocol ALPN chose.
///
/// HTTP/1.1 negotiated (or no ALPN): hyper-util's auto builder picks HTTP/2 whenever a
/// connection starts with the preface, and its HTTP/1.1-only switch is ignored by
/// `serve_connection_with_upgrades`; so a complete preface fails the read here (the connection
/// closes, `refused` is set for the log). `h2` negotiated: the HTTP/2-only connection refuses
/// anything but the preface itself (GOAWAY); this only notes, for the log, that the client sent
/// something else (an HTTP/1.1 request line).
struct RefusePreface<I> {
    inner: I,
    /// Bytes of the preface seen so far; `None` once the check is over (or not armed).
    matched: Option<usize>,
    /// HTTP/1.1 only: the preface is refused (else: required).
    http1: bool,
    refused: Arc<AtomicBool>,
}

impl<I> RefusePreface<I> {
    fn new(inner: I, protocol: Protocol, refused: Arc<AtomicBool>) -> Self {
        RefusePreface {
            inner,
            matched: (protocol != Protocol::Sniff).then_some(0),
            http1: protocol == Protocol::Http1,
            refused,
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for RefusePreface<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let start = buf.filled().len();
        let res = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let (Poll::Ready(Ok(())), Some(matched)) = (&res, self.matched) {
            let new = &buf.filled()[start..];
            let want = &H2_PREFACE[matched..];
            let n = new.len().min(want.len());
            if new[..n] != want[..n] {
                self.matched = None;
                if !self.http1 {
                    self.refused.store(true, Ordering::Relaxed);
                }
            } else if !self.http1 {
                self.matched = (matched + n < H2_PREFACE.len()).then_some(matched + n);
            } else if matched + n == H2_PREFACE.len() {
                self.matched = None;
                self.refused.store(true, Ordering::Relaxed);
                return Poll::Ready(Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "HTTP/2 preface on a connection that did not negotiate h2",
                )));
            } else {
                self.matched = Some(matched + n);
            }
        }
        res
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for RefusePreface<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Starts a graceful shutdown of whichever connection `serve_http` runs.
fn graceful_shutdown<A: GracefulConn, B: GracefulConn>(conn: Pin<&mut Either<A, B>>) {
    match conn.as_pin_mut() {
        Either::Left(c) => c.shutdown(),
        Either::Right(c) => c.shutdown(),
    }
}

/// hyper-util's two connection types' `graceful_shutdown`.
trait GracefulConn {
    fn shutdown(self: Pin<&mut Self>);
}

macro_rules! graceful_conn {
    ($($conn:ident),*) => {$(
        impl<I, S, E, B> GracefulConn for auto::$conn<'_, I, S, E>
        where
            S: hyper::service::HttpService<Incoming, ResBody = B>,
            S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
            I: hyper::rt::Read + hyper::rt::Write + Unpin,
            B: http_body::Body + 'static,
            B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
            E: auto::HttpServerConnExec<S::Future, B>,
        {
            fn shutdown(self: Pin<&mut Self>) {
                self.graceful_shutdown();
            }
        }
    )*};
}
graceful_conn!(Connection, UpgradeableConnection);

/// 408 for a request whose body stopped arriving before the response began; HTTP/1.1 closes
/// the connection after it (the rest of the body will not be read).
fn body_timeout_response(
    detail: ClientErrorDetail,
    http1: bool,
    limit: Duration,
) -> Response<ProxyBody> {
    let finding = Finding::new(
        Code::ClientBodyTimeout,
        "the client stopped sending its request body",
        format!(
            "no request-body bytes arrived for limits.client_body_timeout ({} ms)",
            limit.as_millis()
        ),
        Code::ClientBodyTimeout.fix_hint(),
    );
    let bytes: Bytes = crate::proxy::errors::error_json(&finding, detail);
    let mut resp = Response::new(ProxyBody::full(bytes, None));
    *resp.status_mut() = StatusCode::REQUEST_TIMEOUT;
    let h = resp.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if http1 {
        h.insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}
