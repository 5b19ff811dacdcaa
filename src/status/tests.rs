use super::*;

#[test]
fn metrics_use_the_contract_names() {
    let s = State::new();
    s.add_listener("public", "127.0.0.1:8443".parse().unwrap(), true)
        .inc();
    s.record_request("openai", 200, 0.02);
    s.record_handshake_failure(
        "public",
        Code::UnknownSni,
        serde_json::json!({"code": "unknown_sni"}),
    );
    s.record_connection_closed("public", Code::ClientIdleTimeout);
    s.record_connection_closed("public", Code::ClientIdleTimeout);
    let text = s.metrics_text();
    for needle in [
        "tlsgate_connections_closed_total{listener=\"public\",reason=\"client_idle_timeout\"} 2",
        "tlsgate_requests_total{upstream=\"openai\",status_class=\"2xx\"} 1",
        "tlsgate_request_duration_seconds_bucket",
        "tlsgate_handshake_failures_total{listener=\"public\",code=\"unknown_sni\"} 1",
        "tlsgate_open_connections{listener=\"public\"} 1",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
    let status = s.status_json();
    assert_eq!(
        status["listeners"][0]["handshake_failures"]["by_code"]["unknown_sni"],
        1
    );
    assert_eq!(s.request_counts()["openai"]["2xx"], 1);
    assert_eq!(status["reload"]["result"], "none");
}

fn cert(sans: &[&str], not_after: i64) -> CertificateStatus {
    CertificateStatus {
        subject: "CN=x".into(),
        sans: sans.iter().map(|s| s.to_string()).collect(),
        issuer: "CN=ca".into(),
        not_before: String::new(),
        not_after: String::new(),
        days_left: 0,
        fingerprint_sha256: String::new(),
        cert_file: String::new(),
        key_file: String::new(),
        loaded_at: String::new(),
        findings: Vec::new(),
        not_after_unix: not_after,
    }
}

#[test]
fn not_after_series_follow_reloads_and_take_the_soonest() {
    let s = State::new();
    s.add_listener("public", "127.0.0.1:8443".parse().unwrap(), true);
    s.set_certificates(
        "public",
        vec![
            cert(&["a.example", "old.example"], 2000),
            cert(&["a.example"], 1000),
        ],
    );
    let text = s.metrics_text();
    assert!(
        text.contains(
            "tlsgate_cert_not_after_timestamp_seconds{listener=\"public\",name=\"a.example\"} 1000"
        ),
        "{text}"
    );
    assert!(text.contains("name=\"old.example\"} 2000"), "{text}");
    // A reload drops old.example: its series goes with it.
    s.set_certificates("public", vec![cert(&["a.example"], 3000)]);
    let text = s.metrics_text();
    assert!(!text.contains("old.example"), "{text}");
    assert!(text.contains("name=\"a.example\"} 3000"), "{text}");
}
