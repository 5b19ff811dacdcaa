//! A lean pool of HTTP/1 upstream connections, one per upstream per worker.
//!
//! Each worker is a single-threaded runtime with its own [`Proxy`](super::Proxy), so its
//! connections are its own: the pool is a `VecDeque` behind an uncontended mutex (the types
//! must be `Send`), without the key hashing, waiters and per-request task of hyper-util's
//! shared pool.
//!
//! A connection's sender goes back into the pool as soon as its request is handed to the
//! connection. It is *busy* until its response has been read to the end, then hyper's
//! `SendRequest::is_ready()` turns true and [`checkout`](Http1Pool::checkout) may take it
//! again: no task waits for it, and the client is never held up. A sender whose connection
//! ended (the upstream closed it, or it failed) reports `is_closed()` and is dropped on sight.
//! A sweeper task, started with the first connection, closes connections idle longer than the
//! idle timeout (90 s).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use hyper::client::conn::http1::SendRequest;

/// How long a connection may stay idle in the pool.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// The pooled HTTP/1 connections of one upstream.
pub struct Http1Pool<B> {
    inner: Arc<Inner<B>>,
}

struct Inner<B> {
    conns: Mutex<VecDeque<Entry<B>>>,
    max: usize,
    idle_timeout: Duration,
    /// Whether a sweeper task runs.
    sweeping: AtomicBool,
}

struct Entry<B> {
    tx: SendRequest<B>,
    /// When a sweep first saw it idle (`None`: busy, or not swept since it came back). Kept
    /// by the sweeper alone, so the request path reads no clock.
    idle_since: Option<Instant>,
}

impl<B: Send + 'static> Http1Pool<B> {
    pub fn new(max: usize, idle_timeout: Duration) -> Self {
        Http1Pool {
            inner: Arc::new(Inner {
                conns: Mutex::new(VecDeque::new()),
                max,
                idle_timeout,
                sweeping: AtomicBool::new(false),
            }),
        }
    }

    /// An idle connection ready for a request, the most recently used first; closed ones met
    /// on the way are dropped.
    pub fn checkout(&self) -> Option<SendRequest<B>> {
        let mut conns = crate::locks::lock(&self.inner.conns);
        let mut i = conns.len();
        while i > 0 {
            i -= 1;
            let entry = &conns[i];
            if entry.tx.is_closed() {
                conns.remove(i);
            } else if entry.tx.is_ready() {
                return conns.remove(i).map(|e| e.tx);
            }
        }
        None
    }

    /// Returns a connection whose request was just handed over (or that is idle). It is taken
    /// again once its response has ended. Dropped (and its connection closed after its
    /// response) when the pool is full or the connection has ended.
    pub fn put(&self, tx: SendRequest<B>) {
        if tx.is_closed() {
            return;
        }
        {
            let mut conns = crate::locks::lock(&self.inner.conns);
            if conns.len() >= self.inner.max {
                return;
            }
            conns.push_back(Entry {
                tx,
                idle_since: None,
            });
        }
        if !self.inner.sweeping.load(Ordering::Relaxed) {
            self.start_sweeper();
        }
    }

    /// Connections in the pool, busy or idle.
    pub fn len(&self) -> usize {
        crate::locks::lock(&self.inner.conns).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Connections ready for a request.
    #[cfg(test)]
    pub fn idle(&self) -> usize {
        let conns = crate::locks::lock(&self.inner.conns);
        conns
            .iter()
            .filter(|e| !e.tx.is_closed() && e.tx.is_ready())
            .count()
    }

    /// Connections not known to have ended.
    #[cfg(test)]
    pub fn live(&self) -> usize {
        let conns = crate::locks::lock(&self.inner.conns);
        conns.iter().filter(|e| !e.tx.is_closed()).count()
    }

    /// Closes connections idle for longer than the idle timeout and forgets ended ones.
    /// Idleness is measured from the first sweep that saw a connection idle, so a connection
    /// is closed between one and one-and-a-sixth idle timeouts after its last response.
    pub fn sweep(&self, now: Instant) {
        self.inner.sweep(now);
    }

    fn start_sweeper(&self) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.inner.sweeping.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak: Weak<Inner<B>> = Arc::downgrade(&self.inner);
        let every = self.inner.idle_timeout / 6;
        rt.spawn(async move {
            // Clears the flag however the task ends (pool dropped, runtime shut down), so a
            // later request starts a new sweeper.
            struct Running<B>(Weak<Inner<B>>);
            impl<B> Drop for Running<B> {
                fn drop(&mut self) {
                    if let Some(inner) = self.0.upgrade() {
                        inner.sweeping.store(false, Ordering::Release);
                    }
                }
            }
            let running = Running(weak);
            loop {
                tokio::time::sleep(every).await;
                let Some(inner) = running.0.upgrade() else {
                    return;
                };
                inner.sweep(Instant::now());
            }
        });
    }
}

impl<B> Inner<B> {
    fn sweep(&self, now: Instant) {
        let timeout = self.idle_timeout;
        let mut conns = crate::locks::lock(&self.conns);
        conns.retain_mut(|e| {
            if e.tx.is_closed() {
                return false;
            }
            if !e.tx.is_ready() {
                e.idle_since = None;
                return true;
            }
            match e.idle_since {
                None => {
                    e.idle_since = Some(now);
                    true
                }
                Some(since) => now.saturating_duration_since(since) < timeout,
            }
        });
    }
}

#[cfg(test)]
pub(crate) mod tests;
