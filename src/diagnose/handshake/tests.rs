use super::*;
use crate::wire::client_hello::{TLS10, TLS12, TLS13};
use AlertDescription as A;

fn hello(sni: Option<&str>) -> ClientHelloSummary {
    ClientHelloSummary {
        legacy_version: TLS12,
        supported_versions: vec![TLS13, TLS12],
        cipher_suites: vec![0x1301, 0x1302, 0xc02b],
        groups: vec![0x001d],
        signature_schemes: vec![0x0403],
        sni: sni.map(str::to_string),
        alpn: vec!["h2".into()],
        ..Default::default()
    }
}

fn good_chain() -> OurChain {
    OurChain {
        complete: true,
        names: vec!["app.example.com".into(), "*.example.net".into()],
        fingerprint: "sha256:ab12".into(),
        ..Default::default()
    }
}

/// A failure after our certificate went out, from a client asking for a covered name.
fn ev(failure: FailureKind) -> HandshakeEvidence {
    HandshakeEvidence {
        hello: Some(hello(Some("app.example.com"))),
        served: Some(ServedInfo::default()),
        our_chain: good_chain(),
        listener_names: vec!["app.example.com".into()],
        ..HandshakeEvidence::new(failure)
    }
}

fn alert_ev(a: AlertDescription) -> HandshakeEvidence {
    ev(FailureKind::AlertReceived(a))
}

fn with_chain(mut e: HandshakeEvidence, f: impl FnOnce(&mut OurChain)) -> HandshakeEvidence {
    f(&mut e.our_chain);
    e
}

fn incomplete(c: &mut OurChain) {
    c.complete = false;
    c.missing_issuer = Some("CN=Example Intermediate R1".into());
}

fn private(c: &mut OurChain) {
    c.private_root = Some("CN=tlsgate local CA".into());
    c.private_root_file = Some("/etc/tlsgate/ca.pem".into());
}

fn with_sni(mut e: HandshakeEvidence, sni: Option<&str>) -> HandshakeEvidence {
    e.hello = Some(hello(sni));
    e
}

fn with_hello(
    mut e: HandshakeEvidence,
    f: impl FnOnce(&mut ClientHelloSummary),
) -> HandshakeEvidence {
    if let Some(h) = e.hello.as_mut() {
        f(h);
    }
    e
}

fn legacy(h: &mut ClientHelloSummary) {
    h.legacy_version = TLS10;
    h.supported_versions.clear();
    h.signature_schemes.clear();
}

#[test]
fn table() {
    let http = Sniffed::PlainHttp {
        method: "GET".into(),
        host: Some("app.example.com:8443".into()),
        path: Some("/".into()),
    };
    let cases: Vec<(&str, HandshakeEvidence, Code)> = vec![
        // First bytes.
        (
            "plain http",
            HandshakeEvidence {
                sniffed: Some(http),
                ..HandshakeEvidence::new(FailureKind::NotTls)
            },
            Code::PlainHttpOnTlsPort,
        ),
        (
            "ssh",
            HandshakeEvidence {
                sniffed: Some(Sniffed::Ssh {
                    banner: "SSH-2.0-x".into(),
                }),
                ..HandshakeEvidence::new(FailureKind::NotTls)
            },
            Code::NotTls,
        ),
        (
            "proxy v1",
            HandshakeEvidence {
                sniffed: Some(Sniffed::ProxyProtocol { version: 1 }),
                ..HandshakeEvidence::new(FailureKind::NotTls)
            },
            Code::ProxyProtocolUnexpected,
        ),
        (
            "h2c",
            HandshakeEvidence {
                sniffed: Some(Sniffed::H2cPreface),
                ..HandshakeEvidence::new(FailureKind::NotTls)
            },
            Code::NotTls,
        ),
        (
            "sslv2",
            HandshakeEvidence {
                sniffed: Some(Sniffed::SslV2Hello),
                ..HandshakeEvidence::new(FailureKind::NotTls)
            },
            Code::NotTls,
        ),
        (
            "garbage",
            HandshakeEvidence {
                sniffed: Some(Sniffed::Unknown {
                    hex_prefix: "00".into(),
                }),
                ..HandshakeEvidence::new(FailureKind::NotTls)
            },
            Code::NotTls,
        ),
        (
            "rustls content type only",
            HandshakeEvidence::new(FailureKind::NotTls),
            Code::NotTls,
        ),
        (
            "sniffed tls is ignored",
            HandshakeEvidence {
                sniffed: Some(Sniffed::Tls),
                ..HandshakeEvidence::new(FailureKind::TimeoutDuringHandshake)
            },
            Code::HandshakeTimeout,
        ),
        // Versions, suites, groups, schemes.
        (
            "tls1.0 client, sigalgs missing",
            with_hello(
                ev(FailureKind::Incompatible(
                    Incompatibility::NoSignatureAlgorithmsExtension,
                )),
                legacy,
            ),
            Code::ClientTlsVersionTooOld,
        ),
        (
            "tls12 not offered",
            ev(FailureKind::Incompatible(Incompatibility::Version(
                "Tls12NotOffered".into(),
            ))),
            Code::ClientTlsVersionTooOld,
        ),
        (
            "sigalgs missing, no hello",
            HandshakeEvidence::new(FailureKind::Incompatible(
                Incompatibility::NoSignatureAlgorithmsExtension,
            )),
            Code::ClientTlsVersionTooOld,
        ),
        (
            "tls1.2 hello without sigalgs",
            with_hello(
                ev(FailureKind::Incompatible(
                    Incompatibility::NoSignatureAlgorithmsExtension,
                )),
                |h| h.signature_schemes.clear(),
            ),
            Code::NoSharedSignatureScheme,
        ),
        (
            "legacy client, no cipher",
            with_hello(
                ev(FailureKind::Incompatible(Incompatibility::NoSharedCipher)),
                legacy,
            ),
            Code::ClientTlsVersionTooOld,
        ),
        (
            "no cipher",
            ev(FailureKind::Incompatible(Incompatibility::NoSharedCipher)),
            Code::NoSharedCipher,
        ),
        (
            "no group",
            ev(FailureKind::Incompatible(Incompatibility::NoSharedGroup)),
            Code::NoSharedGroup,
        ),
        (
            "no sig scheme",
            ev(FailureKind::Incompatible(
                Incompatibility::NoSharedSignatureScheme,
            )),
            Code::NoSharedSignatureScheme,
        ),
        (
            "other incompat",
            ev(FailureKind::Incompatible(Incompatibility::Other(
                "NullCompressionRequired".into(),
            ))),
            Code::HandshakeIoError,
        ),
        // SNI and ALPN.
        (
            "alpn",
            ev(FailureKind::NoApplicationProtocol),
            Code::AlpnMismatch,
        ),
        (
            "no sni",
            with_sni(ev(FailureKind::NoCertificateResolved), None),
            Code::NoSni,
        ),
        (
            "ip sni",
            with_hello(ev(FailureKind::NoCertificateResolved), |h| {
                h.sni = Some("10.0.0.1".into());
                h.sni_is_ip = true;
            }),
            Code::NoSni,
        ),
        (
            "unknown sni",
            with_sni(
                ev(FailureKind::NoCertificateResolved),
                Some("other.example"),
            ),
            Code::UnknownSni,
        ),
        (
            "resolver miss, no hello",
            HandshakeEvidence::new(FailureKind::NoCertificateResolved),
            Code::NoSni,
        ),
        // Client rejects our certificate.
        (
            "unknown_ca complete public",
            alert_ev(A::UnknownCA),
            Code::ClientRejectedUntrustedCa,
        ),
        (
            "unknown_ca complete private",
            with_chain(alert_ev(A::UnknownCA), private),
            Code::ClientRejectedUntrustedCa,
        ),
        (
            "unknown_ca incomplete",
            with_chain(alert_ev(A::UnknownCA), incomplete),
            Code::ClientRejectedIncompleteChain,
        ),
        (
            "bad_certificate incomplete",
            with_chain(alert_ev(A::BadCertificate), incomplete),
            Code::ClientRejectedIncompleteChain,
        ),
        (
            "certificate_unknown incomplete",
            with_chain(alert_ev(A::CertificateUnknown), incomplete),
            Code::ClientRejectedIncompleteChain,
        ),
        (
            "name mismatch beats unknown_ca",
            with_sni(alert_ev(A::UnknownCA), Some("other.example")),
            Code::ClientRejectedNameMismatch,
        ),
        (
            "name mismatch with bad_certificate",
            with_sni(alert_ev(A::BadCertificate), Some("x.example.org")),
            Code::ClientRejectedNameMismatch,
        ),
        (
            "name mismatch beats incomplete",
            with_chain(
                with_sni(alert_ev(A::CertificateUnknown), Some("nope.example")),
                incomplete,
            ),
            Code::ClientRejectedNameMismatch,
        ),
        (
            "wildcard covers",
            with_sni(alert_ev(A::UnknownCA), Some("a.example.net")),
            Code::ClientRejectedUntrustedCa,
        ),
        (
            "wildcard does not cover two labels",
            with_sni(alert_ev(A::UnknownCA), Some("a.b.example.net")),
            Code::ClientRejectedNameMismatch,
        ),
        (
            "name mismatch on silent close",
            with_sni(ev(FailureKind::EofAfterCertificate), Some("other.example")),
            Code::ClientRejectedNameMismatch,
        ),
        (
            "expired and expired",
            with_chain(alert_ev(A::CertificateExpired), |c| c.expired = true),
            Code::ClientRejectedExpiredCert,
        ),
        (
            "expired: not yet valid",
            with_chain(alert_ev(A::CertificateExpired), |c| c.not_yet_valid = true),
            Code::ClientRejectedExpiredCert,
        ),
        (
            "go bad_certificate, we are expired",
            with_chain(alert_ev(A::BadCertificate), |c| c.expired = true),
            Code::ClientRejectedExpiredCert,
        ),
        (
            "chrome certificate_unknown, we are expired",
            with_chain(alert_ev(A::CertificateUnknown), |c| c.expired = true),
            Code::ClientRejectedExpiredCert,
        ),
        (
            "certificate_expired, we are valid",
            alert_ev(A::CertificateExpired),
            Code::ClientClockWrong,
        ),
        (
            "bad_certificate, all valid, public",
            alert_ev(A::BadCertificate),
            Code::ClientClockWrong,
        ),
        (
            "bad_certificate, fresh cert, public",
            with_chain(alert_ev(A::BadCertificate), |c| c.issued_recently = true),
            Code::ClientClockWrong,
        ),
        (
            "bad_certificate, private root",
            with_chain(alert_ev(A::BadCertificate), private),
            Code::ClientRejectedUntrustedCa,
        ),
        (
            "certificate_unknown, private root",
            with_chain(alert_ev(A::CertificateUnknown), private),
            Code::ClientRejectedUntrustedCa,
        ),
        // Ambiguous: candidates.
        (
            "bad_certificate, private root + fresh",
            with_chain(alert_ev(A::BadCertificate), |c| {
                private(c);
                c.issued_recently = true;
            }),
            Code::ClientRejectedCertificate,
        ),
        (
            "bad_certificate, no sni",
            with_sni(alert_ev(A::BadCertificate), None),
            Code::ClientRejectedCertificate,
        ),
        (
            "bad_certificate, local findings",
            with_chain(alert_ev(A::BadCertificate), |c| {
                c.local_findings = vec![Code::MissingAki]
            }),
            Code::ClientRejectedCertificate,
        ),
        (
            "certificate_unknown, public, valid",
            alert_ev(A::CertificateUnknown),
            Code::ClientRejectedCertificate,
        ),
        (
            "certificate_unknown, private + findings",
            with_chain(alert_ev(A::CertificateUnknown), |c| {
                private(c);
                c.local_findings = vec![Code::LeafIsCa];
            }),
            Code::ClientRejectedCertificate,
        ),
        (
            "unsupported_certificate",
            alert_ev(A::UnsupportedCertificate),
            Code::ClientRejectedCertificate,
        ),
        (
            "decrypt_error",
            alert_ev(A::DecryptError),
            Code::ClientRejectedCertificate,
        ),
        (
            "revoked",
            alert_ev(A::CertificateRevoked),
            Code::ClientRejectedCertificate,
        ),
        (
            "access_denied",
            alert_ev(A::AccessDenied),
            Code::ClientRejectedCertificate,
        ),
        (
            "handshake_failure after cert",
            alert_ev(A::HandshakeFailure),
            Code::ClientRejectedCertificate,
        ),
        // Other alerts.
        (
            "handshake_failure before cert",
            HandshakeEvidence {
                served: None,
                ..alert_ev(A::HandshakeFailure)
            },
            Code::ClientAlert,
        ),
        (
            "protocol_version",
            alert_ev(A::ProtocolVersion),
            Code::ClientAlert,
        ),
        (
            "internal_error",
            alert_ev(A::InternalError),
            Code::ClientAlert,
        ),
        (
            "unknown alert",
            alert_ev(A::Unknown(200)),
            Code::ClientAlert,
        ),
        (
            "close_notify before cert",
            HandshakeEvidence {
                served: None,
                ..alert_ev(A::CloseNotify)
            },
            Code::ClientAlert,
        ),
        (
            "close_notify after cert",
            alert_ev(A::CloseNotify),
            Code::ClientClosedAfterCertificate,
        ),
        (
            "user_canceled after cert",
            alert_ev(A::UserCanceled),
            Code::ClientClosedAfterCertificate,
        ),
        // Silent closes.
        (
            "eof after cert",
            ev(FailureKind::EofAfterCertificate),
            Code::ClientClosedAfterCertificate,
        ),
        (
            "eof after cert, incomplete",
            with_chain(ev(FailureKind::EofAfterCertificate), incomplete),
            Code::ClientClosedAfterCertificate,
        ),
        (
            "eof after handshake",
            ev(FailureKind::EofAfterHandshakeNoRequest),
            Code::ClientClosedAfterCertificate,
        ),
        // Mutual TLS.
        (
            "mtls missing",
            ev(FailureKind::ClientCert(ClientCertProblem::Missing)),
            Code::ClientCertMissing,
        ),
        (
            "mtls untrusted",
            ev(FailureKind::ClientCert(ClientCertProblem::UnknownIssuer)),
            Code::ClientCertUntrusted,
        ),
        (
            "mtls expired",
            ev(FailureKind::ClientCert(ClientCertProblem::Expired)),
            Code::ClientCertExpired,
        ),
        (
            "mtls not yet valid",
            ev(FailureKind::ClientCert(ClientCertProblem::NotValidYet)),
            Code::ClientCertExpired,
        ),
        (
            "mtls other",
            ev(FailureKind::ClientCert(ClientCertProblem::Other(
                "no clientAuth".into(),
            ))),
            Code::ClientCertInvalid,
        ),
        // Time and I/O.
        (
            "timeout before hello",
            HandshakeEvidence::new(FailureKind::TimeoutBeforeClientHello),
            Code::HandshakeTimeout,
        ),
        (
            "timeout during",
            ev(FailureKind::TimeoutDuringHandshake),
            Code::HandshakeTimeout,
        ),
        (
            "eof before hello",
            HandshakeEvidence::new(FailureKind::EofBeforeClientHello),
            Code::HandshakeIoError,
        ),
        (
            "reset",
            ev(FailureKind::Io(
                io::ErrorKind::ConnectionReset,
                "reset".into(),
            )),
            Code::HandshakeIoError,
        ),
        (
            "protocol",
            ev(FailureKind::Protocol("peer misbehaved".into())),
            Code::HandshakeIoError,
        ),
    ];
    for (name, e, want) in cases {
        let f = classify(&e);
        assert_eq!(f.code, want, "case '{name}': {f:#?}");
        assert!(
            !f.summary.is_empty() && !f.why.is_empty() && !f.fix.is_empty(),
            "case '{name}'"
        );
        assert_eq!(f.severity, want.default_severity(), "case '{name}'");
    }
}

#[test]
fn from_rustls_errors() {
    use rustls::{CertificateError as C, Error as E, PeerIncompatible as P};
    let cases: Vec<(E, FailureKind)> = vec![
        (
            E::PeerIncompatible(P::NoCipherSuitesInCommon),
            FailureKind::Incompatible(Incompatibility::NoSharedCipher),
        ),
        (
            E::PeerIncompatible(P::NoKxGroupsInCommon),
            FailureKind::Incompatible(Incompatibility::NoSharedGroup),
        ),
        (
            E::PeerIncompatible(P::NoSignatureSchemesInCommon),
            FailureKind::Incompatible(Incompatibility::NoSharedSignatureScheme),
        ),
        (
            E::PeerIncompatible(P::SignatureAlgorithmsExtensionRequired),
            FailureKind::Incompatible(Incompatibility::NoSignatureAlgorithmsExtension),
        ),
        (
            E::PeerIncompatible(P::Tls12NotOffered),
            FailureKind::Incompatible(Incompatibility::Version("Tls12NotOffered".into())),
        ),
        (
            E::PeerIncompatible(P::NullCompressionRequired),
            FailureKind::Incompatible(Incompatibility::Other("NullCompressionRequired".into())),
        ),
        (
            E::AlertReceived(A::UnknownCA),
            FailureKind::AlertReceived(A::UnknownCA),
        ),
        (E::NoApplicationProtocol, FailureKind::NoApplicationProtocol),
        (
            E::NoCertificatesPresented,
            FailureKind::ClientCert(ClientCertProblem::Missing),
        ),
        (
            E::InvalidCertificate(C::UnknownIssuer),
            FailureKind::ClientCert(ClientCertProblem::UnknownIssuer),
        ),
        (
            E::InvalidCertificate(C::Expired),
            FailureKind::ClientCert(ClientCertProblem::Expired),
        ),
        (
            E::InvalidCertificate(C::NotValidYet),
            FailureKind::ClientCert(ClientCertProblem::NotValidYet),
        ),
        (
            E::General("no server certificate chain resolved".into()),
            FailureKind::NoCertificateResolved,
        ),
        (
            E::InvalidMessage(rustls::InvalidMessage::InvalidContentType),
            FailureKind::NotTls,
        ),
    ];
    for (err, want) in cases {
        assert_eq!(from_rustls_error(&err), want, "{err:?}");
    }
    assert!(matches!(
        from_rustls_error(&E::InvalidCertificate(C::BadSignature)),
        FailureKind::ClientCert(ClientCertProblem::Other(_))
    ));
    assert!(matches!(
        from_rustls_error(&E::DecryptError),
        FailureKind::Protocol(_)
    ));
}

#[test]
fn from_io_errors() {
    let wrapped = io::Error::new(
        io::ErrorKind::InvalidData,
        rustls::Error::AlertReceived(A::UnknownCA),
    );
    assert_eq!(
        from_io_error(&wrapped, Phase::AfterCertificate),
        FailureKind::AlertReceived(A::UnknownCA)
    );
    let eof = io::Error::from(io::ErrorKind::UnexpectedEof);
    assert_eq!(
        from_io_error(&eof, Phase::BeforeClientHello),
        FailureKind::EofBeforeClientHello
    );
    assert_eq!(
        from_io_error(&eof, Phase::AfterCertificate),
        FailureKind::EofAfterCertificate
    );
    assert_eq!(
        from_io_error(&eof, Phase::AfterHandshake),
        FailureKind::EofAfterHandshakeNoRequest
    );
    assert!(matches!(
        from_io_error(&eof, Phase::AfterClientHello),
        FailureKind::Io(io::ErrorKind::UnexpectedEof, _)
    ));
    let to = io::Error::from(io::ErrorKind::TimedOut);
    assert_eq!(
        from_io_error(&to, Phase::BeforeClientHello),
        FailureKind::TimeoutBeforeClientHello
    );
    assert_eq!(
        from_io_error(&to, Phase::AfterClientHello),
        FailureKind::TimeoutDuringHandshake
    );
    let reset = io::Error::from(io::ErrorKind::ConnectionReset);
    assert!(matches!(
        from_io_error(&reset, Phase::AfterCertificate),
        FailureKind::Io(io::ErrorKind::ConnectionReset, _)
    ));
}

#[test]
fn evidence_texts_carry_the_values() {
    let f = classify(&with_chain(alert_ev(A::UnknownCA), incomplete));
    assert!(f.summary.contains("CN=Example Intermediate R1"));
    assert!(f.fix.contains("ca:"));
    assert!(f.why.contains("unknown_ca"), "{}", f.why);
    assert!(f.why.contains("SNI 'app.example.com'"));
    assert!(f.why.contains("sha256:ab12"));

    let f = classify(&with_sni(
        alert_ev(A::BadCertificate),
        Some("other.example"),
    ));
    assert!(
        f.why.contains("app.example.com, *.example.net"),
        "{}",
        f.why
    );

    let f = classify(&with_hello(
        ev(FailureKind::Incompatible(
            Incompatibility::NoSignatureAlgorithmsExtension,
        )),
        legacy,
    ));
    assert!(f.why.contains("client offers TLSv1.0"), "{}", f.why);

    let mut e = ev(FailureKind::Incompatible(Incompatibility::NoSharedCipher));
    e.ours.cipher_suites = vec![0x1301];
    let f = classify(&e);
    assert!(f.why.contains("TLS13_AES_128_GCM_SHA256"), "{}", f.why);

    let mut e = ev(FailureKind::NoApplicationProtocol);
    e.ours.alpn = vec!["http/1.1".into()];
    let f = classify(&e);
    assert!(
        f.why.contains("client offers h2; we offer http/1.1"),
        "{}",
        f.why
    );

    let f = classify(&with_sni(
        ev(FailureKind::NoCertificateResolved),
        Some("other.example"),
    ));
    assert!(f.why.contains("serves app.example.com"), "{}", f.why);

    let f = classify(&alert_ev(A::Unknown(200)));
    assert!(f.summary.contains("alert 200"), "{}", f.summary);
}

#[test]
fn ambiguous_cases_list_candidates_in_order() {
    let e = with_chain(alert_ev(A::BadCertificate), |c| {
        private(c);
        c.issued_recently = true;
    });
    let f = classify(&e);
    let clock = f.why.find("clock is behind").unwrap();
    let ca = f.why.find("private CA").unwrap();
    assert!(clock < ca, "{}", f.why);
    assert!(f.why.contains("(1)") && f.why.contains("(2)"));

    let f = classify(&with_chain(alert_ev(A::CertificateUnknown), |c| {
        c.local_findings = vec![Code::MissingAki]
    }));
    assert!(f.why.contains("missing_aki"), "{}", f.why);
}

#[test]
fn trust_advice_follows_the_client_family() {
    let base = with_chain(alert_ev(A::UnknownCA), private);
    let fix_for = |cs: Vec<u16>, grease: bool, exts: Vec<u16>| {
        let e = with_hello(base.clone(), |h| {
            h.cipher_suites = cs;
            h.has_grease = grease;
            h.extension_ids = exts;
        });
        classify(&e).fix
    };
    let node = fix_for(
        vec![
            0x1302, 0x1303, 0x1301, 0xc02f, 0xc02b, 0xc030, 0xc02c, 0x009e,
        ],
        false,
        vec![],
    );
    assert!(
        node.contains("looks like Node.js")
            && node.contains("NODE_EXTRA_CA_CERTS=/etc/tlsgate/ca.pem"),
        "{node}"
    );
    assert!(!node.contains("REQUESTS_CA_BUNDLE"), "{node}");
    let openssl = fix_for(
        vec![0x1302, 0x1303, 0x1301, 0xc02c, 0xc030, 0x009f],
        false,
        vec![],
    );
    assert!(
        openssl.contains("--cacert /etc/tlsgate/ca.pem")
            && openssl.contains("-CAfile /etc/tlsgate/ca.pem"),
        "{openssl}"
    );
    let python = fix_for(
        vec![
            0x1302, 0x1303, 0x1301, 0xc02c, 0xc030, 0xc02b, 0xc02f, 0xcca9, 0xcca8, 0xc024,
        ],
        false,
        vec![],
    );
    assert!(
        python.contains("REQUESTS_CA_BUNDLE=/etc/tlsgate/ca.pem")
            && python.contains("SSL_CERT_FILE=/etc/tlsgate/ca.pem")
            && !python.contains("NODE_EXTRA_CA_CERTS"),
        "{python}"
    );
    let java = fix_for(vec![0x1302, 0x1301, 0x1303, 0xc02c], false, vec![5, 17, 50]);
    assert!(
        java.contains("keytool -importcert") && java.contains("javax.net.ssl.trustStore"),
        "{java}"
    );
    let go = fix_for(vec![0xc02b, 0x1301], false, vec![]);
    assert!(go.contains("SSL_CERT_FILE"), "{go}");
    let chromium = fix_for(vec![0x1301], true, vec![27]);
    assert!(
        chromium.contains("certutil -d sql:$HOME/.pki/nssdb"),
        "{chromium}"
    );
    // GREASE alone does not pin Chromium: the other families are listed after it.
    let grease = fix_for(vec![0x1301], true, vec![]);
    assert!(
        grease.contains("certutil") && grease.contains("NODE_EXTRA_CA_CERTS"),
        "{grease}"
    );
    let unknown = fix_for(vec![0x002f], false, vec![]);
    for v in [
        "NODE_EXTRA_CA_CERTS",
        "SSL_CERT_FILE",
        "REQUESTS_CA_BUNDLE",
        "--cacert",
        "-CAfile",
        "keytool",
        "certutil",
    ] {
        assert!(unknown.contains(v), "{v}: {unknown}");
    }
}

#[test]
fn name_matching() {
    let names = vec![
        "a.example".to_string(),
        "*.w.example".to_string(),
        "10.0.0.1".to_string(),
    ];
    assert!(name_covered("A.Example.", &names));
    assert!(name_covered("x.w.example", &names));
    assert!(!name_covered("w.example", &names));
    assert!(!name_covered("y.x.w.example", &names));
    assert!(name_covered("10.0.0.1", &names));
    assert!(!name_covered("b.example", &names));
}

#[test]
fn no_suite_in_common_wins_over_the_group_rustls_checked_first() {
    // `openssl s_client -tls1_2 -cipher AES128-SHA`: no supported_groups extension, so rustls
    // stops at the groups, but the suites are what the client must change.
    let mut e = HandshakeEvidence::new(FailureKind::Incompatible(Incompatibility::NoSharedGroup));
    e.hello = Some(ClientHelloSummary {
        legacy_version: TLS12,
        cipher_suites: vec![0x002f, 0x00ff],
        ..Default::default()
    });
    e.ours.cipher_suites = vec![0x1301, 0x1302, 0xc02b];
    let f = classify(&e);
    assert_eq!(f.code, Code::NoSharedCipher);
    assert!(f.why.contains("TLS_RSA_WITH_AES_128_CBC_SHA"), "{}", f.why);
    // With a suite in common, the group is the cause.
    e.hello.as_mut().unwrap().cipher_suites.push(0xc02b);
    assert_eq!(classify(&e).code, Code::NoSharedGroup);
}

/// A client with no SNI that reached 127.0.0.1:8443, against a leaf for app.example.com only.
fn by_ip(failure: FailureKind) -> HandshakeEvidence {
    HandshakeEvidence {
        reached: Some("127.0.0.1:8443".parse().unwrap()),
        ..with_sni(ev(failure), None)
    }
}

#[test]
fn a_client_by_ip_without_an_ip_san_is_a_name_mismatch_whatever_it_sends() {
    for failure in [
        FailureKind::AlertReceived(A::BadCertificate),
        FailureKind::AlertReceived(A::CertificateUnknown),
        FailureKind::AlertReceived(A::HandshakeFailure),
        FailureKind::EofAfterCertificate,
        FailureKind::EofAfterHandshakeNoRequest,
    ] {
        let f = classify(&by_ip(failure.clone()));
        assert_eq!(
            f.code,
            Code::ClientRejectedNameMismatch,
            "{failure:?}: {f:#?}"
        );
        assert!(f.summary.contains("127.0.0.1"), "{}", f.summary);
        assert!(
            f.why.contains("127.0.0.1:8443") && f.why.contains("app.example.com"),
            "{}",
            f.why
        );
        // Both fixes: an IP SAN, or the name.
        assert!(f.fix.contains("IP:127.0.0.1"), "{}", f.fix);
        assert!(f.fix.contains("https://app.example.com:8443/"), "{}", f.fix);
    }
    // A wildcard name is offered without its star.
    let f = classify(&with_chain(by_ip(FailureKind::EofAfterCertificate), |c| {
        c.names = vec!["*.example.net".into()];
    }));
    assert!(f.fix.contains("https://example.net:8443/"), "{}", f.fix);
}

#[test]
fn the_ip_rule_needs_its_evidence() {
    // The address is covered by an IP SAN (an IPv4-mapped address too): the usual diagnosis.
    let covered = |reached: &str| {
        let mut e = with_chain(by_ip(FailureKind::AlertReceived(A::BadCertificate)), |c| {
            c.names.push("127.0.0.1".into());
        });
        e.reached = Some(reached.parse().unwrap());
        classify(&e).code
    };
    assert_ne!(covered("127.0.0.1:8443"), Code::ClientRejectedNameMismatch);
    assert_ne!(
        covered("[::ffff:127.0.0.1]:8443"),
        Code::ClientRejectedNameMismatch
    );
    // A host name in SNI: the SNI rule decides, not the address.
    let mut e = alert_ev(A::BadCertificate);
    e.reached = Some("127.0.0.1:8443".parse().unwrap());
    assert_ne!(classify(&e).code, Code::ClientRejectedNameMismatch);
    // Unknown address: candidates as before.
    let e = with_sni(alert_ev(A::BadCertificate), None);
    assert_eq!(classify(&e).code, Code::ClientRejectedCertificate);
    // Alerts naming another cause are taken at their word.
    assert_eq!(
        classify(&with_chain(
            by_ip(FailureKind::AlertReceived(A::UnknownCA)),
            private
        ))
        .code,
        Code::ClientRejectedUntrustedCa
    );
    assert_eq!(
        classify(&with_chain(
            by_ip(FailureKind::AlertReceived(A::CertificateExpired)),
            |c| c.expired = true
        ))
        .code,
        Code::ClientRejectedExpiredCert
    );
    // A silent close from a family that always sends an alert when it rejects (Python here) is
    // no evidence about the name.
    let python = with_hello(by_ip(FailureKind::EofAfterHandshakeNoRequest), |h| {
        h.cipher_suites = vec![
            0x1302, 0x1303, 0x1301, 0xc02c, 0xc030, 0xc02b, 0xc02f, 0xcca9, 0xcca8,
        ];
    });
    assert_eq!(classify(&python).code, Code::ClientClosedAfterCertificate);
}

#[test]
fn a_tls12_client_against_a_tls13_listener_is_told_both_versions_and_min_version() {
    let mut e = with_hello(
        ev(FailureKind::Incompatible(Incompatibility::Version(
            "SupportedVersionsExtensionRequired".into(),
        ))),
        |h| {
            h.supported_versions.clear();
            h.cipher_suites = vec![0xc02f, 0xc02b, 0xc030, 0xc02c, 0x009e];
        },
    );
    e.ours.versions = vec![TLS13];
    let f = classify(&e);
    assert_eq!(f.code, Code::ClientTlsVersionTooOld);
    assert_eq!(
        f.summary,
        "The client offers up to TLS 1.2, this listener requires TLS 1.3 (min_version: tls1.3)."
    );
    assert!(
        !f.summary.contains("1.0/1.1") && !f.fix.contains("1.0"),
        "{f:#?}"
    );
    assert!(f.fix.contains("min_version: tls1.2"), "{}", f.fix);
    // The client family's own cap is named (Node here).
    assert!(f.fix.contains("--tls-max-v1.2"), "{}", f.fix);
    // A TLS 1.0 client: only the client can change.
    let mut e = with_hello(
        ev(FailureKind::Incompatible(
            Incompatibility::NoSignatureAlgorithmsExtension,
        )),
        legacy,
    );
    e.ours.versions = vec![TLS13, TLS12];
    let f = classify(&e);
    assert_eq!(
        f.summary,
        "The client offers up to TLS 1.0, this listener requires TLS 1.2 or later."
    );
    assert!(f.fix.contains("Upgrade the client"), "{}", f.fix);
}

#[test]
fn a_silent_close_with_an_expired_chain_says_renew() {
    let f = classify(&with_chain(ev(FailureKind::EofAfterCertificate), |c| {
        private(c);
        c.expired = true;
    }));
    assert_eq!(f.code, Code::ClientClosedAfterCertificate);
    assert!(f.summary.contains("has expired"), "{}", f.summary);
    assert!(f.fix.starts_with("Renew"), "{}", f.fix);
    assert!(!f.fix.contains("noise"), "{}", f.fix);
    let f = classify(&with_chain(
        ev(FailureKind::EofAfterCertificate),
        incomplete,
    ));
    assert!(f.fix.contains("CN=Example Intermediate R1"), "{}", f.fix);
}

#[test]
fn a_silent_java_client_gets_candidates_and_the_java_fix_not_a_verdict() {
    // Java's HttpClient closes before its Finished, without an alert, whatever it rejects.
    let e = with_hello(
        with_chain(ev(FailureKind::EofAfterCertificate), private),
        |h| {
            h.cipher_suites = vec![0x1302, 0x1301, 0x1303, 0xc02c, 0xc02b];
            h.extension_ids = vec![0, 5, 10, 11, 16, 17, 23, 13, 43, 45, 50, 51];
        },
    );
    let f = classify(&e);
    assert_eq!(f.code, Code::ClientClosedAfterCertificate);
    assert!(
        f.why.contains("(1) our chain ends at the private CA"),
        "{}",
        f.why
    );
    assert!(f.why.contains("(2) not a rejection at all"), "{}", f.why);
    assert!(f.why.contains("Java (JSSE) (high confidence"), "{}", f.why);
    assert!(
        f.fix.contains("keytool -importcert") && f.fix.contains("-Djavax.net.ssl.trustStore="),
        "{}",
        f.fix
    );
}

#[test]
fn findings_no_client_checks_are_not_candidates() {
    // `ca:` makes chain_private_root (info) a local finding of every private-CA listener; a
    // group-readable key or a near expiry is no reason for a client to reject either.
    let e = with_chain(alert_ev(A::CertificateUnknown), |c| {
        private(c);
        c.local_findings = vec![
            Code::ChainPrivateRoot,
            Code::KeyFilePermissions,
            Code::CertExpiringSoon,
            Code::ChainIncludesRoot,
        ];
    });
    let f = classify(&e);
    assert_eq!(f.code, Code::ClientRejectedUntrustedCa, "{f:#?}");
    let f = classify(&with_chain(ev(FailureKind::EofAfterCertificate), |c| {
        private(c);
        c.local_findings = vec![Code::ChainPrivateRoot, Code::KeyFilePermissions];
    }));
    assert!(
        !f.why.contains("chain_private_root") && !f.why.contains("key_file_permissions"),
        "{}",
        f.why
    );
    assert!(can_cause_rejection(Code::MissingAki) && !can_cause_rejection(Code::ChainPrivateRoot));
}
