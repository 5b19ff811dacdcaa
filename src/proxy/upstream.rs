//! One configured upstream: its URL, the headers injected into every request, and its pooled
//! connections: this worker's own pool of HTTP/1 connections ([`super::pool`]) for upstreams
//! that speak only HTTP/1, hyper-util's client for those that may speak HTTP/2, plus an
//! HTTP/1-only client for protocol upgrades such as WebSocket.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::uri::{Authority, PathAndQuery, Scheme as UriScheme};
use http::{Request, Response, Uri};
use http_body_util::combinators::BoxBody;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::pki_types::ServerName;

use super::admission::{ConnectionSlots, Slot};
use super::connect::{overloaded, ConnectDiag, ConnectError, Connector, EgressProxy};
use super::pool::{Http1Pool, IDLE_TIMEOUT};
use crate::config::{HttpVersion, Scheme, Upstream, UpstreamTimeouts, UpstreamUrl, UrlError};
use crate::diagnose::upstream::{
    classify_tls_failure, http_answer_finding, may_be_tls_error_page, FixContext, HttpAnswer,
    ERROR_PAGE_LIMIT,
};
use crate::findings::{Code, Finding};
use crate::tls::client as tls_client;
use crate::tls::roots::TrustStoreError;

/// Why the client of a configured upstream cannot be built. `upstream` is its name; the text
/// names the configuration key (`upstreams.NAME.…`).
#[derive(Debug, thiserror::Error)]
pub enum UpstreamClientError {
    #[error("upstreams.{upstream}.url: {source}")]
    Url { upstream: String, source: UrlError },
    #[error("upstreams.{upstream}.url: invalid authority: {source}")]
    Authority {
        upstream: String,
        source: http::uri::InvalidUri,
    },
    #[error("upstreams.{upstream}.set_headers: invalid header name {header:?}")]
    HeaderName { upstream: String, header: String },
    #[error("upstreams.{upstream}.set_headers.{header}: the value is not a valid header value")]
    HeaderValue { upstream: String, header: String },
    #[error("upstreams.{upstream}.egress_proxy: {source}")]
    EgressProxy { upstream: String, source: UrlError },
    #[error("upstreams.{upstream}.tls.server_name: {name:?} is not a valid name")]
    ServerName { upstream: String, name: String },
    #[error("upstreams.{upstream}.{source}")]
    TrustStores {
        upstream: String,
        source: TrustStoreError,
    },
    #[error("upstreams.{upstream}.{source}")]
    Tls {
        upstream: String,
        source: tls_client::ClientConfigError,
    },
}

/// The request body type sent upstream: the client's streamed body, type-erased so locally
/// made bodies (health checks, upgrades) fit too.
pub type UpstreamBody = BoxBody<Bytes, super::body::BoxError>;

/// What the clients of one upstream in every worker share.
#[derive(Clone)]
pub struct UpstreamShared {
    /// Connections opened (`tlsgate_upstream_connections_total`).
    pub opened: prometheus_client::metrics::counter::Counter,
    /// `limits.upstream_max_connections`, across workers.
    pub slots: Arc<ConnectionSlots>,
}

impl UpstreamShared {
    /// A client on its own (checks, tests): the default cap, nothing counted anywhere.
    pub fn unlimited() -> Self {
        let limits = crate::config::Limits::default();
        UpstreamShared {
            opened: Default::default(),
            slots: Arc::new(ConnectionSlots::new(
                limits.upstream_max_connections.unwrap_or(1024),
                limits.upstream_max_queued,
                limits.upstream_queue_timeout.get(),
                1,
                Default::default(),
            )),
        }
    }
}

/// A ready-to-use upstream.
pub struct UpstreamClient {
    pub name: Arc<str>,
    pub url: UpstreamUrl,
    scheme: UriScheme,
    authority: Authority,
    pub set_headers: Vec<(HeaderName, HeaderValue)>,
    pub timeouts: UpstreamTimeouts,
    pub insecure: bool,
    /// HTTP/2 (ALPN or h2c), and HTTPS upstreams that may negotiate it: hyper-util's client.
    client: Client<Connector, UpstreamBody>,
    upgrade_client: Client<Connector, UpstreamBody>,
    /// Upstreams that speak HTTP/1 only (`http://` without `http_version: http2`, or
    /// `http_version: http1`): this worker's own pool of HTTP/1 connections.
    h1: Option<H1Upstream>,
    diag: Arc<ConnectDiag>,
    /// Opens the extra connection that confirms TLS on an `http://` URL (`hello_answer`).
    connector: Connector,
    /// The last such confirmation: when, and whether the port answered a ClientHello with TLS.
    /// Kept briefly so a burst of failing requests costs one extra connection, not one each.
    tls_seen: std::sync::Mutex<Option<(std::time::Instant, bool)>>,
}

/// The lean HTTP/1 path: the pool, and what every request on it needs.
struct H1Upstream {
    pool: Http1Pool<UpstreamBody>,
    /// `scheme://authority/`: what the connector connects to.
    base: Uri,
    /// The `Host` header (the authority, without a default port).
    host: HeaderValue,
}

/// Why a request on the HTTP/1 path failed.
enum SendFailure {
    Connect(ConnectError),
    Http(hyper::Error),
}

/// What [`UpstreamClient::screen`] made of a response head.
pub enum Screened {
    /// Not a TLS error page candidate: stream the body untouched.
    Pass(Incoming),
    /// A small page that was read (at most [`ERROR_PAGE_LIMIT`] bytes) and is not a TLS
    /// problem: send these bytes.
    Read(Bytes),
    /// The upstream reported a TLS problem in HTTP: answer with tlsgate's own error.
    Tls(Finding),
}

impl UpstreamClient {
    /// Builds the client for a configured upstream. Errors name the key.
    pub fn new(name: &str, cfg: &Upstream) -> Result<Self, UpstreamClientError> {
        Self::with_shared(name, cfg, UpstreamShared::unlimited())
    }

    /// As [`new`](Self::new), with what every worker's client of this upstream shares: the
    /// connection counter and the connection cap.
    pub fn with_shared(
        name: &str,
        cfg: &Upstream,
        shared: UpstreamShared,
    ) -> Result<Self, UpstreamClientError> {
        let UpstreamShared { opened, slots } = shared;
        let upstream = || name.to_string();
        let url = cfg
            .parsed_url()
            .map_err(|source| UpstreamClientError::Url {
                upstream: upstream(),
                source,
            })?;
        let https = url.scheme == Scheme::Https;
        let host_for_uri = if url.host.contains(':') {
            format!("[{}]", url.host)
        } else {
            url.host.clone()
        };
        let default_port = if https { 443 } else { 80 };
        let authority_text = if url.port == default_port {
            host_for_uri
        } else {
            format!("{host_for_uri}:{}", url.port)
        };
        let authority: Authority =
            authority_text
                .parse()
                .map_err(|source| UpstreamClientError::Authority {
                    upstream: upstream(),
                    source,
                })?;

        let set_headers = cfg
            .set_headers
            .iter()
            .map(|(k, v)| {
                let name_ = HeaderName::from_bytes(k.as_bytes()).map_err(|_| {
                    UpstreamClientError::HeaderName {
                        upstream: upstream(),
                        header: k.clone(),
                    }
                })?;
                let mut value =
                    HeaderValue::from_str(v).map_err(|_| UpstreamClientError::HeaderValue {
                        upstream: upstream(),
                        header: k.clone(),
                    })?;
                value.set_sensitive(true);
                Ok((name_, value))
            })
            .collect::<Result<Vec<_>, UpstreamClientError>>()?;

        let egress = match cfg.egress_proxy.as_deref().map(str::trim) {
            Some(p)
                if !p.is_empty()
                    && !is_loopback_host(&url.host)
                    && !no_proxy_matches(&url.host) =>
            {
                let parsed = UpstreamUrl::parse_proxy(p).map_err(|source| {
                    UpstreamClientError::EgressProxy {
                        upstream: upstream(),
                        source,
                    }
                })?;
                Some(EgressProxy {
                    host: parsed.host,
                    port: parsed.port,
                })
            }
            _ => None,
        };

        let server_name = match &cfg.tls.server_name {
            Some(n) => Some(ServerName::try_from(n.clone()).map_err(|_| {
                UpstreamClientError::ServerName {
                    upstream: upstream(),
                    name: n.clone(),
                }
            })?),
            None => None,
        };
        let diag = Arc::new(ConnectDiag {
            context: FixContext::Upstream(name.to_string()),
            stores: if https && !cfg.tls.insecure_skip_verify {
                crate::tls::roots::trust_stores(&cfg.tls).map_err(|source| {
                    UpstreamClientError::TrustStores {
                        upstream: upstream(),
                        source,
                    }
                })?
            } else {
                Vec::new()
            },
            client_cert_sent: cfg.tls.client_cert.is_some() && cfg.tls.client_key.is_some(),
            verification_disabled: https && cfg.tls.insecure_skip_verify,
        });
        let make_connector = |alpn: Vec<Vec<u8>>| -> Result<Connector, UpstreamClientError> {
            let tls = if https {
                Some(Arc::new(
                    tls_client::client_config(&cfg.tls, alpn).map_err(|source| {
                        UpstreamClientError::Tls {
                            upstream: upstream(),
                            source,
                        }
                    })?,
                ))
            } else {
                None
            };
            Ok(Connector {
                tls,
                server_name: server_name.clone(),
                connect_timeout: cfg.timeouts.connect.get(),
                tls_timeout: cfg.timeouts.tls_handshake.get(),
                egress: egress.clone(),
                diag: diag.clone(),
                opened: opened.clone(),
                slots: slots.clone(),
            })
        };

        let mut builder = Client::builder(TokioExecutor::new());
        builder
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(slots.idle_per_worker());
        // Plain-text HTTP/2 to an upstream means prior knowledge (h2c): there is no ALPN.
        if !https && cfg.http_version == HttpVersion::Http2 {
            builder.http2_only(true);
        }
        let connector = make_connector(tls_client::alpn_for(cfg.http_version))?;
        let client = builder.build(connector.clone());
        let mut upgrade_builder = Client::builder(TokioExecutor::new());
        upgrade_builder
            .timer(TokioTimer::new())
            .pool_max_idle_per_host(0);
        let upgrade_client = upgrade_builder.build(make_connector(vec![b"http/1.1".to_vec()])?);
        // HTTP/1 only on the wire: no ALPN that could pick h2, no h2c.
        let http1_only = match cfg.http_version {
            HttpVersion::Http1 => true,
            HttpVersion::Auto => !https,
            HttpVersion::Http2 => false,
        };
        let h1 = if http1_only {
            let base = Uri::builder()
                .scheme(if https { "https" } else { "http" })
                .authority(authority.clone())
                .path_and_query("/")
                .build()
                .map_err(|_| UpstreamClientError::HeaderValue {
                    upstream: upstream(),
                    header: "host".to_string(),
                })?;
            let host = HeaderValue::from_str(authority.as_str()).map_err(|_| {
                UpstreamClientError::HeaderValue {
                    upstream: upstream(),
                    header: "host".to_string(),
                }
            })?;
            Some(H1Upstream {
                pool: Http1Pool::new(slots.idle_per_worker(), IDLE_TIMEOUT),
                base,
                host,
            })
        } else {
            None
        };

        Ok(UpstreamClient {
            name: Arc::from(name),
            scheme: if https {
                UriScheme::HTTPS
            } else {
                UriScheme::HTTP
            },
            url,
            authority,
            set_headers,
            timeouts: cfg.timeouts.clone(),
            insecure: cfg.tls.insecure_skip_verify,
            client,
            upgrade_client,
            h1,
            diag,
            connector,
            tls_seen: std::sync::Mutex::new(None),
        })
    }

    /// The absolute upstream URI for a client's path and query.
    pub fn target_uri(&self, path_and_query: Option<&PathAndQuery>) -> Result<Uri, http::Error> {
        // Without a path prefix the client's path is reused as is (a cheap clone, no re-parse).
        let pq = match (path_and_query, self.url.path_prefix.is_empty()) {
            (Some(pq), true) => pq.clone(),
            (None, true) => PathAndQuery::from_static("/"),
            (pq, false) => {
                let pq = pq.map(PathAndQuery::as_str).unwrap_or("/");
                PathAndQuery::try_from(format!("{}{}", self.url.path_prefix, pq))?
            }
        };
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(self.scheme.clone());
        parts.authority = Some(self.authority.clone());
        parts.path_and_query = Some(pq);
        Ok(Uri::from_parts(parts)?)
    }

    /// Sends a request and waits for the response head, within the first-byte timeout.
    pub async fn send(
        &self,
        req: Request<UpstreamBody>,
        upgrade: bool,
    ) -> Result<Response<Incoming>, Finding> {
        let first_byte = self.timeouts.first_byte.get();
        if let (Some(h1), false) = (&self.h1, upgrade) {
            return match tokio::time::timeout(first_byte, self.send_h1(h1, req)).await {
                Ok(Ok(resp)) => Ok(resp),
                Ok(Err(SendFailure::Connect(ce))) => Err(self.finding_for_connect_error(&ce)),
                Ok(Err(SendFailure::Http(e))) => {
                    let finding = self.finding_for_client_error(&e);
                    Err(self.tls_behind_http_url(finding, &e).await)
                }
                Err(_) => Err(self.first_byte_timeout()),
            };
        }
        let fut = if upgrade {
            self.upgrade_client.request(req)
        } else {
            self.client.request(req)
        };
        match tokio::time::timeout(first_byte, fut).await {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(e)) => {
                let finding = self.finding_for_client_error(&e);
                Err(self.tls_behind_http_url(finding, &e).await)
            }
            Err(_) => Err(self.first_byte_timeout()),
        }
    }

    /// Sends a request over a pooled HTTP/1 connection, or a new one. A request that a pooled
    /// connection could not even start (the upstream had closed it) goes again on a new one.
    async fn send_h1(
        &self,
        h1: &H1Upstream,
        mut req: Request<UpstreamBody>,
    ) -> Result<Response<Incoming>, SendFailure> {
        // HTTP/1 wants the origin form and a Host header.
        let origin = match req.uri().path_and_query() {
            Some(pq) if pq.as_str() != "/" => Uri::from(pq.clone()),
            _ => Uri::default(),
        };
        *req.uri_mut() = origin;
        if !req.headers().contains_key(http::header::HOST) {
            req.headers_mut()
                .insert(http::header::HOST, h1.host.clone());
        }
        let (mut tx, mut reused) = match h1.pool.checkout() {
            Some(tx) => (tx, true),
            // Not boxed: boxing this rare path made no measurable difference (profile.sh).
            None => self.checkout_or_open_h1(h1).await?,
        };
        loop {
            let sent = tx.try_send_request(req);
            // Back in the pool at once: taken again when its response has been read.
            h1.pool.put(tx);
            match sent.await {
                Ok(resp) => return Ok(resp),
                Err(mut e) => match e.take_message() {
                    Some(unsent) if reused => {
                        req = unsent;
                        tx = self.open_h1(&h1.base).await?;
                        reused = false;
                    }
                    _ => return Err(SendFailure::Http(e.into_error())),
                },
            }
        }
    }

    /// No pooled connection is ready: a new one, in a free slot of the upstream's cap. With
    /// every slot taken the request queues (`limits.upstream_queue_timeout`) and takes
    /// whichever comes first: a slot freed anywhere, or one of this worker's own connections
    /// finishing its response (checked every few milliseconds; only a saturated upstream gets
    /// here). The bool says whether the connection is a reused one.
    async fn checkout_or_open_h1(
        &self,
        h1: &H1Upstream,
    ) -> Result<(SendRequest<UpstreamBody>, bool), SendFailure> {
        const RECHECK: Duration = Duration::from_millis(5);
        let slots = self.connector.slots();
        let slot = match slots.try_acquire() {
            Some(slot) => slot,
            None => {
                let wait = slots.wait();
                tokio::pin!(wait);
                loop {
                    tokio::select! {
                        slot = &mut wait => break slot.map_err(|r| SendFailure::Connect(overloaded(r)))?,
                        _ = tokio::time::sleep(RECHECK) => {
                            if let Some(tx) = h1.pool.checkout() {
                                return Ok((tx, true));
                            }
                        }
                    }
                }
            }
        };
        Ok((self.open_h1_in(slot, &h1.base).await?, false))
    }

    /// Opens a new HTTP/1 connection (counted in `opened`); its connection task runs on this
    /// worker's runtime.
    async fn open_h1(&self, base: &Uri) -> Result<SendRequest<UpstreamBody>, SendFailure> {
        let slot = self
            .connector
            .slots()
            .acquire()
            .await
            .map_err(|r| SendFailure::Connect(overloaded(r)))?;
        self.open_h1_in(slot, base).await
    }

    /// [`open_h1`](Self::open_h1) in a slot already taken.
    async fn open_h1_in(
        &self,
        slot: Slot,
        base: &Uri,
    ) -> Result<SendRequest<UpstreamBody>, SendFailure> {
        let io = self
            .connector
            .open_in(slot, base)
            .await
            .map_err(SendFailure::Connect)?;
        let (tx, conn) = hyper::client::conn::http1::Builder::new()
            .handshake(io)
            .await
            .map_err(SendFailure::Http)?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "upstream connection ended");
            }
        });
        Ok(tx)
    }

    fn first_byte_timeout(&self) -> Finding {
        let first_byte = self.timeouts.first_byte.get();
        Finding::new(
                Code::UpstreamTimeout,
                "the upstream sent no response within the first-byte timeout",
                format!(
                    "upstream '{}' ({}) sent no response head within timeouts.first_byte = {:?}",
                    self.name,
                    self.authority,
                    first_byte
                ),
            format!(
                "check the upstream's health, or raise upstreams.{}.timeouts.first_byte if long waits are expected",
                self.name
            ),
        )
    }

    /// nginx reports TLS problems in HTTP, after a successful handshake: a missing or refused
    /// client certificate, or plain HTTP on its TLS port, as small HTML 400 pages (495/496/497
    /// with `error_page`). Those are recognised here and become tlsgate's own 502 with the
    /// finding; the page's status goes into the finding's evidence. Only a response whose head
    /// qualifies (status 400 with a small `text/html` body, or 495–497) is read at all, and at
    /// most [`ERROR_PAGE_LIMIT`] bytes of it: every other response streams untouched.
    pub async fn screen(&self, parts: &http::response::Parts, body: Incoming) -> Screened {
        let status = parts.status.as_u16();
        // The success path stops here: one comparison.
        if !matches!(status, 400 | 495..=497) || !crate::telemetry::diagnosis_on() {
            return Screened::Pass(body);
        }
        let header =
            |name: http::header::HeaderName| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let content_type = header(http::header::CONTENT_TYPE);
        let length = header(http::header::CONTENT_LENGTH).and_then(|v| v.trim().parse().ok());
        if !may_be_tls_error_page(status, content_type, length) {
            return Screened::Pass(body);
        }
        let mut page = Vec::new();
        // nginx's 495/496/497 say it with the status alone.
        if status == 400 {
            let wait = self.timeouts.idle.get().min(Duration::from_secs(10));
            match tokio::time::timeout(wait, read_at_most(body, ERROR_PAGE_LIMIT)).await {
                Ok(Ok(bytes)) => page = bytes,
                Ok(Err(e)) => {
                    return Screened::Tls(Finding::new(
                        Code::UpstreamConnectionReset,
                        "the upstream dropped the connection in the middle of its response",
                        format!(
                            "upstream '{}' ({}) answered {status}, then its body failed: {e}",
                            self.name, self.authority
                        ),
                        "check the upstream's logs; the client may retry",
                    ))
                }
                Err(_) => {
                    return Screened::Tls(Finding::new(
                        Code::UpstreamTimeout,
                        "the upstream stalled in the middle of its response",
                        format!(
                            "upstream '{}' ({}) answered {status}, then sent no more of its {} byte body within {wait:?}",
                            self.name,
                            self.authority,
                            length.unwrap_or(0)
                        ),
                        "check the upstream's health",
                    ))
                }
            }
        }
        let address = format!("{}:{}", self.url.host, self.url.port);
        let mut ev = self.diag.evidence(&address, &self.url.host);
        ev.expects_tls = self.scheme == UriScheme::HTTPS;
        ev.http_answer = Some(HttpAnswer {
            status,
            server: header(http::header::SERVER).map(str::to_string),
            content_type: content_type.map(str::to_string),
            body: page.clone(),
        });
        match http_answer_finding(&ev) {
            Some(mut f) => {
                f.why = format!("upstream '{}': {}", self.name, f.why);
                Screened::Tls(f)
            }
            None => Screened::Read(Bytes::from(page)),
        }
    }

    /// An `http://` upstream that closed without answering (HAProxy drops plain HTTP on its TLS
    /// port this way), or answered bytes that are not HTTP. One ClientHello on a second
    /// connection tells a TLS server (which answers with a TLS record) from a plain one that
    /// merely failed; the answer is kept for a few seconds so a burst of requests opens one
    /// extra connection.
    async fn tls_behind_http_url(
        &self,
        finding: Finding,
        e: &(dyn std::error::Error + Send + Sync + 'static),
    ) -> Finding {
        let hyper_err = find_in_chain::<hyper::Error>(e);
        let closed = hyper_err.is_some_and(|h| h.is_incomplete_message());
        let garbage = hyper_err.is_some_and(|h| h.is_parse() || h.is_parse_status());
        let suspect = match finding.code {
            Code::UpstreamConnectionReset => closed,
            Code::UpstreamProtocolError => garbage,
            _ => false,
        };
        if self.scheme != UriScheme::HTTP || !suspect {
            return finding;
        }
        const KEEP: Duration = Duration::from_secs(10);
        let cached = crate::locks::lock(&self.tls_seen)
            .filter(|(at, _)| at.elapsed() < KEEP)
            .map(|(_, tls)| tls);
        let (tls, reply) = match cached {
            Some(tls) => (tls, None),
            None => {
                let reply = self
                    .connector
                    .hello_answer(&self.url.host, self.url.port)
                    .await;
                let tls = crate::diagnose::upstream::looks_like_tls(&reply);
                *crate::locks::lock(&self.tls_seen) = Some((std::time::Instant::now(), tls));
                (tls, Some(reply))
            }
        };
        if !tls {
            return finding;
        }
        let address = format!("{}:{}", self.url.host, self.url.port);
        let mut ev = self.diag.evidence(&address, &self.url.host);
        ev.expects_tls = false;
        ev.io_error = Some(error_chain(e));
        // A cached verdict: a handshake record stands for the bytes seen then.
        ev.hello_answer = Some(reply.unwrap_or_else(|| vec![0x16, 0x03, 0x03]));
        match classify_tls_failure(&ev).into_iter().next() {
            Some(mut f) => {
                f.why = format!("upstream '{}': {}", self.name, f.why);
                f
            }
            None => finding,
        }
    }

    /// `e`: hyper-util's client error, or hyper's own (the HTTP/1 path).
    fn finding_for_client_error(&self, e: &(dyn std::error::Error + 'static)) -> Finding {
        // The connector's own classification, when the failure happened while connecting (or
        // when the plain stream refused a TLS reply).
        if let Some(ce) = find_in_chain::<ConnectError>(e) {
            return self.finding_for_connect_error(ce);
        }
        // TLS 1.3 reports a refused client certificate on the first read, after `connect`.
        if let Some(tls) = find_in_chain::<rustls::Error>(e) {
            let address = format!("{}:{}", self.url.host, self.url.port);
            let mut ev = self.diag.evidence(&address, &self.url.host);
            ev.tls_error = Some(tls.clone());
            if let Some(f) = classify_tls_failure(&ev).into_iter().next() {
                return f;
            }
        }
        let hyper_err = find_in_chain::<hyper::Error>(e);
        let (code, what) = match hyper_err {
            Some(h) if h.is_parse() || h.is_parse_status() => (
                Code::UpstreamProtocolError,
                "the upstream's reply is not valid HTTP",
            ),
            Some(h) if h.is_incomplete_message() || h.is_closed() || h.is_canceled() => (
                Code::UpstreamConnectionReset,
                "the upstream closed the connection before sending a complete response",
            ),
            _ => (
                Code::UpstreamConnectionReset,
                "the connection to the upstream failed while sending the request",
            ),
        };
        let mut finding = Finding::new(
            code,
            what,
            format!(
                "upstream '{}' ({}): {}",
                self.name,
                self.authority,
                error_chain(e)
            ),
            "check the upstream's logs; if it speaks TLS on an http:// URL, use https://",
        );
        if code == Code::UpstreamProtocolError && self.scheme == UriScheme::HTTP {
            finding.fix = format!(
                "if the upstream speaks TLS, change upstreams.{}.url to https://",
                self.name
            );
        }
        finding
    }

    /// A finding for a failed connection attempt: the most important finding of the diagnosis
    /// (its `why` extended with the other codes and the presented chain, for the
    /// `upstream_tls_failed` log event), or a finding per code for failures before TLS.
    pub fn finding_for_connect_error(&self, ce: &ConnectError) -> Finding {
        let n = &self.name;
        if let Some(first) = ce.findings.first() {
            let mut f = first.clone();
            f.why = format!("upstream '{n}': {}", f.why);
            let others: Vec<&str> = ce.findings[1..].iter().map(|o| o.code.as_str()).collect();
            if !others.is_empty() {
                f.why = format!("{} (also: {})", f.why, others.join(", "));
            }
            if let Some(chain) = &ce.chain_summary {
                f.why = format!("{}; presented chain: {chain}", f.why);
            }
            return f;
        }
        connect_finding(n, ce)
    }
}

/// The finding for a connection failure that has no diagnosis of its own (DNS, refused,
/// timeouts, egress proxy): a summary and fix per code, naming `upstreams.<n>` keys.
pub fn connect_finding(n: &str, ce: &ConnectError) -> Finding {
    let (summary, fix) = match ce.code {
            Code::UpstreamDnsFailed => (
                "the upstream's host name does not resolve".to_string(),
                format!("check the host in upstreams.{n}.url and this machine's DNS"),
            ),
            Code::UpstreamRefused => (
                "the upstream refused the connection".to_string(),
                format!("start the upstream, or fix the port in upstreams.{n}.url"),
            ),
            Code::UpstreamConnectTimeout => (
                "connecting to the upstream timed out".to_string(),
                "check firewalls and routes to the upstream, or whether an egress proxy is needed (egress_proxy)".to_string(),
            ),
            Code::UpstreamHandshakeTimeout => (
                "the TLS handshake with the upstream timed out".to_string(),
                format!("check that the upstream speaks TLS on this port, or raise upstreams.{n}.timeouts.tls_handshake"),
            ),
            Code::UpstreamPlainHttp => (
                "the upstream answered in plain HTTP on an https:// URL".to_string(),
                format!("change upstreams.{n}.url to http://"),
            ),
            Code::UpstreamCertExpired => (
                "the upstream's certificate has expired".to_string(),
                "renew the upstream's certificate (or check this machine's clock)".to_string(),
            ),
            Code::UpstreamCertNotYetValid => (
                "the upstream's certificate is not valid yet".to_string(),
                "check the clocks of this machine and the upstream's CA".to_string(),
            ),
            Code::UpstreamNameMismatch => (
                "the upstream's certificate does not cover the name we connect to".to_string(),
                format!("use a URL host the certificate covers, or set upstreams.{n}.tls.server_name"),
            ),
            Code::UpstreamUntrustedRoot => (
                "the upstream's certificate is not issued by a CA we trust".to_string(),
                format!("add the upstream's CA to upstreams.{n}.tls.ca_bundle"),
            ),
            Code::UpstreamClientCertRequired => (
                "the upstream requires a client certificate".to_string(),
                format!("set upstreams.{n}.tls.client_cert and client_key"),
            ),
            Code::UpstreamClientCertRejected => (
                "the upstream rejected the TLS handshake (our client certificate or parameters)".to_string(),
                format!("check upstreams.{n}.tls.client_cert against the CA the upstream trusts"),
            ),
            Code::UpstreamOverloaded => (
                "every connection tlsgate may open to the upstream is busy".to_string(),
                format!("retry after the retry-after delay; if this lasts, raise limits.upstream_max_connections (and the open-file limit), or add capacity behind upstreams.{n}"),
            ),
            Code::UpstreamLegacyTls => (
                "the upstream supports only TLS versions we do not speak".to_string(),
                "upgrade the upstream to TLS 1.2 or 1.3".to_string(),
            ),
            Code::EgressProxyFailed => (
                "the egress proxy could not open a tunnel to the upstream".to_string(),
                format!("check upstreams.{n}.egress_proxy and the proxy's own logs"),
            ),
            Code::UpstreamConnectionReset => (
                "the upstream dropped the connection during the TLS handshake".to_string(),
                "check that the upstream speaks TLS on this port and accepts our SNI".to_string(),
            ),
            _ => (
                "the connection to the upstream failed".to_string(),
                format!("check upstreams.{n} and the upstream's logs"),
            ),
        };
    Finding::new(ce.code, summary, format!("upstream '{n}': {}", ce.why), fix)
}

/// Finds an error of type `T` in a source chain, looking inside `io::Error`s too (whose
/// `source()` skips the wrapped error itself).
pub(crate) fn find_in_chain<'a, T: std::error::Error + 'static>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = current {
        if let Some(t) = err.downcast_ref::<T>() {
            return Some(t);
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if let Some(inner) = io.get_ref() {
                if let Some(t) = inner.downcast_ref::<T>() {
                    return Some(t);
                }
            }
        }
        current = err.source();
    }
    None
}

/// Reads a body to its end, refusing more than `limit` bytes.
async fn read_at_most(mut body: Incoming, limit: usize) -> Result<Vec<u8>, String> {
    use http_body_util::BodyExt;
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| e.to_string())?;
        if let Some(data) = frame.data_ref() {
            if out.len() + data.len() > limit {
                return Err(format!("the body is longer than {limit} bytes"));
            }
            out.extend_from_slice(data);
        }
    }
    Ok(out)
}

pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

pub(crate) fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

/// NO_PROXY / no_proxy: a comma-separated list of host suffixes, `*` for all.
pub(crate) fn no_proxy_matches(host: &str) -> bool {
    let list = std::env::var("NO_PROXY")
        .or_else(|_| std::env::var("no_proxy"))
        .unwrap_or_default();
    no_proxy_list_matches(&list, host)
}

fn no_proxy_list_matches(list: &str, host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    list.split(',')
        .map(|e| e.trim().trim_start_matches('.').to_ascii_lowercase())
        .filter(|e| !e.is_empty())
        .any(|e| e == "*" || host == e || host.ends_with(&format!(".{e}")))
}

#[cfg(test)]
mod tests;
