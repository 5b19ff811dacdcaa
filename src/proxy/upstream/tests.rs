use super::*;

#[test]
fn no_proxy_rules() {
    assert!(no_proxy_list_matches("*", "api.openai.com"));
    assert!(no_proxy_list_matches("openai.com", "api.openai.com"));
    assert!(no_proxy_list_matches(".openai.com, x", "api.openai.com"));
    assert!(!no_proxy_list_matches("ai.com", "api.openai.com"));
    assert!(!no_proxy_list_matches("", "api.openai.com"));
}

#[test]
fn loopback_is_never_proxied() {
    assert!(is_loopback_host("127.0.0.1"));
    assert!(is_loopback_host("::1"));
    assert!(is_loopback_host("LOCALHOST"));
    assert!(!is_loopback_host("10.0.0.1"));
}

fn http1_client(
    addr: std::net::SocketAddr,
) -> (UpstreamClient, prometheus_client::metrics::counter::Counter) {
    let yaml = format!("upstreams:\n  a: {{url: 'http://{addr}'}}\n");
    let cfg = crate::config::parse_str(&yaml, "t").unwrap();
    capped_client(&cfg, 1024, Duration::from_secs(10))
}

/// An `http://` upstream client whose cap is `max` connections, waiting at most `wait`.
fn capped_client(
    cfg: &crate::config::Config,
    max: usize,
    wait: Duration,
) -> (UpstreamClient, prometheus_client::metrics::counter::Counter) {
    let opened = prometheus_client::metrics::counter::Counter::default();
    let slots = crate::proxy::admission::ConnectionSlots::new(max, 8, wait, 1, Default::default());
    let shared = UpstreamShared {
        opened: opened.clone(),
        slots: Arc::new(slots),
    };
    let client = UpstreamClient::with_shared("a", &cfg.upstreams["a"], shared).unwrap();
    (client, opened)
}

fn request(client: &UpstreamClient) -> Request<UpstreamBody> {
    Request::builder()
        .uri(client.target_uri(None).unwrap())
        .body(crate::proxy::body::empty_upstream_body())
        .unwrap()
}

/// At the cap, a request waits and takes this worker's own connection once its response has
/// been read, rather than opening another.
#[tokio::test]
async fn at_the_cap_a_request_reuses_the_connection_that_frees() {
    use http_body_util::BodyExt;
    use std::sync::atomic::Ordering;
    let (addr, conns, _) = crate::proxy::pool::tests::counting_upstream(false).await;
    let yaml = format!("upstreams:\n  a: {{url: 'http://{addr}'}}\n");
    let cfg = crate::config::parse_str(&yaml, "t").unwrap();
    let (client, opened) = capped_client(&cfg, 1, Duration::from_secs(10));
    let first = client
        .send(request(&client), false)
        .await
        .map_err(|f| f.why)
        .unwrap();
    let second = client.send(request(&client), false);
    let read_first = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        first.into_body().collect().await.unwrap().to_bytes()
    };
    let (second, body) = tokio::join!(second, read_first);
    assert_eq!(&body[..], b"ok");
    let second = second.map_err(|f| f.why).unwrap();
    assert_eq!(
        &second.into_body().collect().await.unwrap().to_bytes()[..],
        b"ok"
    );
    assert_eq!(
        conns.load(Ordering::SeqCst),
        1,
        "one connection under a cap of one"
    );
    assert_eq!(opened.get(), 1);
}

/// At the cap, with the only connection busy (the upstream has not answered), the next
/// request is answered `upstream_overloaded` after the queue timeout.
#[tokio::test]
async fn at_the_cap_a_busy_connection_makes_the_next_request_overloaded() {
    // Accepts, reads, never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let yaml = format!("upstreams:\n  a: {{url: 'http://{addr}'}}\n");
    let cfg = crate::config::parse_str(&yaml, "t").unwrap();
    let (client, opened) = capped_client(&cfg, 1, Duration::from_millis(100));
    let busy = tokio::time::timeout(
        Duration::from_millis(1500),
        client.send(request(&client), false),
    );
    let next = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        client.send(request(&client), false).await
    };
    let (busy, next) = tokio::join!(busy, next);
    assert!(busy.is_err(), "the silent upstream answered");
    let err = next.unwrap_err();
    assert_eq!(err.code, Code::UpstreamOverloaded, "{}", err.why);
    assert!(
        err.why.contains("limits.upstream_queue_timeout"),
        "{}",
        err.why
    );
    assert_eq!(crate::proxy::errors::status_for(err.code), 503);
    assert_eq!(opened.get(), 1);
}

async fn get(client: &UpstreamClient) -> Bytes {
    use http_body_util::BodyExt;
    let req = Request::builder()
        .uri(client.target_uri(None).unwrap())
        .body(crate::proxy::body::empty_upstream_body())
        .unwrap();
    let resp = client.send(req, false).await.map_err(|f| f.why).unwrap();
    assert_eq!(resp.status(), 200);
    resp.into_body().collect().await.unwrap().to_bytes()
}

#[tokio::test]
async fn http1_requests_reuse_one_pooled_connection() {
    use std::sync::atomic::Ordering;
    let (addr, conns, reqs) = crate::proxy::pool::tests::counting_upstream(false).await;
    let (client, opened) = http1_client(addr);
    let pool = &client
        .h1
        .as_ref()
        .expect("an http:// upstream uses the HTTP/1 pool")
        .pool;
    for _ in 0..5 {
        assert_eq!(&get(&client).await[..], b"ok");
        crate::proxy::pool::tests::settle(|| pool.idle() == 1).await;
    }
    assert_eq!(reqs.load(Ordering::SeqCst), 5);
    assert_eq!(
        conns.load(Ordering::SeqCst),
        1,
        "one connection for all five requests"
    );
    assert_eq!(opened.get(), 1, "tlsgate_upstream_connections_total");
    assert_eq!(pool.len(), 1);
}

#[tokio::test]
async fn a_connection_the_upstream_closed_is_not_reused() {
    use std::sync::atomic::Ordering;
    let (addr, conns, reqs) = crate::proxy::pool::tests::counting_upstream(true).await;
    let (client, opened) = http1_client(addr);
    let pool = &client.h1.as_ref().unwrap().pool;
    assert_eq!(&get(&client).await[..], b"ok");
    // The upstream closed it: the connection task sees the end, the pool's sender says so.
    crate::proxy::pool::tests::settle(|| pool.live() == 0).await;
    assert_eq!(&get(&client).await[..], b"ok", "sent on a new connection");
    assert_eq!(reqs.load(Ordering::SeqCst), 2);
    assert_eq!(conns.load(Ordering::SeqCst), 2);
    assert_eq!(opened.get(), 2);
}

#[test]
fn only_http1_upstreams_use_the_lean_pool() {
    let cfg = crate::config::parse_str(
        "routes:\n  - {path_prefix: /, upstream: plain}\nupstreams:\n  plain: {url: 'http://127.0.0.1:1'}\n  h2c: {url: 'http://127.0.0.1:1', http_version: http2}\n  tls: {url: 'https://127.0.0.1:1'}\n  tls1: {url: 'https://127.0.0.1:1', http_version: http1}\n",
        "t",
    )
    .unwrap();
    let lean = |n: &str| {
        UpstreamClient::new(n, &cfg.upstreams[n])
            .unwrap()
            .h1
            .is_some()
    };
    assert!(lean("plain"));
    assert!(!lean("h2c"), "h2c prior knowledge: hyper-util's client");
    assert!(!lean("tls"), "ALPN may pick h2: hyper-util's client");
    assert!(lean("tls1"));
}
