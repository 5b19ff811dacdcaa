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

mod negotiation;
mod rejection;

use self::negotiation::*;
pub use self::rejection::*;

// ---------------------------------------------------------------------------------------------
// Shared wording
// ---------------------------------------------------------------------------------------------

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
