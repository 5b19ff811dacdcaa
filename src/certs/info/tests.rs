use super::*;
use rcgen::{CertificateParams, DnType, IsCa, KeyPair};

fn make(ca: bool) -> (CertificateDer<'static>, KeyPair) {
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "tlsgate test");
    if ca {
        params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    }
    let cert = params.self_signed(&key).unwrap();
    (cert.der().clone(), key)
}

#[test]
fn parses_names_key_and_validity() {
    let (der, _) = make(false);
    let info = CertInfo::parse(&der).unwrap();
    assert_eq!(info.sans, vec!["localhost", "127.0.0.1"]);
    assert!(info.has_san_extension);
    assert_eq!(info.subject_cn.as_deref(), Some("tlsgate test"));
    assert_eq!(info.key.algorithm, "EC");
    assert_eq!(info.key.curve.as_deref(), Some("P-256"));
    assert_eq!(info.signature_algorithm, "ecdsa-with-SHA256");
    assert!(!info.signature_weak);
    assert!(info.self_issued);
    assert!(info.not_before < info.not_after);
    assert_eq!(info.fingerprint_sha256.len(), 64);
}

#[test]
fn ca_flag_and_issuer_link() {
    let (der, _) = make(true);
    let info = CertInfo::parse(&der).unwrap();
    assert_eq!(info.basic_constraints_ca, Some(true));
    assert!(info.issued(&info));
    assert!(info.is_self_signed());
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    let der = CertificateDer::from(vec![0x30, 0x03, 0x01, 0x01]);
    assert!(CertInfo::parse(&der).is_err());
    assert!(CertInfo::parse(&CertificateDer::from(Vec::new())).is_err());
}

#[test]
fn time_format_is_rfc3339_utc() {
    let t = OffsetDateTime::from_unix_timestamp(0).unwrap();
    assert_eq!(format_time(t), "1970-01-01T00:00:00Z");
}

#[test]
fn names_from_a_peers_certificate_are_escaped() {
    // A certificate a peer presents (an upstream's, a client's) names whatever it likes.
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["a\u{1b}[31m.example".to_string()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "evil\u{2028}x\u{202e}y\u{85}\\");
    let der = params.self_signed(&key).unwrap().der().clone();
    let info = CertInfo::parse(&der).unwrap();
    assert_eq!(info.sans, vec!["a\\x1b[31m.example"]);
    let cn = "evil\\xe2\\x80\\xa8x\\xe2\\x80\\xaey\\xc2\\x85\\\\";
    assert_eq!(info.subject_cn.as_deref(), Some(cn));
    assert!(info.subject.contains(cn), "{}", info.subject);
    assert!(info.issuer.contains(cn), "{}", info.issuer);
    for text in [&info.subject, &info.issuer, &info.sans[0]] {
        assert!(
            !text.contains(['\u{1b}', '\u{2028}', '\u{202e}', '\u{85}']),
            "{text}"
        );
    }
}
