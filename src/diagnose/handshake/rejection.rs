//! Client rejections: names, trust, alerts, silent closes: part of the handshake classifier in `mod.rs`.

use super::*;

/// The SNI the client asked for, when our served certificate does not cover it.
pub(super) fn name_mismatch(e: &HandshakeEvidence) -> Option<&str> {
    let sni = e.hello.as_ref()?.sni.as_deref()?;
    if e.our_chain.names.is_empty() || name_covered(sni, &e.our_chain.names) {
        None
    } else {
        Some(sni)
    }
}

pub(super) fn name_mismatch_finding(e: &HandshakeEvidence, sni: &str, signal: &str) -> Finding {
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
pub(super) fn trust_advice(e: &HandshakeEvidence) -> String {
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
pub(super) fn ip_not_covered(e: &HandshakeEvidence) -> Option<SocketAddr> {
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
pub(super) fn always_alerts(g: &FamilyGuess) -> bool {
    matches!(
        g.family,
        ClientFamily::Python | ClientFamily::Chromium | ClientFamily::Go | ClientFamily::Rustls
    ) || g.tool == Some(ClientTool::OpenSslCli)
}

pub(super) fn ip_mismatch_finding(
    e: &HandshakeEvidence,
    addr: SocketAddr,
    signal: &str,
) -> Finding {
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
pub(super) fn local_causes(c: &OurChain) -> impl Iterator<Item = Code> + '_ {
    c.local_findings
        .iter()
        .copied()
        .filter(|code| can_cause_rejection(*code))
}

/// What is wrong with our chain (not counting a private root, which is only a problem for a
/// client not told to trust it), most likely cause of a rejection first.
pub(super) fn chain_problems(e: &HandshakeEvidence) -> Vec<String> {
    let mut out = chain_candidates(e);
    if e.our_chain.private_root.is_some() {
        out.retain(|c| !c.starts_with(PRIVATE_ROOT_CANDIDATE));
    }
    out
}

pub(super) const PRIVATE_ROOT_CANDIDATE: &str = "our chain ends at the private CA";

/// Known problems of our chain, most likely cause of a rejection first.
pub(super) fn chain_candidates(e: &HandshakeEvidence) -> Vec<String> {
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

pub(super) fn numbered(cands: &[String]) -> String {
    cands
        .iter()
        .enumerate()
        .map(|(i, c)| format!("({}) {c}", i + 1))
        .collect::<Vec<_>>()
        .join("; ")
}

pub(super) fn is_cert_rejection(a: AlertDescription) -> bool {
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

pub(super) fn alert(e: &HandshakeEvidence, a: AlertDescription) -> Finding {
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

pub(super) fn client_alert(e: &HandshakeEvidence, name: &str) -> Finding {
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

pub(super) fn incomplete_chain(e: &HandshakeEvidence, signal: &str) -> Finding {
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

pub(super) fn expired(e: &HandshakeEvidence, signal: &str) -> Finding {
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

pub(super) fn clock_wrong(e: &HandshakeEvidence, signal: &str) -> Finding {
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

pub(super) fn untrusted_ca(e: &HandshakeEvidence, signal: &str) -> Finding {
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
pub(super) fn vague_rejection(e: &HandshakeEvidence, a: AlertDescription, signal: &str) -> Finding {
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

pub(super) fn rejected_certificate(
    e: &HandshakeEvidence,
    signal: &str,
    cands: &[String],
) -> Finding {
    Finding::new(
        Code::ClientRejectedCertificate,
        "The client rejected our certificate without saying why; candidates are listed, most \
         likely first.",
        evidence(e, &format!("{signal}; candidates: {}", numbered(cands))),
        "Check the client's own error message to tell the candidates apart; `tlsgate check` shows \
         our chain's findings.",
    )
}

pub(super) fn closed_after_certificate(e: &HandshakeEvidence) -> Finding {
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
