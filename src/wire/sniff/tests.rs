use super::*;

fn http(method: &str, host: Option<&str>, path: Option<&str>) -> Sniffed {
    Sniffed::PlainHttp {
        method: method.into(),
        host: host.map(Into::into),
        path: path.map(Into::into),
    }
}

#[test]
fn tls_handshake_records() {
    assert_eq!(sniff(&[0x16, 0x03, 0x01, 0x02, 0x00]), Sniffed::Tls);
    assert_eq!(sniff(&[0x16, 0x03, 0x03]), Sniffed::Tls);
    assert_eq!(sniff(&[0x16, 0x03, 0x00]), Sniffed::Tls);
    assert_eq!(sniff(&[0x16]), Sniffed::NeedMore);
    assert_eq!(sniff(&[0x16, 0x03]), Sniffed::NeedMore);
    assert!(matches!(
        sniff(&[0x16, 0x04, 0x01]),
        Sniffed::Unknown { .. }
    ));
    assert!(matches!(
        sniff(&[0x16, 0x03, 0x09]),
        Sniffed::Unknown { .. }
    ));
}

#[test]
fn other_tls_records() {
    assert_eq!(
        sniff(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x32]),
        Sniffed::TlsOtherRecord { content_type: 21 }
    );
    assert_eq!(
        sniff(&[0x17, 0x03, 0x03]),
        Sniffed::TlsOtherRecord { content_type: 23 }
    );
    assert_eq!(sniff(&[0x15, 0x03]), Sniffed::NeedMore);
    let d = Sniffed::TlsOtherRecord { content_type: 21 }.describe();
    assert!(d.contains("alert"), "{d}");
}

#[test]
fn empty_and_single_bytes() {
    assert_eq!(sniff(b""), Sniffed::NeedMore);
    assert_eq!(sniff(b"G"), Sniffed::NeedMore);
    assert_eq!(sniff(b"\x80"), Sniffed::NeedMore);
    assert_eq!(sniff(b"\r"), Sniffed::NeedMore); // PROXY v2 signature starts with \r
    assert!(matches!(sniff(b"\x00"), Sniffed::Unknown { .. }));
    assert!(matches!(sniff(b"x"), Sniffed::Unknown { .. }));
}

#[test]
fn plain_http_request_line_and_host() {
    assert_eq!(
        sniff(b"GET /index.html HTTP/1.1\r\nHost: example.com:8443\r\nAccept: */*\r\n\r\n"),
        http("GET", Some("example.com:8443"), Some("/index.html"))
    );
    assert_eq!(
        sniff(b"POST /api HTTP/1.1\r\nContent-Length: 0\r\nhOsT:   api.test  \r\n"),
        http("POST", Some("api.test"), Some("/api"))
    );
    // Request line only: no Host yet.
    assert_eq!(sniff(b"HEAD / HTTP/1.0"), http("HEAD", None, Some("/")));
    assert_eq!(sniff(b"GET "), http("GET", None, None));
    // CONNECT carries an authority as its target.
    assert_eq!(
        sniff(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"),
        http("CONNECT", Some("example.com:443"), Some("example.com:443"))
    );
    // Unusual but valid methods.
    assert_eq!(
        sniff(b"PROPFIND / HTTP/1.1"),
        http("PROPFIND", None, Some("/"))
    );
    assert_eq!(sniff(b"PRI /x HTTP/1.1"), http("PRI", None, Some("/x")));
    // LF-only line endings.
    assert_eq!(
        sniff(b"GET / HTTP/1.1\nHost: a.b\n\n"),
        http("GET", Some("a.b"), Some("/"))
    );
}

#[test]
fn partial_methods_need_more() {
    assert_eq!(sniff(b"GE"), Sniffed::NeedMore);
    assert_eq!(sniff(b"OPTIONS"), Sniffed::NeedMore);
    assert_eq!(sniff(b"PR"), Sniffed::NeedMore);
    assert_eq!(sniff(b"PRI * HTTP/2"), Sniffed::NeedMore);
    assert_eq!(sniff(b"PROX"), Sniffed::NeedMore);
    assert_eq!(sniff(b"SS"), Sniffed::NeedMore);
    // Too long to be a method.
    assert!(matches!(
        sniff(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
        Sniffed::Unknown { .. }
    ));
    // Lower case or no space: not a method.
    assert!(matches!(sniff(b"get / HTTP/1.1"), Sniffed::Unknown { .. }));
    assert!(matches!(sniff(b"GET\t/"), Sniffed::Unknown { .. }));
    assert!(matches!(sniff(b" GET /"), Sniffed::Unknown { .. }));
}

#[test]
fn sniff_final_never_needs_more() {
    assert!(matches!(sniff_final(b"GE"), Sniffed::Unknown { hex_prefix } if hex_prefix == "4745"));
    assert!(matches!(sniff_final(b""), Sniffed::Unknown { hex_prefix } if hex_prefix.is_empty()));
    assert_eq!(sniff_final(b"GET / "), http("GET", None, Some("/")));
}

#[test]
fn h2c_preface() {
    assert_eq!(
        sniff(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
        Sniffed::H2cPreface
    );
    assert_eq!(Sniffed::H2cPreface.code(), Some(Code::NotTls));
}

#[test]
fn ssh_banner() {
    let s = sniff(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n");
    assert_eq!(
        s,
        Sniffed::Ssh {
            banner: "SSH-2.0-OpenSSH_9.2p1 Debian-2".into()
        }
    );
    assert_eq!(
        s.describe(),
        "an SSH client banner 'SSH-2.0-OpenSSH_9.2p1 Debian-2'"
    );
    assert_eq!(s.code(), Some(Code::NotTls));
    // A banner without a line end yet is still SSH.
    assert_eq!(
        sniff(b"SSH-2.0"),
        Sniffed::Ssh {
            banner: "SSH-2.0".into()
        }
    );
}

#[test]
fn proxy_protocol() {
    assert_eq!(
        sniff(b"PROXY TCP4 192.0.2.1 192.0.2.2 56324 443\r\n\x16\x03\x01"),
        Sniffed::ProxyProtocol { version: 1 }
    );
    assert_eq!(
        sniff(b"PROXY UNKNOWN\r\n"),
        Sniffed::ProxyProtocol { version: 1 }
    );
    let mut v2 = PROXY_V2_SIGNATURE.to_vec();
    v2.extend_from_slice(&[0x21, 0x11, 0x00, 0x0c]);
    assert_eq!(sniff(&v2), Sniffed::ProxyProtocol { version: 2 });
    assert_eq!(sniff(&v2[..7]), Sniffed::NeedMore);
    assert_eq!(
        Sniffed::ProxyProtocol { version: 2 }.code(),
        Some(Code::ProxyProtocolUnexpected)
    );
    // "PROXYX" is neither PROXY nor a method.
    assert!(matches!(sniff(b"PROXYX"), Sniffed::NeedMore));
    assert!(matches!(sniff(b"PROXYX "), Sniffed::PlainHttp { .. }));
}

#[test]
fn sslv2_hello() {
    // SSLv2-format hello from an SSLv3/TLS 1.0 client.
    assert_eq!(
        sniff(&[0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15]),
        Sniffed::SslV2Hello
    );
    // A genuine SSLv2 client.
    assert_eq!(sniff(&[0x80, 0x2e, 0x01, 0x00, 0x02]), Sniffed::SslV2Hello);
    assert_eq!(sniff(&[0x80, 0x2e, 0x01, 0x00]), Sniffed::NeedMore);
    assert_eq!(sniff(&[0x80, 0x2e]), Sniffed::NeedMore);
    assert!(matches!(
        sniff(&[0x80, 0x2e, 0x02]),
        Sniffed::Unknown { .. }
    ));
    assert_eq!(Sniffed::SslV2Hello.code(), Some(Code::NotTls));
}

#[test]
fn unknown_bytes_are_hex() {
    let s = sniff(b"\x00\x01\x02garbage that goes on and on");
    assert_eq!(
        s,
        Sniffed::Unknown {
            hex_prefix: "00010267617262616765207468617420".into()
        }
    );
    assert!(s.describe().contains("000102"));
    assert_eq!(s.code(), Some(Code::NotTls));
}

#[test]
fn codes_for_tls_and_need_more_are_none() {
    assert_eq!(Sniffed::Tls.code(), None);
    assert_eq!(Sniffed::NeedMore.code(), None);
    assert_eq!(
        http("GET", None, None).code(),
        Some(Code::PlainHttpOnTlsPort)
    );
}

#[test]
fn peer_strings_are_bounded_and_printable() {
    let mut req = b"GET /".to_vec();
    req.extend(std::iter::repeat_n(b'a', 500));
    req.extend_from_slice(b" HTTP/1.1\r\nHost: evil\x1b[31m.example\r\n\r\n");
    let Sniffed::PlainHttp { path, host, .. } = sniff(&req) else {
        panic!("not http")
    };
    let path = path.unwrap();
    assert!(path.len() <= 64, "{}", path.len());
    assert!(path.ends_with("..."));
    let host = host.unwrap();
    assert_eq!(host, "evil\\x1b[31m.example");
    assert!(host.chars().all(|c| c.is_ascii_graphic()));

    let s = sniff(b"SSH-2.0-\x00\x07\xff bad\r\n");
    assert_eq!(
        s,
        Sniffed::Ssh {
            banner: "SSH-2.0-\\x00\\x07\\xff bad".into()
        }
    );
    let long = printable(&[0xffu8; 100]);
    assert!(long.len() <= 64);
}

#[test]
fn head_complete() {
    assert!(!http_head_complete(b"GET / HTTP/1.1\r\nHost: a\r\n"));
    assert!(http_head_complete(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
    assert!(http_head_complete(b"GET / HTTP/1.0\n\n"));
}

fn split_response(r: &[u8]) -> (String, String) {
    let s = String::from_utf8(r.to_vec()).unwrap();
    let (head, body) = s.split_once("\r\n\r\n").unwrap();
    (head.to_string(), body.to_string())
}

#[test]
fn plain_http_response_is_complete_and_names_the_url() {
    let r = plain_http_response(Some("example.com:8443"), 8443);
    let (head, body) = split_response(&r);
    assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"));
    assert!(head.contains("\r\nConnection: close"));
    assert!(head.contains("\r\nContent-Type: text/plain"));
    assert!(head.contains(&format!("\r\nContent-Length: {}", body.len())));
    assert_eq!(
        body,
        "This port speaks HTTPS. Use https://example.com:8443/ instead of http://\n"
    );
}

#[test]
fn plain_http_response_host_sanitising() {
    let body = |h: Option<&str>, p| split_response(&plain_http_response(h, p)).1;
    assert!(body(None, 8443).contains("https://localhost:8443/"));
    assert!(body(Some("a.example"), 443).contains("https://a.example/ "));
    assert!(body(Some("[::1]:8443"), 8443).contains("https://[::1]:8443/"));
    assert!(body(Some("[::1]"), 9000).contains("https://[::1]:9000/"));
    assert!(body(Some("::1"), 9000).contains("https://[::1]:9000/"));
    assert!(body(Some("127.0.0.1:80"), 8443).contains("https://127.0.0.1:8443/"));
    for bad in [
        "<script>",
        "a b",
        "evil\r\nSet-Cookie: x",
        "",
        ":8443",
        "[::1",
        "a]b",
        "\\x1b",
    ] {
        assert!(
            body(Some(bad), 8443).contains("https://localhost:8443/"),
            "{bad:?}"
        );
    }
    let long = "a".repeat(300);
    assert!(body(Some(&long), 1).contains("https://localhost:1/"));
}

mod props {
    use super::*;
    use proptest::prelude::*;

    fn evidence_is_bounded(s: &Sniffed) -> bool {
        let strings: Vec<&str> = match s {
            Sniffed::PlainHttp { method, host, path } => {
                let mut v = vec![method.as_str()];
                v.extend(host.as_deref());
                v.extend(path.as_deref());
                v
            }
            Sniffed::Ssh { banner } => vec![banner.as_str()],
            Sniffed::Unknown { hex_prefix } => vec![hex_prefix.as_str()],
            _ => vec![],
        };
        strings
            .iter()
            .all(|t| t.len() <= 64 && t.chars().all(|c| c.is_ascii_graphic() || c == ' '))
    }

    proptest! {
        /// Total: any bytes give a verdict, whose evidence is short and printable.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let s = sniff(&bytes);
            prop_assert!(evidence_is_bounded(&s), "{:?}", s);
            let _ = s.describe();
            let _ = s.code();
            let f = sniff_final(&bytes);
            prop_assert_ne!(&f, &Sniffed::NeedMore);
            prop_assert!(evidence_is_bounded(&f), "{:?}", f);
            let _ = http_head_complete(&bytes);
        }

        /// HTTP-looking input (the branch with the most parsing) never panics either.
        #[test]
        fn http_like_input_never_panics(
            method in "[A-Z]{0,12}",
            target in "[ -~]{0,80}",
            rest in proptest::collection::vec(any::<u8>(), 0..120),
        ) {
            let mut b = format!("{method} {target} HTTP/1.1\r\nHost: ").into_bytes();
            b.extend(rest);
            let s = sniff(&b);
            prop_assert!(evidence_is_bounded(&s), "{:?}", s);
        }

        /// The plain-HTTP answer is always one complete response, whatever Host said.
        #[test]
        fn plain_http_response_is_always_complete(host in proptest::option::of(".{0,80}"), port in any::<u16>()) {
            let r = plain_http_response(host.as_deref(), port);
            prop_assert!(http_head_complete(&r));
            let text = String::from_utf8(r).unwrap();
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            prop_assert!(head.contains(&format!("Content-Length: {}", body.len())), "{}", head);
            prop_assert_eq!(head.lines().count(), 4);
        }
    }
}

#[test]
fn printable_text_borrows_printable_text_and_escapes_the_rest() {
    use std::borrow::Cow;
    assert!(matches!(
        printable_text("/v1/chat?x=1", 64),
        Cow::Borrowed(_)
    ));
    assert!(matches!(printable_text("GET", 64), Cow::Borrowed(_)));
    assert_eq!(
        printable_text("/a\u{2028}b\u{202e}c\u{85}\u{7}\\", 64),
        "/a\\xe2\\x80\\xa8b\\xe2\\x80\\xaec\\xc2\\x85\\x07\\\\"
    );
    assert_eq!(printable_text(&"a".repeat(10), 8), "aaaaa...");
}
