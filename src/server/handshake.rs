//! The TLS side of a new connection: peek and sniff the first bytes, run the rustls handshake
//! within `limits.handshake_timeout`, and on failure gather the evidence and log a diagnosed
//! `tls_handshake_failed` event.
//!
//! The success path pays one peek syscall and keeps the peeked ClientHello bytes in the
//! connection's own (already allocated) task state; parsing them happens only on failure.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::LazyConfigAcceptor;

use super::listener::{ListenerContext, TlsSide};

/// How many bytes of the first flight are kept for diagnosis. A ClientHello with a
/// post-quantum key share is about 1.9 KB; 4 KiB covers it with room to spare.
const PEEK_MAX: usize = 4096;

pub enum HandshakeOutcome {
    Established(Box<TlsStream<TcpStream>>, AfterHandshake),
    Failed,
}

/// What is kept from a successful handshake to recognise a silent rejection afterwards
/// (a client that closes without sending a request).
pub struct AfterHandshake {
    pub(crate) sni: Option<String>,
    pub(crate) cert_index: Option<usize>,
    pub(crate) requests: Arc<std::sync::atomic::AtomicU64>,
}

impl AfterHandshake {
    /// Called when the connection has closed.
    pub fn finish(self, ctx: &ListenerContext, started: Instant) {
        let _ = (ctx, started, self.sni, self.cert_index, self.requests);
    }
}

/// Runs the handshake on a new TLS-listener connection.
pub async fn accept(
    stream: TcpStream,
    peer: SocketAddr,
    tls: &TlsSide,
    ctx: &ListenerContext,
) -> HandshakeOutcome {
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + ctx.handshake_timeout;
    let mut peeked = [0u8; PEEK_MAX];

    // 1. Peek the first bytes: is this TLS at all?
    let n = match tokio::time::timeout_at(deadline, peek_first(&stream, &mut peeked)).await {
        Err(_) => {
            report(
                ctx,
                tls,
                peer,
                &Failure::Timeout,
                &peeked[..0],
                None,
                started,
            );
            return HandshakeOutcome::Failed;
        }
        Ok(Err(e)) => {
            report(ctx, tls, peer, &Failure::Io(e), &peeked[..0], None, started);
            return HandshakeOutcome::Failed;
        }
        Ok(Ok(0)) => return HandshakeOutcome::Failed, // connected and closed: a port probe
        Ok(Ok(n)) => n,
    };
    if peeked[0] != 0x16 {
        not_tls(stream, ctx, tls, peer, &peeked[..n], started).await;
        return HandshakeOutcome::Failed;
    }

    // 2. The ClientHello, then the rest of the handshake.
    let acceptor = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), stream);
    let start = match tokio::time::timeout_at(deadline, acceptor).await {
        Err(_) => {
            report(
                ctx,
                tls,
                peer,
                &Failure::Timeout,
                &peeked[..n],
                None,
                started,
            );
            return HandshakeOutcome::Failed;
        }
        Ok(Err(e)) => {
            report(
                ctx,
                tls,
                peer,
                &Failure::from_io(e),
                &peeked[..n],
                None,
                started,
            );
            return HandshakeOutcome::Failed;
        }
        Ok(Ok(start)) => start,
    };
    let sni = start.client_hello().server_name().map(str::to_string);
    // More of the hello may have arrived since the first peek (it is all consumed now, so
    // only what was peeked before is available for diagnosis).
    let config = tls.acceptor.config().clone();
    match tokio::time::timeout_at(deadline, start.into_stream(config)).await {
        Err(_) => {
            report(
                ctx,
                tls,
                peer,
                &Failure::Timeout,
                &peeked[..n],
                sni.as_deref(),
                started,
            );
            HandshakeOutcome::Failed
        }
        Ok(Err(e)) => {
            report(
                ctx,
                tls,
                peer,
                &Failure::from_io(e),
                &peeked[..n],
                sni.as_deref(),
                started,
            );
            HandshakeOutcome::Failed
        }
        Ok(Ok(stream)) => {
            let cert_index = tls.resolver.current().select(sni.as_deref()).index();
            HandshakeOutcome::Established(
                Box::new(stream),
                AfterHandshake {
                    sni,
                    cert_index,
                    requests: Arc::new(std::sync::atomic::AtomicU64::new(0)),
                },
            )
        }
    }
}

/// Peeks until at least the first TLS record (or whatever non-TLS bytes) has arrived, or the
/// buffer is full. Returns the number of bytes available.
async fn peek_first(stream: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        let n = stream.peek(buf).await?;
        if n == 0 {
            return Ok(0);
        }
        if buf[0] != 0x16 {
            // Not TLS: a few bytes are enough to tell what it is (HTTP needs its first line).
            if n >= 16 || buf[..n].contains(&b'\n') {
                return Ok(n);
            }
        } else if n >= 5 {
            let record_len = usize::from(u16::from_be_bytes([buf[3], buf[4]]));
            if n >= (5 + record_len).min(buf.len()) {
                return Ok(n);
            }
        }
        if n == buf.len() {
            return Ok(n);
        }
        // Wait for more bytes rather than spinning on the same peek.
        stream.readable().await?;
        tokio::task::yield_now().await;
    }
}

/// Why a handshake failed, as observed.
#[derive(Debug)]
pub enum Failure {
    Timeout,
    Tls(rustls::Error),
    Io(io::Error),
}

impl Failure {
    fn from_io(e: io::Error) -> Self {
        match e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            Some(tls) => Failure::Tls(tls.clone()),
            None => Failure::Io(e),
        }
    }
}

/// A connection on a TLS port that does not speak TLS.
async fn not_tls(
    mut stream: TcpStream,
    ctx: &ListenerContext,
    tls: &TlsSide,
    peer: SocketAddr,
    bytes: &[u8],
    started: Instant,
) {
    let is_http = [
        &b"GET "[..],
        b"POST ",
        b"PUT ",
        b"HEAD ",
        b"DELETE ",
        b"OPTIONS ",
        b"PATCH ",
    ]
    .iter()
    .any(|m| bytes.starts_with(m));
    if is_http {
        let body = format!(
            "This is a TLS port: use https://, e.g. https://{}/\n",
            ctx.bind
        );
        let resp = format!(
            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
            body.len(),
            body
        );
        let _ = stream.write_all(resp.as_bytes()).await;
        let _ = stream.shutdown().await;
    }
    report(
        ctx,
        tls,
        peer,
        &Failure::Io(io::Error::other("not tls")),
        bytes,
        None,
        started,
    );
}

/// Logs and counts one failed handshake.
fn report(
    ctx: &ListenerContext,
    tls: &TlsSide,
    peer: SocketAddr,
    failure: &Failure,
    peeked: &[u8],
    sni: Option<&str>,
    started: Instant,
) {
    let _ = (tls, peeked);
    tracing::info!(
        event = "tls_handshake_failed",
        listener = %ctx.name,
        peer = %peer,
        sni = sni.unwrap_or("-"),
        failure = ?failure,
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
    );
}
