use super::*;

#[test]
fn creates_then_reuses() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("certs");
    let first = ensure_dev_certs(&dir, &["api.local".into()], true).unwrap();
    assert!(first.created_ca && first.issued_leaf);
    let ca1 = std::fs::read(&first.ca_cert).unwrap();
    let leaf1 = std::fs::read(&first.cert).unwrap();

    let second = ensure_dev_certs(&dir, &["api.local".into()], true).unwrap();
    assert!(!second.created_ca && !second.issued_leaf);
    assert_eq!(ca1, std::fs::read(&second.ca_cert).unwrap());
    assert_eq!(leaf1, std::fs::read(&second.cert).unwrap());

    // A new name re-issues the leaf from the same CA.
    let third = ensure_dev_certs(&dir, &["other.local".into()], true).unwrap();
    assert!(!third.created_ca && third.issued_leaf);
    assert_eq!(ca1, std::fs::read(&third.ca_cert).unwrap());
    let info = CertInfo::parse(&PemFile::read(&third.cert).unwrap().certs[0]).unwrap();
    assert!(info.sans.contains(&"other.local".to_string()));
    assert!(info.sans.contains(&"::1".to_string()));
    let ca = CertInfo::parse(&PemFile::read(&third.ca_cert).unwrap().certs[0]).unwrap();
    assert!(ca.issued(&info));
}

#[cfg(unix)]
#[test]
fn keys_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let d = ensure_dev_certs(tmp.path(), &[], false).unwrap();
    for k in [&d.key, &d.ca_key] {
        let mode = std::fs::metadata(k).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", k.display());
    }
}

#[test]
fn missing_directory_without_create_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let err = ensure_dev_certs(&tmp.path().join("nope"), &[], false).unwrap_err();
    assert!(err.message.contains("does not exist"));
}

#[test]
fn served_loader_accepts_the_dev_pair() {
    let tmp = tempfile::tempdir().unwrap();
    let d = ensure_dev_certs(tmp.path(), &[], false).unwrap();
    let loaded = super::super::served::load(&crate::config::CertificateSource {
        cert: d.cert.clone(),
        key: d.key.clone(),
        ca: Some(d.ca_cert.clone()),
        names: None,
    })
    .unwrap();
    assert_eq!(loaded.ca.len(), 1);
    assert!(loaded.names.contains(&"localhost".to_string()));
}
