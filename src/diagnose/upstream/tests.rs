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
    assert_eq!(printable_prefix(b"A\r\n\x00", 10), "A\\x0d\\x0a\\x00");
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

/// nginx 1.22's pages, byte for byte as docs/peer-behaviour.md records them.
const NGINX_NO_CERT: &str = "<html>\r\n<head><title>400 No required SSL certificate was sent</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n<center>No required SSL certificate was sent</center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n";
const NGINX_CERT_ERROR: &str = "<html>\r\n<head><title>400 The SSL certificate error</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n<center>The SSL certificate error</center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n";
const NGINX_PLAIN_HTTP: &str = "<html>\r\n<head><title>400 The plain HTTP request was sent to HTTPS port</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n<center>The plain HTTP request was sent to HTTPS port</center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n";

#[test]
fn only_small_html_400s_and_nginx_statuses_are_read() {
    let html = Some("text/html");
    assert!(may_be_tls_error_page(400, html, Some(237)));
    assert!(may_be_tls_error_page(
        400,
        Some("Text/HTML; charset=utf-8"),
        Some(4096)
    ));
    assert!(may_be_tls_error_page(495, None, None));
    assert!(may_be_tls_error_page(
        496,
        Some("application/json"),
        Some(1 << 20)
    ));
    assert!(may_be_tls_error_page(497, html, None));
    // The success path, and every other error, pass unread.
    for status in [200, 201, 204, 301, 401, 403, 404, 429, 500, 502, 503] {
        assert!(!may_be_tls_error_page(status, html, Some(237)), "{status}");
    }
    // A 400 that is large, of unknown length, or not HTML (an API's JSON error).
    assert!(!may_be_tls_error_page(400, html, Some(4097)));
    assert!(!may_be_tls_error_page(400, html, None));
    assert!(!may_be_tls_error_page(
        400,
        Some("application/json"),
        Some(80)
    ));
    assert!(!may_be_tls_error_page(400, None, Some(80)));
}

#[test]
fn tls_problems_reported_in_http_pages() {
    assert_eq!(
        tls_error_page(400, NGINX_NO_CERT.as_bytes()),
        Some(PageCause::ClientCertRequired)
    );
    assert_eq!(
        tls_error_page(400, NGINX_CERT_ERROR.as_bytes()),
        Some(PageCause::ClientCertRejected)
    );
    assert_eq!(
        tls_error_page(400, NGINX_PLAIN_HTTP.as_bytes()),
        Some(PageCause::PlainHttpToTlsPort)
    );
    assert_eq!(
        tls_error_page(
            400,
            b"<p>Reason: You're speaking plain HTTP to an SSL-enabled server port.<br />"
        ),
        Some(PageCause::PlainHttpToTlsPort)
    );
    assert_eq!(
        tls_error_page(496, b""),
        Some(PageCause::ClientCertRequired)
    );
    assert_eq!(
        tls_error_page(495, b""),
        Some(PageCause::ClientCertRejected)
    );
    assert_eq!(
        tls_error_page(497, b""),
        Some(PageCause::PlainHttpToTlsPort)
    );
    assert_eq!(
        tls_error_page(400, b"<html><title>400 Bad Request</title></html>"),
        None
    );
    // The text only counts on a 400.
    assert_eq!(tls_error_page(200, NGINX_NO_CERT.as_bytes()), None);
    assert_eq!(tls_error_page(404, NGINX_PLAIN_HTTP.as_bytes()), None);
}

fn answered(status: u16, body: &str) -> Option<HttpAnswer> {
    Some(HttpAnswer {
        status,
        server: Some("nginx/1.22.1".into()),
        content_type: Some("text/html".into()),
        body: body.as_bytes().to_vec(),
    })
}

#[test]
fn pages_become_findings_in_the_upstream_context() {
    let base = || {
        UpstreamEvidence::new(
            FixContext::Upstream("peer".into()),
            "10.0.0.5:8443",
            "10.0.0.5",
        )
    };
    let mut ev = base();
    ev.client_cert_requested = Some(true);
    ev.http_answer = answered(400, NGINX_NO_CERT);
    let f = classify_tls_failure(&ev);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].code, Code::UpstreamClientCertRequired);
    assert_eq!(f[0].severity, Severity::Error);
    assert!(
        f[0].why.contains("HTTP 400 from nginx/1.22.1")
            && f[0].why.contains("No required SSL certificate was sent"),
        "{}",
        f[0].why
    );
    assert!(
        f[0].fix.contains("upstreams.peer.tls.client_cert"),
        "{}",
        f[0].fix
    );

    let mut ev = base();
    ev.client_cert_sent = true;
    ev.client_cert_requested = Some(true);
    ev.http_answer = answered(400, NGINX_CERT_ERROR);
    let f = classify_tls_failure(&ev);
    assert_eq!(f[0].code, Code::UpstreamClientCertRejected);
    assert!(f[0].why.contains("we presented"), "{}", f[0].why);

    // Plain HTTP on a TLS port is only ours when the URL is http://.
    let mut ev = base();
    ev.expects_tls = false;
    ev.http_answer = answered(400, NGINX_PLAIN_HTTP);
    let f = classify_tls_failure(&ev);
    assert_eq!(
        f.iter().map(|f| f.code).collect::<Vec<_>>(),
        [Code::UpstreamTlsOnHttpUrl]
    );
    assert!(
        f[0].fix.contains("change upstreams.peer.url to https://"),
        "{}",
        f[0].fix
    );
    let mut ev = base();
    ev.http_answer = answered(400, NGINX_PLAIN_HTTP);
    assert!(http_answer_finding(&ev).is_none());
    // Client-certificate pages on an http:// URL are not about our TLS.
    let mut ev = base();
    ev.expects_tls = false;
    ev.http_answer = answered(400, NGINX_NO_CERT);
    assert!(http_answer_finding(&ev).is_none());
    // An ordinary answer says nothing.
    let mut ev = base();
    ev.expects_tls = false;
    ev.http_answer = answered(200, "ok");
    assert!(classify_tls_failure(&ev).is_empty());
}

#[test]
fn a_silent_http_server_that_answers_a_client_hello_speaks_tls() {
    let mut ev = UpstreamEvidence::new(
        FixContext::Upstream("peer".into()),
        "10.0.0.5:8443",
        "10.0.0.5",
    );
    ev.expects_tls = false;
    ev.io_error = Some("connection closed before message completed".into());
    ev.hello_answer = Some(vec![0x16, 0x03, 0x03, 0x00, 0x7a, 0x02]);
    let f = classify_tls_failure(&ev);
    assert_eq!(
        f.iter().map(|f| f.code).collect::<Vec<_>>(),
        [Code::UpstreamTlsOnHttpUrl]
    );
    assert!(
        f[0].why.contains("ClientHello") && f[0].why.contains("closed"),
        "{}",
        f[0].why
    );
    // A plain server that answers the hello in HTTP (or not at all) is not TLS: no finding
    // claims it, and the reset is not blamed on a TLS handshake.
    ev.hello_answer = Some(b"HTTP/1.1 400 Bad Request".to_vec());
    assert!(classify_tls_failure(&ev).is_empty());
    ev.hello_answer = Some(Vec::new());
    assert!(classify_tls_failure(&ev).is_empty());
}

#[test]
fn a_requested_client_certificate_without_one_is_a_warning() {
    let base = || {
        let mut ev = UpstreamEvidence::new(FixContext::Probe, "h:443", "h.test");
        ev.client_cert_requested = Some(true);
        ev
    };
    let f = classify_tls_failure(&base());
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].code, Code::UpstreamClientCertRequired);
    assert_eq!(f[0].severity, Severity::Warning);
    assert!(f[0].fix.contains("--client-cert"), "{}", f[0].fix);
    // It answered a request normally: still a warning, with what it answered.
    let mut ev = base();
    ev.http_answer = answered(200, "ok");
    let f = classify_tls_failure(&ev);
    assert_eq!(f[0].severity, Severity::Warning);
    assert!(f[0].why.contains("HTTP 200"), "{}", f[0].why);
    // The startup check of a configured upstream that answered normally stays quiet.
    ev.context = FixContext::Upstream("up".into());
    assert!(classify_tls_failure(&ev).is_empty());
    ev.http_answer = None;
    assert_eq!(classify_tls_failure(&ev)[0].severity, Severity::Warning);
    // Given a certificate, or refused outright: no warning.
    let mut ev = base();
    ev.client_cert_sent = true;
    assert!(classify_tls_failure(&ev).is_empty());
    let mut ev = base();
    ev.tls_error = Some(rustls::Error::AlertReceived(
        rustls::AlertDescription::CertificateRequired,
    ));
    let f = classify_tls_failure(&ev);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].severity, Severity::Error);
    // Not asked: nothing.
    let mut ev = base();
    ev.client_cert_requested = Some(false);
    assert!(classify_tls_failure(&ev).is_empty());
}

#[test]
fn missing_intermediate_and_unknown_root_are_told_apart() {
    let root = ca("Private Root", None);
    let inter = ca("Issuing CA", Some(&root));
    let url = "http://ca.test/issuing.der";
    let trusted = [store("ca_bundle", &[&root])];
    // The leaf alone, its issuer nowhere, an AIA URL: the intermediate is missing. Named, with
    // its URL, in the summary, the evidence and the fix.
    let ev = evidence(
        "a.test",
        vec![leaf(&["a.test"], Some(&inter), OK, Some(url))],
        &trusted,
    );
    let f = classify_tls_failure(&ev);
    assert_eq!(
        f.iter().map(|f| f.code).collect::<Vec<_>>(),
        [Code::UpstreamChainIncomplete]
    );
    assert!(f[0].summary.contains("\"Issuing CA\""), "{}", f[0].summary);
    assert!(
        f[0].why.contains("CN=Issuing CA") && f[0].why.contains(url),
        "{}",
        f[0].why
    );
    assert!(
        f[0].fix.contains("\"Issuing CA\"")
            && f[0].fix.contains(url)
            && f[0].fix.contains("upstreams.up.tls.ca_bundle"),
        "{}",
        f[0].fix
    );
    // The same, nothing trusted at all: still the missing intermediate that is named first.
    let ev = evidence(
        "a.test",
        vec![leaf(&["a.test"], Some(&inter), OK, Some(url))],
        &[],
    );
    assert_eq!(codes(&ev), ["upstream_chain_incomplete"]);
    // The leaf alone without AIA: no way to tell; an untrusted root whose evidence says it may
    // be an intermediate the server must send.
    let ev = evidence(
        "a.test",
        vec![leaf(&["a.test"], Some(&inter), OK, None)],
        &trusted,
    );
    let f = classify_tls_failure(&ev);
    assert_eq!(f[0].code, Code::UpstreamUntrustedRoot);
    assert!(
        f[0].why.contains("may also be an intermediate"),
        "{}",
        f[0].why
    );
    // The intermediate sent, its root unknown: an untrusted root, never a missing
    // intermediate, even when the intermediate carries an AIA URL of its own.
    let mut inter_info = info(&inter);
    inter_info.aia_ca_issuers = vec!["http://ca.test/root.der".into()];
    let ev = evidence(
        "a.test",
        vec![leaf(&["a.test"], Some(&inter), OK, Some(url)), inter_info],
        &[],
    );
    let f = classify_tls_failure(&ev);
    assert_eq!(
        f.iter().map(|f| f.code).collect::<Vec<_>>(),
        [Code::UpstreamUntrustedRoot]
    );
    assert!(
        f[0].summary.contains("\"Private Root\""),
        "{}",
        f[0].summary
    );
    assert!(f[0].why.contains("http://ca.test/root.der"), "{}", f[0].why);
}

#[test]
fn a_reissued_ca_is_claimed_only_for_a_same_name_anchor_with_another_key() {
    let root = ca("Corp Root", None);
    let inter = ca("Corp Issuing", Some(&root));
    let chain = || vec![leaf(&["a.test"], Some(&inter), OK, None), info(&inter)];
    // The store holds "Corp Root" with a different key.
    let reissued = ca("Corp Root", None);
    let ev = evidence("a.test", chain(), &[store("ca_bundle", &[&reissued])]);
    assert!(ev.trust[0].knows_top_issuer && ev.trust[0].top_issuer_other_key);
    let f = classify_tls_failure(&ev);
    assert_eq!(f[0].code, Code::UpstreamUntrustedRoot);
    assert!(
        f[0].why.contains("different key") && f[0].why.contains("re-issued"),
        "{}",
        f[0].why
    );
    // Nothing of that name: no claim about re-issuing.
    let other = ca("Another Root", None);
    let ev = evidence("a.test", chain(), &[store("ca_bundle", &[&other])]);
    assert!(!ev.trust[0].knows_top_issuer && !ev.trust[0].top_issuer_other_key);
    let f = classify_tls_failure(&ev);
    assert!(
        !f[0].why.contains("re-issued") && !f[0].why.contains("different key"),
        "{}",
        f[0].why
    );
    // The right root: trusted, nothing to say.
    let ev = evidence("a.test", chain(), &[store("ca_bundle", &[&root])]);
    assert!(ev.trust[0].trusted && !ev.trust[0].top_issuer_other_key);
    assert!(classify_tls_failure(&ev).is_empty());
}

#[test]
fn postgres_probes_speak_postgresql_and_libpq() {
    let root = ca("PG Root", None);
    let inter = ca("PG Issuing", Some(&root));
    let pg = |name: &str, chain: Vec<CertInfo>, stores: &[TrustStore]| {
        let mut ev = evidence(name, chain, stores);
        ev.context = FixContext::ProbePostgres;
        ev.address = "127.0.0.1:5432".into();
        classify_tls_failure(&ev)
    };
    let trusted = [store("ca", &[&root])];
    let expired = pg(
        "127.0.0.1",
        vec![
            leaf(
                &["127.0.0.1"],
                Some(&inter),
                (Duration::days(-90), Duration::days(-30)),
                None,
            ),
            info(&inter),
        ],
        &trusted,
    );
    assert_eq!(expired[0].code, Code::UpstreamCertExpired);
    assert!(
        expired[0].fix.contains("ssl_cert_file")
            && expired[0].fix.contains("ssl_key_file")
            && expired[0].fix.contains("pg_reload_conf"),
        "{}",
        expired[0].fix
    );
    let untrusted = pg(
        "127.0.0.1",
        vec![leaf(&["127.0.0.1"], Some(&inter), OK, None), info(&inter)],
        &[],
    );
    assert_eq!(untrusted[0].code, Code::UpstreamUntrustedRoot);
    let fix = &untrusted[0].fix;
    for w in [
        "sslmode=verify-full",
        "`require` encrypts but verifies nothing",
        "sslrootcert",
        "PGSSLROOTCERT",
        "~/.postgresql/root.crt",
        "openssl s_client -starttls postgres",
        "\"PG Root\"",
    ] {
        assert!(fix.contains(w), "{w}: {fix}");
    }
    let wrong = pg(
        "127.0.0.1",
        vec![leaf(&["db.internal"], Some(&inter), OK, None), info(&inter)],
        &trusted,
    );
    assert_eq!(wrong[0].code, Code::UpstreamNameMismatch);
    assert!(
        wrong[0].fix.contains("verify-full")
            && wrong[0].fix.contains("db.internal")
            && wrong[0].fix.contains("hostaddr"),
        "{}",
        wrong[0].fix
    );
    let incomplete = pg(
        "127.0.0.1",
        vec![leaf(
            &["127.0.0.1"],
            Some(&inter),
            OK,
            Some("http://ca.test/i.der"),
        )],
        &trusted,
    );
    assert_eq!(incomplete[0].code, Code::UpstreamChainIncomplete);
    assert!(
        incomplete[0].fix.contains("ssl_cert_file") && incomplete[0].fix.contains("PG Issuing"),
        "{}",
        incomplete[0].fix
    );
    let mut ev = UpstreamEvidence::new(FixContext::ProbePostgres, "127.0.0.1:5432", "127.0.0.1");
    ev.tls_error = Some(rustls::Error::AlertReceived(
        rustls::AlertDescription::CertificateRequired,
    ));
    let f = classify_tls_failure(&ev);
    assert!(
        f[0].fix.contains("ssl_ca_file") && f[0].fix.contains("sslcert"),
        "{}",
        f[0].fix
    );
    // Without --starttls postgres, the probe's own flags.
    let mut ev = evidence(
        "127.0.0.1",
        vec![leaf(&["127.0.0.1"], Some(&inter), OK, None), info(&inter)],
        &[],
    );
    ev.context = FixContext::Probe;
    let f = classify_tls_failure(&ev);
    assert!(
        f[0].fix.contains("--ca FILE") && !f[0].fix.contains("sslrootcert"),
        "{}",
        f[0].fix
    );
}

#[test]
fn upstream_sent_server_header_and_page_title_are_escaped() {
    let mut ev = UpstreamEvidence::new(
        FixContext::Upstream("peer".into()),
        "10.0.0.5:8443",
        "10.0.0.5",
    );
    ev.client_cert_requested = Some(true);
    let body = NGINX_NO_CERT.replace("<title>", "<title>x\u{2028}y\u{202e}z\u{85}\x1b[31m\\");
    ev.http_answer = Some(HttpAnswer {
        status: 400,
        server: Some("nginx\u{2029}evil\u{202e}\r\n".into()),
        content_type: Some("text/html".into()),
        body: body.into_bytes(),
    });
    let f = classify_tls_failure(&ev);
    let why = &f[0].why;
    for c in [
        '\u{2028}', '\u{2029}', '\u{202e}', '\u{85}', '\x1b', '\r', '\n',
    ] {
        assert!(!why.contains(c), "U+{:04X} raw in {why}", c as u32);
    }
    assert!(
        why.contains("from nginx\\xe2\\x80\\xa9evil\\xe2\\x80\\xae\\x0d\\x0a"),
        "{why}"
    );
    assert!(
        why.contains("x\\xe2\\x80\\xa8y\\xe2\\x80\\xaez\\xc2\\x85\\x1b[31m\\\\"),
        "{why}"
    );
}
