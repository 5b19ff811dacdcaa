//! Shared harness for the `tlsgate serve` integration tests.
//!
//! * [`TestPki`]: a throw-away CA and leaves generated with rcgen into a tempdir.
//! * [`MockUpstream`]: an in-process hyper 1 server (HTTP/1.1 + h2, plain or TLS) that behaves
//!   like a small OpenAI-compatible API and records what it received.
//! * [`Tlsgate`]: the real `tlsgate` binary spawned with a generated YAML config (every address
//!   on port 0), its output captured; ready once it has written its `--ready-file`, which also
//!   says which ports it got; stopped with SIGTERM on drop.
//! * [`curl`] and friends: real clients, every call bounded by a timeout.
//!
//! Everything here is synchronous from the test's point of view: the mock upstream runs its own
//! tokio runtime on a background thread, so `#[test]` functions can block on subprocesses.
//!
//! Waiting: nothing here sleeps a fixed time hoping something has happened. Listeners bind port
//! 0 and report the port they got; a wait is for a condition (a file, a log line, a counter), and
//! every wait has a deadline.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

// ---------------------------------------------------------------------------------------------
// Small utilities
// ---------------------------------------------------------------------------------------------

/// A port on 127.0.0.1 where connections are refused ("nothing listens here"), reserved for as
/// long as the value lives.
///
/// The one case where a test needs a port number before anything listens: an upstream or proxy
/// that must refuse. The socket is bound but never listens, so a connection attempt is refused,
/// and since it stays bound (without `SO_REUSEADDR`) no other socket — another test's listener
/// included — can take the port meanwhile, unlike a port bound and then released.
pub struct RefusedPort {
    _socket: tokio::net::TcpSocket,
    pub port: u16,
}

impl RefusedPort {
    pub fn bind() -> RefusedPort {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .expect("bind 127.0.0.1:0");
        let port = socket.local_addr().expect("local_addr").port();
        RefusedPort {
            _socket: socket,
            port,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }
}

/// Checks `f` until it returns `Some` (first after 1 ms, backing off to every 50 ms), or gives
/// `None` after `timeout`.
pub fn wait_until<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Environment variables removed from every child process so tests are hermetic.
const SCRUBBED_ENV: &[&str] = &[
    "OPENAI_API_KEY",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "CURL_CA_BUNDLE",
    "REQUESTS_CA_BUNDLE",
];

/// Removes proxy/trust/API-key variables inherited from the developer's shell.
pub fn scrub(cmd: &mut Command) -> &mut Command {
    for k in SCRUBBED_ENV {
        cmd.env_remove(k);
    }
    cmd
}

// ---------------------------------------------------------------------------------------------
// TestPki
// ---------------------------------------------------------------------------------------------

/// A certificate authority that can sign leaves.
pub struct TestCa {
    pub cert_pem: String,
    pub cert_der: rustls::pki_types::CertificateDer<'static>,
    pub issuer: Issuer<'static, KeyPair>,
}

/// A leaf certificate with its key; `chain_pem` is the leaf followed by any intermediates.
pub struct TestLeaf {
    pub cert_pem: String,
    pub cert_der: rustls::pki_types::CertificateDer<'static>,
    pub key_pem: String,
    pub chain_pem: String,
}

/// A CA plus a localhost leaf, written as `ca.pem`, `cert.pem` (leaf then chain) and `key.pem`
/// into a private tempdir.
pub struct TestPki {
    pub dir: tempfile::TempDir,
    pub ca: TestCa,
    pub leaf: TestLeaf,
    pub ca_path: PathBuf,
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
}

impl TestPki {
    /// A fresh CA ("tlsgate test root") and a leaf for localhost, 127.0.0.1 and ::1.
    pub fn new() -> TestPki {
        Self::with_ca_name("tlsgate test root")
    }

    pub fn with_ca_name(ca_name: &str) -> TestPki {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = Self::new_ca(ca_name);
        let leaf = Self::leaf_for(&["localhost", "127.0.0.1", "::1"], &ca);
        let ca_path = dir.path().join("ca.pem");
        let cert_path = dir.path().join("cert.pem");
        let key_path = dir.path().join("key.pem");
        std::fs::write(&ca_path, &ca.cert_pem).unwrap();
        std::fs::write(&cert_path, &leaf.chain_pem).unwrap();
        std::fs::write(&key_path, &leaf.key_pem).unwrap();
        TestPki {
            dir,
            ca,
            leaf,
            ca_path,
            cert_path,
            key_path,
        }
    }

    /// A self-signed root CA (ECDSA P-256).
    pub fn new_ca(common_name: &str) -> TestCa {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params
            .distinguished_name
            .push(DnType::OrganizationName, "tlsgate tests");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).unwrap();
        TestCa {
            cert_pem: cert.pem(),
            cert_der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A leaf (ECDSA P-256) for `names` (DNS names or IP literals), signed by `issuer`.
    pub fn leaf_for(names: &[&str], issuer: &TestCa) -> TestLeaf {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let sans: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(sans).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, names.first().copied().unwrap_or("leaf"));
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let cert = params.signed_by(&key, &issuer.issuer).unwrap();
        let cert_pem = cert.pem();
        TestLeaf {
            chain_pem: cert_pem.clone(),
            cert_pem,
            cert_der: cert.der().clone(),
            key_pem: key.serialize_pem(),
        }
    }

    /// Writes `leaf` as `<stem>.cert.pem` / `<stem>.key.pem` in this PKI's dir.
    pub fn write_leaf(&self, leaf: &TestLeaf, stem: &str) -> (PathBuf, PathBuf) {
        let c = self.dir.path().join(format!("{stem}.cert.pem"));
        let k = self.dir.path().join(format!("{stem}.key.pem"));
        std::fs::write(&c, &leaf.chain_pem).unwrap();
        std::fs::write(&k, &leaf.key_pem).unwrap();
        (c, k)
    }

    /// A rustls client config trusting only this PKI's CA, with the given ALPN protocols.
    pub fn client_config(&self, alpn: &[&[u8]]) -> rustls::ClientConfig {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.cert_der.clone()).unwrap();
        let mut cfg = rustls::ClientConfig::builder_with_provider(crypto_provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        cfg
    }
}

pub fn server_config_for(leaf: &TestLeaf) -> rustls::ServerConfig {
    use rustls::pki_types::pem::PemObject;
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).unwrap();
    let mut cfg = rustls::ServerConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![leaf.cert_der.clone()], key)
        .unwrap();
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    cfg
}

// ---------------------------------------------------------------------------------------------
// MockUpstream
// ---------------------------------------------------------------------------------------------

type MockBody = BoxBody<Bytes, std::io::Error>;

/// What the mock upstream saw of one request.
#[derive(Clone, Debug)]
pub struct SeenRequest {
    pub method: String,
    /// path and query
    pub uri: String,
    pub version: String,
    /// header name → values (in order received)
    pub headers: BTreeMap<String, Vec<String>>,
    /// The request's authority: the `Host` header (HTTP/1.1) or `:authority` (h2, where hyper
    /// exposes it in the URI and there is usually no `host` header).
    pub authority: Option<String>,
}

impl SeenRequest {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(|v| v.join(", "))
    }
}

#[derive(Default)]
struct MockState {
    requests: AtomicUsize,
    aborted: AtomicUsize,
    completed_slow: AtomicUsize,
    tls_failures: AtomicUsize,
    per_path: Mutex<BTreeMap<String, usize>>,
    last: Mutex<Option<SeenRequest>>,
}

/// An in-process OpenAI-like upstream. Routes:
/// `/v1/chat/completions` (JSON, or SSE when `"stream": true`), `/v1/models`, `/echo`,
/// `/headers`, `/slow?ms=N`, `/stream-then-die`, `/ws` (WebSocket echo), `/big?bytes=N`,
/// `/sse-pause?ms=N` (SSE chunk, pause, chunk, [DONE]),
/// `/die` (reads the request, closes without answering), `/gzip` (gzip bytes + header);
/// anything else → 404 JSON.
pub struct MockUpstream {
    pub addr: SocketAddr,
    pub tls: bool,
    state: Arc<MockState>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MockUpstream {
    /// A plain-HTTP mock upstream (HTTP/1.1 and h2c prior knowledge).
    pub fn start() -> MockUpstream {
        Self::start_inner(None)
    }

    /// A TLS mock upstream serving `leaf` (ALPN h2, http/1.1).
    pub fn start_tls(leaf: &TestLeaf) -> MockUpstream {
        Self::start_inner(Some(Arc::new(server_config_for(leaf))))
    }

    fn start_inner(tls: Option<Arc<rustls::ServerConfig>>) -> MockUpstream {
        let state = Arc::new(MockState::default());
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        let st = state.clone();
        let is_tls = tls.is_some();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
                let mut shutdown_rx = shutdown_rx;
                loop {
                    tokio::select! {
                        _ = &mut shutdown_rx => break,
                        accepted = listener.accept() => {
                            let Ok((tcp, _peer)) = accepted else { continue };
                            let _ = tcp.set_nodelay(true);
                            let st = st.clone();
                            let acceptor = acceptor.clone();
                            tokio::spawn(async move {
                                let svc_state = st.clone();
                                let svc = hyper::service::service_fn(move |req| {
                                    handle(req, svc_state.clone())
                                });
                                let builder =
                                    hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                                match acceptor {
                                    Some(acc) => match acc.accept(tcp).await {
                                        Ok(s) => {
                                            let _ = builder
                                                .serve_connection_with_upgrades(TokioIo::new(s), svc)
                                                .await;
                                        }
                                        Err(_) => {
                                            st.tls_failures.fetch_add(1, Ordering::SeqCst);
                                        }
                                    },
                                    None => {
                                        let _ = builder
                                            .serve_connection_with_upgrades(TokioIo::new(tcp), svc)
                                            .await;
                                    }
                                }
                            });
                        }
                    }
                }
            });
            rt.shutdown_timeout(Duration::from_millis(500));
        });
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("mock upstream bound");
        MockUpstream {
            addr,
            tls: is_tls,
            state,
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT` or `https://localhost:PORT`.
    pub fn url(&self) -> String {
        if self.tls {
            format!("https://localhost:{}", self.addr.port())
        } else {
            format!("http://127.0.0.1:{}", self.addr.port())
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Total requests received (any path).
    pub fn request_count(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// Requests received on exactly this path (without query).
    pub fn count(&self, path: &str) -> usize {
        *self.state.per_path.lock().unwrap().get(path).unwrap_or(&0)
    }

    /// Requests whose handler or response body was abandoned because the downstream (tlsgate)
    /// went away before the response was complete (e.g. `/slow` dropped mid-sleep, an SSE body
    /// whose receiver closed).
    pub fn aborted_count(&self) -> usize {
        self.state.aborted.load(Ordering::SeqCst)
    }

    /// `/slow` requests that ran to completion (their response was produced).
    pub fn completed_slow_count(&self) -> usize {
        self.state.completed_slow.load(Ordering::SeqCst)
    }

    /// TLS handshakes that failed on the mock's side (TLS mode only).
    pub fn tls_failures(&self) -> usize {
        self.state.tls_failures.load(Ordering::SeqCst)
    }

    pub fn last_request(&self) -> Option<SeenRequest> {
        self.state.last.lock().unwrap().clone()
    }
}

impl Drop for MockUpstream {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A body fed from a channel; an `Err` item makes hyper abort the response (no clean end).
struct ChannelBody {
    rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
}

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        self.rx.poll_recv(cx).map(|o| o.map(|r| r.map(Frame::data)))
    }
}

fn channel_body() -> (
    tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    MockBody,
) {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    (tx, ChannelBody { rx }.boxed())
}

fn full(b: impl Into<Bytes>) -> MockBody {
    Full::new(b.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

fn json_response(status: StatusCode, v: serde_json::Value) -> Response<MockBody> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(full(serde_json::to_vec(&v).unwrap()))
        .unwrap()
}

fn query_param(uri: &hyper::Uri, name: &str) -> Option<String> {
    uri.query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then(|| v.to_string())
    })
}

/// Counts an abort when dropped before `done()`: the handler future was cancelled.
struct AbortGuard {
    state: Arc<MockState>,
    done: bool,
}

impl Drop for AbortGuard {
    fn drop(&mut self) {
        if !self.done {
            self.state.aborted.fetch_add(1, Ordering::SeqCst);
        }
    }
}

const SSE_CHUNKS: usize = 5;

/// `{"ok":true}` gzip-compressed: what `/gzip` returns with `content-encoding: gzip`.
pub const GZIP_BYTES: &[u8] = &[
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0xff, 0xab, 0x56, 0xca, 0xcf, 0x56, 0xb2,
    0x2a, 0x29, 0x2a, 0x4d, 0xad, 0x05, 0x00, 0x90, 0x5f, 0xd4, 0xa7, 0x0b, 0x00, 0x00, 0x00,
];

fn chat_chunk(i: usize) -> serde_json::Value {
    serde_json::json!({
        "id": "chatcmpl-mock",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000u64,
        "model": "gpt-mock",
        "choices": [{
            "index": 0,
            "delta": if i == 0 { serde_json::json!({"role": "assistant", "content": "c0"}) }
                     else { serde_json::json!({"content": format!(" c{i}")}) },
            "finish_reason": if i + 1 == SSE_CHUNKS { serde_json::json!("stop") } else { serde_json::Value::Null },
        }]
    })
}

fn sse_response(body: MockBody) -> Response<MockBody> {
    Response::builder()
        .status(200)
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .header("x-request-id", "req-mock-stream")
        .body(body)
        .unwrap()
}

async fn handle(
    mut req: Request<Incoming>,
    state: Arc<MockState>,
) -> Result<Response<MockBody>, std::io::Error> {
    let seen = SeenRequest {
        method: req.method().to_string(),
        uri: req
            .uri()
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        version: format!("{:?}", req.version()),
        headers: {
            let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for (k, v) in req.headers() {
                m.entry(k.as_str().to_string())
                    .or_default()
                    .push(String::from_utf8_lossy(v.as_bytes()).into_owned());
            }
            m
        },
        authority: req.uri().authority().map(|a| a.to_string()).or_else(|| {
            req.headers()
                .get("host")
                .and_then(|h| h.to_str().ok())
                .map(String::from)
        }),
    };
    let path = req.uri().path().to_string();
    state.requests.fetch_add(1, Ordering::SeqCst);
    *state
        .per_path
        .lock()
        .unwrap()
        .entry(path.clone())
        .or_default() += 1;
    *state.last.lock().unwrap() = Some(seen.clone());

    let resp = match path.as_str() {
        "/v1/models" => json_response(
            StatusCode::OK,
            serde_json::json!({"object": "list", "data": [
                {"id": "gpt-mock", "object": "model", "created": 1_700_000_000u64, "owned_by": "mock"},
                {"id": "gpt-mock-mini", "object": "model", "created": 1_700_000_000u64, "owned_by": "mock"}
            ]}),
        ),
        "/v1/chat/completions" => {
            let body = match req.into_body().collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => {
                    return Ok(json_response(
                        StatusCode::BAD_REQUEST,
                        serde_json::json!({}),
                    ))
                }
            };
            let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            if parsed.get("stream").and_then(|v| v.as_bool()) == Some(true) {
                let (tx, body) = channel_body();
                let st = state.clone();
                tokio::spawn(async move {
                    for i in 0..SSE_CHUNKS {
                        if i > 0 {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        let line = format!("data: {}\n\n", chat_chunk(i));
                        if tx.send(Ok(Bytes::from(line))).await.is_err() {
                            st.aborted.fetch_add(1, Ordering::SeqCst);
                            return;
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    if tx
                        .send(Ok(Bytes::from_static(b"data: [DONE]\n\n")))
                        .await
                        .is_err()
                    {
                        st.aborted.fetch_add(1, Ordering::SeqCst);
                    }
                });
                sse_response(body)
            } else {
                let mut r = json_response(
                    StatusCode::OK,
                    serde_json::json!({
                        "id": "chatcmpl-mock",
                        "object": "chat.completion",
                        "created": 1_700_000_000u64,
                        "model": parsed.get("model").cloned().unwrap_or(serde_json::json!("gpt-mock")),
                        "choices": [{
                            "index": 0,
                            "message": {"role": "assistant", "content": "Hello from the mock upstream"},
                            "finish_reason": "stop"
                        }],
                        "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}
                    }),
                );
                r.headers_mut()
                    .insert("x-request-id", "req-mock-123".parse().unwrap());
                r
            }
        }
        "/echo" => {
            let method = seen.method.clone();
            let uri = seen.uri.clone();
            let mut body = req.into_body();
            let mut len: u64 = 0;
            let mut digest = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
            while let Some(frame) = body.frame().await {
                match frame {
                    Ok(f) => {
                        if let Some(d) = f.data_ref() {
                            len += d.len() as u64;
                            digest.update(d);
                        }
                    }
                    Err(_) => break,
                }
            }
            let headers: serde_json::Map<String, serde_json::Value> = seen
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.join(", "))))
                .collect();
            json_response(
                StatusCode::OK,
                serde_json::json!({
                    "method": method, "uri": uri, "version": seen.version, "authority": seen.authority,
                    "headers": headers, "body_len": len,
                    "body_sha256": fingerprint_bytes(digest.finish().as_ref()),
                }),
            )
        }
        "/headers" => Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .header("x-request-id", "req-mock-headers")
            .header("openai-processing-ms", "42")
            .header("x-ratelimit-remaining-requests", "99")
            .header("retry-after", "7")
            .body(full(&b"{\"ok\":true}"[..]))
            .unwrap(),
        "/slow" => {
            let ms: u64 = query_param(req.uri(), "ms")
                .and_then(|v| v.parse().ok())
                .unwrap_or(1000);
            let mut guard = AbortGuard {
                state: state.clone(),
                done: false,
            };
            tokio::time::sleep(Duration::from_millis(ms)).await;
            guard.done = true;
            state.completed_slow.fetch_add(1, Ordering::SeqCst);
            json_response(StatusCode::OK, serde_json::json!({"slept_ms": ms}))
        }
        "/stream-then-die" => {
            let (tx, body) = channel_body();
            tokio::spawn(async move {
                for i in 0..2 {
                    let line = format!("data: {}\n\n", chat_chunk(i));
                    if tx.send(Ok(Bytes::from(line))).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                // An error item makes hyper abort: h1 closes without the last chunk, h2 resets.
                let _ = tx
                    .send(Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionReset,
                        "mock dies",
                    )))
                    .await;
            });
            sse_response(body)
        }
        // SSE: one chunk, a pause of `ms`, another chunk, then [DONE].
        "/sse-pause" => {
            let ms: u64 = query_param(req.uri(), "ms")
                .and_then(|v| v.parse().ok())
                .unwrap_or(1000);
            let (tx, body) = channel_body();
            let st = state.clone();
            tokio::spawn(async move {
                let parts = [
                    format!("data: {}\n\n", chat_chunk(0)),
                    format!("data: {}\n\n", chat_chunk(1)),
                    "data: [DONE]\n\n".to_string(),
                ];
                for (i, p) in parts.into_iter().enumerate() {
                    if i == 1 {
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                    }
                    if tx.send(Ok(Bytes::from(p))).await.is_err() {
                        st.aborted.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                }
            });
            sse_response(body)
        }
        "/big" => {
            let total: usize = query_param(req.uri(), "bytes")
                .and_then(|v| v.parse().ok())
                .unwrap_or(1 << 20);
            let (tx, body) = channel_body();
            let st = state.clone();
            tokio::spawn(async move {
                let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
                let mut left = total;
                while left > 0 {
                    let n = left.min(chunk.len());
                    if tx.send(Ok(chunk.slice(..n))).await.is_err() {
                        st.aborted.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                    left -= n;
                }
            });
            Response::builder()
                .status(200)
                .header("content-type", "application/octet-stream")
                .header("content-length", total.to_string())
                .body(body)
                .unwrap()
        }
        "/ws" => ws_upgrade(&mut req),
        // Reads the request, then drops the connection without any response.
        "/die" => {
            let _ = req.into_body().collect().await;
            return Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "mock: /die",
            ));
        }
        // Pretend-compressed bytes: a proxy must pass them and the header through untouched.
        "/gzip" => Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .header("content-encoding", "gzip")
            .body(full(Bytes::from_static(GZIP_BYTES)))
            .unwrap(),
        _ => json_response(
            StatusCode::NOT_FOUND,
            serde_json::json!({"error": {"message": "mock: no such route", "type": "invalid_request_error", "param": null, "code": null}}),
        ),
    };
    Ok(resp)
}

fn ws_upgrade(req: &mut Request<Incoming>) -> Response<MockBody> {
    use tokio_tungstenite::tungstenite::{handshake::derive_accept_key, protocol::Role};
    let wants_ws = req
        .headers()
        .get("upgrade")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.eq_ignore_ascii_case("websocket"))
        .unwrap_or(false);
    let Some(key) = req.headers().get("sec-websocket-key").cloned() else {
        return json_response(
            StatusCode::BAD_REQUEST,
            serde_json::json!({"error": "no key"}),
        );
    };
    if !wants_ws {
        return json_response(
            StatusCode::BAD_REQUEST,
            serde_json::json!({"error": "no upgrade"}),
        );
    }
    let on_upgrade = hyper::upgrade::on(req);
    tokio::spawn(async move {
        use futures_util::{SinkExt, StreamExt};
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
            TokioIo::new(upgraded),
            Role::Server,
            None,
        )
        .await;
        while let Some(Ok(msg)) = ws.next().await {
            if msg.is_text() || msg.is_binary() {
                if ws.send(msg).await.is_err() {
                    break;
                }
            } else if msg.is_close() {
                break;
            }
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-accept", derive_accept_key(key.as_bytes()))
        .body(full(Bytes::new()))
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// Tlsgate process
// ---------------------------------------------------------------------------------------------

/// Describes the YAML config written for a tlsgate under test.
#[derive(Clone, Debug)]
pub struct GateConfig {
    /// `Some((cert, key))` for a TLS listener, `None` for plain HTTP.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub upstream_url: String,
    /// Extra YAML lines placed inside the upstream's mapping (indent them by 4 spaces).
    pub upstream_extra: String,
    /// Extra YAML lines placed inside the `diagnostics:` mapping (indent by 2 spaces).
    pub diagnostics_extra: String,
    /// Extra top-level YAML (e.g. a `limits:` section).
    pub top_extra: String,
    /// Environment variables for the tlsgate process.
    pub env: Vec<(String, String)>,
}

impl GateConfig {
    /// A TLS listener with the PKI's localhost leaf in front of `upstream_url`.
    pub fn tls(pki: &TestPki, upstream_url: impl Into<String>) -> GateConfig {
        GateConfig {
            tls: Some((pki.cert_path.clone(), pki.key_path.clone())),
            upstream_url: upstream_url.into(),
            upstream_extra: String::new(),
            diagnostics_extra: String::new(),
            top_extra: String::new(),
            env: Vec::new(),
        }
    }

    /// A plain-HTTP listener in front of `upstream_url`.
    pub fn plain(upstream_url: impl Into<String>) -> GateConfig {
        GateConfig {
            tls: None,
            upstream_url: upstream_url.into(),
            upstream_extra: String::new(),
            diagnostics_extra: String::new(),
            top_extra: String::new(),
            env: Vec::new(),
        }
    }

    /// The YAML: listener `main` and the admin API on port 0 (the ports come back in the ready
    /// file).
    pub fn render(&self) -> String {
        let mut y = String::new();
        y.push_str("listeners:\n");
        y.push_str("  - name: main\n");
        y.push_str("    bind: 127.0.0.1:0\n");
        if let Some((cert, key)) = &self.tls {
            y.push_str("    tls:\n      certificates:\n");
            y.push_str(&format!("        - cert: {}\n", yaml_str(cert)));
            y.push_str(&format!("          key: {}\n", yaml_str(key)));
        }
        y.push_str("upstreams:\n  mock:\n");
        y.push_str(&format!("    url: {}\n", self.upstream_url));
        if !self.upstream_extra.is_empty() {
            y.push_str(self.upstream_extra.trim_end_matches('\n'));
            y.push('\n');
        }
        y.push_str("admin:\n  bind: 127.0.0.1:0\n");
        y.push_str("diagnostics:\n  log_format: json\n");
        if !self.diagnostics_extra.is_empty() {
            y.push_str(self.diagnostics_extra.trim_end_matches('\n'));
            y.push('\n');
        }
        if !self.top_extra.is_empty() {
            y.push_str(self.top_extra.trim_end_matches('\n'));
            y.push('\n');
        }
        // No load balancer to wait for: stop accepting at once on SIGTERM (the drain of
        // in-flight requests still applies), so dropping a gate does not take 5 s.
        if !self.top_extra.contains("shutdown:") {
            y.push_str("shutdown:\n  drain_delay: 0s\n");
        }
        y
    }
}

fn yaml_str(p: &Path) -> String {
    format!(
        "\"{}\"",
        p.display()
            .to_string()
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
    )
}

/// Captured output of a child process (stdout and stderr interleaved line by line, plus each
/// alone). Waiters are woken on every line ([`Captured::wait_for`]).
#[derive(Clone, Default)]
pub struct Captured {
    inner: Arc<(Mutex<Output>, Condvar)>,
}

#[derive(Default)]
struct Output {
    all: String,
    stdout: String,
    stderr: String,
    /// Pipes still being read; at 0 no more output can come.
    open: usize,
}

#[derive(Clone, Copy)]
enum Stream {
    Stdout,
    Stderr,
}

impl Captured {
    fn attach(&self, child: &mut Child) -> Vec<std::thread::JoinHandle<()>> {
        let mut threads = Vec::new();
        let pipes: [(Option<Box<dyn Read + Send>>, Stream); 2] = [
            (
                child
                    .stdout
                    .take()
                    .map(|p| Box::new(p) as Box<dyn Read + Send>),
                Stream::Stdout,
            ),
            (
                child
                    .stderr
                    .take()
                    .map(|p| Box::new(p) as Box<dyn Read + Send>),
                Stream::Stderr,
            ),
        ];
        for (pipe, which) in pipes {
            let Some(pipe) = pipe else { continue };
            self.inner.0.lock().unwrap().open += 1;
            let me = self.clone();
            threads.push(std::thread::spawn(move || me.pump(pipe, which)));
        }
        threads
    }

    fn pump(&self, r: impl Read, which: Stream) {
        let (out, changed) = &*self.inner;
        let mut r = BufReader::new(r);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match r.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let s = String::from_utf8_lossy(&buf);
                    let mut o = out.lock().unwrap();
                    o.all.push_str(&s);
                    match which {
                        Stream::Stdout => o.stdout.push_str(&s),
                        Stream::Stderr => o.stderr.push_str(&s),
                    }
                    changed.notify_all();
                }
            }
        }
        out.lock().unwrap().open -= 1;
        changed.notify_all();
    }

    /// Waits (up to `timeout`) until `f`, given all the output so far, returns `Some`; checked
    /// again on every new line. `None` at the deadline, or as soon as the output has ended
    /// without `f` matching.
    pub fn wait_for<T>(
        &self,
        timeout: Duration,
        mut f: impl FnMut(&str) -> Option<T>,
    ) -> Option<T> {
        let (out, changed) = &*self.inner;
        let deadline = Instant::now() + timeout;
        let mut o = out.lock().unwrap();
        loop {
            if let Some(v) = f(&o.all) {
                return Some(v);
            }
            let now = Instant::now();
            if now >= deadline || o.open == 0 {
                return None;
            }
            o = changed.wait_timeout(o, deadline - now).unwrap().0;
        }
    }

    pub fn all(&self) -> String {
        self.inner.0.lock().unwrap().all.clone()
    }
    pub fn stderr(&self) -> String {
        self.inner.0.lock().unwrap().stderr.clone()
    }
    pub fn stdout(&self) -> String {
        self.inner.0.lock().unwrap().stdout.clone()
    }
}

/// Parses JSON log lines (objects) out of captured output; other lines are ignored.
pub fn parse_json_lines(out: &str) -> Vec<serde_json::Value> {
    out.lines()
        .filter_map(|l| {
            let l = l.trim();
            if l.starts_with('{') {
                serde_json::from_str::<serde_json::Value>(l).ok()
            } else {
                None
            }
        })
        .collect()
}

/// A running `tlsgate serve`.
pub struct Tlsgate {
    pub child: Option<Child>,
    /// The config, the ready file (and the working directory, unless given): removed on drop.
    _dir: tempfile::TempDir,
    pub config_path: PathBuf,
    /// Where `--ready-file` points: written by tlsgate once every listener and the admin API
    /// are bound.
    pub ready_path: PathBuf,
    /// The first listener's port and the admin API's, as the ready file reports them (0 until
    /// [`Tlsgate::wait_ready`] has read it).
    pub listen_port: u16,
    pub admin_port: u16,
    pub tls: bool,
    pub output: Captured,
    pump_threads: Vec<std::thread::JoinHandle<()>>,
    exit: Option<ExitStatus>,
}

pub fn tlsgate_bin() -> &'static str {
    env!("CARGO_BIN_EXE_tlsgate")
}

/// How long a `tlsgate serve` may take to write its ready file.
const READY_WITHIN: Duration = Duration::from_secs(15);

impl Tlsgate {
    /// Writes the config, spawns `tlsgate serve -c <dir>/tlsgate.yaml` and waits until ready.
    pub fn start(cfg: &GateConfig) -> Tlsgate {
        let mut g = Self::spawn(cfg);
        g.wait_ready();
        g
    }

    /// Starts `tlsgate serve` with a hand-written config (bind its listeners and admin API to
    /// port 0: the ports are read from the ready file) and waits until ready.
    pub fn start_yaml(yaml: &str, tls: bool) -> Tlsgate {
        Self::start_yaml_wrapped(&[], yaml, tls)
    }

    /// [`Tlsgate::start_yaml`] through `wrapper` (see [`Tlsgate::spawn_wrapped`]).
    fn start_yaml_wrapped(wrapper: &[String], yaml: &str, tls: bool) -> Tlsgate {
        let dir = tempfile::tempdir().unwrap();
        let config_path = dir.path().join("tlsgate.yaml");
        std::fs::write(&config_path, yaml).unwrap();
        let args = vec![
            "serve".to_string(),
            "-c".to_string(),
            config_path.display().to_string(),
        ];
        let mut g = Self::spawn_wrapped(wrapper, &args, dir, None, &[], tls);
        g.wait_ready();
        g
    }

    /// Like [`Tlsgate::start`] but does not wait for readiness.
    pub fn spawn(cfg: &GateConfig) -> Tlsgate {
        let dir = tempfile::tempdir().unwrap();
        let config_path = dir.path().join("tlsgate.yaml");
        std::fs::write(&config_path, cfg.render()).unwrap();
        let args = vec![
            "serve".to_string(),
            "-c".to_string(),
            config_path.display().to_string(),
        ];
        Self::spawn_args(&args, dir, None, &cfg.env, cfg.tls.is_some())
    }

    /// Spawns `tlsgate <args> --ready-file <dir>/ready.json` (`args` being a `serve` command
    /// line) in `cwd` (default: `dir`, which the returned value keeps alive). `tls` says whether
    /// the first listener speaks TLS.
    pub fn spawn_args(
        args: &[String],
        dir: tempfile::TempDir,
        cwd: Option<&Path>,
        env: &[(String, String)],
        tls: bool,
    ) -> Tlsgate {
        Self::spawn_wrapped(&[], args, dir, cwd, env, tls)
    }

    /// Starts `tlsgate serve` with a hand-written config under the open-file limit `nofile`
    /// (soft and hard, set by util-linux `prlimit`, which then executes tlsgate in its place)
    /// and waits until ready.
    pub fn start_yaml_with_nofile(yaml: &str, tls: bool, nofile: usize) -> Tlsgate {
        let wrapper = [
            "prlimit".to_string(),
            format!("--nofile={nofile}:{nofile}"),
            "--".to_string(),
        ];
        Self::start_yaml_wrapped(&wrapper, yaml, tls)
    }

    /// [`Tlsgate::spawn_args`] run through `wrapper` (a command that ends by executing its
    /// arguments, keeping the process id), when not empty.
    fn spawn_wrapped(
        wrapper: &[String],
        args: &[String],
        dir: tempfile::TempDir,
        cwd: Option<&Path>,
        env: &[(String, String)],
        tls: bool,
    ) -> Tlsgate {
        let config_path = dir.path().join("tlsgate.yaml");
        let ready_path = dir.path().join("ready.json");
        let mut cmd = match wrapper.split_first() {
            None => Command::new(tlsgate_bin()),
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg(tlsgate_bin());
                c
            }
        };
        scrub(&mut cmd);
        cmd.args(args)
            .arg("--ready-file")
            .arg(&ready_path)
            .current_dir(cwd.unwrap_or(dir.path()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn tlsgate");
        let output = Captured::default();
        let pump_threads = output.attach(&mut child);
        Tlsgate {
            child: Some(child),
            _dir: dir,
            config_path,
            ready_path,
            listen_port: 0,
            admin_port: 0,
            tls,
            output,
            pump_threads,
            exit: None,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("child").id()
    }

    /// `https://localhost:PORT` (TLS) or `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        if self.tls {
            format!("https://localhost:{}", self.listen_port)
        } else {
            format!("http://127.0.0.1:{}", self.listen_port)
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url(), path)
    }

    /// curl arguments for reaching this gate: `--cacert` (TLS) and `--resolve localhost:PORT:127.0.0.1`
    /// so "localhost" never tries ::1 (the listener binds 127.0.0.1 only).
    pub fn curl_args(&self, ca: Option<&Path>) -> Vec<String> {
        let mut v = vec![
            "--resolve".to_string(),
            format!("localhost:{}:127.0.0.1", self.listen_port),
        ];
        if let Some(ca) = ca {
            v.push("--cacert".to_string());
            v.push(ca.display().to_string());
        }
        v
    }

    /// The admin API's address.
    pub fn admin_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.admin_port))
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.admin_port, path)
    }

    /// Waits (15 s) for the ready file, which tlsgate writes once every listener and the admin
    /// API are bound and the certificates loaded, and takes the ports from it; panics with the
    /// captured output if the deadline passes or the process exits first.
    pub fn wait_ready(&mut self) {
        let ready_path = self.ready_path.clone();
        let ready = wait_until(READY_WITHIN, || {
            if let Some(st) = self.try_wait() {
                return Some(Err(st));
            }
            // Written to a temporary file and renamed: present means complete.
            let text = std::fs::read_to_string(&ready_path).ok()?;
            Some(Ok(text))
        });
        let text = match ready {
            Some(Ok(text)) => text,
            Some(Err(st)) => {
                self.join_pumps();
                panic!(
                    "tlsgate exited before becoming ready ({st:?}). Config:\n{}\nOutput:\n{}",
                    std::fs::read_to_string(&self.config_path).unwrap_or_default(),
                    self.output.all()
                );
            }
            None => panic!(
                "tlsgate not ready within {READY_WITHIN:?} (no {}). Config:\n{}\nOutput:\n{}",
                ready_path.display(),
                std::fs::read_to_string(&self.config_path).unwrap_or_default(),
                self.output.all()
            ),
        };
        let v: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("the ready file is not JSON ({e}): {text:?}"));
        let port = |addr: &serde_json::Value| -> u16 {
            addr.as_str()
                .and_then(|a| a.parse::<SocketAddr>().ok())
                .map(|a| a.port())
                .unwrap_or_else(|| panic!("no address in the ready file: {v}"))
        };
        self.listen_port = port(&v["listeners"][0]["addr"]);
        if !v["admin"].is_null() {
            self.admin_port = port(&v["admin"]);
        }
    }

    /// `Some(status)` if the process has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        if let Some(s) = self.exit {
            return Some(s);
        }
        let child = self.child.as_mut()?;
        match child.try_wait() {
            Ok(Some(s)) => {
                self.exit = Some(s);
                Some(s)
            }
            _ => None,
        }
    }

    /// Sends SIGTERM (via `kill -TERM`).
    pub fn sigterm(&self) {
        if let Some(c) = &self.child {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
        }
    }

    /// Waits for exit up to `timeout`; kills (SIGKILL) after that and panics with the output.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        if let Some(s) = wait_until(timeout, || self.try_wait()) {
            self.join_pumps();
            return s;
        }
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.join_pumps();
        panic!(
            "tlsgate did not exit within {timeout:?}; killed. Output:\n{}",
            self.output.all()
        );
    }

    /// SIGTERM and wait (15 s) for the exit status.
    pub fn shutdown(&mut self) -> ExitStatus {
        self.sigterm();
        self.wait_exit(Duration::from_secs(15))
    }

    fn join_pumps(&mut self) {
        for t in self.pump_threads.drain(..) {
            let _ = t.join();
        }
    }

    /// All captured output (stdout + stderr).
    pub fn output(&self) -> String {
        self.output.all()
    }

    /// JSON log lines emitted so far.
    pub fn logs(&self) -> Vec<serde_json::Value> {
        parse_json_lines(&self.output.all())
    }

    /// Log lines whose `event` field equals `event`.
    pub fn events(&self, event: &str) -> Vec<serde_json::Value> {
        self.logs()
            .into_iter()
            .filter(|l| l.get("event").and_then(|e| e.as_str()) == Some(event))
            .collect()
    }

    /// Waits (up to `timeout`) for a log line matching `pred`; checked on every new line.
    pub fn wait_for_log(
        &self,
        timeout: Duration,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> Option<serde_json::Value> {
        self.output.wait_for(timeout, |all| {
            parse_json_lines(all).into_iter().find(|l| pred(l))
        })
    }
}

impl Drop for Tlsgate {
    fn drop(&mut self) {
        if self.try_wait().is_none() {
            self.sigterm();
            if wait_until(Duration::from_secs(10), || self.try_wait()).is_none() {
                if let Some(c) = self.child.as_mut() {
                    let _ = c.kill();
                    let _ = c.wait();
                }
            }
        }
        self.join_pumps();
    }
}

/// Runs `tlsgate` with `args` in `cwd` to completion (bounded by `timeout`, then killed);
/// returns (exit status, captured output).
pub fn run_tlsgate(
    args: &[&str],
    cwd: &Path,
    env: &[(&str, &str)],
    timeout: Duration,
) -> (ExitStatus, Captured) {
    let mut cmd = Command::new(tlsgate_bin());
    scrub(&mut cmd);
    cmd.args(args).current_dir(cwd);
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_bounded(cmd, timeout).unwrap_or_else(|cap| {
        panic!(
            "tlsgate {args:?} did not exit within {timeout:?} (killed). Output:\n{}",
            cap.all()
        )
    })
}

/// Reads one HTTP/1.1 response with a `content-length` body from a keep-alive connection.
pub fn read_response(s: &mut impl Read) -> (u16, String) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = s.read(&mut byte).expect("reading the response head");
        assert_eq!(n, 1, "connection closed inside the response head: {head:?}");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let status: u16 = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .expect("a content-length");
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).expect("reading the response body");
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// A minimal blocking HTTP/1.1 GET (for the admin API): `Some((status, body))`.
pub fn raw_http_get(addr: SocketAddr, path: &str, timeout: Duration) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, timeout).ok()?;
    s.set_read_timeout(Some(timeout)).ok()?;
    s.set_write_timeout(Some(timeout)).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status_line = text.lines().next()?;
    let code: u16 = status_line.split_whitespace().nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((code, body))
}

// ---------------------------------------------------------------------------------------------
// curl and other external clients
// ---------------------------------------------------------------------------------------------

pub struct CurlOut {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl CurlOut {
    pub fn ok(&self) -> bool {
        self.status.success()
    }
    /// Describes the run for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "curl exit {:?}\nstdout:\n{}\nstderr:\n{}",
            self.status.code(),
            self.stdout,
            self.stderr
        )
    }
}

/// Runs `curl -sS --noproxy '*' --max-time 20 <args>` (a later `--max-time` in `args` wins).
pub fn curl(args: &[&str]) -> CurlOut {
    let mut cmd = Command::new("curl");
    scrub(&mut cmd);
    cmd.args(["-sS", "--noproxy", "*", "--max-time", "20"])
        .args(args);
    let out = cmd.output().expect("run curl");
    CurlOut {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// An HTTP response as seen by curl: status, headers (lowercased names), body.
pub struct HttpResult {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub raw: CurlOut,
}

impl HttpResult {
    pub fn header(&self, name: &str) -> Option<String> {
        let n = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == n)
            .map(|(_, v)| v.clone())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.raw.describe()))
    }
}

/// Runs curl with `-D <headers file>` and `-o <body file>` so status, headers and body can be
/// checked separately. Panics (with curl's output) if curl itself fails.
pub fn curl_http(args: &[&str]) -> HttpResult {
    let tmp = tempfile::tempdir().unwrap();
    let hdr = tmp.path().join("headers");
    let body = tmp.path().join("body");
    let mut all: Vec<&str> = vec!["-D", hdr.to_str().unwrap(), "-o", body.to_str().unwrap()];
    all.extend_from_slice(args);
    let raw = curl(&all);
    assert!(raw.ok(), "curl failed: {}", raw.describe());
    let head = std::fs::read_to_string(&hdr).unwrap_or_default();
    // With redirects or 1xx there may be several header blocks: keep the last.
    let last_block = head
        .split("\r\n\r\n")
        .filter(|b| !b.trim().is_empty())
        .last()
        .unwrap_or("")
        .to_string();
    let mut lines = last_block.lines();
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in headers: {head:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    HttpResult {
        status,
        headers,
        body: std::fs::read_to_string(&body).unwrap_or_default(),
        raw,
    }
}

/// A line read from a streaming child's stdout, with when it arrived.
pub struct TimedLine {
    pub at: Instant,
    pub line: String,
}

/// Runs `curl -N` (no buffering) and collects stdout lines with arrival times.
/// Returns (lines, exit status, stderr). Bounded by `--max-time`.
pub fn curl_stream(args: &[&str]) -> (Vec<TimedLine>, ExitStatus, String) {
    let mut cmd = Command::new("curl");
    scrub(&mut cmd);
    cmd.args(["-sS", "-N", "--noproxy", "*", "--max-time", "20"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn curl");
    let stderr = child.stderr.take().unwrap();
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = BufReader::new(stderr).read_to_string(&mut s);
        s
    });
    let mut lines = Vec::new();
    let mut r = BufReader::new(child.stdout.take().unwrap());
    let mut buf = String::new();
    loop {
        buf.clear();
        match r.read_line(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => lines.push(TimedLine {
                at: Instant::now(),
                line: buf.trim_end().to_string(),
            }),
        }
    }
    let status = child.wait().unwrap();
    (lines, status, err_thread.join().unwrap_or_default())
}

pub fn python_has_openai() -> bool {
    Command::new("python3")
        .args(["-c", "import openai"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Runs a child command with a timeout; returns (status, stdout, stderr). Kills it at timeout.
/// (Call [`scrub`] on `cmd` *before* setting its own variables if hermeticity matters.)
pub fn run_with_timeout(cmd: Command, timeout: Duration) -> (ExitStatus, String, String) {
    let (status, cap) = run_bounded(cmd, timeout)
        .unwrap_or_else(|cap| panic!("command timed out after {timeout:?}:\n{}", cap.all()));
    (status, cap.stdout(), cap.stderr())
}

/// Runs `cmd` to completion with its output captured; `Err` with what it printed when it had to
/// be killed after `timeout`.
fn run_bounded(mut cmd: Command, timeout: Duration) -> Result<(ExitStatus, Captured), Captured> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    let cap = Captured::default();
    let threads = cap.attach(&mut child);
    let status = wait_until(timeout, || child.try_wait().ok().flatten());
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    for t in threads {
        let _ = t.join();
    }
    status.map(|s| (s, cap.clone())).ok_or(cap)
}

// ---------------------------------------------------------------------------------------------
// Certificates with chosen validity, and what a listener serves
// ---------------------------------------------------------------------------------------------

/// A leaf like [`TestPki::leaf_for`] valid from `not_before` to `not_after`.
pub fn leaf_with_validity(
    names: &[&str],
    issuer: &TestCa,
    not_before: time::OffsetDateTime,
    not_after: time::OffsetDateTime,
) -> TestLeaf {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let sans: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let mut params = CertificateParams::new(sans).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, names.first().copied().unwrap_or("leaf"));
    params.is_ca = IsCa::ExplicitNoCa;
    params.not_before = not_before;
    params.not_after = not_after;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let cert = params.signed_by(&key, &issuer.issuer).unwrap();
    TestLeaf {
        chain_pem: cert.pem(),
        cert_pem: cert.pem(),
        cert_der: cert.der().clone(),
        key_pem: key.serialize_pem(),
    }
}

fn fingerprint_bytes(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// SHA-256 (lowercase hex) of a DER certificate, as tlsgate reports fingerprints.
pub fn fingerprint(der: &[u8]) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Accepts any server certificate: for tests that only want to see *which* one is served.
#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &rustls::pki_types::CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &rustls::pki_types::CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Opens a new TLS connection (SNI `localhost`, no resumption) and returns the fingerprint of
/// the leaf served, or `None` when the handshake fails.
pub fn served_fingerprint(port: u16) -> Option<String> {
    let provider = crypto_provider();
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .ok()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
        .with_no_client_auth();
    cfg.resumption = rustls::client::Resumption::disabled();
    let name = rustls::pki_types::ServerName::try_from("localhost").ok()?;
    let mut conn = rustls::ClientConnection::new(Arc::new(cfg), name).ok()?;
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).ok()?;
    tcp.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp).ok()?;
    }
    let der = conn.peer_certificates()?.first()?.clone();
    Some(fingerprint(der.as_ref()))
}

/// One HTTPS GET on a new connection (trusting `ca`), returning the status code.
pub fn https_get_status(
    port: u16,
    ca: &rustls::pki_types::CertificateDer<'static>,
    path: &str,
) -> Result<u16, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).map_err(|e| e.to_string())?;
    let mut cfg = rustls::ClientConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.resumption = rustls::client::Resumption::disabled();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    let name = rustls::pki_types::ServerName::try_from("localhost").map_err(|e| e.to_string())?;
    let mut conn = rustls::ClientConnection::new(Arc::new(cfg), name).map_err(|e| e.to_string())?;
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let mut tls = rustls::Stream::new(&mut conn, &mut tcp);
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    tls.write_all(req.as_bytes())
        .map_err(|e| format!("write: {e}"))?;
    let mut buf = Vec::new();
    match tls.read_to_end(&mut buf) {
        Ok(_) => {}
        // A peer closing without close_notify after a complete response is fine here.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !buf.is_empty() => {}
        Err(e) => return Err(format!("read: {e}")),
    }
    let text = String::from_utf8_lossy(&buf);
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            format!(
                "no status line in {:?}",
                text.chars().take(80).collect::<String>()
            )
        })
}
