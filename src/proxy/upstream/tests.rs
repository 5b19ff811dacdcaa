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
    let opened = prometheus_client::metrics::counter::Counter::default();
    let client =
        UpstreamClient::with_connection_counter("a", &cfg.upstreams["a"], opened.clone()).unwrap();
    (client, opened)
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
