use super::*;

fn map(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

fn client() -> ClientSide<'static> {
    ClientSide {
        peer_ip: "192.0.2.7".parse().unwrap(),
        proto: "https",
        host: Some("gw.example.com:8443"),
    }
}

#[test]
fn hop_by_hop_and_connection_listed_headers_are_removed() {
    let mut h = map(&[
        ("connection", "keep-alive, x-secret-hop"),
        ("keep-alive", "timeout=5"),
        ("x-secret-hop", "1"),
        ("te", "trailers"),
        ("transfer-encoding", "chunked"),
        ("upgrade", "h2c"),
        ("proxy-authorization", "Basic abc"),
        ("content-type", "application/json"),
    ]);
    rewrite_request_headers(&mut h, &client(), &[], false);
    for gone in [
        "connection",
        "keep-alive",
        "x-secret-hop",
        "te",
        "transfer-encoding",
        "upgrade",
        "proxy-authorization",
    ] {
        assert!(!h.contains_key(gone), "{gone} should be stripped");
    }
    assert_eq!(h["content-type"], "application/json");
}

#[test]
fn forwarded_headers_are_added_and_chained() {
    // HTTP/1: the Host header is what the client asked for.
    let mut h = map(&[
        ("host", "gw.example.com"),
        ("x-forwarded-for", "203.0.113.1"),
    ]);
    rewrite_request_headers(&mut h, &client(), &[], false);
    assert!(!h.contains_key("host"));
    assert_eq!(h["x-forwarded-for"], "203.0.113.1, 192.0.2.7");
    assert_eq!(h["x-forwarded-proto"], "https");
    assert_eq!(h["x-forwarded-host"], "gw.example.com");
    // HTTP/2: no Host header, the :authority is used.
    let mut h = map(&[]);
    rewrite_request_headers(&mut h, &client(), &[], false);
    assert_eq!(h["x-forwarded-host"], "gw.example.com:8443");
    assert_eq!(h["x-forwarded-for"], "192.0.2.7");
}

#[test]
fn set_headers_replace_what_the_client_sent() {
    let mut h = map(&[
        ("authorization", "Bearer dummy"),
        ("Authorization", "Bearer dummy2"),
    ]);
    let set = [(
        header::AUTHORIZATION,
        HeaderValue::from_static("Bearer sk-injected"),
    )];
    rewrite_request_headers(&mut h, &client(), &set, false);
    let all: Vec<_> = h.get_all("authorization").iter().collect();
    assert_eq!(all, ["Bearer sk-injected"]);
}

#[test]
fn websocket_upgrade_keeps_upgrade_headers() {
    let mut h = map(&[
        ("connection", "Upgrade"),
        ("upgrade", "websocket"),
        ("sec-websocket-key", "x"),
    ]);
    assert!(is_upgrade_request(&h));
    rewrite_request_headers(&mut h, &client(), &[], true);
    assert_eq!(h["upgrade"], "websocket");
    assert_eq!(h["connection"], "upgrade");
    assert_eq!(h["sec-websocket-key"], "x");
}

#[test]
fn response_keeps_upstream_headers_and_encoding() {
    let mut h = map(&[
        ("x-request-id", "req_1"),
        ("openai-processing-ms", "12"),
        ("x-ratelimit-remaining-requests", "99"),
        ("retry-after", "2"),
        ("content-encoding", "gzip"),
        ("connection", "close"),
        ("transfer-encoding", "chunked"),
    ]);
    rewrite_response_headers(&mut h, false);
    assert_eq!(h.len(), 5);
    assert_eq!(h["content-encoding"], "gzip");
}

#[test]
fn forwarded_for_is_the_address_text_appended_to_the_chain() {
    let cases = [
        "0.0.0.0",
        "9.99.100.255",
        "10.1.2.3",
        "255.255.255.255",
        "::1",
        "2001:db8::7",
        "::ffff:192.0.2.1",
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    ];
    for text in cases {
        let ip: IpAddr = text.parse().unwrap();
        assert_eq!(forwarded_for(None, ip).unwrap(), text);
        assert_eq!(
            forwarded_for(Some(b"203.0.113.1"), ip).unwrap(),
            format!("203.0.113.1, {text}").as_str()
        );
    }
    // A chain longer than the stack buffer takes the heap path, same result.
    let long = "198.51.100.1, ".repeat(30) + "198.51.100.2";
    let ip: IpAddr = "2001:db8::7".parse().unwrap();
    assert_eq!(
        forwarded_for(Some(long.as_bytes()), ip).unwrap(),
        format!("{long}, 2001:db8::7").as_str()
    );
}

proptest::proptest! {
    #[test]
    fn forwarded_for_matches_display_for_every_address(v4: u32, v6: u128) {
        for ip in [IpAddr::from(std::net::Ipv4Addr::from(v4)), IpAddr::from(std::net::Ipv6Addr::from(v6))] {
            let v = forwarded_for(None, ip).unwrap();
            proptest::prop_assert_eq!(v.to_str().unwrap(), ip.to_string());
        }
    }
}
