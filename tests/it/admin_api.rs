//! The admin API against a real `tlsgate serve`: after a handshake failure, reloads and an
//! upstream that refuses, `/status` and `/metrics` show each with the right code and count;
//! `/metrics` parses with Python's `prometheus_client` (OpenMetrics parser); nothing secret
//! (private keys, injected header values, client keys) reaches `/status`, `/metrics` or `/`;
//! health, readiness, 404/405 and the public-bind opt-in.
//!
//! `POST /reload` returning the findings of a rejected reload is covered by
//! `reload::post_reload_returns_findings_of_a_rejected_reload` (not repeated here);
//! `/readyz` being 503 before the listeners are bound is a unit test in `src/admin/http.rs`
//! (the admin socket opens after the listeners, so the window is not observable from outside).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{
    curl, curl_http, fingerprint, raw_http_get, run_tlsgate, wait_until, MockUpstream, RefusedPort,
    TestPki, Tlsgate,
};

const SECRET: &str = "sk-secret-test-123456";

fn yaml_path(p: &Path) -> String {
    format!("\"{}\"", p.display().to_string().replace('"', "\\\""))
}

/// A TLS listener `main` in front of two upstreams: `mock` (answers) for everything, and
/// `dead` (a port that refuses connections, held by the returned [`RefusedPort`]) under `/dead`.
/// Reloads only when asked.
fn start(pki: &TestPki, mock: &MockUpstream, extra: &str) -> (Tlsgate, RefusedPort) {
    let dead = RefusedPort::bind();
    let dead_port = dead.port;
    let (cert, key) = (yaml_path(&pki.cert_path), yaml_path(&pki.key_path));
    let mock_url = mock.url();
    let gate = Tlsgate::start_yaml(
        &format!(
            "listeners:\n  - name: main\n    bind: 127.0.0.1:0\n    tls:\n      certificates:\n        - cert: {cert}\n          key: {key}\n\
routes:\n  - path_prefix: /dead\n    upstream: dead\n  - path_prefix: /\n    upstream: mock\n\
upstreams:\n  mock:\n    url: {mock_url}\n{extra}  dead:\n    url: http://127.0.0.1:{dead_port}\n{extra}\
admin:\n  bind: 127.0.0.1:0\n\
reload:\n  watch: false\n  poll: 1h\n\
diagnostics:\n  log_format: json\n"
        ),
        true,
    );
    (gate, dead)
}

fn get(gate: &Tlsgate, path: &str) -> (u16, String) {
    raw_http_get(gate.admin_addr(), path, Duration::from_secs(10))
        .unwrap_or_else(|| panic!("GET {path} on the admin port failed\n{}", gate.output()))
}

fn status(gate: &Tlsgate) -> serde_json::Value {
    let (code, body) = get(gate, "/status");
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("/status is not JSON ({e}): {body}"))
}

fn post_reload(gate: &Tlsgate) -> (u16, serde_json::Value) {
    let r = curl_http(&[
        "-X",
        "POST",
        "-H",
        "X-Tlsgate: 1",
        &gate.admin_url("/reload"),
    ]);
    let v = r.json();
    (r.status, v)
}

/// Sends bytes that are not TLS to the listener (a `not_tls` handshake failure).
fn garbage_connection(port: u16) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"\x00\x01garbage-bytes-here\r\n").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
}

/// A request through the gate with curl; returns the HTTP status.
fn request(gate: &Tlsgate, pki: &TestPki, path: &str, extra: &[&str]) -> u16 {
    let mut args: Vec<String> = gate.curl_args(Some(&pki.ca_path));
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push(gate.url(path));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    curl_http(&args).status
}

/// One metric sample: name, labels, value.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: serde_json::Map<String, serde_json::Value>,
    value: f64,
}

/// Parses `/metrics` with Python's `prometheus_client` OpenMetrics parser (what a Prometheus
/// scrape with the OpenMetrics content type does). `None` (with a message) when python3 or the
/// package is missing, unless `TLSGATE_REQUIRE_PYTHON` is set: then that is a failure.
fn parse_with_prometheus_client(text: &str) -> Option<Vec<(String, String, Vec<Sample>)>> {
    let available = Command::new("python3")
        .args(["-c", "import prometheus_client.openmetrics.parser"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !available {
        let msg = "python3 with the prometheus_client package is not available (scripts/install-test-deps.sh installs it)";
        if std::env::var_os("TLSGATE_REQUIRE_PYTHON").is_some() {
            panic!("{msg}, and TLSGATE_REQUIRE_PYTHON is set");
        }
        eprintln!("SKIPPED the prometheus_client parse of /metrics: {msg}");
        return None;
    }
    let script = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
out = []
for fam in text_string_to_metric_families(sys.stdin.read()):
    out.append({"name": fam.name, "type": fam.type,
                "samples": [{"name": s.name, "labels": s.labels, "value": s.value} for s in fam.samples]})
print(json.dumps(out))
"#;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client rejects /metrics: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    Some(
        v.as_array()
            .unwrap()
            .iter()
            .map(|f| {
                let samples = f["samples"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| Sample {
                        name: s["name"].as_str().unwrap().to_string(),
                        labels: s["labels"].as_object().unwrap().clone(),
                        value: s["value"].as_f64().unwrap(),
                    })
                    .collect();
                (
                    f["name"].as_str().unwrap().to_string(),
                    f["type"].as_str().unwrap().to_string(),
                    samples,
                )
            })
            .collect(),
    )
}

/// The value of the sample `name` whose labels include all of `labels`.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).and_then(|x| x.as_str()) == Some(*v))
        })
        .map(|s| s.value)
}

#[test]
fn status_and_metrics_show_handshake_failures_reloads_and_upstream_failures() {
    let pki = TestPki::new();
    let mock = MockUpstream::start();
    let (gate, _dead) = start(&pki, &mock, "");

    // A handshake failure, twice.
    garbage_connection(gate.listen_port);
    garbage_connection(gate.listen_port);
    // A request that works, and one to an upstream that refuses connections.
    assert_eq!(request(&gate, &pki, "/v1/models", &[]), 200);
    assert_eq!(request(&gate, &pki, "/dead/v1/models", &[]), 502);
    // Reloads: unchanged files (ok), a key that does not match (rejected), the right key
    // again (ok).
    let (code, body) = post_reload(&gate);
    assert_eq!((code, body["result"].as_str()), (200, Some("ok")), "{body}");
    let stranger = TestPki::leaf_for(&["localhost"], &pki.ca);
    std::fs::write(&pki.key_path, &stranger.key_pem).unwrap();
    let (code, body) = post_reload(&gate);
    assert_eq!(code, 422, "{body}");
    assert_eq!(body["findings"][0]["code"], "key_mismatch", "{body}");
    let st = status(&gate);
    assert_eq!(st["reload"]["result"], "rejected", "{}", st["reload"]);
    assert_eq!(st["reload"]["findings"][0]["code"], "key_mismatch");
    assert!(time::OffsetDateTime::parse(
        st["reload"]["last_attempt_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339
    )
    .is_ok());
    std::fs::write(&pki.key_path, &pki.leaf.key_pem).unwrap();
    let (code, body) = post_reload(&gate);
    assert_eq!((code, body["result"].as_str()), (200, Some("ok")), "{body}");

    // /metrics, once the asynchronous counters are in.
    let want = [
        "tlsgate_handshake_failures_total{listener=\"main\",code=\"not_tls\"} 2",
        "tlsgate_requests_total{upstream=\"mock\",status_class=\"2xx\"} 1",
        "tlsgate_requests_total{upstream=\"dead\",status_class=\"5xx\"} 1",
        "tlsgate_cert_reloads_total{result=\"ok\"} 2",
        "tlsgate_cert_reloads_total{result=\"rejected\"} 1",
    ];
    let text = wait_until(Duration::from_secs(5), || {
        let (code, text) = get(&gate, "/metrics");
        (code == 200 && want.iter().all(|w| text.contains(w))).then_some(text)
    })
    .unwrap_or_else(|| {
        panic!(
            "/metrics lacks one of {want:#?}:\n{}",
            get(&gate, "/metrics").1
        )
    });
    assert!(
        text.ends_with("# EOF\n"),
        "OpenMetrics text ends with # EOF"
    );

    // /status: the certificate, the failures by code with their events, the last reload.
    let st = status(&gate);
    let l = &st["listeners"][0];
    assert_eq!(l["name"], "main");
    let c = &l["certificates"][0];
    assert_eq!(c["fingerprint_sha256"], fingerprint(&pki.leaf.cert_der));
    assert!(
        c["sans"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "localhost"),
        "{c}"
    );
    assert!(c["subject"].as_str().is_some_and(|s| !s.is_empty()), "{c}");
    assert!(c["issuer"].as_str().is_some_and(|s| !s.is_empty()), "{c}");
    assert!(c["days_left"].as_i64().unwrap() > 300, "{c}");
    assert_eq!(c["cert_file"], pki.cert_path.display().to_string());
    assert_eq!(c["key_file"], pki.key_path.display().to_string());
    assert!(c["findings"].is_array() && !c["loaded_at"].is_null(), "{c}");
    let not_after = time::OffsetDateTime::parse(
        c["not_after"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let hf = &l["handshake_failures"];
    assert_eq!(hf["total"], 2, "{hf}");
    assert_eq!(hf["by_code"]["not_tls"], 2, "{hf}");
    assert_eq!(hf["recent"].as_array().unwrap().len(), 2, "{hf}");
    assert_eq!(hf["recent"][1]["code"], "not_tls", "{hf}");
    assert_eq!(st["reload"]["result"], "ok");
    assert_eq!(st["reload"]["findings"], serde_json::json!([]));

    // The same document parsed the way Prometheus parses it.
    let Some(families) = parse_with_prometheus_client(&text) else {
        return;
    };
    let kinds: std::collections::BTreeMap<&str, &str> = families
        .iter()
        .map(|(n, t, _)| (n.as_str(), t.as_str()))
        .collect();
    for (name, kind) in [
        ("tlsgate_requests", "counter"),
        ("tlsgate_request_duration_seconds", "histogram"),
        ("tlsgate_handshake_failures", "counter"),
        ("tlsgate_cert_reloads", "counter"),
        ("tlsgate_cert_not_after_timestamp_seconds", "gauge"),
        ("tlsgate_open_connections", "gauge"),
    ] {
        assert_eq!(kinds.get(name), Some(&kind), "family {name}: {kinds:?}");
    }
    let samples: Vec<Sample> = families.into_iter().flat_map(|(_, _, s)| s).collect();
    let v = |name: &str, labels: &[(&str, &str)]| {
        value(&samples, name, labels)
            .unwrap_or_else(|| panic!("no sample {name}{labels:?} in\n{text}"))
    };
    // `tlsgate_upstream_up` has a sample per checked upstream, agreeing with /status (an
    // unchecked upstream has none: prometheus-client omits a family without samples).
    for u in st["upstreams"].as_array().unwrap() {
        let name = u["name"].as_str().unwrap();
        let want = match u["status"].as_str().unwrap() {
            "unchecked" => continue,
            "healthy" | "degraded" => 1.0,
            _ => 0.0,
        };
        assert_eq!(v("tlsgate_upstream_up", &[("upstream", name)]), want, "{u}");
    }
    assert_eq!(
        v(
            "tlsgate_handshake_failures_total",
            &[("listener", "main"), ("code", "not_tls")]
        ),
        2.0
    );
    assert_eq!(
        v(
            "tlsgate_requests_total",
            &[("upstream", "dead"), ("status_class", "5xx")]
        ),
        1.0
    );
    assert_eq!(
        v(
            "tlsgate_requests_total",
            &[("upstream", "mock"), ("status_class", "2xx")]
        ),
        1.0
    );
    assert_eq!(
        v(
            "tlsgate_request_duration_seconds_count",
            &[("upstream", "dead")]
        ),
        1.0
    );
    assert_eq!(
        v(
            "tlsgate_request_duration_seconds_bucket",
            &[("upstream", "mock"), ("le", "+Inf")]
        ),
        1.0
    );
    assert_eq!(v("tlsgate_cert_reloads_total", &[("result", "ok")]), 2.0);
    assert_eq!(
        v("tlsgate_cert_reloads_total", &[("result", "rejected")]),
        1.0
    );
    assert_eq!(
        v(
            "tlsgate_cert_not_after_timestamp_seconds",
            &[("listener", "main"), ("name", "localhost")]
        ),
        not_after.unix_timestamp() as f64
    );
    // curl's connections have closed; the count is back to zero (never negative).
    let open = wait_until(Duration::from_secs(5), || {
        let text = get(&gate, "/metrics").1;
        text.contains("tlsgate_open_connections{listener=\"main\"} 0")
            .then_some(())
    });
    assert!(
        open.is_some(),
        "open connections not back to 0:\n{}",
        get(&gate, "/metrics").1
    );
}

#[test]
fn admin_never_reveals_keys_injected_headers_or_client_secrets() {
    let pki = TestPki::new();
    let mock = MockUpstream::start();
    let (gate, _dead) = start(
        &pki,
        &mock,
        &format!("    set_headers:\n      authorization: \"Bearer {SECRET}\"\n"),
    );
    let client_key = "sk-client-own-key-987654";
    let query_key = "sk-query-key-55555";
    let auth = format!("authorization: Bearer {client_key}");
    let path = format!("/v1/models?api-key={query_key}");
    assert_eq!(request(&gate, &pki, &path, &["-H", &auth]), 200);
    assert_eq!(
        mock.last_request().unwrap().header("authorization"),
        Some(format!("Bearer {SECRET}")),
        "the injected header is in effect"
    );
    assert_eq!(
        request(&gate, &pki, &format!("/dead{path}"), &["-H", &auth]),
        502
    );
    // Failures: two handshake failures (not TLS; a name the certificate does not cover) and a
    // rejected reload of a stranger's key.
    garbage_connection(gate.listen_port);
    let out = curl(&[
        "--cacert",
        pki.ca_path.to_str().unwrap(),
        "--resolve",
        &format!("wrong.example:{}:127.0.0.1", gate.listen_port),
        &format!("https://wrong.example:{}/", gate.listen_port),
    ]);
    assert!(!out.ok(), "{}", out.describe());
    let stranger = TestPki::leaf_for(&["localhost"], &pki.ca);
    std::fs::write(&pki.key_path, &stranger.key_pem).unwrap();
    assert_eq!(post_reload(&gate).0, 422);

    wait_until(Duration::from_secs(5), || {
        (status(&gate)["listeners"][0]["handshake_failures"]["total"]
            .as_u64()
            .unwrap_or(0)
            >= 2)
            .then_some(())
    })
    .expect("both handshake failures recorded");

    // Base64 lines of both private keys, as they appear in the files.
    let key_lines: Vec<String> = [&pki.leaf.key_pem, &stranger.key_pem]
        .iter()
        .flat_map(|k| k.lines())
        .filter(|l| !l.starts_with("-----") && l.len() >= 16)
        .map(str::to_string)
        .collect();
    assert!(!key_lines.is_empty());
    for path in ["/status", "/metrics", "/"] {
        let (code, body) = get(&gate, path);
        assert_eq!(code, 200, "{path}");
        for needle in [SECRET, client_key, query_key, "PRIVATE KEY"] {
            assert!(!body.contains(needle), "{path} reveals {needle}:\n{body}");
        }
        for line in &key_lines {
            assert!(!body.contains(line.as_str()), "{path} reveals key material");
        }
    }

    // Client addresses: /status shows a peer exactly as the tls_handshake_failed log does.
    let logged: Vec<String> = gate
        .events("tls_handshake_failed")
        .iter()
        .filter_map(|e| e["peer"].as_str().map(str::to_string))
        .collect();
    let st = status(&gate);
    for e in st["listeners"][0]["handshake_failures"]["recent"]
        .as_array()
        .unwrap()
    {
        let peer = e["peer"].as_str().unwrap_or_default().to_string();
        assert!(
            logged.contains(&peer),
            "/status shows peer {peer}, the log shows {logged:?}"
        );
    }
}

#[test]
fn health_readiness_unknown_paths_wrong_methods_and_the_html_page() {
    let pki = TestPki::new();
    let mock = MockUpstream::start();
    let (gate, _dead) = start(&pki, &mock, "");
    assert_eq!(get(&gate, "/healthz").0, 200);
    assert_eq!(get(&gate, "/readyz").0, 200);
    assert_eq!(get(&gate, "/no-such-thing").0, 404);
    for (method, path) in [
        ("POST", "/status"),
        ("POST", "/metrics"),
        ("DELETE", "/healthz"),
        ("PUT", "/"),
        ("GET", "/reload"),
    ] {
        let r = curl_http(&["-X", method, &gate.admin_url(path)]);
        assert_eq!(r.status, 405, "{method} {path}");
    }
    let page = curl_http(&[&gate.admin_url("/")]);
    assert_eq!(page.status, 200);
    assert!(page
        .header("content-type")
        .is_some_and(|t| t.starts_with("text/html")));
    assert!(page
        .header("content-security-policy")
        .is_some_and(|c| c.contains("default-src 'none'")));
    let html = page.body;
    assert!(
        html.contains("<meta http-equiv=refresh content=10>"),
        "{html}"
    );
    assert!(html.contains("localhost"), "the certificate's name");
    let days = status(&gate)["listeners"][0]["certificates"][0]["days_left"]
        .as_i64()
        .unwrap();
    assert!(html.contains(&format!("{days} days left")), "{html}");
    for external in ["<script", "<link", " src=", "url(", "@import"] {
        assert!(!html.contains(external), "external asset {external}");
    }
    let metrics = curl_http(&[&gate.admin_url("/metrics")]);
    assert!(metrics
        .header("content-type")
        .is_some_and(|t| t.starts_with("application/openmetrics-text")));
}

#[test]
fn a_public_admin_bind_needs_allow_public() {
    let pki = TestPki::new();
    let mock = MockUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    // A port nothing listens on, held while tlsgate is asked to put its admin API there.
    let refused = RefusedPort::bind();
    let admin_port = refused.port;
    let base = format!(
        "listeners:\n  - name: main\n    bind: 127.0.0.1:0\n    tls:\n      certificates:\n        - cert: {}\n          key: {}\n\
upstreams:\n  mock:\n    url: {}\n",
        yaml_path(&pki.cert_path),
        yaml_path(&pki.key_path),
        mock.url()
    );
    let cfg = dir.path().join("public.yaml");
    std::fs::write(
        &cfg,
        format!("{base}admin:\n  bind: 0.0.0.0:{admin_port}\n"),
    )
    .unwrap();
    let ready = dir.path().join("ready.json");
    let (st, out) = run_tlsgate(
        &[
            "serve",
            "-c",
            cfg.to_str().unwrap(),
            "--ready-file",
            ready.to_str().unwrap(),
        ],
        dir.path(),
        &[],
        Duration::from_secs(20),
    );
    assert_eq!(st.code(), Some(1), "{}", out.all());
    assert!(out.all().contains("allow_public"), "{}", out.all());
    assert!(
        !ready.exists(),
        "a refused configuration never becomes ready"
    );
    assert!(
        raw_http_get(
            ([127, 0, 0, 1], admin_port).into(),
            "/healthz",
            Duration::from_secs(1)
        )
        .is_none(),
        "nothing may listen on the refused address"
    );
    drop(refused);

    // With the opt-in it binds every interface: reachable via loopback.
    let gate = Tlsgate::start_yaml(
        &format!(
            "{base}admin:\n  bind: 0.0.0.0:0\n  allow_public: true\n\
diagnostics:\n  log_format: json\n"
        ),
        true,
    );
    assert_eq!(get(&gate, "/healthz").0, 200);
    assert_eq!(status(&gate)["listeners"][0]["name"], "main");
}
