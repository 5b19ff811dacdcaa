use super::*;

#[test]
fn targets() {
    let t = |s: &str| parse_target(s).unwrap();
    assert_eq!(
        t("https://api.openai.com"),
        Target {
            host: "api.openai.com".into(),
            port: 443,
            tls: true
        }
    );
    assert_eq!(t("https://h:8443/v1/x").port, 8443);
    assert_eq!(t("h:8443").port, 8443);
    assert_eq!(t("h").port, 443);
    assert_eq!(t("http://h").port, 80);
    assert!(!t("http://h").tls);
    assert_eq!(t("[::1]:9").host, "::1");
    assert_eq!(t("::1").host, "::1");
    assert_eq!(t("127.0.0.1:5432").host, "127.0.0.1");
    assert!(matches!(
        parse_target("ftp://h"),
        Err(TargetError::UnsupportedScheme { .. })
    ));
    assert_eq!(
        parse_target("h:0").unwrap_err().to_string(),
        "\"h:0\": \"0\" is not a valid port"
    );
    assert!(matches!(parse_target("h:x"), Err(TargetError::Port { .. })));
    assert!(matches!(
        parse_target(""),
        Err(TargetError::MissingHost { .. })
    ));
    assert!(matches!(
        parse_target("[::1"),
        Err(TargetError::UnclosedBracket { .. })
    ));
}

#[test]
fn postgres_probe_offers_the_postgresql_alpn() {
    assert_eq!(
        alpn_for(Some(StartTlsArg::Postgres)),
        vec![b"postgresql".to_vec()]
    );
    assert_eq!(alpn_for(None), vec![b"h2".to_vec(), b"http/1.1".to_vec()]);
}

#[test]
fn reports_render_findings_and_trust() {
    let outcome = ProbeOutcome {
        address: Some("127.0.0.1:443".into()),
        tcp_error: None,
        tls_version: Some("TLSv1_3".into()),
        cipher: Some("TLS13_AES_128_GCM_SHA256".into()),
        alpn: None,
        chain: Vec::new(),
        trust: Vec::new(),
        client_cert_requested: false,
        findings: vec![Finding::new(
            Code::UpstreamPlainHttp,
            "plain",
            "saw HTTP/",
            "use http://",
        )],
    };
    let text = to_text("h", &outcome, false);
    assert!(text.contains("error  upstream_plain_http: plain"), "{text}");
    assert!(
        text.contains("why: saw HTTP/") && text.contains("fix: use http://"),
        "{text}"
    );
    let v = to_json("h", &outcome, true);
    assert_eq!(v["trust"]["ca"], serde_json::Value::Null);
    assert_eq!(v["findings"][0]["code"], "upstream_plain_http");
    assert_eq!(v["address"], "127.0.0.1:443");
    let healthy = ProbeOutcome {
        findings: vec![],
        ..outcome
    };
    assert!(to_text("h", &healthy, false).contains("ok     no problems found"));
}
