use super::*;
use http::HeaderValue;

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_bytes(v.as_bytes()).unwrap(),
        );
    }
    h
}

fn origin(p: &str) -> Uri {
    p.parse().unwrap()
}

#[test]
fn http11_host_rules() {
    let v = Version::HTTP_11;
    let u = origin("/v1/models");
    assert!(check_host(v, &u, &headers(&[("host", "api.example.com")])).is_ok());
    assert!(check_host(v, &u, &headers(&[("host", "127.0.0.1:8443")])).is_ok());
    assert!(check_host(v, &u, &headers(&[("host", "[::1]:8443")])).is_ok());
    for bad in [
        vec![],
        vec![("host", "a"), ("host", "b")],
        vec![("host", "")],
        vec![("host", "user@evil.example")],
        vec![("host", "a b")],
        vec![("host", "host:port")],
        vec![("host", "host:99999")],
        vec![("host", "[::1")],
        vec![("host", "exa/mple")],
    ] {
        let r = check_host(v, &u, &headers(&bad));
        assert_eq!(
            r.map_err(|e| e.code),
            Err(Code::ClientHostInvalid),
            "{bad:?}"
        );
    }
    // HTTP/1.0 may omit Host.
    assert!(check_host(Version::HTTP_10, &u, &HeaderMap::new()).is_ok());
}

#[test]
fn authority_and_host_must_agree() {
    let u: Uri = "https://localhost:8443/v1/models".parse().unwrap();
    let v = Version::HTTP_2;
    assert!(check_host(v, &u, &HeaderMap::new()).is_ok());
    assert!(check_host(v, &u, &headers(&[("host", "LOCALHOST:8443")])).is_ok());
    let r = check_host(v, &u, &headers(&[("host", "other.example")])).unwrap_err();
    assert_eq!(r.code, Code::ClientHostInvalid);
    assert!(r.why.contains(":authority"), "{}", r.why);
    // Absolute-form on HTTP/1.1: the same rule.
    let r = check_host(Version::HTTP_11, &u, &headers(&[("host", "x")])).unwrap_err();
    assert!(r.why.contains("absolute-form"), "{}", r.why);
}

#[test]
fn methods_and_options_asterisk() {
    assert!(check_method(&Method::CONNECT).is_err());
    assert!(check_method(&Method::TRACE).is_err());
    assert!(check_method(&Method::POST).is_ok());
    let star = Uri::from_static("*");
    assert!(is_options_asterisk(&Method::OPTIONS, &star));
    assert!(!is_options_asterisk(&Method::GET, &star));
    assert!(!is_options_asterisk(&Method::OPTIONS, &origin("/v1")));
}

#[test]
fn upgrade_tokens_are_checked_against_the_allow_list() {
    let allowed = vec!["websocket".to_string()];
    let h = headers(&[("connection", "Upgrade"), ("upgrade", "WebSocket")]);
    let t = upgrade_tokens(&h).unwrap();
    assert!(check_upgrade(&t, &allowed).is_ok());
    let h = headers(&[
        ("connection", "upgrade, HTTP2-Settings"),
        ("upgrade", "h2c"),
    ]);
    let r = check_upgrade(&upgrade_tokens(&h).unwrap(), &allowed).unwrap_err();
    assert_eq!(r.code, Code::ClientUpgradeRefused);
    let h = headers(&[("connection", "upgrade"), ("upgrade", "websocket, TLS/1.2")]);
    assert!(check_upgrade(&upgrade_tokens(&h).unwrap(), &allowed).is_err());
    // No `Connection: upgrade`: not an upgrade request (the header is stripped as hop-by-hop).
    assert!(upgrade_tokens(&headers(&[("upgrade", "h2c")])).is_none());
}

#[test]
fn head_size_counts_line_and_fields() {
    let h = headers(&[("host", "x"), ("x-big", &"b".repeat(1000))]);
    let n = head_size(&Method::GET, &origin("/v1?a=1"), &h);
    assert!((1010..1100).contains(&n), "{n}");
}

/// Line and direction controls a client can put in a header value (obs-text; C0 controls are
/// refused by the HTTP parser before any check runs).
const HOSTILE: &str = "a\u{2028}b\u{202e}c\u{85}d\\";
const HOSTILE_ESCAPED: &str = "a\\xe2\\x80\\xa8b\\xe2\\x80\\xaec\\xc2\\x85d\\\\";

fn assert_escaped(why: &str) {
    for c in ['\u{2028}', '\u{202e}', '\u{85}'] {
        assert!(!why.contains(c), "U+{:04X} raw in {why}", c as u32);
    }
    assert!(why.contains(HOSTILE_ESCAPED), "{why}");
}

#[test]
fn quoted_host_and_upgrade_are_escaped() {
    let mut h = HeaderMap::new();
    h.insert(
        http::header::HOST,
        HeaderValue::from_bytes(HOSTILE.as_bytes()).unwrap(),
    );
    let r = check_host(Version::HTTP_11, &origin("/"), &h).unwrap_err();
    assert_eq!(r.code, Code::ClientHostInvalid);
    assert_escaped(&r.why);

    let mut h = headers(&[("connection", "upgrade")]);
    h.insert(
        http::header::UPGRADE,
        HeaderValue::from_bytes(HOSTILE.as_bytes()).unwrap(),
    );
    let t = upgrade_tokens(&h).unwrap();
    let r = check_upgrade(&t, &["websocket".to_string()]).unwrap_err();
    assert_eq!(r.code, Code::ClientUpgradeRefused);
    assert_escaped(&r.why);
}
