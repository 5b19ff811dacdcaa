use super::*;
use proptest::prelude::*;

/// A v2 header built by hand: command (0 LOCAL, 1 PROXY), family/protocol byte, payload.
fn v2(command: u8, fam: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = V2_SIGNATURE.to_vec();
    v.push(0x20 | command);
    v.push(fam);
    v.extend((payload.len() as u16).to_be_bytes());
    v.extend_from_slice(payload);
    v
}

fn ipv4_payload(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend(src);
    p.extend(dst);
    p.extend(sport.to_be_bytes());
    p.extend(dport.to_be_bytes());
    p
}

fn tlv(kind: u8, value: &[u8]) -> Vec<u8> {
    let mut t = vec![kind];
    t.extend((value.len() as u16).to_be_bytes());
    t.extend_from_slice(value);
    t
}

#[test]
fn v1_tcp4_names_the_client() {
    let line = b"PROXY TCP4 127.0.0.7 127.0.0.1 40000 8443\r\n";
    assert_eq!(version_of(&line[..PREFIX_LEN]), Some(Version::V1));
    assert_eq!(v1_line_end(line), Some(line.len()));
    let h = parse(line).unwrap();
    assert_eq!(h.version, Version::V1);
    assert_eq!(h.source, Some("127.0.0.7:40000".parse().unwrap()));
    assert_eq!(h.destination, Some("127.0.0.1:8443".parse().unwrap()));
    assert!(!h.local);
}

#[test]
fn v1_tcp6_and_unknown() {
    let h = parse(b"PROXY TCP6 2001:db8::1 2001:db8::2 1234 443\r\n").unwrap();
    assert_eq!(h.source, Some("[2001:db8::1]:1234".parse().unwrap()));
    let h = parse(b"PROXY TCP6 ::ffff:10.1.2.3 ::1 1234 443\r\n").unwrap();
    assert_eq!(
        h.source,
        Some("10.1.2.3:1234".parse().unwrap()),
        "an IPv4-mapped client is shown as IPv4"
    );
    let h = parse(b"PROXY UNKNOWN\r\n").unwrap();
    assert_eq!(h.source, None);
    let peer: SocketAddr = "10.0.0.9:5555".parse().unwrap();
    assert_eq!(client_address(&h, peer), peer, "UNKNOWN: the real peer");
}

#[test]
fn v1_malformed_lines_are_refused_with_a_reason() {
    for bad in [
        &b"PROXY TCP4 999.0.0.1 127.0.0.1 1 2\r\n"[..],
        b"PROXY TCP4 127.0.0.1 127.0.0.1 1\r\n",
        b"PROXY TCP5 127.0.0.1 127.0.0.1 1 2\r\n",
        b"PROXY TCP4 127.0.0.1 127.0.0.1 1 2\n",
        b"PROXY TCP4 127.0.0.1 127.0.0.1 1 99999\r\n",
        b"PROXY TCP4 ::1 ::1 1 2\r\n",
    ] {
        let e = parse(bad).unwrap_err();
        assert!(e.contains("v1"), "{e}");
    }
    let long = [b"PROXY ".as_slice(), &[b'x'; 120], b"\r\n"].concat();
    assert!(parse(&long).unwrap_err().contains("107"));
}

#[test]
fn v2_proxy_ipv4_with_authority_and_alpn() {
    let mut payload = ipv4_payload([127, 0, 0, 7], [127, 0, 0, 1], 40000, 8443);
    payload.extend(tlv(0x02, b"api.example.com"));
    payload.extend(tlv(0x01, b"h2"));
    payload.extend(tlv(0x04, b"\0\0\0")); // NOOP, ignored
    let bytes = v2(1, 0x11, &payload);
    assert_eq!(version_of(&bytes[..PREFIX_LEN]), Some(Version::V2));
    assert_eq!(v2_len(&bytes[..V2_FIXED]), Ok(bytes.len()));
    let h = parse(&bytes).unwrap();
    assert_eq!(h.version, Version::V2);
    assert_eq!(h.source, Some("127.0.0.7:40000".parse().unwrap()));
    assert_eq!(h.authority.as_deref(), Some("api.example.com"));
    assert_eq!(h.alpn.as_deref(), Some("h2"));
    assert!(!h.local);
}

#[test]
fn v2_local_uses_the_real_peer() {
    let bytes = v2(0, 0x00, &[]);
    let h = parse(&bytes).unwrap();
    assert!(h.local);
    assert_eq!(h.source, None);
    // LOCAL with addresses present: still the proxy itself, addresses ignored.
    let bytes = v2(0, 0x11, &ipv4_payload([1, 2, 3, 4], [5, 6, 7, 8], 1, 2));
    let h = parse(&bytes).unwrap();
    assert!(h.local);
    assert_eq!(h.source, None);
}

#[test]
fn v2_refusals() {
    // Too long a payload is refused before it is read.
    let mut fixed = V2_SIGNATURE.to_vec();
    fixed.extend([0x21, 0x11]);
    fixed.extend(((V2_MAX_PAYLOAD + 1) as u16).to_be_bytes());
    assert!(v2_len(&fixed).unwrap_err().contains("at most"));
    // Wrong version nibble, bad command, UDP, addresses shorter than the family needs.
    let mut bad_version = v2(1, 0x11, &ipv4_payload([1, 1, 1, 1], [2, 2, 2, 2], 1, 2));
    bad_version[12] = 0x11;
    assert!(parse(&bad_version).is_err());
    let mut bad_command = v2(1, 0x11, &ipv4_payload([1, 1, 1, 1], [2, 2, 2, 2], 1, 2));
    bad_command[12] = 0x2f;
    assert!(parse(&bad_command).is_err());
    assert!(parse(&v2(
        1,
        0x12,
        &ipv4_payload([1, 1, 1, 1], [2, 2, 2, 2], 1, 2)
    ))
    .unwrap_err()
    .contains("UDP"));
    assert!(parse(&v2(1, 0x11, &[1, 2, 3])).is_err());
    // A TLV running past the end.
    let mut payload = ipv4_payload([1, 1, 1, 1], [2, 2, 2, 2], 1, 2);
    payload.extend([0x02, 0x00, 0x09, b'a']);
    assert!(parse(&v2(1, 0x11, &payload)).unwrap_err().contains("TLV"));
    // A length that disagrees with the bytes given.
    let mut short = v2(1, 0x11, &ipv4_payload([1, 1, 1, 1], [2, 2, 2, 2], 1, 2));
    short.pop();
    assert!(parse(&short).is_err());
}

#[test]
fn not_a_header() {
    assert_eq!(version_of(b"\x16\x03\x01\x02\x00\x01"), None);
    assert_eq!(version_of(b"GET / HTTP/1.1"), None);
    assert!(parse(b"GET / HTTP/1.1\r\n").is_err());
}

#[test]
fn tlv_text_is_bounded_and_printable() {
    let mut payload = ipv4_payload([1, 1, 1, 1], [2, 2, 2, 2], 1, 2);
    payload.extend(tlv(0x02, &[b'a'; 400]));
    payload.extend(tlv(0x01, b"h2\n\x1b[31m"));
    let h = parse(&v2(1, 0x11, &payload)).unwrap();
    assert_eq!(h.authority.unwrap().len(), MAX_TLV_TEXT);
    assert!(!h.alpn.unwrap().chars().any(char::is_control));
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse(&bytes);
        let _ = v2_len(&bytes);
        let _ = v1_line_end(&bytes);
    }

    #[test]
    fn arbitrary_v2_payloads_never_panic(
        command in 0u8..3,
        fam in any::<u8>(),
        payload in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let _ = parse(&v2(command, fam, &payload));
    }

    #[test]
    fn arbitrary_v1_lines_never_panic(body in "[ -~]{0,110}") {
        let line = format!("PROXY {body}\r\n");
        let _ = parse(line.as_bytes());
    }
}

#[test]
fn tlv_text_escapes_line_and_direction_controls() {
    let mut payload = ipv4_payload([1, 1, 1, 1], [2, 2, 2, 2], 1, 2);
    payload.extend(tlv(0x02, "api\u{2028}x\u{202e}y\u{85}\x07\\".as_bytes()));
    payload.extend(tlv(0x01, "h2\u{2029}".as_bytes()));
    let h = parse(&v2(1, 0x11, &payload)).unwrap();
    assert_eq!(
        h.authority.as_deref(),
        Some("api\\xe2\\x80\\xa8x\\xe2\\x80\\xaey\\xc2\\x85\\x07\\\\")
    );
    assert_eq!(h.alpn.as_deref(), Some("h2\\xe2\\x80\\xa9"));
}
