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

/// The client's request body, counting bytes as they pass. `B` is hyper's `Incoming`, or the
/// server's wrapper of it (which adds the client-body timeout).
pub struct CountingBody<B = Incoming> {
    inner: B,
    count: Arc<AtomicU64>,
}

impl<B> CountingBody<B> {
    pub fn new(inner: B, count: Arc<AtomicU64>) -> Self {
        CountingBody { inner, count }
    }
}

impl<B: Body<Data = Bytes, Error = hyper::Error> + Unpin> Body for CountingBody<B> {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                self.count.fetch_add(data.len() as u64, Ordering::Relaxed);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
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
        let duration_ms = self.start.elapsed().as_secs_f64() * 1000.0;
        let ttfb_ms = self.ttfb.map(|d| d.as_secs_f64() * 1000.0);
        tracing::info!(
            event = "request",
            method = %self.method,
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
        }
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
            event = "upstream_error",
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
