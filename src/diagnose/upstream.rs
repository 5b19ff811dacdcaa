//! Diagnosis of connections to upstreams: turn what was observed while connecting (the
//! presented chain, the rustls error, the first bytes the server sent, the trust verdict of each
//! store) into findings.
//!
//! rustls stops at the first check that fails and keeps nothing of a rejected chain, so the
//! proxy captures the chain itself (`proxy::verifier`) and this module runs the project's own,
//! independent checks on it: every problem that applies is reported, most important first.
//! Everything here is a pure function of the evidence.

use std::net::IpAddr;

use rustls::pki_types::UnixTime;
use rustls::AlertDescription;
use time::OffsetDateTime;

use crate::certs::info::format_time;
use crate::certs::CertInfo;
use crate::findings::{Code, Finding, Severity};
pub use crate::tls::roots::{webpki_store, TrustStore};

/// Where a fix should point: a configured upstream's keys, or the `probe` flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FixContext {
    /// `upstreams.<name>` in the configuration.
    Upstream(String),
    /// `tlsgate probe` on the command line.
    Probe,
    /// `tlsgate probe --starttls postgres`: the fixes speak to the PostgreSQL server's operator
    /// (postgresql.conf) and to libpq clients (sslmode, sslrootcert).
    ProbePostgres,
}

impl FixContext {
    fn ca_bundle(&self) -> String {
        match self {
            FixContext::Upstream(n) => format!("upstreams.{n}.tls.ca_bundle"),
            FixContext::Probe | FixContext::ProbePostgres => "--ca FILE".to_string(),
        }
    }

    fn server_name(&self) -> String {
        match self {
            FixContext::Upstream(n) => format!("upstreams.{n}.tls.server_name"),
            FixContext::Probe | FixContext::ProbePostgres => "--sni NAME".to_string(),
        }
    }

    fn client_cert(&self) -> String {
        match self {
            FixContext::Upstream(n) => {
                format!("upstreams.{n}.tls.client_cert and upstreams.{n}.tls.client_key")
            }
            FixContext::Probe | FixContext::ProbePostgres => {
                "--client-cert FILE --client-key FILE".to_string()
            }
        }
    }

    fn url(&self) -> String {
        match self {
            FixContext::Upstream(n) => format!("upstreams.{n}.url"),
            FixContext::Probe | FixContext::ProbePostgres => "the target".to_string(),
        }
    }
}

/// The verdict of one consulted store for the presented chain.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoreVerdict {
    pub store: String,
    /// The chain verifies to one of the store's anchors.
    pub trusted: bool,
    /// The store holds a certificate named like the issuer of the chain's top certificate.
    pub knows_top_issuer: bool,
    /// Such a certificate is there, but its key did not sign the top certificate: the CA was
    /// re-issued or replaced under the same name.
    pub top_issuer_other_key: bool,
}

/// Computes the verdict of each store.
pub fn verdicts(
    stores: &[TrustStore],
    chain: &[CertInfo],
    now: OffsetDateTime,
) -> Vec<StoreVerdict> {
    let top = chain_top(chain);
    stores
        .iter()
        .map(|s| {
            let keys = top.map(|t| s.keys_named(&t.issuer_raw)).unwrap_or_default();
            StoreVerdict {
                store: s.name.clone(),
                trusted: anchors(s, chain, now),
                knows_top_issuer: !keys.is_empty(),
                top_issuer_other_key: top.is_some_and(|t| {
                    !keys.is_empty()
                        && keys.iter().all(|k| {
                            crate::certs::checks::signed_by_key(t.der.as_ref(), k) == Some(false)
                        })
                }),
            }
        })
        .collect()
}

/// Everything observed while connecting to an upstream (or probing a target).
#[derive(Debug, Clone)]
pub struct UpstreamEvidence {
    pub context: FixContext,
    /// `host:port` as connected to, for the evidence text.
    pub address: String,
    /// The name verified against the certificate (the SNI sent, or the IP address).
    pub server_name: String,
    /// Whether TLS was expected (`https://` URL, or a probe).
    pub expects_tls: bool,
    /// The presented chain, in the order the server sent it (empty when none was seen).
    pub chain: Vec<CertInfo>,
    /// The error rustls reported, if any (unwrapped from the recording verifier).
    pub tls_error: Option<rustls::Error>,
    /// A non-TLS I/O error text during the handshake (reset, EOF, …).
    pub io_error: Option<String>,
    /// The first bytes the server sent (up to a few dozen).
    pub first_bytes: Vec<u8>,
    /// The verdict of each consulted trust store.
    pub trust: Vec<StoreVerdict>,
    /// Whether the chain verifies to the bundled public roots (consulted or not): used to tell
    /// a public CA from a private or inspection root.
    pub publicly_trusted: bool,
    pub now: OffsetDateTime,
    /// The handshake did not finish within the timeout.
    pub timed_out: bool,
    /// A client certificate was configured (and so sent when asked for).
    pub client_cert_sent: bool,
    /// Whether the server asked for a client certificate (`None`: not observed).
    pub client_cert_requested: Option<bool>,
    /// `insecure_skip_verify` is on.
    pub verification_disabled: bool,
    /// How the server answered an HTTP request: the one sent after the handshake when it asked
    /// for a client certificate, the plain one on an `http://` URL, or the proxied request.
    pub http_answer: Option<HttpAnswer>,
    /// An `http://` server that closed without answering the plain request: the first bytes it
    /// sent back to a TLS ClientHello on a second connection (a TLS record: it speaks TLS).
    pub hello_answer: Option<Vec<u8>>,
}

/// An HTTP response, as much of it as the diagnosis reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpAnswer {
    pub status: u16,
    /// The `Server` header.
    pub server: Option<String>,
    pub content_type: Option<String>,
    /// The start of the body, at most [`ERROR_PAGE_LIMIT`] bytes.
    pub body: Vec<u8>,
}

/// The largest body read to recognise a TLS problem reported as an HTTP page (nginx's are
/// about 250 bytes).
pub const ERROR_PAGE_LIMIT: usize = 4096;

/// A TLS problem a server reported in HTTP instead of in the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageCause {
    ClientCertRequired,
    ClientCertRejected,
    /// A plain HTTP request reached a TLS port.
    PlainHttpToTlsPort,
}

/// Whether a response can be a TLS problem reported in HTTP, from its head alone: nginx's
/// statuses 495/496/497, or a 400 whose body is small (declared length at most
/// [`ERROR_PAGE_LIMIT`]) and `text/html`. Anything else is streamed untouched, unread.
pub fn may_be_tls_error_page(
    status: u16,
    content_type: Option<&str>,
    content_length: Option<u64>,
) -> bool {
    match status {
        495..=497 => true,
        400 => {
            content_length.is_some_and(|n| n <= ERROR_PAGE_LIMIT as u64)
                && content_type.is_some_and(|t| {
                    t.trim_start()
                        .get(..9)
                        .is_some_and(|p| p.eq_ignore_ascii_case("text/html"))
                })
        }
        _ => false,
    }
}

/// The TLS problem an HTTP answer reports, if it is one: nginx's 495/496/497, or its 400 pages
/// ("No required SSL certificate was sent", "The SSL certificate error", "The plain HTTP
/// request was sent to HTTPS port"), and Apache's 400 for plain HTTP on its TLS port.
pub fn tls_error_page(status: u16, body: &[u8]) -> Option<PageCause> {
    const PAGES: &[(&str, PageCause)] = &[
        (
            "No required SSL certificate was sent",
            PageCause::ClientCertRequired,
        ),
        ("The SSL certificate error", PageCause::ClientCertRejected),
        (
            "The plain HTTP request was sent to HTTPS port",
            PageCause::PlainHttpToTlsPort,
        ),
        (
            "speaking plain HTTP to an SSL-enabled server port",
            PageCause::PlainHttpToTlsPort,
        ),
    ];
    match status {
        496 => Some(PageCause::ClientCertRequired),
        495 => Some(PageCause::ClientCertRejected),
        497 => Some(PageCause::PlainHttpToTlsPort),
        400 => {
            let body = body.get(..ERROR_PAGE_LIMIT).unwrap_or(body);
            PAGES
                .iter()
                .find(|(text, _)| contains(body, text.as_bytes()))
                .map(|(_, cause)| *cause)
        }
        _ => None,
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

impl HttpAnswer {
    /// "HTTP 400 from nginx/1.22.1: \"400 No required SSL certificate was sent\"".
    fn describe(&self) -> String {
        let server = self
            .server
            .as_deref()
            .map(|s| format!(" from {}", printable_prefix(s.as_bytes(), 60)))
            .unwrap_or_default();
        let title = page_title(&self.body)
            .map(|t| format!(": \"{t}\""))
            .unwrap_or_default();
        format!("HTTP {}{server}{title}", self.status)
    }
}

/// The `<title>` of an HTML page, printable and short.
fn page_title(body: &[u8]) -> Option<String> {
    let lower: Vec<u8> = body.iter().map(u8::to_ascii_lowercase).collect();
    let start = lower.windows(7).position(|w| w == b"<title>")? + 7;
    let len = lower[start..].windows(8).position(|w| w == b"</title>")?;
    Some(printable_prefix(&body[start..start + len], 100))
}

/// The finding for a TLS problem the server reported in HTTP, if its answer is one.
pub fn http_answer_finding(ev: &UpstreamEvidence) -> Option<Finding> {
    let answer = ev.http_answer.as_ref()?;
    let cause = tls_error_page(answer.status, &answer.body)?;
    let ctx = &ev.context;
    let addr = &ev.address;
    let what = answer.describe();
    match cause {
        PageCause::PlainHttpToTlsPort if !ev.expects_tls => Some(Finding::new(
            Code::UpstreamTlsOnHttpUrl,
            "the upstream speaks TLS but the URL is http://",
            format!(
                "{addr} answered our plain HTTP request with {what}: the port expects TLS"
            ),
            format!("change {} to https://", ctx.url()),
        )),
        // We spoke TLS and something behind the server did not: not ours to fix.
        PageCause::PlainHttpToTlsPort => None,
        _ if !ev.expects_tls => None,
        PageCause::ClientCertRequired => {
            let sent = if ev.client_cert_sent {
                "we presented our client certificate, and the server says none was sent"
            } else {
                "we had no client certificate to send"
            };
            Some(Finding::new(
                Code::UpstreamClientCertRequired,
                "the upstream requires a client certificate (mutual TLS)",
                format!(
                    "{addr} completed the TLS handshake, then answered the request with {what}; {sent}. nginx answers this way when ssl_verify_client is on (it does not fail the handshake)"
                ),
                format!(
                    "configure the client certificate and key the upstream expects: {}",
                    ctx.client_cert()
                ),
            ))
        }
        PageCause::ClientCertRejected => Some(Finding::new(
            Code::UpstreamClientCertRejected,
            "the upstream rejected our client certificate",
            format!(
                "{addr} completed the TLS handshake, then answered the request with {what}: it could not verify the client certificate {}",
                if ev.client_cert_sent { "we presented" } else { "(we sent none)" }
            ),
            format!(
                "check {}: the certificate must be issued by a CA the upstream trusts (nginx: ssl_client_certificate), be valid now, and allow clientAuth",
                ctx.client_cert()
            ),
        )),
    }
}

impl UpstreamEvidence {
    /// Evidence with nothing observed yet.
    pub fn new(
        context: FixContext,
        address: impl Into<String>,
        server_name: impl Into<String>,
    ) -> Self {
        UpstreamEvidence {
            context,
            address: address.into(),
            server_name: server_name.into(),
            expects_tls: true,
            chain: Vec::new(),
            tls_error: None,
            io_error: None,
            first_bytes: Vec::new(),
            trust: Vec::new(),
            publicly_trusted: false,
            now: OffsetDateTime::now_utc(),
            timed_out: false,
            client_cert_sent: false,
            client_cert_requested: None,
            verification_disabled: false,
            http_answer: None,
            hello_answer: None,
        }
    }

    /// The alert the server sent, if the failure was one.
    pub fn alert(&self) -> Option<AlertDescription> {
        match &self.tls_error {
            Some(rustls::Error::AlertReceived(a)) => Some(*a),
            _ => None,
        }
    }

    fn trusted_by_any(&self) -> bool {
        self.trust.iter().any(|v| v.trusted)
    }

    fn stores_text(&self) -> String {
        if self.trust.is_empty() {
            "no trust store".to_string()
        } else {
            self.trust
                .iter()
                .map(|v| v.store.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        }
    }
}

/// Whether the bytes start like a plain HTTP response.
pub fn looks_like_http(bytes: &[u8]) -> bool {
    bytes.starts_with(b"HTTP/")
}

/// Whether the bytes start like a TLS record: handshake (0x16) or alert (0x15), version 3.x.
pub fn looks_like_tls(bytes: &[u8]) -> bool {
    matches!(bytes, [0x15 | 0x16, 0x03, ..])
}

/// A short, printable rendering of bytes a peer sent (ASCII kept, the rest as `\xNN`).
pub fn printable_prefix(bytes: &[u8], max: usize) -> String {
    let mut out = String::new();
    for &b in bytes.iter().take(max) {
        match b {
            b'\r' => out.push_str("\\r"),
            b'\n' => out.push_str("\\n"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

/// Classifies a connection attempt: every finding that applies, most important first. An
/// empty result means nothing is wrong.
pub fn classify_tls_failure(ev: &UpstreamEvidence) -> Vec<Finding> {
    let mut out = Vec::new();
    let ctx = &ev.context;
    let addr = &ev.address;

    // 1. The wrong protocol entirely: nothing else is meaningful then.
    if ev.expects_tls && looks_like_http(&ev.first_bytes) {
        out.push(Finding::new(
            Code::UpstreamPlainHttp,
            "the upstream answers in plain HTTP, not TLS",
            format!(
                "{addr} replied to our TLS ClientHello with plain-text HTTP: \"{}\"",
                printable_prefix(&ev.first_bytes, 40)
            ),
            format!(
                "use an http:// URL for this upstream ({}), or point it at the TLS port",
                ctx.url()
            ),
        ));
        return out;
    }
    if !ev.expects_tls {
        if looks_like_tls(&ev.first_bytes) {
            out.push(Finding::new(
                Code::UpstreamTlsOnHttpUrl,
                "the upstream speaks TLS but the URL is http://",
                format!(
                    "{addr} answered our plain HTTP request with a TLS record (bytes {})",
                    printable_prefix(&ev.first_bytes, 8)
                ),
                format!("change {} to https://", ctx.url()),
            ));
            return out;
        }
        if let Some(f) = http_answer_finding(ev) {
            out.push(f);
            return out;
        }
        if let Some(reply) = ev.hello_answer.as_ref().filter(|r| looks_like_tls(r)) {
            out.push(Finding::new(
                Code::UpstreamTlsOnHttpUrl,
                "the upstream speaks TLS but the URL is http://",
                format!(
                    "{addr} gave no HTTP answer to our plain HTTP request ({}), and answered a TLS ClientHello on a second connection with a TLS record (bytes {}): the port expects TLS (HAProxy closes plain-text connections on its TLS port without a word)",
                    match (ev.io_error.as_deref(), ev.first_bytes.is_empty()) {
                        (Some(e), true) => e.to_string(),
                        (Some(e), false) => format!("{e}; it sent \"{}\"", printable_prefix(&ev.first_bytes, 24)),
                        (None, true) => "it closed the connection".to_string(),
                        (None, false) => format!("it sent \"{}\"", printable_prefix(&ev.first_bytes, 24)),
                    },
                    printable_prefix(reply, 8)
                ),
                format!("change {} to https://", ctx.url()),
            ));
        }
        // A plain-HTTP upstream: TLS on its port is all there is to check.
        return out;
    }
    if ev.expects_tls
        && !ev.first_bytes.is_empty()
        && !(0x14..=0x18).contains(&ev.first_bytes[0])
        && ev.chain.is_empty()
    {
        out.push(Finding::new(
            Code::UpstreamTlsFailed,
            "the upstream does not speak TLS on this port",
            format!(
                "{addr} replied to our ClientHello with bytes that are not TLS: \"{}\"",
                printable_prefix(&ev.first_bytes, 40)
            ),
            format!(
                "check the port in {}: it serves another protocol",
                ctx.url()
            ),
        ));
        return out;
    }

    // 2. The handshake itself: timeouts, versions, ciphers, client certificates.
    if ev.timed_out {
        let what = if ev.first_bytes.is_empty() {
            "the upstream sent nothing after our ClientHello".to_string()
        } else {
            format!(
                "the upstream sent {} byte(s) and then stalled",
                ev.first_bytes.len()
            )
        };
        out.push(Finding::new(
            Code::UpstreamHandshakeTimeout,
            "the TLS handshake with the upstream did not finish in time",
            format!("{addr}: {what}"),
            "check that the upstream speaks TLS on this port (some servers wait for the client to speak plain text first), or raise timeouts.tls_handshake",
        ));
    }
    if let Some(f) = protocol_finding(ev) {
        out.push(f);
    }
    if let Some(f) = client_cert_finding(ev) {
        out.push(f);
    } else if let Some(f) = http_answer_finding(ev) {
        out.push(f);
    } else if let Some(f) = client_cert_requested_warning(ev) {
        out.push(f);
    }

    // 3. The presented chain, checked independently of where rustls stopped.
    if !ev.chain.is_empty() {
        chain_findings(ev, &mut out);
    }

    // 4. Nothing more precise: say what rustls said.
    if !out.iter().any(Finding::is_error) && !ev.verification_disabled {
        if let Some(f) = fallback_finding(ev) {
            out.push(f);
        }
    }

    if ev.verification_disabled {
        out.push(Finding::new(
            Code::UpstreamVerificationDisabled,
            "certificate verification towards the upstream is disabled",
            format!("insecure_skip_verify is on for {addr}: any certificate is accepted, so a man in the middle would go unnoticed"),
            format!("remove insecure_skip_verify and trust the upstream's CA with {}", ctx.ca_bundle()),
        ));
    }
    if ev.context == FixContext::ProbePostgres {
        postgres_fixes(ev, &mut out);
    }
    crate::findings::sort_by_importance(&mut out);
    out
}

/// The server asked for a client certificate, none was configured, and it did not refuse the
/// connection in the handshake, nor in its answer to one request: optional client
/// authentication, or a server that refuses later. A warning, so the operator knows before a
/// request fails (TLS 1.3 servers reject a missing certificate only after the handshake).
fn client_cert_requested_warning(ev: &UpstreamEvidence) -> Option<Finding> {
    if ev.client_cert_requested != Some(true)
        || ev.client_cert_sent
        || ev.tls_error.is_some()
        || ev.io_error.is_some()
        || ev.timed_out
    {
        return None;
    }
    // A configured upstream that answered the test request normally works without one: the
    // startup check stays quiet; `probe` still says so.
    if matches!(ev.context, FixContext::Upstream(_)) && ev.http_answer.is_some() {
        return None;
    }
    let answered = match &ev.http_answer {
        Some(a) => format!("; it answered a test request with {}", a.describe()),
        None => String::new(),
    };
    Some(
        Finding::new(
            Code::UpstreamClientCertRequired,
            "the upstream asks for a client certificate and none is configured",
            format!(
                "{} sent a CertificateRequest in the handshake; we had no certificate to send and the handshake completed{answered}. Servers that require one refuse after the handshake (TLS 1.3: an alert on the first read) or answer requests with an error (nginx: 400); this one did not here, so its client authentication may be optional",
                ev.address
            ),
            format!(
                "if requests to it fail, configure the client certificate and key it expects: {}",
                ev.context.client_cert()
            ),
        )
        .with_severity(Severity::Warning),
    )
}

/// Fixes in PostgreSQL's terms for `probe --starttls postgres`: the server side in
/// postgresql.conf (`ssl_cert_file`, `ssl_key_file`, `ssl_ca_file`), the client side in
/// libpq's (`sslmode=verify-full`, `sslrootcert`, `PGSSLROOTCERT`, `~/.postgresql/root.crt`).
fn postgres_fixes(ev: &UpstreamEvidence, out: &mut [Finding]) {
    let addr = &ev.address;
    let (host, port) = addr.rsplit_once(':').unwrap_or((addr.as_str(), "5432"));
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let export = format!("openssl s_client -starttls postgres -showcerts -connect {addr}");
    let top = chain_top(&ev.chain);
    let root = match top {
        Some(t) if t.is_self_signed() => t.display_name().to_string(),
        Some(t) => t.issuer_display_name().to_string(),
        None => "the server's CA".to_string(),
    };
    let libpq_trust = format!(
        "libpq clients must verify with sslmode=verify-full (`require` encrypts but verifies nothing) and trust the root \"{root}\" with sslrootcert=/path/root.pem (or PGSSLROOTCERT, or ~/.postgresql/root.crt): psql \"host={host} port={port} sslmode=verify-full sslrootcert=/path/root.pem\". Get the root from the server's operator (the chain the server sends, without its root: `{export}`); probe again with --ca /path/root.pem"
    );
    for f in out.iter_mut() {
        f.fix = match f.code {
            Code::UpstreamCertExpired => "on the server, renew the certificate and install it with its key as ssl_cert_file and ssl_key_file in postgresql.conf (the leaf first, then its intermediates), then reload: SELECT pg_reload_conf(); check this machine's clock if it should be valid".to_string(),
            Code::UpstreamCertNotYetValid => "check this machine's clock (NTP); if it is right, the server's ssl_cert_file holds a certificate dated in the future: reissue it and reload (SELECT pg_reload_conf())".to_string(),
            Code::UpstreamUntrustedRoot | Code::UpstreamSelfSigned | Code::UpstreamTlsInspection => libpq_trust.clone(),
            Code::UpstreamChainIncomplete => format!(
                "on the server, put the leaf followed by the intermediate \"{}\" in ssl_cert_file (postgresql.conf), then SELECT pg_reload_conf(); until then libpq clients with sslmode=verify-full need that intermediate in their sslrootcert file",
                top.map(|t| t.issuer_display_name()).unwrap_or("(missing issuer)")
            ),
            Code::UpstreamNameMismatch => {
                let names = ev.chain.first().map(|l| l.sans.join(", ")).unwrap_or_default();
                format!(
                    "libpq with sslmode=verify-full checks host= against the certificate: connect with host= set to a name it covers ({names}) — hostaddr= can keep the IP address — or reissue the server's certificate (ssl_cert_file in postgresql.conf) with \"{}\" in its subjectAltName; --sni NAME probes another name",
                    ev.server_name
                )
            }
            Code::UpstreamClientCertRequired => "the server asks for client certificates (ssl_ca_file in postgresql.conf; clientcert=verify-full or cert authentication in pg_hba.conf): give libpq clients sslcert and sslkey (PGSSLCERT, PGSSLKEY) issued by that CA, and probe with --client-cert FILE --client-key FILE".to_string(),
            Code::UpstreamClientCertRejected => "the client certificate must be issued by the CA in the server's ssl_ca_file (postgresql.conf), be valid now and allow clientAuth; libpq takes it as sslcert and sslkey".to_string(),
            _ => continue,
        };
    }
}

fn protocol_finding(ev: &UpstreamEvidence) -> Option<Finding> {
    use rustls::{Error as E, PeerIncompatible as P};
    let err = ev.tls_error.as_ref()?;
    let addr = &ev.address;
    let legacy = matches!(
        err,
        E::PeerIncompatible(
            P::ServerDoesNotSupportTls12Or13 | P::ServerTlsVersionIsDisabledByOurConfig
        ) | E::AlertReceived(AlertDescription::ProtocolVersion)
    );
    if legacy {
        return Some(Finding::new(
            Code::UpstreamLegacyTls,
            "the upstream supports only TLS versions we do not speak (below TLS 1.2)",
            format!("{addr}: {}", describe_tls_error(err)),
            "upgrade the upstream to TLS 1.2 or 1.3; TLS 1.0/1.1 are deprecated (RFC 8996) and not implemented by rustls",
        ));
    }
    let no_cipher = matches!(err, E::PeerIncompatible(P::NoCipherSuitesInCommon))
        || (matches!(
            err,
            E::AlertReceived(
                AlertDescription::HandshakeFailure | AlertDescription::InsufficientSecurity
            )
        ) && ev.chain.is_empty()
            && ev.client_cert_requested != Some(true));
    if no_cipher {
        return Some(Finding::new(
            Code::UpstreamNoSharedCipher,
            "the upstream and tlsgate share no cipher suite",
            format!(
                "{addr}: {} right after our ClientHello; we offer only TLS 1.2/1.3 AEAD suites (ECDHE with AES-GCM or ChaCha20-Poly1305). Other candidates: the upstream rejects our SNI \"{}\", or needs TLS 1.0/1.1",
                describe_tls_error(err),
                ev.server_name
            ),
            "enable a modern cipher suite on the upstream (ECDHE + AES-GCM or ChaCha20-Poly1305); `tlsgate probe` and `openssl s_client -connect` show what it offers",
        ));
    }
    None
}

fn client_cert_finding(ev: &UpstreamEvidence) -> Option<Finding> {
    use AlertDescription as A;
    let ctx = &ev.context;
    let addr = &ev.address;
    let alert = ev.alert();
    let rejection_alert = matches!(
        alert,
        Some(
            A::BadCertificate
                | A::UnknownCA
                | A::CertificateUnknown
                | A::CertificateExpired
                | A::CertificateRevoked
                | A::UnsupportedCertificate
                | A::AccessDenied
                | A::DecryptError
                | A::HandshakeFailure
        )
    );
    let asked = ev.client_cert_requested == Some(true);
    let required = alert == Some(A::CertificateRequired)
        || (!ev.client_cert_sent && asked && (rejection_alert || ev.io_error.is_some()));
    if required {
        let why = match alert {
            Some(a) => format!("{addr} sent the alert {a:?} after asking for a client certificate, and we have none to send"),
            None => format!("{addr} asked for a client certificate, we sent none, and it closed the connection"),
        };
        return Some(Finding::new(
            Code::UpstreamClientCertRequired,
            "the upstream requires a client certificate (mutual TLS)",
            why,
            format!(
                "configure the client certificate and key the upstream expects: {}",
                ctx.client_cert()
            ),
        ));
    }
    // Alerts about certificates while our chain is fine point at our client certificate.
    let rejected = ev.client_cert_sent
        && ((rejection_alert && alert != Some(A::HandshakeFailure))
            || (asked && alert == Some(A::HandshakeFailure)));
    if rejected {
        return Some(Finding::new(
            Code::UpstreamClientCertRejected,
            "the upstream rejected our client certificate",
            format!(
                "{addr} sent the alert {:?} after we presented our client certificate",
                alert.unwrap_or(A::HandshakeFailure)
            ),
            format!("check {}: the certificate must be issued by a CA the upstream trusts, be valid now, and allow clientAuth", ctx.client_cert()),
        ));
    }
    None
}

fn position(chain: &[CertInfo], i: usize) -> String {
    let c = &chain[i];
    if i == 0 {
        format!("the leaf certificate \"{}\"", c.display_name())
    } else if c.self_issued {
        format!("the root certificate \"{}\"", c.display_name())
    } else {
        format!("intermediate #{i} \"{}\"", c.display_name())
    }
}

/// "3 days", "5 minutes", …
pub fn human_duration(d: time::Duration) -> String {
    let s = d.whole_seconds().unsigned_abs();
    let (n, unit) = if s >= 2 * 86_400 {
        (s / 86_400, "days")
    } else if s >= 2 * 3600 {
        (s / 3600, "hours")
    } else if s >= 120 {
        (s / 60, "minutes")
    } else {
        (s, "seconds")
    };
    format!("{n} {unit}")
}

const CLOCK_SKEW: time::Duration = time::Duration::minutes(15);

fn chain_findings(ev: &UpstreamEvidence, out: &mut Vec<Finding>) {
    let ctx = &ev.context;
    let addr = &ev.address;
    let chain = &ev.chain;
    let leaf = &chain[0];
    let sev = |f: Finding| {
        if ev.verification_disabled {
            f.with_severity(Severity::Warning)
        } else {
            f
        }
    };

    // Validity of each presented certificate (a presented root is not checked by verifiers:
    // the store's copy is what counts).
    for (i, c) in chain.iter().enumerate() {
        if i > 0 && c.self_issued {
            continue;
        }
        if ev.now > c.not_after {
            let ago = ev.now - c.not_after;
            let skew = if ago < CLOCK_SKEW {
                " That is only minutes: if the upstream renewed it, this machine's clock may be ahead."
            } else {
                ""
            };
            out.push(sev(Finding::new(
                Code::UpstreamCertExpired,
                format!("the upstream's certificate expired {} ago", human_duration(ago)),
                format!(
                    "{} presented by {addr} is valid until {}; it is now {} ({} later).{skew}",
                    position(chain, i),
                    format_time(c.not_after),
                    format_time(ev.now),
                    human_duration(ago)
                ),
                "the upstream's operator must renew and deploy its certificate; check this machine's clock if it should be valid",
            )));
        } else if ev.now < c.not_before {
            let ahead = c.not_before - ev.now;
            let skew = if ahead < CLOCK_SKEW {
                " That is only minutes: most likely a clock skew, this machine's clock is behind (or the upstream's CA clock is ahead)."
            } else {
                ""
            };
            out.push(sev(Finding::new(
                Code::UpstreamCertNotYetValid,
                format!("the upstream's certificate is not valid for another {}", human_duration(ahead)),
                format!(
                    "{} presented by {addr} is valid from {}; it is now {}.{skew}",
                    position(chain, i),
                    format_time(c.not_before),
                    format_time(ev.now)
                ),
                "check this machine's clock (NTP); if it is right, the upstream deployed a certificate dated in the future",
            )));
        }
    }

    // The name.
    if !ev.server_name.is_empty() && !name_matches(&ev.server_name, &leaf.sans) {
        let presented = if leaf.sans.is_empty() {
            match &leaf.subject_cn {
                Some(cn) => {
                    format!("no subjectAltName at all (only CN={cn}, which clients ignore)")
                }
                None => "no names at all".to_string(),
            }
        } else {
            leaf.sans.join(", ")
        };
        let ip = ev.server_name.parse::<IpAddr>().is_ok();
        let hint = if ip {
            " An IP address matches only an IP subjectAltName, never a DNS name."
        } else if leaf.sans.iter().any(|s| s.starts_with("*.")) {
            " A wildcard covers exactly one label: *.example.com covers a.example.com, not example.com or a.b.example.com."
        } else {
            ""
        };
        out.push(sev(Finding::new(
            Code::UpstreamNameMismatch,
            format!("the upstream's certificate does not cover \"{}\"", ev.server_name),
            format!(
                "we verify the name \"{}\"; the certificate presented by {addr} is for {presented}.{hint}",
                ev.server_name
            ),
            format!(
                "use a host name the certificate covers, or set {} to one of its names",
                ctx.server_name()
            ),
        )));
    }

    let trusted = ev.trusted_by_any();
    let inspection = inspection_vendor(chain);
    let public_host = well_known_public_host(&ev.server_name);
    let self_signed_leaf = leaf.is_self_signed();

    // TLS inspection: a vendor root, or a non-public root for a well-known public host.
    if let Some(vendor) = &inspection {
        let f = Finding::new(
            Code::UpstreamTlsInspection,
            format!("a TLS-inspection proxy ({vendor}) is re-signing the traffic to the upstream"),
            format!(
                "the chain presented for \"{}\" is issued by \"{}\"{}, a {vendor} TLS-inspection CA: a corporate proxy or security product between this machine and {addr} replaced the certificate",
                ev.server_name,
                chain_top(chain).map(|c| c.issuer_display_name()).unwrap_or("?"),
                if trusted { " (trusted by a consulted store)" } else { "" }
            ),
            inspection_fix(ctx),
        );
        out.push(if trusted {
            f.with_severity(Severity::Warning)
        } else {
            sev(f)
        });
    } else if !trusted && !ev.publicly_trusted && public_host {
        out.push(sev(Finding::new(
            Code::UpstreamTlsInspection,
            "a TLS-inspection proxy seems to re-sign the traffic to the upstream",
            format!(
                "\"{}\" is a public service whose real certificate comes from a public CA, but the chain presented at {addr} ends at \"{}\", which no public trust store has: something between this machine and the upstream replaced the certificate",
                ev.server_name,
                chain_top(chain).map(|c| c.issuer_display_name()).unwrap_or("?")
            ),
            inspection_fix(ctx),
        )));
    }

    if trusted {
        return;
    }
    if self_signed_leaf {
        out.push(sev(Finding::new(
            Code::UpstreamSelfSigned,
            "the upstream presents a self-signed certificate",
            format!(
                "the leaf \"{}\" presented by {addr} is its own issuer and is in none of the consulted trust stores ({})",
                leaf.display_name(),
                ev.stores_text()
            ),
            format!(
                "give the upstream a certificate from a CA, or trust this exact certificate by adding it to {}",
                ctx.ca_bundle()
            ),
        )));
        return;
    }
    let Some(top) = chain_top(chain) else {
        return;
    };
    let top_is_root = top.is_self_signed();
    // Nothing above the leaf was sent (or nothing that issued it).
    let top_is_leaf = std::ptr::eq(top, leaf);
    let issuer_known = ev.trust.iter().any(|v| v.knows_top_issuer);
    let aia = top.aia_ca_issuers.join(", ");
    if top_is_root {
        out.push(sev(untrusted_root(ev, top.display_name(), true)));
    } else if issuer_known {
        let named: Vec<_> = ev
            .trust
            .iter()
            .filter(|v| v.knows_top_issuer)
            .map(|v| v.store.as_str())
            .collect();
        let other_key: Vec<_> = ev
            .trust
            .iter()
            .filter(|v| v.top_issuer_other_key)
            .map(|v| v.store.as_str())
            .collect();
        let mut f = untrusted_root(ev, top.issuer_display_name(), false);
        f.why = if other_key.is_empty() {
            format!(
                "{} A certificate named \"{}\" is in {}, but the chain does not verify to it.",
                f.why,
                top.issuer_display_name(),
                named.join(", ")
            )
        } else {
            format!(
                "{} {} holds a CA named \"{}\" with a different key: its signature on \"{}\" does not verify, so the CA was re-issued or replaced under the same name and the server's chain comes from the other key.",
                f.why,
                other_key.join(", "),
                top.issuer_display_name(),
                top.display_name()
            )
        };
        out.push(sev(f));
    } else if top_is_leaf && !top.aia_ca_issuers.is_empty() {
        // The leaf's issuer is neither sent nor in any store, and the leaf says where it is:
        // a missing intermediate, not an unknown root (roots are never fetched by AIA).
        out.push(sev(Finding::new(
            Code::UpstreamChainIncomplete,
            format!("the upstream does not send the intermediate certificate \"{}\"", top.issuer_display_name()),
            format!(
                "{addr} sent only its leaf \"{}\"{}, issued by \"{}\", which was not sent and is in none of the consulted trust stores ({}). It can be downloaded from the leaf's AIA caIssuers URL: {aia}",
                top.display_name(),
                if chain.len() > 1 { format!(" (and {} unrelated certificate(s))", chain.len() - 1) } else { String::new() },
                top.issuer,
                ev.stores_text()
            ),
            format!(
                "the upstream must serve its full chain (leaf followed by \"{}\", e.g. fullchain.pem); until then, add that intermediate ({aia}) to {}",
                top.issuer_display_name(),
                ctx.ca_bundle()
            ),
        )));
    } else if top_is_leaf {
        let mut f = untrusted_root(ev, top.issuer_display_name(), false);
        f.why = format!(
            "{} The server sent only its leaf and the leaf names no AIA caIssuers URL, so \"{}\" may also be an intermediate the server fails to send (then the server must send it; adding it to {} works meanwhile).",
            f.why,
            top.issuer_display_name(),
            ctx.ca_bundle()
        );
        out.push(sev(f));
    } else {
        // An intermediate was sent; its issuer is unknown: an untrusted root (servers send the
        // chain up to the root, not the root), unless a second intermediate is missing.
        let mut f = untrusted_root(ev, top.issuer_display_name(), false);
        let via = if aia.is_empty() {
            String::new()
        } else {
            format!(" (its AIA caIssuers URL: {aia})")
        };
        f.why = format!(
            "{} The server sent the intermediate \"{}\"; its issuer \"{}\"{via} was not sent: a root no consulted store has, or, if it is another intermediate, one the server must send too.",
            f.why,
            top.display_name(),
            top.issuer_display_name()
        );
        out.push(sev(f));
    }
}

fn untrusted_root(ev: &UpstreamEvidence, root: &str, presented: bool) -> Finding {
    let ctx = &ev.context;
    let public_hint = if has_public_shape(&ev.server_name)
        && !well_known_public_host(&ev.server_name)
    {
        format!(
            " If \"{}\" is a public service, a TLS-inspection proxy may be re-signing the traffic (then add the corporate CA).",
            ev.server_name
        )
    } else {
        String::new()
    };
    Finding::new(
        Code::UpstreamUntrustedRoot,
        format!("the upstream's certificate chain ends at \"{root}\", a CA we do not trust"),
        format!(
            "the chain presented by {} {} \"{root}\", which is in none of the consulted trust stores ({}): a private CA.{public_hint}",
            ev.address,
            if presented { "includes the root" } else { "is issued by" },
            ev.stores_text()
        ),
        format!(
            "add the root CA \"{root}\" (PEM) to {}; ask the upstream's operator for it, or export it with `openssl s_client -showcerts -connect {}`",
            ctx.ca_bundle(),
            ev.address
        ),
    )
}

fn inspection_fix(ctx: &FixContext) -> String {
    format!(
        "add your organisation's inspection CA (PEM) to {}: export it from the OS trust store (macOS: Keychain Access → System Roots → export as .pem; Windows: certmgr.msc → Trusted Root Certification Authorities → export Base-64 .cer; Linux: /usr/local/share/ca-certificates) or ask IT for it; or have IT exempt this host from inspection",
        ctx.ca_bundle()
    )
}

fn fallback_finding(ev: &UpstreamEvidence) -> Option<Finding> {
    let addr = &ev.address;
    if let Some(rustls::Error::AlertReceived(rustls::AlertDescription::NoApplicationProtocol)) =
        &ev.tls_error
    {
        return Some(Finding::new(
            Code::UpstreamTlsFailed,
            "the upstream accepts none of the application protocols we offered (ALPN)",
            format!("{addr}: the upstream sent the alert no_application_protocol to our ALPN offer"),
            match &ev.context {
                FixContext::Upstream(name) => format!(
                    "set upstreams.{name}.http_version to the protocol the upstream speaks (http1 or http2)"
                ),
                FixContext::Probe => "the server speaks neither h2 nor http/1.1 over TLS on this port (for PostgreSQL use --starttls postgres)".to_string(),
                FixContext::ProbePostgres => "the server refuses the ALPN protocol \"postgresql\" that libpq offers: check that this port is PostgreSQL's".to_string(),
            },
        ));
    }
    if let Some(err) = &ev.tls_error {
        let code = match err {
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer) => {
                Code::UpstreamUntrustedRoot
            }
            _ => Code::UpstreamTlsFailed,
        };
        return Some(Finding::new(
            code,
            "the TLS handshake with the upstream failed",
            format!("{addr}: {}", describe_tls_error(err)),
            "run `tlsgate probe` against the upstream for a full diagnosis",
        ));
    }
    if let Some(io) = &ev.io_error {
        return Some(Finding::new(
            Code::UpstreamConnectionReset,
            "the upstream closed the connection during the TLS handshake",
            format!(
                "{addr}: {io}. Candidates: the port does not speak TLS, the upstream rejects our SNI \"{}\" or TLS version, or it requires a client certificate",
                ev.server_name
            ),
            "check that the upstream speaks TLS on this port and accepts this host name; `tlsgate probe` shows more",
        ));
    }
    None
}

/// rustls's error in words; certificate errors are rephrased (rustls says "invalid peer
/// certificate" even for our own).
pub fn describe_tls_error(err: &rustls::Error) -> String {
    match err {
        rustls::Error::AlertReceived(a) => format!("the upstream sent the TLS alert {a:?}"),
        rustls::Error::InvalidCertificate(c) => format!("rustls rejected the certificate: {c:?}"),
        other => other.to_string(),
    }
}

/// The top of the presented chain: follow issuers from the leaf through the presented
/// certificates (in any order) until a self-signed one or one whose issuer was not sent.
pub fn chain_top(chain: &[CertInfo]) -> Option<&CertInfo> {
    let mut current = chain.first()?;
    let mut used = vec![0usize];
    while !current.is_self_signed() {
        let next = chain
            .iter()
            .enumerate()
            .find(|(i, c)| !used.contains(i) && c.issued(current));
        match next {
            Some((i, c)) => {
                used.push(i);
                current = c;
            }
            None => break,
        }
    }
    Some(current)
}

/// Whether `expected` (a DNS name or IP address) is covered by the SANs: exact names, or a
/// wildcard `*.rest` covering exactly one label; IP addresses only by IP SANs.
pub fn name_matches(expected: &str, sans: &[String]) -> bool {
    sans.iter()
        .any(|san| crate::certs::checks::san_covers(san, expected))
}

/// Known TLS-inspection products, matched on whole words of the subject and issuer names.
const INSPECTION_VENDORS: &[(&[&str], &str)] = &[
    (&["zscaler"], "Zscaler"),
    (&["netskope"], "Netskope"),
    (&["palo", "alto"], "Palo Alto Networks"),
    (&["paloaltonetworks"], "Palo Alto Networks"),
    (&["fortinet"], "Fortinet"),
    (&["fortigate"], "Fortinet FortiGate"),
    (&["blue", "coat"], "Blue Coat"),
    (&["bluecoat"], "Blue Coat"),
    (&["proxysg"], "Symantec ProxySG"),
    (&["cisco", "umbrella"], "Cisco Umbrella"),
    (&["opendns"], "Cisco Umbrella"),
    (&["forcepoint"], "Forcepoint"),
    (&["websense"], "Forcepoint"),
    (&["sophos"], "Sophos"),
    (&["check", "point"], "Check Point"),
    (&["checkpoint"], "Check Point"),
    (&["kaspersky"], "Kaspersky"),
    (&["avast"], "Avast"),
    (&["avg"], "AVG"),
    (&["eset"], "ESET"),
    (&["bitdefender"], "Bitdefender"),
    (&["mitmproxy"], "mitmproxy"),
    (&["charles", "proxy"], "Charles Proxy"),
    (&["fiddler"], "Fiddler"),
    (&["do", "not", "trust"], "Fiddler"),
    (&["portswigger"], "Burp Suite"),
    (&["burp"], "Burp Suite"),
    (&["mcafee"], "McAfee"),
    (&["skyhigh"], "Skyhigh Security"),
];

fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

/// The TLS-inspection vendor named by a certificate subject or issuer, if any. Long,
/// distinctive names match anywhere (`FiddlerRoot`); short ones (`ESET`, `AVG`) only as words.
pub fn inspection_vendor_of(name: &str) -> Option<&'static str> {
    let w = words(name);
    let lower = name.to_ascii_lowercase();
    INSPECTION_VENDORS.iter().find_map(|(needle, vendor)| {
        if needle.len() == 1 && needle[0].len() >= 6 && lower.contains(needle[0]) {
            return Some(*vendor);
        }
        let hit = w
            .windows(needle.len())
            .any(|win| win.iter().zip(needle.iter()).all(|(a, b)| a == b));
        hit.then_some(*vendor)
    })
}

fn inspection_vendor(chain: &[CertInfo]) -> Option<String> {
    chain
        .iter()
        .skip(1)
        .map(|c| c.subject.as_str())
        .chain(chain.iter().map(|c| c.issuer.as_str()))
        .find_map(inspection_vendor_of)
        .map(str::to_string)
}

/// Public services that are always served with a publicly trusted certificate.
const WELL_KNOWN_PUBLIC: &[&str] = &[
    "openai.com",
    "anthropic.com",
    "googleapis.com",
    "google.com",
    "azure.com",
    "microsoft.com",
    "windows.net",
    "amazonaws.com",
    "github.com",
    "githubusercontent.com",
    "cloudflare.com",
    "mistral.ai",
    "cohere.ai",
    "cohere.com",
    "groq.com",
    "huggingface.co",
    "together.xyz",
    "deepseek.com",
    "x.ai",
];

fn well_known_public_host(name: &str) -> bool {
    let n = name.trim_end_matches('.').to_ascii_lowercase();
    WELL_KNOWN_PUBLIC
        .iter()
        .any(|d| n == *d || n.ends_with(&format!(".{d}")))
}

/// A DNS name that looks public: dotted, alphabetic TLD, not a private-use suffix.
fn has_public_shape(name: &str) -> bool {
    if name.parse::<IpAddr>().is_ok() {
        return false;
    }
    let n = name.trim_end_matches('.').to_ascii_lowercase();
    let Some((_, tld)) = n.rsplit_once('.') else {
        return false;
    };
    const PRIVATE: &[&str] = &[
        "local",
        "localhost",
        "internal",
        "lan",
        "corp",
        "home",
        "test",
        "example",
        "invalid",
        "intranet",
        "private",
        "arpa",
    ];
    tld.chars().all(|c| c.is_ascii_alphabetic()) && !PRIVATE.contains(&tld)
}

/// Whether the presented chain verifies to an anchor of `store`. Validity dates are ignored
/// here (they are reported separately): the check runs at an instant inside the validity
/// window of the certificates below the root when there is one.
pub fn anchors(store: &TrustStore, chain: &[CertInfo], now: OffsetDateTime) -> bool {
    let Some(leaf) = chain.first() else {
        return false;
    };
    let intermediates: Vec<_> = chain[1..].iter().map(|c| c.der.clone()).collect();
    let at = instant_inside_validity(chain).unwrap_or(now);
    let secs = at.unix_timestamp().max(0) as u64;
    store.verifies(
        &leaf.der,
        &intermediates,
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(secs)),
    )
}

/// An instant inside the validity of every certificate below the root, if one exists.
fn instant_inside_validity(chain: &[CertInfo]) -> Option<OffsetDateTime> {
    let relevant: Vec<&CertInfo> = chain
        .iter()
        .enumerate()
        .filter(|(i, c)| *i == 0 || !c.self_issued)
        .map(|(_, c)| c)
        .collect();
    let start = relevant.iter().map(|c| c.not_before).max()?;
    let end = relevant.iter().map(|c| c.not_after).min()?;
    (start <= end).then(|| start + (end - start) / 2)
}

/// One line per presented certificate, for logs: `subject ← issuer (not_after …)`.
pub fn chain_summary(chain: &[CertInfo]) -> String {
    if chain.is_empty() {
        return "no certificate presented".to_string();
    }
    chain
        .iter()
        .enumerate()
        .map(|(i, c)| {
            format!(
                "#{i} \"{}\" issued by \"{}\" valid {} .. {} sans [{}]",
                c.subject,
                c.issuer,
                format_time(c.not_before),
                format_time(c.not_after),
                c.sans.join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests;
