use super::*;
use std::io::Write;

fn write(dir: &Path, name: &str, content: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::File::create(&p)
        .unwrap()
        .write_all(content.as_bytes())
        .unwrap();
    p
}

fn self_signed(names: &[&str]) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert =
        rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap()
            .self_signed(&key)
            .unwrap();
    (cert.pem(), key.serialize_pem())
}

fn source(cert: std::path::PathBuf, key: std::path::PathBuf) -> CertificateSource {
    CertificateSource {
        cert,
        key,
        ca: None,
        names: None,
    }
}

#[test]
fn loads_a_matching_pair_with_san_names() {
    let dir = tempfile::tempdir().unwrap();
    let (c, k) = self_signed(&["Example.test", "127.0.0.1"]);
    let loaded = load(&source(
        write(dir.path(), "c.pem", &c),
        write(dir.path(), "k.pem", &k),
    ))
    .unwrap();
    assert_eq!(loaded.names, vec!["example.test", "127.0.0.1"]);
    assert_eq!(loaded.chain.len(), 1);
    assert_eq!(loaded.fingerprint().len(), 64);
}

#[test]
fn key_of_another_certificate_is_a_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let (c, _) = self_signed(&["a.test"]);
    let (_, k2) = self_signed(&["b.test"]);
    let err = load(&source(
        write(dir.path(), "c.pem", &c),
        write(dir.path(), "k.pem", &k2),
    ))
    .unwrap_err();
    assert_eq!(err[0].code, Code::KeyMismatch);
    assert!(err[0].why.contains("matches none"));
}

#[test]
fn key_matching_the_second_certificate_means_leaf_not_first() {
    let dir = tempfile::tempdir().unwrap();
    let (c1, _) = self_signed(&["a.test"]);
    let (c2, k2) = self_signed(&["b.test"]);
    let err = load(&source(
        write(dir.path(), "c.pem", &format!("{c1}{c2}")),
        write(dir.path(), "k.pem", &k2),
    ))
    .unwrap_err();
    assert_eq!(err[0].code, Code::ChainLeafNotFirst);
    assert!(err[0].summary.contains("#2"), "{}", err[0].summary);
}

#[test]
fn key_file_with_only_a_certificate_is_key_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let (c, _) = self_signed(&["a.test"]);
    let p = write(dir.path(), "c.pem", &c);
    let err = load(&source(p.clone(), p)).unwrap_err();
    assert_eq!(err[0].code, Code::KeyNotFoundInFile);
}
