use super::*;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::CertificateDer;
use time::Duration;

struct Ca {
    params: CertificateParams,
    key: KeyPair,
    der: CertificateDer<'static>,
}

fn ca(cn: &str, parent: Option<&Ca>) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::days(10);
    params.not_after = now + Duration::days(1000);
    let cert = match parent {
        Some(p) => params
            .signed_by(&key, &Issuer::from_params(&p.params, &p.key))
            .unwrap(),
        None => params.self_signed(&key).unwrap(),
    };
    Ca {
        der: cert.der().clone(),
        params,
        key,
    }
}

fn leaf(
    names: &[&str],
    issuer: Option<&Ca>,
    valid: (Duration, Duration),
    aia: Option<&str>,
) -> CertInfo {
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(DnType::CommonName, "leaf");
    let now = OffsetDateTime::now_utc();
    params.not_before = now + valid.0;
    params.not_after = now + valid.1;
    if let Some(url) = aia {
        let oid = [0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x02];
        let mut uri = vec![0x86, url.len() as u8];
        uri.extend_from_slice(url.as_bytes());
        let mut desc = vec![0x30, (oid.len() + uri.len()) as u8];
        desc.extend_from_slice(&oid);
        desc.extend_from_slice(&uri);
        let mut seq = vec![0x30, desc.len() as u8];
        seq.extend_from_slice(&desc);
        params
            .custom_extensions
            .push(rcgen::CustomExtension::from_oid_content(
                &[1, 3, 6, 1, 5, 5, 7, 1, 1],
                seq,
            ));
    }
    let cert = match issuer {
        Some(p) => params
            .signed_by(&key, &Issuer::from_params(&p.params, &p.key))
            .unwrap(),
        None => params.self_signed(&key).unwrap(),
    };
    CertInfo::parse(cert.der()).unwrap()
}

fn info(c: &Ca) -> CertInfo {
    CertInfo::parse(&c.der).unwrap()
}

fn store(name: &str, cas: &[&Ca]) -> TrustStore {
    let mut roots = rustls::RootCertStore::empty();
    for c in cas {
        roots.add(c.der.clone()).unwrap();
    }
    TrustStore::new(name, roots)
}

const OK: (Duration, Duration) = (Duration::days(-1), Duration::days(90));

fn evidence(name: &str, chain: Vec<CertInfo>, stores: &[TrustStore]) -> UpstreamEvidence {
    let mut ev = UpstreamEvidence::new(FixContext::Upstream("up".into()), "h:443", name);
    ev.trust = verdicts(stores, &chain, ev.now);
    ev.publicly_trusted = anchors(&webpki_store(), &chain, ev.now);
    ev.chain = chain;
    ev
}

fn codes(ev: &UpstreamEvidence) -> Vec<&'static str> {
    classify_tls_failure(ev)
        .iter()
        .map(|f| f.code.as_str())
        .collect()
}

#[test]
fn chain_cases() {
    let root = ca("Private Root", None);
    let inter = ca("Issuing CA", Some(&root));
    let zs = ca("Zscaler Root CA", None);
    let trusted = [store("ca_bundle", &[&root])];
    let none: [TrustStore; 0] = [];
    let m = |n: i64| Duration::minutes(n);
    let d = |n: i64| Duration::days(n);
    type Case = (
        &'static str,
        &'static str,
        Vec<CertInfo>,
        bool,
        Vec<&'static str>,
    );
    let cases: Vec<Case> = vec![
        (
            "healthy",
            "a.test",
            vec![leaf(&["a.test"], Some(&root), OK, None)],
            true,
            vec![],
        ),
        (
            "wildcard ok",
            "x.a.test",
            vec![leaf(&["*.a.test"], Some(&root), OK, None)],
            true,
            vec![],
        ),
        (
            "wildcard one label only",
            "y.x.a.test",
            vec![leaf(&["*.a.test"], Some(&root), OK, None)],
            true,
            vec!["upstream_name_mismatch"],
        ),
        (
            "wildcard not apex",
            "a.test",
            vec![leaf(&["*.a.test"], Some(&root), OK, None)],
            true,
            vec!["upstream_name_mismatch"],
        ),
        (
            "ip matches ip san",
            "10.0.0.1",
            vec![leaf(&["10.0.0.1"], Some(&root), OK, None)],
            true,
            vec![],
        ),
        (
            "ip never matches dns",
            "10.0.0.1",
            vec![leaf(&["a.test"], Some(&root), OK, None)],
            true,
            vec!["upstream_name_mismatch"],
        ),
        (
            "expired",
            "a.test",
            vec![leaf(&["a.test"], Some(&root), (d(-90), d(-2)), None)],
            true,
            vec!["upstream_cert_expired"],
        ),
        (
            "expired and untrusted",
            "a.test",
            vec![leaf(&["a.test"], Some(&root), (d(-90), d(-2)), None)],
            false,
            vec!["upstream_cert_expired", "upstream_untrusted_root"],
        ),
        (
            "expired, wrong name, untrusted",
            "b.test",
            vec![leaf(&["a.test"], Some(&root), (d(-90), d(-2)), None)],
            false,
            vec![
                "upstream_cert_expired",
                "upstream_name_mismatch",
                "upstream_untrusted_root",
            ],
        ),
        (
            "not yet valid",
            "a.test",
            vec![leaf(&["a.test"], Some(&root), (m(5), d(90)), None)],
            true,
            vec!["upstream_cert_not_yet_valid"],
        ),
        (
            "self-signed",
            "a.test",
            vec![leaf(&["a.test"], None, OK, None)],
            false,
            vec!["upstream_self_signed"],
        ),
        (
            "missing intermediate",
            "a.test",
            vec![leaf(
                &["a.test"],
                Some(&inter),
                OK,
                Some("http://ca.test/i.der"),
            )],
            true,
            vec!["upstream_chain_incomplete"],
        ),
        (
            "intermediate sent",
            "a.test",
            vec![leaf(&["a.test"], Some(&inter), OK, None), info(&inter)],
            true,
            vec![],
        ),
        (
            "intermediate sent out of order",
            "a.test",
            vec![
                leaf(&["a.test"], Some(&inter), OK, None),
                info(&root),
                info(&inter),
            ],
            true,
            vec![],
        ),
        (
            "private root, leaf only",
            "a.test",
            vec![leaf(&["a.test"], Some(&root), OK, None)],
            false,
            vec!["upstream_untrusted_root"],
        ),
        (
            "private root sent",
            "a.test",
            vec![leaf(&["a.test"], Some(&root), OK, None), info(&root)],
            false,
            vec!["upstream_untrusted_root"],
        ),
        (
            "inspection vendor",
            "api.openai.com",
            vec![leaf(&["api.openai.com"], Some(&zs), OK, None)],
            false,
            vec!["upstream_tls_inspection", "upstream_untrusted_root"],
        ),
        (
            "non-public root for a public api",
            "api.openai.com",
            vec![leaf(&["api.openai.com"], Some(&root), OK, None)],
            false,
            vec!["upstream_tls_inspection", "upstream_untrusted_root"],
        ),
    ];
    for (what, name, chain, trust, want) in cases {
        let stores: &[TrustStore] = if trust { &trusted } else { &none };
        let ev = evidence(name, chain, stores);
        assert_eq!(codes(&ev), want, "{what}");
    }
}

#[test]
fn evidence_texts_name_the_cert_the_time_and_the_skew() {
    let root = ca("Private Root", None);
    let stores = [store("ca_bundle", &[&root])];
    let ev = evidence(
        "a.test",
        vec![leaf(
            &["a.test"],
            Some(&root),
            (Duration::minutes(5), Duration::days(9)),
            None,
        )],
        &stores,
    );
    let f = &classify_tls_failure(&ev)[0];
    assert!(
        f.why.contains("leaf certificate") && f.why.contains("clock skew"),
        "{}",
        f.why
    );
    let ev = evidence(
        "a.test",
        vec![leaf(
            &["a.test"],
            Some(&root),
            (Duration::days(-90), Duration::days(-3)),
            None,
        )],
        &stores,
    );
    let f = &classify_tls_failure(&ev)[0];
    assert!(f.summary.contains("3 days"), "{}", f.summary);
    assert!(!f.why.contains("clock"), "{}", f.why);
    let ev = evidence(
        "b.test",
        vec![leaf(&["a.test", "*.c.test"], Some(&root), OK, None)],
        &stores,
    );
    let f = &classify_tls_failure(&ev)[0];
    assert!(
        f.why.contains("\"b.test\"") && f.why.contains("a.test, *.c.test"),
        "{}",
        f.why
    );
    assert!(f.fix.contains("upstreams.up.tls.server_name"), "{}", f.fix);
    let inter = ca("Issuing CA", Some(&root));
    let ev = evidence(
        "a.test",
        vec![leaf(
            &["a.test"],
            Some(&inter),
            OK,
            Some("http://ca.test/i.der"),
        )],
        &stores,
    );
    let f = &classify_tls_failure(&ev)[0];
    assert!(
        f.summary.contains("Issuing CA") && f.why.contains("http://ca.test/i.der"),
        "{f:?}"
    );
    let zs = ca("Zscaler Root CA", None);
    let mut ev = evidence(
        "api.openai.com",
        vec![leaf(&["api.openai.com"], Some(&zs), OK, None)],
        &[],
    );
    ev.context = FixContext::Probe;
    let f = &classify_tls_failure(&ev)[0];
    assert!(
        f.summary.contains("Zscaler") && f.fix.contains("--ca"),
        "{f:?}"
    );
}

#[test]
fn inspection_trusted_by_the_system_is_a_warning() {
    let zs = ca("Zscaler Root CA", None);
    let stores = [store("system", &[&zs])];
    let ev = evidence(
        "api.openai.com",
        vec![leaf(&["api.openai.com"], Some(&zs), OK, None)],
        &stores,
    );
    let f = classify_tls_failure(&ev);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].code, Code::UpstreamTlsInspection);
    assert_eq!(f[0].severity, Severity::Warning);
}

fn bare(f: impl FnOnce(&mut UpstreamEvidence)) -> Vec<&'static str> {
    let mut ev = UpstreamEvidence::new(FixContext::Probe, "h:443", "h.test");
    f(&mut ev);
    codes(&ev)
}

#[test]
fn protocol_cases() {
    use rustls::{AlertDescription as A, Error as E, PeerIncompatible as P};
    assert_eq!(
        bare(|e| e.first_bytes = b"HTTP/1.1 400 Bad Request\r\n".to_vec()),
        ["upstream_plain_http"]
    );
    assert_eq!(
        bare(|e| {
            e.expects_tls = false;
            e.first_bytes = vec![0x15, 0x03, 0x03, 0, 2, 2, 80];
        }),
        ["upstream_tls_on_http_url"]
    );
    assert_eq!(
        bare(|e| {
            e.expects_tls = false;
            e.first_bytes = b"HTTP/1.1 200".to_vec();
        }),
        Vec::<&str>::new()
    );
    assert_eq!(
        bare(|e| e.first_bytes = b"SSH-2.0-OpenSSH".to_vec()),
        ["upstream_tls_failed"]
    );
    assert_eq!(bare(|e| e.timed_out = true), ["upstream_handshake_timeout"]);
    assert_eq!(
        bare(|e| e.tls_error = Some(E::AlertReceived(A::ProtocolVersion))),
        ["upstream_legacy_tls"]
    );
    assert_eq!(
        bare(|e| e.tls_error = Some(E::PeerIncompatible(P::ServerDoesNotSupportTls12Or13))),
        ["upstream_legacy_tls"]
    );
    assert_eq!(
        bare(|e| e.tls_error = Some(E::PeerIncompatible(P::NoCipherSuitesInCommon))),
        ["upstream_no_shared_cipher"]
    );
    assert_eq!(
        bare(|e| e.tls_error = Some(E::AlertReceived(A::HandshakeFailure))),
        ["upstream_no_shared_cipher"]
    );
    assert_eq!(
        bare(|e| e.tls_error = Some(E::AlertReceived(A::CertificateRequired))),
        ["upstream_client_cert_required"]
    );
    assert_eq!(
        bare(|e| {
            e.client_cert_requested = Some(true);
            e.tls_error = Some(E::AlertReceived(A::HandshakeFailure));
        }),
        ["upstream_client_cert_required"]
    );
    assert_eq!(
        bare(|e| {
            e.client_cert_requested = Some(true);
            e.io_error = Some("reset".into());
        }),
        ["upstream_client_cert_required"]
    );
    assert_eq!(
        bare(|e| {
            e.client_cert_sent = true;
            e.tls_error = Some(E::AlertReceived(A::UnknownCA));
        }),
        ["upstream_client_cert_rejected"]
    );
    assert_eq!(
        bare(|e| {
            e.client_cert_sent = true;
            e.tls_error = Some(E::AlertReceived(A::BadCertificate));
        }),
        ["upstream_client_cert_rejected"]
    );
    assert_eq!(
        bare(|e| {
            e.client_cert_sent = true;
            e.client_cert_requested = Some(true);
            e.tls_error = Some(E::AlertReceived(A::HandshakeFailure));
        }),
        ["upstream_client_cert_rejected"]
    );
    assert_eq!(
        bare(|e| e.io_error = Some("tls handshake eof".into())),
        ["upstream_connection_reset"]
    );
    assert_eq!(
        bare(|e| e.tls_error = Some(E::DecryptError)),
        ["upstream_tls_failed"]
    );
    assert_eq!(
        bare(|e| e.verification_disabled = true),
        ["upstream_verification_disabled"]
    );
    assert_eq!(bare(|_| {}), Vec::<&str>::new());
}

#[test]
fn verification_disabled_downgrades_chain_problems() {
    let mut ev = evidence("a.test", vec![leaf(&["a.test"], None, OK, None)], &[]);
    ev.verification_disabled = true;
    let f = classify_tls_failure(&ev);
    assert!(f.iter().all(|f| f.severity == Severity::Warning), "{f:?}");
    assert_eq!(f[0].code, Code::UpstreamSelfSigned);
    assert!(f
        .iter()
        .any(|f| f.code == Code::UpstreamVerificationDisabled));
}

#[test]
fn helpers() {
    assert!(name_matches("A.Test.", &["a.test".into()]));
    assert!(!name_matches("a.test", &[]));
    assert!(!name_matches(".a.test", &["*.a.test".into()]));
    assert!(name_matches("::1", &["::1".into()]));
    assert_eq!(
        inspection_vendor_of("CN=Zscaler Root CA, O=Zscaler Inc."),
        Some("Zscaler")
    );
    assert_eq!(
        inspection_vendor_of("O=Palo Alto Networks"),
        Some("Palo Alto Networks")
    );
    assert_eq!(
        inspection_vendor_of("CN=DO_NOT_TRUST_FiddlerRoot"),
        Some("Fiddler")
    );
    assert_eq!(
        inspection_vendor_of("CN=mitmproxy, O=mitmproxy"),
        Some("mitmproxy")
    );
    assert_eq!(inspection_vendor_of("CN=Reset Services"), None);
    assert_eq!(inspection_vendor_of("CN=ISRG Root X1"), None);
    assert!(looks_like_tls(&[0x16, 0x03, 0x01]));
    assert!(!looks_like_tls(&[0x16]));
    assert!(!looks_like_tls(b"HTTP/1.1"));
    assert_eq!(printable_prefix(b"A\r\n\x00", 10), "A\\r\\n\\x00");
    assert_eq!(human_duration(Duration::minutes(5)), "5 minutes");
    assert_eq!(human_duration(Duration::days(-3)), "3 days");
    assert_eq!(
        crate::tls::roots::name_contents(&[0x30, 0x02, 0x31, 0x00]),
        &[0x31, 0x00]
    );
    assert_eq!(crate::tls::roots::name_contents(&[0x30]), &[0x30]);
    assert!(chain_top(&[]).is_none());
    assert_eq!(chain_summary(&[]), "no certificate presented");
}

#[test]
fn no_application_protocol_names_http_version() {
    let mut ev = UpstreamEvidence::new(
        FixContext::Upstream("llm".into()),
        "10.0.0.1:443",
        "llm.internal",
    );
    ev.tls_error = Some(rustls::Error::AlertReceived(
        rustls::AlertDescription::NoApplicationProtocol,
    ));
    let f = classify_tls_failure(&ev);
    assert_eq!(f[0].code, Code::UpstreamTlsFailed);
    assert!(f[0].summary.contains("ALPN"), "{}", f[0].summary);
    assert!(
        f[0].fix.contains("upstreams.llm.http_version"),
        "{}",
        f[0].fix
    );
}
