//! Upstream TLS diagnosis against local TLS servers built here from rcgen certificates (nothing
//! committed): `tlsgate probe --format json`, the proxy's `UpstreamClient::send`, and
//! `check_upstream`.

use crate::support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use rcgen::{BasicConstraints, CertificateParams, CustomExtension, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::{Duration, OffsetDateTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use tlsgate::proxy::upstream::UpstreamClient;

// ---------------------------------------------------------------- certificates

struct Ca {
    params: CertificateParams,
    key: KeyPair,
    der: CertificateDer<'static>,
    pem: String,
}

fn ca(cn: &str, org: Option<&str>) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    if let Some(o) = org {
        params.distinguished_name.push(DnType::OrganizationName, o);
    }
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::days(30);
    params.not_after = now + Duration::days(3650);
    let cert = params.self_signed(&key).unwrap();
    Ca {
        der: cert.der().clone(),
        pem: cert.pem(),
        params,
        key,
    }
}

fn intermediate(cn: &str, parent: &Ca) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::days(30);
    params.not_after = now + Duration::days(1000);
    let issuer = Issuer::from_params(&parent.params, &parent.key);
    let cert = params.signed_by(&key, &issuer).unwrap();
    Ca {
        der: cert.der().clone(),
        pem: cert.pem(),
        params,
        key,
    }
}

/// AIA with one caIssuers URL (short URLs only: single-byte DER lengths).
fn aia(url: &str) -> CustomExtension {
    let oid = [0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x02];
    let mut uri = vec![0x86, url.len() as u8];
    uri.extend_from_slice(url.as_bytes());
    let mut desc = vec![0x30, (oid.len() + uri.len()) as u8];
    desc.extend_from_slice(&oid);
    desc.extend_from_slice(&uri);
    let mut seq = vec![0x30, desc.len() as u8];
    seq.extend_from_slice(&desc);
    CustomExtension::from_oid_content(&[1, 3, 6, 1, 5, 5, 7, 1, 1], seq)
}

struct Leaf {
    der: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
    cert_pem: String,
    key_pem: String,
}

#[derive(Default)]
struct LeafOpts {
    not_before: Option<OffsetDateTime>,
    not_after: Option<OffsetDateTime>,
    aia: Option<&'static str>,
    client: bool,
}

fn leaf(names: &[&str], issuer: Option<&Ca>, opts: LeafOpts) -> Leaf {
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, names.first().copied().unwrap_or("leaf"));
    let now = OffsetDateTime::now_utc();
    params.not_before = opts.not_before.unwrap_or(now - Duration::days(1));
    params.not_after = opts.not_after.unwrap_or(now + Duration::days(90));
    if let Some(url) = opts.aia {
        params.custom_extensions.push(aia(url));
    }
    if opts.client {
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    }
    let cert = match issuer {
        Some(ca) => params
            .signed_by(&key, &Issuer::from_params(&ca.params, &ca.key))
            .unwrap(),
        None => params.self_signed(&key).unwrap(),
    };
    Leaf {
        der: cert.der().clone(),
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

// ---------------------------------------------------------------- servers

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A TLS server answering every request with `200 ok`, on 127.0.0.1.
async fn tls_server(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_ca: Option<&Ca>,
) -> SocketAddr {
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(ca.der.clone()).unwrap();
            let v = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider(),
            )
            .build()
            .unwrap();
            builder.with_client_cert_verifier(v)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(chain, key).unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = [0u8; 4096];
                if let Ok(n) = tls.read(&mut buf).await {
                    if n > 0 {
                        let _ = tls
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
                            .await;
                        let _ = tls.shutdown().await;
                    }
                }
            });
        }
    });
    addr
}

/// A plain-HTTP server that answers anything (a ClientHello too) with a 400.
async fn plain_http_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut tcp, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = tcp.read(&mut buf).await;
                let _ = tcp
                    .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
                let _ = tcp.shutdown().await;
            });
        }
    });
    addr
}

// ---------------------------------------------------------------- helpers

struct ProbeResult {
    code: i32,
    json: serde_json::Value,
}

impl ProbeResult {
    fn codes(&self) -> Vec<String> {
        self.json["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["code"].as_str().unwrap().to_string())
            .collect()
    }
}

async fn run_probe(args: &[&str]) -> ProbeResult {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_tlsgate"))
        .arg("probe")
        .args(args)
        .args(["--format", "json", "--timeout", "5"])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "probe output is not JSON ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    ProbeResult {
        code: out.status.code().unwrap_or(-1),
        json,
    }
}

fn upstream_client(url: &str, tls_yaml: &str) -> UpstreamClient {
    let yaml = format!(
        "upstreams:\n  up:\n    url: '{url}'\n    tls: {{{tls_yaml}}}\nroutes:\n  - {{path_prefix: /, upstream: up}}\n"
    );
    let cfg = tlsgate::config::parse_str(&yaml, "test").unwrap();
    UpstreamClient::new("up", &cfg.upstreams["up"]).unwrap()
}

fn upstream_cfg(url: &str, tls_yaml: &str) -> tlsgate::config::Upstream {
    let yaml = format!(
        "upstreams:\n  up:\n    url: '{url}'\n    tls: {{{tls_yaml}}}\nroutes:\n  - {{path_prefix: /, upstream: up}}\n"
    );
    let cfg = tlsgate::config::parse_str(&yaml, "test").unwrap();
    cfg.upstreams["up"].clone()
}

async fn send_code(client: &UpstreamClient) -> Result<u16, tlsgate::findings::Finding> {
    let body = Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed();
    let req = http::Request::builder()
        .uri(client.target_uri(None).unwrap())
        .body(body)
        .unwrap();
    client.send(req, false).await.map(|r| r.status().as_u16())
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

// ---------------------------------------------------------------- probe tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_reports_each_failure_with_its_code() {
    let dir = tempfile::tempdir().unwrap();
    let root = ca("Test Private Root", Some("tlsgate tests"));
    let ca_file = write(dir.path(), "ca.pem", &root.pem);
    let ca_arg = ca_file.to_str().unwrap();
    let ip = ["127.0.0.1"];

    // healthy, with --ca
    let good = leaf(&ip, Some(&root), LeafOpts::default());
    let addr = tls_server(vec![good.der.clone()], good.key.clone_key(), None).await;
    let r = run_probe(&[&addr.to_string(), "--ca", ca_arg]).await;
    assert_eq!(r.code, 0, "{}", r.json);
    assert!(r.codes().is_empty(), "{}", r.json);
    assert_eq!(r.json["trust"]["ca"], true);
    assert_eq!(r.json["trust"]["webpki"], false);
    assert_eq!(r.json["client_cert_requested"], false);
    assert!(r.json["tls_version"].as_str().unwrap().contains("TLS"));
    assert_eq!(r.json["chain"].as_array().unwrap().len(), 1);

    // expired (and, without --ca, untrusted too: both reported, expired first)
    let expired = leaf(
        &ip,
        Some(&root),
        LeafOpts {
            not_before: Some(now() - Duration::days(100)),
            not_after: Some(now() - Duration::days(3)),
            ..Default::default()
        },
    );
    let addr = tls_server(vec![expired.der.clone()], expired.key.clone_key(), None).await;
    let r = run_probe(&[&format!("https://{addr}"), "--ca", ca_arg]).await;
    assert_eq!(r.code, 1);
    assert_eq!(r.codes(), ["upstream_cert_expired"], "{}", r.json);
    let r = run_probe(&[&addr.to_string()]).await;
    assert_eq!(
        r.codes(),
        ["upstream_cert_expired", "upstream_untrusted_root"],
        "{}",
        r.json
    );

    // not yet valid, by minutes: clock skew is named
    let future = leaf(
        &ip,
        Some(&root),
        LeafOpts {
            not_before: Some(now() + Duration::minutes(5)),
            ..Default::default()
        },
    );
    let addr = tls_server(vec![future.der.clone()], future.key.clone_key(), None).await;
    let r = run_probe(&[&addr.to_string(), "--ca", ca_arg]).await;
    assert_eq!(r.code, 1);
    assert_eq!(r.codes(), ["upstream_cert_not_yet_valid"], "{}", r.json);
    assert!(r.json["findings"][0]["why"]
        .as_str()
        .unwrap()
        .contains("clock"));

    // wrong name: an IP target is verified against IP SANs; --sni changes the name
    let other = leaf(&["other.example"], Some(&root), LeafOpts::default());
    let addr = tls_server(vec![other.der.clone()], other.key.clone_key(), None).await;
    let r = run_probe(&[&addr.to_string(), "--ca", ca_arg]).await;
    assert_eq!(r.code, 1);
    assert_eq!(r.codes(), ["upstream_name_mismatch"], "{}", r.json);
    let r = run_probe(&[&addr.to_string(), "--ca", ca_arg, "--sni", "other.example"]).await;
    assert_eq!(r.code, 0, "{}", r.json);

    // self-signed
    let selfsigned = leaf(&ip, None, LeafOpts::default());
    let addr = tls_server(
        vec![selfsigned.der.clone()],
        selfsigned.key.clone_key(),
        None,
    )
    .await;
    let r = run_probe(&[&addr.to_string()]).await;
    assert_eq!(r.code, 1);
    assert_eq!(r.codes(), ["upstream_self_signed"], "{}", r.json);

    // missing intermediate: the root is trusted (--ca) but only the leaf is sent
    let inter = intermediate("Test Issuing CA 1", &root);
    let orphan = leaf(
        &ip,
        Some(&inter),
        LeafOpts {
            aia: Some("http://ca.test/int1.der"),
            ..Default::default()
        },
    );
    let addr = tls_server(vec![orphan.der.clone()], orphan.key.clone_key(), None).await;
    let r = run_probe(&[&addr.to_string(), "--ca", ca_arg]).await;
    assert_eq!(r.code, 1);
    assert_eq!(r.codes(), ["upstream_chain_incomplete"], "{}", r.json);
    let why = r.json["findings"][0]["why"].as_str().unwrap();
    assert!(
        why.contains("Test Issuing CA 1") && why.contains("http://ca.test/int1.der"),
        "{why}"
    );
    // with the intermediate sent it is fine
    let addr = tls_server(
        vec![orphan.der.clone(), inter.der.clone()],
        orphan.key.clone_key(),
        None,
    )
    .await;
    let r = run_probe(&[&addr.to_string(), "--ca", ca_arg]).await;
    assert_eq!(r.code, 0, "{}", r.json);

    // untrusted private root (leaf only, and leaf + root)
    let addr = tls_server(vec![good.der.clone()], good.key.clone_key(), None).await;
    let r = run_probe(&[&addr.to_string()]).await;
    assert_eq!(r.code, 1);
    assert_eq!(r.codes(), ["upstream_untrusted_root"], "{}", r.json);
    assert!(r.json["findings"][0]["summary"]
        .as_str()
        .unwrap()
        .contains("Test Private Root"));
    assert_eq!(r.json["trust"]["system"], false);
    assert_eq!(r.json["trust"]["ca"], serde_json::Value::Null);
    let addr = tls_server(
        vec![good.der.clone(), root.der.clone()],
        good.key.clone_key(),
        None,
    )
    .await;
    let r = run_probe(&[&addr.to_string()]).await;
    assert_eq!(r.codes(), ["upstream_untrusted_root"], "{}", r.json);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_names_tls_inspection_plain_http_and_client_certs() {
    let dir = tempfile::tempdir().unwrap();

    // a TLS-inspection root re-signing api.openai.com
    let zscaler = ca("Zscaler Root CA", Some("Zscaler Inc."));
    let mitm = leaf(&["api.openai.com"], Some(&zscaler), LeafOpts::default());
    let addr = tls_server(vec![mitm.der.clone()], mitm.key.clone_key(), None).await;
    let r = run_probe(&[&addr.to_string(), "--sni", "api.openai.com"]).await;
    assert_eq!(r.code, 1);
    let codes = r.codes();
    assert_eq!(codes[0], "upstream_tls_inspection", "{}", r.json);
    assert!(codes.contains(&"upstream_untrusted_root".to_string()));
    assert!(r.json["findings"][0]["summary"]
        .as_str()
        .unwrap()
        .contains("Zscaler"));
    // a non-vendor private root presenting api.openai.com is suspicious too
    let corp = ca("Corp Security Root", None);
    let resigned = leaf(&["api.openai.com"], Some(&corp), LeafOpts::default());
    let addr = tls_server(vec![resigned.der.clone()], resigned.key.clone_key(), None).await;
    let r = run_probe(&[&addr.to_string(), "--sni", "api.openai.com"]).await;
    assert_eq!(r.codes()[0], "upstream_tls_inspection", "{}", r.json);

    // plain HTTP on the port
    let addr = plain_http_server().await;
    let r = run_probe(&[&addr.to_string()]).await;
    assert_eq!(r.code, 1);
    assert_eq!(r.codes(), ["upstream_plain_http"], "{}", r.json);

    // client certificate required
    let root = ca("Server Root", None);
    let client_root = ca("Client Root", None);
    let ca_file = write(dir.path(), "ca.pem", &root.pem);
    let server = leaf(&["127.0.0.1"], Some(&root), LeafOpts::default());
    let addr = tls_server(
        vec![server.der.clone()],
        server.key.clone_key(),
        Some(&client_root),
    )
    .await;
    let r = run_probe(&[&addr.to_string(), "--ca", ca_file.to_str().unwrap()]).await;
    assert_eq!(r.code, 1);
    assert_eq!(r.codes(), ["upstream_client_cert_required"], "{}", r.json);
    assert_eq!(r.json["client_cert_requested"], true);
    // with a good client certificate: healthy
    let client = leaf(
        &["client"],
        Some(&client_root),
        LeafOpts {
            client: true,
            ..Default::default()
        },
    );
    let cert = write(dir.path(), "client.pem", &client.cert_pem);
    let key = write(dir.path(), "client.key", &client.key_pem);
    let r = run_probe(&[
        &addr.to_string(),
        "--ca",
        ca_file.to_str().unwrap(),
        "--client-cert",
        cert.to_str().unwrap(),
        "--client-key",
        key.to_str().unwrap(),
    ])
    .await;
    assert_eq!(r.code, 0, "{}", r.json);
    assert_eq!(r.json["client_cert_requested"], true);
    // with a client certificate from another CA: rejected
    let stranger = leaf(
        &["client"],
        Some(&root),
        LeafOpts {
            client: true,
            ..Default::default()
        },
    );
    let cert = write(dir.path(), "stranger.pem", &stranger.cert_pem);
    let key = write(dir.path(), "stranger.key", &stranger.key_pem);
    let r = run_probe(&[
        &addr.to_string(),
        "--ca",
        ca_file.to_str().unwrap(),
        "--client-cert",
        cert.to_str().unwrap(),
        "--client-key",
        key.to_str().unwrap(),
    ])
    .await;
    assert_eq!(r.code, 1, "{}", r.json);
    assert_eq!(r.codes(), ["upstream_client_cert_rejected"], "{}", r.json);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_exits_2_without_tcp() {
    let refused = support::RefusedPort::bind();
    let r = run_probe(&[&refused.addr().to_string()]).await;
    assert_eq!(r.code, 2);
    assert_eq!(r.codes(), ["upstream_refused"]);
}

/// A minimal PostgreSQL front door: reads the 8-byte SSLRequest (int32 length 8, int32
/// 80877103) and answers `answer`; after `S` it speaks TLS with ALPN `postgresql` only, as
/// PostgreSQL 17 does (a client offering other protocols gets `no_application_protocol`). A
/// connection that does not start with the SSLRequest is closed. Returns the address and a
/// count of well-formed SSLRequests seen.
async fn postgres_server(
    leaf: &Leaf,
    answer: u8,
) -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der.clone()], leaf.key.clone_key())
        .unwrap();
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen2 = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let seen = seen2.clone();
            tokio::spawn(async move {
                let mut req = [0u8; 8];
                if tcp.read_exact(&mut req).await.is_err() {
                    return;
                }
                let len = i32::from_be_bytes([req[0], req[1], req[2], req[3]]);
                let code = i32::from_be_bytes([req[4], req[5], req[6], req[7]]);
                if len != 8 || code != 80877103 {
                    return;
                }
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if tcp.write_all(&[answer]).await.is_err() {
                    return;
                }
                if answer == b'S' {
                    if let Ok(mut tls) = acceptor.accept(tcp).await {
                        // Wait for the StartupMessage that never comes; the probe hangs up.
                        let mut buf = [0u8; 64];
                        let _ = tls.read(&mut buf).await;
                    }
                } else {
                    let mut buf = [0u8; 64];
                    let _ = tcp.read(&mut buf).await;
                }
            });
        }
    });
    (addr, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_starttls_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let root = ca("Postgres Test Root", None);
    let ca_file = write(dir.path(), "ca.pem", &root.pem);
    let ca_arg = ca_file.to_str().unwrap();
    let server = leaf(&["127.0.0.1"], Some(&root), LeafOpts::default());

    // 'S': the chain behind the SSLRequest is reported and judged.
    let (addr, seen) = postgres_server(&server, b'S').await;
    let r = run_probe(&[&addr.to_string(), "--starttls", "postgres", "--ca", ca_arg]).await;
    assert_eq!(r.code, 0, "{}", r.json);
    assert!(r.codes().is_empty(), "{}", r.json);
    assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 1);
    let chain = r.json["chain"].as_array().unwrap();
    assert_eq!(chain.len(), 1, "{}", r.json);
    assert!(
        chain[0]["issuer"]
            .as_str()
            .unwrap()
            .contains("Postgres Test Root"),
        "{}",
        r.json
    );
    assert_eq!(r.json["trust"]["ca"], true, "{}", r.json);
    assert!(r.json["tls_version"].as_str().unwrap().contains("TLS"));
    assert_eq!(r.json["alpn"], "postgresql", "{}", r.json);
    // Without --ca the same chain is untrusted.
    let r = run_probe(&[&addr.to_string(), "--starttls", "postgres"]).await;
    assert_eq!(r.code, 1, "{}", r.json);
    assert_eq!(r.codes(), ["upstream_untrusted_root"], "{}", r.json);
    // The text report shows the chain too.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_tlsgate"))
        .args(["probe", &addr.to_string(), "--starttls", "postgres"])
        .args(["--ca", ca_arg, "--timeout", "5"])
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("chain:") && text.contains("Postgres Test Root"),
        "{text}"
    );

    // 'N': TLS is off on this server.
    let (addr, seen) = postgres_server(&server, b'N').await;
    let r = run_probe(&[&addr.to_string(), "--starttls", "postgres", "--ca", ca_arg]).await;
    assert_eq!(r.code, 1, "{}", r.json);
    assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(r.codes(), ["upstream_tls_failed"], "{}", r.json);
    let f = &r.json["findings"][0];
    assert!(
        f["summary"]
            .as_str()
            .unwrap()
            .contains("does not support TLS"),
        "{f}"
    );
    assert!(f["why"].as_str().unwrap().contains("'N'"), "{f}");
    assert!(f["fix"].as_str().unwrap().contains("ssl = on"), "{f}");
    assert!(r.json["chain"].as_array().unwrap().is_empty());

    // Not PostgreSQL at all: an HTTP server's first byte is named.
    let addr = plain_http_server().await;
    let r = run_probe(&[&addr.to_string(), "--starttls", "postgres"]).await;
    assert_eq!(r.code, 1, "{}", r.json);
    assert!(
        r.json["findings"][0]["why"]
            .as_str()
            .unwrap()
            .contains("PostgreSQL port"),
        "{}",
        r.json
    );
}

// ---------------------------------------------------------------- proxy client tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_client_returns_the_diagnosed_code() {
    let dir = tempfile::tempdir().unwrap();
    let root = ca("Proxy Test Root", None);
    let ca_file = write(dir.path(), "ca.pem", &root.pem);
    let ca_yaml = format!("ca_bundle: '{}'", ca_file.display());

    // healthy
    let good = leaf(&["127.0.0.1"], Some(&root), LeafOpts::default());
    let addr = tls_server(vec![good.der.clone()], good.key.clone_key(), None).await;
    let client = upstream_client(&format!("https://{addr}"), &ca_yaml);
    assert_eq!(send_code(&client).await.unwrap(), 200);

    // untrusted root (no ca_bundle): the diagnosis, not just rustls's UnknownIssuer
    let client = upstream_client(&format!("https://{addr}"), "");
    let f = send_code(&client).await.unwrap_err();
    assert_eq!(f.code.as_str(), "upstream_untrusted_root", "{f:?}");
    assert!(f.why.contains("presented chain"), "{}", f.why);
    assert!(f.fix.contains("upstreams.up.tls.ca_bundle"), "{}", f.fix);

    // expired
    let expired = leaf(
        &["127.0.0.1"],
        Some(&root),
        LeafOpts {
            not_before: Some(now() - Duration::days(100)),
            not_after: Some(now() - Duration::days(3)),
            ..Default::default()
        },
    );
    let addr = tls_server(vec![expired.der.clone()], expired.key.clone_key(), None).await;
    let client = upstream_client(&format!("https://{addr}"), &ca_yaml);
    let f = send_code(&client).await.unwrap_err();
    assert_eq!(f.code.as_str(), "upstream_cert_expired", "{f:?}");

    // self-signed
    let selfsigned = leaf(&["127.0.0.1"], None, LeafOpts::default());
    let addr = tls_server(
        vec![selfsigned.der.clone()],
        selfsigned.key.clone_key(),
        None,
    )
    .await;
    let client = upstream_client(&format!("https://{addr}"), "");
    let f = send_code(&client).await.unwrap_err();
    assert_eq!(f.code.as_str(), "upstream_self_signed", "{f:?}");

    // wrong name (trusted chain)
    let other = leaf(&["other.example"], Some(&root), LeafOpts::default());
    let addr = tls_server(vec![other.der.clone()], other.key.clone_key(), None).await;
    let client = upstream_client(&format!("https://{addr}"), &ca_yaml);
    let f = send_code(&client).await.unwrap_err();
    assert_eq!(f.code.as_str(), "upstream_name_mismatch", "{f:?}");

    // TLS inspection
    let zscaler = ca("Zscaler Root CA", Some("Zscaler Inc."));
    let mitm = leaf(&["api.openai.com"], Some(&zscaler), LeafOpts::default());
    let addr = tls_server(vec![mitm.der.clone()], mitm.key.clone_key(), None).await;
    let client = upstream_client(&format!("https://{addr}"), "server_name: api.openai.com");
    let f = send_code(&client).await.unwrap_err();
    assert_eq!(f.code.as_str(), "upstream_tls_inspection", "{f:?}");

    // plain HTTP on an https:// URL
    let plain = plain_http_server().await;
    let client = upstream_client(&format!("https://{plain}"), "");
    let f = send_code(&client).await.unwrap_err();
    assert_eq!(f.code.as_str(), "upstream_plain_http", "{f:?}");

    // TLS on an http:// URL
    let addr = tls_server(vec![good.der.clone()], good.key.clone_key(), None).await;
    let client = upstream_client(&format!("http://{addr}"), "");
    let f = send_code(&client).await.unwrap_err();
    assert_eq!(f.code.as_str(), "upstream_tls_on_http_url", "{f:?}");

    // insecure_skip_verify still connects
    let addr = tls_server(
        vec![selfsigned.der.clone()],
        selfsigned.key.clone_key(),
        None,
    )
    .await;
    let client = upstream_client(&format!("https://{addr}"), "insecure_skip_verify: true");
    assert_eq!(send_code(&client).await.unwrap(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_upstream_reports_status() {
    use tlsgate::proxy::check::check_upstream;
    let dir = tempfile::tempdir().unwrap();
    let root = ca("Check Root", None);
    let ca_file = write(dir.path(), "ca.pem", &root.pem);
    let good = leaf(&["127.0.0.1"], Some(&root), LeafOpts::default());
    let addr = tls_server(vec![good.der.clone()], good.key.clone_key(), None).await;

    let cfg = upstream_cfg(
        &format!("https://{addr}"),
        &format!("ca_bundle: '{}'", ca_file.display()),
    );
    let s = check_upstream("up", &cfg).await;
    assert_eq!(s.status, "healthy", "{:?}", s.findings);
    assert!(s.tls_version.is_some() && s.cipher.is_some());
    assert_eq!(s.alpn.as_deref(), Some("http/1.1"));
    assert_eq!(s.chain.len(), 1);
    assert!(s.checked_at.is_some());

    let cfg = upstream_cfg(&format!("https://{addr}"), "");
    let s = check_upstream("up", &cfg).await;
    assert_eq!(s.status, "failing");
    assert_eq!(s.findings[0].code.as_str(), "upstream_untrusted_root");

    let cfg = upstream_cfg(&format!("https://{addr}"), "insecure_skip_verify: true");
    let s = check_upstream("up", &cfg).await;
    assert_eq!(s.status, "degraded", "{:?}", s.findings);
    assert!(s
        .findings
        .iter()
        .any(|f| f.code.as_str() == "upstream_verification_disabled"));

    let cfg = upstream_cfg(&format!("http://{addr}"), "");
    let s = check_upstream("up", &cfg).await;
    assert_eq!(s.status, "failing");
    assert_eq!(s.findings[0].code.as_str(), "upstream_tls_on_http_url");

    let refused = support::RefusedPort::bind();
    let cfg = upstream_cfg(&format!("https://{}", refused.addr()), "");
    let s = check_upstream("up", &cfg).await;
    assert_eq!(s.status, "failing");
    assert_eq!(s.findings[0].code.as_str(), "upstream_refused");
}

// ---------------------------------------------------------------- insecure_skip_verify, served

/// `insecure_skip_verify: true` in front of a self-signed upstream: requests succeed, and the
/// binary warns at startup and once per new upstream connection (not per request: the pooled
/// connection is reused).
#[test]
fn insecure_skip_verify_warns_at_startup_and_per_connection() {
    let selfsigned = leaf(&["localhost", "127.0.0.1"], None, LeafOpts::default());
    let up = support::MockUpstream::start_tls(&support::TestLeaf {
        cert_pem: selfsigned.cert_pem.clone(),
        cert_der: selfsigned.der.clone(),
        key_pem: selfsigned.key_pem.clone(),
        chain_pem: selfsigned.cert_pem.clone(),
    });
    let mut cfg = support::GateConfig::plain(up.url());
    cfg.upstream_extra = "    tls:\n      insecure_skip_verify: true\n".to_string();
    // One serving thread, so one upstream pool: the three requests share one connection.
    cfg.env = vec![("TLSGATE_WORKERS".into(), "1".into())];
    let gate = support::Tlsgate::start(&cfg);

    let startup = gate
        .wait_for_log(std::time::Duration::from_secs(10), |l| {
            l["event"] == "upstream_check" && l["code"] == "upstream_verification_disabled"
        })
        .unwrap_or_else(|| panic!("no startup warning:\n{}", gate.output()));
    assert_eq!(startup["level"], "WARN", "{startup}");
    assert_eq!(startup["upstream"], "mock", "{startup}");

    for _ in 0..3 {
        let r = support::curl_http(&[&gate.url("/v1/models")]);
        assert_eq!(r.status, 200, "{}\n{}", r.body, gate.output());
    }
    assert_eq!(up.count("/v1/models"), 3);
    let ev = gate
        .wait_for_log(std::time::Duration::from_secs(10), |l| {
            l["event"] == "upstream_verification_disabled"
        })
        .unwrap_or_else(|| panic!("no per-connection warning:\n{}", gate.output()));
    assert_eq!(ev["level"], "WARN", "{ev}");
    assert_eq!(ev["upstream"], "mock", "{ev}");
    assert_eq!(ev["code"], "upstream_verification_disabled", "{ev}");
    assert_eq!(ev["address"], format!("localhost:{}", up.port()), "{ev}");
    assert!(
        ev["why"].as_str().unwrap().contains("insecure_skip_verify"),
        "{ev}"
    );
    assert!(
        ev["fix"]
            .as_str()
            .unwrap()
            .contains("upstreams.mock.tls.ca_bundle"),
        "{ev}"
    );
    // One connection, reused by the pool: one warning for three requests.
    let n = gate.events("upstream_verification_disabled").len();
    assert_eq!(n, 1, "{}", gate.output());
}
