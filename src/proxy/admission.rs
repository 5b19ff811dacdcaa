//! The connection cap of one upstream (`limits.upstream_max_connections`), shared by every
//! worker.
//!
//! A connection holds a [`Slot`] from before its connect until it closes, busy or idle in a
//! pool, so the cap bounds the file descriptors an upstream can take however clients multiplex
//! (one HTTP/2 connection with 128 streams could otherwise open 128 upstream connections). A
//! request that needs a new connection while every slot is taken waits at most
//! `limits.upstream_queue_timeout`, with at most `limits.upstream_max_queued` such requests
//! waiting at once; then it is refused and answered 503 `upstream_overloaded` — the way
//! HAProxy's per-server `maxconn` with `timeout queue`, and Envoy's circuit breakers
//! (`max_connections`, `max_pending_requests`, both 1024 by default), shed load instead of
//! opening unbounded connections.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The slots of one upstream.
#[derive(Debug)]
pub struct ConnectionSlots {
    sem: Arc<Semaphore>,
    max: usize,
    queued: AtomicUsize,
    max_queued: usize,
    wait: Duration,
    idle_per_worker: usize,
    open: Gauge,
    refused: Counter,
}

/// Why a connection was not allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// `max_queued` requests were already waiting.
    #[error(
        "all {max} connections allowed to the upstream (limits.upstream_max_connections) are in use and {queued} requests already wait for one (limits.upstream_max_queued)"
    )]
    QueueFull { max: usize, queued: usize },
    /// No slot freed up within the wait.
    #[error(
        "all {max} connections allowed to the upstream (limits.upstream_max_connections) stayed in use for {waited:?} (limits.upstream_queue_timeout)"
    )]
    TimedOut { max: usize, waited: Duration },
}

/// One connection's place under the cap; the place frees when this is dropped (the
/// connection closed).
#[derive(Debug)]
pub struct Slot {
    _permit: OwnedSemaphorePermit,
    open: Gauge,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.open.dec();
    }
}

/// The counters a [`ConnectionSlots`] keeps up to date (`/metrics`).
#[derive(Debug, Clone, Default)]
pub struct SlotMetrics {
    /// Connections open to the upstream now (`tlsgate_upstream_open_connections`).
    pub open: Gauge,
    /// Connections refused by the cap (`tlsgate_upstream_overloaded_total`).
    pub refused: Counter,
}

impl ConnectionSlots {
    /// `max` connections (at least 1); `max_queued` waiting requests; `wait` the longest wait;
    /// `workers` the number of serving threads, each with its own pool.
    pub fn new(
        max: usize,
        max_queued: usize,
        wait: Duration,
        workers: usize,
        metrics: SlotMetrics,
    ) -> Self {
        let max = max.clamp(1, Semaphore::MAX_PERMITS);
        ConnectionSlots {
            sem: Arc::new(Semaphore::new(max)),
            max,
            queued: AtomicUsize::new(0),
            max_queued,
            wait,
            // Idle connections keep their slots: a worker may keep only its share idle, so a
            // burst served by one worker cannot starve the others until the idle timeout.
            idle_per_worker: (max / workers.max(1)).max(1),
            open: metrics.open,
            refused: metrics.refused,
        }
    }

    /// The cap.
    pub fn max(&self) -> usize {
        self.max
    }

    /// How many idle connections one worker's pool may keep.
    pub fn idle_per_worker(&self) -> usize {
        self.idle_per_worker
    }

    /// Slots taken now.
    pub fn in_use(&self) -> usize {
        self.max - self.sem.available_permits()
    }

    /// A slot for a new connection: at once if one is free, else after waiting in the queue.
    pub async fn acquire(&self) -> Result<Slot, Refused> {
        match self.try_acquire() {
            Some(slot) => Ok(slot),
            None => self.wait().await,
        }
    }

    /// A slot if one is free now.
    pub fn try_acquire(&self) -> Option<Slot> {
        let permit = self.sem.clone().try_acquire_owned().ok()?;
        Some(self.slot(permit))
    }

    /// Waits in the queue for a slot (see [`acquire`](Self::acquire)). Dropping the future
    /// leaves the queue.
    pub async fn wait(&self) -> Result<Slot, Refused> {
        let permit = self.wait_for_slot().await?;
        Ok(self.slot(permit))
    }

    fn slot(&self, permit: OwnedSemaphorePermit) -> Slot {
        self.open.inc();
        Slot {
            _permit: permit,
            open: self.open.clone(),
        }
    }

    async fn wait_for_slot(&self) -> Result<OwnedSemaphorePermit, Refused> {
        let queued = self.queued.fetch_add(1, Ordering::AcqRel);
        // Leaves the queue however the wait ends, the request's cancellation included.
        let _leave = Leave(&self.queued);
        if queued >= self.max_queued {
            self.refused.inc();
            return Err(Refused::QueueFull {
                max: self.max,
                queued,
            });
        }
        match tokio::time::timeout(self.wait, self.sem.clone().acquire_owned()).await {
            Ok(Ok(p)) => Ok(p),
            // The semaphore is never closed; treat it as a full queue should it be.
            Ok(Err(_)) | Err(_) => {
                self.refused.inc();
                Err(Refused::TimedOut {
                    max: self.max,
                    waited: self.wait,
                })
            }
        }
    }
}

struct Leave<'a>(&'a AtomicUsize);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests;
