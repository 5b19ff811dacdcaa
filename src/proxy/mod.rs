//! The proxy: route a request, rewrite it, send it to the upstream over a pooled connection,
//! and stream the response back.
//!
//! One request flows: route (first matching path prefix) → header rewrite → upstream client
//! (connect / TLS / first-byte timeouts, failures become findings) → response body streamed frame
//! by frame (idle / total timeouts, SSE error event or abort on failure) → access log.

pub mod body;
pub mod check;
pub mod connect;
pub mod errors;
pub mod rewrite;

pub mod upstream;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, Version};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

use self::body::{CountingBody, ProxyBody, RequestId, RequestLog};
use self::rewrite::ClientSide;
use self::upstream::{Screened, UpstreamClient};
use crate::config::{ClientErrorDetail, Config};
use crate::findings::{Code, Finding};
use crate::telemetry::ratelimit::{Admit, RateLimiter};

/// What the proxy knows about the connection a request came on.
#[derive(Debug, Clone, Copy)]
pub struct ConnMeta {
    pub peer: SocketAddr,
    /// Whether the client connection is TLS (for `X-Forwarded-Proto`).
    pub tls: bool,
}

/// Called once per finished request (metrics). Kept as a plain callback so the proxy does not
/// depend on the admin module.
pub type RequestObserver = Arc<dyn Fn(&RequestLog) + Send + Sync>;

struct CompiledRoute {
    prefix: String,
    upstream: usize,
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
}

impl Proxy {
    /// Builds the clients for every upstream. Errors name the configuration key.
    pub fn new(cfg: &Config, observer: Option<RequestObserver>) -> Result<Proxy, String> {
        Self::with_counters(cfg, observer, &|_| Default::default())
    }

    /// As [`new`](Self::new), with the counter of connections opened to each upstream.
    pub fn with_counters(
        cfg: &Config,
        observer: Option<RequestObserver>,
        connections: &dyn Fn(&str) -> prometheus_client::metrics::counter::Counter,
    ) -> Result<Proxy, String> {
        let mut names = Vec::new();
        let mut upstreams = Vec::new();
        for (name, up) in &cfg.upstreams {
            names.push(name.clone());
            upstreams.push(Arc::new(UpstreamClient::with_connection_counter(
                name,
                up,
                connections(name),
            )?));
        }
        let routes = cfg
            .effective_routes()
            .into_iter()
            .map(|r| {
                let upstream = names
                    .iter()
                    .position(|n| *n == r.upstream)
                    .ok_or_else(|| format!("routes: no upstream named {:?}", r.upstream))?;
                Ok(CompiledRoute {
                    prefix: r.path_prefix.trim_end_matches('/').to_string(),
                    upstream,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
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

    /// The upstream clients (for checks and status).
    pub fn upstreams(&self) -> &[Arc<UpstreamClient>] {
        &self.upstreams
    }

    /// First route whose prefix matches whole path segments: `/v1` matches `/v1` and
    /// `/v1/models`, not `/v10`.
    fn route(&self, path: &str) -> Option<&Arc<UpstreamClient>> {
        self.routes
            .iter()
            .find(|r| {
                r.prefix.is_empty()
                    || (path.starts_with(&r.prefix)
                        && matches!(
                            path.as_bytes().get(r.prefix.len()),
                            None | Some(b'/') | Some(b'?')
                        ))
            })
            .map(|r| &self.upstreams[r.upstream])
    }

    /// Handles one request. Never fails: every problem becomes an HTTP response.
    pub async fn handle(&self, mut req: Request<Incoming>, meta: &ConnMeta) -> Response<ProxyBody> {
        let start = Instant::now();
        let request_id = RequestId {
            prefix: self.id_prefix.clone(),
            n: self.next_id.fetch_add(1, Ordering::Relaxed),
        };
        let bytes_in = Arc::new(AtomicU64::new(0));
        let mut log = RequestLog {
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

        let Some(upstream) = self.route(req.uri().path()).cloned() else {
            let finding = Finding::new(
                Code::NoRoute,
                "no route matches this path",
                format!(
                    "path {} matches no routes[].path_prefix",
                    crate::telemetry::redact::redact_path_and_query(req.uri().path())
                ),
                "add a route for this path, or call a path that is routed",
            );
            return self.local_error(&finding, log);
        };
        log.upstream = Some(upstream.name.clone());

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
        parts.uri = match upstream.target_uri(parts.uri.path_and_query()) {
            Ok(u) => u,
            Err(e) => {
                let finding = Finding::new(
                    Code::BadRequest,
                    "the request path cannot be forwarded",
                    format!("building the upstream URI failed: {e}"),
                    "check the request path",
                );
                return self.local_error(&finding, log);
            }
        };
        // The upstream connection decides its own protocol; hyper-util wants HTTP/1.1 here and
        // switches to HTTP/2 itself on an h2 connection.
        parts.version = Version::HTTP_11;
        let upstream_body = CountingBody::new(body, bytes_in).boxed();
        let upstream_req = Request::from_parts(parts, upstream_body);

        let resp = match upstream.send(upstream_req, upgrade).await {
            Ok(r) => r,
            Err(finding) => {
                if self.limiter.admit(
                    &upstream.name,
                    finding.code,
                    &crate::telemetry::redact::peer(meta.peer),
                    Instant::now(),
                ) == Admit::Log
                {
                    log_upstream_failure(&upstream, &finding);
                }
                return self.local_error(&finding, log);
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
                if self.limiter.admit(
                    &upstream.name,
                    finding.code,
                    &crate::telemetry::redact::peer(meta.peer),
                    Instant::now(),
                ) == Admit::Log
                {
                    log_upstream_failure(&upstream, &finding);
                }
                return self.local_error(&finding, log);
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
                    tracing::debug!(event = "upgrade_failed", upstream = %name, client_ok = c.is_ok(), upstream_ok = u.is_ok());
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

    /// An error tlsgate answers itself, OpenAI-shaped.
    fn local_error(&self, finding: &Finding, mut log: RequestLog) -> Response<ProxyBody> {
        let resp: Response<Bytes> = errors::error_response(finding, self.detail);
        log.status = resp.status().as_u16();
        log.code = Some(finding.code);
        let (mut parts, bytes) = resp.into_parts();
        if let Ok(v) = HeaderValue::from_str(&log.request_id.to_string()) {
            parts.headers.insert("x-tlsgate-request-id", v);
        }
        Response::from_parts(parts, ProxyBody::full(bytes, Some(log)))
    }
}

/// Logs a failed upstream request: `upstream_tls_failed` for handshake and certificate causes,
/// `upstream_error` for the rest.
fn log_upstream_failure(upstream: &UpstreamClient, finding: &Finding) {
    let tls = is_tls_code(finding.code);
    let event = if tls {
        "upstream_tls_failed"
    } else {
        "upstream_error"
    };
    tracing::warn!(
        event,
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

fn is_tls_code(code: Code) -> bool {
    matches!(
        code,
        Code::UpstreamPlainHttp
            | Code::UpstreamTlsOnHttpUrl
            | Code::UpstreamCertExpired
            | Code::UpstreamCertNotYetValid
            | Code::UpstreamNameMismatch
            | Code::UpstreamSelfSigned
            | Code::UpstreamChainIncomplete
            | Code::UpstreamUntrustedRoot
            | Code::UpstreamTlsInspection
            | Code::UpstreamLegacyTls
            | Code::UpstreamNoSharedCipher
            | Code::UpstreamClientCertRequired
            | Code::UpstreamClientCertRejected
            | Code::UpstreamHandshakeTimeout
            | Code::UpstreamTlsFailed
    )
}

#[cfg(test)]
mod tests;
