//! Hostile and malformed client requests (issue 14): HTTP/2 request bodies against failing
//! upstreams, path normalization before routing, Upgrade/CONNECT/TRACE/`OPTIONS *`, Host rules,
//! client body faults, JSON for every error tlsgate makes (hyper's parse errors included),
//! PEM file caps, access-log redaction and the admin API's guards.
//!
//! Raw sockets where a real client would tidy the request up (curl normalizes paths, sends one
//! Host, frames bodies correctly); curl and Python (httpx, the OpenAI SDK) over HTTP/2 where the
//! point is what real clients see.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::*;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A raw HTTP/1.1 exchange: writes `request`, reads until the peer closes or `timeout`.
fn raw(addr: SocketAddr, request: &[u8], timeout: Duration) -> String {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(timeout)).unwrap();
    s.write_all(request).unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// The first response of a raw exchange: status, lower-cased headers, body (by Content-Length).
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
    all: String,
}

impl Raw {
    fn parse(text: &str) -> Raw {
        let (head, rest) = text
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("no response head in {text:?}"));
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("no status in {text:?}"));
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let len = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .unwrap_or(rest.len());
        Raw {
            status,
            body: rest[..len.min(rest.len())].to_string(),
            headers,
            all: text.to_string(),
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Asserts an OpenAI-shaped tlsgate error with `status` and `code`.
    fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{}", self.all);
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "{}",
            self.all
        );
        let v: serde_json::Value = serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.all));
        assert_eq!(v["error"]["type"], "tlsgate_error", "{}", self.all);
        assert_eq!(v["error"]["code"], code, "{}", self.all);
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{}",
            self.all
        );
    }
}

fn exchange(addr: SocketAddr, request: &str) -> Raw {
    Raw::parse(&raw(addr, request.as_bytes(), Duration::from_secs(10)))
}

fn listen_addr(gate: &Tlsgate) -> SocketAddr {
    ([127, 0, 0, 1], gate.listen_port).into()
}

/// Requires Python with `module`, unless TLSGATE_REQUIRE_PYTHON is unset (then skips: false).
fn python_has(module: &str, test: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        if std::env::var_os("TLSGATE_REQUIRE_PYTHON").is_some() {
            panic!("TLSGATE_REQUIRE_PYTHON is set but `python3 -c 'import {module}'` fails: run scripts/install-test-deps.sh");
        }
        eprintln!(
            "SKIPPED {test}: python3 cannot import {module} (run scripts/install-test-deps.sh)"
        );
    }
    ok
}

// ---------------------------------------------------------------------------------------------
// 1. HTTP/2 request bodies against failing upstreams
// ---------------------------------------------------------------------------------------------

const BODY_SIZES: [usize; 3] = [1, 64 * 1024, 1024 * 1024];
const TRIES: usize = 50;

/// An upstream that accepts connections and never answers (holds them for the test's life).
fn silent_upstream() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming().flatten() {
            held.push(s);
        }
    });
    port
}

/// `TRIES` HTTP/2 POSTs per body size with curl (one process per size, URL globbing), then the
/// same with httpx and a few with the OpenAI SDK: every one must get the JSON error, none a
/// reset.
fn every_h2_post_gets_its_json_error(gate: &Tlsgate, pki: &TestPki, status: u16, codes: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let base = gate.curl_args(Some(&pki.ca_path));
    for size in BODY_SIZES {
        let body = dir.path().join(format!("body{size}"));
        std::fs::write(&body, vec![b'x'; size]).unwrap();
        let out_dir = dir.path().join(format!("out{size}"));
        std::fs::create_dir(&out_dir).unwrap();
        let url = gate.url(&format!("/v1/chat/completions?try=[1-{TRIES}]"));
        let data = format!("@{}", body.display());
        let out_pattern = format!("{}/r#1", out_dir.display());
        let mut args: Vec<&str> = base.iter().map(String::as_str).collect();
        args.extend([
            "--http2",
            "--max-time",
            "10",
            "-H",
            "content-type: application/json",
            "--data-binary",
            &data,
            "-w",
            "%{http_code} %{http_version}\\n",
            "-o",
            &out_pattern,
            &url,
        ]);
        let out = curl(&args);
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(lines.len(), TRIES, "size {size}: {}", out.describe());
        let bad: Vec<(usize, &str)> = lines
            .iter()
            .enumerate()
            .filter(|(_, l)| **l != format!("{status} 2"))
            .map(|(i, l)| (i + 1, *l))
            .collect();
        assert!(
            bad.is_empty(),
            "size {size}: {} of {TRIES} curl --http2 POSTs did not get {status} over HTTP/2: {bad:?}\n{}",
            bad.len(),
            out.stderr
        );
        for i in 1..=TRIES {
            let text = std::fs::read_to_string(out_dir.join(format!("r{i}"))).unwrap_or_default();
            let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| {
                panic!("size {size} try {i}: body is not JSON ({e}): {text:?}")
            });
            let code = v["error"]["code"].as_str().unwrap_or_default();
            assert!(codes.contains(&code), "size {size} try {i}: {text}");
        }
    }

    if !python_has(
        "httpx, h2, openai",
        "every_h2_post_gets_its_json_error (python)",
    ) {
        return;
    }
    let script = r#"
import json, sys, httpx, openai
port, status, codes, tries = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].split(","), int(sys.argv[4])
base = f"https://localhost:{port}"
bad = []
with httpx.Client(http2=True, verify=sys.argv[5], timeout=10) as c:
    for size in (1, 64 * 1024, 1024 * 1024):
        body = b"x" * size
        for i in range(tries):
            try:
                r = c.post(base + "/v1/chat/completions", content=body, headers={"content-type": "application/json"})
                code = r.json().get("error", {}).get("code")
                if r.status_code != status or r.http_version != "HTTP/2" or code not in codes:
                    bad.append(["httpx", size, i, r.status_code, r.http_version, r.text[:200]])
            except Exception as e:
                bad.append(["httpx", size, i, type(e).__name__, str(e)[:200]])
    sdk = openai.OpenAI(base_url=base + "/v1", api_key="sk-test", max_retries=0, http_client=c)
    for size in (1, 64 * 1024, 1024 * 1024):
        for i in range(5):
            try:
                sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": "x" * size}])
                bad.append(["openai", size, i, "no error raised"])
            except openai.APIStatusError as e:
                if e.status_code != status or e.code not in codes:
                    bad.append(["openai", size, i, e.status_code, e.code, str(e)[:200]])
            except Exception as e:
                bad.append(["openai", size, i, type(e).__name__, str(e)[:200]])
print(json.dumps(bad))
"#;
    let mut cmd = Command::new("python3");
    scrub(&mut cmd);
    cmd.arg("-c")
        .arg(script)
        .arg(gate.listen_port.to_string())
        .arg(status.to_string())
        .arg(codes.join(","))
        .arg(TRIES.to_string())
        .arg(&pki.ca_path);
    let (st, stdout, stderr) = run_with_timeout(cmd, Duration::from_secs(240));
    assert!(st.success(), "python failed:\n{stderr}\n{stdout}");
    let bad: serde_json::Value = serde_json::from_str(stdout.trim().lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("bad script output ({e}): {stdout}\n{stderr}"));
    assert_eq!(
        bad,
        serde_json::json!([]),
        "python HTTP/2 clients did not all get their JSON error"
    );
}

#[test]
fn h2_post_to_a_refusing_upstream_gets_json_not_a_reset() {
    let pki = TestPki::new();
    let dead = RefusedPort::bind();
    let gate = Tlsgate::start(&GateConfig::tls(
        &pki,
        format!("http://127.0.0.1:{}", dead.port),
    ));
    every_h2_post_gets_its_json_error(&gate, &pki, 502, &["upstream_refused"]);
}

#[test]
fn h2_post_to_a_tls_failing_upstream_gets_json_not_a_reset() {
    let pki = TestPki::new();
    let other = TestPki::with_ca_name("an unknown private root");
    let up = MockUpstream::start_tls(&other.leaf);
    let gate = Tlsgate::start(&GateConfig::tls(&pki, up.url()));
    every_h2_post_gets_its_json_error(
        &gate,
        &pki,
        502,
        &[
            "upstream_untrusted_root",
            "upstream_self_signed",
            "upstream_chain_incomplete",
            "upstream_tls_inspection",
        ],
    );
}

#[test]
fn h2_post_to_a_timing_out_upstream_gets_json_not_a_reset() {
    let pki = TestPki::new();
    // Accepts TCP, never answers the TLS handshake: the request body is never read upstream.
    let port = silent_upstream();
    let mut cfg = GateConfig::tls(&pki, format!("https://127.0.0.1:{port}"));
    cfg.upstream_extra = "    timeouts: { tls_handshake: 200ms }\n".into();
    cfg.diagnostics_extra = "  upstream_checks: off\n".into();
    let gate = Tlsgate::start(&cfg);
    every_h2_post_gets_its_json_error(&gate, &pki, 504, &["upstream_handshake_timeout"]);
}

#[test]
fn h2_post_to_an_upstream_silent_after_the_request_gets_json_not_a_reset() {
    let pki = TestPki::new();
    // Accepts the request (its body too, into socket buffers), never answers.
    let port = silent_upstream();
    let mut cfg = GateConfig::tls(&pki, format!("http://127.0.0.1:{port}"));
    cfg.upstream_extra = "    timeouts: { first_byte: 200ms }\n".into();
    cfg.diagnostics_extra = "  upstream_checks: off\n".into();
    let gate = Tlsgate::start(&cfg);
    every_h2_post_gets_its_json_error(&gate, &pki, 504, &["upstream_timeout"]);
}

// ---------------------------------------------------------------------------------------------
// 2. Paths are normalized before routing; routing and the forwarded path agree
// ---------------------------------------------------------------------------------------------

/// `/v1` routed to the mock under the base path `/base` with an injected key; nothing else.
fn keyed_gate(up: &MockUpstream) -> Tlsgate {
    let url = format!("{}/base", up.url());
    Tlsgate::start_yaml(
        &format!(
                "listeners:\n  - name: main\n    bind: 127.0.0.1:0\nroutes:\n  - {{path_prefix: /v1, upstream: keyed}}\nupstreams:\n  keyed:\n    url: {url}\n    set_headers:\n      authorization: \"Bearer injected-key-0123456789\"\nadmin:\n  bind: 127.0.0.1:0\ndiagnostics:\n  log_format: json\n  upstream_checks: off\n"
            ),
        false,
    )
}

fn get(addr: SocketAddr, target: &str) -> Raw {
    exchange(
        addr,
        &format!("GET {target} HTTP/1.1\r\nHost: gate.test\r\nConnection: close\r\n\r\n"),
    )
}

#[test]
fn dot_segments_and_encoded_tricks_never_leave_the_route() {
    let up = MockUpstream::start();
    let gate = keyed_gate(&up);
    let addr = listen_addr(&gate);
    for target in [
        "/v1/../admin",
        "/v1/%2e%2e/admin",
        "/v1/%2E./admin",
        "/v1/models/../../admin",
        "/v1/../../etc/passwd",
        "/v1/..%2fadmin",
        "/v1/..%2Fadmin",
        "/v1/%2e%2e%5cadmin",
        "/v1/..;/admin",
        "/v1/%252e%252e/admin",
        "/v1/%zz",
    ] {
        get(addr, target).assert_error(400, "client_path_invalid");
    }
    assert_eq!(
        up.request_count(),
        0,
        "nothing may be forwarded: {:?}",
        up.last_request()
    );

    // What normalizes inside the route is forwarded normalized, under the base path.
    for (target, forwarded) in [
        ("/v1/./echo", "/base/v1/echo"),
        ("/v1/x/../echo?q=1", "/base/v1/echo?q=1"),
        ("/%76%31/echo", "/base/v1/echo"),
        ("/v1/models/org%2Fname", "/base/v1/models/org%2Fname"),
    ] {
        let before = up.request_count();
        let r = get(addr, target);
        assert_ne!(r.status, 400, "{target}: {}", r.all);
        assert_eq!(up.request_count(), before + 1, "{target}");
        let seen = up.last_request().unwrap();
        assert_eq!(seen.uri, forwarded, "{target}");
        assert_eq!(
            seen.header("authorization").as_deref(),
            Some("Bearer injected-key-0123456789")
        );
    }
    // Outside every route, normalized or not, nothing is forwarded.
    get(addr, "/admin").assert_error(404, "no_route");
    get(addr, "/x/../admin").assert_error(404, "no_route");
}

#[test]
fn absolute_form_targets_must_agree_with_host() {
    let up = MockUpstream::start();
    let gate = keyed_gate(&up);
    let addr = listen_addr(&gate);
    let ok = exchange(
        addr,
        "GET http://gate.test/v1/echo HTTP/1.1\r\nHost: gate.test\r\nConnection: close\r\n\r\n",
    );
    assert_ne!(ok.status, 400, "{}", ok.all);
    assert_eq!(up.last_request().unwrap().uri, "/base/v1/echo");
    exchange(
        addr,
        "GET http://elsewhere.test/v1/echo HTTP/1.1\r\nHost: gate.test\r\nConnection: close\r\n\r\n",
    )
    .assert_error(400, "client_host_invalid");
    exchange(
        addr,
        "GET http://gate.test/v1/../admin HTTP/1.1\r\nHost: gate.test\r\nConnection: close\r\n\r\n",
    )
    .assert_error(400, "client_path_invalid");
    assert_eq!(up.request_count(), 1);
}

// ---------------------------------------------------------------------------------------------
// 3. Upgrades, CONNECT, TRACE, OPTIONS *
// ---------------------------------------------------------------------------------------------

#[test]
fn h2c_upgrade_is_refused_and_the_connection_stays_routed() {
    let up = MockUpstream::start();
    let mut cfg = GateConfig::plain(up.url());
    cfg.upstream_extra = "    set_headers:\n      authorization: \"Bearer injected\"\n".into();
    let gate = Tlsgate::start(&cfg);
    let mut s = TcpStream::connect(listen_addr(&gate)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(
        b"GET /echo HTTP/1.1\r\nHost: gate.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
    )
    .unwrap();
    let first = read_one_response(&mut s);
    first.assert_error(400, "client_upgrade_refused");
    // The same connection is still HTTP/1.1, routed, with set_headers applied.
    s.write_all(b"GET /echo HTTP/1.1\r\nHost: gate.test\r\nConnection: close\r\n\r\n")
        .unwrap();
    let second = read_one_response(&mut s);
    assert_eq!(second.status, 200, "{}", second.all);
    let v: serde_json::Value = serde_json::from_str(&second.body).unwrap();
    assert_eq!(v["headers"]["authorization"], "Bearer injected", "{v}");
    assert_eq!(up.count("/echo"), 1, "only the second request is forwarded");
}

/// Reads one response (head and Content-Length body) from a keep-alive connection.
fn read_one_response(s: &mut TcpStream) -> Raw {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some((head, rest)) = text.split_once("\r\n\r\n") {
            let len = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if rest.len() >= len {
                return Raw::parse(&text);
            }
        }
        assert!(Instant::now() < deadline, "no complete response: {text:?}");
        let n = s.read(&mut chunk).expect("read");
        assert!(n > 0, "closed early: {text:?}");
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[test]
fn other_upgrade_tokens_connect_trace_and_options_asterisk() {
    let up = MockUpstream::start();
    let mut cfg = GateConfig::plain(up.url());
    cfg.diagnostics_extra = "  upstream_checks: off\n".into();
    let gate = Tlsgate::start(&cfg);
    let addr = listen_addr(&gate);
    exchange(
        addr,
        "GET /echo HTTP/1.1\r\nHost: g\r\nConnection: upgrade\r\nUpgrade: TLS/1.2\r\n\r\n",
    )
    .assert_error(400, "client_upgrade_refused");
    for req in [
        format!(
            "CONNECT 127.0.0.1:{} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n",
            up.port(),
            up.port()
        ),
        "TRACE /echo HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n".to_string(),
    ] {
        let r = exchange(addr, &req);
        r.assert_error(405, "client_method_refused");
        assert!(
            r.header("allow").is_some_and(|a| a.contains("GET")),
            "{}",
            r.all
        );
    }
    let r = exchange(
        addr,
        "OPTIONS * HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 200, "{}", r.all);
    assert!(
        r.header("allow").is_some_and(|a| a.contains("POST")),
        "{}",
        r.all
    );
    assert_eq!(up.request_count(), 0, "{:?}", up.last_request());
}

// ---------------------------------------------------------------------------------------------
// 4. Host rules
// ---------------------------------------------------------------------------------------------

#[test]
fn http11_host_must_be_one_and_valid() {
    let up = MockUpstream::start();
    let mut cfg = GateConfig::plain(up.url());
    cfg.diagnostics_extra = "  upstream_checks: off\n".into();
    let gate = Tlsgate::start(&cfg);
    let addr = listen_addr(&gate);
    for req in [
        "GET /echo HTTP/1.1\r\nConnection: close\r\n\r\n",
        "GET /echo HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\nConnection: close\r\n\r\n",
        "GET /echo HTTP/1.1\r\nHost: user@evil.test\r\nConnection: close\r\n\r\n",
        "GET /echo HTTP/1.1\r\nHost: evil.test:port\r\nConnection: close\r\n\r\n",
        "GET /echo HTTP/1.1\r\nHost: a b\r\nConnection: close\r\n\r\n",
    ] {
        exchange(addr, req).assert_error(400, "client_host_invalid");
    }
    assert_eq!(up.request_count(), 0, "{:?}", up.last_request());
    let ok = exchange(
        addr,
        "GET /echo HTTP/1.1\r\nHost: gate.test:8080\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(ok.status, 200, "{}", ok.all);
    let v: serde_json::Value = serde_json::from_str(&ok.body).unwrap();
    assert_eq!(v["headers"]["x-forwarded-host"], "gate.test:8080");
}

#[test]
fn h2_authority_and_host_must_agree() {
    let up = MockUpstream::start();
    let gate = Tlsgate::start(&GateConfig::plain(up.url()));
    let port = gate.listen_port;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (agree, disagree) = rt.block_on(async move {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let (mut send, conn) = hyper::client::conn::http2::handshake(
            hyper_util::rt::TokioExecutor::new(),
            hyper_util::rt::TokioIo::new(tcp),
        )
        .await
        .unwrap();
        tokio::spawn(conn);
        let mut statuses = Vec::new();
        for host in [format!("localhost:{port}"), "evil.test".to_string()] {
            let req = http::Request::builder()
                .uri(format!("http://localhost:{port}/echo"))
                .header("host", host)
                .body(http_body_util::Empty::<bytes::Bytes>::new())
                .unwrap();
            let resp = send.send_request(req).await.unwrap();
            let status = resp.status().as_u16();
            let body = http_body_util::BodyExt::collect(resp.into_body())
                .await
                .unwrap()
                .to_bytes();
            statuses.push((status, String::from_utf8_lossy(&body).into_owned()));
        }
        (statuses[0].clone(), statuses[1].clone())
    });
    assert_eq!(agree.0, 200, "{}", agree.1);
    assert_eq!(disagree.0, 400, "{}", disagree.1);
    let v: serde_json::Value = serde_json::from_str(&disagree.1).unwrap();
    assert_eq!(v["error"]["code"], "client_host_invalid", "{v}");
    assert_eq!(up.count("/echo"), 1);
}

// ---------------------------------------------------------------------------------------------
// 5. Client faults are the client's, and every error is JSON
// ---------------------------------------------------------------------------------------------

#[test]
fn malformed_chunked_body_is_400_client_body_invalid() {
    let up = MockUpstream::start();
    let gate = Tlsgate::start(&GateConfig::plain(up.url()));
    exchange(
        listen_addr(&gate),
        "POST /echo HTTP/1.1\r\nHost: g\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    )
    .assert_error(400, "client_body_invalid");
}

#[test]
fn stalled_body_is_408_and_oversized_body_is_413() {
    let up = MockUpstream::start();
    let mut cfg = GateConfig::plain(up.url());
    cfg.upstream_extra = "    timeouts: { first_byte: 4s }\n".into();
    cfg.top_extra = "limits:\n  client_body_timeout: 1s\n  max_request_body_bytes: 1KiB\n".into();
    let gate = Tlsgate::start(&cfg);
    let addr = listen_addr(&gate);

    let started = Instant::now();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: g\r\nContent-Length: 100\r\n\r\n0123456789")
        .unwrap();
    let r = read_one_response(&mut s);
    r.assert_error(408, "client_body_timeout");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "408 only after {:?}",
        started.elapsed()
    );

    // Declared too large: refused before anything is read or forwarded.
    let before = up.request_count();
    exchange(
        addr,
        "POST /echo HTTP/1.1\r\nHost: g\r\nContent-Length: 5000\r\nConnection: close\r\n\r\n",
    )
    .assert_error(413, "client_body_too_large");
    assert_eq!(up.request_count(), before);
    // Found too large while streaming (chunked, no length announced).
    let chunk = "a".repeat(800);
    let req = format!(
        "POST /echo HTTP/1.1\r\nHost: g\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n320\r\n{chunk}\r\n320\r\n{chunk}\r\n0\r\n\r\n"
    );
    exchange(addr, &req).assert_error(413, "client_body_too_large");
}

#[test]
fn hypers_own_parse_errors_and_431_are_json() {
    let up = MockUpstream::start();
    let pki = TestPki::new();
    let mut cfg = GateConfig::tls(&pki, up.url());
    cfg.top_extra = "limits:\n  max_request_header_bytes: 8KiB\n".into();
    let gate = Tlsgate::start(&cfg);
    // Over our limit, under hyper's buffer: tlsgate's own 431, on HTTP/1.1 and HTTP/2.
    let base = gate.curl_args(Some(&pki.ca_path));
    let big = format!("x-big: {}", "b".repeat(12 * 1024));
    for proto in ["--http1.1", "--http2"] {
        let mut args: Vec<&str> = base.iter().map(String::as_str).collect();
        let url = gate.url("/echo");
        args.extend([proto, "-H", &big, &url]);
        let r = curl_http(&args);
        assert_eq!(r.status, 431, "{proto}: {}", r.raw.describe());
        assert_eq!(
            r.json()["error"]["code"],
            "client_headers_too_large",
            "{proto}"
        );
    }

    // Plain listener, raw bytes hyper refuses itself.
    let plain = {
        let mut c = GateConfig::plain(up.url());
        c.top_extra = "limits:\n  max_request_header_bytes: 8KiB\n".into();
        Tlsgate::start(&c)
    };
    let addr = listen_addr(&plain);
    exchange(
        addr,
        "GET /echo HTTP/1.1\r\nHost: g\r\nBad Header Line\r\n\r\n",
    )
    .assert_error(400, "bad_request");
    exchange(
        addr,
        "GET /echo HTTP/1.1\r\nHost: g\r\nContent-Length: x\r\n\r\n",
    )
    .assert_error(400, "bad_request");
    // Beyond hyper's buffer (twice our limit): hyper's 431, rewritten as JSON.
    let huge = format!(
        "GET /echo HTTP/1.1\r\nHost: g\r\nx-huge: {}\r\n\r\n",
        "h".repeat(40 * 1024)
    );
    exchange(addr, &huge).assert_error(431, "client_headers_too_large");
    // A small bad request still leaves good ones alone.
    let ok = exchange(
        addr,
        "GET /echo HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(ok.status, 200, "{}", ok.all);
    assert_eq!(
        up.count("/echo"),
        1,
        "only the well-formed raw request is forwarded"
    );
}

#[test]
fn h2_errors_with_and_without_body_are_json() {
    let pki = TestPki::new();
    let up = MockUpstream::start();
    let gate = Tlsgate::start_yaml(
        &format!(
                "listeners:\n  - name: main\n    bind: 127.0.0.1:0\n    tls:\n      certificates:\n        - cert: \"{}\"\n          key: \"{}\"\nroutes:\n  - {{path_prefix: /v1, upstream: mock}}\nupstreams:\n  mock:\n    url: {}\nadmin:\n  bind: 127.0.0.1:0\ndiagnostics:\n  log_format: json\n",
                pki.cert_path.display(),
                pki.key_path.display(),
                up.url()
            ),
        true,
    );
    let base = gate.curl_args(Some(&pki.ca_path));
    let dir = tempfile::tempdir().unwrap();
    let body = dir.path().join("body");
    std::fs::write(&body, vec![b'x'; 256 * 1024]).unwrap();
    let data = format!("@{}", body.display());
    for (path, status, code) in [
        ("/nowhere", 404, "no_route"),
        ("/v1/%2e%2e/x", 400, "client_path_invalid"),
    ] {
        for with_body in [false, true] {
            let url = gate.url(path);
            let mut args: Vec<&str> = base.iter().map(String::as_str).collect();
            args.extend(["--http2", "--path-as-is"]);
            if with_body {
                args.extend(["--data-binary", &data]);
            }
            args.push(&url);
            let r = curl_http(&args);
            assert_eq!(
                r.status,
                status,
                "{path} body={with_body}: {}",
                r.raw.describe()
            );
            assert_eq!(r.json()["error"]["code"], code, "{path} body={with_body}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 6. PEM files: size and certificate-count caps
// ---------------------------------------------------------------------------------------------

#[test]
fn a_pem_file_with_thousands_of_certificates_is_refused() {
    let pki = TestPki::new();
    let fat = pki.dir.path().join("fat.pem");
    let mut text = pki.leaf.chain_pem.clone();
    text.push_str(&pki.ca.cert_pem.repeat(150));
    std::fs::write(&fat, &text).unwrap();
    let (st, out) = run_tlsgate(
        &["inspect", fat.to_str().unwrap(), "--format", "json"],
        pki.dir.path(),
        &[],
        Duration::from_secs(60),
    );
    assert!(!st.success(), "{}", out.all());
    assert!(out.all().contains("cert_file_too_large"), "{}", out.all());

    // serve refuses it too, and refuses a file over limits.max_cert_file_bytes.
    let up = MockUpstream::start();
    let mut cfg = GateConfig::tls(&pki, up.url());
    cfg.tls = Some((fat.clone(), pki.key_path.clone()));
    let mut gate = Tlsgate::spawn(&cfg);
    let status = gate.wait_exit(Duration::from_secs(30));
    assert!(!status.success());
    assert!(
        gate.output().contains("cert_file_too_large"),
        "{}",
        gate.output()
    );

    let padded = pki.dir.path().join("padded.pem");
    let mut text = "# padding\n".repeat(600);
    text.push_str(&pki.leaf.chain_pem);
    std::fs::write(&padded, text).unwrap();
    let mut cfg = GateConfig::tls(&pki, up.url());
    cfg.tls = Some((padded, pki.key_path.clone()));
    cfg.top_extra = "limits:\n  max_cert_file_bytes: 4KiB\n".into();
    let mut gate = Tlsgate::spawn(&cfg);
    let status = gate.wait_exit(Duration::from_secs(30));
    assert!(!status.success());
    assert!(
        gate.output().contains("cert_file_too_large"),
        "{}",
        gate.output()
    );
}

// ---------------------------------------------------------------------------------------------
// 7. Access-log redaction
// ---------------------------------------------------------------------------------------------

#[test]
fn path_parameters_and_valueless_query_tokens_never_reach_the_log() {
    let up = MockUpstream::start();
    let gate = Tlsgate::start(&GateConfig::plain(up.url()));
    let secrets = [
        "PathParamSecret0123456789",
        "ValuelessTokenSecret0123456",
        "QueryValueSecret0123456789",
        "SegmentAfterKeySecret01234",
    ];
    let target = format!(
        "/v1;api_key={}/echo?{}&key={}",
        secrets[0], secrets[1], secrets[2]
    );
    let _ = get(listen_addr(&gate), &target);
    let _ = get(listen_addr(&gate), &format!("/v1/key/{}/x", secrets[3]));
    let logged = gate.wait_for_log(Duration::from_secs(5), |l| {
        l["event"] == "request" && l["path"].as_str().is_some_and(|p| p.contains("/x"))
    });
    assert!(logged.is_some(), "{}", gate.output());
    let out = gate.output();
    for s in secrets {
        assert!(!out.contains(s), "{s} reached the log:\n{out}");
    }
    assert!(
        out.contains("/v1;api_key=REDACTED/echo?REDACTED&key=REDACTED"),
        "{out}"
    );
}

// ---------------------------------------------------------------------------------------------
// 8. Admin API guards
// ---------------------------------------------------------------------------------------------

fn admin_raw(gate: &Tlsgate, request: &str) -> Raw {
    exchange(([127, 0, 0, 1], gate.admin_port).into(), request)
}

#[test]
fn admin_refuses_foreign_hosts_and_cross_site_reloads_and_answers_head() {
    let up = MockUpstream::start();
    let gate = Tlsgate::start(&GateConfig::plain(up.url()));
    let a = gate.admin_port;
    for host in ["evil.test", &format!("rebind.evil.test:{a}")] {
        let r = admin_raw(
            &gate,
            &format!("GET /status HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
        );
        assert_eq!(r.status, 403, "{}", r.all);
        assert!(r.body.contains("admin_host_refused"), "{}", r.all);
    }
    for host in [
        format!("127.0.0.1:{a}"),
        format!("localhost:{a}"),
        "[::1]".into(),
    ] {
        let r = admin_raw(
            &gate,
            &format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
        );
        assert_eq!(r.status, 200, "{host}: {}", r.all);
    }
    let post = |extra: &str| {
        admin_raw(
            &gate,
            &format!("POST /reload HTTP/1.1\r\nHost: 127.0.0.1:{a}\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n"),
        )
    };
    let r = post("");
    assert_eq!(r.status, 403, "{}", r.all);
    let r = post("Content-Type: application/x-www-form-urlencoded\r\n");
    assert_eq!(r.status, 415, "{}", r.all);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(post("Content-Type: application/json\r\n").status, 200);
    assert_eq!(post("X-Tlsgate: 1\r\n").status, 200);

    let r = admin_raw(
        &gate,
        &format!("HEAD /healthz HTTP/1.1\r\nHost: 127.0.0.1:{a}\r\nConnection: close\r\n\r\n"),
    );
    assert_eq!(r.status, 200, "{}", r.all);
    assert!(r.body.is_empty(), "{}", r.all);
}
