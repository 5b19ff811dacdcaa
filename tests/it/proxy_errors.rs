//! `tlsgate serve` failure behaviour: the errors a client receives (OpenAI-shaped JSON, status,
//! `x-should-retry`), mid-stream failures, cancellation, limits, config errors, graceful
//! shutdown, the access log and its redaction, and the built-in dev default.

use std::time::{Duration, Instant};

use crate::support::*;

fn args<'a>(owned: &'a [String], extra: &[&'a str]) -> Vec<&'a str> {
    owned
        .iter()
        .map(|s| s.as_str())
        .chain(extra.iter().copied())
        .collect()
}

/// Checks the OpenAI error shape and returns the `error` object.
fn assert_openai_error(r: &HttpResult, status: u16) -> serde_json::Value {
    assert_eq!(r.status, status, "{}", r.raw.describe());
    let ct = r.header("content-type").unwrap_or_default();
    assert!(
        ct.starts_with("application/json"),
        "content-type {ct:?}: {}",
        r.raw.describe()
    );
    let v = r.json();
    let e = v["error"].clone();
    assert!(e.is_object(), "no error object: {}", r.body);
    assert_eq!(e["type"], "tlsgate_error", "{}", r.body);
    assert!(
        e.get("param").is_some_and(|p| p.is_null()),
        "param must be present and null: {}",
        r.body
    );
    assert!(
        e["message"].as_str().is_some_and(|m| !m.is_empty()),
        "message: {}",
        r.body
    );
    assert!(e["code"].as_str().is_some(), "code: {}", r.body);
    e
}

fn logs_with(gate: &Tlsgate, event: &str, code: &str) -> Option<serde_json::Value> {
    gate.wait_for_log(Duration::from_secs(5), |l| {
        l["event"] == event && l["code"] == code
    })
}

#[test]
fn upstream_refused_is_502_transient() {
    let pki = TestPki::new();
    let refused = RefusedPort::bind(); // nothing listens here
    let closed = refused.port;
    let gate = Tlsgate::start(&GateConfig::tls(&pki, format!("http://127.0.0.1:{closed}")));
    let base = gate.curl_args(Some(&pki.ca_path));
    let url = gate.url("/v1/models");
    for proto in ["--http2", "--http1.1"] {
        let r = curl_http(&args(&base, &[proto, &url]));
        let e = assert_openai_error(&r, 502);
        assert_eq!(e["code"], "upstream_refused", "{proto}: {}", r.body);
        let msg = e["message"].as_str().unwrap();
        assert!(
            msg.starts_with("tlsgate: "),
            "summary detail is the default: {msg}"
        );
        assert!(
            !msg.contains(&format!("127.0.0.1:{closed}")),
            "internal address leaked (detail=summary): {msg}"
        );
        assert_ne!(
            r.header("x-should-retry").as_deref(),
            Some("false"),
            "refused is transient: {:?}",
            r.headers
        );
    }
    assert!(
        logs_with(&gate, "upstream_error", "upstream_refused").is_some(),
        "no upstream_error log with code upstream_refused:\n{}",
        gate.output()
    );
}

#[test]
fn upstream_cert_from_unknown_ca_is_502_not_retryable() {
    let front = TestPki::new();
    let other = TestPki::with_ca_name("some unknown private root");
    let up = MockUpstream::start_tls(&other.leaf);
    let gate = Tlsgate::start(&GateConfig::tls(&front, up.url()));
    let base = gate.curl_args(Some(&front.ca_path));
    let r = curl_http(&args(
        &base,
        &[&gate.url("/v1/chat/completions"), "-d", "{}"],
    ));
    let e = assert_openai_error(&r, 502);
    let code = e["code"].as_str().unwrap().to_string();
    let trust_codes = [
        "upstream_untrusted_root",
        "upstream_chain_incomplete",
        "upstream_self_signed",
        "upstream_tls_inspection",
    ];
    assert!(
        trust_codes.contains(&code.as_str()),
        "expected a trust finding, got {code}: {}",
        r.body
    );
    assert_eq!(
        r.header("x-should-retry").as_deref(),
        Some("false"),
        "trust failures are not retryable: {:?}",
        r.headers
    );
    assert_eq!(
        up.count("/v1/chat/completions"),
        0,
        "no request may reach an unverified upstream"
    );
    assert!(
        logs_with(&gate, "upstream_tls_failed", &code).is_some(),
        "no upstream_tls_failed log with code {code}:\n{}",
        gate.output()
    );
}

#[test]
fn first_byte_timeout_is_504() {
    let pki = TestPki::new();
    let up = MockUpstream::start();
    let mut cfg = GateConfig::tls(&pki, up.url());
    cfg.upstream_extra = "    timeouts: { first_byte: 1s }\n".into();
    let gate = Tlsgate::start(&cfg);
    let base = gate.curl_args(Some(&pki.ca_path));
    let t = Instant::now();
    let r = curl_http(&args(&base, &[&gate.url("/slow?ms=3000")]));
    let took = t.elapsed();
    let e = assert_openai_error(&r, 504);
    assert_eq!(e["code"], "upstream_timeout", "{}", r.body);
    assert_ne!(
        r.header("x-should-retry").as_deref(),
        Some("false"),
        "timeouts are transient"
    );
    // Behavioural: the 504 comes from the 1 s timeout, not from the upstream finishing at 3 s.
    assert!(
        took < Duration::from_millis(2900),
        "504 only after {took:?}"
    );
}

#[test]
fn upstream_dying_mid_sse_ends_with_error_event() {
    let pki = TestPki::new();
    let up = MockUpstream::start();
    let gate = Tlsgate::start(&GateConfig::tls(&pki, up.url()));
    let base = gate.curl_args(Some(&pki.ca_path));
    let url = gate.url("/stream-then-die");
    for proto in ["--http2", "--http1.1"] {
        let (lines, _status, stderr) = curl_stream(&args(
            &base,
            &[proto, "-H", "accept: text/event-stream", &url],
        ));
        let data: Vec<&str> = lines
            .iter()
            .map(|l| l.line.as_str())
            .filter(|l| l.starts_with("data:"))
            .collect();
        assert!(
            data.len() >= 3,
            "{proto}: expected 2 chunks and an error event, got {data:#?} ({stderr})"
        );
        for chunk in &data[..2] {
            let v: serde_json::Value =
                serde_json::from_str(chunk.trim_start_matches("data:").trim()).unwrap();
            assert_eq!(v["object"], "chat.completion.chunk", "{proto}: {chunk}");
        }
        let err_line = data[2];
        assert!(
            err_line.starts_with("data: {\"error\":") || err_line.starts_with("data:{\"error\":"),
            "{proto}: third event must be an error event, got {err_line}"
        );
        let v: serde_json::Value =
            serde_json::from_str(err_line.trim_start_matches("data:").trim())
                .unwrap_or_else(|e| panic!("{proto}: error event is not JSON ({e}): {err_line}"));
        assert_eq!(v["error"]["type"], "tlsgate_error", "{proto}: {v}");
        assert_eq!(
            v["error"]["code"], "upstream_connection_reset",
            "{proto}: {v}"
        );
        assert!(
            !data.iter().any(|l| l.contains("[DONE]")),
            "{proto}: a [DONE] would look like success: {data:#?}"
        );
    }
}

#[test]
fn client_disconnect_cancels_upstream_request() {
    let pki = TestPki::new();
    let up = MockUpstream::start();
    let gate = Tlsgate::start(&GateConfig::tls(&pki, up.url()));
    let base = gate.curl_args(Some(&pki.ca_path));
    let url = gate.url("/slow?ms=4000");
    for (i, proto) in ["--http2", "--http1.1"].into_iter().enumerate() {
        let expected_aborts = i + 1;
        let before = up.count("/slow");
        let out = curl(&args(&base, &[proto, "--max-time", "1", &url]));
        assert!(
            !out.ok(),
            "{proto}: curl should have given up after 1 s: {}",
            out.describe()
        );
        assert_eq!(
            up.count("/slow"),
            before + 1,
            "{proto}: the request never reached the upstream"
        );
        // The upstream would answer at 4 s; the issue asks that the upstream sees its request
        // closed within a second of the client leaving (curl leaves at 1 s).
        let seen = wait_until(Duration::from_millis(1000), || {
            (up.aborted_count() >= expected_aborts).then_some(())
        });
        assert!(
            seen.is_some(),
            "{proto}: upstream request not cancelled after client disconnect (aborted={}, completed={})\n{}",
            up.aborted_count(),
            up.completed_slow_count(),
            gate.output()
        );
    }
    assert_eq!(up.completed_slow_count(), 0);

    // A streaming completion abandoned mid-stream stops the upstream's stream too.
    let body = r#"{"model":"gpt-mock","stream":true,"messages":[]}"#;
    let url = gate.url("/v1/chat/completions");
    let before = up.aborted_count();
    let out = curl(&args(
        &base,
        &["-N", "--max-time", "0.25", "-d", body, &url],
    ));
    assert!(
        !out.ok(),
        "curl should have given up mid-stream: {}",
        out.describe()
    );
    assert!(
        wait_until(Duration::from_secs(3), || (up.aborted_count() > before)
            .then_some(()))
        .is_some(),
        "the upstream SSE stream kept going after the client left"
    );
}

#[test]
fn plain_http_listener_proxies() {
    let up = MockUpstream::start();
    let gate = Tlsgate::start(&GateConfig::plain(up.url()));
    let r = curl_http(&[&gate.url("/echo?p=1"), "-H", "x-test: plain"]);
    assert_eq!(r.status, 200, "{}", r.raw.describe());
    let v = r.json();
    assert_eq!(v["uri"], "/echo?p=1");
    assert_eq!(v["headers"]["x-test"], "plain");
    assert_eq!(v["headers"]["x-forwarded-proto"], "http");
    let r = curl_http(&[&gate.url("/v1/models")]);
    assert_eq!(r.json()["data"][0]["id"], "gpt-mock");
}

/// Writes `yaml` to a tempdir and runs `tlsgate serve -c` on it; it must exit by itself.
fn serve_with_yaml(yaml: &str) -> (std::process::ExitStatus, Captured, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tlsgate.yaml");
    std::fs::write(&path, yaml).unwrap();
    let (st, cap) = run_tlsgate(
        &["serve", "-c", path.to_str().unwrap()],
        dir.path(),
        &[],
        Duration::from_secs(20),
    );
    (st, cap, dir)
}

/// A config that `serve` refuses before binding anything (each test breaks it somewhere);
/// nothing is ever reached at the upstream's port 1.
fn minimal_yaml(upstream_extra: &str, cert: &str, key: &str) -> String {
    format!(
        "listeners:\n  - name: main\n    bind: 127.0.0.1:0\n    tls:\n      certificates:\n        - cert: \"{cert}\"\n          key: \"{key}\"\nupstreams:\n  mock:\n    url: http://127.0.0.1:1\n{upstream_extra}admin:\n  bind: 127.0.0.1:0\ndiagnostics:\n  log_format: json\n"
    )
}

#[test]
fn config_unknown_key_fails_with_line_and_column() {
    let pki = TestPki::new();
    let yaml = minimal_yaml(
        "    retries_per_request: 3\n",
        &pki.cert_path.display().to_string(),
        &pki.key_path.display().to_string(),
    );
    let line = yaml
        .lines()
        .position(|l| l.contains("retries_per_request"))
        .unwrap()
        + 1;
    let col = 5;
    let (st, cap, _d) = serve_with_yaml(&yaml);
    assert_eq!(
        st.code(),
        Some(1),
        "serve must exit 1 on an unknown key:\n{}",
        cap.all()
    );
    let err = cap.stderr();
    assert!(
        err.contains("retries_per_request"),
        "stderr must name the key:\n{err}"
    );
    assert!(
        err.contains(&format!("{line}:{col}")) || err.contains(&format!("line {line}")),
        "stderr must give the line {line} (and column {col}):\n{err}"
    );
    assert!(
        err.contains(&format!("{line}:{col}"))
            || err.contains(&format!("column {col}"))
            || err.contains(&format!("col {col}")),
        "stderr must give the column {col}:\n{err}"
    );
}

#[test]
fn config_bad_duration_is_named_with_its_place() {
    let pki = TestPki::new();
    let yaml = minimal_yaml(
        "    timeouts: {first_byte: soonish}\n",
        &pki.cert_path.display().to_string(),
        &pki.key_path.display().to_string(),
    );
    let line = yaml.lines().position(|l| l.contains("soonish")).unwrap() + 1;
    let (st, cap, _d) = serve_with_yaml(&yaml);
    assert_eq!(st.code(), Some(1), "serve must exit 1:\n{}", cap.all());
    let err = cap.stderr();
    assert!(
        err.contains(&format!(":{line}:")),
        "stderr must give line {line}:\n{err}"
    );
    assert!(err.contains("soonish") || err.contains("duration"), "{err}");
    assert!(
        !err.contains("\"event\":\"listening\""),
        "nothing may start:\n{err}"
    );
}

#[test]
fn config_missing_env_var_is_named() {
    let pki = TestPki::new();
    let yaml = minimal_yaml(
        "    set_headers:\n      authorization: \"Bearer ${TLSGATE_TEST_SURELY_MISSING_VAR}\"\n",
        &pki.cert_path.display().to_string(),
        &pki.key_path.display().to_string(),
    );
    let (st, cap, _d) = serve_with_yaml(&yaml);
    assert_eq!(st.code(), Some(1), "serve must exit 1:\n{}", cap.all());
    assert!(
        cap.stderr().contains("TLSGATE_TEST_SURELY_MISSING_VAR"),
        "stderr must name the missing variable:\n{}",
        cap.all()
    );
}

#[test]
fn config_missing_cert_file_refuses_to_start() {
    let pki = TestPki::new();
    let missing = pki.dir.path().join("does-not-exist.pem");
    let yaml = minimal_yaml(
        "",
        &missing.display().to_string(),
        &pki.key_path.display().to_string(),
    );
    let (st, cap, _d) = serve_with_yaml(&yaml);
    assert_eq!(st.code(), Some(1), "serve must exit 1:\n{}", cap.all());
    assert!(
        cap.all().contains("cert_file_unreadable"),
        "output must carry the finding code:\n{}",
        cap.all()
    );
}

#[test]
fn oversized_request_headers_get_431() {
    let pki = TestPki::new();
    let up = MockUpstream::start();
    let mut cfg = GateConfig::tls(&pki, up.url());
    cfg.top_extra = "limits:\n  max_request_header_bytes: 8KiB\n".into();
    let gate = Tlsgate::start(&cfg);
    let base = gate.curl_args(Some(&pki.ca_path));
    let url = gate.url("/echo");
    let small = format!("x-small: {}", "a".repeat(2 * 1024));
    let big = format!("x-big: {}", "b".repeat(12 * 1024));
    for proto in ["--http1.1", "--http2"] {
        let r = curl_http(&args(&base, &[proto, "-H", &small, &url]));
        assert_eq!(
            r.status,
            200,
            "{proto}: a 2 KiB header is within the limit: {}",
            r.raw.describe()
        );
        let before = up.count("/echo");
        let out = curl(&args(
            &base,
            &[
                proto,
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "-H",
                &big,
                &url,
            ],
        ));
        assert_eq!(out.stdout.trim(), "431", "{proto}: {}", out.describe());
        assert_eq!(
            up.count("/echo"),
            before,
            "{proto}: an oversized request must not be forwarded"
        );
    }
}

#[test]
fn sigterm_drains_in_flight_request_and_exits_0() {
    let pki = TestPki::new();
    let up = MockUpstream::start();
    let mut gate = Tlsgate::start(&GateConfig::tls(&pki, up.url()));
    let base = gate.curl_args(Some(&pki.ca_path));
    let url = gate.url("/slow?ms=1500");
    let handle = std::thread::spawn(move || {
        let a: Vec<&str> = base
            .iter()
            .map(|s| s.as_str())
            .chain(["-w", "\n%{http_code}", url.as_str()])
            .collect();
        curl(&a)
    });
    assert!(
        wait_until(Duration::from_secs(10), || (up.count("/slow") == 1)
            .then_some(()))
        .is_some(),
        "the slow request never reached the upstream"
    );
    gate.sigterm();
    let out = handle.join().unwrap();
    assert!(
        out.ok(),
        "in-flight request failed during drain: {}\ntlsgate:\n{}",
        out.describe(),
        gate.output()
    );
    assert!(out.stdout.trim_end().ends_with("200"), "{}", out.describe());
    assert!(
        out.stdout.contains("\"slept_ms\":1500"),
        "{}",
        out.describe()
    );
    let st = gate.wait_exit(Duration::from_secs(15));
    assert_eq!(
        st.code(),
        Some(0),
        "clean shutdown must exit 0:\n{}",
        gate.output()
    );
}

#[test]
fn access_log_has_fields_and_no_secrets() {
    let pki = TestPki::new();
    let up = MockUpstream::start();
    let gate = Tlsgate::start(&GateConfig::tls(&pki, up.url()));
    let base = gate.curl_args(Some(&pki.ca_path));
    let query_secret = "sk-abc123secret";
    let bearer_secret = "sk-proj-BearerSecretValue9876543210";
    let url = gate.url(&format!("/v1/models?api_key={query_secret}&limit=2"));
    let auth = format!("Authorization: Bearer {bearer_secret}");
    let r = curl_http(&args(
        &base,
        &["-H", &auth, "-H", "Cookie: session=cookie-secret-xyz", &url],
    ));
    assert_eq!(r.status, 200, "{}", r.raw.describe());
    let body_len = r.body.len() as u64;
    // The upstream did get the query and header untouched (redaction is for logs only).
    assert_eq!(
        up.last_request().unwrap().uri,
        format!("/v1/models?api_key={query_secret}&limit=2")
    );

    let line = gate
        .wait_for_log(Duration::from_secs(5), |l| {
            l["event"] == "request"
                && l["path"]
                    .as_str()
                    .is_some_and(|p| p.starts_with("/v1/models"))
        })
        .unwrap_or_else(|| panic!("no `request` access-log line:\n{}", gate.output()));
    assert!(
        line.get("timestamp").is_some() && line.get("level").is_some(),
        "{line}"
    );
    assert_eq!(line["method"], "GET", "{line}");
    assert_eq!(line["status"], 200, "{line}");
    assert_eq!(line["upstream"], "mock", "{line}");
    let path = line["path"].as_str().unwrap();
    assert!(
        path.contains("REDACTED"),
        "query values must be redacted: {path}"
    );
    assert!(path.contains("limit="), "query keys are kept: {path}");
    assert!(line["bytes_in"].is_u64(), "{line}");
    let out_bytes = line["bytes_out"]
        .as_u64()
        .unwrap_or_else(|| panic!("bytes_out: {line}"));
    assert!(
        out_bytes >= body_len,
        "bytes_out {out_bytes} < body {body_len}: {line}"
    );
    assert!(line["duration_ms"].is_number(), "{line}");
    assert!(line.get("request_id").is_some(), "{line}");

    // Also a POST with a body, so bytes_in is exercised.
    let body = r#"{"model":"gpt-mock","messages":[]}"#;
    let r = curl_http(&args(
        &base,
        &["-H", &auth, "-d", body, &gate.url("/v1/chat/completions")],
    ));
    assert_eq!(r.status, 200);
    let line = gate
        .wait_for_log(Duration::from_secs(5), |l| {
            l["event"] == "request" && l["method"] == "POST"
        })
        .unwrap_or_else(|| panic!("no POST access-log line:\n{}", gate.output()));
    assert_eq!(line["bytes_in"].as_u64(), Some(body.len() as u64), "{line}");

    let all = gate.output();
    for secret in [query_secret, bearer_secret, "cookie-secret-xyz"] {
        assert!(
            !all.contains(secret),
            "secret {secret:?} appears in tlsgate's output:\n{all}"
        );
    }
}

/// The built-in default: no config file, only `--upstream` and `--listen` (port 0).
/// NOTE: the admin API then binds its default 127.0.0.1:9901; this test relies on that port
/// being free (true on CI; not if another tlsgate runs on the machine).
#[test]
fn builtin_default_creates_and_reuses_dev_ca() {
    let up = MockUpstream::start();
    let work = tempfile::tempdir().unwrap();
    let ca = work.path().join(".tlsgate/certs/ca.pem");
    let mut first_ca = String::new();
    for round in 0..2 {
        let args = vec![
            "serve".to_string(),
            "--upstream".to_string(),
            up.url(),
            "--listen".to_string(),
            "127.0.0.1:0".to_string(),
        ];
        // Both rounds run in `work`, so the relative ./.tlsgate/certs/ is shared between them.
        let mut gate = Tlsgate::spawn_args(
            &args,
            tempfile::tempdir().unwrap(),
            Some(work.path()),
            &[],
            true,
        );
        // Ready: the listener is bound (port 0: the ready file names the port) and the dev CA
        // exists.
        gate.wait_ready();
        let port = gate.listen_port;
        assert!(
            ca.exists(),
            "round {round}: built-in default did not create its CA:\n{}",
            gate.output()
        );
        let ca_text = std::fs::read_to_string(&ca).unwrap();
        assert!(ca_text.contains("BEGIN CERTIFICATE"), "{ca_text}");
        let certs_dir = work.path().join(".tlsgate/certs");
        let pem_count = std::fs::read_dir(&certs_dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .map(|e| e.path().extension().is_some_and(|x| x == "pem"))
                    .unwrap_or(false)
            })
            .count();
        assert!(
            pem_count >= 3,
            "expected ca.pem plus a leaf certificate and key in {certs_dir:?}"
        );

        let resolve = format!("localhost:{port}:127.0.0.1");
        let url = format!("https://localhost:{port}/v1/models");
        let ca_s = ca.display().to_string();
        let r = curl_http(&["--resolve", &resolve, "--cacert", &ca_s, &url]);
        assert_eq!(
            r.status,
            200,
            "round {round}: {}\n{}",
            r.raw.describe(),
            gate.output()
        );
        assert_eq!(r.json()["data"][0]["id"], "gpt-mock");

        // The banner is printed before the ready file is written; its last line may still be
        // on its way through the pipe.
        let out = gate
            .output
            .wait_for(Duration::from_secs(5), |all| {
                all.contains("tlsgate: Python/OpenAI SDK")
                    .then(|| all.to_string())
            })
            .unwrap_or_else(|| gate.output());
        assert!(out.contains("https://"), "banner must show the URL:\n{out}");
        assert!(
            out.contains(&port.to_string()),
            "banner URL must carry the port:\n{out}"
        );
        assert!(
            out.contains(".tlsgate/certs/ca.pem"),
            "banner must name the CA file to trust:\n{out}"
        );

        let st = gate.shutdown();
        assert_eq!(
            st.code(),
            Some(0),
            "round {round}: clean shutdown exits 0:\n{}",
            gate.output()
        );
        if round == 0 {
            first_ca = ca_text;
        } else {
            assert_eq!(
                ca_text, first_ca,
                "the second start must reuse the CA, not regenerate it"
            );
        }
    }
}

#[test]
fn client_error_detail_levels() {
    let pki = TestPki::new();
    let refused = RefusedPort::bind();
    let addr = refused.addr().to_string();
    for level in ["none", "full"] {
        let mut cfg = GateConfig::tls(&pki, format!("http://{addr}"));
        cfg.diagnostics_extra = format!("  client_error_detail: {level}\n");
        let gate = Tlsgate::start(&cfg);
        let base = gate.curl_args(Some(&pki.ca_path));
        let r = curl_http(&args(&base, &[&gate.url("/v1/models")]));
        let e = assert_openai_error(&r, 502);
        assert_eq!(e["code"], "upstream_refused", "{level}: {}", r.body);
        let msg = e["message"].as_str().unwrap();
        match level {
            "none" => assert_eq!(msg, "upstream unavailable", "detail=none says only that"),
            _ => assert!(
                msg.starts_with("tlsgate: ") && msg.contains(" — fix: "),
                "detail=full: {msg}"
            ),
        }
    }
}

/// A request that reached the upstream is never retried, even when the upstream then drops the
/// connection without answering.
#[test]
fn request_that_reached_upstream_is_not_retried() {
    let pki = TestPki::new();
    let up = MockUpstream::start();
    let gate = Tlsgate::start(&GateConfig::tls(&pki, up.url()));
    let base = gate.curl_args(Some(&pki.ca_path));
    let r = curl_http(&args(
        &base,
        &["-d", r#"{"model":"gpt-mock"}"#, &gate.url("/die")],
    ));
    let e = assert_openai_error(&r, 502);
    assert!(
        e["code"].as_str().unwrap().starts_with("upstream_"),
        "{}",
        r.body
    );
    // A retry would have reached the upstream before the 502 was sent; the access-log line,
    // written once tlsgate is done with the request, makes sure of it.
    gate.wait_for_log(Duration::from_secs(5), |l| {
        l["event"] == "request" && l["path"] == "/die"
    })
    .unwrap_or_else(|| panic!("no access-log line for /die:\n{}", gate.output()));
    assert_eq!(
        up.count("/die"),
        1,
        "the POST was retried against the upstream"
    );
}

/// The idle timeout applies between chunks of a streaming response: a pause longer than it ends
/// the stream with an SSE error event (code upstream_timeout), never with a clean `[DONE]`.
#[test]
fn idle_timeout_mid_stream_ends_with_error_event() {
    let pki = TestPki::new();
    let up = MockUpstream::start();
    let mut cfg = GateConfig::tls(&pki, up.url());
    cfg.upstream_extra = "    timeouts: { idle: 1s }\n".into();
    let gate = Tlsgate::start(&cfg);
    let base = gate.curl_args(Some(&pki.ca_path));
    let url = gate.url("/sse-pause?ms=3000");
    let (lines, _status, stderr) =
        curl_stream(&args(&base, &["-H", "accept: text/event-stream", &url]));
    let data: Vec<&str> = lines
        .iter()
        .map(|l| l.line.as_str())
        .filter(|l| l.starts_with("data:"))
        .collect();
    assert!(
        data.len() >= 2,
        "expected a chunk then an error event, got {data:#?} ({stderr})"
    );
    assert!(data[0].contains("chat.completion.chunk"), "{data:#?}");
    let v: serde_json::Value = serde_json::from_str(data[1].trim_start_matches("data:").trim())
        .unwrap_or_else(|e| panic!("second event is not JSON ({e}): {data:#?}"));
    assert_eq!(v["error"]["type"], "tlsgate_error", "{v}");
    assert_eq!(v["error"]["code"], "upstream_timeout", "{v}");
    assert!(!data.iter().any(|l| l.contains("[DONE]")), "{data:#?}");
}

/// Smaller than the idle timeout, the same pause is harmless (the limit is per gap, not total).
#[test]
fn pause_shorter_than_idle_timeout_is_fine() {
    let pki = TestPki::new();
    let up = MockUpstream::start();
    let mut cfg = GateConfig::tls(&pki, up.url());
    cfg.upstream_extra = "    timeouts: { idle: 2s, first_byte: 2s }\n".into();
    let gate = Tlsgate::start(&cfg);
    let base = gate.curl_args(Some(&pki.ca_path));
    let url = gate.url("/sse-pause?ms=500");
    let (lines, status, stderr) = curl_stream(&args(&base, &[&url]));
    assert!(status.success(), "{stderr}");
    let last = lines
        .iter()
        .rev()
        .find(|l| l.line.starts_with("data:"))
        .map(|l| l.line.clone());
    assert_eq!(last.as_deref(), Some("data: [DONE]"));
}
