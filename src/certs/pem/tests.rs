use super::*;

fn pair() -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["a.test".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    (cert.pem(), key.serialize_pem())
}

#[test]
fn reads_certificates_and_keys() {
    let (cert, key) = pair();
    let f = PemFile::parse(Path::new("x.pem"), format!("{cert}{key}").as_bytes());
    assert_eq!(f.certs.len(), 1);
    assert_eq!(f.keys.len(), 1);
    assert_eq!(f.labels, vec!["CERTIFICATE", "PRIVATE KEY"]);
    assert!(f.syntax_error.is_none());
}

#[test]
fn truncated_pem_reports_syntax_error() {
    let (cert, _) = pair();
    let cut = &cert[..cert.len() / 2];
    let f = PemFile::parse(Path::new("x.pem"), cut.as_bytes());
    assert!(f.certs.is_empty());
    assert!(f.syntax_error.is_some());
    let finding = f.no_certificate_finding();
    assert_eq!(finding.code, Code::CertNotFoundInFile);
    assert!(finding.why.contains("truncated"), "{}", finding.why);
}

#[test]
fn key_alone_where_cert_expected_says_so() {
    let (_, key) = pair();
    let f = PemFile::parse(Path::new("k.pem"), key.as_bytes());
    let finding = f.no_certificate_finding();
    assert!(finding.why.contains("PRIVATE KEY"));
    assert!(finding.fix.contains("key file"));
}

#[test]
fn csr_is_named() {
    let key = rcgen::KeyPair::generate().unwrap();
    let csr = rcgen::CertificateParams::new(vec!["a.test".into()])
        .unwrap()
        .serialize_request(&key)
        .unwrap()
        .pem()
        .unwrap();
    let f = PemFile::parse(Path::new("req.pem"), csr.as_bytes());
    assert!(f.certs.is_empty());
    let finding = f.no_certificate_finding();
    assert!(finding.why.contains("CERTIFICATE REQUEST"));
    assert!(finding.fix.contains("signing request"));
}

#[test]
fn encrypted_key_is_key_encrypted() {
    let text = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n";
    let f = PemFile::parse(Path::new("k.pem"), text.as_bytes());
    assert!(f.encrypted_key);
    assert_eq!(f.no_key_finding().code, Code::KeyEncrypted);
}

#[test]
fn der_and_empty_are_described() {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["a.test".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let f = PemFile::parse(Path::new("c.der"), cert.der());
    assert!(f.looks_like_der);
    assert!(f.no_certificate_finding().why.contains("DER"));
    let f = PemFile::parse(Path::new("empty.pem"), b"");
    assert!(f.no_certificate_finding().why.contains("no PEM block"));
}

#[test]
fn missing_file_is_unreadable() {
    let err = PemFile::read(Path::new("/nonexistent/tlsgate/cert.pem")).unwrap_err();
    assert_eq!(err.code, Code::CertFileUnreadable);
    assert!(err.summary.contains("does not exist"));
}
