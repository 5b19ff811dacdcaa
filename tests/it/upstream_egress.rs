//! Upstreams reached through an HTTP CONNECT egress proxy (`upstreams.<n>.egress_proxy`), with
//! the real `tlsgate serve` binary and a tiny CONNECT proxy run here.
//!
//! Loopback upstreams never use the egress proxy (by design), so the upstream URLs here use the
//! host `upstream.test`: a reserved name that resolves nowhere. With an egress proxy, tlsgate
//! never resolves the upstream's host itself; the proxy does, exactly as a real corporate proxy
//! resolves names tlsgate cannot. The test proxy "resolves" every host to 127.0.0.1, so the
//! tunnel reaches the local mock upstream, and any request that arrives at the mock proves the
//! proxy path was taken. No test hook in tlsgate is needed.

use crate::support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::{GateConfig, MockUpstream, RefusedPort, TestPki, Tlsgate};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How the test proxy answers a CONNECT.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    /// Connect to 127.0.0.1:<port of the CONNECT target>; `200 Connection established` and
    /// splice, or `502 Bad Gateway` when that connection fails (as squid and others do).
    Tunnel,
    /// `403 Forbidden` (a proxy policy refusing the destination).
    Forbidden,
    /// Close the connection without answering.
    Close,
}

/// An HTTP CONNECT proxy on its own runtime thread; records the request line of every CONNECT.
struct ConnectProxy {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ConnectProxy {
    fn start(mode: Mode) -> ConnectProxy {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (shutdown_tx, mut shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        let seen2 = seen.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                loop {
                    tokio::select! {
                        _ = &mut shutdown_rx => break,
                        accepted = listener.accept() => {
                            let Ok((tcp, _)) = accepted else { continue };
                            tokio::spawn(serve_one(tcp, mode, seen2.clone()));
                        }
                    }
                }
            });
            rt.shutdown_timeout(Duration::from_millis(500));
        });
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("proxy bound");
        ConnectProxy {
            addr,
            seen,
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for ConnectProxy {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn serve_one(mut client: tokio::net::TcpStream, mode: Mode, seen: Arc<Mutex<Vec<String>>>) {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 8192 {
            return;
        }
        match client.read_u8().await {
            Ok(b) => head.push(b),
            Err(_) => return,
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let line = head.lines().next().unwrap_or("").to_string();
    seen.lock().unwrap().push(line.clone());
    match mode {
        Mode::Close => {}
        Mode::Forbidden => {
            let _ = client
                .write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n")
                .await;
        }
        Mode::Tunnel => {
            let port = line
                .split_whitespace()
                .nth(1)
                .and_then(|a| a.rsplit(':').next())
                .and_then(|p| p.parse::<u16>().ok());
            let upstream = match port {
                Some(p) => tokio::net::TcpStream::connect(("127.0.0.1", p)).await.ok(),
                None => None,
            };
            let Some(mut upstream) = upstream else {
                let _ = client
                    .write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")
                    .await;
                return;
            };
            if client
                .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .await
                .is_err()
            {
                return;
            }
            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        }
    }
}

fn gate_through(upstream_url: &str, proxy_url: &str, extra: &str) -> Tlsgate {
    let mut cfg = GateConfig::plain(upstream_url);
    cfg.upstream_extra = format!("    egress_proxy: {proxy_url}\n{extra}");
    Tlsgate::start(&cfg)
}

/// `curl` the gate; returns (status, body).
fn get(gate: &Tlsgate, path: &str) -> (u16, String) {
    let r = support::curl_http(&[&gate.url(path)]);
    (r.status, r.body)
}

/// The `upstream_error` event of the failed request.
fn failure_event(gate: &Tlsgate) -> serde_json::Value {
    gate.wait_for_log(Duration::from_secs(10), |l| {
        l["event"] == "upstream_error" || l["event"] == "upstream_tls_failed"
    })
    .unwrap_or_else(|| panic!("no upstream failure event:\n{}", gate.output()))
}

#[test]
fn requests_go_through_the_connect_proxy() {
    let up = MockUpstream::start();
    let proxy = ConnectProxy::start(Mode::Tunnel);
    let url = format!("http://upstream.test:{}", up.port());
    let gate = gate_through(&url, &proxy.url(), "");
    let (status, body) = get(&gate, "/v1/models");
    assert_eq!(status, 200, "{body}\n{}", gate.output());
    assert_eq!(up.count("/v1/models"), 1);
    let want = format!("CONNECT upstream.test:{} HTTP/1.1", up.port());
    assert!(proxy.seen().contains(&want), "{:?}", proxy.seen());
}

#[test]
fn tls_upstream_through_the_connect_proxy_is_verified_by_name() {
    let pki = TestPki::with_ca_name("Egress Upstream Root");
    let leaf = TestPki::leaf_for(&["upstream.test"], &pki.ca);
    let up = MockUpstream::start_tls(&leaf);
    let proxy = ConnectProxy::start(Mode::Tunnel);
    let url = format!("https://upstream.test:{}", up.port());
    let extra = format!(
        "    tls:\n      ca_bundle: {:?}\n",
        pki.ca_path.display().to_string()
    );
    let gate = gate_through(&url, &proxy.url(), &extra);
    let (status, body) = get(&gate, "/v1/models");
    assert_eq!(status, 200, "{body}\n{}", gate.output());
    assert_eq!(up.count("/v1/models"), 1);
    assert!(
        proxy
            .seen()
            .contains(&format!("CONNECT upstream.test:{} HTTP/1.1", up.port())),
        "{:?}",
        proxy.seen()
    );
    // The startup check went through the proxy too and found the upstream healthy.
    let ev = gate
        .wait_for_log(Duration::from_secs(10), |l| l["event"] == "upstream_check")
        .expect("upstream_check event");
    assert_eq!(ev["status"], "healthy", "{ev}");
}

#[test]
fn proxy_refusing_connect_is_egress_proxy_failed_with_its_status_line() {
    let up = MockUpstream::start();
    let proxy = ConnectProxy::start(Mode::Forbidden);
    let url = format!("http://upstream.test:{}", up.port());
    let gate = gate_through(&url, &proxy.url(), "");
    let (status, body) = get(&gate, "/v1/models");
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("egress_proxy_failed"), "{body}");
    let ev = failure_event(&gate);
    assert_eq!(ev["code"], "egress_proxy_failed", "{ev}");
    let why = ev["why"].as_str().unwrap();
    assert!(
        why.contains("HTTP/1.1 403 Forbidden")
            && why.contains(&proxy.addr.to_string())
            && why.contains("refused CONNECT"),
        "{why}"
    );
    assert!(ev["fix"].as_str().unwrap().contains("egress_proxy"), "{ev}");
    assert_eq!(up.request_count(), 0);
}

#[test]
fn unreachable_proxy_is_egress_proxy_failed_not_upstream_refused() {
    let up = MockUpstream::start();
    let refused = RefusedPort::bind();
    let port = refused.port;
    let url = format!("http://upstream.test:{}", up.port());
    let gate = gate_through(&url, &format!("http://127.0.0.1:{port}"), "");
    let (status, body) = get(&gate, "/v1/models");
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("egress_proxy_failed"), "{body}");
    assert!(!body.contains("upstream_refused"), "{body}");
    let ev = failure_event(&gate);
    assert_eq!(ev["code"], "egress_proxy_failed", "{ev}");
    let why = ev["why"].as_str().unwrap();
    assert!(
        why.contains(&format!("cannot reach the egress proxy 127.0.0.1:{port}")),
        "{why}"
    );
}

#[test]
fn upstream_refused_behind_the_proxy_is_told_apart_from_an_unreachable_proxy() {
    let proxy = ConnectProxy::start(Mode::Tunnel);
    let refused = RefusedPort::bind();
    let port = refused.port;
    let url = format!("http://upstream.test:{port}");
    let gate = gate_through(&url, &proxy.url(), "");
    let (status, body) = get(&gate, "/v1/models");
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("egress_proxy_failed"), "{body}");
    let ev = failure_event(&gate);
    assert_eq!(ev["code"], "egress_proxy_failed", "{ev}");
    let why = ev["why"].as_str().unwrap();
    assert!(
        why.contains(&format!(
            "could not reach the upstream upstream.test:{port} behind it"
        )) && why.contains("HTTP/1.1 502 Bad Gateway")
            && why.contains("is reachable"),
        "{why}"
    );
    assert!(!why.contains("cannot reach the egress proxy"), "{why}");
    assert!(proxy
        .seen()
        .contains(&format!("CONNECT upstream.test:{port} HTTP/1.1")));
}

#[test]
fn proxy_closing_without_an_answer_is_egress_proxy_failed() {
    let proxy = ConnectProxy::start(Mode::Close);
    let url = "http://upstream.test:9";
    let gate = gate_through(url, &proxy.url(), "");
    let (status, body) = get(&gate, "/v1/models");
    assert_eq!(status, 502, "{body}");
    let ev = failure_event(&gate);
    assert_eq!(ev["code"], "egress_proxy_failed", "{ev}");
    assert!(
        ev["why"]
            .as_str()
            .unwrap()
            .contains("closed the connection without answering CONNECT upstream.test:9"),
        "{ev}"
    );
}

#[test]
fn loopback_upstreams_bypass_the_proxy() {
    let up = MockUpstream::start();
    // A proxy that would refuse everything: the request still succeeds, it was never asked.
    let proxy = ConnectProxy::start(Mode::Forbidden);
    let gate = gate_through(&up.url(), &proxy.url(), "");
    let (status, body) = get(&gate, "/v1/models");
    assert_eq!(status, 200, "{body}");
    assert!(proxy.seen().is_empty(), "{:?}", proxy.seen());
}

#[test]
fn no_proxy_bypasses_the_proxy() {
    let proxy = ConnectProxy::start(Mode::Tunnel);
    let mut cfg = GateConfig::plain("http://upstream.test:9");
    cfg.upstream_extra = format!(
        "    egress_proxy: {}\n    timeouts:\n      connect: 3s\n",
        proxy.url()
    );
    cfg.env = vec![("NO_PROXY".into(), ".test".into())];
    let gate = Tlsgate::start(&cfg);
    let (status, body) = get(&gate, "/v1/models");
    // tlsgate resolves upstream.test itself now, which fails: not the proxy's doing.
    assert!(status == 502 || status == 504, "{status} {body}");
    assert!(!body.contains("egress_proxy_failed"), "{body}");
    assert!(proxy.seen().is_empty(), "{:?}", proxy.seen());
}
