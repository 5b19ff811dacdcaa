//! Hot pure functions on the request and handshake paths.
//!
//! * `rewrite_request_headers`: runs once per proxied request (hop-by-hop stripping, `Host`
//!   removal, `X-Forwarded-*`, `set_headers`). Benchmarked on a typical OpenAI SDK request.
//! * `strip_hop_by_hop`: once on every request and once on every response; one pass over the
//!   names present, so a message without hop-by-hop headers costs no lookup.
//! * `handshake_classify`: runs once per *failed* inbound handshake (never on the success path),
//!   but a misbehaving client fleet can make it hot; it must stay cheap next to the handshake.
//!
//! Run with `cargo bench --bench micro`.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use rustls::AlertDescription;
use tlsgate::diagnose::handshake::{
    classify, FailureKind, HandshakeEvidence, Incompatibility, OurChain, OurTls, ServedInfo,
};
use tlsgate::proxy::rewrite::{
    rewrite_request_headers, rewrite_response_headers, strip_hop_by_hop, ClientSide,
};
use tlsgate::wire::client_hello::{self, ClientHelloSummary};

fn header_map(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            HeaderName::from_bytes(k.as_bytes()).expect("valid name"),
            HeaderValue::from_str(v).expect("valid value"),
        );
    }
    h
}

/// What the OpenAI Python SDK sends (through one earlier proxy), as the listener hands it over.
fn sdk_request_headers() -> HeaderMap {
    let pairs: &[(&str, &str)] = &[
        ("host", "api.example.com:8443"),
        ("accept", "application/json"),
        ("accept-encoding", "gzip, deflate"),
        ("connection", "keep-alive"),
        ("content-type", "application/json"),
        ("content-length", "187"),
        ("user-agent", "OpenAI/Python 1.54.4"),
        ("x-stainless-lang", "python"),
        ("x-stainless-package-version", "1.54.4"),
        ("x-stainless-os", "Linux"),
        ("x-stainless-arch", "x64"),
        ("x-stainless-runtime", "CPython"),
        ("x-stainless-runtime-version", "3.12.3"),
        ("x-stainless-async", "false"),
        ("x-stainless-retry-count", "0"),
        ("authorization", "Bearer sk-client-supplied-placeholder"),
        ("x-forwarded-for", "203.0.113.7"),
    ];
    header_map(pairs)
}

fn bench_rewrite(c: &mut Criterion) {
    let mut group = c.benchmark_group("rewrite_request_headers");
    let client = ClientSide {
        peer_ip: IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)),
        proto: "https",
        host: Some("api.example.com:8443"),
    };
    let set_headers = vec![(
        HeaderName::from_static("authorization"),
        HeaderValue::from_static("Bearer sk-proxy-injected-placeholder"),
    )];
    let headers = sdk_request_headers();

    group.bench_function("openai_sdk_17_headers_set_auth", |b| {
        b.iter_batched_ref(
            || headers.clone(),
            |h| rewrite_request_headers(h, black_box(&client), black_box(&set_headers), false),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("curl_3_headers_no_set", |b| {
        let mut small = HeaderMap::new();
        small.insert("host", HeaderValue::from_static("localhost:8443"));
        small.insert("user-agent", HeaderValue::from_static("curl/8.5.0"));
        small.insert("accept", HeaderValue::from_static("*/*"));
        b.iter_batched_ref(
            || small.clone(),
            |h| rewrite_request_headers(h, black_box(&client), &[], false),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("websocket_upgrade", |b| {
        let mut ws = sdk_request_headers();
        ws.insert("connection", HeaderValue::from_static("Upgrade"));
        ws.insert("upgrade", HeaderValue::from_static("websocket"));
        ws.insert(
            "sec-websocket-key",
            HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="),
        );
        ws.insert("sec-websocket-version", HeaderValue::from_static("13"));
        b.iter_batched_ref(
            || ws.clone(),
            |h| rewrite_request_headers(h, black_box(&client), black_box(&set_headers), true),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// What an OpenAI-compatible upstream answers a chat completion with (hyper's parse of it).
fn api_response_headers() -> HeaderMap {
    let pairs: &[(&str, &str)] = &[
        ("date", "Wed, 02 Dec 2026 12:00:00 GMT"),
        ("content-type", "application/json"),
        ("content-length", "512"),
        ("connection", "keep-alive"),
        ("openai-organization", "org-placeholder"),
        ("openai-processing-ms", "412"),
        ("openai-version", "2020-10-01"),
        ("x-ratelimit-limit-requests", "10000"),
        ("x-ratelimit-remaining-requests", "9999"),
        ("x-ratelimit-reset-requests", "6ms"),
        ("x-request-id", "req_0123456789abcdef"),
        (
            "strict-transport-security",
            "max-age=31536000; includeSubDomains",
        ),
        ("server", "nginx"),
    ];
    header_map(pairs)
}

/// `strip_hop_by_hop` alone: once on every request (inside `rewrite_request_headers`) and once
/// on every response.
fn bench_strip(c: &mut Criterion) {
    let mut group = c.benchmark_group("strip_hop_by_hop");
    let req = sdk_request_headers();
    group.bench_function("openai_sdk_request_connection_keep_alive", |b| {
        b.iter_batched_ref(
            || req.clone(),
            |h| strip_hop_by_hop(h, false),
            BatchSize::SmallInput,
        )
    });
    let mut no_hop = sdk_request_headers();
    no_hop.remove("connection");
    group.bench_function("openai_sdk_request_no_hop_by_hop", |b| {
        b.iter_batched_ref(
            || no_hop.clone(),
            |h| strip_hop_by_hop(h, false),
            BatchSize::SmallInput,
        )
    });
    let resp = api_response_headers();
    group.bench_function("api_response_13_headers", |b| {
        b.iter_batched_ref(
            || resp.clone(),
            |h| rewrite_response_headers(h, false),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// A real ClientHello as rustls sends it, parsed by tlsgate's own parser.
fn real_hello(sni: &str) -> ClientHelloSummary {
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let name = rustls::pki_types::ServerName::try_from(sni.to_string()).expect("valid name");
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).expect("client");
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out).expect("write to a Vec");
    }
    client_hello::parse(&out).expect("parse a rustls hello")
}

/// The listener's view of itself: a private-CA chain for api.example.com, rustls defaults.
fn our_side() -> (OurChain, OurTls) {
    let chain = OurChain {
        complete: true,
        missing_issuer: None,
        expired: false,
        not_yet_valid: false,
        private_root: Some("CN=tlsgate local CA".into()),
        private_root_file: Some("/etc/tlsgate/ca.pem".into()),
        names: vec![
            "api.example.com".into(),
            "*.api.example.com".into(),
            "127.0.0.1".into(),
        ],
        fingerprint: "sha256:3f9a0c1d5e7b2a4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e2f4a6b8c0d2e4f6a8b0c"
            .into(),
        issued_recently: false,
        local_findings: Vec::new(),
    };
    let ours = OurTls {
        versions: vec![0x0304, 0x0303],
        cipher_suites: vec![0x1301, 0x1302, 0x1303, 0xc02b, 0xc02c, 0xcca9],
        groups: vec![0x11ec, 0x001d, 0x0017, 0x0018],
        signature_schemes: vec![0x0403, 0x0503, 0x0804, 0x0805, 0x0806, 0x0807],
        alpn: vec!["h2".into(), "http/1.1".into()],
        client_ca: None,
    };
    (chain, ours)
}

fn bench_classify(c: &mut Criterion) {
    let mut group = c.benchmark_group("handshake_classify");
    let (chain, ours) = our_side();
    let base = |failure: FailureKind, sni: &str, served: bool| HandshakeEvidence {
        sniffed: None,
        hello: Some(real_hello(sni)),
        failure,
        served: served.then(|| ServedInfo {
            negotiated_version: Some(0x0304),
            negotiated_alpn: Some("h2".into()),
        }),
        our_chain: chain.clone(),
        ours: ours.clone(),
        listener_names: chain.names.clone(),
        reached: Some(std::net::SocketAddr::from(([127, 0, 0, 1], 8443))),
        elapsed_ms: 3,
    };

    // The most common real failure: a client that does not trust our private CA.
    let unknown_ca = base(
        FailureKind::AlertReceived(AlertDescription::UnknownCA),
        "api.example.com",
        true,
    );
    // Node.js / curl >= 8.17: silent close after our certificate flight.
    let eof = base(FailureKind::EofAfterCertificate, "api.example.com", true);
    // A name we do not serve.
    let no_cert = base(
        FailureKind::NoCertificateResolved,
        "other.example.org",
        false,
    );
    // A TLS 1.0-only client.
    let mut legacy = base(
        FailureKind::Incompatible(Incompatibility::NoSignatureAlgorithmsExtension),
        "api.example.com",
        false,
    );
    if let Some(h) = legacy.hello.as_mut() {
        h.legacy_version = 0x0301;
        h.supported_versions.clear();
        h.signature_schemes.clear();
    }
    // A port scanner: EOF before any hello.
    let scanner = HandshakeEvidence {
        hello: None,
        ..base(FailureKind::EofBeforeClientHello, "api.example.com", false)
    };

    for (name, ev) in [
        ("alert_unknown_ca_private_root", &unknown_ca),
        ("eof_after_certificate", &eof),
        ("no_certificate_for_sni", &no_cert),
        ("legacy_tls10_client", &legacy),
        ("eof_before_client_hello", &scanner),
    ] {
        group.bench_function(name, |b| b.iter(|| classify(black_box(ev))));
    }
    group.finish();
}

criterion_group!(benches, bench_rewrite, bench_strip, bench_classify);
criterion_main!(benches);
