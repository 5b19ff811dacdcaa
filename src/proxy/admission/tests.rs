use super::*;

fn slots(max: usize, max_queued: usize, wait_ms: u64) -> (Arc<ConnectionSlots>, SlotMetrics) {
    let metrics = SlotMetrics::default();
    let s = ConnectionSlots::new(
        max,
        max_queued,
        Duration::from_millis(wait_ms),
        2,
        metrics.clone(),
    );
    (Arc::new(s), metrics)
}

#[tokio::test(start_paused = true)]
async fn slots_up_to_the_cap_are_given_at_once_and_counted_open() {
    let (s, m) = slots(3, 10, 1000);
    let a = s.acquire().await.unwrap();
    let b = s.acquire().await.unwrap();
    let c = s.acquire().await.unwrap();
    assert_eq!(s.in_use(), 3);
    assert_eq!(m.open.get(), 3);
    drop((a, b));
    assert_eq!(s.in_use(), 1);
    assert_eq!(m.open.get(), 1);
    drop(c);
    assert_eq!(m.open.get(), 0);
    assert_eq!(m.refused.get(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_waiting_request_gets_the_slot_a_closed_connection_frees() {
    let (s, _) = slots(1, 10, 5000);
    let held = s.acquire().await.unwrap();
    let waiter = {
        let s = s.clone();
        tokio::spawn(async move { s.acquire().await.map(|_| ()) })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(held);
    assert_eq!(waiter.await.unwrap(), Ok(()));
}

#[tokio::test(start_paused = true)]
async fn the_wait_ends_with_a_refusal_after_the_queue_timeout() {
    let (s, m) = slots(1, 10, 250);
    let _held = s.acquire().await.unwrap();
    let started = tokio::time::Instant::now();
    let err = s.acquire().await.unwrap_err();
    assert_eq!(
        err,
        Refused::TimedOut {
            max: 1,
            waited: Duration::from_millis(250)
        }
    );
    assert_eq!(started.elapsed(), Duration::from_millis(250));
    assert_eq!(m.refused.get(), 1);
    assert!(err.to_string().contains("limits.upstream_queue_timeout"));
}

#[tokio::test(start_paused = true)]
async fn beyond_max_queued_a_request_is_refused_at_once() {
    let (s, m) = slots(1, 2, 10_000);
    let _held = s.acquire().await.unwrap();
    let mut waiters = Vec::new();
    for _ in 0..2 {
        let s = s.clone();
        waiters.push(tokio::spawn(async move { s.acquire().await.map(|_| ()) }));
    }
    tokio::task::yield_now().await;
    tokio::time::sleep(Duration::from_millis(1)).await;
    let started = tokio::time::Instant::now();
    let err = s.acquire().await.unwrap_err();
    assert_eq!(err, Refused::QueueFull { max: 1, queued: 2 });
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(m.refused.get(), 1);
    for w in waiters {
        w.abort();
    }
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_wait_leaves_the_queue() {
    let (s, _) = slots(1, 1, 10_000);
    let _held = s.acquire().await.unwrap();
    // The only queue place, taken and abandoned (the client went away).
    let gone = tokio::time::timeout(Duration::from_millis(10), s.acquire()).await;
    assert!(gone.is_err());
    // The place is free again: this one waits rather than being refused at once.
    let again = tokio::time::timeout(Duration::from_millis(10), s.acquire()).await;
    assert!(
        again.is_err(),
        "refused at once: the cancelled waiter was never removed"
    );
}

#[test]
fn each_worker_may_keep_its_share_idle_and_the_cap_is_at_least_one() {
    let m = SlotMetrics::default();
    let s = ConnectionSlots::new(10, 1, Duration::ZERO, 4, m.clone());
    assert_eq!(s.idle_per_worker(), 2);
    let s = ConnectionSlots::new(0, 1, Duration::ZERO, 4, m);
    assert_eq!(s.max(), 1);
    assert_eq!(s.idle_per_worker(), 1);
}
