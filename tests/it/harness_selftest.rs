//! Checks the test harness itself (mock upstream, PKI, curl helpers) without tlsgate, so a
//! failure in `proxy_*` can be attributed to the proxy rather than to the harness.

use std::time::Duration;

use crate::support::*;

#[test]
fn mock_routes_answer_directly() {
    let up = MockUpstream::start();
    let base = up.url();
    let r = curl_http(&[&format!("{base}/v1/models")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["data"][0]["id"], "gpt-mock");

    let r = curl_http(&[
        "--http2-prior-knowledge",
        &format!("{base}/echo?q=1"),
        "-H",
        "x-a: b",
        "-d",
        "12345",
    ]);
    assert_eq!(r.json()["body_len"], 5);
    assert_eq!(r.json()["headers"]["x-a"], "b");
    assert_eq!(r.json()["version"], "HTTP/2.0");
    assert_eq!(
        up.last_request().unwrap().header("x-a").as_deref(),
        Some("b")
    );

    let r = curl_http(&[&format!("{base}/headers")]);
    assert_eq!(r.header("openai-processing-ms").as_deref(), Some("42"));

    let out = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{size_download}",
        &format!("{base}/big?bytes=1000000"),
    ]);
    assert_eq!(out.stdout.trim(), "1000000");
    assert_eq!(up.count("/v1/models"), 1);
}

#[test]
fn mock_sse_is_spaced_and_stream_then_die_is_unclean() {
    let up = MockUpstream::start();
    let body = r#"{"stream":true}"#;
    let url = format!("{}/v1/chat/completions", up.url());
    let (lines, status, _) = curl_stream(&["-d", body, &url]);
    assert!(status.success());
    let data: Vec<_> = lines
        .iter()
        .filter(|l| l.line.starts_with("data:"))
        .collect();
    assert_eq!(data.len(), 6);
    assert!(data[5].at.duration_since(data[0].at) >= Duration::from_millis(300));

    let (lines, status, _) = curl_stream(&["--http1.1", &format!("{}/stream-then-die", up.url())]);
    assert!(
        !status.success(),
        "curl must see an unclean end (exit 18/56)"
    );
    assert_eq!(
        lines.iter().filter(|l| l.line.starts_with("data:")).count(),
        2
    );
}

#[test]
fn mock_counts_cancelled_slow_requests() {
    let up = MockUpstream::start();
    let out = curl(&["--max-time", "0.5", &format!("{}/slow?ms=3000", up.url())]);
    assert!(!out.ok());
    assert!(
        wait_until(Duration::from_secs(5), || (up.aborted_count() == 1)
            .then_some(()))
        .is_some()
    );
    assert_eq!(up.completed_slow_count(), 0);
    let out = curl(&[&format!("{}/slow?ms=10", up.url())]);
    assert!(out.ok());
    assert_eq!(up.completed_slow_count(), 1);
}

#[test]
fn tls_mock_and_pki() {
    let pki = TestPki::new();
    let up = MockUpstream::start_tls(&pki.leaf);
    let ca = pki.ca_path.display().to_string();
    let url = format!("https://localhost:{}/v1/models", up.port());
    let resolve = format!("localhost:{}:127.0.0.1", up.port());
    let out = curl(&[
        "--cacert",
        &ca,
        "--resolve",
        &resolve,
        "-o",
        "/dev/null",
        "-w",
        "%{http_version}",
        &url,
    ]);
    assert!(out.ok(), "{}", out.describe());
    assert_eq!(out.stdout, "2");
    // Without the CA the handshake fails and the mock counts it.
    let out = curl(&["--resolve", &resolve, &url]);
    assert!(!out.ok());
    assert!(
        wait_until(Duration::from_secs(5), || (up.tls_failures() >= 1)
            .then_some(()))
        .is_some()
    );
}

#[test]
fn mock_websocket_echo() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let up = MockUpstream::start();
    let port = up.port();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let reply = rt.block_on(async move {
        tokio::time::timeout(Duration::from_secs(10), async move {
            let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap();
            let (mut ws, _) =
                tokio_tungstenite::client_async(format!("ws://127.0.0.1:{port}/ws"), tcp)
                    .await
                    .unwrap();
            ws.send(Message::text("ping")).await.unwrap();
            ws.next()
                .await
                .unwrap()
                .unwrap()
                .into_text()
                .unwrap()
                .to_string()
        })
        .await
        .unwrap()
    });
    assert_eq!(reply, "ping");
}
