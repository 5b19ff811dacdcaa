use super::*;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A self-signed certificate and its key, as PEM.
fn pair() -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["client.test".to_string()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

#[test]
fn a_matching_pair_loads() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = pair();
    let cert = write(dir.path(), "c.pem", &cert);
    let key = write(dir.path(), "k.pem", &key);
    let loaded = load_client_key(&cert, &key).unwrap();
    assert_eq!(loaded.cert.len(), 1);
}

#[test]
fn failures_name_the_setting_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = pair();
    let (_, other_key) = pair();
    let cert = write(dir.path(), "c.pem", &cert);
    let key = write(dir.path(), "k.pem", &key);
    let other_key = write(dir.path(), "other.pem", &other_key);
    let empty = write(dir.path(), "empty.pem", "");
    let missing = dir.path().join("missing.pem");

    let e = load_client_key(&missing, &key).unwrap_err();
    assert!(matches!(e, ClientKeyError::CertRead { .. }), "{e:?}");
    assert!(e.to_string().starts_with("client_cert "), "{e}");
    assert!(e.to_string().contains("missing.pem"), "{e}");

    let e = load_client_key(&empty, &key).unwrap_err();
    assert!(matches!(e, ClientKeyError::NoCertificate { .. }), "{e:?}");
    assert!(e.to_string().ends_with("no certificate in the file"), "{e}");

    let e = load_client_key(&cert, &empty).unwrap_err();
    assert!(matches!(e, ClientKeyError::KeyRead { .. }), "{e:?}");
    assert!(e.to_string().starts_with("client_key "), "{e}");

    let e = load_client_key(&cert, &other_key).unwrap_err();
    assert!(matches!(e, ClientKeyError::KeyMismatch { .. }), "{e:?}");
    assert!(
        e.to_string().starts_with("client_key ") && e.to_string().contains("c.pem"),
        "{e}"
    );
}

#[test]
fn the_upstream_config_uses_the_same_loader() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, _) = pair();
    let (_, other_key) = pair();
    let tls = UpstreamTls {
        client_cert: Some(write(dir.path(), "c.pem", &cert)),
        client_key: Some(write(dir.path(), "k.pem", &other_key)),
        ..UpstreamTls::default()
    };
    let e = client_config(&tls, Vec::new()).unwrap_err();
    assert!(
        matches!(
            e,
            ClientConfigError::ClientKey(ClientKeyError::KeyMismatch { .. })
        ),
        "{e:?}"
    );
    assert!(e.to_string().starts_with("tls.client_key "), "{e}");
}
