use std::time::Duration;

use tokio::io::AsyncWriteExt;

use super::*;
use crate::config::Cidr;

async fn pair() -> (TcpStream, TcpStream) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    let (server, _) = l.accept().await.unwrap();
    (client, server)
}

fn v2_header(src: [u8; 4], tlvs: &[u8]) -> Vec<u8> {
    let mut v = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    v.extend([0x21, 0x11]);
    v.extend(((12 + tlvs.len()) as u16).to_be_bytes());
    v.extend(src);
    v.extend([127, 0, 0, 1]);
    v.extend(40000u16.to_be_bytes());
    v.extend(8443u16.to_be_bytes());
    v.extend_from_slice(tlvs);
    v
}

async fn rest_of(server: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut rest = vec![0u8; n];
    server.read_exact(&mut rest).await.unwrap();
    rest
}

#[tokio::test]
async fn a_v1_header_is_taken_and_the_bytes_after_it_stay() {
    let (mut c, mut s) = pair().await;
    c.write_all(b"PROXY TCP4 127.0.0.7 127.0.0.1 40000 8443\r\n\x16\x03\x01rest")
        .await
        .unwrap();
    let mut n = 0;
    let h = read_header(&mut s, ProxyProtocol::Any, &mut n)
        .await
        .unwrap();
    assert_eq!(h.source, Some("127.0.0.7:40000".parse().unwrap()));
    assert_eq!(n, "PROXY TCP4 127.0.0.7 127.0.0.1 40000 8443\r\n".len());
    assert_eq!(rest_of(&mut s, 7).await, b"\x16\x03\x01rest");
}

#[tokio::test]
async fn a_v1_line_split_across_segments_is_reassembled() {
    let (mut c, mut s) = pair().await;
    let writer = tokio::spawn(async move {
        for part in [
            &b"PROX"[..],
            b"Y TCP4 127.0.0.",
            b"7 127.0.0.1 1 2\r",
            b"\nGET",
        ] {
            c.write_all(part).await.unwrap();
            c.flush().await.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        c
    });
    let mut n = 0;
    let h = read_header(&mut s, ProxyProtocol::V1, &mut n)
        .await
        .unwrap();
    assert_eq!(h.source, Some("127.0.0.7:1".parse().unwrap()));
    let _c = writer.await.unwrap();
    assert_eq!(rest_of(&mut s, 3).await, b"GET");
}

#[tokio::test]
async fn a_v2_header_with_tlvs() {
    let (mut c, mut s) = pair().await;
    let mut tlvs = vec![0x02, 0x00, 0x0b];
    tlvs.extend(b"example.com");
    let mut bytes = v2_header([127, 0, 0, 7], &tlvs);
    bytes.extend(b"\x16\x03\x01");
    c.write_all(&bytes).await.unwrap();
    let mut n = 0;
    let h = read_header(&mut s, ProxyProtocol::V2, &mut n)
        .await
        .unwrap();
    assert_eq!(h.source, Some("127.0.0.7:40000".parse().unwrap()));
    assert_eq!(h.authority.as_deref(), Some("example.com"));
    assert_eq!(rest_of(&mut s, 3).await, b"\x16\x03\x01");
}

#[tokio::test]
async fn refusals() {
    let cases: Vec<(ProxyProtocol, Vec<u8>, bool)> = vec![
        // (mode, bytes, closes after writing)
        (ProxyProtocol::V1, v2_header([1, 2, 3, 4], &[]), false),
        (
            ProxyProtocol::V2,
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n".to_vec(),
            false,
        ),
        (
            ProxyProtocol::Any,
            b"\x16\x03\x01\x00\xc8\x01\x00\x00\xc4\x03\x03\x00".to_vec(),
            false,
        ),
        (
            ProxyProtocol::Any,
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n".to_vec(),
            false,
        ),
        (ProxyProtocol::Any, b"PROXY TCP4 1.2".to_vec(), true),
    ];
    for (mode, bytes, close) in cases {
        let (mut c, mut s) = pair().await;
        c.write_all(&bytes).await.unwrap();
        if close {
            drop(c);
        } else {
            // Keep it open; the verdict must not wait for more.
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(5)).await;
                drop(c);
            });
        }
        let mut n = 0;
        let r = tokio::time::timeout(Duration::from_secs(2), read_header(&mut s, mode, &mut n))
            .await
            .expect("a verdict without waiting for more bytes");
        let problem = r.unwrap_err();
        match (mode, &problem) {
            (ProxyProtocol::V1, Problem::WrongVersion(Version::V2))
            | (ProxyProtocol::V2, Problem::WrongVersion(Version::V1))
            | (ProxyProtocol::Any, Problem::NotProxy(_))
            | (ProxyProtocol::Any, Problem::Malformed(_))
            | (ProxyProtocol::Any, Problem::Closed { received: 14 }) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    // Closed before a byte: nothing to report.
    let (c, mut s) = pair().await;
    drop(c);
    let mut n = 0;
    assert_eq!(
        read_header(&mut s, ProxyProtocol::Any, &mut n).await,
        Err(Problem::ClosedSilently)
    );
}

fn side(mode: ProxyProtocol, trusted: &[&str]) -> ProxyProtocolSide {
    ProxyProtocolSide {
        mode,
        trusted: trusted.iter().map(|t| Cidr::parse(t).unwrap()).collect(),
    }
}

#[test]
fn refusals_explain_who_sent_what() {
    let peer: SocketAddr = "10.9.9.9:5000".parse().unwrap();
    let lb = side(ProxyProtocol::V2, &["10.0.0.0/24"]);
    let t = Duration::from_secs(10);

    let forged = proxy_header::parse(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n").unwrap();
    let f = refusal(&Ok(forged), false, peer, &lb, t);
    assert_eq!(f.code, Code::ProxyProtocolInvalid);
    assert!(
        f.why.contains("10.9.9.9:5000") && f.why.contains("1.2.3.4:1"),
        "{}",
        f.why
    );
    assert!(f.why.contains("[10.0.0.0/24]"), "{}", f.why);
    assert!(f.fix.contains("trusted_proxies"), "{}", f.fix);

    let direct = Err(Problem::NotProxy("a TLS handshake record".into()));
    let f = refusal(&direct, false, peer, &lb, t);
    assert!(f.why.contains("a TLS handshake record"), "{}", f.why);
    assert!(f.fix.contains("through the load balancer"), "{}", f.fix);

    let f = refusal(&direct, true, peer, &lb, t);
    assert!(f.summary.contains("no PROXY header"), "{}", f.summary);
    assert!(f.fix.contains("send-proxy-v2"), "{}", f.fix);

    let f = refusal(&Err(Problem::WrongVersion(Version::V1)), true, peer, &lb, t);
    assert!(f.why.contains("proxy_protocol: v2"), "{}", f.why);
    assert!(f.fix.contains("proxy_protocol: v1"), "{}", f.fix);

    let f = refusal(&Err(Problem::TooSlow { received: 3 }), true, peer, &lb, t);
    assert!(
        f.why.contains("10000 ms") && f.why.contains("3 bytes"),
        "{}",
        f.why
    );
}

#[test]
fn the_reached_port_is_the_balancers() {
    let direct = Peer::direct("10.0.0.1:5000".parse().unwrap());
    assert_eq!(direct.reached_port(8443), 8443);
    let via = Peer {
        addr: "127.0.0.7:40000".parse().unwrap(),
        via: Some(Proxied {
            balancer: "127.0.0.1:6000".parse().unwrap(),
            header: proxy_header::parse(b"PROXY TCP4 127.0.0.7 127.0.0.1 40000 443\r\n").unwrap(),
        }),
    };
    assert_eq!(via.reached_port(8443), 443);
}
