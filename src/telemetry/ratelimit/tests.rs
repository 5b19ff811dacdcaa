use super::*;

#[test]
fn first_five_logged_rest_summarised_once() {
    let rl = RateLimiter::new(5, Duration::from_secs(60));
    let l: Arc<str> = Arc::from("public");
    let t0 = Instant::now();
    let mut logged = 0;
    for i in 0..42 {
        let peer = format!("10.0.0.{i}:1");
        if rl.admit(&l, Code::UnknownSni, &peer, t0 + Duration::from_millis(i)) == Admit::Log {
            logged += 1;
        }
    }
    assert_eq!(logged, 5);
    assert!(
        rl.flush(t0 + Duration::from_secs(30)).is_empty(),
        "window still open"
    );
    let s = rl.flush(t0 + Duration::from_secs(61));
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].suppressed, 37);
    assert_eq!(s[0].first_peer, "10.0.0.5:1");
    assert_eq!(s[0].last_peer, "10.0.0.41:1");
    assert!(
        rl.flush(t0 + Duration::from_secs(200)).is_empty(),
        "reported once"
    );
}

#[test]
fn keys_are_independent_and_windows_restart() {
    let rl = RateLimiter::new(1, Duration::from_secs(10));
    let l: Arc<str> = Arc::from("a");
    let t0 = Instant::now();
    assert_eq!(rl.admit(&l, Code::NotTls, "p", t0), Admit::Log);
    assert_eq!(rl.admit(&l, Code::NotTls, "p", t0), Admit::Suppress);
    assert_eq!(rl.admit(&l, Code::HandshakeTimeout, "p", t0), Admit::Log);
    // A new window: logged again, and the old window's summary is kept for flush.
    let later = t0 + Duration::from_secs(11);
    assert_eq!(rl.admit(&l, Code::NotTls, "q", later), Admit::Log);
    let s = rl.flush(later);
    assert_eq!(s.len(), 1);
    assert_eq!((s[0].code, s[0].suppressed), (Code::NotTls, 1));
}
