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

mod chain;
mod http_pages;
mod inspection;

pub use self::chain::*;
pub use self::http_pages::*;
pub use self::inspection::*;

// ---------------------------------------------------------------------------------------------
// The evidence and the classifier
// ---------------------------------------------------------------------------------------------

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

/// A short, printable rendering of the first `max` bytes a peer sent: the logs' one escaping
/// (`wire::sniff::printable_capped`: printable ASCII kept, the rest as `\xNN`).
pub fn printable_prefix(bytes: &[u8], max: usize) -> String {
    crate::wire::sniff::printable_capped(bytes.get(..max).unwrap_or(bytes), usize::MAX)
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

// ---------------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Trust verdicts
// ---------------------------------------------------------------------------------------------

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
