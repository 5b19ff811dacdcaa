//! Rate-limited events: per key (listener, code), the first few events of a window are logged
//! one by one; the rest are counted and summarised once when the window ends, so a flood of
//! scanner noise cannot fill the disk or slow the proxy.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::findings::Code;

/// Events logged individually per key and window (docs/spec.md: 5 per 60 s).
pub const PER_WINDOW: u32 = 5;
pub const WINDOW: Duration = Duration::from_secs(60);

/// Whether to log an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    Log,
    Suppress,
}

/// A summary of the events suppressed in one ended window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub listener: Arc<str>,
    pub code: Code,
    pub suppressed: u64,
    pub first_peer: String,
    pub last_peer: String,
    pub window: Duration,
}

#[derive(Debug)]
struct Window {
    start: Instant,
    logged: u32,
    suppressed: u64,
    first_peer: Option<String>,
    last_peer: Option<String>,
}

impl Window {
    fn new(now: Instant) -> Self {
        Window {
            start: now,
            logged: 0,
            suppressed: 0,
            first_peer: None,
            last_peer: None,
        }
    }

    fn summary(&self, listener: &Arc<str>, code: Code, window: Duration) -> Option<Summary> {
        (self.suppressed > 0).then(|| Summary {
            listener: listener.clone(),
            code,
            suppressed: self.suppressed,
            first_peer: self.first_peer.clone().unwrap_or_default(),
            last_peer: self.last_peer.clone().unwrap_or_default(),
            window,
        })
    }
}

#[derive(Debug, Default)]
struct Inner {
    windows: HashMap<(Arc<str>, Code), Window>,
    /// Summaries of windows that ended while an event arrived, waiting for `flush`.
    pending: Vec<Summary>,
}

/// The limiter, shared by every listener.
#[derive(Debug)]
pub struct RateLimiter {
    per_window: u32,
    window: Duration,
    inner: Mutex<Inner>,
}

impl Default for RateLimiter {
    fn default() -> Self {
        RateLimiter::new(PER_WINDOW, WINDOW)
    }
}

impl RateLimiter {
    pub fn new(per_window: u32, window: Duration) -> Self {
        RateLimiter {
            per_window,
            window,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Decides for one event at `now`.
    pub fn admit(&self, listener: &Arc<str>, code: Code, peer: &str, now: Instant) -> Admit {
        let mut inner = crate::locks::lock(&self.inner);
        let Inner { windows, pending } = &mut *inner;
        let w = windows
            .entry((listener.clone(), code))
            .or_insert_with(|| Window::new(now));
        if now.duration_since(w.start) >= self.window {
            pending.extend(w.summary(listener, code, self.window));
            *w = Window::new(now);
        }
        if w.logged < self.per_window {
            w.logged += 1;
            Admit::Log
        } else {
            w.suppressed += 1;
            if w.first_peer.is_none() {
                w.first_peer = Some(peer.to_string());
            }
            w.last_peer = Some(peer.to_string());
            Admit::Suppress
        }
    }

    /// Summaries of every window that has ended by `now` with suppressed events; those windows
    /// are closed.
    pub fn flush(&self, now: Instant) -> Vec<Summary> {
        let mut inner = crate::locks::lock(&self.inner);
        let mut out = std::mem::take(&mut inner.pending);
        let window = self.window;
        inner.windows.retain(|(listener, code), w| {
            if now.duration_since(w.start) >= window {
                out.extend(w.summary(listener, *code, window));
                false
            } else {
                true
            }
        });
        out
    }
}

#[cfg(test)]
mod tests;
