//! How long a client may hold a connection without using it: the `limits` timeouts after the
//! handshake, the cap per client address, and draining on shutdown.
//!
//! One [`Activity`] per connection is written by the pieces that see progress — the IO wrapper
//! ([`Watched`]: bytes read, writes that stall or progress), the HTTP service (a request
//! starts; its response body is dropped) — and read by the connection's watchdog, which asks
//! [`judge`] (a pure function) whether a limit has been reached and when to look again. Nothing
//! here re-arms a timer per byte: progress is a timestamp store, and the watchdog sleeps until
//! the earliest deadline those timestamps give (woken early only when a request ends or a
//! write stalls, the two changes that can bring a deadline forward).
//!
//! A request body is timed by [`TimedBody`], which signals a [`Stall`]; the service answers
//! 408 if the response has not started, and [`Tracked`] cuts the response if it has.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::task::AtomicWaker;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{watch, Notify};
use tokio::time::{Instant, Sleep};

use crate::config::Limits;
use crate::findings::{Code, Severity};
use crate::status::State;
use crate::telemetry::ratelimit::{Admit, RateLimiter};
use crate::telemetry::Event;

/// The per-connection timeouts, from `limits`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnTimeouts {
    pub header_read: Duration,
    pub keepalive: Duration,
    pub http2_idle: Duration,
    pub client_body: Duration,
    pub send: Duration,
}

impl ConnTimeouts {
    pub fn from_limits(l: &Limits) -> Self {
        ConnTimeouts {
            header_read: l.header_read_timeout.get(),
            keepalive: l.keepalive_timeout.get(),
            http2_idle: l.http2_idle_timeout.get(),
            client_body: l.client_body_timeout.get(),
            send: l.send_timeout.get(),
        }
    }

    /// The configured value of a limit, for the log line that names it.
    pub fn value(&self, limit: Limit) -> Duration {
        match limit {
            Limit::HeaderRead => self.header_read,
            Limit::Keepalive => self.keepalive,
            Limit::Http2Idle => self.http2_idle,
            Limit::ClientBody => self.client_body,
            Limit::Send => self.send,
        }
    }
}

/// Which timeout closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    HeaderRead,
    Keepalive,
    Http2Idle,
    ClientBody,
    Send,
}

impl Limit {
    /// The configuration key.
    pub fn key(self) -> &'static str {
        match self {
            Limit::HeaderRead => "limits.header_read_timeout",
            Limit::Keepalive => "limits.keepalive_timeout",
            Limit::Http2Idle => "limits.http2_idle_timeout",
            Limit::ClientBody => "limits.client_body_timeout",
            Limit::Send => "limits.send_timeout",
        }
    }
}

/// "Not set" for the millisecond timestamps below.
pub const UNSET: u64 = u64::MAX;

/// What a connection is doing, in milliseconds since it became ready for HTTP.
pub struct Activity {
    base: Instant,
    in_flight: AtomicU32,
    requests: AtomicU64,
    /// When the last request in flight ended (0: the connection became ready).
    idle_since: AtomicU64,
    /// The first byte read since `idle_since` (HTTP/1: the next request head began).
    head_started: AtomicU64,
    /// Since when a write has been waiting for the client to take bytes.
    write_blocked: AtomicU64,
    h2: AtomicBool,
    /// Also wake the watchdog when the next request's head begins (see [`Activity::exact`]).
    wake_on_head: bool,
    /// Wakes the watchdog when a deadline may have moved forward.
    changed: Notify,
}

impl Activity {
    /// A connection ready for HTTP now; `h2` when ALPN chose HTTP/2 (else it is learnt from
    /// the first request).
    pub fn new(h2: bool) -> Arc<Self> {
        Self::build(h2, false)
    }

    /// As [`Activity::new`] for HTTP/1.1, with the watchdog also woken when the first byte of
    /// a next request arrives: between requests the deadline then moves from the end of the
    /// keep-alive wait to `header_read` after that byte, which is earlier when `header_read`
    /// is the shorter. Without the wake that close comes only when the keep-alive deadline
    /// would have (a per-request wake the proxy's listeners do not pay; the admin API does).
    pub fn exact() -> Arc<Self> {
        Self::build(false, true)
    }

    fn build(h2: bool, wake_on_head: bool) -> Arc<Self> {
        Arc::new(Activity {
            base: Instant::now(),
            in_flight: AtomicU32::new(0),
            requests: AtomicU64::new(0),
            idle_since: AtomicU64::new(0),
            head_started: AtomicU64::new(UNSET),
            write_blocked: AtomicU64::new(UNSET),
            h2: AtomicBool::new(h2),
            wake_on_head,
            changed: Notify::new(),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_millis()).unwrap_or(UNSET - 1)
    }

    /// The instant of a timestamp.
    pub fn at(&self, ms: u64) -> Instant {
        self.base + Duration::from_millis(ms)
    }

    fn on_read(&self) {
        if self.head_started.load(Ordering::Relaxed) == UNSET
            && self.in_flight.load(Ordering::Relaxed) == 0
            && !self.h2.load(Ordering::Relaxed)
        {
            self.head_started.store(self.now_ms(), Ordering::Relaxed);
            if self.wake_on_head && self.requests.load(Ordering::Relaxed) > 0 {
                self.changed.notify_one();
            }
        }
    }

    fn on_write_progress(&self) {
        if self.write_blocked.load(Ordering::Relaxed) != UNSET {
            self.write_blocked.store(UNSET, Ordering::Relaxed);
        }
    }

    fn on_write_pending(&self) {
        if self.write_blocked.load(Ordering::Relaxed) == UNSET {
            self.write_blocked.store(self.now_ms(), Ordering::Relaxed);
            self.changed.notify_one();
        }
    }

    /// A request's head is complete and the service has it. The returned guard ends it.
    pub fn request_started(self: &Arc<Self>, http2: bool) -> InFlight {
        if http2 {
            self.h2.store(true, Ordering::Relaxed);
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }

    fn request_finished(&self) {
        if self.in_flight.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.idle_since.store(self.now_ms(), Ordering::Relaxed);
            self.head_started.store(UNSET, Ordering::Relaxed);
            self.changed.notify_one();
        }
    }

    /// Resolves when a deadline may have moved forward (a request ended, a write stalled).
    pub async fn changed(&self) {
        self.changed.notified().await
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            now: self.now_ms(),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            requests: self.requests.load(Ordering::Relaxed),
            idle_since: self.idle_since.load(Ordering::Relaxed),
            head_started: self.head_started.load(Ordering::Relaxed),
            write_blocked: self.write_blocked.load(Ordering::Relaxed),
            h2: self.h2.load(Ordering::Relaxed),
        }
    }
}

/// A request in flight; dropped with its response body (or with the service future, when the
/// connection goes away first).
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

/// The state [`judge`] decides on (timestamps in ms, [`UNSET`] when not set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    pub now: u64,
    pub in_flight: u32,
    pub requests: u64,
    pub idle_since: u64,
    pub head_started: u64,
    pub write_blocked: u64,
    pub h2: bool,
}

/// What the watchdog does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing is due; look again at this timestamp (`None`: only when woken).
    Wait(Option<u64>),
    /// Close the connection now.
    Close(Code, Limit),
    /// HTTP/2 with no stream past its limit: send GOAWAY and let it close
    /// (`client_idle_timeout`).
    GoAway(Limit),
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(UNSET - 1)
}

/// The connection timeouts as one pure rule:
///
/// * a write waiting for the client longer than `send` closes (`client_send_timeout`), whatever
///   else is going on — a flowing response never waits that long;
/// * with a request in flight nothing else applies (a slow upstream, a long stream);
/// * HTTP/2 with no stream: `header_read` from ready until the first request (a client that
///   connects to send nothing is not kept longer over HTTP/2 than over HTTP/1.1), then
///   `http2_idle` from the end of the last stream → GOAWAY;
/// * HTTP/1, first request: `header_read` from ready to a complete head (silent:
///   `client_idle_timeout`, part of a head: `client_header_timeout`);
/// * HTTP/1, between requests: `keepalive` while nothing arrives (`client_idle_timeout`), then
///   `header_read` from the first byte of the next head (`client_header_timeout`).
pub fn judge(s: &Snapshot, t: &ConnTimeouts) -> Verdict {
    let mut next: Option<u64> = None;
    if s.write_blocked != UNSET {
        let at = s.write_blocked.saturating_add(ms(t.send));
        if s.now >= at {
            return Verdict::Close(Code::ClientSendTimeout, Limit::Send);
        }
        next = Some(at);
    }
    if s.in_flight == 0 {
        let (at, due) = if s.h2 && s.requests == 0 {
            (
                s.idle_since.saturating_add(ms(t.header_read)),
                Verdict::GoAway(Limit::HeaderRead),
            )
        } else if s.h2 {
            (
                s.idle_since.saturating_add(ms(t.http2_idle)),
                Verdict::GoAway(Limit::Http2Idle),
            )
        } else if s.requests == 0 {
            let code = if s.head_started == UNSET {
                Code::ClientIdleTimeout
            } else {
                Code::ClientHeaderTimeout
            };
            (
                s.idle_since.saturating_add(ms(t.header_read)),
                Verdict::Close(code, Limit::HeaderRead),
            )
        } else if s.head_started == UNSET {
            (
                s.idle_since.saturating_add(ms(t.keepalive)),
                Verdict::Close(Code::ClientIdleTimeout, Limit::Keepalive),
            )
        } else {
            (
                s.head_started.saturating_add(ms(t.header_read)),
                Verdict::Close(Code::ClientHeaderTimeout, Limit::HeaderRead),
            )
        };
        if s.now >= at {
            return due;
        }
        next = Some(next.map_or(at, |n| n.min(at)));
    }
    Verdict::Wait(next)
}

/// The connection's IO, noting progress into its [`Activity`].
pub struct Watched<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T> Watched<T> {
    pub fn new(inner: T, activity: Arc<Activity>) -> Self {
        Watched { inner, activity }
    }

    fn note_write<R>(&self, polled: &Poll<io::Result<R>>, progressed: impl Fn(&R) -> bool) {
        match polled {
            Poll::Ready(Ok(r)) if progressed(r) => self.activity.on_write_progress(),
            Poll::Pending => self.activity.on_write_pending(),
            _ => {}
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.on_read();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.note_write(&polled, |n| *n > 0);
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.note_write(&polled, |n| *n > 0);
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        self.note_write(&polled, |_| true);
        polled
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.note_write(&polled, |_| true);
        polled
    }
}

/// Raised by a request body that waited `client_body_timeout` for bytes.
#[derive(Default)]
pub struct Stall {
    fired: AtomicBool,
    waker: AtomicWaker,
}

impl Stall {
    fn fire(&self) {
        self.fired.store(true, Ordering::Release);
        self.waker.wake();
    }

    pub fn has_fired(&self) -> bool {
        self.fired.load(Ordering::Acquire)
    }

    pub fn poll_fired(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.waker.register(cx.waker());
        if self.has_fired() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Resolves once the body has stalled.
    pub fn fired(&self) -> impl Future<Output = ()> + '_ {
        std::future::poll_fn(move |cx| self.poll_fired(cx))
    }
}

/// The client's request body with `client_body_timeout`: measured while the body is wanted
/// (polled) and has nothing, restarted by every frame. When it runs out the [`Stall`] fires and
/// the body stays pending; the service decides what the client gets.
pub struct TimedBody {
    inner: Incoming,
    stall: Option<Arc<Stall>>,
    limit: Duration,
    waiting_since: Option<Instant>,
    /// Armed on the first wait; moved only when it fires before the current deadline.
    timer: Option<Pin<Box<Sleep>>>,
}

impl TimedBody {
    /// `stall`: `None` for a body that has already ended (nothing to time).
    pub fn new(inner: Incoming, limit: Duration, stall: Option<Arc<Stall>>) -> Self {
        TimedBody {
            inner,
            stall,
            limit,
            waiting_since: None,
            timer: None,
        }
    }
}

impl Body for TimedBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Pending => {}
            ready => {
                this.waiting_since = None;
                return ready;
            }
        }
        let Some(stall) = &this.stall else {
            return Poll::Pending;
        };
        if stall.has_fired() {
            return Poll::Pending;
        }
        let deadline = *this.waiting_since.get_or_insert_with(Instant::now) + this.limit;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        loop {
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            if Instant::now() >= deadline {
                stall.fire();
                return Poll::Pending;
            }
            timer.as_mut().reset(deadline);
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// What a response watches of its request body: the stall signal, and how to report the cut.
pub struct StallWatch {
    pub stall: Arc<Stall>,
    pub closer: Arc<Closer>,
    pub peer: SocketAddr,
    pub limit: Duration,
}

pin_project_lite::pin_project! {
    /// A response body that keeps its request counted as in flight until it is dropped, and is
    /// cut (an error: HTTP/1 aborts the connection, HTTP/2 resets the stream) when its request
    /// body stalls after the response began.
    pub struct Tracked<B> {
        #[pin]
        inner: B,
        _in_flight: InFlight,
        stall: Option<StallWatch>,
    }
}

impl<B> Tracked<B> {
    pub fn new(inner: B, in_flight: InFlight, stall: Option<StallWatch>) -> Self {
        Tracked {
            inner,
            _in_flight: in_flight,
            stall,
        }
    }
}

impl<B> Body for Tracked<B>
where
    B: Body<Data = Bytes, Error = Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.project();
        if let Some(w) = this.stall.as_ref() {
            if w.stall.poll_fired(cx).is_ready() {
                w.closer.report(
                    Code::ClientBodyTimeout,
                    w.peer,
                    Limit::ClientBody.key(),
                    &w.limit,
                );
                *this.stall = None;
                return Poll::Ready(Some(Err(Box::new(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "client_body_timeout: the request body stalled after the response began",
                )))));
            }
        }
        this.inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Counts and (rate-limited) logs the connections a listener closes for a limit.
pub struct Closer {
    pub listener: Arc<str>,
    pub state: Arc<State>,
    /// Shared by every listener; its summaries are logged by `app`.
    pub limiter: Arc<RateLimiter>,
}

impl Closer {
    /// Counts a close that is logged elsewhere (a handshake timeout).
    pub fn count(&self, code: Code) {
        self.state.record_connection_closed(&self.listener, code);
    }

    /// Counts a close and logs it as a `client_error` event, rate-limited per listener and code.
    pub fn report(&self, code: Code, peer: SocketAddr, setting: &str, limit: &dyn LimitValue) {
        self.count(code);
        let peer = crate::telemetry::redact::peer(peer);
        if self
            .limiter
            .admit(&self.listener, code, &peer, std::time::Instant::now())
            == Admit::Suppress
        {
            return;
        }
        macro_rules! emit {
            ($lvl:ident) => {
                tracing::$lvl!(
                    event = Event::ClientError.as_str(),
                    listener = %self.listener,
                    peer = %peer,
                    code = code.as_str(),
                    severity = code.default_severity().as_str(),
                    summary = code.meaning(),
                    fix = code.fix_hint(),
                    setting,
                    limit = %limit.text(),
                )
            };
        }
        match code.default_severity() {
            Severity::Info => emit!(info),
            _ => emit!(warn),
        }
    }

    /// Logs a failed `accept` (rate-limited per listener).
    pub fn accept_failed(&self, error: &io::Error, pause: Duration) {
        let code = Code::AcceptFailed;
        if self
            .limiter
            .admit(&self.listener, code, "-", std::time::Instant::now())
            == Admit::Suppress
        {
            return;
        }
        tracing::warn!(
            event = Event::AcceptFailed.as_str(),
            listener = %self.listener,
            code = code.as_str(),
            severity = code.default_severity().as_str(),
            error = %error,
            summary = code.meaning(),
            fix = code.fix_hint(),
            retry_in_ms = u64::try_from(pause.as_millis()).unwrap_or(u64::MAX),
        );
    }
}

/// A limit's value as the log shows it (`75s`, `20`).
pub trait LimitValue {
    fn text(&self) -> String;
}

impl LimitValue for Duration {
    fn text(&self) -> String {
        format!("{}ms", self.as_millis())
    }
}

impl LimitValue for &str {
    fn text(&self) -> String {
        (*self).to_string()
    }
}

impl LimitValue for usize {
    fn text(&self) -> String {
        self.to_string()
    }
}

/// How long to pause accepting after the `n`th consecutive failure: 10 ms, doubling, at most
/// 100 ms — enough for descriptors to free up without a hot loop, short enough to resume fast.
pub fn accept_backoff(n: u32) -> Duration {
    Duration::from_millis((10u64 << n.saturating_sub(1).min(4)).min(100))
}

/// `limits.max_connections_per_ip`: open connections per client address, shared by every
/// listener and worker.
pub struct PerIpLimit {
    max: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl PerIpLimit {
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(PerIpLimit {
            max,
            open: Mutex::new(HashMap::new()),
        })
    }

    pub fn max(&self) -> usize {
        self.max
    }

    /// A slot for one more connection from `ip`, or `None` when it has `max` already.
    pub fn try_acquire(self: &Arc<Self>, ip: IpAddr) -> Option<IpSlot> {
        let ip = ip.to_canonical();
        let mut open = crate::locks::lock(&self.open);
        let n = open.entry(ip).or_insert(0);
        if *n >= self.max {
            if *n == 0 {
                open.remove(&ip);
            }
            return None;
        }
        *n += 1;
        Some(IpSlot {
            limit: self.clone(),
            ip,
        })
    }

    /// Connections open from `ip` (tests).
    pub fn open_from(&self, ip: IpAddr) -> usize {
        crate::locks::lock(&self.open)
            .get(&ip.to_canonical())
            .copied()
            .unwrap_or(0)
    }
}

/// One connection counted against its address; released when dropped.
pub struct IpSlot {
    limit: Arc<PerIpLimit>,
    ip: IpAddr,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut open = crate::locks::lock(&self.limit.open);
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// Graceful shutdown of a worker's connections: [`shutdown`](Drain::shutdown) tells every
/// watcher to finish (HTTP/1 after the response in flight, HTTP/2 with GOAWAY) and waits until
/// all watchers are gone. (hyper-util's `GracefulShutdown` cannot be combined with the idle
/// watchdog, which needs the connection itself to send GOAWAY.)
pub struct Drain {
    tx: watch::Sender<()>,
}

impl Default for Drain {
    fn default() -> Self {
        Self::new()
    }
}

impl Drain {
    pub fn new() -> Self {
        Drain {
            tx: watch::Sender::new(()),
        }
    }

    /// One per connection, held as long as it is open.
    pub fn watcher(&self) -> DrainWatcher {
        DrainWatcher(self.tx.subscribe())
    }

    /// Signals every watcher, then waits until they have all been dropped.
    pub async fn shutdown(self) {
        self.tx.send_replace(());
        self.tx.closed().await;
    }
}

pub struct DrainWatcher(watch::Receiver<()>);

impl DrainWatcher {
    /// Resolves when the drain begins.
    pub async fn signaled(&mut self) {
        let _ = self.0.changed().await;
    }
}

#[cfg(test)]
mod tests;
