use super::*;

#[test]
fn metrics_use_the_contract_names() {
    let s = State::new();
    s.add_listener("public", "127.0.0.1:8443".parse().unwrap(), true)
        .inc();
    s.record_request("openai", 200, 0.02);
    s.record_handshake_failure(
        "public",
        HandshakeFailureRecord {
            at: OffsetDateTime::now_utc(),
            peer: "192.0.2.1:50000".into(),
            sni: Some("nope.example".into()),
            alpn: String::new(),
            client_versions: "TLSv1.3".into(),
            alert: None,
            code: Code::UnknownSni,
            summary: "unknown name".into(),
            served_cert: String::new(),
        },
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
    let status = serde_json::to_value(s.status()).unwrap();
    assert_eq!(
        status["listeners"][0]["handshake_failures"]["by_code"]["unknown_sni"],
        1
    );
    assert_eq!(s.request_counts()["openai"]["2xx"], 1);
    assert_eq!(status["reload"]["result"], "none");
    let recent = &status["listeners"][0]["handshake_failures"]["recent"][0];
    assert_eq!(recent["code"], "unknown_sni");
    assert_eq!(recent["sni"], "nope.example");
    assert_eq!(recent["alert"], serde_json::Value::Null);
    assert!(recent["at"].as_str().unwrap().ends_with('Z'), "{recent}");
}

fn cert(sans: &[&str], not_after: i64) -> CertificateStatus {
    CertificateStatus {
        subject: "CN=x".into(),
        sans: sans.iter().map(|s| s.to_string()).collect(),
        issuer: "CN=ca".into(),
        not_before: OffsetDateTime::UNIX_EPOCH,
        not_after: OffsetDateTime::from_unix_timestamp(not_after).unwrap(),
        days_left: 0,
        fingerprint_sha256: String::new(),
        cert_file: String::new(),
        key_file: String::new(),
        loaded_at: OffsetDateTime::UNIX_EPOCH,
        findings: Vec::new(),
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

fn keys(v: &serde_json::Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

fn sorted(mut k: Vec<&str>) -> Vec<&str> {
    k.sort_unstable();
    k
}

/// The `/status` fields are docs/spec.md's contract: every level has exactly the documented keys
/// (listeners also say whether they terminate TLS), timestamps are RFC 3339.
#[test]
fn status_document_has_the_contract_fields() {
    let s = State::new();
    s.add_listener("public", "127.0.0.1:8443".parse().unwrap(), true);
    s.set_certificates("public", vec![cert(&["a.example"], 2_000_000_000)]);
    s.record_reload(ReloadStatus {
        last_attempt_at: Some(OffsetDateTime::UNIX_EPOCH),
        result: ReloadResult::Rejected,
        findings: Vec::new(),
    });
    s.set_upstream(UpstreamStatus {
        name: "openai".into(),
        url: "https://api.openai.com".into(),
        status: UpstreamHealth::Degraded,
        checked_at: Some(OffsetDateTime::UNIX_EPOCH),
        tls_version: Some("TLSv1_3".into()),
        cipher: None,
        alpn: Some("h2".into()),
        chain: vec![ChainEntry {
            subject: "CN=api.openai.com".into(),
            issuer: "CN=ca".into(),
            not_after: OffsetDateTime::UNIX_EPOCH,
        }],
        findings: Vec::new(),
    });
    let v = serde_json::to_value(s.status()).unwrap();
    assert_eq!(
        keys(&v),
        sorted(vec![
            "version",
            "started_at",
            "listeners",
            "reload",
            "upstreams"
        ])
    );
    let l = &v["listeners"][0];
    assert_eq!(
        keys(l),
        sorted(vec![
            "name",
            "bind",
            "tls",
            "certificates",
            "handshake_failures"
        ])
    );
    let c = &l["certificates"][0];
    assert_eq!(
        keys(c),
        sorted(vec![
            "subject",
            "sans",
            "issuer",
            "not_before",
            "not_after",
            "days_left",
            "fingerprint_sha256",
            "cert_file",
            "key_file",
            "loaded_at",
            "findings",
        ])
    );
    assert_eq!(c["not_after"], "2033-05-18T03:33:20Z");
    assert_eq!(c["not_before"], "1970-01-01T00:00:00Z");
    assert!(c["days_left"].as_i64().unwrap() > 0);
    assert_eq!(
        keys(&l["handshake_failures"]),
        sorted(vec!["total", "by_code", "recent"])
    );
    assert_eq!(
        keys(&v["reload"]),
        sorted(vec!["last_attempt_at", "result", "findings"])
    );
    assert_eq!(v["reload"]["result"], "rejected");
    assert_eq!(v["reload"]["last_attempt_at"], "1970-01-01T00:00:00Z");
    let u = &v["upstreams"][0];
    assert_eq!(
        keys(u),
        sorted(vec![
            "name",
            "url",
            "status",
            "checked_at",
            "tls_version",
            "cipher",
            "alpn",
            "chain",
            "findings",
        ])
    );
    assert_eq!(u["status"], "degraded");
    assert_eq!(u["cipher"], serde_json::Value::Null);
    assert_eq!(
        keys(&u["chain"][0]),
        sorted(vec!["subject", "issuer", "not_after"])
    );
    assert!(v["started_at"].as_str().unwrap().ends_with('Z'));
    let text = s.metrics_text();
    assert!(
        text.contains("tlsgate_cert_reloads_total{result=\"rejected\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("tlsgate_upstream_up{upstream=\"openai\"} 1"),
        "{text}"
    );
}

#[test]
fn status_classes_cover_every_status() {
    for (status, class) in [
        (101, "1xx"),
        (200, "2xx"),
        (304, "3xx"),
        (429, "4xx"),
        (503, "5xx"),
        (0, "5xx"),
        (999, "5xx"),
    ] {
        assert_eq!(StatusClass::of(status).as_str(), class, "{status}");
    }
    for (i, c) in StatusClass::ALL.iter().enumerate() {
        assert_eq!(*c as usize, i, "{c:?} indexes the request handles");
    }
}
