//! Classification of failed inbound TLS handshakes.
//!
//! A TLS alert from a client narrows the cause but does not decide it: each client stack sends a
//! different alert for the same problem (Go sends bad_certificate for everything, Chrome and Java
//! certificate_unknown, Node.js and curl >= 8.17 nothing at all). So the classifier combines the
//! signal (rustls error, alert, EOF, timeout) with what we know ourselves: the raw ClientHello
//! (SNI, versions, suites) and the startup analysis of the chain we served. When the evidence does
//! not pin a cause, the finding says what is known and lists the candidates, most likely first.
//!
//! Everything here is pure; the listener gathers the evidence.

use std::io;
use std::net::{IpAddr, SocketAddr};

use rustls::AlertDescription;

use crate::findings::{Code, Finding};
use crate::wire::client_hello::{
    version_name, ClientFamily, ClientHelloSummary, ClientTool, FamilyGuess, TLS12,
};
use crate::wire::sniff::Sniffed;

/// Where in the handshake a failure happened; decides what the client had already seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Before a complete ClientHello arrived.
    BeforeClientHello,
    /// After the ClientHello, before our certificate was sent.
    AfterClientHello,
    /// After our certificate flight was sent, before the handshake completed.
    AfterCertificate,
    /// The handshake completed; no request arrived.
    AfterHandshake,
}

/// A rustls `PeerIncompatible` reason, reduced to what changes the diagnosis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incompatibility {
    /// No protocol version in common (rustls reason in the string).
    Version(String),
    /// The hello has no signature_algorithms extension: TLS 1.0/1.1 hellos never carry it.
    NoSignatureAlgorithmsExtension,
    NoSharedCipher,
    NoSharedGroup,
    NoSharedSignatureScheme,
    Other(String),
}

/// Mutual TLS: what was wrong with the client's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientCertProblem {
    Missing,
    UnknownIssuer,
    Expired,
    NotValidYet,
    Other(String),
}

/// The failure signal, as observed by the listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureKind {
    /// The first bytes were not TLS (see `HandshakeEvidence::sniffed`).
    NotTls,
    Incompatible(Incompatibility),
    /// The client sent this alert.
    AlertReceived(AlertDescription),
    /// The client offered ALPN and none of its protocols is ours.
    NoApplicationProtocol,
    /// The certificate resolver found nothing: no SNI or an unknown SNI (decided from the hello).
    NoCertificateResolved,
    ClientCert(ClientCertProblem),
    TimeoutBeforeClientHello,
    TimeoutDuringHandshake,
    /// The peer closed before sending a complete ClientHello (health checks, port scanners).
    EofBeforeClientHello,
    /// The peer closed without an alert right after our certificate flight.
    EofAfterCertificate,
    /// The handshake completed, then the peer closed without sending a request.
    EofAfterHandshakeNoRequest,
    Io(io::ErrorKind, String),
    /// A protocol violation or corrupt message (rustls error text).
    Protocol(String),
}

/// What we negotiated or sent, when our certificate flight went out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServedInfo {
    pub negotiated_version: Option<u16>,
    pub negotiated_alpn: Option<String>,
}

/// The startup analysis of the chain this listener serves (for the SNI in question).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OurChain {
    /// Every sent certificate's issuer is sent or in a trust store we consulted.
    pub complete: bool,
    /// The issuer we fail to send (subject DN), when incomplete.
    pub missing_issuer: Option<String>,
    pub expired: bool,
    pub not_yet_valid: bool,
    /// Subject of the private root the chain ends at, if it is not a public CA.
    pub private_root: Option<String>,
    /// File holding that root (the `ca:` setting), to name in "how to trust it".
    pub private_root_file: Option<String>,
    /// subjectAltNames (DNS and IP) of the served leaf.
    pub names: Vec<String>,
    /// SHA-256 fingerprint of the served leaf.
    pub fingerprint: String,
    /// The leaf's notBefore is within the last 48 hours: a client whose clock is behind sees it
    /// as not yet valid.
    pub issued_recently: bool,
    /// Other findings of our own checks on this chain (weak key, missing AKI, ...): candidates
    /// when a client rejects the certificate without saying why.
    pub local_findings: Vec<Code>,
}

impl OurChain {
    fn time_valid(&self) -> bool {
        !self.expired && !self.not_yet_valid
    }
}

/// What the listener accepts, to show "offered vs ours".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OurTls {
    pub versions: Vec<u16>,
    pub cipher_suites: Vec<u16>,
    pub groups: Vec<u16>,
    pub signature_schemes: Vec<u16>,
    pub alpn: Vec<String>,
    /// Subject of the CA client certificates must chain to (mutual TLS).
    pub client_ca: Option<String>,
}

/// Everything known about one failed inbound handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeEvidence {
    /// The first-bytes classification when they were not TLS.
    pub sniffed: Option<Sniffed>,
    pub hello: Option<ClientHelloSummary>,
    pub failure: FailureKind,
    /// `Some` once our certificate flight was sent.
    pub served: Option<ServedInfo>,
    pub our_chain: OurChain,
    pub ours: OurTls,
    /// Names this listener serves (all certificates).
    pub listener_names: Vec<String>,
    /// The local address the client connected to: what a client without SNI verifies.
    pub reached: Option<SocketAddr>,
    pub elapsed_ms: u64,
}

impl HandshakeEvidence {
    /// Evidence with only a failure; fill the rest in with struct update syntax.
    pub fn new(failure: FailureKind) -> Self {
        HandshakeEvidence {
            sniffed: None,
            hello: None,
            failure,
            served: None,
            our_chain: OurChain::default(),
            ours: OurTls::default(),
            listener_names: Vec::new(),
            reached: None,
            elapsed_ms: 0,
        }
    }

    /// The client family the hello suggests, if any.
    pub fn family(&self) -> Option<FamilyGuess> {
        self.hello
            .as_ref()
            .and_then(ClientHelloSummary::client_family)
    }
}

/// Maps a rustls error from the server side of a handshake to the failure signal.
pub fn from_rustls_error(err: &rustls::Error) -> FailureKind {
    use rustls::{CertificateError as C, Error as E, PeerIncompatible as P};
    match err {
        E::PeerIncompatible(p) => FailureKind::Incompatible(match p {
            P::NoCipherSuitesInCommon => Incompatibility::NoSharedCipher,
            P::NoKxGroupsInCommon => Incompatibility::NoSharedGroup,
            P::NoSignatureSchemesInCommon | P::NoCertificateRequestSignatureSchemesInCommon => {
                Incompatibility::NoSharedSignatureScheme
            }
            P::SignatureAlgorithmsExtensionRequired => {
                Incompatibility::NoSignatureAlgorithmsExtension
            }
            P::Tls12NotOffered
            | P::Tls12NotOfferedOrEnabled
            | P::SupportedVersionsExtensionRequired => Incompatibility::Version(format!("{p:?}")),
            other => Incompatibility::Other(format!("{other:?}")),
        }),
        E::AlertReceived(a) => FailureKind::AlertReceived(*a),
        E::NoApplicationProtocol => FailureKind::NoApplicationProtocol,
        E::NoCertificatesPresented => FailureKind::ClientCert(ClientCertProblem::Missing),
        // On the server side an invalid peer certificate is the client's (mutual TLS).
        E::InvalidCertificate(c) => FailureKind::ClientCert(match c {
            C::UnknownIssuer => ClientCertProblem::UnknownIssuer,
            C::Expired | C::ExpiredContext { .. } => ClientCertProblem::Expired,
            C::NotValidYet | C::NotValidYetContext { .. } => ClientCertProblem::NotValidYet,
            other => ClientCertProblem::Other(other.to_string()),
        }),
        // The message rustls uses when the certificate resolver returns None.
        E::General(s) if s.contains("no server certificate chain resolved") => {
            FailureKind::NoCertificateResolved
        }
        E::InvalidMessage(rustls::InvalidMessage::InvalidContentType) => FailureKind::NotTls,
        other => FailureKind::Protocol(other.to_string()),
    }
}

/// Maps an I/O error from the accept path (tokio-rustls wraps rustls errors in `InvalidData`).
pub fn from_io_error(err: &io::Error, phase: Phase) -> FailureKind {
    if let Some(r) = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        return from_rustls_error(r);
    }
    match (err.kind(), phase) {
        (io::ErrorKind::TimedOut, Phase::BeforeClientHello) => {
            FailureKind::TimeoutBeforeClientHello
        }
        (io::ErrorKind::TimedOut, _) => FailureKind::TimeoutDuringHandshake,
        (io::ErrorKind::UnexpectedEof, Phase::BeforeClientHello) => {
            FailureKind::EofBeforeClientHello
        }
        (io::ErrorKind::UnexpectedEof, Phase::AfterCertificate) => FailureKind::EofAfterCertificate,
        (io::ErrorKind::UnexpectedEof, Phase::AfterHandshake) => {
            FailureKind::EofAfterHandshakeNoRequest
        }
        (kind, _) => FailureKind::Io(kind, err.to_string()),
    }
}

/// The TLS name of an alert ("unknown_ca").
pub fn alert_name(a: AlertDescription) -> String {
    use AlertDescription as A;
    let s = match a {
        A::CloseNotify => "close_notify",
        A::UnexpectedMessage => "unexpected_message",
        A::BadRecordMac => "bad_record_mac",
        A::RecordOverflow => "record_overflow",
        A::HandshakeFailure => "handshake_failure",
        A::BadCertificate => "bad_certificate",
        A::UnsupportedCertificate => "unsupported_certificate",
        A::CertificateRevoked => "certificate_revoked",
        A::CertificateExpired => "certificate_expired",
        A::CertificateUnknown => "certificate_unknown",
        A::IllegalParameter => "illegal_parameter",
        A::UnknownCA => "unknown_ca",
        A::AccessDenied => "access_denied",
        A::DecodeError => "decode_error",
        A::DecryptError => "decrypt_error",
        A::ProtocolVersion => "protocol_version",
        A::InsufficientSecurity => "insufficient_security",
        A::InternalError => "internal_error",
        A::InappropriateFallback => "inappropriate_fallback",
        A::UserCanceled => "user_canceled",
        A::MissingExtension => "missing_extension",
        A::UnsupportedExtension => "unsupported_extension",
        A::UnrecognisedName => "unrecognized_name",
        A::BadCertificateStatusResponse => "bad_certificate_status_response",
        A::CertificateRequired => "certificate_required",
        A::NoApplicationProtocol => "no_application_protocol",
        other => return format!("alert {}", u8::from(other)),
    };
    s.to_string()
}

/// Whether `name` is covered by one of `names` (exact, or a `*.` wildcard for one label).
pub fn name_covered(name: &str, names: &[String]) -> bool {
    names
        .iter()
        .any(|n| crate::certs::checks::san_covers(n, name))
}

/// Turns the evidence into one finding.
pub fn classify(e: &HandshakeEvidence) -> Finding {
    if let Some(s) = &e.sniffed {
        if let Some(code) = s.code() {
            return not_tls(e, s, code);
        }
    }
    match &e.failure {
        FailureKind::NotTls => Finding::new(
            Code::NotTls,
            "The client sent bytes that are not TLS to a TLS port.",
            evidence(e, "rustls saw a record that is not TLS"),
            "Point the client at the right port or make it use TLS (https://).",
        ),
        FailureKind::Incompatible(i) => incompatible(e, i),
        FailureKind::NoApplicationProtocol => alpn_mismatch(e),
        FailureKind::NoCertificateResolved => no_certificate(e),
        FailureKind::ClientCert(p) => client_cert(e, p),
        FailureKind::AlertReceived(a) => alert(e, *a),
        FailureKind::EofAfterCertificate | FailureKind::EofAfterHandshakeNoRequest => {
            closed_after_certificate(e)
        }
        FailureKind::TimeoutBeforeClientHello => Finding::new(
            Code::HandshakeTimeout,
            "The client sent no complete ClientHello within the handshake timeout.",
            evidence(e, "no ClientHello"),
            "Usually a port scanner or a TCP health check. If real clients hit this, check for a \
             middlebox holding the connection, or raise limits.handshake_timeout.",
        ),
        FailureKind::TimeoutDuringHandshake => Finding::new(
            Code::HandshakeTimeout,
            "The TLS handshake did not finish within the handshake timeout.",
            evidence(e, "handshake started but did not finish"),
            "Check the network path to the client (packet loss, MTU problems); raise \
             limits.handshake_timeout for slow links.",
        ),
        FailureKind::EofBeforeClientHello => Finding::new(
            Code::HandshakeIoError,
            "The client closed the connection before sending a ClientHello.",
            evidence(e, "connection closed before any TLS"),
            "Usually a TCP health check or a port scanner; nothing to fix unless real clients \
             report failures.",
        ),
        FailureKind::Io(kind, msg) => Finding::new(
            Code::HandshakeIoError,
            "The connection failed during the TLS handshake.",
            evidence(e, &format!("I/O error ({kind:?}): {msg}")),
            "Usually the client gave up or the network reset the connection; look for a \
             firewall, load balancer or client timeout if it repeats.",
        ),
        FailureKind::Protocol(msg) => Finding::new(
            Code::HandshakeIoError,
            "The client broke the TLS protocol during the handshake.",
            evidence(e, &format!("rustls: {msg}")),
            "Usually a scanner or a broken client; if a real client, update its TLS library.",
        ),
    }
}

fn not_tls(e: &HandshakeEvidence, s: &Sniffed, code: Code) -> Finding {
    let what = s.describe();
    match s {
        Sniffed::PlainHttp { host, .. } => {
            let url = match host {
                Some(h) => format!("https://{h}/"),
                None => "https://<host>:<port>/".to_string(),
            };
            Finding::new(
                code,
                "A plain HTTP request arrived on the TLS port.",
                evidence(e, &format!("received {what}")),
                format!(
                    "Use {url} instead of http://. The client was answered with an HTTP 400 \
                     naming the https:// URL."
                ),
            )
        }
        Sniffed::ProxyProtocol { version } => Finding::new(
            code,
            "A load balancer sent a PROXY protocol header, but this listener does not expect one.",
            evidence(e, &format!("received {what}")),
            format!(
                "Either enable PROXY protocol (v{version}) on this listener, or turn it off on the \
                 load balancer in front of it."
            ),
        ),
        Sniffed::Ssh { .. } => Finding::new(
            code,
            "An SSH client connected to the TLS port.",
            evidence(e, &format!("received {what}")),
            "Point the SSH client at the SSH port.",
        ),
        Sniffed::H2cPreface => Finding::new(
            code,
            "A client spoke cleartext HTTP/2 (h2c) to the TLS port.",
            evidence(e, &format!("received {what}")),
            "Use https:// so HTTP/2 is negotiated over TLS with ALPN.",
        ),
        Sniffed::SslV2Hello => Finding::new(
            code,
            "The client sent an SSLv2-format hello, which no current server accepts.",
            evidence(e, &format!("received {what}")),
            "Upgrade the client (or its TLS library) to one that speaks TLS 1.2 or later; \
             scanners send this too.",
        ),
        _ => Finding::new(
            code,
            "The client sent bytes that are not a TLS handshake.",
            evidence(e, &format!("received {what}")),
            "Point the client at the right port or protocol; scanners send this too.",
        ),
    }
}

fn incompatible(e: &HandshakeEvidence, i: &Incompatibility) -> Finding {
    let hello = e.hello.as_ref();
    let legacy_only = hello.is_some_and(ClientHelloSummary::offers_only_legacy_versions);
    let version_problem = matches!(i, Incompatibility::Version(_))
        || (matches!(i, Incompatibility::NoSignatureAlgorithmsExtension) && hello.is_none());
    if legacy_only || version_problem {
        return version_too_old(e);
    }
    // rustls reports the first mismatch it checks (groups before suites); when the hello shows
    // no suite in common at all, that is the cause the client must fix, whatever came first.
    let no_common_suite = hello.is_some_and(|h| {
        !e.ours.cipher_suites.is_empty()
            && !h
                .cipher_suites
                .iter()
                .any(|c| e.ours.cipher_suites.contains(c))
    });
    let i = if no_common_suite {
        &Incompatibility::NoSharedCipher
    } else {
        i
    };
    match i {
        Incompatibility::NoSharedCipher => {
            let offered = hello.map_or_else(unknown_list, |h| {
                names(&h.cipher_suites, |v| {
                    rustls::CipherSuite::from(v).as_str().map(str::to_string)
                })
            });
            let ours = names(&e.ours.cipher_suites, |v| {
                rustls::CipherSuite::from(v).as_str().map(str::to_string)
            });
            Finding::new(
                Code::NoSharedCipher,
                "The client offers no cipher suite we accept.",
                evidence(e, &format!("client offers {offered}; we accept {ours}")),
                "Upgrade the client's TLS library or enable modern suites (AES-GCM, ChaCha20) in \
                 it. For TLS 1.2 the suite must also match our key type (ECDSA vs RSA).",
            )
        }
        Incompatibility::NoSharedGroup => {
            let offered = hello.map_or_else(unknown_list, |h| {
                names(&h.groups, |v| {
                    rustls::NamedGroup::from(v).as_str().map(str::to_string)
                })
            });
            let ours = names(&e.ours.groups, |v| {
                rustls::NamedGroup::from(v).as_str().map(str::to_string)
            });
            Finding::new(
                Code::NoSharedGroup,
                "The client offers no key-exchange group we accept.",
                evidence(e, &format!("client offers {offered}; we accept {ours}")),
                "Enable X25519 or P-256 in the client; both are supported by every current TLS \
                 library.",
            )
        }
        Incompatibility::NoSharedSignatureScheme
        | Incompatibility::NoSignatureAlgorithmsExtension => {
            let offered = match hello {
                Some(h) if h.signature_schemes.is_empty() => {
                    "no signature_algorithms extension".to_string()
                }
                Some(h) => names(&h.signature_schemes, |v| {
                    rustls::SignatureScheme::from(v)
                        .as_str()
                        .map(str::to_string)
                }),
                None => unknown_list(),
            };
            let ours = names(&e.ours.signature_schemes, |v| {
                rustls::SignatureScheme::from(v)
                    .as_str()
                    .map(str::to_string)
            });
            Finding::new(
                Code::NoSharedSignatureScheme,
                "The client accepts no signature scheme our certificate's key can produce.",
                evidence(
                    e,
                    &format!("client offers {offered}; our key can sign with {ours}"),
                ),
                "Serve a certificate whose key type the client supports (ECDSA P-256 or RSA), or \
                 upgrade the client.",
            )
        }
        Incompatibility::Version(_) => unreachable_version(e),
        Incompatibility::Other(reason) => Finding::new(
            Code::HandshakeIoError,
            "The client's hello is incompatible with this server.",
            evidence(e, &format!("rustls: peer is incompatible: {reason}")),
            "Upgrade the client's TLS library.",
        ),
    }
}

/// "TLS 1.2" for a version number.
fn version_words(v: u16) -> String {
    match v {
        0x0300 => "SSL 3.0".to_string(),
        0x0301..=0x0304 => format!("TLS 1.{}", v - 0x0301),
        other => format!("version 0x{other:04x}"),
    }
}

/// The client's highest version is below what this listener accepts. A client that offers up to
/// TLS 1.2 against `min_version: tls1.3` is a modern client capped (or configured) below our
/// minimum: the operator's lever is `min_version`, the client's is its own cap. Below TLS 1.2
/// only the client can change: rustls implements neither TLS 1.0 nor 1.1.
fn version_too_old(e: &HandshakeEvidence) -> Finding {
    let hello = e.hello.as_ref();
    let offered = hello.map_or_else(
        || "unknown (hello not parsed)".to_string(),
        |h| h.version_names().join(", "),
    );
    let ours = names(&e.ours.versions, |v| version_name(v).map(str::to_string));
    let why = evidence(
        e,
        &format!("client offers {offered}; this listener accepts {ours}"),
    );
    let max = hello.map(ClientHelloSummary::max_version);
    let min = e.ours.versions.iter().copied().min();
    match (max, min) {
        (Some(max), Some(min)) if max >= TLS12 && max < min => {
            let family = e.family().map(|g| g.family);
            Finding::new(
                Code::ClientTlsVersionTooOld,
                format!(
                    "The client offers up to {}, this listener requires {} (min_version: tls1.{}).",
                    version_words(max),
                    version_words(min),
                    min - 0x0301
                ),
                why,
                format!(
                    "Either allow {} on this listener (min_version: tls1.{} in its tls settings), \
                     or make the client offer {}: {}.",
                    version_words(max),
                    max - 0x0301,
                    version_words(min),
                    crate::diagnose::trust::enable_tls13(family)
                ),
            )
        }
        (Some(max), min) if max < TLS12 => Finding::new(
            Code::ClientTlsVersionTooOld,
            format!(
                "The client offers up to {}, this listener requires {} or later.",
                version_words(max),
                version_words(min.unwrap_or(TLS12))
            ),
            why,
            "Upgrade the client or its TLS library to one that speaks TLS 1.2 or 1.3. TLS 1.0 and \
             1.1 are deprecated (RFC 8996) and rustls does not implement them, so min_version \
             cannot go lower.",
        ),
        _ => Finding::new(
            Code::ClientTlsVersionTooOld,
            "The client offers no TLS version this listener accepts.",
            why,
            "Upgrade the client to TLS 1.2 or 1.3, or check min_version in this listener's tls \
             settings.",
        ),
    }
}

// Version problems return early in `incompatible`; kept as a function so the match stays total
// without a panic.
fn unreachable_version(e: &HandshakeEvidence) -> Finding {
    Finding::new(
        Code::ClientTlsVersionTooOld,
        "The client offers no TLS version we accept.",
        evidence(e, "no common version"),
        "Upgrade the client to TLS 1.2 or 1.3.",
    )
}

fn unknown_list() -> String {
    "unknown (hello not parsed)".to_string()
}

/// "A, B, C and 12 more" from numeric code points, naming known ones.
fn names(values: &[u16], name: impl Fn(u16) -> Option<String>) -> String {
    const SHOWN: usize = 12;
    if values.is_empty() {
        return "none".to_string();
    }
    let mut parts: Vec<String> = values
        .iter()
        .take(SHOWN)
        .map(|&v| name(v).unwrap_or_else(|| format!("0x{v:04x}")))
        .collect();
    if values.len() > SHOWN {
        parts.push(format!("and {} more", values.len() - SHOWN));
    }
    parts.join(", ")
}

fn alpn_mismatch(e: &HandshakeEvidence) -> Finding {
    let offered = e
        .hello
        .as_ref()
        .map_or_else(unknown_list, |h| h.alpn.join(", "));
    let ours = if e.ours.alpn.is_empty() {
        "none".to_string()
    } else {
        e.ours.alpn.join(", ")
    };
    Finding::new(
        Code::AlpnMismatch,
        "The client and this listener share no application protocol (ALPN).",
        evidence(e, &format!("client offers {offered}; we offer {ours}")),
        "Make the client offer h2 or http/1.1, or enable the protocol it needs on this listener.",
    )
}

fn no_certificate(e: &HandshakeEvidence) -> Finding {
    let served = list_or_none(&e.listener_names);
    match e
        .hello
        .as_ref()
        .and_then(|h| h.sni.as_deref().map(|s| (s, h.sni_is_ip)))
    {
        Some((sni, false)) => Finding::new(
            Code::UnknownSni,
            format!("The client asked for '{sni}', a name this listener does not serve."),
            evidence(e, &format!("SNI '{sni}'; this listener serves {served}")),
            format!(
                "Add a certificate covering '{sni}' to this listener, set default_certificate, or \
                 fix DNS if '{sni}' should not point here."
            ),
        ),
        ip => {
            let why = match ip {
                Some((ip, _)) => format!(
                    "the SNI is the IP literal '{ip}', which TLS treats as no SNI; this listener \
                     serves {served}"
                ),
                None => format!("no SNI; this listener serves {served}"),
            };
            Finding::new(
                Code::NoSni,
                "The client sent no server name (SNI) and this listener has no default certificate.",
                evidence(e, &why),
                "Set default_certificate on the listener, or make clients connect by host name \
                 (clients using an IP address, old clients and load-balancer health checks send \
                 no SNI).",
            )
        }
    }
}

fn client_cert(e: &HandshakeEvidence, p: &ClientCertProblem) -> Finding {
    let ca = e.ours.client_ca.as_deref().map_or_else(
        || "the configured client CA".to_string(),
        |c| format!("'{c}'"),
    );
    match p {
        ClientCertProblem::Missing => Finding::new(
            Code::ClientCertMissing,
            "Mutual TLS: the client sent no certificate.",
            evidence(e, &format!("client certificates must be issued by {ca}")),
            "Configure the client with its certificate and key (curl --cert/--key, requests \
             cert=(...), Node key/cert options).",
        ),
        ClientCertProblem::UnknownIssuer => Finding::new(
            Code::ClientCertUntrusted,
            "Mutual TLS: the client's certificate is not issued by our client CA.",
            evidence(e, &format!("client certificates must be issued by {ca}")),
            "Give the client a certificate issued by the configured client CA, or add its issuer \
             to the listener's client CA bundle. Also make sure the client sends its intermediate.",
        ),
        ClientCertProblem::Expired | ClientCertProblem::NotValidYet => {
            let when = if *p == ClientCertProblem::Expired {
                "has expired"
            } else {
                "is not valid yet"
            };
            Finding::new(
                Code::ClientCertExpired,
                format!("Mutual TLS: the client's certificate {when}."),
                evidence(e, &format!("the client certificate {when} by our clock")),
                "Renew the client certificate; if it should be valid, check both clocks.",
            )
        }
        ClientCertProblem::Other(why) => Finding::new(
            Code::ClientCertInvalid,
            "Mutual TLS: the client's certificate is invalid.",
            evidence(e, &format!("rustls: {why}")),
            "Issue the client a certificate with the clientAuth extended key usage, a supported \
             key and signature, from the configured client CA.",
        ),
    }
}

/// The SNI the client asked for, when our served certificate does not cover it.
fn name_mismatch(e: &HandshakeEvidence) -> Option<&str> {
    let sni = e.hello.as_ref()?.sni.as_deref()?;
    if e.our_chain.names.is_empty() || name_covered(sni, &e.our_chain.names) {
        None
    } else {
        Some(sni)
    }
}

fn name_mismatch_finding(e: &HandshakeEvidence, sni: &str, signal: &str) -> Finding {
    Finding::new(
        Code::ClientRejectedNameMismatch,
        format!("The client asked for '{sni}' but our certificate does not cover that name."),
        evidence(
            e,
            &format!(
                "{signal}; SNI '{sni}'; served certificate covers {}",
                list_or_none(&e.our_chain.names)
            ),
        ),
        format!(
            "Add '{sni}' to the certificate's subjectAltNames (or serve a certificate that has it), \
             or make the client use one of the names above."
        ),
    )
}

/// How to make a client trust our private root, in the terms of the client family the hello
/// points at (every family, most likely first, when it does not pin one).
fn trust_advice(e: &HandshakeEvidence) -> String {
    let file = e
        .our_chain
        .private_root_file
        .as_deref()
        .unwrap_or("ROOT.pem");
    crate::diagnose::trust::trust_advice(e.family().as_ref(), file)
}

/// The address a client without SNI reached when our served leaf has no IP SAN for it. Clients
/// send no SNI for an IP literal, so such a client connected by IP address and verifies that
/// address. `None` when the client sent a host name, or the leaf covers the address.
fn ip_not_covered(e: &HandshakeEvidence) -> Option<SocketAddr> {
    let h = e.hello.as_ref()?;
    if h.server_name().is_some() || e.our_chain.names.is_empty() {
        return None;
    }
    let reached = e.reached?;
    // An IP literal sent as SNI (against RFC 6066) is what that client verifies.
    let ip = match (&h.sni, h.sni_is_ip) {
        (Some(s), true) => s.parse::<IpAddr>().ok()?,
        _ => reached.ip(),
    }
    .to_canonical();
    let covered = e
        .our_chain
        .names
        .iter()
        .filter_map(|n| n.parse::<IpAddr>().ok())
        .any(|san| san.to_canonical() == ip);
    (!covered).then(|| SocketAddr::new(ip, reached.port()))
}

/// Families that reject a certificate with an alert, never by closing silently: a silent close
/// from them is no evidence about the name (the OpenSSL command-line tools, Python, BoringSSL,
/// Go and rustls all send bad_certificate or similar).
fn always_alerts(g: &FamilyGuess) -> bool {
    matches!(
        g.family,
        ClientFamily::Python | ClientFamily::Chromium | ClientFamily::Go | ClientFamily::Rustls
    ) || g.tool == Some(ClientTool::OpenSslCli)
}

fn ip_mismatch_finding(e: &HandshakeEvidence, addr: SocketAddr, signal: &str) -> Finding {
    let ip = addr.ip();
    let port = addr.port();
    let host = |ip: IpAddr| match ip {
        IpAddr::V6(v6) => format!("[{v6}]"),
        IpAddr::V4(v4) => v4.to_string(),
    };
    let dns: Vec<&String> = e
        .our_chain
        .names
        .iter()
        .filter(|n| n.parse::<IpAddr>().is_err())
        .collect();
    let by_name = match dns.first() {
        Some(name) => format!(
            "connect by a name the certificate covers, e.g. https://{}:{port}/ instead of https://{}:{port}/",
            name.trim_start_matches("*."),
            host(ip)
        ),
        None => "connect by a name the certificate covers (it has none: add one)".to_string(),
    };
    let also = chain_problems(e);
    let also = if also.is_empty() {
        String::new()
    } else {
        format!("; other problems of our chain: {}", numbered(&also))
    };
    let noise = if matches!(e.failure, FailureKind::AlertReceived(_)) {
        ""
    } else {
        "; if this is a health check that does not verify certificates, it is noise"
    };
    Finding::new(
        Code::ClientRejectedNameMismatch,
        format!(
            "The client connected by IP address {ip}, which our certificate does not cover (it has no IP SAN {ip})."
        ),
        evidence(
            e,
            &format!(
                "{signal}; the client sent no server name (clients send none for an IP address) \
                 and reached {addr}, so it verifies {ip}, which the served certificate does not \
                 cover: it covers {}{also}{noise}",
                list_or_none(&e.our_chain.names)
            ),
        ),
        format!(
            "Either add IP:{ip} to the certificate's subjectAltName (`tlsgate certs init --name {ip}` \
             for the dev CA; with openssl: -addext \"subjectAltName=DNS:…,IP:{ip}\"), or {by_name}."
        ),
    )
}

/// Whether a finding of our own checks can make a client reject the certificate. Those the
/// chain flags already carry (incomplete, expired, not yet valid, private root) are left out,
/// and so are those no client checks (key file permissions, expiring soon, the root sent,
/// validity over 398 days for a private CA).
pub fn can_cause_rejection(code: Code) -> bool {
    matches!(
        code,
        Code::ChainLeafNotFirst
            | Code::ChainOutOfOrder
            | Code::NameNotCovered
            | Code::CertCnOnly
            | Code::LeafIsCa
            | Code::EkuMissingServerAuth
            | Code::WeakRsaKey
            | Code::WeakSignature
            | Code::MissingAki
            | Code::SelfSignedLeaf
            | Code::KeyMismatch
    )
}

/// Our own findings that could explain a rejection.
fn local_causes(c: &OurChain) -> impl Iterator<Item = Code> + '_ {
    c.local_findings
        .iter()
        .copied()
        .filter(|code| can_cause_rejection(*code))
}

/// What is wrong with our chain (not counting a private root, which is only a problem for a
/// client not told to trust it), most likely cause of a rejection first.
fn chain_problems(e: &HandshakeEvidence) -> Vec<String> {
    let mut out = chain_candidates(e);
    if e.our_chain.private_root.is_some() {
        out.retain(|c| !c.starts_with(PRIVATE_ROOT_CANDIDATE));
    }
    out
}

const PRIVATE_ROOT_CANDIDATE: &str = "our chain ends at the private CA";

/// Known problems of our chain, most likely cause of a rejection first.
fn chain_candidates(e: &HandshakeEvidence) -> Vec<String> {
    let c = &e.our_chain;
    let mut out = Vec::new();
    if !c.complete {
        out.push(format!(
            "our chain is incomplete: we do not send the intermediate '{}'",
            c.missing_issuer.as_deref().unwrap_or("(unknown issuer)")
        ));
    }
    if c.expired {
        out.push("a certificate of our chain has expired".to_string());
    }
    if c.not_yet_valid {
        out.push("a certificate of our chain is not valid yet".to_string());
    }
    if let Some(root) = &c.private_root {
        out.push(format!(
            "{PRIVATE_ROOT_CANDIDATE} '{root}', which the client must be told to trust"
        ));
    }
    for code in local_causes(c) {
        out.push(format!("our own check found {code}: {}", code.meaning()));
    }
    out
}

fn numbered(cands: &[String]) -> String {
    cands
        .iter()
        .enumerate()
        .map(|(i, c)| format!("({}) {c}", i + 1))
        .collect::<Vec<_>>()
        .join("; ")
}

fn is_cert_rejection(a: AlertDescription) -> bool {
    use AlertDescription as A;
    matches!(
        a,
        A::BadCertificate
            | A::UnsupportedCertificate
            | A::CertificateRevoked
            | A::CertificateExpired
            | A::CertificateUnknown
            | A::UnknownCA
            | A::AccessDenied
            | A::DecryptError
    )
}

fn alert(e: &HandshakeEvidence, a: AlertDescription) -> Finding {
    use AlertDescription as A;
    let name = alert_name(a);
    let signal = format!("client sent alert {name}");
    let c = &e.our_chain;
    let served = e.served.is_some();

    // A polite close or a generic abort after our certificate is a silent rejection.
    if served && matches!(a, A::CloseNotify | A::UserCanceled) {
        return closed_after_certificate(e);
    }
    let rejection = is_cert_rejection(a) || (served && a == A::HandshakeFailure);
    if !rejection {
        return client_alert(e, &name);
    }
    if let Some(sni) = name_mismatch(e) {
        return name_mismatch_finding(e, sni, &signal);
    }
    // No SNI and the address reached is not covered: the client checks an IP address our
    // certificate does not have. Alerts that name another cause (an unknown CA, an expired
    // certificate) are taken at their word: those clients check the chain first.
    if !matches!(a, A::UnknownCA | A::CertificateExpired) {
        if let Some(addr) = ip_not_covered(e) {
            return ip_mismatch_finding(e, addr, &signal);
        }
    }

    match a {
        A::UnknownCA | A::BadCertificate | A::CertificateUnknown if !c.complete => {
            incomplete_chain(e, &signal)
        }
        A::CertificateExpired | A::BadCertificate | A::CertificateUnknown if !c.time_valid() => {
            expired(e, &signal)
        }
        A::CertificateExpired => clock_wrong(e, &signal),
        A::UnknownCA => untrusted_ca(e, &signal),
        A::BadCertificate | A::CertificateUnknown => vague_rejection(e, a, &signal),
        _ => {
            let mut cands = match a {
                A::UnsupportedCertificate => vec![
                    "our leaf's extendedKeyUsage lacks serverAuth".to_string(),
                    "a weak key or signature algorithm in our chain (Java reports this)"
                        .to_string(),
                ],
                A::DecryptError => vec![
                    "the client cannot verify a signature in our chain (SHA-1 or an algorithm it \
                     does not support)"
                        .to_string(),
                    "our key does not match our certificate".to_string(),
                ],
                A::CertificateRevoked => {
                    vec![
                        "the client says our certificate is revoked (check with the CA)"
                            .to_string(),
                    ]
                }
                _ => Vec::new(),
            };
            cands.extend(chain_candidates(e));
            cands.push(
                "the client's own policy (pinning, a corporate TLS-inspection proxy)".to_string(),
            );
            rejected_certificate(e, &signal, &cands)
        }
    }
}

fn client_alert(e: &HandshakeEvidence, name: &str) -> Finding {
    let when = if e.served.is_some() {
        "after our certificate"
    } else {
        "before our certificate, so it is not about the certificate"
    };
    Finding::new(
        Code::ClientAlert,
        format!("The client aborted the handshake with the alert {name}."),
        evidence(e, &format!("client sent alert {name} {when}")),
        "Look at the client's own error message for the reason; if it repeats for many clients, \
         compare their TLS settings with this listener's.",
    )
}

fn incomplete_chain(e: &HandshakeEvidence, signal: &str) -> Finding {
    let missing = e
        .our_chain
        .missing_issuer
        .as_deref()
        .unwrap_or("(issuer of our last certificate)");
    Finding::new(
        Code::ClientRejectedIncompleteChain,
        format!(
            "The client rejected our certificate; we do not send the intermediate '{missing}'."
        ),
        evidence(
            e,
            &format!("{signal}; our chain is incomplete: missing '{missing}'"),
        ),
        format!(
            "Append the intermediate '{missing}' to the certificate file (serve the full chain), \
             or — if it is your private root — set `ca:` on this certificate and make clients \
             trust it."
        ),
    )
}

fn expired(e: &HandshakeEvidence, signal: &str) -> Finding {
    let what = if e.our_chain.expired {
        "has expired"
    } else {
        "is not valid yet"
    };
    Finding::new(
        Code::ClientRejectedExpiredCert,
        format!("The client rejected our certificate, and a certificate of our chain {what}."),
        evidence(e, &format!("{signal}; our chain {what} by our own clock")),
        "Renew the certificate (or the intermediate) and reload; check the server clock if it \
         should be valid.",
    )
}

fn clock_wrong(e: &HandshakeEvidence, signal: &str) -> Finding {
    let direction = if e.our_chain.issued_recently {
        "probably behind: our certificate became valid less than 48 hours ago"
    } else {
        "wrong (behind or ahead)"
    };
    Finding::new(
        Code::ClientClockWrong,
        "The client says our certificate is not valid now, but our whole chain is valid: the \
         client's clock is wrong.",
        evidence(
            e,
            &format!(
                "{signal}; our chain is valid by our clock; the client's clock is {direction}"
            ),
        ),
        "Fix the client's clock (enable NTP). Devices without a battery-backed clock often start \
         in 1970.",
    )
}

fn untrusted_ca(e: &HandshakeEvidence, signal: &str) -> Finding {
    match &e.our_chain.private_root {
        Some(root) => Finding::new(
            Code::ClientRejectedUntrustedCa,
            format!("The client does not trust our private CA '{root}'."),
            evidence(
                e,
                &format!("{signal}; our chain is complete and ends at private root '{root}'"),
            ),
            trust_advice(e),
        ),
        None => Finding::new(
            Code::ClientRejectedUntrustedCa,
            "The client does not trust the CA of our (complete) chain.",
            evidence(
                e,
                &format!("{signal}; our chain is complete and ends at a public root"),
            ),
            "Update the client's CA bundle (ca-certificates, certifi); if the client is behind a \
             TLS-inspecting proxy, it needs that proxy's CA.",
        ),
    }
}

/// bad_certificate / certificate_unknown with a complete chain valid by our clock.
fn vague_rejection(e: &HandshakeEvidence, a: AlertDescription, signal: &str) -> Finding {
    let c = &e.our_chain;
    let sni_known = e.hello.as_ref().is_some_and(|h| h.sni.is_some());
    let bad_cert = a == AlertDescription::BadCertificate;
    // A private root with no other known problem: an untrusted CA is the one cause we know of
    // (Go sends bad_certificate, Chrome and Java certificate_unknown, for it).
    let no_local_causes = local_causes(c).next().is_none();
    if c.private_root.is_some() && no_local_causes && !(bad_cert && c.issued_recently) {
        return untrusted_ca(e, signal);
    }
    // bad_certificate with everything we can check in order (name covered, public chain valid,
    // no local findings): OpenSSL and Java send it for a certificate not yet valid, i.e. a client
    // clock behind ours. Go sends it for every failure, so this is stated as most likely only.
    if bad_cert && sni_known && c.private_root.is_none() && no_local_causes {
        return clock_wrong(e, signal);
    }
    let mut cands = Vec::new();
    if bad_cert && c.issued_recently {
        cands.push(
            "the client's clock is behind: our certificate became valid less than 48 hours ago"
                .to_string(),
        );
    }
    cands.extend(chain_candidates(e));
    if !sni_known {
        cands.push(
            "the client sent no SNI (it connected by IP address?) and our certificate may not \
             cover the name or IP it verifies"
                .to_string(),
        );
    }
    if bad_cert && !c.issued_recently {
        cands.push("the client's clock is wrong".to_string());
    }
    cands.push(
        "the client's trust store lacks our CA (outdated bundle, or a TLS-inspecting proxy)"
            .to_string(),
    );
    rejected_certificate(e, signal, &cands)
}

fn rejected_certificate(e: &HandshakeEvidence, signal: &str, cands: &[String]) -> Finding {
    Finding::new(
        Code::ClientRejectedCertificate,
        "The client rejected our certificate without saying why; candidates are listed, most \
         likely first.",
        evidence(e, &format!("{signal}; candidates: {}", numbered(cands))),
        "Check the client's own error message to tell the candidates apart; `tlsgate check` shows \
         our chain's findings.",
    )
}

fn closed_after_certificate(e: &HandshakeEvidence) -> Finding {
    let signal = match e.failure {
        FailureKind::EofAfterHandshakeNoRequest => {
            "handshake completed, then the client closed without sending a request"
        }
        FailureKind::AlertReceived(AlertDescription::CloseNotify) => {
            "client sent close_notify right after our certificate"
        }
        FailureKind::AlertReceived(AlertDescription::UserCanceled) => {
            "client sent user_canceled right after our certificate"
        }
        _ => "client closed without an alert right after our certificate",
    };
    if let Some(sni) = name_mismatch(e) {
        return name_mismatch_finding(e, sni, signal);
    }
    if !e.family().is_some_and(|g| always_alerts(&g)) {
        if let Some(addr) = ip_not_covered(e) {
            return ip_mismatch_finding(e, addr, signal);
        }
    }
    let c = &e.our_chain;
    let mut cands = chain_candidates(e);
    cands.push(
        "not a rejection at all: browser preconnects and health checks also close unused \
         connections"
            .to_string(),
    );
    const SILENT: &str = "Node.js, Java and curl reject certificates this way, without an alert";
    let (summary, fix) = if c.expired || c.not_yet_valid {
        let what = if c.expired {
            "has expired"
        } else {
            "is not valid yet"
        };
        (
            format!(
                "The client closed the connection right after our certificate, sending nothing, \
                 and a certificate of our chain {what}: every client that verifies rejects it \
                 ({SILENT})."
            ),
            "Renew the certificate (or the intermediate) and reload; check the server clock if it \
             should be valid."
                .to_string(),
        )
    } else if !c.complete {
        let missing = c
            .missing_issuer
            .as_deref()
            .unwrap_or("(issuer of our last certificate)");
        (
            format!(
                "The client closed the connection right after our certificate, sending nothing, \
                 and we do not send the intermediate '{missing}' ({SILENT})."
            ),
            format!(
                "Append the intermediate '{missing}' to the certificate file (serve the full \
                 chain), or — if it is your private root — set `ca:` on this certificate."
            ),
        )
    } else if c.private_root.is_some() {
        (
            format!(
                "The client closed the connection right after our certificate, sending nothing \
                 ({SILENT}); candidates are listed, most likely first."
            ),
            format!("If clients report certificate errors: {}", trust_advice(e)),
        )
    } else {
        (
            format!(
                "The client closed the connection right after our certificate, sending nothing \
                 ({SILENT}); candidates are listed, most likely first."
            ),
            "If clients report certificate errors, check the candidates listed (the client's own \
             error message tells them apart); otherwise this is noise."
                .to_string(),
        )
    };
    Finding::new(
        Code::ClientClosedAfterCertificate,
        summary,
        evidence(e, &format!("{signal}; candidates: {}", numbered(&cands))),
        fix,
    )
}

fn list_or_none(v: &[String]) -> String {
    if v.is_empty() {
        "no names".to_string()
    } else {
        v.join(", ")
    }
}

/// The specific evidence followed by what we know of the client and what we served.
fn evidence(e: &HandshakeEvidence, specific: &str) -> String {
    let mut parts = vec![specific.to_string()];
    if let Some(h) = &e.hello {
        match (&h.sni, h.sni_is_ip) {
            (Some(s), true) => parts.push(format!("SNI is the IP literal '{s}'")),
            (Some(s), false) => parts.push(format!("SNI '{s}'")),
            (None, _) => parts.push("no SNI".to_string()),
        }
        parts.push(format!("client offers {}", h.version_names().join("/")));
        if !h.alpn.is_empty() {
            parts.push(format!("ALPN {}", h.alpn.join(",")));
        }
        match h.client_family() {
            Some(g) => parts.push(format!("the hello looks like {}", g.describe())),
            None => parts.push("the hello matches no known client family".to_string()),
        }
    }
    if e.served.is_some() && !e.our_chain.fingerprint.is_empty() {
        parts.push(format!("served certificate {}", e.our_chain.fingerprint));
    }
    parts.push(format!("after {} ms", e.elapsed_ms));
    parts.join("; ")
}

#[cfg(test)]
mod tests;
