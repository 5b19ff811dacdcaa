//! Connecting once to an upstream (or any TLS endpoint) to diagnose it: the engine behind the
//! startup/reload upstream check and `tlsgate probe`.
//!
//! The handshake uses an accepting, recording verifier (`proxy::verifier`), so the presented
//! chain is captured even when it is invalid, and the project's own checks judge it: the trust
//! verdict of each store, the name, the validity, TLS inspection. One connection, no retry.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use rustls::sign::CertifiedKey;
use serde::Serialize;
use time::OffsetDateTime;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::connect::{
    connect_tcp, connect_via_proxy, hello_answer, ConnectError, EgressProxy, Recorded,
};
use crate::certs::CertInfo;
use crate::config::{Scheme, Upstream, UpstreamUrl};
use crate::diagnose::upstream::{
    classify_tls_failure, looks_like_http, looks_like_tls, printable_prefix, verdicts,
    webpki_store, FixContext, HttpAnswer, StoreVerdict, TrustStore, UpstreamEvidence,
    ERROR_PAGE_LIMIT,
};
use crate::findings::{sort_by_importance, Code, Finding, Severity};
use crate::status::{ChainEntry, UpstreamHealth, UpstreamStatus};
use crate::tls::client as tls_client;
use crate::tls::verifier::CaptureSlot;

/// A STARTTLS-style preamble before the TLS handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartTls {
    /// PostgreSQL: SSLRequest (int32 8, int32 80877103), then 'S' or 'N'.
    Postgres,
}

/// What to connect to and how to judge it.
#[derive(Clone)]
pub struct ProbeTarget {
    pub host: String,
    pub port: u16,
    /// The name to send as SNI and verify; `None` means the host (an IP host sends no SNI and
    /// is verified against IP SANs).
    pub server_name: Option<String>,
    /// Expect TLS (`false` for an `http://` upstream: then only detect TLS on it).
    pub tls: bool,
    pub stores: Vec<TrustStore>,
    pub client_key: Option<Arc<CertifiedKey>>,
    pub alpn: Vec<Vec<u8>>,
    pub connect_timeout: Duration,
    pub tls_timeout: Duration,
    pub context: FixContext,
    pub verification_disabled: bool,
    pub starttls: Option<StartTls>,
    pub egress: Option<EgressProxy>,
}

/// What one connection showed.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeOutcome {
    /// The address connected to (`None` when TCP failed, or through an egress proxy).
    pub address: Option<String>,
    /// TCP (or the egress proxy) failed: nothing else was tried.
    #[serde(skip)]
    pub tcp_error: Option<ConnectError>,
    pub tls_version: Option<String>,
    pub cipher: Option<String>,
    pub alpn: Option<String>,
    pub chain: Vec<CertInfo>,
    pub trust: Vec<StoreVerdict>,
    pub client_cert_requested: bool,
    pub findings: Vec<Finding>,
}

impl ProbeOutcome {
    fn tcp_failed(err: ConnectError, finding: Finding) -> Self {
        ProbeOutcome {
            address: None,
            tcp_error: Some(err),
            tls_version: None,
            cipher: None,
            alpn: None,
            chain: Vec::new(),
            trust: Vec::new(),
            client_cert_requested: false,
            findings: vec![finding],
        }
    }

    /// `healthy`, `degraded` (warnings only) or `failing`.
    pub fn status(&self) -> UpstreamHealth {
        if self.tcp_error.is_some() || self.findings.iter().any(Finding::is_error) {
            UpstreamHealth::Failing
        } else if self
            .findings
            .iter()
            .any(|f| f.severity == Severity::Warning)
        {
            UpstreamHealth::Degraded
        } else {
            UpstreamHealth::Healthy
        }
    }
}

fn lock_bytes(m: &Mutex<Vec<u8>>) -> Vec<u8> {
    match m.lock() {
        Ok(g) => g.clone(),
        Err(p) => p.into_inner().clone(),
    }
}

/// A TCP connection to the target, through its egress proxy if it has one.
async fn open(target: &ProbeTarget) -> Result<TcpStream, ConnectError> {
    let (host, port) = (target.host.as_str(), target.port);
    match &target.egress {
        Some(proxy) => {
            match tokio::time::timeout(
                target.connect_timeout,
                connect_via_proxy(proxy, host, port),
            )
            .await
            {
                Ok(r) => r,
                Err(_) => Err(ConnectError::new(
                    Code::EgressProxyFailed,
                    format!(
                        "the egress proxy {} did not establish a tunnel to {host}:{port} within {:?}",
                        proxy.display(),
                        target.connect_timeout
                    ),
                )),
            }
        }
        None => connect_tcp(host, port, target.connect_timeout).await,
    }
}

/// How a request sent to learn the server's answer failed.
enum RequestFailure {
    /// A TLS alert or error (TLS 1.3 servers refuse a missing client certificate on the first
    /// read after the handshake).
    Tls(rustls::Error),
    /// Closed, reset, or not HTTP.
    Io(String),
    TimedOut,
}

/// The `Host` for a request to `host:port`.
fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Sends one `GET /` over `io` (HTTP/2 when `h2`) and reads the response head and at most
/// [`ERROR_PAGE_LIMIT`] bytes of its body, all within `timeout`. This is how servers that report
/// TLS problems in HTTP are heard: nginx completes the handshake without a required client
/// certificate and answers the first request with a 400 page.
async fn one_request<S>(
    io: S,
    scheme: &str,
    authority: &str,
    h2: bool,
    timeout: Duration,
) -> Result<HttpAnswer, RequestFailure>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let failure = |e: hyper::Error| match super::upstream::find_in_chain::<rustls::Error>(&e) {
        Some(t) => RequestFailure::Tls(t.clone()),
        None => RequestFailure::Io(super::upstream::error_chain(&e)),
    };
    let exchange = async {
        let request = |uri: String| {
            http::Request::get(uri)
                .header(http::header::HOST, authority)
                .header(http::header::USER_AGENT, "tlsgate-check")
                .body(Empty::<Bytes>::new())
        };
        let io = TokioIo::new(io);
        let (resp, conn) = if h2 {
            let (mut send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                .await
                .map_err(failure)?;
            let conn = tokio::spawn(conn);
            let req = request(format!("{scheme}://{authority}/"))
                .map_err(|e| RequestFailure::Io(e.to_string()))?;
            (send.send_request(req).await, conn)
        } else {
            let (mut send, conn) = hyper::client::conn::http1::handshake(io)
                .await
                .map_err(failure)?;
            let conn = tokio::spawn(conn);
            let req = request("/".to_string()).map_err(|e| RequestFailure::Io(e.to_string()))?;
            (send.send_request(req).await, conn)
        };
        let result = match resp {
            Err(e) => Err(failure(e)),
            Ok(resp) => {
                let header = |name: http::header::HeaderName| {
                    resp.headers()
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string)
                };
                let mut answer = HttpAnswer {
                    status: resp.status().as_u16(),
                    server: header(http::header::SERVER),
                    content_type: header(http::header::CONTENT_TYPE),
                    body: Vec::new(),
                };
                let mut body = resp.into_body();
                while answer.body.len() < ERROR_PAGE_LIMIT {
                    match body.frame().await {
                        Some(Ok(frame)) => {
                            if let Some(data) = frame.data_ref() {
                                let room = ERROR_PAGE_LIMIT - answer.body.len();
                                answer.body.extend_from_slice(&data[..data.len().min(room)]);
                            }
                        }
                        // What arrived of the body is enough to recognise a page.
                        Some(Err(_)) | None => break,
                    }
                }
                Ok(answer)
            }
        };
        conn.abort();
        result
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or(Err(RequestFailure::TimedOut))
}

/// Connects once and diagnoses. `connect_finding` turns a TCP-level failure into a finding
/// worded for the caller (config keys or command-line flags).
pub async fn probe(
    target: &ProbeTarget,
    connect_finding: impl Fn(&ConnectError) -> Finding,
) -> ProbeOutcome {
    let host = target.host.as_str();
    let port = target.port;
    let tcp = open(target).await;
    let mut tcp = match tcp {
        Ok(t) => t,
        Err(e) => {
            let f = connect_finding(&e);
            return ProbeOutcome::tcp_failed(e, f);
        }
    };
    let peer: Option<SocketAddr> = tcp.peer_addr().ok();
    let address = match (&target.egress, peer) {
        (None, Some(p)) => p.to_string(),
        _ => format!("{host}:{port}"),
    };
    let mut out = ProbeOutcome {
        address: Some(address.clone()),
        tcp_error: None,
        tls_version: None,
        cipher: None,
        alpn: None,
        chain: Vec::new(),
        trust: Vec::new(),
        client_cert_requested: false,
        findings: Vec::new(),
    };
    let server_name_text = target
        .server_name
        .clone()
        .unwrap_or_else(|| host.to_string());
    let mut ev = UpstreamEvidence::new(target.context.clone(), &address, &server_name_text);
    ev.client_cert_sent = target.client_key.is_some();
    ev.verification_disabled = target.verification_disabled;

    if !target.tls {
        out.findings = detect_tls_on_plain(tcp, target, ev).await;
        return out;
    }
    if let Some(StartTls::Postgres) = target.starttls {
        if let Some(f) = postgres_ssl_request(&mut tcp, &address, target.tls_timeout).await {
            out.findings = vec![f];
            return out;
        }
    }

    let server_name = match ServerName::try_from(server_name_text.clone()) {
        Ok(n) => n,
        Err(_) => {
            out.findings = vec![Finding::new(
                Code::UpstreamTlsFailed,
                "the name to verify is not a valid TLS server name",
                format!("{server_name_text:?} is neither a DNS name nor an IP address"),
                "use a host name or IP address",
            )];
            return out;
        }
    };
    let slot: CaptureSlot = Arc::new(Mutex::new(None));
    let asked = Arc::new(AtomicBool::new(false));
    let all_roots = crate::tls::roots::merged_roots(&target.stores);
    let config = match tls_client::capturing_config(
        Some(Arc::new(all_roots)),
        target.client_key.clone(),
        target.alpn.clone(),
        slot.clone(),
        asked.clone(),
    ) {
        Ok(c) => c,
        Err(e) => {
            out.findings = vec![Finding::new(
                Code::UpstreamTlsFailed,
                "the TLS client could not be configured",
                e.to_string(),
                "report this as a bug",
            )];
            return out;
        }
    };
    let rec = Recorded::new(tcp);
    let head = rec.head();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let result =
        tokio::time::timeout(target.tls_timeout, connector.connect(server_name, rec)).await;
    match result {
        Err(_) => ev.timed_out = true,
        Ok(Err(e)) => match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
            Some(t) => ev.tls_error = Some(t.clone()),
            None => ev.io_error = Some(e.to_string()),
        },
        Ok(Ok(mut stream)) => {
            {
                let (_, conn) = stream.get_ref();
                out.tls_version = conn.protocol_version().map(|v| format!("{v:?}"));
                out.cipher = conn
                    .negotiated_cipher_suite()
                    .map(|c| format!("{:?}", c.suite()));
                out.alpn = conn.alpn_protocol().map(crate::wire::sniff::printable);
            }
            // A server that asked for a client certificate may refuse only after the
            // handshake: TLS 1.3 servers with an alert on the first read, nginx with a 400 page
            // in answer to the first request. One request tells; others are not sent any.
            let h2 = out.alpn.as_deref() == Some("h2");
            if asked.load(Ordering::SeqCst) && target.starttls.is_none() {
                let authority = authority(host, port);
                match one_request(stream, "https", &authority, h2, target.tls_timeout).await {
                    Ok(answer) => ev.http_answer = Some(answer),
                    Err(RequestFailure::Tls(t)) => ev.tls_error = Some(t),
                    Err(RequestFailure::Io(e)) if target.client_key.is_none() => {
                        ev.io_error = Some(format!(
                            "the upstream closed the connection after the handshake without answering a request ({e})"
                        ))
                    }
                    Err(_) => {}
                }
            } else if asked.load(Ordering::SeqCst) {
                // PostgreSQL speaks its own protocol: only wait for a late TLS alert.
                let mut buf = [0u8; 1];
                match tokio::time::timeout(Duration::from_millis(700), stream.read(&mut buf)).await
                {
                    Ok(Err(e)) => {
                        match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                            Some(t) => ev.tls_error = Some(t.clone()),
                            None => ev.io_error = Some(e.to_string()),
                        }
                    }
                    Ok(Ok(0)) if target.client_key.is_none() => {
                        ev.io_error = Some("the upstream closed the connection".to_string())
                    }
                    _ => {}
                }
                let _ = stream.shutdown().await;
            } else {
                let _ = stream.shutdown().await;
            }
        }
    }
    ev.first_bytes = lock_bytes(&head);
    out.client_cert_requested = asked.load(Ordering::SeqCst);
    ev.client_cert_requested = Some(out.client_cert_requested);
    let captured = slot.lock().ok().and_then(|g| g.clone());
    if let Some(c) = captured {
        ev.chain = c
            .certs
            .iter()
            .filter_map(|d| CertInfo::parse(d).ok())
            .collect();
    }
    if !ev.chain.is_empty() {
        ev.trust = verdicts(&target.stores, &ev.chain, ev.now);
        ev.publicly_trusted =
            crate::diagnose::upstream::anchors(&webpki_store(), &ev.chain, ev.now);
    }
    out.chain = ev.chain.clone();
    out.trust = ev.trust.clone();
    out.findings = classify_tls_failure(&ev);
    out
}

/// An `http://` upstream: send a harmless `GET /` and see whether a TLS server answers: with a
/// TLS record, with a page saying plain HTTP reached its TLS port (nginx), or by closing without
/// a byte (HAProxy), which a TLS ClientHello on a second connection then confirms.
async fn detect_tls_on_plain(
    tcp: TcpStream,
    target: &ProbeTarget,
    mut ev: UpstreamEvidence,
) -> Vec<Finding> {
    let rec = Recorded::new(tcp);
    let head = rec.head();
    let authority = authority(&target.host, target.port);
    let wait = target.tls_timeout.min(Duration::from_secs(5));
    let result = one_request(rec, "http", &authority, false, wait).await;
    ev.expects_tls = false;
    ev.verification_disabled = false;
    ev.first_bytes = lock_bytes(&head);
    match result {
        Ok(answer) => ev.http_answer = Some(answer),
        Err(RequestFailure::TimedOut) => {}
        Err(RequestFailure::Tls(e)) => ev.io_error = Some(e.to_string()),
        Err(RequestFailure::Io(e)) => {
            ev.io_error = Some(e);
            // Closed without a byte (HAProxy), or answered with bytes that are not HTTP.
            if !looks_like_http(&ev.first_bytes) && !looks_like_tls(&ev.first_bytes) {
                if let Ok(tcp) = open(target).await {
                    ev.hello_answer = Some(hello_answer(tcp, &target.host, wait).await);
                }
            }
        }
    }
    classify_tls_failure(&ev)
}

/// PostgreSQL's SSLRequest: `None` when the server agreed ('S'), else the finding.
async fn postgres_ssl_request(
    tcp: &mut TcpStream,
    address: &str,
    timeout: Duration,
) -> Option<Finding> {
    // int32 length 8, int32 code 80877103 (1234 << 16 | 5679).
    const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
    let fail = |summary: &str, why: String| {
        Some(Finding::new(
            Code::UpstreamTlsFailed,
            summary,
            why,
            "enable TLS on the PostgreSQL server (ssl = on, ssl_cert_file, ssl_key_file in postgresql.conf), or check the port",
        ))
    };
    if let Err(e) = tcp.write_all(&SSL_REQUEST).await {
        return fail(
            "the server closed the connection on the PostgreSQL SSLRequest",
            format!("{address}: writing SSLRequest failed: {e}"),
        );
    }
    let mut b = [0u8; 1];
    match tokio::time::timeout(timeout, tcp.read(&mut b)).await {
        Ok(Ok(1)) if b[0] == b'S' => None,
        Ok(Ok(1)) if b[0] == b'N' => fail(
            "the PostgreSQL server does not support TLS",
            format!("{address} answered 'N' to the SSLRequest: TLS is disabled on this server"),
        ),
        Ok(Ok(1)) => fail(
            "the server did not answer the PostgreSQL SSLRequest as PostgreSQL does",
            format!(
                "{address} answered {:?} (expected 'S' or 'N'): is this a PostgreSQL port?",
                printable_prefix(&b, 1)
            ),
        ),
        Ok(Ok(_)) => fail(
            "the server closed the connection on the PostgreSQL SSLRequest",
            format!("{address} closed the connection without answering the SSLRequest"),
        ),
        Ok(Err(e)) => fail(
            "the server closed the connection on the PostgreSQL SSLRequest",
            format!("{address}: {e}"),
        ),
        Err(_) => fail(
            "the server did not answer the PostgreSQL SSLRequest",
            format!("{address} sent nothing within {timeout:?} after the SSLRequest"),
        ),
    }
}

/// Connects once to a configured upstream and reports its status for `/status` and the
/// `upstream_check` log event: `healthy`, `degraded` (warnings) or `failing`, with the
/// negotiated TLS parameters, the presented chain and the findings.
pub async fn check_upstream(name: &str, cfg: &Upstream) -> UpstreamStatus {
    let now = OffsetDateTime::now_utc();
    let mut status = UpstreamStatus {
        name: name.to_string(),
        url: cfg.url.clone(),
        status: UpstreamHealth::Failing,
        checked_at: Some(now),
        tls_version: None,
        cipher: None,
        alpn: None,
        chain: Vec::new(),
        findings: Vec::new(),
    };
    let target = match target_for_upstream(name, cfg) {
        Ok(t) => t,
        Err(f) => {
            status.findings = vec![f];
            return status;
        }
    };
    let outcome = probe(&target, |ce| super::upstream::connect_finding(name, ce)).await;
    status.status = outcome.status();
    status.tls_version = outcome.tls_version.clone();
    status.cipher = outcome.cipher.clone();
    status.alpn = outcome.alpn.clone();
    status.chain = outcome
        .chain
        .iter()
        .map(|c| ChainEntry {
            subject: c.subject.clone(),
            issuer: c.issuer.clone(),
            not_after: c.not_after,
        })
        .collect();
    let mut findings = outcome.findings;
    sort_by_importance(&mut findings);
    status.findings = findings;
    status
}

fn config_finding(name: &str, why: String) -> Finding {
    Finding::new(
        Code::ConfigInvalid,
        format!("upstream '{name}' cannot be checked: its configuration is invalid"),
        why,
        format!("fix upstreams.{name} in the configuration"),
    )
}

/// The probe target for a configured upstream (trust stores, client certificate, SNI,
/// timeouts, egress proxy).
pub fn target_for_upstream(name: &str, cfg: &Upstream) -> Result<ProbeTarget, Finding> {
    let url: UpstreamUrl = cfg
        .parsed_url()
        .map_err(|e| config_finding(name, format!("upstreams.{name}.url: {e}")))?;
    let https = url.scheme == Scheme::Https;
    let stores = if https {
        crate::tls::roots::trust_stores(&cfg.tls)
            .map_err(|e| config_finding(name, format!("upstreams.{name}.{e}")))?
    } else {
        Vec::new()
    };
    let client_key = match (&cfg.tls.client_cert, &cfg.tls.client_key) {
        (Some(c), Some(k)) if https => Some(
            tls_client::load_client_key(c, k)
                .map_err(|e| config_finding(name, format!("upstreams.{name}.tls.{e}")))?,
        ),
        _ => None,
    };
    let egress = match cfg.egress_proxy.as_deref().map(str::trim) {
        Some(p)
            if !p.is_empty()
                && !super::upstream::is_loopback_host(&url.host)
                && !super::upstream::no_proxy_matches(&url.host) =>
        {
            let parsed = UpstreamUrl::parse_proxy(p)
                .map_err(|e| config_finding(name, format!("upstreams.{name}.egress_proxy: {e}")))?;
            Some(EgressProxy {
                host: parsed.host,
                port: parsed.port,
            })
        }
        _ => None,
    };
    Ok(ProbeTarget {
        host: url.host.clone(),
        port: url.port,
        server_name: cfg.tls.server_name.clone(),
        tls: https,
        stores,
        client_key,
        alpn: tls_client::alpn_for(cfg.http_version),
        connect_timeout: cfg.timeouts.connect.get(),
        tls_timeout: cfg.timeouts.tls_handshake.get(),
        context: FixContext::Upstream(name.to_string()),
        verification_disabled: https && cfg.tls.insecure_skip_verify,
        starttls: None,
        egress,
    })
}
