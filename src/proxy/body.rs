//! Bodies on the way through: the client's request body counted as it streams to the upstream,
//! and the upstream's response body streamed back frame by frame (never buffered) with the
//! idle/total timeouts, the end-of-stream error rules and the access log.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Uri};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use pin_project_lite::pin_project;
use tokio::time::Sleep;

use super::errors::error_sse_event;
use crate::config::ClientErrorDetail;
use crate::findings::{Code, Finding};
use crate::telemetry::Event;

/// What the proxy accepts as a client's request body: hyper's `Incoming`, or the server's
/// wrapper of it (which times the body against `limits.client_body_timeout`).
pub trait ClientBody:
    Body<Data = Bytes, Error = hyper::Error> + Send + Sync + Unpin + 'static
{
}
impl<B: Body<Data = Bytes, Error = hyper::Error> + Send + Sync + Unpin + 'static> ClientBody for B {}

/// The error type of bodies sent upstream.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A fault of the client found while its body streamed to the upstream. Recorded before the
/// body reports the error, so whoever sees the upstream request fail can tell it was the
/// client's doing (and the proxy is woken at once, without waiting for the upstream).
#[derive(Default)]
pub struct ClientFault {
    finding: std::sync::OnceLock<Finding>,
    notify: tokio::sync::Notify,
}

impl ClientFault {
    /// The first fault recorded, if any.
    pub fn get(&self) -> Option<&Finding> {
        self.finding.get()
    }

    fn set(&self, finding: Finding) {
        if self.finding.set(finding).is_ok() {
            self.notify.notify_one();
        }
    }

    /// Resolves once a fault is recorded.
    pub async fn wait(&self) -> &Finding {
        loop {
            if let Some(f) = self.finding.get() {
                return f;
            }
            self.notify.notified().await;
        }
    }

    /// As [`wait`](Self::wait) for a body that may have no fault to watch (`None`: a request
    /// without a body), which never resolves.
    pub async fn wait_any(fault: Option<&ClientFault>) -> &Finding {
        match fault {
            Some(fault) => fault.wait().await,
            None => std::future::pending().await,
        }
    }
}

/// The body of a request that has none, as the upstream client takes it: no allocation (the
/// box of an empty body is zero-sized).
pub fn empty_upstream_body() -> http_body_util::combinators::BoxBody<Bytes, BoxError> {
    use http_body_util::BodyExt;
    http_body_util::Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed()
}

/// The error a client body reports to the upstream client (the finding itself is in
/// [`ClientFault`]).
#[derive(Debug)]
pub struct ClientBodyError(pub Code);

impl std::fmt::Display for ClientBodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "client request body: {}", self.0)
    }
}

impl std::error::Error for ClientBodyError {}

/// What bounds a client's request body.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    /// `limits.max_request_body_bytes`.
    pub max_bytes: Option<u64>,
}

/// The client's request body on its way upstream: bytes counted, `max_request_body_bytes`
/// enforced (`client_body_timeout` is the server's: `server::lifecycle::TimedBody`), a broken body recorded as the client's fault — and,
/// when the upstream drops it unread, handed back (`give_back`) so the error response can
/// read it to its end first (see [`Drain`]).
pub struct RequestBody<B: ClientBody = Incoming> {
    inner: Option<B>,
    count: Arc<AtomicU64>,
    limits: BodyLimits,
    fault: Arc<ClientFault>,
    give_back: Option<tokio::sync::oneshot::Sender<B>>,
}

impl<B: ClientBody> RequestBody<B> {
    pub fn new(
        inner: B,
        count: Arc<AtomicU64>,
        limits: BodyLimits,
        fault: Arc<ClientFault>,
        give_back: Option<tokio::sync::oneshot::Sender<B>>,
    ) -> Self {
        RequestBody {
            inner: Some(inner),
            count,
            limits,
            fault,
            give_back,
        }
    }

    fn fail(&mut self, finding: Finding) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let code = finding.code;
        self.fault.set(finding);
        // The client's body is unusable: nothing to hand back.
        self.give_back = None;
        self.inner = None;
        Poll::Ready(Some(Err(Box::new(ClientBodyError(code)))))
    }
}

impl<B: ClientBody> Body for RequestBody<B> {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        match Pin::new(inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let total = this.count.fetch_add(data.len() as u64, Ordering::Relaxed)
                        + data.len() as u64;
                    if let Some(max) = this.limits.max_bytes.filter(|&m| total > m) {
                        return this.fail(Finding::new(
                            Code::ClientBodyTooLarge,
                            "the request body is larger than this server accepts",
                            format!(
                                "the body exceeded limits.max_request_body_bytes = {max} bytes"
                            ),
                            "send a smaller body, or raise limits.max_request_body_bytes",
                        ));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => this.fail(Finding::new(
                Code::ClientBodyInvalid,
                "the request body is malformed or was cut short",
                format!("reading the client's body failed: {e}"),
                "fix the client's body framing (chunked encoding, Content-Length)",
            )),
            Poll::Ready(None) => {
                this.inner = None;
                this.give_back = None;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(|i| i.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), |i| i.size_hint())
    }
}

impl<B: ClientBody> Drop for RequestBody<B> {
    fn drop(&mut self) {
        if let (Some(inner), Some(tx)) = (self.inner.take(), self.give_back.take()) {
            if !Body::is_end_stream(&inner) {
                let _ = tx.send(inner);
            }
        }
    }
}

/// How much of an unread request body an error response reads (and discards) before it ends,
/// and for how long. Beyond either, the body is dropped (HTTP/2: `RST_STREAM(NO_ERROR)`).
pub const DRAIN_MAX_BYTES: u64 = 16 * 1024 * 1024;
pub const DRAIN_MAX_TIME: Duration = Duration::from_secs(10);
/// How long to wait for the upstream client to hand an unread body back.
pub const DRAIN_RETURN_WAIT: Duration = Duration::from_secs(1);

/// The rest of a client's HTTP/2 request body, read to its end before an error response is
/// sent.
///
/// Why: if a response ends while the client is still sending, h2 resets the stream
/// (`RST_STREAM(NO_ERROR)`, RFC 9113 §8.1): legal, but curl, httpx and the OpenAI SDKs treat a
/// reset that arrives while they are still uploading as a failed request and throw the
/// response away ("Stream error in HTTP/2 framing layer"). Nor may the response head go out
/// early: curl then stops uploading and ends the stream short of its Content-Length, which h2
/// must reset as a PROTOCOL_ERROR. So the body is read to its end first (bounded by
/// [`DRAIN_MAX_BYTES`] and [`DRAIN_MAX_TIME`]) and the stream closes cleanly.
pub struct Drain<B = Incoming> {
    state: DrainState<B>,
    budget: u64,
    deadline: Pin<Box<Sleep>>,
}

enum DrainState<B> {
    Reading(B),
    /// The body is with the upstream client; it comes back when that drops it.
    Returning(tokio::sync::oneshot::Receiver<B>),
    Done,
}

impl<B: ClientBody> Drain<B> {
    /// Drains a body tlsgate still holds.
    pub fn body(body: B) -> Self {
        Self::new(DrainState::Reading(body), DRAIN_MAX_TIME)
    }

    /// Drains a body once the upstream client hands it back.
    pub fn returning(rx: tokio::sync::oneshot::Receiver<B>) -> Self {
        Self::new(DrainState::Returning(rx), DRAIN_RETURN_WAIT)
    }

    fn new(state: DrainState<B>, wait: Duration) -> Self {
        Drain {
            state,
            budget: DRAIN_MAX_BYTES,
            deadline: Box::pin(tokio::time::sleep(wait)),
        }
    }
}

impl<B: ClientBody> Future for Drain<B> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        loop {
            match &mut this.state {
                DrainState::Done => return Poll::Ready(()),
                DrainState::Returning(rx) => match Pin::new(rx).poll(cx) {
                    Poll::Ready(Ok(body)) => {
                        this.state = DrainState::Reading(body);
                        let at = tokio::time::Instant::now() + DRAIN_MAX_TIME;
                        this.deadline.as_mut().reset(at);
                    }
                    // Dropped without handing back: the body ended (or failed) upstream.
                    Poll::Ready(Err(_)) => this.state = DrainState::Done,
                    Poll::Pending => break,
                },
                DrainState::Reading(body) => {
                    if body.is_end_stream() {
                        this.state = DrainState::Done;
                        continue;
                    }
                    match Pin::new(body).poll_frame(cx) {
                        Poll::Ready(Some(Ok(frame))) => {
                            let n = frame.data_ref().map_or(0, |d| d.len() as u64);
                            match this.budget.checked_sub(n) {
                                Some(left) => this.budget = left,
                                None => this.state = DrainState::Done,
                            }
                        }
                        Poll::Ready(_) => this.state = DrainState::Done,
                        Poll::Pending => break,
                    }
                }
            }
        }
        match this.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => {
                this.state = DrainState::Done;
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// A request's id, `<start time>-<counter>` in hex; formatted only when logged or returned.
#[derive(Debug, Clone)]
pub struct RequestId {
    pub prefix: Arc<str>,
    pub n: u64,
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{:x}", self.prefix, self.n)
    }
}

/// Everything the access log needs; emitted once, when the response body ends or is dropped.
pub struct RequestLog {
    /// The client's address (from the PROXY header behind a load balancer).
    pub peer: std::net::SocketAddr,
    pub method: Method,
    pub uri: Uri,
    pub upstream: Option<Arc<str>>,
    pub status: u16,
    pub bytes_in: Arc<AtomicU64>,
    pub bytes_out: u64,
    pub start: Instant,
    pub ttfb: Option<Duration>,
    pub request_id: RequestId,
    /// The finding code when tlsgate answered for the upstream or the stream failed.
    pub code: Option<Code>,
    pub completed: bool,
    pub on_done: Option<super::RequestObserver>,
}

/// The access log keeps at most this many characters of a path (escaped).
const MAX_LOGGED_PATH: usize = 4096;

impl Drop for RequestLog {
    fn drop(&mut self) {
        if let Some(cb) = self.on_done.take() {
            cb(self);
        }
        // The access log is the only per-request formatting work: skip it entirely when the
        // level is off (benchmarks, `RUST_LOG=warn`).
        if !tracing::enabled!(tracing::Level::INFO) {
            return;
        }
        let path = crate::telemetry::redact::redact_path_and_query(
            self.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"),
        );
        // Peer-controlled: escaped like every peer string in the logs.
        let path = crate::wire::sniff::printable_text(&path, MAX_LOGGED_PATH);
        let method = crate::wire::sniff::printable_text(self.method.as_str(), MAX_LOGGED_PATH);
        let duration_ms = self.start.elapsed().as_secs_f64() * 1000.0;
        let ttfb_ms = self.ttfb.map(|d| d.as_secs_f64() * 1000.0);
        tracing::info!(
            event = Event::Request.as_str(),
            peer = %crate::telemetry::redact::peer(self.peer),
            method = %method,
            path = %path,
            status = self.status,
            upstream = self.upstream.as_deref().unwrap_or("-"),
            bytes_in = self.bytes_in.load(Ordering::Relaxed),
            bytes_out = self.bytes_out,
            ttfb_ms = ttfb_ms,
            duration_ms = duration_ms,
            request_id = %self.request_id,
            code = self.code.map(|c| c.as_str()),
            completed = self.completed,
        );
    }
}

enum Kind {
    /// A body tlsgate made (errors, local answers).
    Full(Option<Bytes>),
    /// The upstream's streamed body.
    Upstream(Incoming),
    /// Nothing more to send.
    Done,
}

pin_project! {
    /// The response body sent to the client.
    pub struct ProxyBody {
        kind: Kind,
        #[pin]
        timer: Sleep,
        idle: Option<Duration>,
        // When the last frame arrived. The timer is not re-armed per frame (that takes the
        // timer wheel's lock every time); when it fires early, it is moved to
        // `last_activity + idle` instead.
        last_activity: tokio::time::Instant,
        total_deadline: Option<tokio::time::Instant>,
        sse: bool,
        detail: ClientErrorDetail,
        upstream_name: Option<Arc<str>>,
        log: Option<RequestLog>,
        // A request body to read to its end before the response is sent (error responses).
        drain: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    }
}

/// The error a non-SSE stream is aborted with, so the client sees a broken response rather
/// than a clean end that looks like success.
#[derive(Debug)]
pub struct StreamAborted(pub Finding);

impl std::fmt::Display for StreamAborted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.0.code, self.0.summary)
    }
}

impl std::error::Error for StreamAborted {}

impl ProxyBody {
    /// A complete body made by tlsgate.
    pub fn full(bytes: Bytes, log: Option<RequestLog>) -> Self {
        ProxyBody {
            kind: Kind::Full(Some(bytes)),
            timer: tokio::time::sleep(Duration::from_secs(0)),
            idle: None,
            last_activity: tokio::time::Instant::now(),
            total_deadline: None,
            sse: false,
            detail: ClientErrorDetail::Summary,
            upstream_name: None,
            log,
            drain: None,
        }
    }

    /// Attaches a request body to read to its end before this response is sent (see
    /// [`Drain`]); the proxy takes it back out with [`take_drain`](Self::take_drain).
    pub fn with_drain<B: ClientBody>(mut self, drain: Option<Drain<B>>) -> Self {
        self.drain = drain.map(|d| Box::pin(d) as Pin<Box<dyn Future<Output = ()> + Send>>);
        self
    }

    pub fn take_drain(&mut self) -> Option<Pin<Box<dyn Future<Output = ()> + Send>>> {
        self.drain.take()
    }

    /// An empty body (101 Switching Protocols, HEAD, …).
    pub fn empty(log: Option<RequestLog>) -> Self {
        let mut b = Self::full(Bytes::new(), log);
        b.kind = Kind::Done;
        b
    }

    /// The upstream's body, streamed.
    #[allow(clippy::too_many_arguments)]
    pub fn upstream(
        body: Incoming,
        idle: Duration,
        total_deadline: Option<tokio::time::Instant>,
        sse: bool,
        detail: ClientErrorDetail,
        upstream_name: Arc<str>,
        log: Option<RequestLog>,
    ) -> Self {
        let now = tokio::time::Instant::now();
        let first = next_deadline(now, Some(idle), total_deadline);
        ProxyBody {
            kind: Kind::Upstream(body),
            timer: tokio::time::sleep_until(first),
            idle: Some(idle),
            last_activity: now,
            total_deadline,
            sse,
            detail,
            upstream_name: Some(upstream_name),
            log,
            drain: None,
        }
    }
}

fn next_deadline(
    last_activity: tokio::time::Instant,
    idle: Option<Duration>,
    total: Option<tokio::time::Instant>,
) -> tokio::time::Instant {
    let idle_at = idle.map(|d| last_activity + d);
    match (idle_at, total) {
        (Some(a), Some(b)) => a.min(b),
        (Some(a), None) => a,
        (None, Some(b)) => b,
        // Far enough to never fire; tokio caps it internally.
        (None, None) => last_activity + Duration::from_secs(86400 * 365),
    }
}

/// Polls the idle/total timer; when it fires before the real deadline (frames arrived since it
/// was armed), moves it to that deadline and keeps waiting.
fn poll_deadline(
    mut timer: Pin<&mut Sleep>,
    last_activity: tokio::time::Instant,
    idle: Option<Duration>,
    total: Option<tokio::time::Instant>,
    cx: &mut Context<'_>,
) -> Poll<()> {
    loop {
        std::task::ready!(timer.as_mut().poll(cx));
        let deadline = next_deadline(last_activity, idle, total);
        if tokio::time::Instant::now() >= deadline {
            return Poll::Ready(());
        }
        timer.as_mut().reset(deadline);
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let mut this = self.project();
        let failure = match this.kind {
            Kind::Done => {
                if let Some(log) = this.log.as_mut() {
                    log.completed = true;
                }
                return Poll::Ready(None);
            }
            Kind::Full(bytes) => {
                return match bytes.take() {
                    Some(b) => {
                        if let Some(log) = this.log.as_mut() {
                            log.bytes_out += b.len() as u64;
                        }
                        *this.kind = Kind::Done;
                        if let Some(log) = this.log.as_mut() {
                            log.completed = true;
                        }
                        Poll::Ready(Some(Ok(Frame::data(b))))
                    }
                    None => Poll::Ready(None),
                };
            }
            Kind::Upstream(incoming) => match Pin::new(&mut *incoming).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Some(data) = frame.data_ref() {
                        if let Some(log) = this.log.as_mut() {
                            log.bytes_out += data.len() as u64;
                        }
                    }
                    // hyper stops polling once the body says it has ended, so the end is
                    // recorded here rather than on a final `None`.
                    if incoming.is_end_stream() {
                        if let Some(log) = this.log.as_mut() {
                            log.completed = true;
                        }
                    }
                    *this.last_activity = tokio::time::Instant::now();
                    return Poll::Ready(Some(Ok(frame)));
                }
                Poll::Ready(None) => {
                    *this.kind = Kind::Done;
                    if let Some(log) = this.log.as_mut() {
                        log.completed = true;
                    }
                    return Poll::Ready(None);
                }
                Poll::Ready(Some(Err(e))) => {
                    let name = this.upstream_name.as_deref().unwrap_or("-");
                    Finding::new(
                        Code::UpstreamConnectionReset,
                        "the upstream dropped the connection mid-response",
                        format!("upstream '{name}': reading the response body failed: {e}"),
                        "check the upstream's logs; the request may be retried by the client",
                    )
                }
                Poll::Pending => match poll_deadline(
                    this.timer.as_mut(),
                    *this.last_activity,
                    *this.idle,
                    *this.total_deadline,
                    cx,
                ) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(()) => {
                        let name = this.upstream_name.as_deref().unwrap_or("-");
                        let total_hit = this
                            .total_deadline
                            .is_some_and(|t| tokio::time::Instant::now() >= t);
                        let what = if total_hit {
                            "timeouts.total"
                        } else {
                            "timeouts.idle"
                        };
                        Finding::new(
                            Code::UpstreamTimeout,
                            "the upstream went silent mid-response",
                            format!("upstream '{name}' sent nothing for longer than {what} allows"),
                            format!("check the upstream, or raise upstreams.{name}.{what}"),
                        )
                    }
                },
            },
        };
        // The stream failed after the response head went out.
        *this.kind = Kind::Done;
        if let Some(log) = this.log.as_mut() {
            log.code = Some(failure.code);
        }
        tracing::warn!(
            event = Event::UpstreamError.as_str(),
            upstream = this.upstream_name.as_deref().unwrap_or("-"),
            code = failure.code.as_str(),
            summary = %failure.summary,
            why = %failure.why,
            fix = %failure.fix,
        );
        if *this.sse {
            // An SSE client gets the error as a final event, which the SDKs raise.
            let event = error_sse_event(&failure, *this.detail);
            if let Some(log) = this.log.as_mut() {
                log.bytes_out += event.len() as u64;
            }
            Poll::Ready(Some(Ok(Frame::data(event))))
        } else {
            Poll::Ready(Some(Err(Box::new(StreamAborted(failure)))))
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Done => true,
            Kind::Full(b) => b.is_none(),
            Kind::Upstream(i) => i.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Done => SizeHint::with_exact(0),
            Kind::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Kind::Full(None) => SizeHint::with_exact(0),
            Kind::Upstream(i) => i.size_hint(),
        }
    }
}
