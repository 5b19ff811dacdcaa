//! The proxy: route a request, rewrite it, send it to the upstream over a pooled connection,
//! and stream the response back.
//!
//! One request flows: route (first matching path prefix) → header rewrite → upstream client
//! (connect / TLS / first-byte timeouts, failures become findings) → response body streamed frame
//! by frame (idle / total timeouts, SSE error event or abort on failure) → access log.

pub mod admission;
pub mod body;
pub mod check;
pub mod connect;
pub mod errors;
pub mod inbound;
pub mod path;
pub mod pool;
pub mod rewrite;

pub mod upstream;

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::uri::PathAndQuery;
use http::{HeaderValue, Request, Response, StatusCode, Version};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

use self::body::{
    BodyLimits, ClientBody, ClientFault, Drain, ProxyBody, RequestBody, RequestId, RequestLog,
};
use self::inbound::Refusal;
use self::rewrite::ClientSide;
use self::upstream::{Screened, UpstreamClient, UpstreamClientError, UpstreamShared};
use crate::config::{ClientErrorDetail, Config};
use crate::findings::{Code, Finding};
use crate::telemetry::ratelimit::{Admit, RateLimiter};
use crate::telemetry::Event;

/// What the proxy knows about the connection a request came on.
#[derive(Debug, Clone)]
pub struct ConnMeta {
    pub peer: SocketAddr,
    /// Whether the client connection is TLS (for `X-Forwarded-Proto`).
    pub tls: bool,
    /// `tlsgate_client_errors_total` of the connection's listener.
    pub client_errors: crate::status::ClientErrors,
}

/// Called once per finished request (metrics). Kept as a plain callback so the proxy does not
/// depend on the admin module.
pub type RequestObserver = Arc<dyn Fn(&RequestLog) + Send + Sync>;

struct CompiledRoute {
    prefix: String,
    upstream: usize,
}

/// Why the proxy cannot be built from a configuration. The text names the key.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error(transparent)]
    Upstream(#[from] UpstreamClientError),
    #[error("routes: no upstream named {upstream:?}")]
    UnknownUpstream { upstream: String },
}

/// The routing table and the upstream clients.
pub struct Proxy {
    routes: Vec<CompiledRoute>,
    upstreams: Vec<Arc<UpstreamClient>>,
    detail: ClientErrorDetail,
    observer: Option<RequestObserver>,
    next_id: AtomicU64,
    id_prefix: Arc<str>,
    /// Rate limit of `upstream_error` / `upstream_tls_failed` events, per upstream and code.
    limiter: Arc<RateLimiter>,
    /// `proxy.allowed_upgrades`.
    allowed_upgrades: Vec<String>,
    /// `limits.max_request_header_bytes`.
    max_header_bytes: usize,
    body_limits: BodyLimits,
    /// The rate-limit key of `client_error` events.
    client_key: Arc<str>,
}

impl Proxy {
    /// Builds the clients for every upstream. Errors name the configuration key.
    pub fn new(cfg: &Config, observer: Option<RequestObserver>) -> Result<Proxy, ProxyError> {
        Self::with_shared(cfg, observer, &|_| UpstreamShared::unlimited())
    }

    /// As [`new`](Self::new), with what the workers' clients of each upstream share (the
    /// connection counter and cap).
    pub fn with_shared(
        cfg: &Config,
        observer: Option<RequestObserver>,
        shared: &dyn Fn(&str) -> UpstreamShared,
    ) -> Result<Proxy, ProxyError> {
        let mut names = Vec::new();
        let mut upstreams = Vec::new();
        for (name, up) in &cfg.upstreams {
            names.push(name.clone());
            upstreams.push(Arc::new(UpstreamClient::with_shared(
                name,
                up,
                shared(name),
            )?));
        }
        let routes = cfg
            .effective_routes()
            .into_iter()
            .map(|r| {
                let upstream = names.iter().position(|n| *n == r.upstream).ok_or_else(|| {
                    ProxyError::UnknownUpstream {
                        upstream: r.upstream.clone(),
                    }
                })?;
                Ok(CompiledRoute {
                    prefix: r.path_prefix.trim_end_matches('/').to_string(),
                    upstream,
                })
            })
            .collect::<Result<Vec<_>, ProxyError>>()?;
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Ok(Proxy {
            routes,
            upstreams,
            detail: cfg.diagnostics.client_error_detail,
            observer,
            next_id: AtomicU64::new(1),
            id_prefix: Arc::from(format!("{:x}", started & 0xffff_ffff)),
            limiter: Arc::new(RateLimiter::default()),
            allowed_upgrades: cfg.proxy.allowed_upgrades.clone(),
            max_header_bytes: usize::try_from(cfg.limits.max_request_header_bytes.0)
                .unwrap_or(usize::MAX),
            body_limits: BodyLimits {
                max_bytes: cfg.limits.max_request_body_bytes.map(|b| b.0),
            },
            client_key: Arc::from("client"),
        })
    }

    /// Shares one limiter of upstream failure events between proxies (one per worker).
    pub fn with_limiter(mut self, limiter: Arc<RateLimiter>) -> Self {
        self.limiter = limiter;
        self
    }

    /// The limiter of upstream failure events (its summaries are logged by `serve`).
    pub fn limiter(&self) -> &Arc<RateLimiter> {
        &self.limiter
    }

    /// `diagnostics.client_error_detail`: what an HTTP client is told.
    pub fn detail(&self) -> ClientErrorDetail {
        self.detail
    }

    /// The upstream clients (for checks and status).
    pub fn upstreams(&self) -> &[Arc<UpstreamClient>] {
        &self.upstreams
    }

    /// First route whose prefix matches whole path segments: `/v1` matches `/v1` and
    /// `/v1/models`, not `/v10`.
    #[cfg(test)]
    fn route(&self, path: &str) -> Option<&Arc<UpstreamClient>> {
        self.route_index(path)
            .map(|i| &self.upstreams[self.routes[i].upstream])
    }

    fn route_index(&self, path: &str) -> Option<usize> {
        self.routes
            .iter()
            .position(|r| path::is_under(path, &r.prefix))
    }

    /// Normalizes a request path (see [`path`]) and picks its route. A path that dot segments
    /// take out of the route its raw form falls under is refused: `/v1/../admin` must not
    /// reach another route on the strength of looking like `/v1`.
    fn resolve<'a>(&self, raw: &'a str) -> Result<(Cow<'a, str>, Option<usize>), Refusal> {
        let invalid = |e: path::PathError| Refusal {
            code: Code::ClientPathInvalid,
            why: format!(
                "path {}: {e}",
                inbound::peer_text(crate::telemetry::redact::redact_path_and_query(raw).as_bytes())
            ),
        };
        let decoded = path::decode_unreserved(raw).map_err(invalid)?;
        let normalized = match path::remove_dot_segments(&decoded).map_err(invalid)? {
            None => decoded,
            Some(n) => {
                if let Some(i) = self.route_index(&decoded) {
                    if !path::is_under(&n, &self.routes[i].prefix) {
                        return Err(invalid(path::PathError(
                            "its dot segments lead out of the route prefix it starts with",
                        )));
                    }
                }
                Cow::Owned(n)
            }
        };
        let route = self.route_index(&normalized);
        Ok((normalized, route))
    }

    /// Refusals that need no upstream: method, head size, Host, body size, Upgrade tokens.
    fn screen<B: ClientBody>(&self, req: &Request<B>) -> Result<(), Refusal> {
        inbound::check_method(req.method())?;
        let head = inbound::head_size(req.method(), req.uri(), req.headers());
        if head > self.max_header_bytes {
            return Err(Refusal {
                code: Code::ClientHeadersTooLarge,
                why: format!(
                    "the request head is {head} bytes, limits.max_request_header_bytes is {}",
                    self.max_header_bytes
                ),
            });
        }
        inbound::check_host(req.version(), req.uri(), req.headers())?;
        if req.version() <= Version::HTTP_11 {
            if let Some(scheme) = req.uri().scheme_str() {
                if scheme != "http" && scheme != "https" {
                    return Err(Refusal {
                        code: Code::ClientPathInvalid,
                        why: format!(
                            "an absolute-form target with scheme \"{}\"",
                            inbound::peer_text(scheme.as_bytes())
                        ),
                    });
                }
            }
            if let Some(tokens) = inbound::upgrade_tokens(req.headers()) {
                inbound::check_upgrade(&tokens, &self.allowed_upgrades)?;
            }
        }
        if let (Some(max), Some(len)) = (
            self.body_limits.max_bytes,
            req.body()
                .size_hint()
                .exact()
                .filter(|_| !req.body().is_end_stream()),
        ) {
            if len > max {
                return Err(Refusal {
                    code: Code::ClientBodyTooLarge,
                    why: format!(
                        "Content-Length {len} exceeds limits.max_request_body_bytes = {max}"
                    ),
                });
            }
        }
        Ok(())
    }

    /// Handles one request. Never fails: every problem becomes an HTTP response. The body is
    /// hyper's `Incoming`, or the server's wrapper of it (which times the client's body).
    pub async fn handle<B: ClientBody>(
        &self,
        req: Request<B>,
        meta: &ConnMeta,
    ) -> Response<ProxyBody> {
        let mut resp = self.respond(req, meta).await;
        // An HTTP/2 request body that will not be forwarded is read to its end before the
        // answer goes out, so the stream closes cleanly (see `Drain`).
        if let Some(drain) = resp.body_mut().take_drain() {
            drain.await;
        }
        resp
    }

    async fn respond<B: ClientBody>(
        &self,
        mut req: Request<B>,
        meta: &ConnMeta,
    ) -> Response<ProxyBody> {
        let start = Instant::now();
        let request_id = RequestId {
            prefix: self.id_prefix.clone(),
            n: self.next_id.fetch_add(1, Ordering::Relaxed),
        };
        let bytes_in = Arc::new(AtomicU64::new(0));
        let mut log = RequestLog {
            peer: meta.peer,
            method: req.method().clone(),
            uri: req.uri().clone(),
            upstream: None,
            status: 0,
            bytes_in: bytes_in.clone(),
            bytes_out: 0,
            start,
            ttfb: None,
            request_id,
            code: None,
            completed: false,
            on_done: self.observer.clone(),
        };

        // HTTP/2: a body we will not forward is read to its end before the error ends (see
        // `Drain`); HTTP/1.1 leaves it to hyper (drained or the connection closed).
        let h2 = req.version() == Version::HTTP_2;
        if let Err(refusal) = self.screen(&req) {
            let drain = h2.then(|| Drain::body(req.into_body()));
            return self.refuse(refusal, meta, log, drain);
        }
        if inbound::is_options_asterisk(req.method(), req.uri()) {
            // A question about tlsgate itself, never forwarded.
            log.status = 200;
            let drain = h2.then(|| Drain::body(req.into_body()));
            let mut resp =
                Response::new(ProxyBody::full(Bytes::new(), Some(log)).with_drain(drain));
            resp.headers_mut().insert(
                http::header::ALLOW,
                HeaderValue::from_static(inbound::ALLOW),
            );
            return resp;
        }
        let (normalized, route) = match self.resolve(req.uri().path()) {
            Ok(r) => r,
            Err(refusal) => {
                let drain = h2.then(|| Drain::body(req.into_body()));
                return self.refuse(refusal, meta, log, drain);
            }
        };
        let Some(upstream) = route.map(|i| self.upstreams[self.routes[i].upstream].clone()) else {
            let finding = Finding::new(
                Code::NoRoute,
                "no route matches this path",
                format!(
                    "path {} matches no routes[].path_prefix",
                    crate::telemetry::redact::redact_path_and_query(req.uri().path())
                ),
                "add a route for this path, or call a path that is routed",
            );
            let drain = h2.then(|| Drain::body(req.into_body()));
            return self.local_error(&finding, log, drain);
        };
        log.upstream = Some(upstream.name.clone());
        // What is forwarded is what was routed: the normalized path, the query as sent.
        let normalized_pq = match normalized {
            Cow::Borrowed(_) => None,
            Cow::Owned(p) => {
                let text = match req.uri().query() {
                    Some(q) => format!("{p}?{q}"),
                    None => p,
                };
                PathAndQuery::try_from(text).ok()
            }
        };

        let upgrade =
            req.version() <= Version::HTTP_11 && rewrite::is_upgrade_request(req.headers());
        let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));

        let (mut parts, body) = req.into_parts();
        let client = ClientSide {
            peer_ip: meta.peer.ip(),
            proto: if meta.tls { "https" } else { "http" },
            host: parts.uri.authority().map(|a| a.as_str()),
        };
        rewrite::rewrite_request_headers(
            &mut parts.headers,
            &client,
            &upstream.set_headers,
            upgrade,
        );
        let target = upstream.target_uri(normalized_pq.as_ref().or(parts.uri.path_and_query()));
        parts.uri = match target {
            Ok(u) => u,
            Err(e) => {
                let finding = Finding::new(
                    Code::BadRequest,
                    "the request path cannot be forwarded",
                    format!("building the upstream URI failed: {e}"),
                    "check the request path",
                );
                let drain = h2.then(|| Drain::body(body));
                return self.local_error(&finding, log, drain);
            }
        };
        // The upstream connection decides its own protocol; hyper-util wants HTTP/1.1 here and
        // switches to HTTP/2 itself on an h2 connection.
        parts.version = Version::HTTP_11;
        // A request without a body (most GETs) sends an empty body: nothing to count, to
        // bound or to hand back, and no allocation.
        let bodiless = body.is_end_stream();
        let fault = (!bodiless).then(|| Arc::new(ClientFault::default()));
        let (give_back, returned) = if h2 && !bodiless {
            let (tx, rx) = tokio::sync::oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let upstream_body = match &fault {
            Some(fault) => {
                RequestBody::new(body, bytes_in, self.body_limits, fault.clone(), give_back).boxed()
            }
            None => body::empty_upstream_body(),
        };
        let upstream_req = Request::from_parts(parts, upstream_body);

        // A fault of the client's body (too large, stalled, malformed) ends the wait at once
        // and is reported as the client's, whatever the upstream made of the broken request.
        let sent = tokio::select! {
            biased;
            f = ClientFault::wait_any(fault.as_deref()) => Err(f.clone()),
            r = upstream.send(upstream_req, upgrade) => r,
        };
        let resp = match sent {
            Ok(r) => r,
            Err(finding) => {
                if let Some(client_fault) = fault.as_deref().and_then(ClientFault::get) {
                    let refusal = Refusal {
                        code: client_fault.code,
                        why: client_fault.why.clone(),
                    };
                    return self.refuse(refusal, meta, log, None::<Drain<B>>);
                }
                self.report_upstream_failure(&upstream, &finding, meta);
                return self.local_error(&finding, log, returned.map(Drain::returning));
            }
        };
        log.ttfb = Some(start.elapsed());

        if let (Some(client_upgrade), StatusCode::SWITCHING_PROTOCOLS) =
            (client_upgrade, resp.status())
        {
            return self.tunnel(resp, client_upgrade, log);
        }

        let (mut parts, body) = resp.into_parts();
        // TLS problems the upstream reports in HTTP (nginx's 400 pages): tlsgate's own 502.
        let body = match upstream.screen(&parts, body).await {
            Screened::Pass(body) => body,
            Screened::Read(bytes) => {
                rewrite::rewrite_response_headers(&mut parts.headers, false);
                log.status = parts.status.as_u16();
                return Response::from_parts(parts, ProxyBody::full(bytes, Some(log)));
            }
            Screened::Tls(finding) => {
                self.report_upstream_failure(&upstream, &finding, meta);
                return self.local_error(&finding, log, returned.map(Drain::returning));
            }
        };
        rewrite::rewrite_response_headers(&mut parts.headers, false);
        log.status = parts.status.as_u16();
        let sse = parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().starts_with("text/event-stream"));
        let total_deadline = upstream
            .timeouts
            .total
            .map(|t| tokio::time::Instant::from_std(start) + t.get());
        let body = ProxyBody::upstream(
            body,
            upstream.timeouts.idle.get(),
            total_deadline,
            sse,
            self.detail,
            upstream.name.clone(),
            Some(log),
        );
        Response::from_parts(parts, body)
    }

    /// Logs an upstream failure, rate-limited per upstream and code.
    fn report_upstream_failure(
        &self,
        upstream: &UpstreamClient,
        finding: &Finding,
        meta: &ConnMeta,
    ) {
        let peer = crate::telemetry::redact::peer(meta.peer);
        if self
            .limiter
            .admit(&upstream.name, finding.code, &peer, Instant::now())
            == Admit::Log
        {
            log_upstream_failure(upstream, finding);
        }
    }

    /// Answers a WebSocket (or other) upgrade: returns the upstream's 101 to the client and
    /// splices the two upgraded connections once both sides have switched.
    fn tunnel(
        &self,
        mut resp: Response<Incoming>,
        client_upgrade: hyper::upgrade::OnUpgrade,
        mut log: RequestLog,
    ) -> Response<ProxyBody> {
        let upstream_upgrade = hyper::upgrade::on(&mut resp);
        let (mut parts, _) = resp.into_parts();
        rewrite::rewrite_response_headers(&mut parts.headers, true);
        log.status = 101;
        let name = log.upstream.clone().unwrap_or_else(|| Arc::from("-"));
        tokio::spawn(async move {
            let (client, upstream) = match tokio::join!(client_upgrade, upstream_upgrade) {
                (Ok(c), Ok(u)) => (c, u),
                (c, u) => {
                    tracing::debug!(event = Event::UpgradeFailed.as_str(), upstream = %name, client_ok = c.is_ok(), upstream_ok = u.is_ok());
                    return;
                }
            };
            let mut client = TokioIo::new(client);
            let mut upstream = TokioIo::new(upstream);
            let copied = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            if let Ok((to_up, to_client)) = copied {
                log.bytes_in.fetch_add(to_up, Ordering::Relaxed);
                log.bytes_out += to_client;
                log.completed = true;
            }
            drop(log);
        });
        Response::from_parts(parts, ProxyBody::empty(None))
    }

    /// A request refused as the client's fault: a `client_error` event (rate-limited per code)
    /// and the 4xx JSON error.
    fn refuse<B: ClientBody>(
        &self,
        refusal: Refusal,
        meta: &ConnMeta,
        log: RequestLog,
        drain: Option<Drain<B>>,
    ) -> Response<ProxyBody> {
        let code = refusal.code;
        meta.client_errors.record(code);
        let finding = Finding::new(code, client_summary(code), refusal.why, code.fix_hint());
        if self.limiter.admit(
            &self.client_key,
            code,
            &crate::telemetry::redact::peer(meta.peer),
            Instant::now(),
        ) == Admit::Log
        {
            tracing::info!(
                event = Event::ClientError.as_str(),
                peer = %crate::telemetry::redact::peer(meta.peer),
                code = code.as_str(),
                summary = %finding.summary,
                why = %finding.why,
            );
        }
        let mut resp = self.local_error(&finding, log, drain);
        if code == Code::ClientMethodRefused {
            resp.headers_mut().insert(
                http::header::ALLOW,
                HeaderValue::from_static(inbound::ALLOW),
            );
        }
        resp
    }

    /// An error tlsgate answers itself, OpenAI-shaped. `drain`: an HTTP/2 request body to read
    /// to its end before the response ends.
    fn local_error<B: ClientBody>(
        &self,
        finding: &Finding,
        mut log: RequestLog,
        drain: Option<Drain<B>>,
    ) -> Response<ProxyBody> {
        let resp: Response<Bytes> = errors::error_response(finding, self.detail);
        log.status = resp.status().as_u16();
        log.code = Some(finding.code);
        let (mut parts, bytes) = resp.into_parts();
        if let Ok(v) = HeaderValue::from_str(&log.request_id.to_string()) {
            parts.headers.insert("x-tlsgate-request-id", v);
        }
        Response::from_parts(parts, ProxyBody::full(bytes, Some(log)).with_drain(drain))
    }
}

/// The one-line summary a client is told for each `client_*` refusal.
fn client_summary(code: Code) -> &'static str {
    match code {
        Code::ClientMethodRefused => "this method is not forwarded (CONNECT and TRACE are refused)",
        Code::ClientHostInvalid => {
            "the request's Host is missing, repeated, malformed or contradicts its authority"
        }
        Code::ClientHeadersTooLarge => "the request headers are larger than this server accepts",
        Code::ClientPathInvalid => "the request path cannot be forwarded safely",
        Code::ClientUpgradeRefused => "this protocol upgrade is not allowed",
        Code::ClientBodyTooLarge => "the request body is larger than this server accepts",
        Code::ClientBodyTimeout => "the client stopped sending its request body",
        Code::ClientBodyInvalid => "the request body is malformed or was cut short",
        _ => "the request cannot be forwarded",
    }
}

/// Logs a failed upstream request: `upstream_tls_failed` for handshake and certificate causes,
/// `upstream_error` for the rest.
fn log_upstream_failure(upstream: &UpstreamClient, finding: &Finding) {
    let tls = finding.code.is_tls_cause();
    let event = if tls {
        Event::UpstreamTlsFailed
    } else {
        Event::UpstreamError
    };
    tracing::warn!(
        event = event.as_str(),
        upstream = %upstream.name,
        address = %upstream.url,
        code = finding.code.as_str(),
        severity = finding.severity.as_str(),
        summary = %finding.summary,
        why = %finding.why,
        fix = %finding.fix,
        verification_disabled = upstream.insecure,
    );
}

#[cfg(test)]
mod tests;
