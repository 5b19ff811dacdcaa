//! Cost of looking at a new connection's first bytes: sniffing and parsing a real ClientHello.
//! Both run once per accepted connection, before rustls, so they must stay in the microseconds.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use tlsgate::wire::{client_hello, sniff};

/// A real ClientHello as rustls sends it (SNI and ALPN included).
fn rustls_hello() -> Vec<u8> {
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    let mut config = config;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let name = rustls::pki_types::ServerName::try_from("bench.example.com").expect("valid name");
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).expect("client");
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out).expect("write to a Vec");
    }
    out
}

fn bench(c: &mut Criterion) {
    let hello = rustls_hello();
    let http =
        b"GET /index.html HTTP/1.1\r\nHost: example.com:8443\r\nUser-Agent: curl/8.5.0\r\n\r\n";

    c.bench_function("client_hello_parse_rustls", |b| {
        b.iter(|| client_hello::parse(black_box(&hello)))
    });
    c.bench_function("sniff_tls", |b| b.iter(|| sniff::sniff(black_box(&hello))));
    c.bench_function("sniff_plain_http", |b| {
        b.iter(|| sniff::sniff(black_box(&http[..])))
    });
    c.bench_function("sniff_then_parse", |b| {
        b.iter(|| {
            let bytes = black_box(&hello);
            match sniff::sniff(bytes) {
                sniff::Sniffed::Tls => client_hello::parse(bytes).ok(),
                _ => None,
            }
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
