//! Connecting to an upstream: DNS, TCP (optionally through an HTTP CONNECT egress proxy), then
//! TLS. Every failure is classified into a finding code here, at the place that knows which
//! step failed, so the error a client receives names the cause rather than "connection error".

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::rt::{Read, ReadBufCursor, Write};
use hyper::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::admission::{ConnectionSlots, Refused, Slot};
use crate::certs::CertInfo;
use crate::diagnose::upstream::{
    chain_summary, classify_tls_failure, looks_like_tls, printable_prefix, verdicts, webpki_store,
    FixContext, TrustStore, UpstreamEvidence,
};
use crate::findings::{Code, Finding};
use crate::telemetry::Event;

/// Why connecting to an upstream failed: a finding code and the evidence.
#[derive(Debug, Clone)]
pub struct ConnectError {
    pub code: Code,
    /// Evidence for the `why` of the finding (addresses, the TLS error).
    pub why: String,
    /// The TLS error rustls reported, when the failure happened in the handshake (the original
    /// error, unwrapped from the recording verifier).
    pub tls_error: Option<rustls::Error>,
    /// The full diagnosis of a TLS failure, most important first (`code` is the first one's);
    /// empty for failures before TLS.
    pub findings: Vec<Finding>,
    /// The presented chain, one line per certificate, when one was seen.
    pub chain_summary: Option<String>,
}

impl ConnectError {
    pub fn new(code: Code, why: impl Into<String>) -> Self {
        ConnectError {
            code,
            why: why.into(),
            tls_error: None,
            findings: Vec::new(),
            chain_summary: None,
        }
    }

    /// An error made of a diagnosis (the first finding decides the code).
    pub fn from_findings(findings: Vec<Finding>, chain_summary: Option<String>) -> Self {
        let (code, why) = match findings.first() {
            Some(f) => (f.code, f.why.clone()),
            None => (
                Code::UpstreamTlsFailed,
                "the TLS handshake failed".to_string(),
            ),
        };
        ConnectError {
            code,
            why,
            tls_error: None,
            findings,
            chain_summary,
        }
    }
}

/// What the diagnosis of a failed handshake needs to know about the upstream's configuration.
#[derive(Debug, Clone)]
pub struct ConnectDiag {
    pub context: FixContext,
    /// The trust stores consulted, each on its own.
    pub stores: Vec<TrustStore>,
    pub client_cert_sent: bool,
    pub verification_disabled: bool,
}

impl ConnectDiag {
    /// Evidence for `address`/`server_name` with this upstream's context filled in.
    pub fn evidence(&self, address: &str, server_name: &str) -> UpstreamEvidence {
        let mut ev = UpstreamEvidence::new(self.context.clone(), address, server_name);
        ev.client_cert_sent = self.client_cert_sent;
        ev.verification_disabled = self.verification_disabled;
        ev
    }

    /// Fills in the chain and the trust verdicts from presented DER certificates.
    pub fn add_chain(&self, ev: &mut UpstreamEvidence, certs: &[CertificateDer<'static>]) {
        ev.chain = certs
            .iter()
            .filter_map(|c| CertInfo::parse(c).ok())
            .collect();
        if !ev.chain.is_empty() {
            ev.trust = verdicts(&self.stores, &ev.chain, ev.now);
            ev.publicly_trusted =
                crate::diagnose::upstream::anchors(&webpki_store(), &ev.chain, ev.now);
        }
    }
}

/// How many of the first bytes a server sends are kept for the diagnosis.
const RECORD_LIMIT: usize = 64;

/// A stream that keeps the first bytes the peer sent (to tell plain HTTP from TLS), and on a
/// plain connection refuses a peer that answers with a TLS record.
pub struct Recorded<S> {
    inner: S,
    head: Arc<std::sync::Mutex<Vec<u8>>>,
    /// Plain HTTP expected: a TLS record from the peer is an error (`upstream_tls_on_http_url`).
    refuse_tls: Option<(Arc<ConnectDiag>, String)>,
    done: bool,
    /// The connection's place under `limits.upstream_max_connections`, freed when it closes.
    slot: Option<Slot>,
}

impl<S> Recorded<S> {
    pub fn new(inner: S) -> Self {
        Recorded {
            inner,
            head: Arc::new(std::sync::Mutex::new(Vec::new())),
            refuse_tls: None,
            // Diagnosis off (a benchmark's switch): nothing is recorded.
            done: !crate::telemetry::diagnosis_on(),
            slot: None,
        }
    }

    /// The shared buffer of the first bytes read.
    pub fn head(&self) -> Arc<std::sync::Mutex<Vec<u8>>> {
        self.head.clone()
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Recorded<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let res = Pin::new(&mut this.inner).poll_read(cx, buf);
        if this.done || !matches!(res, Poll::Ready(Ok(()))) {
            return res;
        }
        let new = &buf.filled()[before..];
        let head_now = {
            let mut head = match this.head.lock() {
                Ok(h) => h,
                Err(p) => p.into_inner(),
            };
            let room = RECORD_LIMIT.saturating_sub(head.len());
            head.extend_from_slice(&new[..new.len().min(room)]);
            if head.len() >= RECORD_LIMIT || new.is_empty() {
                this.done = true;
            }
            head.clone()
        };
        if let Some((diag, address)) = &this.refuse_tls {
            if head_now.len() >= 2 || this.done {
                this.done = true;
                if looks_like_tls(&head_now) {
                    let mut ev = diag.evidence(address, "");
                    ev.expects_tls = false;
                    ev.first_bytes = head_now;
                    let err = ConnectError::from_findings(classify_tls_failure(&ev), None);
                    return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, err)));
                }
            }
        }
        res
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Recorded<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.why)
    }
}

impl std::error::Error for ConnectError {}

/// An HTTP CONNECT proxy to reach the upstream through.
#[derive(Debug, Clone)]
pub struct EgressProxy {
    pub host: String,
    pub port: u16,
}

/// Connects to one upstream. Cloned into the hyper-util pool; cheap to clone.
#[derive(Clone)]
pub struct Connector {
    pub(crate) tls: Option<Arc<rustls::ClientConfig>>,
    pub(crate) server_name: Option<ServerName<'static>>,
    pub(crate) connect_timeout: Duration,
    pub(crate) tls_timeout: Duration,
    pub(crate) egress: Option<EgressProxy>,
    pub(crate) diag: Arc<ConnectDiag>,
    /// Connections opened (pool misses): `tlsgate_upstream_connections_total`.
    pub(crate) opened: prometheus_client::metrics::counter::Counter,
    /// The upstream's connection cap, shared by every worker.
    pub(crate) slots: Arc<ConnectionSlots>,
}

/// A connection to an upstream, plain or TLS.
pub enum UpstreamStream {
    Plain(TokioIo<Recorded<TcpStream>>),
    Tls(Box<TokioIo<tokio_rustls::client::TlsStream<Recorded<TcpStream>>>>),
}

/// The error of a connection the cap did not allow.
pub fn overloaded(refused: Refused) -> ConnectError {
    ConnectError::new(Code::UpstreamOverloaded, refused.to_string())
}

impl UpstreamStream {
    /// Ties the connection's slot to its lifetime.
    fn hold(&mut self, slot: Slot) {
        let recorded = match self {
            UpstreamStream::Plain(io) => io.inner_mut(),
            UpstreamStream::Tls(io) => io.inner_mut().get_mut().0,
        };
        recorded.slot = Some(slot);
    }
}

impl Connection for UpstreamStream {
    fn connected(&self) -> Connected {
        let connected = Connected::new();
        match self {
            UpstreamStream::Plain(_) => connected,
            UpstreamStream::Tls(s) => {
                let (_, conn) = s.inner().get_ref();
                if conn.alpn_protocol() == Some(b"h2") {
                    connected.negotiated_h2()
                } else {
                    connected
                }
            }
        }
    }
}

impl Read for UpstreamStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            UpstreamStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl Write for UpstreamStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            UpstreamStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            UpstreamStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamStream::Plain(s) => Pin::new(s).poll_flush(cx),
            UpstreamStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            UpstreamStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            UpstreamStream::Plain(s) => s.is_write_vectored(),
            UpstreamStream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            UpstreamStream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            UpstreamStream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }
}

type ConnectFuture = Pin<Box<dyn Future<Output = Result<UpstreamStream, ConnectError>> + Send>>;

impl tower_service::Service<Uri> for Connector {
    type Response = UpstreamStream;
    type Error = ConnectError;
    type Future = ConnectFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { this.open(&uri).await })
    }
}

impl Connector {
    /// Connects as [`connect`](Self::connect) does and counts the connection in `opened`.
    pub async fn open(&self, uri: &Uri) -> Result<UpstreamStream, ConnectError> {
        // The slot first: a request waits for it before any descriptor is spent.
        let slot = self.slots.acquire().await.map_err(overloaded)?;
        self.open_in(slot, uri).await
    }

    /// Opens a connection in a slot already taken; the slot is freed when the connection
    /// closes (or at once, if connecting fails).
    pub async fn open_in(&self, slot: Slot, uri: &Uri) -> Result<UpstreamStream, ConnectError> {
        let mut conn = self.connect(uri).await?;
        self.opened.inc();
        conn.hold(slot);
        Ok(conn)
    }

    /// The upstream's connection cap.
    pub fn slots(&self) -> &ConnectionSlots {
        &self.slots
    }

    /// Connects to the authority of `uri`.
    pub async fn connect(&self, uri: &Uri) -> Result<UpstreamStream, ConnectError> {
        let host = uri
            .host()
            .ok_or_else(|| ConnectError::new(Code::UpstreamUnreachable, "the URL has no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
            Some("https") => 443,
            _ => 80,
        });
        let tcp = match &self.egress {
            Some(proxy) => {
                tokio::time::timeout(self.connect_timeout, connect_via_proxy(proxy, &host, port))
                    .await
                    .map_err(|_| {
                        ConnectError::new(
                            Code::EgressProxyFailed,
                            format!(
                                "the egress proxy {} did not establish a tunnel to {host}:{port} within {:?}",
                                proxy.display(), self.connect_timeout
                            ),
                        )
                    })??
            }
            None => connect_tcp(&host, port, self.connect_timeout).await?,
        };
        let _ = tcp.set_nodelay(true);
        let address = format!("{host}:{port}");
        let Some(tls) = &self.tls else {
            let mut rec = Recorded::new(tcp);
            if crate::telemetry::diagnosis_on() {
                rec.refuse_tls = Some((self.diag.clone(), address));
            }
            return Ok(UpstreamStream::Plain(TokioIo::new(rec)));
        };
        let server_name = match &self.server_name {
            Some(n) => n.clone(),
            None => ServerName::try_from(host.clone()).map_err(|_| {
                ConnectError::new(
                    Code::UpstreamUnreachable,
                    format!("{host:?} is not a valid TLS server name"),
                )
            })?,
        };
        let name_text = server_name.to_str().into_owned();
        let connector = tokio_rustls::TlsConnector::from(tls.clone());
        let rec = Recorded::new(tcp);
        let head = rec.head();
        let first_bytes = || match head.lock() {
            Ok(h) => h.clone(),
            Err(p) => p.into_inner().clone(),
        };
        match tokio::time::timeout(self.tls_timeout, connector.connect(server_name, rec)).await {
            Err(_) => {
                let mut ev = self.diag.evidence(&address, &name_text);
                ev.timed_out = true;
                ev.first_bytes = first_bytes();
                let mut err = ConnectError::from_findings(classify_tls_failure(&ev), None);
                err.why = format!(
                    "the TLS handshake with {address} did not finish within {:?}; {}",
                    self.tls_timeout, err.why
                );
                Err(err)
            }
            Ok(Err(e)) => Err(self.diagnose_tls_error(e, &address, &name_text, first_bytes())),
            Ok(Ok(stream)) => {
                if self.diag.verification_disabled {
                    self.warn_verification_disabled(&address, &name_text);
                }
                Ok(UpstreamStream::Tls(Box::new(TokioIo::new(stream))))
            }
        }
    }
}

impl Connector {
    /// Logged once per new upstream TLS connection (the pool reuses it for later requests)
    /// while `insecure_skip_verify` is on: nothing checked the certificate just accepted.
    fn warn_verification_disabled(&self, address: &str, server_name: &str) {
        let upstream = match &self.diag.context {
            FixContext::Upstream(name) => name.as_str(),
            FixContext::Probe | FixContext::ProbePostgres => "",
        };
        tracing::warn!(
            event = Event::UpstreamVerificationDisabled.as_str(),
            upstream,
            address,
            server_name,
            code = Code::UpstreamVerificationDisabled.as_str(),
            severity = "warning",
            summary = "connected to the upstream WITHOUT verifying its certificate",
            why = format!("upstreams.{upstream}.tls.insecure_skip_verify is true: the certificate {address} presented was accepted unchecked, so anyone on the path could impersonate the upstream and read the API key"),
            fix = format!("remove insecure_skip_verify and trust the upstream's CA with upstreams.{upstream}.tls.ca_bundle"),
        );
    }

    /// The full diagnosis of a failed handshake: the original rustls error, the chain the
    /// recording verifier kept, the first bytes the server sent, the trust stores.
    fn diagnose_tls_error(
        &self,
        e: io::Error,
        address: &str,
        server_name: &str,
        first_bytes: Vec<u8>,
    ) -> ConnectError {
        let coarse = classify_tls_io_error(&e, address);
        let mut ev = self.diag.evidence(address, server_name);
        ev.first_bytes = first_bytes;
        let mut certs = Vec::new();
        match &coarse.tls_error {
            Some(err) => {
                let (original, presented) = crate::tls::verifier::unwrap_presented(err);
                ev.tls_error = Some(original);
                certs = presented;
            }
            None => ev.io_error = Some(e.to_string()),
        }
        self.diag.add_chain(&mut ev, &certs);
        let summary = (!ev.chain.is_empty()).then(|| chain_summary(&ev.chain));
        let findings = classify_tls_failure(&ev);
        if findings.is_empty() {
            return coarse;
        }
        let mut err = ConnectError::from_findings(findings, summary);
        err.tls_error = ev.tls_error;
        err
    }
}

/// Sends a TLS ClientHello over `tcp` and returns the first bytes the server answers with
/// (empty when it answers nothing within `timeout`). Used to confirm that a server which drops
/// plain HTTP without a word (HAProxy on its TLS port) speaks TLS: a TLS server answers with a
/// handshake or alert record. Any certificate is accepted; nothing is sent after the handshake.
pub(crate) async fn hello_answer(tcp: TcpStream, host: &str, timeout: Duration) -> Vec<u8> {
    let slot: crate::tls::verifier::CaptureSlot = Arc::new(std::sync::Mutex::new(None));
    let asked = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let Ok(config) =
        crate::tls::client::capturing_config(None, None, vec![b"http/1.1".to_vec()], slot, asked)
    else {
        return Vec::new();
    };
    let name = ServerName::try_from(host.to_string())
        .unwrap_or_else(|_| ServerName::try_from("localhost").expect("a valid name"));
    let rec = Recorded::new(tcp);
    let head = rec.head();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    if let Ok(Ok(mut stream)) = tokio::time::timeout(timeout, connector.connect(name, rec)).await {
        let _ = stream.shutdown().await;
    }
    let bytes = match head.lock() {
        Ok(h) => h.clone(),
        Err(p) => p.into_inner().clone(),
    };
    bytes
}

impl Connector {
    /// Opens a new TCP connection to `host:port` the way this connector does (egress proxy
    /// included) and returns what the server answers to a TLS ClientHello ([`hello_answer`]).
    pub async fn hello_answer(&self, host: &str, port: u16) -> Vec<u8> {
        let tcp = match &self.egress {
            Some(proxy) => {
                match tokio::time::timeout(
                    self.connect_timeout,
                    connect_via_proxy(proxy, host, port),
                )
                .await
                {
                    Ok(Ok(t)) => t,
                    _ => return Vec::new(),
                }
            }
            None => match connect_tcp(host, port, self.connect_timeout).await {
                Ok(t) => t,
                Err(_) => return Vec::new(),
            },
        };
        hello_answer(tcp, host, self.tls_timeout).await
    }
}

pub(crate) async fn connect_tcp(
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<TcpStream, ConnectError> {
    let attempt = async {
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| {
                ConnectError::new(
                    Code::UpstreamDnsFailed,
                    format!("resolving {host:?} failed: {e}"),
                )
            })?
            .collect();
        if addrs.is_empty() {
            return Err(ConnectError::new(
                Code::UpstreamDnsFailed,
                format!("{host:?} resolved to no address"),
            ));
        }
        let mut last = None;
        for addr in &addrs {
            match TcpStream::connect(addr).await {
                Ok(s) => return Ok(s),
                Err(e) => last = Some((addr, e)),
            }
        }
        match last {
            Some((addr, e)) => Err(classify_connect_io_error(&e, *addr)),
            None => Err(ConnectError::new(
                Code::UpstreamDnsFailed,
                format!("{host:?} resolved to no address"),
            )),
        }
    };
    tokio::time::timeout(timeout, attempt).await.map_err(|_| {
        ConnectError::new(
            Code::UpstreamConnectTimeout,
            format!("connecting to {host}:{port} took longer than {timeout:?}"),
        )
    })?
}

fn classify_connect_io_error(e: &io::Error, addr: SocketAddr) -> ConnectError {
    let code = match e.kind() {
        io::ErrorKind::ConnectionRefused => Code::UpstreamRefused,
        io::ErrorKind::TimedOut => Code::UpstreamConnectTimeout,
        _ => Code::UpstreamUnreachable,
    };
    ConnectError::new(code, format!("connecting to {addr}: {e}"))
}

/// Maps a failed TLS handshake to a code. This is the coarse first cut; the upstream diagnosis
/// refines it from the captured chain.
fn classify_tls_io_error(e: &io::Error, address: &str) -> ConnectError {
    let tls_error = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .cloned();
    let code = match &tls_error {
        Some(err) => code_for_tls_error(err),
        None => match e.kind() {
            io::ErrorKind::ConnectionReset | io::ErrorKind::UnexpectedEof => {
                Code::UpstreamConnectionReset
            }
            _ => Code::UpstreamTlsFailed,
        },
    };
    let mut err = ConnectError::new(code, format!("TLS handshake with {address} failed: {e}"));
    err.tls_error = tls_error;
    err
}

/// The finding code for a rustls client-side error.
pub fn code_for_tls_error(err: &rustls::Error) -> Code {
    use rustls::{AlertDescription as A, CertificateError as C, Error as E};
    match err {
        E::InvalidCertificate(c) => match c {
            C::Expired | C::ExpiredContext { .. } => Code::UpstreamCertExpired,
            C::NotValidYet | C::NotValidYetContext { .. } => Code::UpstreamCertNotYetValid,
            C::NotValidForName | C::NotValidForNameContext { .. } => Code::UpstreamNameMismatch,
            C::UnknownIssuer => Code::UpstreamUntrustedRoot,
            _ => Code::UpstreamTlsFailed,
        },
        E::InvalidMessage(rustls::InvalidMessage::InvalidContentType) => Code::UpstreamPlainHttp,
        E::AlertReceived(A::CertificateRequired) => Code::UpstreamClientCertRequired,
        E::AlertReceived(A::ProtocolVersion) => Code::UpstreamLegacyTls,
        E::AlertReceived(A::BadCertificate | A::UnknownCA | A::CertificateUnknown) => {
            Code::UpstreamClientCertRejected
        }
        E::PeerIncompatible(rustls::PeerIncompatible::ServerDoesNotSupportTls12Or13) => {
            Code::UpstreamLegacyTls
        }
        _ => Code::UpstreamTlsFailed,
    }
}

/// Opens a tunnel through an HTTP CONNECT proxy. Every failure is `egress_proxy_failed`, and
/// the `why` tells the steps apart: the proxy itself cannot be reached ("cannot reach the
/// egress proxy ADDR"), the proxy closed or spoke something else than HTTP, the proxy refused
/// the tunnel (403, 407), or the proxy could not reach the upstream behind it (502, 503, 504:
/// "could not reach the upstream HOST:PORT behind it").
pub(crate) async fn connect_via_proxy(
    proxy: &EgressProxy,
    host: &str,
    port: u16,
) -> Result<TcpStream, ConnectError> {
    let fail = |why: String| ConnectError::new(Code::EgressProxyFailed, why);
    let proxy_addr = proxy.display();
    // The caller bounds the whole tunnel setup with its connect timeout.
    let mut tcp = connect_tcp(&proxy.host, proxy.port, Duration::from_secs(3600))
        .await
        .map_err(|e| {
            fail(format!(
                "cannot reach the egress proxy {proxy_addr} itself: {}",
                e.why
            ))
        })?;
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.map_err(|e| {
        fail(format!(
            "sending CONNECT {authority} to the egress proxy {proxy_addr} failed: {e}"
        ))
    })?;
    // Read the proxy's reply head byte by byte so no tunnelled byte is consumed.
    let mut head = Vec::with_capacity(256);
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > PROXY_HEAD_LIMIT {
            return Err(fail(format!(
                "the egress proxy {proxy_addr}'s reply to CONNECT {authority} has a head larger than 16 KiB"
            )));
        }
        match tcp.read_u8().await {
            Ok(b) => head.push(b),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                return Err(fail(if head.is_empty() {
                    format!(
                        "the egress proxy {proxy_addr} closed the connection without answering CONNECT {authority}"
                    )
                } else {
                    format!(
                        "the egress proxy {proxy_addr} closed the connection in the middle of its reply to CONNECT {authority}: {:?}",
                        printable_prefix(&head, 120)
                    )
                }));
            }
            Err(e) => {
                return Err(fail(format!(
                "reading the egress proxy {proxy_addr}'s reply to CONNECT {authority} failed: {e}"
            )))
            }
        }
    }
    match judge_proxy_reply(&head, &proxy_addr, &authority) {
        Ok(()) => Ok(tcp),
        Err(why) => Err(fail(why.to_string())),
    }
}

/// The most of a proxy's reply head that is read.
const PROXY_HEAD_LIMIT: usize = 16 * 1024;

impl EgressProxy {
    /// `host:port` (`[v6]:port`), as named in messages.
    pub fn display(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// How an egress proxy turned down `CONNECT authority`. `reply` is its status line, escaped
/// and shortened (the proxy's own words).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum ProxyReplyError {
    #[error("the egress proxy {proxy} did not answer CONNECT {authority} in HTTP: it sent {reply:?}; is it an HTTP proxy?")]
    NotHttp {
        proxy: String,
        authority: String,
        reply: String,
    },
    #[error("the egress proxy {proxy} requires authentication for CONNECT {authority}: it answered {reply:?}")]
    AuthenticationRequired {
        proxy: String,
        authority: String,
        reply: String,
    },
    #[error("the egress proxy {proxy} is reachable but could not reach the upstream {authority} behind it: it answered {reply:?} (the upstream refused, timed out or does not resolve from the proxy)")]
    UpstreamUnreachable {
        proxy: String,
        authority: String,
        reply: String,
    },
    #[error("the egress proxy {proxy} refused CONNECT {authority}: it answered {reply:?}")]
    Refused {
        proxy: String,
        authority: String,
        reply: String,
    },
}

/// Judges the head of a proxy's reply to `CONNECT authority`: `Ok` for a 2xx, else why not.
fn judge_proxy_reply(
    head: &[u8],
    proxy_addr: &str,
    authority: &str,
) -> Result<(), ProxyReplyError> {
    let line_end = head
        .windows(2)
        .position(|w| w == b"\r\n")
        .unwrap_or(head.len());
    let line = &head[..line_end];
    let quoted = printable_prefix(line, 120);
    let mut parts = line.split(|&b| b == b' ').filter(|p| !p.is_empty());
    let version = parts.next().unwrap_or(&[]);
    let status = parts
        .next()
        .and_then(|s| std::str::from_utf8(s).ok())
        .filter(|s| s.len() == 3)
        .and_then(|s| s.parse::<u16>().ok());
    let proxy = proxy_addr.to_string();
    let authority = authority.to_string();
    let reply = quoted;
    let status = match status {
        Some(s) if version.starts_with(b"HTTP/") => s,
        _ => {
            return Err(ProxyReplyError::NotHttp {
                proxy,
                authority,
                reply,
            })
        }
    };
    match status {
        200..=299 => Ok(()),
        407 => Err(ProxyReplyError::AuthenticationRequired {
            proxy,
            authority,
            reply,
        }),
        502..=504 => Err(ProxyReplyError::UpstreamUnreachable {
            proxy,
            authority,
            reply,
        }),
        _ => Err(ProxyReplyError::Refused {
            proxy,
            authority,
            reply,
        }),
    }
}

#[cfg(test)]
mod tests;
