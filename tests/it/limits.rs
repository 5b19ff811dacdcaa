//! `limits.max_connections`: connections beyond the limit wait in the kernel's backlog until one
//! closes, instead of being accepted and starved.

use crate::support;

use std::time::Duration;

use crate::support::{GateConfig, MockUpstream, Tlsgate};

#[test]
fn connections_over_the_limit_wait_until_one_closes() {
    let up = MockUpstream::start();
    let mut cfg = GateConfig::plain(up.url());
    cfg.top_extra = "limits:\n  max_connections: 2\n".into();
    let gate = Tlsgate::start(&cfg);
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], gate.listen_port).into();

    // Two idle keep-alive connections take both slots.
    let held: Vec<_> = (0..2)
        .map(|_| std::net::TcpStream::connect(addr).unwrap())
        .collect();
    let both_taken = support::wait_until(Duration::from_secs(5), || {
        let (_, metrics) =
            support::raw_http_get(gate.admin_addr(), "/metrics", Duration::from_secs(2))?;
        metrics
            .contains("tlsgate_open_connections{listener=\"main\"} 2")
            .then_some(())
    });
    assert!(
        both_taken.is_some(),
        "the two idle connections were not both accepted"
    );

    // A third gets no answer while they are open...
    let third = support::raw_http_get(addr, "/v1/models", Duration::from_millis(800));
    assert!(
        third.is_none(),
        "a third connection was served over the limit: {third:?}"
    );

    // ...and is served once a slot frees.
    drop(held);
    let served = support::wait_until(Duration::from_secs(5), || {
        support::raw_http_get(addr, "/v1/models", Duration::from_secs(2))
    });
    assert_eq!(served.map(|(code, _)| code), Some(200));
}

#[test]
fn slow_request_headers_are_cut_off_after_header_read_timeout() {
    use std::io::{Read, Write};
    let up = MockUpstream::start();
    let mut cfg = GateConfig::plain(up.url());
    cfg.top_extra = "limits:\n  header_read_timeout: 1s\n".into();
    let gate = Tlsgate::start(&cfg);
    let mut s = std::net::TcpStream::connect(("127.0.0.1", gate.listen_port)).unwrap();
    // A slowloris client: a request line, then nothing.
    s.write_all(b"GET /v1/models HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let started = std::time::Instant::now();
    let mut buf = Vec::new();
    let r = s.read_to_end(&mut buf);
    assert!(
        r.is_ok()
            || r.as_ref()
                .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
        "the connection must be closed, got {r:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "closed only after {:?}",
        started.elapsed()
    );
    // (The startup upstream check may have sent its own probe; only the client's path counts.)
    assert_eq!(
        up.count("/v1/models"),
        0,
        "an incomplete request must not be forwarded"
    );
}
