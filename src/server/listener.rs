//! One listener's accept loop and per-connection pipeline:
//! accept → (TLS: peek the first bytes → sniff → handshake) → HTTP/1.1 or HTTP/2 → proxy.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};

pub use super::context::{ListenerContext, TlsSide};
use super::handshake::{self, HandshakeOutcome};
use crate::config::Limits;
use crate::proxy::ConnMeta;
use crate::telemetry::Event;

/// The HTTP server settings shared by every connection of a listener.
pub fn http_builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // The proxy enforces max_request_header_bytes itself (a JSON 431); hyper's own limits sit
    // above it, as the backstop for heads too large to buffer (hyper's answer is rewritten as
    // JSON on HTTP/1.1 by `parse_errors`; h2's stays bare). hyper refuses values < 8 KiB.
    let max_head = (limits.max_request_header_bytes.0 as usize)
        .saturating_mul(2)
        .max(16 * 1024);
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout.get())
        .max_buf_size(max_head)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(max_head).unwrap_or(u32::MAX))
        .keep_alive_interval(Some(Duration::from_secs(30)));
    builder
}

/// Accepts connections until `shutdown` flips, then stops accepting; open connections are
/// drained by the caller through `graceful`.
pub async fn run(
    tcp: TcpListener,
    ctx: Arc<ListenerContext>,
    conn_limit: Arc<Semaphore>,
    graceful: Arc<GracefulShutdown>,
    mut shutdown: watch::Receiver<bool>,
) {
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
                Ok(pair) => pair,
                Err(e) => {
                    // EMFILE and friends: back off briefly rather than spin.
                    tracing::warn!(event = Event::AcceptFailed.as_str(), listener = %ctx.name, error = %e);
                    tokio::time::sleep(Duration::from_millis(50)).await;
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
        let graceful = graceful.watcher();
        tokio::spawn(async move {
            ctx.open_connections.inc();
            serve_connection(stream, peer, &ctx, graceful).await;
            ctx.open_connections.dec();
            drop(permit);
        });
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    ctx: &Arc<ListenerContext>,
    graceful: Watcher,
) {
    let _ = stream.set_nodelay(true);
    let meta = ConnMeta {
        peer,
        tls: ctx.tls.is_some(),
    };
    match &ctx.tls {
        None => serve_http(TokioIo::new(stream), meta, ctx, graceful, None).await,
        Some(tls) => {
            let started = Instant::now();
            match handshake::accept(stream, peer, tls, ctx).await {
                HandshakeOutcome::Established(tls_stream, after) => {
                    let requests = after.requests.clone();
                    serve_http(
                        TokioIo::new(tls_stream),
                        meta,
                        ctx,
                        graceful,
                        Some(requests),
                    )
                    .await;
                    after.finish(ctx, tls, peer, started);
                }
                HandshakeOutcome::Failed => {}
            }
        }
    }
}

/// Serves HTTP on an established connection until it closes.
async fn serve_http<I>(
    io: I,
    meta: ConnMeta,
    ctx: &Arc<ListenerContext>,
    graceful: Watcher,
    requests: Option<Arc<std::sync::atomic::AtomicU64>>,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let proxy = ctx.proxy.clone();
    let owed = super::parse_errors::Owed::default();
    let io = super::parse_errors::RewriteParseErrors::new(io, owed.clone(), proxy.detail());
    let service = service_fn(move |req| {
        owed.request_received();
        if let Some(r) = &requests {
            r.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let proxy = proxy.clone();
        async move { Ok::<_, Infallible>(proxy.handle(req, &meta).await) }
    });
    let conn = ctx.http.serve_connection_with_upgrades(io, service);
    let conn = graceful.watch(conn.into_owned());
    if let Err(e) = conn.await {
        tracing::debug!(event = Event::ConnectionError.as_str(), listener = %ctx.name, peer = %meta.peer, error = %e);
    }
}
