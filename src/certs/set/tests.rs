use super::*;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

fn key() -> Arc<CertifiedKey> {
    let kp = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["x.test".into()])
        .unwrap()
        .self_signed(&kp)
        .unwrap();
    let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(kp.serialize_der()));
    let signing = rustls::crypto::aws_lc_rs::default_provider()
        .key_provider
        .load_private_key(der)
        .unwrap();
    Arc::new(CertifiedKey::new(
        vec![CertificateDer::from(cert.der().to_vec())],
        signing,
    ))
}

fn entry(names: &[&str]) -> CertEntry {
    CertEntry {
        names: names.iter().map(|s| s.to_string()).collect(),
        key: key(),
    }
}

#[test]
fn a_single_certificate_is_served_to_everyone() {
    let set = CertSet::new(vec![entry(&["a.test"])], None);
    assert_eq!(set.select(None), Selection::Only(0));
    assert_eq!(set.select(Some("other.test")), Selection::Only(0));
}

#[test]
fn several_certificates_are_chosen_by_sni() {
    let set = CertSet::new(
        vec![entry(&["a.test"]), entry(&["*.b.test", "b.test"])],
        None,
    );
    assert_eq!(set.select(Some("a.test")), Selection::Matched(0));
    assert_eq!(set.select(Some("A.TEST")), Selection::Matched(0));
    assert_eq!(set.select(Some("x.b.test")), Selection::Matched(1));
    assert_eq!(set.select(Some("b.test")), Selection::Matched(1));
    // One label only.
    assert_eq!(set.select(Some("y.x.b.test")), Selection::UnknownSni);
    assert_eq!(set.select(None), Selection::NoSni);
}

#[test]
fn default_certificate_catches_absent_and_unknown_sni() {
    let set = CertSet::new(vec![entry(&["a.test"]), entry(&["b.test"])], Some(1));
    assert_eq!(set.select(None), Selection::Default(1));
    assert_eq!(set.select(Some("zzz.test")), Selection::Default(1));
    assert_eq!(set.select(Some("a.test")), Selection::Matched(0));
}
