//! The TLS side of a new connection: peek and sniff the first bytes, run the rustls handshake
//! within `limits.handshake_timeout`, and on failure gather the evidence, classify it
//! (`diagnose::handshake::classify`) and log a rate-limited `tls_handshake_failed` event.
//!
//! The success path pays one peek and one copy of the ClientHello record (kept to recognise a
//! client that leaves without a request); parsing it happens only on failure.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::LazyConfigAcceptor;

use super::context::{ListenerContext, TlsSide};
use super::proxied::Peer;
use crate::certs::set::Selection;
use crate::diagnose::handshake::{
    classify, from_io_error, FailureKind, HandshakeEvidence, Phase, ServedInfo,
};
use crate::findings::{Code, Finding, Severity};
use crate::status::HandshakeFailureRecord;
use crate::telemetry::ratelimit::Admit;
use crate::telemetry::Event;
use crate::wire::client_hello;
use crate::wire::sniff::{self, Sniffed};

/// How many bytes of the first flight are kept for diagnosis. A ClientHello with a
/// post-quantum key share is about 1.9 KB; 4 KiB covers it with room to spare.
const PEEK_MAX: usize = 4096;

pub enum HandshakeOutcome {
    Established(Box<TlsStream<TcpStream>>, AfterHandshake),
    Failed,
}

/// What is kept from a successful handshake to recognise a silent rejection afterwards: a
/// client that closes without sending a request (Node, curl ≥ 8.17 reject certificates this
/// way: the handshake completes, then the connection closes without an alert).
pub struct AfterHandshake {
    cert_index: Option<usize>,
    /// Requests served on the connection, counted by the HTTP service.
    pub requests: Arc<AtomicU64>,
    hello: Vec<u8>,
    alpn: Option<String>,
    version: Option<u16>,
    /// The local address the client reached (what a client without SNI verifies).
    reached: Option<SocketAddr>,
}

impl AfterHandshake {
    /// Called when the connection has closed.
    pub fn finish(self, ctx: &ListenerContext, tls: &TlsSide, peer: &Peer, started: Instant) {
        if self.requests.load(Ordering::Relaxed) > 0 {
            return;
        }
        let failure = Failure {
            kind: FailureKind::EofAfterHandshakeNoRequest,
            sniffed: None,
            rustls_error: None,
            served: Some(ServedInfo {
                negotiated_version: self.version,
                negotiated_alpn: self.alpn.clone(),
            }),
            cert_index: self.cert_index,
        };
        report(ctx, tls, peer, self.reached, &failure, &self.hello, started);
    }
}

/// What was observed of a failed handshake.
struct Failure {
    kind: FailureKind,
    sniffed: Option<Sniffed>,
    rustls_error: Option<String>,
    served: Option<ServedInfo>,
    cert_index: Option<usize>,
}

impl Failure {
    fn simple(kind: FailureKind) -> Self {
        Failure {
            kind,
            sniffed: None,
            rustls_error: None,
            served: None,
            cert_index: None,
        }
    }

    fn from_io(e: &io::Error, phase: Phase, cert_index: Option<usize>) -> Self {
        let mut kind = from_io_error(e, phase);
        // A reset right after our certificate is the same silent rejection as a close.
        if phase == Phase::AfterCertificate
            && matches!(
                e.kind(),
                io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
            )
        {
            kind = FailureKind::EofAfterCertificate;
        }
        let rustls_error = e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .map(|r| r.to_string());
        Failure {
            kind,
            sniffed: None,
            rustls_error,
            served: (phase == Phase::AfterCertificate).then(ServedInfo::default),
            cert_index,
        }
    }
}

/// Runs the handshake on a new TLS-listener connection, to finish by `deadline` (the accept
/// time plus `limits.handshake_timeout`: a PROXY header read before counts against it).
pub async fn accept(
    stream: TcpStream,
    peer: &Peer,
    deadline: tokio::time::Instant,
    tls: &TlsSide,
    ctx: &ListenerContext,
) -> HandshakeOutcome {
    let started = Instant::now();
    // The address the client connected to: through a load balancer, its frontend's (from the
    // PROXY header), which is what the client's certificate check saw.
    let reached = peer
        .via
        .as_ref()
        .and_then(|v| v.header.destination)
        .or_else(|| stream.local_addr().ok());
    let mut peeked = [0u8; PEEK_MAX];

    // Diagnosis off (a benchmark's switch): no peek, no sniff, no copy of the ClientHello.
    let diagnosis = crate::telemetry::diagnosis_on();
    let n = if !diagnosis {
        0
    } else {
        // 1. Peek the first bytes: is this TLS at all?
        let mut seen = 0;
        let peeked_in_time =
            tokio::time::timeout_at(deadline, peek_first(&stream, &mut peeked, &mut seen)).await;
        match peeked_in_time {
            Err(_) => {
                ctx.closer.count(Code::HandshakeTimeout);
                // Whatever arrived before the deadline says what the client is: nothing or part of
                // a ClientHello is a timeout; anything else (a slow plain-HTTP request) is not TLS.
                let got = &peeked[..seen];
                let failure = match sniff::sniff_final(got) {
                    s if got.is_empty() || s == Sniffed::Tls => {
                        Failure::simple(FailureKind::TimeoutBeforeClientHello)
                    }
                    other => Failure {
                        sniffed: Some(other),
                        ..Failure::simple(FailureKind::NotTls)
                    },
                };
                report(ctx, tls, peer, reached, &failure, got, started);
                return HandshakeOutcome::Failed;
            }
            Ok(Err(e)) => {
                report(
                    ctx,
                    tls,
                    peer,
                    reached,
                    &Failure::from_io(&e, Phase::BeforeClientHello, None),
                    &[],
                    started,
                );
                return HandshakeOutcome::Failed;
            }
            // Connected and closed without a byte: a port probe or a load-balancer health check.
            Ok(Ok(0)) => return HandshakeOutcome::Failed,
            Ok(Ok(n)) => n,
        }
    };
    if diagnosis {
        let sniffed = sniff::sniff_final(&peeked[..n]);
        if sniffed != Sniffed::Tls {
            not_tls(stream, ctx, tls, peer, sniffed, &peeked[..n], started).await;
            return HandshakeOutcome::Failed;
        }
    }

    // 2. The ClientHello, then the rest of the handshake.
    let acceptor = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), stream);
    let start = match tokio::time::timeout_at(deadline, acceptor).await {
        Err(_) => {
            ctx.closer.count(Code::HandshakeTimeout);
            let f = Failure::simple(FailureKind::TimeoutBeforeClientHello);
            report(ctx, tls, peer, reached, &f, &peeked[..n], started);
            return HandshakeOutcome::Failed;
        }
        Ok(Err(e)) => {
            report(
                ctx,
                tls,
                peer,
                reached,
                &Failure::from_io(&e, Phase::BeforeClientHello, None),
                &peeked[..n],
                started,
            );
            return HandshakeOutcome::Failed;
        }
        Ok(Ok(start)) => start,
    };
    // One atomic load, no reference-count traffic: the same lookup rustls' resolver does next.
    let selection = tls
        .resolver
        .load()
        .select(start.client_hello().server_name());
    let cert_index = selection.index();
    // With a certificate chosen, rustls sends our whole first flight (ServerHello …
    // Certificate) before it reads anything else: a failure from here on happened after the
    // client saw our certificate, unless rustls refused the hello itself.
    let phase = if cert_index.is_some() {
        Phase::AfterCertificate
    } else {
        Phase::AfterClientHello
    };
    let config = tls.acceptor.config().clone();
    match tokio::time::timeout_at(deadline, start.into_stream(config)).await {
        Err(_) => {
            ctx.closer.count(Code::HandshakeTimeout);
            let mut f = Failure::simple(FailureKind::TimeoutDuringHandshake);
            f.cert_index = cert_index;
            report(ctx, tls, peer, reached, &f, &peeked[..n], started);
            HandshakeOutcome::Failed
        }
        Ok(Err(e)) => {
            let mut f = Failure::from_io(&e, phase, cert_index);
            if matches!(selection, Selection::NoSni | Selection::UnknownSni) {
                f.kind = FailureKind::NoCertificateResolved;
            }
            // A hello refused while being processed never got our certificate.
            if matches!(
                f.kind,
                FailureKind::Incompatible(_) | FailureKind::NoApplicationProtocol
            ) {
                f.served = None;
            }
            report(ctx, tls, peer, reached, &f, &peeked[..n], started);
            HandshakeOutcome::Failed
        }
        Ok(Ok(stream)) => {
            let (_, conn) = stream.get_ref();
            let alpn = conn.alpn_protocol().map(crate::wire::sniff::printable);
            let version = conn.protocol_version().map(u16::from);
            HandshakeOutcome::Established(
                Box::new(stream),
                AfterHandshake {
                    cert_index,
                    requests: Arc::new(AtomicU64::new(0)),
                    hello: peeked[..n].to_vec(),
                    alpn,
                    version,
                    reached,
                },
            )
        }
    }
}

/// Peeks until at least the first TLS record (or enough non-TLS bytes to tell what they are)
/// has arrived, or the buffer is full. Returns the number of bytes available.
async fn peek_first(stream: &TcpStream, buf: &mut [u8], seen: &mut usize) -> io::Result<usize> {
    // The first peek waits for readability like any read.
    let mut n = stream.peek(buf).await?;
    loop {
        *seen = n;
        if n == 0 || n == buf.len() || enough_to_sniff(&buf[..n]) {
            return Ok(n);
        }
        match peek_more(stream, buf, n).await? {
            Some(more) => n = more,
            // The client stopped sending (half-closed): judge what it sent.
            None => return Ok(n),
        }
    }
}

/// Whether the first bytes say what the connection is.
fn enough_to_sniff(buf: &[u8]) -> bool {
    match sniff::sniff(buf) {
        Sniffed::NeedMore => false,
        Sniffed::Tls => {
            buf.len() >= 5 && {
                let record_len = usize::from(u16::from_be_bytes([buf[3], buf[4]]));
                buf.len() >= 5 + record_len
            }
        }
        // Plain HTTP: wait for the whole head so the Host header can be read.
        Sniffed::PlainHttp { .. } => sniff::http_head_complete(buf),
        _ => true,
    }
}

/// Waits until more than `have` bytes can be peeked and returns how many; `None` when the peer
/// has stopped sending. A successful peek leaves the socket "readable" as far as the runtime knows, so
/// waiting for readiness again would return at once and spin; readiness is cleared here
/// whenever a peek finds nothing new, and set again by the next bytes that arrive.
#[cfg(unix)]
async fn peek_more(stream: &TcpStream, buf: &mut [u8], have: usize) -> io::Result<Option<usize>> {
    use std::os::fd::AsFd;
    use tokio::io::Interest;
    // The same socket as a std stream, for a peek that does not wait.
    let sock = std::net::TcpStream::from(stream.as_fd().try_clone_to_owned()?);
    loop {
        let ready = stream.ready(Interest::READABLE).await?;
        let peeked = stream.try_io(Interest::READABLE, || match sock.peek(buf)? {
            n if n > have => Ok(n),
            // Nothing new: report "would block" so the readiness is cleared.
            _ => Err(io::ErrorKind::WouldBlock.into()),
        });
        match peeked {
            Ok(n) => return Ok(Some(n)),
            // The peer half-closed: what is there is all there will be.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && ready.is_read_closed() => {
                return Ok(None)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
}

/// Without readiness tricks: poll for more bytes every few milliseconds.
#[cfg(not(unix))]
async fn peek_more(stream: &TcpStream, buf: &mut [u8], have: usize) -> io::Result<Option<usize>> {
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        let n = stream.peek(buf).await?;
        if n > have {
            return Ok(Some(n));
        }
    }
}

/// A connection on a TLS port that does not speak TLS: answer plain HTTP readably, then report.
async fn not_tls(
    mut stream: TcpStream,
    ctx: &ListenerContext,
    tls: &TlsSide,
    peer: &Peer,
    sniffed: Sniffed,
    bytes: &[u8],
    started: Instant,
) {
    if let Sniffed::PlainHttp { host, .. } = &sniffed {
        // The https:// URL to name is the one the client used: through a load balancer, its port.
        let resp = sniff::plain_http_response(host.as_deref(), peer.reached_port(ctx.bind.port()));
        let _ = stream.write_all(&resp).await;
        let _ = stream.shutdown().await;
    }
    let failure = Failure {
        sniffed: Some(sniffed),
        ..Failure::simple(FailureKind::NotTls)
    };
    report(ctx, tls, peer, None, &failure, bytes, started);
}

/// Classifies, counts and (rate-limited) logs one failed handshake.
fn report(
    ctx: &ListenerContext,
    tls: &TlsSide,
    peer: &Peer,
    reached: Option<SocketAddr>,
    failure: &Failure,
    peeked: &[u8],
    started: Instant,
) {
    let hello = client_hello::parse(peeked).ok();
    let set = tls.resolver.current();
    let chains = tls.chains.load();
    // The certificate the client saw, or would have been shown.
    let index = failure.cert_index.or_else(|| {
        set.select(hello.as_ref().and_then(|h| h.server_name()))
            .index()
    });
    let our_chain = index
        .and_then(|i| chains.get(i).cloned())
        .unwrap_or_default();
    let evidence = HandshakeEvidence {
        sniffed: failure.sniffed.clone(),
        hello,
        failure: failure.kind.clone(),
        served: failure.served.clone(),
        our_chain,
        ours: (*tls.ours).clone(),
        listener_names: set.names(),
        reached,
        elapsed_ms: started.elapsed().as_millis() as u64,
    };
    let finding = classify(&evidence);
    log_failure(ctx, tls, peer, &evidence, failure, &finding);
}

fn log_failure(
    ctx: &ListenerContext,
    tls: &TlsSide,
    peer: &Peer,
    ev: &HandshakeEvidence,
    failure: &Failure,
    f: &Finding,
) {
    let peer_text = crate::telemetry::redact::peer(peer.addr);
    // Through a load balancer: its address, and what its PROXY v2 TLVs said the client asked
    // for (authority: the name, usually its SNI; ALPN).
    let via = peer.via.as_ref();
    let proxy = via.map(|v| crate::telemetry::redact::peer(v.balancer));
    let proxy_authority = via.and_then(|v| v.header.authority.as_deref());
    let proxy_alpn = via.and_then(|v| v.header.alpn.as_deref());
    let hello = ev.hello.as_ref();
    let sni = hello.and_then(|h| h.sni.clone());
    let alpn = hello.map(|h| h.alpn.join(",")).unwrap_or_default();
    let versions = hello
        .map(|h| h.version_names().join(","))
        .unwrap_or_default();
    let cipher_count = hello.map(|h| h.cipher_count).unwrap_or(0);
    let client_family = hello
        .and_then(|h| h.client_family())
        .map(|g| format!("{} ({} confidence)", g.family.name(), g.confidence.as_str()));
    let alert = match &ev.failure {
        FailureKind::AlertReceived(a) => Some(crate::diagnose::handshake::alert_name(*a)),
        _ => None,
    };
    let served_cert = ev
        .served
        .as_ref()
        .map(|_| ev.our_chain.fingerprint.clone())
        .unwrap_or_default();
    let duration_ms = ev.elapsed_ms;
    let record = HandshakeFailureRecord {
        at: time::OffsetDateTime::now_utc(),
        peer: peer_text.clone(),
        sni: sni.clone(),
        alpn: alpn.clone(),
        client_versions: versions.clone(),
        alert: alert.clone(),
        code: f.code,
        summary: f.summary.clone(),
        served_cert: served_cert.clone(),
        proxy: via.map(|v| crate::status::ProxyEvidence {
            proxy: crate::telemetry::redact::peer(v.balancer),
            proxy_authority: v.header.authority.clone(),
            proxy_alpn: v.header.alpn.clone(),
        }),
    };
    ctx.state.record_handshake_failure(&ctx.name, record);
    if tls
        .limiter
        .admit(&ctx.name, f.code, &peer_text, Instant::now())
        == Admit::Suppress
    {
        return;
    }
    macro_rules! emit {
        ($lvl:ident) => {
            tracing::$lvl!(
                event = Event::TlsHandshakeFailed.as_str(),
                listener = %ctx.name,
                peer = %peer_text,
                sni = sni.as_deref().unwrap_or(""),
                alpn = %alpn,
                client_versions = %versions,
                cipher_count = cipher_count,
                client_family = client_family.as_deref(),
                alert = alert.as_deref(),
                rustls_error = failure.rustls_error.as_deref(),
                code = f.code.as_str(),
                severity = f.severity.as_str(),
                summary = %f.summary,
                why = %f.why,
                fix = %f.fix,
                served_cert = %served_cert,
                duration_ms = duration_ms,
                proxy = proxy.as_deref(),
                proxy_authority = proxy_authority,
                proxy_alpn = proxy_alpn,
            )
        };
    }
    // The level is the code's catalogue severity: warnings (our configuration, as clients see
    // it) at WARN, client-side problems and scanner noise at INFO.
    if f.code.default_severity() >= Severity::Warning {
        emit!(warn)
    } else {
        emit!(info)
    }
}
