use super::*;

fn env(name: &str) -> Option<String> {
    match name {
        "KEY" => Some("sk-test".into()),
        "EMPTY" => Some(String::new()),
        _ => None,
    }
}

fn parse(text: &str) -> Result<Config, ConfigError> {
    parse_with_env(text, "t.yaml", &env)
}

const FULL: &str = r#"
listeners:
  - name: public
    bind: 127.0.0.1:8443
    tls:
      certificates:
        - cert: /c.pem
          key: /k.pem
      min_version: tls1.3
routes:
  - path_prefix: /v1
    upstream: openai
upstreams:
  openai:
    url: https://api.openai.com
    set_headers:
      Authorization: "Bearer ${KEY}"   # ${NOT_SET} in a comment is fine
    timeouts: { connect: 5s, first_byte: 2m }
limits:
  max_request_header_bytes: 16KiB
"#;

#[test]
fn parses_the_documented_shape() {
    let cfg = parse(FULL).unwrap();
    assert_eq!(cfg.listeners[0].name, "public");
    let tls = cfg.listeners[0].tls.as_ref().unwrap();
    assert_eq!(tls.min_version, TlsVersion::Tls13);
    assert_eq!(tls.alpn, vec!["h2", "http/1.1"]);
    let up = &cfg.upstreams["openai"];
    assert_eq!(up.set_headers["authorization"], "Bearer sk-test");
    assert_eq!(up.timeouts.connect.get().as_secs(), 5);
    assert_eq!(up.timeouts.first_byte.get().as_secs(), 120);
    assert_eq!(up.timeouts.idle.get().as_secs(), 300);
    assert_eq!(cfg.limits.max_request_header_bytes.0, 16 * 1024);
    assert_eq!(cfg.admin.bind, Some("127.0.0.1:9901".parse().unwrap()));
}

#[test]
fn unknown_key_names_key_line_and_column() {
    let text = "listeners:\n  - bind: 127.0.0.1:1\n    tsl: {}\n";
    let e = parse(text).unwrap_err();
    let s = e.to_string();
    assert!(s.contains("tsl"), "{s}");
    assert!(s.starts_with("t.yaml:3:5"), "{s}");
    assert_eq!(e.to_finding().code, Code::ConfigInvalid);
}

#[test]
fn bad_value_names_the_position_and_key() {
    let text = "limits:\n  handshake_timeout: soon\n";
    let s = parse(text).unwrap_err().to_string();
    assert!(s.starts_with("t.yaml:2:22: handshake_timeout: "), "{s}");
    let text = "upstreams:\n  a:\n    url: http://x\n    timeouts: {first_byte: soonish}\n";
    let s = parse(text).unwrap_err().to_string();
    assert!(s.contains(":4:") && s.contains("first_byte"), "{s}");
}

#[test]
fn total_timeout_none_or_a_duration() {
    let t = |v: &str| {
        parse(&format!(
            "upstreams:\n  a:\n    url: http://x\n    timeouts: {{ total: {v} }}\n"
        ))
        .map(|c| c.upstreams["a"].timeouts.total)
    };
    assert_eq!(t("none").unwrap(), None);
    assert_eq!(t("30m").unwrap().map(|d| d.get().as_secs()), Some(1800));
    assert!(t("soon").is_err());
}

#[test]
fn missing_env_names_the_variable() {
    let text = "upstreams:\n  a:\n    url: ${UPSTREAM_URL}\n";
    let e = parse(text).unwrap_err();
    match &e {
        ConfigError::EnvMissing {
            name, line, column, ..
        } => {
            assert_eq!(name, "UPSTREAM_URL");
            assert_eq!((*line, *column), (3, 10));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(e.to_finding().code, Code::ConfigEnvMissing);
    assert!(e.to_string().contains("UPSTREAM_URL"));
}

#[test]
fn defaults_and_escapes() {
    let text = "upstreams:\n  a:\n    url: ${U:-http://127.0.0.1:1}\n    set_headers:\n      x-lit: \"$${KEY}\"\n";
    let cfg = parse(text).unwrap();
    assert_eq!(cfg.upstreams["a"].url, "http://127.0.0.1:1");
    assert_eq!(cfg.upstreams["a"].set_headers["x-lit"], "${KEY}");
}

#[test]
fn route_to_unknown_upstream_is_rejected() {
    let text = "routes:\n  - upstream: nope\nupstreams:\n  a: { url: http://x }\n";
    let s = parse(text).unwrap_err().to_string();
    assert!(s.contains("routes[0].upstream"), "{s}");
    assert!(s.contains("defined: a"), "{s}");
    assert!(s.starts_with("t.yaml:2:"), "{s}");
}

#[test]
fn public_admin_needs_opt_in() {
    let s = parse("admin:\n  bind: 0.0.0.0:9901\n")
        .unwrap_err()
        .to_string();
    assert!(s.contains("allow_public"), "{s}");
    assert!(parse("admin:\n  bind: 0.0.0.0:9901\n  allow_public: true\n").is_ok());
}

#[test]
fn bad_urls_are_rejected() {
    for url in ["ftp://x", "api.openai.com", "https://", "https://x:99999"] {
        let text = format!("upstreams:\n  a:\n    url: {url}\n");
        assert!(parse(&text).is_err(), "{url} accepted");
    }
}

#[test]
fn default_route_and_overrides() {
    let mut cfg = builtin_default("c".into(), "k".into(), "ca".into(), Some("sk-x".into()));
    assert_eq!(cfg.effective_routes()[0].upstream, "openai");
    cfg.apply_overrides(
        Some("http://127.0.0.1:9000"),
        Some("127.0.0.1:1234".parse().unwrap()),
    )
    .unwrap();
    assert_eq!(cfg.listeners[0].bind.port(), 1234);
    let up = &cfg.upstreams["default"];
    assert_eq!(up.url, "http://127.0.0.1:9000");
    assert!(
        up.set_headers.is_empty(),
        "the OpenAI key must not follow a new host"
    );
    assert_eq!(cfg.effective_routes()[0].upstream, "default");
}

#[test]
fn empty_file_is_all_defaults() {
    let cfg = parse("").unwrap();
    assert!(cfg.listeners.is_empty());
    assert_eq!(cfg.limits.max_connections, 10_000);
}

mod props {
    use super::*;
    use proptest::prelude::*;

    /// YAML-ish lines from the config's own vocabulary: keys, values, indentation, flow
    /// syntax, `${ENV}` references and stray punctuation.
    fn yamlish() -> impl Strategy<Value = String> {
        let key = prop_oneof![
            Just("listeners"),
            Just("routes"),
            Just("upstreams"),
            Just("limits"),
            Just("proxy"),
            Just("bind"),
            Just("tls"),
            Just("url"),
            Just("timeouts"),
            Just("path_prefix"),
            Just("max_request_body_bytes"),
            Just("client_body_timeout"),
            Just("allowed_upgrades"),
            Just("certificates"),
            Just("cert"),
            Just("- name"),
            Just("admin"),
            Just("x"),
        ];
        let value = prop_oneof![
            Just(""),
            Just("10s"),
            Just("1MiB"),
            Just("none"),
            Just("[websocket, h2c]"),
            Just("127.0.0.1:0"),
            Just("http://127.0.0.1:1"),
            Just("${NOPE}"),
            Just("${A:-b}"),
            Just("{a: 1"),
            Just("\"unterminated"),
            Just("-1"),
            Just("99999999999999999999s"),
            Just("*anchor"),
            Just("&a"),
            Just("!!binary x"),
            Just("|"),
            Just("é"),
        ];
        let line = (0usize..6, key, value)
            .prop_map(|(indent, k, v)| format!("{}{k}: {v}", " ".repeat(indent)));
        prop::collection::vec(line, 0..12).prop_map(|l| l.join("\n"))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        #[test]
        fn arbitrary_text_never_panics(text in ".{0,200}") {
            let _ = parse_with_env(&text, "fuzz.yaml", &|_| None);
        }

        #[test]
        fn yaml_ish_text_never_panics(text in yamlish()) {
            let _ = parse_with_env(&text, "fuzz.yaml", &|_| None);
        }
    }
}

#[test]
fn connection_limits_have_the_documented_defaults() {
    let l = parse("").unwrap().limits;
    assert_eq!(l.max_connections_per_ip, None);
    assert_eq!(l.handshake_timeout.get().as_secs(), 10);
    assert_eq!(l.header_read_timeout.get().as_secs(), 30);
    assert_eq!(l.keepalive_timeout.get().as_secs(), 75);
    assert_eq!(l.http2_idle_timeout.get().as_secs(), 300);
    assert_eq!(l.client_body_timeout.get().as_secs(), 60);
    assert_eq!(l.send_timeout.get().as_secs(), 60);
}

#[test]
fn connection_limits_parse_and_are_validated() {
    let text = "limits:\n  max_connections_per_ip: 20\n  keepalive_timeout: 5s\n  http2_idle_timeout: 1m\n  client_body_timeout: 300ms\n  send_timeout: 2s\n";
    let l = parse(text).unwrap().limits;
    assert_eq!(l.max_connections_per_ip, Some(20));
    assert_eq!(l.keepalive_timeout.get().as_secs(), 5);
    assert_eq!(l.http2_idle_timeout.get().as_secs(), 60);
    assert_eq!(l.client_body_timeout.get().as_millis(), 300);
    assert_eq!(l.send_timeout.get().as_secs(), 2);
    for none in ["none", "~", "null"] {
        let l = parse(&format!("limits:\n  max_connections_per_ip: {none}\n"))
            .unwrap()
            .limits;
        assert_eq!(l.max_connections_per_ip, None, "{none}");
    }

    let s = parse("limits:\n  max_connections_per_ip: lots\n")
        .unwrap_err()
        .to_string();
    assert!(
        s.contains(":2:") && s.contains("max_connections_per_ip"),
        "{s}"
    );
    let s = parse("limits:\n  max_connections_per_ip: 0\n")
        .unwrap_err()
        .to_string();
    assert!(
        s.contains("max_connections_per_ip") && s.contains("at least 1"),
        "{s}"
    );
    let s = parse("limits:\n  send_timeout: 0s\n")
        .unwrap_err()
        .to_string();
    assert!(
        s.contains("send_timeout") && s.contains("longer than 0s"),
        "{s}"
    );
    // Unknown keys in the block are still errors, with their position.
    let s = parse("limits:\n  keepalive_timeout: 5s\n  idle_timeout: 5s\n")
        .unwrap_err()
        .to_string();
    assert!(
        s.starts_with("t.yaml:3:3") && s.contains("idle_timeout"),
        "{s}"
    );
}

#[test]
fn upstream_caps_default_to_auto_and_parse() {
    let l = parse("").unwrap().limits;
    assert_eq!(l.upstream_max_connections, None);
    assert_eq!(l.upstream_queue_timeout.get().as_secs(), 10);
    assert_eq!(l.upstream_max_queued, 1024);
    assert_eq!(l.descriptor_reserve, 64);
    let text = "limits:\n  upstream_max_connections: 200\n  upstream_queue_timeout: 0s\n  upstream_max_queued: 5\n  descriptor_reserve: 10\n";
    let l = parse(text).unwrap().limits;
    assert_eq!(l.upstream_max_connections, Some(200));
    // 0s: no waiting, a full upstream answers 503 at once.
    assert!(l.upstream_queue_timeout.get().is_zero());
    assert_eq!((l.upstream_max_queued, l.descriptor_reserve), (5, 10));
    for auto in ["auto", "~"] {
        let l = parse(&format!("limits:\n  upstream_max_connections: {auto}\n"))
            .unwrap()
            .limits;
        assert_eq!(l.upstream_max_connections, None, "{auto}");
    }
    for bad in ["0", "-3", "many"] {
        let s = parse(&format!("limits:\n  upstream_max_connections: {bad}\n"))
            .unwrap_err()
            .to_string();
        assert!(
            s.contains(":2:") && s.contains("upstream_max_connections"),
            "{bad}: {s}"
        );
    }
}

#[test]
fn scale_out_settings() {
    let text = r#"
listeners:
  - bind: 127.0.0.1:8443
    proxy_protocol: v2
    trusted_proxies: [10.0.0.0/8, 192.0.2.7, "2001:db8::/32"]
    tls:
      certificates:
        - cert: /c.pem
          key: /k.pem
      session_tickets:
        key_file: /etc/tlsgate/ticket.key
shutdown:
  drain_delay: 2s
"#;
    let cfg = parse(text).unwrap();
    let l = &cfg.listeners[0];
    assert_eq!(l.proxy_protocol, ProxyProtocol::V2);
    assert_eq!(l.trusted_proxies.len(), 3);
    assert!(l.trusted_proxies[1].contains("192.0.2.7".parse().unwrap()));
    let tickets = l.tls.as_ref().unwrap().session_tickets.as_ref().unwrap();
    assert_eq!(tickets.key_file, PathBuf::from("/etc/tlsgate/ticket.key"));
    assert_eq!(cfg.shutdown.drain_delay.get().as_secs(), 2);
    assert_eq!(cfg.shutdown.drain_timeout.get().as_secs(), 60);

    let defaults = parse("listeners:\n  - bind: 127.0.0.1:1\n").unwrap();
    assert_eq!(defaults.listeners[0].proxy_protocol, ProxyProtocol::Off);
    assert_eq!(defaults.shutdown.drain_delay.get().as_secs(), 5);
    assert_eq!(defaults.shutdown.drain_timeout.get().as_secs(), 60);
}

#[test]
fn proxy_protocol_and_trusted_proxies_go_together() {
    let e = parse("listeners:\n  - bind: 127.0.0.1:1\n    proxy_protocol: any\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("trusted_proxies") && e.contains("0.0.0.0/0"),
        "{e}"
    );
    let e = parse("listeners:\n  - bind: 127.0.0.1:1\n    trusted_proxies: [10.0.0.0/8]\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("proxy_protocol is off"), "{e}");
    let e = parse(
        "listeners:\n  - bind: 127.0.0.1:1\n    proxy_protocol: v1\n    trusted_proxies: [10.1.2.3/8]\n",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("10.0.0.0/8"), "{e}");
    let e = parse("listeners:\n  - bind: 127.0.0.1:1\n    proxy_protocol: v3\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("v3"), "{e}");
}

/// `file:line:column: key: message` of a validation error.
fn refusal(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

#[test]
fn zero_stream_cap_is_refused_naming_key_line_and_column() {
    let s =
        refusal("listeners:\n  - bind: 127.0.0.1:0\nlimits:\n  http2_max_concurrent_streams: 0\n");
    assert!(
        s.starts_with("t.yaml:4:3: limits.http2_max_concurrent_streams: must be at least 1"),
        "{s}"
    );
    assert_eq!(
        parse("limits:\n  http2_max_concurrent_streams: 1\n")
            .unwrap()
            .limits
            .http2_max_concurrent_streams,
        1
    );
}

#[test]
fn zero_caps_and_sizes_that_would_refuse_everything_are_refused() {
    for (yaml, key, line, col) in [
        (
            "limits:\n  max_connections: 0\n",
            "limits.max_connections",
            2,
            3,
        ),
        (
            "limits:\n    max_connections_per_ip: 0\n",
            "limits.max_connections_per_ip",
            2,
            5,
        ),
        (
            "limits:\n  max_request_header_bytes: 0\n",
            "limits.max_request_header_bytes",
            2,
            3,
        ),
        (
            "limits:\n  max_cert_file_bytes: 0KiB\n",
            "limits.max_cert_file_bytes",
            2,
            3,
        ),
        (
            "admin:\n  max_connections: 0\n",
            "admin.max_connections",
            2,
            3,
        ),
    ] {
        let s = refusal(yaml);
        assert!(
            s.starts_with(&format!("t.yaml:{line}:{col}: {key}: must be at least 1")),
            "{yaml}: {s}"
        );
    }
    // A zero body cap is usable (requests without a body), so it is taken.
    let l = parse("limits:\n  max_request_body_bytes: 0\n")
        .unwrap()
        .limits;
    assert_eq!(l.max_request_body_bytes.map(|b| b.0), Some(0));
}

#[test]
fn a_key_in_two_sections_is_located_in_the_one_named() {
    // `admin.max_connections` comes first; the error is about `limits.max_connections`.
    let s = refusal(
        "admin:\n  max_connections: 5\nlimits:\n  handshake_timeout: 5s\n  max_connections: 0\n",
    );
    assert!(s.starts_with("t.yaml:5:3: limits.max_connections:"), "{s}");
    let s = refusal("limits:\n  max_connections: 5\nadmin:\n  max_connections: 0\n");
    assert!(s.starts_with("t.yaml:4:3: admin.max_connections:"), "{s}");
}

#[test]
fn zero_timeouts_are_refused_naming_key_line_and_column() {
    for (yaml, key, line, col) in [
        (
            "limits:\n  handshake_timeout: 0s\n",
            "limits.handshake_timeout",
            2,
            3,
        ),
        (
            "limits:\n  keepalive_timeout: 0ms\n",
            "limits.keepalive_timeout",
            2,
            3,
        ),
        (
            "admin:\n  header_read_timeout: 0s\n",
            "admin.header_read_timeout",
            2,
            3,
        ),
        (
            "admin:\n  bind: 127.0.0.1:0\n  idle_timeout: 0s\n",
            "admin.idle_timeout",
            3,
            3,
        ),
        (
            "upstreams:\n  a:\n    url: http://127.0.0.1:1\n    timeouts: { connect: 0s }\n",
            "upstreams.a.timeouts.connect",
            4,
            17,
        ),
        (
            "upstreams:\n  a:\n    url: http://127.0.0.1:1\n    timeouts:\n      first_byte: 0s\n",
            "upstreams.a.timeouts.first_byte",
            5,
            7,
        ),
        (
            "upstreams:\n  a:\n    url: http://127.0.0.1:1\n    timeouts:\n      total: 0s\n",
            "upstreams.a.timeouts.total",
            5,
            7,
        ),
    ] {
        let s = refusal(yaml);
        assert!(
            s.starts_with(&format!(
                "t.yaml:{line}:{col}: {key}: must be longer than 0s"
            )),
            "{yaml}: {s}"
        );
    }
}

#[test]
fn admin_idle_timeout_defaults_to_60s_and_is_separate() {
    let a = parse("").unwrap().admin;
    assert_eq!(a.idle_timeout.get().as_secs(), 60);
    assert_eq!(a.header_read_timeout.get().as_secs(), 10);
    let a = parse("admin:\n  header_read_timeout: 2s\n  idle_timeout: 5m\n")
        .unwrap()
        .admin;
    assert_eq!(a.header_read_timeout.get().as_secs(), 2);
    assert_eq!(a.idle_timeout.get().as_secs(), 300);
}

#[test]
fn errors_in_sequence_items_point_at_the_item() {
    let s = refusal(
        "listeners:\n  - name: a\n    bind: 127.0.0.1:1\n  - name: b\n    bind: 127.0.0.1:1\n",
    );
    assert!(s.starts_with("t.yaml:5:5: listeners[1].bind:"), "{s}");
}
