//! Not TLS, and what the two sides could not agree on: part of the handshake classifier in `mod.rs`.

use super::*;

pub(super) fn not_tls(e: &HandshakeEvidence, s: &Sniffed, code: Code) -> Finding {
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

pub(super) fn incompatible(e: &HandshakeEvidence, i: &Incompatibility) -> Finding {
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
pub(super) fn version_words(v: u16) -> String {
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
pub(super) fn version_too_old(e: &HandshakeEvidence) -> Finding {
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
pub(super) fn unreachable_version(e: &HandshakeEvidence) -> Finding {
    Finding::new(
        Code::ClientTlsVersionTooOld,
        "The client offers no TLS version we accept.",
        evidence(e, "no common version"),
        "Upgrade the client to TLS 1.2 or 1.3.",
    )
}

pub(super) fn unknown_list() -> String {
    "unknown (hello not parsed)".to_string()
}

/// "A, B, C and 12 more" from numeric code points, naming known ones.
pub(super) fn names(values: &[u16], name: impl Fn(u16) -> Option<String>) -> String {
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

pub(super) fn alpn_mismatch(e: &HandshakeEvidence) -> Finding {
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

pub(super) fn no_certificate(e: &HandshakeEvidence) -> Finding {
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

pub(super) fn client_cert(e: &HandshakeEvidence, p: &ClientCertProblem) -> Finding {
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
