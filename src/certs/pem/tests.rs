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

#[test]
fn too_many_certificates_are_refused_and_never_all_decoded() {
    let (cert, _) = pair();
    let text = cert.repeat(MAX_CERTS_PER_FILE + 5);
    let f = PemFile::parse(Path::new("many.pem"), text.as_bytes());
    assert_eq!(f.certs.len(), MAX_CERTS_PER_FILE, "parse stops at the cap");
    let err = check_limits(Path::new("many.pem"), text.as_bytes(), u64::MAX).unwrap_err();
    assert_eq!(err.code, Code::CertFileTooLarge);
    assert!(err.why.contains("105 certificate blocks"), "{}", err.why);
    let ok = cert.repeat(3);
    assert!(check_limits(Path::new("three.pem"), ok.as_bytes(), u64::MAX).is_ok());
}

#[test]
fn files_over_the_size_limit_are_refused_unread() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.pem");
    let (cert, _) = pair();
    std::fs::write(&path, cert.repeat(2000)).unwrap();
    let err = PemFile::read(&path).unwrap_err();
    assert_eq!(err.code, Code::CertFileTooLarge);
    assert!(
        err.summary.contains("max_cert_file_bytes"),
        "{}",
        err.summary
    );
    let err = check_limits(&path, &[b'x'; 11], 10).unwrap_err();
    assert_eq!(err.code, Code::CertFileTooLarge);
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let f = PemFile::parse(Path::new("x.pem"), &bytes);
            let _ = f.no_certificate_finding();
            let _ = f.no_key_finding();
            let _ = check_limits(Path::new("x.pem"), &bytes, 1000);
        }

        /// PEM-shaped text (labels, base64, cut anywhere) never panics.
        #[test]
        fn pem_like_text_never_panics(
            blocks in proptest::collection::vec(
                (
                    "(CERTIFICATE|PRIVATE KEY|RSA PRIVATE KEY|EC PRIVATE KEY|ENCRYPTED PRIVATE KEY|CERTIFICATE REQUEST|X)",
                    "[A-Za-z0-9+/=\n]{0,200}",
                    any::<bool>(),
                ),
                0..6,
            ),
            cut in any::<proptest::sample::Index>(),
        ) {
            let mut text = String::new();
            for (label, body, end) in blocks {
                text.push_str(&format!("-----BEGIN {label}-----\n{body}\n"));
                if end {
                    text.push_str(&format!("-----END {label}-----\n"));
                }
            }
            let n = cut.index(text.len() + 1);
            let f = PemFile::parse(Path::new("x.pem"), &text.as_bytes()[..n]);
            prop_assert!(f.certs.len() <= MAX_CERTS_PER_FILE);
            let _ = f.no_certificate_finding();
        }
    }
}
