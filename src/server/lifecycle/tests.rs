use super::*;

const T: ConnTimeouts = ConnTimeouts {
    header_read: Duration::from_secs(30),
    keepalive: Duration::from_secs(75),
    http2_idle: Duration::from_secs(300),
    client_body: Duration::from_secs(60),
    send: Duration::from_secs(60),
};

fn fresh() -> Snapshot {
    Snapshot {
        now: 0,
        in_flight: 0,
        requests: 0,
        idle_since: 0,
        head_started: UNSET,
        write_blocked: UNSET,
        h2: false,
    }
}

#[test]
fn a_new_http1_connection_has_header_read_timeout_from_ready() {
    let s = fresh();
    assert_eq!(judge(&s, &T), Verdict::Wait(Some(30_000)));
    let s = Snapshot {
        now: 30_000,
        ..fresh()
    };
    assert_eq!(
        judge(&s, &T),
        Verdict::Close(Code::ClientIdleTimeout, Limit::HeaderRead)
    );
    // Part of a head arrived: same deadline (from ready, not from the first byte), other code.
    let s = Snapshot {
        now: 30_000,
        head_started: 29_000,
        ..fresh()
    };
    assert_eq!(
        judge(&s, &T),
        Verdict::Close(Code::ClientHeaderTimeout, Limit::HeaderRead)
    );
}

#[test]
fn between_requests_keepalive_then_header_read_from_the_first_byte() {
    let idle = Snapshot {
        now: 10_000,
        requests: 1,
        idle_since: 5_000,
        ..fresh()
    };
    assert_eq!(judge(&idle, &T), Verdict::Wait(Some(80_000)));
    let due = Snapshot {
        now: 80_000,
        ..idle
    };
    assert_eq!(
        judge(&due, &T),
        Verdict::Close(Code::ClientIdleTimeout, Limit::Keepalive)
    );
    // The next head began at 70 s: it has header_read from then, past the keep-alive deadline.
    let head = Snapshot {
        now: 80_000,
        head_started: 70_000,
        ..idle
    };
    assert_eq!(judge(&head, &T), Verdict::Wait(Some(100_000)));
    let late = Snapshot {
        now: 100_000,
        ..head
    };
    assert_eq!(
        judge(&late, &T),
        Verdict::Close(Code::ClientHeaderTimeout, Limit::HeaderRead)
    );
}

#[test]
fn a_request_in_flight_is_never_idle() {
    for h2 in [false, true] {
        let s = Snapshot {
            now: 10_000_000,
            in_flight: 1,
            requests: 1,
            h2,
            ..fresh()
        };
        assert_eq!(judge(&s, &T), Verdict::Wait(None), "h2: {h2}");
    }
}

#[test]
fn http2_without_streams_gets_goaway_after_http2_idle_timeout() {
    // Before its first request, an HTTP/2 connection has header_read_timeout like HTTP/1.1.
    let s = Snapshot {
        now: 1_000,
        h2: true,
        ..fresh()
    };
    assert_eq!(judge(&s, &T), Verdict::Wait(Some(30_000)));
    let s = Snapshot { now: 30_000, ..s };
    assert_eq!(judge(&s, &T), Verdict::GoAway(Limit::HeaderRead));
    // The header and keep-alive rules do not apply to HTTP/2, whatever was read.
    let s = Snapshot {
        now: 299_999,
        requests: 3,
        idle_since: 1_000,
        head_started: 2_000,
        h2: true,
        ..fresh()
    };
    assert_eq!(judge(&s, &T), Verdict::Wait(Some(301_000)));
    let s = Snapshot { now: 301_000, ..s };
    assert_eq!(judge(&s, &T), Verdict::GoAway(Limit::Http2Idle));
}

#[test]
fn a_write_stalled_for_send_timeout_closes_even_mid_request() {
    let s = Snapshot {
        now: 100_000,
        in_flight: 1,
        requests: 1,
        write_blocked: 50_000,
        ..fresh()
    };
    assert_eq!(judge(&s, &T), Verdict::Wait(Some(110_000)));
    let s = Snapshot { now: 110_000, ..s };
    assert_eq!(
        judge(&s, &T),
        Verdict::Close(Code::ClientSendTimeout, Limit::Send)
    );
    // With the connection idle too, the earlier of the two deadlines is next.
    let s = Snapshot {
        now: 1_000,
        write_blocked: 500,
        ..fresh()
    };
    assert_eq!(judge(&s, &T), Verdict::Wait(Some(30_000)));
}

#[test]
fn activity_tracks_requests_reads_and_stalled_writes() {
    let a = Activity::new(false);
    a.on_read();
    let s = a.snapshot();
    assert_ne!(s.head_started, UNSET);
    let r = a.request_started(false);
    assert_eq!(a.snapshot().in_flight, 1);
    a.on_write_pending();
    assert_ne!(a.snapshot().write_blocked, UNSET);
    a.on_write_progress();
    assert_eq!(a.snapshot().write_blocked, UNSET);
    drop(r);
    let s = a.snapshot();
    assert_eq!((s.in_flight, s.requests, s.head_started), (0, 1, UNSET));
    let _h2 = a.request_started(true);
    assert!(a.snapshot().h2);
}

#[test]
fn accept_backoff_grows_from_10_to_100_ms() {
    let waits: Vec<u128> = (1..=8).map(|n| accept_backoff(n).as_millis()).collect();
    assert_eq!(waits, [10, 20, 40, 80, 100, 100, 100, 100]);
    assert_eq!(accept_backoff(0).as_millis(), 10);
}

#[test]
fn per_ip_limit_counts_each_address_and_frees_on_drop() {
    let l = PerIpLimit::new(2);
    let a: IpAddr = "192.0.2.1".parse().unwrap();
    let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
    let b: IpAddr = "192.0.2.2".parse().unwrap();
    let s1 = l.try_acquire(a).unwrap();
    let s2 = l.try_acquire(mapped).expect("a second slot");
    assert!(
        l.try_acquire(a).is_none(),
        "an IPv4-mapped address is the same client"
    );
    assert!(l.try_acquire(b).is_some());
    drop(s1);
    assert_eq!(l.open_from(a), 1);
    let _s3 = l.try_acquire(a).unwrap();
    drop(s2);
    drop(_s3);
    assert_eq!(l.open_from(a), 0);
    assert!(
        crate::locks::lock(&l.open).is_empty(),
        "no entry left behind"
    );
}

#[tokio::test]
async fn drain_signals_watchers_and_waits_for_them() {
    let d = Drain::new();
    let mut w = d.watcher();
    let done = Arc::new(AtomicBool::new(false));
    let seen = done.clone();
    let task = tokio::spawn(async move {
        w.signaled().await;
        seen.store(true, Ordering::SeqCst);
        drop(w);
    });
    tokio::time::timeout(Duration::from_secs(5), d.shutdown())
        .await
        .expect("drain finished");
    assert!(done.load(Ordering::SeqCst));
    task.await.unwrap();
    // No watchers: returns at once.
    tokio::time::timeout(Duration::from_secs(1), Drain::new().shutdown())
        .await
        .unwrap();
}
