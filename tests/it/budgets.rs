//! Issue 18: one switch for the protocol (ALPN), hardened certificate reads, escaped log
//! fields, and budgets (admin API, HTTP/2 streams).

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::*;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// An empty client SETTINGS frame (length 0, type 4, no flags, stream 0).
const EMPTY_SETTINGS: &[u8] = &[0, 0, 0, 4, 0, 0, 0, 0, 0];

type TlsClient = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// A completed TLS handshake with the gate, offering `alpn` (nothing when empty).
fn handshake(pki: &TestPki, port: u16, alpn: &[&[u8]]) -> TlsClient {
    let mut cfg = pki.client_config(alpn);
    cfg.resumption = rustls::client::Resumption::disabled();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(Arc::new(cfg), name).unwrap();
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp).expect("TLS handshake");
    }
    rustls::StreamOwned::new(conn, tcp)
}

/// Everything the server sends until it closes (or 10 s pass), and whether it closed.
fn read_to_close(s: &mut TlsClient) -> (Vec<u8>, bool) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => return (got, true),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {
                return (got, false)
            }
            // A close without close_notify, or a reset: closed all the same.
            Err(_) => return (got, true),
        }
    }
    (got, false)
}

#[test]
fn h2_preface_without_h2_negotiated_is_refused() {
    let pki = TestPki::new();
    let upstream = MockUpstream::start();
    let gate = Tlsgate::start(&GateConfig::tls(&pki, upstream.url()));
    let offers: [&[&[u8]]; 2] = [&[b"http/1.1"], &[]];
    for alpn in offers {
        let mut s = handshake(&pki, gate.listen_port, alpn);
        assert_ne!(s.conn.alpn_protocol(), Some(&b"h2"[..]));
        s.write_all(PREFACE).unwrap();
        s.write_all(EMPTY_SETTINGS).unwrap();
        s.flush().unwrap();
        let (got, closed) = read_to_close(&mut s);
        // An HTTP/2 server answers the preface with its SETTINGS frame (type 4 on stream 0).
        let h2_settings = got.len() >= 9 && got[3] == 4 && got[5..9] == [0, 0, 0, 0];
        assert!(
            !h2_settings,
            "ALPN {alpn:?}: the gate spoke HTTP/2 on a connection that did not negotiate h2: {got:?}"
        );
        assert!(
            closed && (got.is_empty() || got.starts_with(b"HTTP/1.1 400")),
            "ALPN {alpn:?}: expected a close or a 400, got {:?}",
            String::from_utf8_lossy(&got)
        );
    }
    let logged = gate.wait_for_log(Duration::from_secs(10), |l| {
        l.get("code").and_then(|c| c.as_str()) == Some("client_protocol_not_negotiated")
    });
    assert!(logged.is_some(), "no log line: {}", gate.output());
}

/// Puts something other than a regular file at a path.
type Replace<'a> = &'a dyn Fn(&std::path::Path);

/// POST /reload: (HTTP status, body), within `max` seconds (status 0: no answer in time).
fn post_reload(gate: &Tlsgate, max: u32) -> (u16, String) {
    let out = std::process::Command::new("curl")
        .args(["-sS", "--noproxy", "*", "--max-time", &max.to_string()])
        .args([
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
            "-X",
            "POST",
            "-H",
            "X-Tlsgate: 1",
        ])
        .arg(gate.admin_url("/reload"))
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

#[test]
fn reload_refuses_a_fifo_or_a_device_as_certificate_and_keeps_reloading() {
    let pki = TestPki::new();
    let upstream = MockUpstream::start();
    let mut cfg = GateConfig::tls(&pki, upstream.url());
    cfg.top_extra = "reload:\n  watch: false\n  poll: 1h\n".to_string();
    let gate = Tlsgate::start(&cfg);
    let good = std::fs::read(&pki.cert_path).unwrap();
    let fifo = |p: &std::path::Path| {
        let st = std::process::Command::new("mkfifo")
            .arg(p)
            .status()
            .unwrap();
        assert!(st.success(), "mkfifo");
    };
    let zero = |p: &std::path::Path| std::os::unix::fs::symlink("/dev/zero", p).unwrap();
    let cases: [(&str, Replace); 2] = [("FIFO", &fifo), ("device", &zero)];
    for (what, replace) in cases {
        std::fs::remove_file(&pki.cert_path).unwrap();
        replace(&pki.cert_path);
        let t0 = Instant::now();
        let (status, body) = post_reload(&gate, 10);
        assert!(
            t0.elapsed() < Duration::from_secs(5) && status != 0,
            "{what}: POST /reload did not answer promptly ({:?}, status {status})\n{}",
            t0.elapsed(),
            gate.output()
        );
        let v: serde_json::Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
        assert_eq!(v["result"], "rejected", "{what}: {v}");
        assert_eq!(
            v["findings"][0]["code"], "cert_file_unreadable",
            "{what}: {v}"
        );
        assert!(
            body.contains(what),
            "{what}: the finding does not say what the file is: {v}"
        );
        // Repaired: a later reload goes through.
        std::fs::remove_file(&pki.cert_path).unwrap();
        std::fs::write(&pki.cert_path, &good).unwrap();
        let (status, body) = post_reload(&gate, 10);
        assert_eq!(
            status,
            200,
            "{what}: reload after the repair: {body}\n{}",
            gate.output()
        );
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_ne!(v["result"], "rejected", "{what}: {v}");
    }
}

#[test]
fn line_and_direction_controls_never_reach_the_access_log_raw() {
    let upstream = MockUpstream::start();
    let gate = Tlsgate::start(&GateConfig::plain(upstream.url()));
    let mut s = TcpStream::connect(("127.0.0.1", gate.listen_port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // U+2028, U+2029, U+0085 and U+202E, raw UTF-8 in the request target.
    let mut req = b"GET /budget-ctl/a".to_vec();
    req.extend_from_slice("\u{2028}b\u{2029}c\u{85}d\u{202e}e".as_bytes());
    req.extend_from_slice(b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s.write_all(&req).unwrap();
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let line = gate.wait_for_log(Duration::from_secs(10), |l| {
        l.get("path")
            .and_then(|p| p.as_str())
            .is_some_and(|p| p.starts_with("/budget-ctl"))
    });
    let line = line.unwrap_or_else(|| panic!("no access-log line: {}", gate.output()));
    let out = gate.output();
    for c in ['\u{2028}', '\u{2029}', '\u{85}', '\u{202e}'] {
        assert!(
            !out.contains(c),
            "U+{:04X} reached the log raw: {line}",
            c as u32
        );
    }
}

/// SETTINGS_MAX_CONCURRENT_STREAMS from the gate's first SETTINGS frame (`None`: not sent).
fn advertised_max_streams(pki: &TestPki, port: u16) -> Option<u32> {
    let mut s = handshake(pki, port, &[b"h2"]);
    assert_eq!(s.conn.alpn_protocol(), Some(&b"h2"[..]));
    s.write_all(PREFACE).unwrap();
    s.write_all(EMPTY_SETTINGS).unwrap();
    s.flush().unwrap();
    let mut head = [0u8; 9];
    s.read_exact(&mut head).unwrap();
    assert_eq!(head[3], 4, "the first frame is not SETTINGS: {head:?}");
    let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).unwrap();
    payload.chunks_exact(6).find_map(|p| {
        (u16::from_be_bytes([p[0], p[1]]) == 3)
            .then(|| u32::from_be_bytes([p[2], p[3], p[4], p[5]]))
    })
}

#[test]
fn http2_max_concurrent_streams_is_advertised() {
    let pki = TestPki::new();
    let upstream = MockUpstream::start();
    let gate = Tlsgate::start(&GateConfig::tls(&pki, upstream.url()));
    assert_eq!(advertised_max_streams(&pki, gate.listen_port), Some(128));
    let mut cfg = GateConfig::tls(&pki, upstream.url());
    cfg.top_extra = "limits:\n  http2_max_concurrent_streams: 7\n".to_string();
    let gate = Tlsgate::start(&cfg);
    assert_eq!(advertised_max_streams(&pki, gate.listen_port), Some(7));
}

/// How long until the gate closes `s` (reads nothing), or `None` if it is still open after 5 s.
fn closed_within(mut s: TcpStream) -> Option<Duration> {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let t0 = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Some(t0.elapsed()),
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {
                return None
            }
            Err(_) => return Some(t0.elapsed()),
        }
    }
}

#[test]
fn admin_connections_have_a_header_timeout_and_a_cap() {
    let upstream = MockUpstream::start();
    let yaml = GateConfig::plain(upstream.url()).render().replace(
        "admin:\n  bind: 127.0.0.1:0\n",
        "admin:\n  bind: 127.0.0.1:0\n  header_read_timeout: 1s\n  max_connections: 2\n",
    );
    let gate = Tlsgate::start_yaml(&yaml, false);
    let admin = gate.admin_addr();
    // Silent, then half-sent: both closed after the header timeout.
    let silent = TcpStream::connect(admin).unwrap();
    let took = closed_within(silent).expect("a silent admin connection stayed open");
    assert!(
        took >= Duration::from_millis(700),
        "closed too early: {took:?}"
    );
    let mut half = TcpStream::connect(admin).unwrap();
    half.write_all(b"GET /status HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    closed_within(half).expect("a half-sent admin request stayed open");
    // Two connections open: a third is closed at once.
    let a = TcpStream::connect(admin).unwrap();
    let b = TcpStream::connect(admin).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let third = TcpStream::connect(admin).unwrap();
    let took = closed_within(third).expect("a connection over the cap stayed open");
    assert!(
        took < Duration::from_millis(700),
        "not refused at once: {took:?}"
    );
    drop((a, b));
    // Once they are gone, the admin API answers again.
    let ok = wait_until(Duration::from_secs(5), || {
        raw_http_get(admin, "/status", Duration::from_secs(2)).filter(|(c, _)| *c == 200)
    });
    assert!(ok.is_some(), "{}", gate.output());
}

// ---------------------------------------------------------------------------------------------
// Upstream connection cap and descriptor budget
// ---------------------------------------------------------------------------------------------

/// An HTTP/1.1 upstream that reads each request head and answers only once released: every
/// request it gets holds its connection. Counts the connections it accepted.
struct HoldingUpstream {
    port: u16,
    accepted: Arc<std::sync::atomic::AtomicUsize>,
    release: Arc<std::sync::atomic::AtomicBool>,
}

impl HoldingUpstream {
    fn start() -> HoldingUpstream {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let release = Arc::new(AtomicBool::new(false));
        let (acc, rel) = (accepted.clone(), release.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                acc.fetch_add(1, Ordering::SeqCst);
                let rel = rel.clone();
                std::thread::spawn(move || {
                    let _ = conn.set_read_timeout(Some(Duration::from_millis(200)));
                    let mut head = Vec::new();
                    let mut buf = [0u8; 4096];
                    let deadline = Instant::now() + Duration::from_secs(60);
                    while Instant::now() < deadline {
                        match conn.read(&mut buf) {
                            Ok(0) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                            Err(e)
                                if e.kind() == ErrorKind::WouldBlock
                                    || e.kind() == ErrorKind::TimedOut => {}
                            Err(_) => return,
                        }
                        while let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                            head.drain(..end + 4);
                            while !rel.load(Ordering::SeqCst) && Instant::now() < deadline {
                                std::thread::sleep(Duration::from_millis(20));
                            }
                            let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\ncontent-type: text/plain\r\n\r\nheld";
                            if conn.write_all(ok).is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        HoldingUpstream {
            port,
            accepted,
            release,
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for HoldingUpstream {
    fn drop(&mut self) {
        self.release
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The value of one sample of `/metrics` (`name{labels}` as written there).
fn metric(gate: &Tlsgate, sample: &str) -> Option<f64> {
    let (_, text) = raw_http_get(gate.admin_addr(), "/metrics", Duration::from_secs(5))?;
    text.lines().find_map(|l| {
        l.strip_prefix(sample)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// `curl` over HTTP/2 sending `n` requests to `url` multiplexed on one connection; prints one
/// status per request.
fn h2_fan_out(gate: &Tlsgate, pki: &TestPki, url: &str, n: usize) -> std::process::Child {
    let mut cmd = std::process::Command::new("curl");
    scrub(&mut cmd);
    cmd.args([
        "-sS",
        "--noproxy",
        "*",
        "--http2",
        "--parallel",
        "--parallel-max",
    ])
    .arg(n.to_string())
    .args(["--max-time", "40", "-w", "%{http_code}\\n"])
    .args(gate.curl_args(Some(&pki.ca_path)));
    for _ in 0..n {
        cmd.args(["-o", "/dev/null", url]);
    }
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("curl")
}

/// Issue 18, item 1: with 400 descriptors and `max_connections: 50`, four HTTP/2 connections of
/// 100 streams each toward a slow upstream open no more upstream connections than the cap
/// derived from the descriptor limit; the rest wait `upstream_queue_timeout` and get 503
/// `upstream_overloaded` JSON with `retry-after`; meanwhile a new client is accepted and served
/// by the other upstream, and no accept ever fails.
#[test]
fn http2_fan_out_is_capped_per_upstream_and_sheds_load_with_503() {
    let pki = TestPki::new();
    let slow = HoldingUpstream::start();
    let fast = MockUpstream::start();
    let yaml = format!(
        "listeners:\n  - name: main\n    bind: 127.0.0.1:0\n    tls:\n      certificates:\n        - cert: \"{}\"\n          key: \"{}\"\n\
routes:\n  - {{path_prefix: /slow, upstream: slow}}\n  - {{path_prefix: /v1, upstream: fast}}\n\
upstreams:\n  slow:\n    url: http://127.0.0.1:{}\n  fast:\n    url: {}\n\
admin:\n  bind: 127.0.0.1:0\n\
diagnostics:\n  log_format: json\n  upstream_checks: off\n\
limits:\n  max_connections: 50\n  upstream_queue_timeout: 2s\n\
shutdown:\n  drain_delay: 0s\n  drain_timeout: 1s\n",
        pki.cert_path.display(),
        pki.key_path.display(),
        slow.port,
        fast.url()
    );
    let gate = Tlsgate::start_yaml_with_nofile(&yaml, true, 400);

    // The caps were fitted into the 400 descriptors, and the startup log says so.
    let limits = gate.events("resource_limits");
    assert_eq!(limits.len(), 1, "{}", gate.output());
    assert_eq!(limits[0]["code"], "descriptor_limit_low", "{}", limits[0]);
    assert_eq!(limits[0]["nofile"], 400, "{}", limits[0]);
    assert_eq!(limits[0]["max_connections"], 50, "{}", limits[0]);
    let cap = metric(
        &gate,
        "tlsgate_upstream_connection_limit{upstream=\"slow\"}",
    )
    .expect("the cap in /metrics") as usize;
    assert_eq!(
        Some(cap as u64),
        limits[0]["upstream_max_connections"].as_u64()
    );
    assert!(
        (20..=200).contains(&cap),
        "cap {cap}: 400 descriptors hold two upstreams of ~100"
    );

    let url = gate.url("/slow/x");
    let fans: Vec<_> = (0..4).map(|_| h2_fan_out(&gate, &pki, &url, 100)).collect();

    // The slow upstream gets exactly the cap, and no more while requests keep waiting.
    let reached = wait_until(Duration::from_secs(20), || {
        (slow.accepted() >= cap).then_some(())
    });
    assert!(
        reached.is_some(),
        "only {} upstream connections of {cap}",
        slow.accepted()
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        slow.accepted(),
        cap,
        "more upstream connections than the cap"
    );
    assert_eq!(
        metric(
            &gate,
            "tlsgate_upstream_open_connections{upstream=\"slow\"}"
        ),
        Some(cap as f64)
    );

    // A good client: a new TLS connection, served by the other upstream.
    let good = curl_http(&[
        "--resolve",
        &format!("localhost:{}:127.0.0.1", gate.listen_port),
        "--cacert",
        pki.ca_path.to_str().unwrap(),
        &gate.url("/v1/models"),
    ]);
    assert_eq!(
        good.status,
        200,
        "a new client was not served: {}\n{}",
        good.raw.describe(),
        gate.output()
    );

    // One more request to the saturated upstream: waits the queue timeout, then 503 JSON.
    let shed = curl_http(&[
        "--resolve",
        &format!("localhost:{}:127.0.0.1", gate.listen_port),
        "--cacert",
        pki.ca_path.to_str().unwrap(),
        &gate.url("/slow/one-more"),
    ]);
    assert_eq!(shed.status, 503, "{}", shed.raw.describe());
    assert_eq!(shed.header("retry-after").as_deref(), Some("1"));
    assert_eq!(
        shed.header("content-type").as_deref(),
        Some("application/json")
    );
    let v = shed.json();
    assert_eq!(v["error"]["code"], "upstream_overloaded", "{v}");
    assert_eq!(v["error"]["type"], "tlsgate_error", "{v}");

    // Release the held requests; every one of the 400 ends as 200 (it had a connection) or
    // 503 (it waited past the queue timeout) — none as a 502 blamed on the upstream.
    slow.release
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let mut statuses = std::collections::BTreeMap::<String, usize>::new();
    for fan in fans {
        let out = fan.wait_with_output().unwrap();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            *statuses.entry(line.trim().to_string()).or_default() += 1;
        }
    }
    let ok = statuses.get("200").copied().unwrap_or(0);
    let shed_n = statuses.get("503").copied().unwrap_or(0);
    assert_eq!(ok + shed_n, 400, "statuses: {statuses:?}");
    assert!(
        ok >= cap && shed_n >= 400 - 2 * cap,
        "statuses: {statuses:?} (cap {cap})"
    );
    let refused = metric(
        &gate,
        "tlsgate_upstream_overloaded_total{upstream=\"slow\"}",
    )
    .unwrap();
    assert!(
        refused >= (shed_n + 1) as f64,
        "{refused} refusals counted for {shed_n} + 1 503s"
    );
    assert!(gate.events("accept_failed").is_empty(), "{}", gate.output());
    // Logged, rate-limited: a handful of upstream_error events, not one per refusal.
    let logged = gate
        .events("upstream_error")
        .into_iter()
        .filter(|e| e["code"] == "upstream_overloaded")
        .count();
    assert!(
        (1..=10).contains(&logged),
        "{logged} upstream_overloaded events"
    );
}
/// `tlsgate_admin_connections_closed_total{reason}` as `/metrics` shows it now.
fn admin_closed(gate: &Tlsgate, reason: &str) -> u64 {
    try_admin_closed(gate, reason).expect("GET /metrics")
}

/// As [`admin_closed`]; `None` when `/metrics` does not answer (the admin API at its cap).
fn try_admin_closed(gate: &Tlsgate, reason: &str) -> Option<u64> {
    let (code, body) = raw_http_get(gate.admin_addr(), "/metrics", Duration::from_secs(5))?;
    assert_eq!(code, 200, "{body}");
    let series = format!("tlsgate_admin_connections_closed_total{{reason=\"{reason}\"}} ");
    let value = body
        .lines()
        .find_map(|l| l.strip_prefix(series.as_str()))
        .unwrap_or_else(|| panic!("no {series}in /metrics:\n{body}"));
    Some(value.trim().parse().unwrap())
}

/// Waits (generously) until the admin counter for `reason` reaches `at_least`.
fn admin_closed_reaches(gate: &Tlsgate, reason: &str, at_least: u64) -> bool {
    wait_until(Duration::from_secs(10), || {
        try_admin_closed(gate, reason)
            .filter(|n| *n >= at_least)
            .map(|_| ())
    })
    .is_some()
}

/// Whether the server closes `s` within its read timeout (a timeout is not a close).
fn server_closes(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false
            }
            Err(_) => return true,
        }
    }
}

/// One keep-alive admin request on `s`: the status code.
fn keepalive_get(s: &mut TcpStream, path: &str) -> u16 {
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    read_response(s).0
}

fn admin_gate(upstream: &MockUpstream, budgets: &str) -> Tlsgate {
    let yaml = GateConfig::plain(upstream.url()).render().replace(
        "admin:\n  bind: 127.0.0.1:0\n",
        &format!("admin:\n  bind: 127.0.0.1:0\n{budgets}"),
    );
    Tlsgate::start_yaml(&yaml, false)
}

#[test]
fn an_idle_admin_keepalive_connection_is_closed_after_idle_timeout_and_counted() {
    let upstream = MockUpstream::start();
    // The head timeout far above the idle one: a close within the deadline below is the idle
    // timeout's.
    let gate = admin_gate(
        &upstream,
        "  header_read_timeout: 60s\n  idle_timeout: 1s\n",
    );
    assert_eq!(admin_closed(&gate, "idle_timeout"), 0);
    let mut s = TcpStream::connect(gate.admin_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    assert_eq!(keepalive_get(&mut s, "/healthz"), 200);
    // Idle now: closed (well before the 60 s head timeout could).
    assert!(
        server_closes(&mut s),
        "an idle admin keep-alive connection stayed open"
    );
    assert!(
        admin_closed_reaches(&gate, "idle_timeout", 1),
        "the idle close was not counted"
    );
    assert!(
        gate.wait_for_log(Duration::from_secs(10), |l| {
            l.get("setting").and_then(|v| v.as_str()) == Some("admin.idle_timeout")
        })
        .is_some(),
        "the idle close was not logged: {}",
        gate.output()
    );
    assert_eq!(admin_closed(&gate, "header_timeout"), 0);
}

#[test]
fn admin_idle_timeout_is_not_the_header_timeout() {
    let upstream = MockUpstream::start();
    let gate = admin_gate(&upstream, "  header_read_timeout: 1s\n  idle_timeout: 5m\n");
    let mut s = TcpStream::connect(gate.admin_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    assert_eq!(keepalive_get(&mut s, "/healthz"), 200);
    // Idle for three head timeouts: still open, and it answers a second request.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(keepalive_get(&mut s, "/readyz"), 200);
    assert_eq!(admin_closed(&gate, "header_timeout"), 0);
    assert_eq!(admin_closed(&gate, "idle_timeout"), 0);
    // The head timeout still applies to a request once begun.
    s.write_all(b"GET /status HTTP/1.1\r\nHost: x\r\n").unwrap();
    assert!(
        server_closes(&mut s),
        "a half-sent admin request stayed open"
    );
    assert!(admin_closed_reaches(&gate, "header_timeout", 1));
}

#[test]
fn admin_header_timeouts_and_refusals_over_the_cap_are_counted() {
    let upstream = MockUpstream::start();
    let gate = admin_gate(
        &upstream,
        "  header_read_timeout: 1s\n  idle_timeout: 1m\n  max_connections: 2\n",
    );
    let admin = gate.admin_addr();
    assert_eq!(admin_closed(&gate, "header_timeout"), 0);
    assert_eq!(admin_closed(&gate, "over_capacity"), 0);
    let silent = TcpStream::connect(admin).unwrap();
    closed_within(silent).expect("a silent admin connection stayed open");
    assert!(admin_closed_reaches(&gate, "header_timeout", 1));
    // Two held open: the third is refused, and counted.
    let mut a = TcpStream::connect(admin).unwrap();
    let mut b = TcpStream::connect(admin).unwrap();
    // Both taken by the server before the third arrives: each answers a request.
    for s in [&mut a, &mut b] {
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        assert_eq!(keepalive_get(s, "/healthz"), 200);
    }
    let third = TcpStream::connect(admin).unwrap();
    closed_within(third).expect("a connection over the cap stayed open");
    drop((a, b));
    assert!(
        admin_closed_reaches(&gate, "over_capacity", 1),
        "{}",
        gate.output()
    );
}

#[test]
fn an_http1_request_after_h2_was_negotiated_is_refused() {
    let pki = TestPki::new();
    let upstream = MockUpstream::start();
    let gate = Tlsgate::start(&GateConfig::tls(&pki, upstream.url()));
    let mut s = handshake(&pki, gate.listen_port, &[b"h2", b"http/1.1"]);
    assert_eq!(s.conn.alpn_protocol(), Some(&b"h2"[..]));
    s.write_all(b"GET /after-h2 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    s.flush().unwrap();
    let (got, closed) = read_to_close(&mut s);
    assert!(
        !got.starts_with(b"HTTP/1"),
        "the gate answered HTTP/1.1 on an h2 connection: {:?}",
        String::from_utf8_lossy(&got)
    );
    assert!(closed, "the connection stayed open: {got:?}");
    assert_eq!(upstream.count("/after-h2"), 0, "the request was forwarded");
    let logged = gate.wait_for_log(Duration::from_secs(10), |l| {
        l.get("code").and_then(|c| c.as_str()) == Some("client_protocol_not_negotiated")
            && l.get("limit").and_then(|c| c.as_str()) == Some("h2")
    });
    assert!(logged.is_some(), "no log line: {}", gate.output());
    // A real HTTP/2 client on the same listener is still served.
    assert_eq!(advertised_max_streams(&pki, gate.listen_port), Some(128));
}

/// Raw line and direction controls (and their escaped form) a client can put in a request.
const HOSTILE: &str = "a\u{2028}b\u{2029}c\u{85}d\u{202e}e";
const HOSTILE_ESCAPED: &str = "a\\xe2\\x80\\xa8b\\xe2\\x80\\xa9c\\xc2\\x85d\\xe2\\x80\\xaee";

/// Sends one raw HTTP/1.1 request to a plain listener and reads the answer.
fn send_raw(port: u16, head: &[u8]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(head).unwrap();
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).to_string()
}

fn assert_no_raw_controls(out: &str) {
    for c in ['\u{2028}', '\u{2029}', '\u{85}', '\u{202e}'] {
        assert!(
            !out.contains(c),
            "U+{:04X} reached the log raw:\n{out}",
            c as u32
        );
    }
}

#[test]
fn client_error_evidence_is_escaped_in_json_and_pretty_logs() {
    let upstream = MockUpstream::start();
    // (what, request head, code)
    let cases: [(&str, String, &str); 3] = [
        (
            "Upgrade",
            format!(
                "GET /up HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: {HOSTILE}\r\n\r\n"
            ),
            "client_upgrade_refused",
        ),
        (
            "Host",
            format!("GET /host HTTP/1.1\r\nHost: {HOSTILE}\r\nConnection: close\r\n\r\n"),
            "client_host_invalid",
        ),
        (
            "path",
            format!("GET /v1/../../{HOSTILE} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
            "client_path_invalid",
        ),
    ];
    for format in ["json", "pretty"] {
        let yaml = GateConfig::plain(upstream.url())
            .render()
            .replace("log_format: json", &format!("log_format: {format}"));
        let gate = Tlsgate::start_yaml(&yaml, false);
        for (what, head, code) in &cases {
            let answer = send_raw(gate.listen_port, head.as_bytes());
            assert!(answer.contains(code), "{what}: {answer}");
            // The client_error line carries the escaped evidence.
            let line = gate
                .output
                .wait_for(Duration::from_secs(10), |all| {
                    all.lines()
                        .find(|l| l.contains("client_error") && l.contains(code))
                        .map(str::to_string)
                })
                .unwrap_or_else(|| {
                    panic!("{format} {what}: no client_error line\n{}", gate.output())
                });
            // JSON escapes a backslash once more.
            let want = if *format == *"json" {
                HOSTILE_ESCAPED.replace('\\', "\\\\")
            } else {
                HOSTILE_ESCAPED.to_string()
            };
            assert!(line.contains(&want), "{format} {what}: {line}");
        }
        assert_no_raw_controls(&gate.output());
    }
}

/// `tlsgate_client_errors_total{listener="main",code}` as `/metrics` shows it (0 when absent).
fn client_errors(gate: &Tlsgate, code: &str) -> u64 {
    let (status, body) =
        raw_http_get(gate.admin_addr(), "/metrics", Duration::from_secs(5)).expect("GET /metrics");
    assert_eq!(status, 200, "{body}");
    let series = format!("tlsgate_client_errors_total{{listener=\"main\",code=\"{code}\"}} ");
    body.lines()
        .find_map(|l| l.strip_prefix(series.as_str()))
        .map_or(0, |v| v.trim().parse().unwrap())
}

#[test]
fn requests_refused_as_the_clients_fault_are_counted_per_listener_and_code() {
    let upstream = MockUpstream::start();
    let gate = Tlsgate::start(&GateConfig::plain(upstream.url()));
    let port = gate.listen_port;
    // Answered by the upstream, even a 404: not tlsgate's refusal.
    let ok = send_raw(
        port,
        b"GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(ok.starts_with("HTTP/1.1 404"), "{ok}");
    for _ in 0..2 {
        let a = send_raw(
            port,
            b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: upgrade, close\r\nUpgrade: h2c\r\n\r\n",
        );
        assert!(a.starts_with("HTTP/1.1 400"), "{a}");
    }
    let a = send_raw(
        port,
        b"TRACE / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(a.starts_with("HTTP/1.1 405"), "{a}");
    // Refused by the HTTP parser itself (rewritten as JSON): counted too.
    let a = send_raw(port, b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n");
    assert!(a.starts_with("HTTP/1.1 400"), "{a}");
    let code = a
        .split("\"code\":\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_else(|| panic!("no code in {a}"))
        .to_string();
    assert_eq!(client_errors(&gate, "client_upgrade_refused"), 2);
    assert_eq!(client_errors(&gate, "client_method_refused"), 1);
    assert_eq!(client_errors(&gate, &code), 1, "{code}");
    let (_, metrics) = raw_http_get(gate.admin_addr(), "/metrics", Duration::from_secs(5)).unwrap();
    let total: u64 = metrics
        .lines()
        .filter(|l| l.starts_with("tlsgate_client_errors_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(total, 4, "{metrics}");
}
