//! The admin listener: a small HTTP/1.1 server over [`State`].

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::findings::Finding;
use crate::server::lifecycle::{judge, Activity, ConnTimeouts, Limit, Verdict, Watched};
use crate::status::{AdminCloseReason, ReloadResult, State};

/// What one admin connection, and all of them together, may take.
#[derive(Debug, Clone, Copy)]
pub struct Budgets {
    /// `admin.header_read_timeout`: from the connection's start to its first complete request
    /// head, and from the first byte of each later request to its complete head.
    pub header_read_timeout: std::time::Duration,
    /// `admin.idle_timeout`: a keep-alive connection with no byte of a next request; also how
    /// long a client may take nothing of an answer.
    pub idle_timeout: std::time::Duration,
    /// `admin.max_connections`: connections beyond it are closed at accept.
    pub max_connections: usize,
}

impl Budgets {
    /// The connection rule's timeouts (`server::lifecycle::judge`, HTTP/1.1 only here).
    fn timeouts(&self) -> ConnTimeouts {
        ConnTimeouts {
            header_read: self.header_read_timeout,
            keepalive: self.idle_timeout,
            http2_idle: self.idle_timeout,
            client_body: self.header_read_timeout,
            send: self.idle_timeout,
        }
    }
}

/// How often, at most, the admin API logs that it refused or closed connections (per reason).
const CAP_LOG_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// Counts every admin connection refused or closed for a budget and logs it, at most once per
/// reason every [`CAP_LOG_EVERY`].
struct Closes {
    state: Arc<State>,
    budgets: Budgets,
    logged: std::sync::Mutex<[Option<std::time::Instant>; AdminCloseReason::ALL.len()]>,
    closed: [std::sync::atomic::AtomicU64; AdminCloseReason::ALL.len()],
}

impl Closes {
    fn record(&self, reason: AdminCloseReason) {
        self.state.record_admin_connection_closed(reason);
        let i = AdminCloseReason::ALL
            .iter()
            .position(|r| *r == reason)
            .unwrap_or(0);
        let total = self.closed[i].fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        {
            let mut logged = crate::locks::lock(&self.logged);
            if logged[i].is_some_and(|at| at.elapsed() < CAP_LOG_EVERY) {
                return;
            }
            logged[i] = Some(std::time::Instant::now());
        }
        let (setting, limit, message) = match reason {
            AdminCloseReason::OverCapacity => (
                "admin.max_connections",
                self.budgets.max_connections.to_string(),
                "admin connection refused: too many open admin connections",
            ),
            AdminCloseReason::HeaderTimeout => (
                "admin.header_read_timeout",
                format!("{}ms", self.budgets.header_read_timeout.as_millis()),
                "admin connection closed: no complete request head in time",
            ),
            AdminCloseReason::IdleTimeout => (
                "admin.idle_timeout",
                format!("{}ms", self.budgets.idle_timeout.as_millis()),
                "admin connection closed: idle between requests",
            ),
            AdminCloseReason::SendTimeout => (
                "admin.idle_timeout",
                format!("{}ms", self.budgets.idle_timeout.as_millis()),
                "admin connection closed: the client stopped reading the answer",
            ),
        };
        tracing::warn!(
            event = crate::telemetry::Event::ConnectionError.as_str(),
            listener = "admin",
            reason = reason.as_str(),
            setting,
            limit = %limit,
            closed_total = total,
            "{message}",
        );
    }
}

/// Serves the admin API until `shutdown` flips.
pub async fn serve(
    listener: TcpListener,
    state: Arc<State>,
    budgets: Budgets,
    mut shutdown: watch::Receiver<bool>,
) {
    let local = listener.local_addr().ok();
    let slots = Arc::new(tokio::sync::Semaphore::new(budgets.max_connections.max(1)));
    let closes = Arc::new(Closes {
        state: state.clone(),
        budgets,
        logged: std::sync::Mutex::new([None; AdminCloseReason::ALL.len()]),
        closed: Default::default(),
    });
    loop {
        let (stream, _) = tokio::select! {
            _ = shutdown.changed() => return,
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            // Counted before the close, so a client that sees it sees the count.
            closes.record(AdminCloseReason::OverCapacity);
            drop(stream);
            continue;
        };
        let state = state.clone();
        let closes = closes.clone();
        tokio::spawn(async move {
            let _slot = slot;
            serve_connection(stream, state, local, &closes).await;
        });
    }
}

/// One admin connection: HTTP/1.1 with the connection rule of the proxy's listeners
/// (`server::lifecycle::judge`) watching it, with the admin budgets.
async fn serve_connection(
    stream: tokio::net::TcpStream,
    state: Arc<State>,
    local: Option<std::net::SocketAddr>,
    closes: &Closes,
) {
    let activity = Activity::exact();
    let io = TokioIo::new(Watched::new(stream, activity.clone()));
    let svc = {
        let activity = activity.clone();
        service_fn(move |req: Request<hyper::body::Incoming>| {
            let state = state.clone();
            let in_flight = activity.request_started(false);
            async move {
                let resp = handle(&state, req, local).await;
                drop(in_flight);
                Ok::<_, Infallible>(resp)
            }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    // hyper's own head timer would also run between requests; `judge` times both instead.
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(None)
        .keep_alive(true);
    let mut conn = std::pin::pin!(builder.serve_connection(io, svc));
    let timeouts = closes.budgets.timeouts();
    loop {
        let due = match judge(&activity.snapshot(), &timeouts) {
            Verdict::Close(_, limit) | Verdict::GoAway(limit) => {
                closes.record(match limit {
                    Limit::Keepalive | Limit::Http2Idle => AdminCloseReason::IdleTimeout,
                    Limit::Send => AdminCloseReason::SendTimeout,
                    Limit::HeaderRead | Limit::ClientBody => AdminCloseReason::HeaderTimeout,
                });
                return;
            }
            Verdict::Wait(at) => at.map(|ms| activity.at(ms)),
        };
        let sleep = async {
            match due {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = conn.as_mut() => return,
            () = activity.changed() => {}
            () = sleep => {}
        }
    }
}

fn respond(
    status: StatusCode,
    content_type: &str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    if let Ok(v) = http::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    r.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    r.headers_mut().insert(
        http::header::X_CONTENT_TYPE_OPTIONS,
        http::HeaderValue::from_static("nosniff"),
    );
    r
}

fn json(status: StatusCode, v: &impl Serialize) -> Response<Full<Bytes>> {
    let text = serde_json::to_string_pretty(v).unwrap_or_else(|_| "{}".into());
    respond(status, "application/json", text)
}

/// `result` of a `POST /reload` answer: the reload's result, or `error` when the reload
/// itself could not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum ReloadReplyResult {
    Ok,
    Rejected,
    None,
    Error,
}

impl From<ReloadResult> for ReloadReplyResult {
    fn from(r: ReloadResult) -> Self {
        match r {
            ReloadResult::Ok => ReloadReplyResult::Ok,
            ReloadResult::Rejected => ReloadReplyResult::Rejected,
            ReloadResult::None => ReloadReplyResult::None,
        }
    }
}

/// The body of a `POST /reload` answer: `{"result", "findings"}`.
#[derive(Debug, Serialize)]
struct ReloadReply {
    result: ReloadReplyResult,
    findings: Vec<Finding>,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<&'static str>,
}

/// Guards, then answers: the Host check (DNS rebinding), the `POST /reload` header check
/// (cross-site requests), and `HEAD` answered as `GET` without the body.
async fn handle<B>(
    state: &Arc<State>,
    mut req: Request<B>,
    local: Option<std::net::SocketAddr>,
) -> Response<Full<Bytes>> {
    if let Some(refused) = guard(&req, local) {
        return refused;
    }
    let head = req.method() == Method::HEAD;
    if head {
        *req.method_mut() = Method::GET;
    }
    let resp = route(state, req).await;
    if !head {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let len = http_body::Body::size_hint(&body).exact().unwrap_or(0);
    parts
        .headers
        .insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(len));
    Response::from_parts(parts, Full::new(Bytes::new()))
}

/// A JSON refusal, `{"error":{"message","type","code"}}` like every tlsgate error.
fn refusal(status: StatusCode, code: &str, message: &str) -> Response<Full<Bytes>> {
    json(
        status,
        &serde_json::json!({"error": {"message": message, "type": "tlsgate_admin_error", "param": null, "code": code}}),
    )
}

/// Refuses requests a browser could be tricked into sending: a Host that is not this admin
/// address, `localhost` or a loopback IP (DNS rebinding), and a `POST /reload` without
/// `Content-Type: application/json` or an `X-Tlsgate` header (a cross-site form can send
/// neither).
fn guard<B>(
    req: &Request<B>,
    local: Option<std::net::SocketAddr>,
) -> Option<Response<Full<Bytes>>> {
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()));
    if !host.is_some_and(|h| host_allowed(h, local)) {
        return Some(refusal(
            StatusCode::FORBIDDEN,
            "admin_host_refused",
            "the admin API answers only requests addressed to its own address, localhost or a loopback IP",
        ));
    }
    if req.method() == Method::POST && req.uri().path() == "/reload" {
        let h = req.headers();
        if h.contains_key("x-tlsgate") {
            return None;
        }
        let ct = h
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            });
        return match ct.as_deref() {
            Some("application/json") => None,
            Some(_) => Some(refusal(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "admin_content_type_refused",
                "POST /reload needs Content-Type: application/json or an X-Tlsgate header",
            )),
            None => Some(refusal(
                StatusCode::FORBIDDEN,
                "admin_csrf_refused",
                "POST /reload needs Content-Type: application/json or an X-Tlsgate header",
            )),
        };
    }
    None
}

/// `localhost`, a loopback IP or the admin address itself, with or without a port.
fn host_allowed(host: &str, local: Option<std::net::SocketAddr>) -> bool {
    let host = host.trim();
    if local.is_some_and(|l| host == l.to_string() || host == l.ip().to_string()) {
        return true;
    }
    let name = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((ip, port)) if port.is_empty() || valid_port(port) => ip,
            _ => return false,
        }
    } else {
        match host.rsplit_once(':') {
            Some((n, port)) if valid_port(&format!(":{port}")) => n,
            Some(_) => return false,
            None => host,
        }
    };
    // Bound to 0.0.0.0 / [::] (admin.allow_public), any of this machine's addresses is the
    // admin address; an IP literal cannot be rebound, so any is accepted there.
    let any_ip = local.is_some_and(|l| l.ip().is_unspecified());
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback() || any_ip)
}

fn valid_port(p: &str) -> bool {
    p.strip_prefix(':')
        .is_some_and(|d| !d.is_empty() && d.len() <= 5 && d.bytes().all(|b| b.is_ascii_digit()))
}

/// Answers one admin request. Only the method and path matter (no admin endpoint reads a
/// body), so this is generic over the body type and unit-testable without a socket.
async fn route<B>(state: &Arc<State>, req: Request<B>) -> Response<Full<Bytes>> {
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/healthz") => respond(StatusCode::OK, "text/plain", "ok\n"),
        (&Method::GET, "/readyz") => {
            if state.is_ready() {
                respond(StatusCode::OK, "text/plain", "ready\n")
            } else {
                respond(StatusCode::SERVICE_UNAVAILABLE, "text/plain", "not ready\n")
            }
        }
        (&Method::GET, "/status") => json(StatusCode::OK, &state.status()),
        (&Method::GET, "/metrics") => respond(
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            state.metrics_text(),
        ),
        (&Method::POST, "/reload") => {
            let trigger = state
                .reload_trigger
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            match trigger {
                Some(t) => {
                    // Reading and validating files blocks; keep it off the async workers.
                    let result = tokio::task::spawn_blocking(move || t()).await;
                    match result {
                        Ok(status) => {
                            let code = if status.result == ReloadResult::Rejected {
                                StatusCode::UNPROCESSABLE_ENTITY
                            } else {
                                StatusCode::OK
                            };
                            json(
                                code,
                                &ReloadReply {
                                    result: status.result.into(),
                                    findings: status.findings,
                                    note: None,
                                },
                            )
                        }
                        Err(_) => json(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            &ReloadReply {
                                result: ReloadReplyResult::Error,
                                findings: Vec::new(),
                                note: None,
                            },
                        ),
                    }
                }
                None => json(
                    StatusCode::OK,
                    &ReloadReply {
                        result: ReloadReplyResult::None,
                        findings: Vec::new(),
                        note: Some("no TLS listener: nothing to reload"),
                    },
                ),
            }
        }
        (&Method::GET, "/") => {
            let mut r = respond(
                StatusCode::OK,
                "text/html; charset=utf-8",
                super::page::render(
                    &serde_json::to_value(state.status()).unwrap_or_default(),
                    &state.request_counts(),
                ),
            );
            // Self-contained by design: no scripts, no external fetches, inline styles only.
            r.headers_mut().insert(
                http::header::CONTENT_SECURITY_POLICY,
                http::HeaderValue::from_static(
                    "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
                ),
            );
            r
        }
        (_, "/healthz" | "/readyz" | "/status" | "/metrics" | "/") => {
            let mut r = respond(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "use GET\n");
            r.headers_mut().insert(
                http::header::ALLOW,
                http::HeaderValue::from_static("GET, HEAD"),
            );
            r
        }
        (_, "/reload") => respond(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "use POST\n"),
        _ => respond(
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found: try /status, /metrics, /healthz, /readyz, POST /reload, or /\n",
        ),
    }
}

#[cfg(test)]
mod tests;
