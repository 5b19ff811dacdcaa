//! `tlsgate serve` as a proxy, driven by real clients (curl, openssl s_client, the Python
//! OpenAI SDK, a WebSocket client) over real TLS to an in-process mock upstream.

use crate::support;

use std::process::Command;
use std::time::Duration;

use crate::support::*;

/// Joins owned and borrowed args for the curl helpers.
fn args<'a>(owned: &'a [String], extra: &[&'a str]) -> Vec<&'a str> {
    owned
        .iter()
        .map(|s| s.as_str())
        .chain(extra.iter().copied())
        .collect()
}

fn start_tls_gate(pki: &TestPki, up: &MockUpstream) -> Tlsgate {
    Tlsgate::start(&GateConfig::tls(pki, up.url()))
}

#[test]
fn curl_gets_upstream_body_over_h2_and_http11() {
    let pki = TestPki::new();
    let up = MockUpstream::start();
    let gate = start_tls_gate(&pki, &up);
    let base = gate.curl_args(Some(&pki.ca_path));
    let url = gate.url("/v1/models");

    // Default negotiation.
    let r = curl_http(&args(&base, &[&url]));
    assert_eq!(r.status, 200, "{}", r.raw.describe());
    let v = r.json();
    assert_eq!(v["object"], "list", "body: {}", r.body);
    assert_eq!(v["data"][0]["id"], "gpt-mock", "body: {}", r.body);

    // --http2 negotiates h2 through ALPN.
    let out = curl(&args(
        &base,
        &["--http2", "-o", "/dev/null", "-w", "%{http_version}", &url],
    ));
    assert!(out.ok(), "{}", out.describe());
    assert_eq!(out.stdout.trim(), "2", "{}", out.describe());

    // --http1.1 works too.
    let out = curl(&args(
        &base,
        &["--http1.1", "-w", "\n%{http_version} %{http_code}", &url],
    ));
    assert!(out.ok(), "{}", out.describe());
    assert!(
        out.stdout.trim_end().ends_with("1.1 200"),
        "{}",
        out.describe()
    );
    assert!(out.stdout.contains("gpt-mock-mini"), "{}", out.describe());

    assert_eq!(
        up.count("/v1/models"),
        3,
        "mock should have seen exactly the three requests"
    );
}

#[test]
fn every_method_and_query_forwarded() {
    let pki = TestPki::new();
    let up = MockUpstream::start();
    let gate = start_tls_gate(&pki, &up);
    let base = gate.curl_args(Some(&pki.ca_path));
    for method in ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] {
        let url = gate.url("/echo/?a=1&b=two");
        let r = curl_http(&args(&base, &["-X", method, &url]));
        // /echo/ (trailing slash) is not a mock route: the 404 from the mock must come through
        // unchanged, proving the path is forwarded as sent.
        assert_eq!(r.status, 404, "{method}: {}", r.raw.describe());
        assert_eq!(up.last_request().unwrap().method, method);
        assert_eq!(up.last_request().unwrap().uri, "/echo/?a=1&b=two");
        let url = gate.url("/echo?a=1&b=two");
        let r = curl_http(&args(&base, &["-X", method, &url]));
        assert_eq!(r.status, 200, "{method}: {}", r.raw.describe());
        let v = r.json();
        assert_eq!(v["method"], method);
        assert_eq!(v["uri"], "/echo?a=1&b=two");
    }
}

/// The mock sends 5 SSE chunks 100 ms apart and then `[DONE]`. If tlsgate buffered the response
/// the client would receive everything at once; here the first chunk must arrive well before the
/// last (≥ 300 ms apart). A behavioural check for "no buffering", not a performance assertion.
#[test]
fn sse_chunks_arrive_as_they_are_sent() {
    let pki = TestPki::new();
    let up = MockUpstream::start();
    let gate = start_tls_gate(&pki, &up);
    let base = gate.curl_args(Some(&pki.ca_path));
    let url = gate.url("/v1/chat/completions");
    let body = r#"{"model":"gpt-mock","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    for proto in ["--http2", "--http1.1"] {
        let a = args(
            &base,
            &[
                proto,
                "-H",
                "content-type: application/json",
                "-d",
                body,
                &url,
            ],
        );
        let (lines, status, stderr) = curl_stream(&a);
        assert!(status.success(), "{proto}: curl failed: {stderr}");
        let data: Vec<&TimedLine> = lines
            .iter()
            .filter(|l| l.line.starts_with("data:"))
            .collect();
        let all: Vec<&str> = lines.iter().map(|l| l.line.as_str()).collect();
        assert_eq!(
            data.len(),
            6,
            "{proto}: expected 5 chunks + [DONE], got {all:#?}"
        );
        assert_eq!(
            data.last().unwrap().line,
            "data: [DONE]",
            "{proto}: {all:#?}"
        );
        for (i, l) in data[..5].iter().enumerate() {
            let v: serde_json::Value =
                serde_json::from_str(l.line.trim_start_matches("data:").trim())
                    .unwrap_or_else(|e| panic!("{proto}: chunk {i} not JSON ({e}): {}", l.line));
            assert_eq!(v["object"], "chat.completion.chunk");
        }
        let spread = data.last().unwrap().at.duration_since(data[0].at);
        assert!(
            spread >= Duration::from_millis(300),
            "{proto}: first and last SSE chunk arrived only {spread:?} apart: the response was buffered"
        );
    }
}

#[test]
fn hop_by_hop_stripped_forwarding_headers_set_and_key_injected() {
    let pki = TestPki::new();
    let up = MockUpstream::start();
    let mut cfg = GateConfig::tls(&pki, up.url());
    cfg.upstream_extra = "    set_headers:\n      authorization: \"Bearer ${TEST_KEY}\"\n".into();
    cfg.env
        .push(("TEST_KEY".into(), "test-injected-key-123".into()));
    let gate = Tlsgate::start(&cfg);
    let base = gate.curl_args(Some(&pki.ca_path));
    let url = gate.url("/echo?x=1");
    let r = curl_http(&args(
        &base,
        &[
            "--http1.1",
            "-H",
            "Connection: x-foo",
            "-H",
            "x-foo: must-not-pass",
            "-H",
            "Keep-Alive: timeout=5",
            "-H",
            "TE: deflate",
            "-H",
            "Proxy-Authorization: Basic dXNlcjpwYXNz",
            "-H",
            "Upgrade: h2c",
            "-H",
            "Authorization: Bearer client-dummy-key",
            "-H",
            "x-end-to-end: kept",
            "-H",
            "OpenAI-Organization: org-mock",
            &url,
        ],
    ));
    assert_eq!(r.status, 200, "{}", r.raw.describe());
    let v = r.json();
    let h = &v["headers"];
    for hop in [
        "connection",
        "x-foo",
        "keep-alive",
        "proxy-authorization",
        "upgrade",
    ] {
        assert!(
            h.get(hop).is_none(),
            "hop-by-hop header {hop:?} reached the upstream: {h:#}"
        );
    }
    // TE is hop-by-hop; the only value a proxy may legitimately send on its own is "trailers".
    if let Some(te) = h.get("te") {
        assert_eq!(
            te, "trailers",
            "client's TE header reached the upstream: {h:#}"
        );
    }
    assert_eq!(
        v["authority"],
        format!("127.0.0.1:{}", up.port()),
        "Host must be the upstream's authority: {v:#}"
    );
    let xff = h["x-forwarded-for"]
        .as_str()
        .unwrap_or_else(|| panic!("no x-forwarded-for: {h:#}"));
    assert!(xff.contains("127.0.0.1"), "x-forwarded-for: {xff}");
    assert_eq!(h["x-forwarded-proto"], "https", "{h:#}");
    assert_eq!(
        h["x-forwarded-host"],
        format!("localhost:{}", gate.listen_port),
        "{h:#}"
    );
    assert_eq!(
        h["authorization"], "Bearer test-injected-key-123",
        "set_headers must replace the client's Authorization: {h:#}"
    );
    assert_eq!(h["x-end-to-end"], "kept", "{h:#}");
    assert_eq!(h["openai-organization"], "org-mock", "{h:#}");
    assert_eq!(v["uri"], "/echo?x=1");

    // The injected key and the client's dummy key never reach the logs.
    let out = gate.output();
    assert!(
        !out.contains("test-injected-key-123"),
        "injected key leaked into the output:\n{out}"
    );
    assert!(
        !out.contains("client-dummy-key"),
        "client key leaked into the output:\n{out}"
    );
}

#[test]
fn upstream_response_headers_preserved() {
    let pki = TestPki::new();
    let up = MockUpstream::start();
    let gate = start_tls_gate(&pki, &up);
    let base = gate.curl_args(Some(&pki.ca_path));
    for proto in ["--http2", "--http1.1"] {
        let url = gate.url("/headers");
        let r = curl_http(&args(&base, &[proto, &url]));
        assert_eq!(r.status, 200, "{}", r.raw.describe());
        assert_eq!(
            r.header("x-request-id").as_deref(),
            Some("req-mock-headers"),
            "{proto}: {:?}",
            r.headers
        );
        assert_eq!(
            r.header("openai-processing-ms").as_deref(),
            Some("42"),
            "{proto}: {:?}",
            r.headers
        );
        assert_eq!(
            r.header("x-ratelimit-remaining-requests").as_deref(),
            Some("99"),
            "{proto}: {:?}",
            r.headers
        );
        assert_eq!(
            r.header("retry-after").as_deref(),
            Some("7"),
            "{proto}: {:?}",
            r.headers
        );
        assert_eq!(r.body, "{\"ok\":true}");
    }
}

#[test]
fn request_body_of_20_mib_is_forwarded_intact() {
    let pki = TestPki::new();
    let up = MockUpstream::start();
    let gate = start_tls_gate(&pki, &up);
    let base = gate.curl_args(Some(&pki.ca_path));
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("upload.bin");
    let size = 20 * 1024 * 1024;
    let content: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    let expected_sha256 = support::fingerprint(&content);
    std::fs::write(&file, &content).unwrap();
    let at_file = format!("@{}", file.display());
    let url = gate.url("/echo");
    for proto in ["--http2", "--http1.1"] {
        let r = curl_http(&args(
            &base,
            &[
                proto,
                "-H",
                "content-type: application/octet-stream",
                "--data-binary",
                &at_file,
                &url,
            ],
        ));
        assert_eq!(r.status, 200, "{proto}: {}", r.raw.describe());
        assert_eq!(r.json()["body_len"], size as u64, "{proto}: {}", r.body);
        assert_eq!(
            r.json()["body_sha256"],
            expected_sha256,
            "{proto}: bytes changed"
        );
        assert_eq!(r.json()["method"], "POST");
    }
}

#[test]
fn large_response_body_is_streamed_through() {
    let pki = TestPki::new();
    let up = MockUpstream::start();
    let gate = start_tls_gate(&pki, &up);
    let base = gate.curl_args(Some(&pki.ca_path));
    let bytes = 8 * 1024 * 1024;
    let url = gate.url(&format!("/big?bytes={bytes}"));
    let out = curl(&args(
        &base,
        &[
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{size_download}",
            &url,
        ],
    ));
    assert!(out.ok(), "{}", out.describe());
    assert_eq!(
        out.stdout.trim(),
        format!("200 {bytes}"),
        "{}",
        out.describe()
    );
}

#[test]
fn tls_upstream_with_private_ca_in_ca_bundle() {
    let front = TestPki::new();
    let back = TestPki::with_ca_name("upstream private root");
    let up = MockUpstream::start_tls(&back.leaf);
    let mut cfg = GateConfig::tls(&front, up.url());
    cfg.upstream_extra = format!(
        "    tls:\n      ca_bundle: \"{}\"\n",
        back.ca_path.display()
    );
    let gate = Tlsgate::start(&cfg);
    let base = gate.curl_args(Some(&front.ca_path));
    let url = gate.url("/echo");
    let r = curl_http(&args(&base, &[&url]));
    assert_eq!(
        r.status,
        200,
        "{}\ntlsgate output:\n{}",
        r.raw.describe(),
        gate.output()
    );
    assert_eq!(
        r.json()["authority"],
        format!("localhost:{}", up.port()),
        "{}",
        r.body
    );
    assert_eq!(up.tls_failures(), 0);
}

const OPENAI_SCRIPT: &str = r#"
import json, sys
import openai
c = openai.OpenAI(base_url=sys.argv[1], api_key="sk-test", max_retries=0, timeout=20.0)
r = c.chat.completions.create(model="gpt-mock", messages=[{"role": "user", "content": "hi"}])
out = {"content": r.choices[0].message.content, "request_id": getattr(r, "_request_id", None)}
chunks = []
s = c.chat.completions.create(model="gpt-mock", messages=[{"role": "user", "content": "hi"}], stream=True)
for ch in s:
    if ch.choices:
        chunks.append(ch.choices[0].delta.content or "")
out["chunks"] = chunks
out["models"] = [m.id for m in c.models.list().data]
print(json.dumps(out))
"#;

#[test]
fn openai_python_sdk_chat_and_stream() {
    if !python_has_openai() {
        if std::env::var_os("TLSGATE_REQUIRE_PYTHON").is_some() {
            panic!("TLSGATE_REQUIRE_PYTHON is set but `python3 -c 'import openai'` fails: run scripts/install-test-deps.sh");
        }
        eprintln!("SKIPPED openai_python_sdk_chat_and_stream: python3 with the `openai` package is not available (run scripts/install-test-deps.sh)");
        return;
    }
    let pki = TestPki::new();
    let up = MockUpstream::start();
    let gate = start_tls_gate(&pki, &up);
    let mut cmd = Command::new("python3");
    scrub(&mut cmd);
    cmd.arg("-c")
        .arg(OPENAI_SCRIPT)
        .arg(format!("https://localhost:{}/v1", gate.listen_port))
        .env("SSL_CERT_FILE", &pki.ca_path);
    let (status, stdout, stderr) = run_with_timeout(cmd, Duration::from_secs(60));
    assert!(
        status.success(),
        "python openai client failed:\n{stderr}\n{stdout}\ntlsgate:\n{}",
        gate.output()
    );
    let v: serde_json::Value = serde_json::from_str(stdout.trim().lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("bad script output ({e}): {stdout}"));
    assert_eq!(v["content"], "Hello from the mock upstream", "{v}");
    assert_eq!(
        v["request_id"], "req-mock-123",
        "x-request-id must reach the SDK: {v}"
    );
    assert_eq!(
        v["chunks"],
        serde_json::json!(["c0", " c1", " c2", " c3", " c4"]),
        "{v}"
    );
    assert!(
        v["models"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m == "gpt-mock"),
        "{v}"
    );
}

#[test]
fn openssl_s_client_sees_certificate_and_alpn_h2() {
    let pki = TestPki::new();
    let up = MockUpstream::start();
    let gate = start_tls_gate(&pki, &up);
    let mut cmd = Command::new("openssl");
    cmd.args(["s_client", "-connect"])
        .arg(format!("127.0.0.1:{}", gate.listen_port))
        .args(["-servername", "localhost", "-alpn", "h2", "-CAfile"])
        .arg(&pki.ca_path);
    // stdin is /dev/null: s_client completes the handshake, prints its report and exits.
    let (_status, stdout, stderr) = run_with_timeout(cmd, Duration::from_secs(20));
    let all = format!("{stdout}\n{stderr}");
    assert!(
        all.contains("CN = localhost") || all.contains("CN=localhost"),
        "no subject CN=localhost:\n{all}"
    );
    assert!(
        all.contains("ALPN protocol: h2"),
        "ALPN h2 not negotiated:\n{all}"
    );
    assert!(
        all.contains("Verify return code: 0 (ok)"),
        "chain did not verify against the test CA:\n{all}"
    );
}

#[test]
fn websocket_upgrade_passes_through() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let pki = TestPki::new();
    let up = MockUpstream::start();
    let gate = start_tls_gate(&pki, &up);
    let port = gate.listen_port;
    let client_cfg = std::sync::Arc::new(pki.client_config(&[b"http/1.1"]));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let result: Result<String, String> = rt.block_on(async move {
        tokio::time::timeout(Duration::from_secs(20), async move {
            let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .map_err(|e| e.to_string())?;
            let connector = tokio_rustls::TlsConnector::from(client_cfg);
            let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
            let tls = connector
                .connect(name, tcp)
                .await
                .map_err(|e| format!("tls: {e}"))?;
            let url = format!("wss://localhost:{port}/ws");
            let (mut ws, resp) = tokio_tungstenite::client_async(url, tls)
                .await
                .map_err(|e| format!("websocket handshake: {e}"))?;
            if resp.status() != 101 {
                return Err(format!("status {}", resp.status()));
            }
            ws.send(Message::text("hello through tlsgate"))
                .await
                .map_err(|e| e.to_string())?;
            let reply = ws
                .next()
                .await
                .ok_or("closed")?
                .map_err(|e| e.to_string())?;
            let _ = ws.close(None).await;
            Ok(reply.into_text().map_err(|e| e.to_string())?.to_string())
        })
        .await
        .map_err(|_| "timed out".to_string())?
    });
    let reply = result.unwrap_or_else(|e| {
        panic!(
            "websocket via tlsgate failed: {e}\ntlsgate:\n{}",
            gate.output()
        )
    });
    assert_eq!(reply, "hello through tlsgate");
    assert_eq!(up.count("/ws"), 1);
}

#[test]
fn content_encoding_and_bytes_pass_through_untouched() {
    let pki = TestPki::new();
    let up = MockUpstream::start();
    let gate = start_tls_gate(&pki, &up);
    let base = gate.curl_args(Some(&pki.ca_path));
    let tmp = tempfile::tempdir().unwrap();
    for proto in ["--http2", "--http1.1"] {
        let hdr = tmp.path().join("h");
        let body = tmp.path().join("b");
        let url = gate.url("/gzip");
        // No --compressed: curl stores the raw bytes it received.
        let out = curl(&args(
            &base,
            &[
                proto,
                "-H",
                "accept-encoding: gzip",
                "-D",
                hdr.to_str().unwrap(),
                "-o",
                body.to_str().unwrap(),
                &url,
            ],
        ));
        assert!(out.ok(), "{proto}: {}", out.describe());
        let headers = std::fs::read_to_string(&hdr).unwrap().to_ascii_lowercase();
        assert!(
            headers.contains("content-encoding: gzip"),
            "{proto}: Content-Encoding dropped:\n{headers}"
        );
        assert_eq!(
            std::fs::read(&body).unwrap(),
            GZIP_BYTES,
            "{proto}: body bytes changed"
        );
    }
}

/// `http_version` towards the upstream is honoured (TLS upstream offering h2 and http/1.1).
#[test]
fn upstream_http_version_setting_is_honoured() {
    let front = TestPki::new();
    let back = TestPki::with_ca_name("upstream private root");
    let up = MockUpstream::start_tls(&back.leaf);
    for (setting, expected) in [("http1", "HTTP/1.1"), ("http2", "HTTP/2.0")] {
        let mut cfg = GateConfig::tls(&front, up.url());
        cfg.upstream_extra = format!(
            "    http_version: {setting}\n    tls:\n      ca_bundle: \"{}\"\n",
            back.ca_path.display()
        );
        let gate = Tlsgate::start(&cfg);
        let base = gate.curl_args(Some(&front.ca_path));
        for proto in ["--http2", "--http1.1"] {
            let r = curl_http(&args(&base, &[proto, &gate.url("/echo")]));
            assert_eq!(
                r.status,
                200,
                "{setting} {proto}: {}\n{}",
                r.raw.describe(),
                gate.output()
            );
            assert_eq!(
                r.json()["version"],
                expected,
                "{setting} {proto}: upstream saw {}",
                r.body
            );
        }
    }
}

#[test]
fn sse_response_headers_survive() {
    let pki = TestPki::new();
    let up = MockUpstream::start();
    let gate = start_tls_gate(&pki, &up);
    let base = gate.curl_args(Some(&pki.ca_path));
    let body = r#"{"model":"gpt-mock","stream":true,"messages":[]}"#;
    let r = curl_http(&args(
        &base,
        &[
            "-H",
            "content-type: application/json",
            "-d",
            body,
            &gate.url("/v1/chat/completions"),
        ],
    ));
    assert_eq!(r.status, 200, "{}", r.raw.describe());
    assert!(
        r.header("content-type")
            .unwrap_or_default()
            .starts_with("text/event-stream"),
        "{:?}",
        r.headers
    );
    assert_eq!(
        r.header("x-request-id").as_deref(),
        Some("req-mock-stream"),
        "{:?}",
        r.headers
    );
    assert!(
        r.header("content-encoding").is_none(),
        "no compression may be added to SSE: {:?}",
        r.headers
    );
    assert!(r.body.ends_with("data: [DONE]\n\n"), "{}", r.body);
}

#[test]
fn upstream_connections_are_pooled_and_counted() {
    let up = MockUpstream::start();
    let mut cfg = GateConfig::plain(up.url());
    // One serving thread, so one pool: every request after the first reuses its connection.
    cfg.env = vec![("TLSGATE_WORKERS".into(), "1".into())];
    let gate = Tlsgate::start(&cfg);
    for _ in 0..20 {
        let r = curl_http(&[&gate.url("/v1/models")]);
        assert_eq!(r.status, 200, "{}", r.raw.describe());
    }
    let (_, metrics) = support::raw_http_get(
        ([127, 0, 0, 1], gate.admin_port).into(),
        "/metrics",
        Duration::from_secs(5),
    )
    .unwrap();
    let line = metrics
        .lines()
        .find(|l| l.starts_with("tlsgate_upstream_connections_total{upstream=\"mock\"}"))
        .unwrap_or_else(|| panic!("no connection counter in\n{metrics}"));
    let opened: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert_eq!(
        opened, 1,
        "20 sequential requests should share one pooled connection: {line}"
    );
}
