use super::*;
use crate::findings::Severity;
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

fn now() -> OffsetDateTime {
    // Second precision, so day arithmetic in assertions is exact.
    OffsetDateTime::from_unix_timestamp(OffsetDateTime::now_utc().unix_timestamp()).unwrap()
}

struct Ca {
    params: CertificateParams,
    key: KeyPair,
    info: CertInfo,
}

impl Ca {
    fn issuer(&self) -> Issuer<'_, &KeyPair> {
        Issuer::from_params(&self.params, &self.key)
    }
}

fn ca(cn: &str, parent: Option<&Ca>) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = now() - time::Duration::days(1);
    params.not_after = now() + time::Duration::days(3650);
    let cert = match parent {
        Some(p) => {
            params.use_authority_key_identifier_extension = true;
            params.signed_by(&key, &p.issuer()).unwrap()
        }
        None => params.self_signed(&key).unwrap(),
    };
    let info = CertInfo::parse(cert.der()).unwrap();
    Ca { params, key, info }
}

/// A leaf for `names`, 90 days, serverAuth, AKI; `tweak` changes the params before signing.
fn leaf_with(
    names: &[&str],
    issuer: Option<&Ca>,
    tweak: impl FnOnce(&mut CertificateParams),
) -> (CertInfo, KeyPair) {
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "leaf.test");
    params.not_before = now() - time::Duration::days(1);
    params.not_after = now() + time::Duration::days(90);
    params.use_authority_key_identifier_extension = true;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    tweak(&mut params);
    let cert = match issuer {
        Some(i) => params.signed_by(&key, &i.issuer()).unwrap(),
        None => params.self_signed(&key).unwrap(),
    };
    (CertInfo::parse(cert.der()).unwrap(), key)
}

fn leaf(issuer: &Ca) -> (CertInfo, KeyPair) {
    leaf_with(&["leaf.test"], Some(issuer), |_| {})
}

fn bundle(certs: Vec<CertInfo>, key: Option<&KeyPair>) -> Bundle {
    Bundle {
        files: vec![PathBuf::from("bundle.pem")],
        certs,
        key_spki: key.map(rcgen::PublicKeyData::subject_public_key_info),
        key_file: key.map(|_| PathBuf::from("key.pem")),
        ..Bundle::default()
    }
}

fn ctx() -> CheckContext {
    CheckContext {
        system_roots: false,
        webpki_roots: false,
        now: now(),
        ..CheckContext::default()
    }
}

fn ctx_ca(root: &Ca) -> CheckContext {
    CheckContext {
        extra_roots: vec![root.info.clone()],
        ..ctx()
    }
}

fn find(f: &[Finding], code: Code) -> &Finding {
    f.iter()
        .find(|x| x.code == code)
        .unwrap_or_else(|| panic!("no {code} in {:#?}", f))
}

fn codes(f: &[Finding]) -> Vec<Code> {
    f.iter().map(|x| x.code).collect()
}

fn no_errors(f: &[Finding]) {
    assert!(
        !f.iter().any(Finding::is_error),
        "unexpected errors: {:#?}",
        f
    );
}

// A private chain: root -> intermediate -> leaf.
fn chain() -> (Ca, Ca, CertInfo, KeyPair) {
    let root = ca("Test Root", None);
    let inter = ca("Test Intermediate", Some(&root));
    let (l, k) = leaf(&inter);
    (root, inter, l, k)
}

#[test]
fn private_chain_with_ca_is_clean_but_private() {
    let (root, inter, l, k) = chain();
    let f = check_bundle(&bundle(vec![l, inter.info], Some(&k)), &ctx_ca(&root));
    no_errors(&f);
    assert_eq!(codes(&f), vec![Code::ChainPrivateRoot], "{f:#?}");
    let p = find(&f, Code::ChainPrivateRoot);
    assert_eq!(p.severity, Severity::Info);
    assert!(p.why.contains("Test Root"), "{}", p.why);
    assert!(p.fix.contains("NODE_EXTRA_CA_CERTS"), "{}", p.fix);
}

#[test]
fn private_chain_without_ca_ends_at_intermediate_info_only() {
    let (_root, inter, l, k) = chain();
    let mut c = ctx();
    c.webpki_roots = true;
    let f = check_bundle(&bundle(vec![l, inter.info], Some(&k)), &c);
    no_errors(&f);
    let p = find(&f, Code::ChainPrivateRoot);
    assert_eq!(p.severity, Severity::Info);
    assert!(p.why.contains("Test Intermediate"), "{}", p.why);
    assert!(p.why.contains("Test Root"), "{}", p.why);
}

#[test]
fn leaf_alone_with_its_root_as_ca_is_clean() {
    let root = ca("Solo Root", None);
    let (l, k) = leaf(&root);
    let f = check_bundle(&bundle(vec![l], Some(&k)), &ctx_ca(&root));
    no_errors(&f);
    assert_eq!(codes(&f), vec![Code::ChainPrivateRoot]);
}

#[test]
fn key_mismatch_says_it_matches_no_certificate() {
    let (_root, inter, l, _k) = chain();
    let other = KeyPair::generate().unwrap();
    let f = check_bundle(&bundle(vec![l, inter.info], Some(&other)), &ctx());
    let m = find(&f, Code::KeyMismatch);
    assert_eq!(m.severity, Severity::Error);
    assert!(m.why.contains("matches none of the 2"), "{}", m.why);
    assert!(!codes(&f).contains(&Code::ChainLeafNotFirst));
}

#[test]
fn key_matching_second_certificate_is_leaf_not_first() {
    let (root, inter, l, k) = chain();
    let f = check_bundle(&bundle(vec![inter.info, l], Some(&k)), &ctx_ca(&root));
    let m = find(&f, Code::ChainLeafNotFirst);
    assert_eq!(m.severity, Severity::Error);
    assert!(m.summary.contains("#2"), "{}", m.summary);
    assert!(m.why.contains("'leaf.test'"), "{}", m.why);
    assert!(!codes(&f).contains(&Code::KeyMismatch));
    // Analysis continues from the real leaf: the chain still verifies to the root.
    assert!(!codes(&f).contains(&Code::ChainIncomplete));
}

#[test]
fn out_of_order_names_the_pair() {
    let (root, inter, l, k) = chain();
    let f = check_bundle(
        &bundle(vec![l, root.info.clone(), inter.info], Some(&k)),
        &ctx(),
    );
    let o = find(&f, Code::ChainOutOfOrder);
    assert_eq!(o.severity, Severity::Warning);
    assert!(o.why.contains("#1 'leaf.test'"), "{}", o.why);
    assert!(o.why.contains("did not issue it"), "{}", o.why);
    assert!(o.why.contains("its issuer is #3"), "{}", o.why);
    no_errors(&f);
}

#[test]
fn duplicate_is_reported_with_positions() {
    let (root, inter, l, k) = chain();
    let f = check_bundle(
        &bundle(vec![l, inter.info.clone(), inter.info], Some(&k)),
        &ctx_ca(&root),
    );
    let d = find(&f, Code::ChainDuplicateCert);
    assert_eq!(d.severity, Severity::Warning);
    assert!(d.why.contains("#2 and #3"), "{}", d.why);
    assert!(!codes(&f).contains(&Code::ChainOutOfOrder), "{f:#?}");
    no_errors(&f);
}

#[test]
fn included_root_is_info() {
    let (root, inter, l, k) = chain();
    let f = check_bundle(
        &bundle(vec![l, inter.info, root.info.clone()], Some(&k)),
        &ctx(),
    );
    let r = find(&f, Code::ChainIncludesRoot);
    assert_eq!(r.severity, Severity::Info);
    assert!(r.why.contains("#3 'Test Root'"), "{}", r.why);
    // Not in any store: a private root, said so.
    assert_eq!(find(&f, Code::ChainPrivateRoot).severity, Severity::Info);
    no_errors(&f);
    // With the root given as --ca as well: still included, and trusted.
    let f = check_bundle(
        &bundle(vec![leaf(&root).0, root.info.clone()], None),
        &ctx_ca(&root),
    );
    assert!(codes(&f).contains(&Code::ChainIncludesRoot));
    no_errors(&f);
}

fn aia_ext(url: &str) -> CustomExtension {
    let oid = [0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x02];
    let mut uri = vec![0x86, url.len() as u8];
    uri.extend_from_slice(url.as_bytes());
    let access = der_sequence(&[&oid[..], &uri[..]].concat());
    let content = der_sequence(&access);
    CustomExtension::from_oid_content(&[1, 3, 6, 1, 5, 5, 7, 1, 1], content)
}

#[test]
fn incomplete_chain_names_issuer_and_aia() {
    let (_root, inter, _, _) = chain();
    let (l, k) = leaf_with(&["leaf.test"], Some(&inter), |p| {
        p.custom_extensions
            .push(aia_ext("http://ca.example/inter.der"))
    });
    assert_eq!(l.aia_ca_issuers, vec!["http://ca.example/inter.der"]);
    let mut c = ctx();
    c.webpki_roots = true;
    c.system_roots = true;
    let f = check_bundle(&bundle(vec![l], Some(&k)), &c);
    let i = find(&f, Code::ChainIncomplete);
    assert_eq!(i.severity, Severity::Error);
    assert!(i.why.contains("Test Intermediate"), "{}", i.why);
    assert!(i.why.contains("http://ca.example/inter.der"), "{}", i.why);
    assert!(
        i.fix.contains("append intermediate 'Test Intermediate'"),
        "{}",
        i.fix
    );
    assert!(i.fix.contains("set `ca:`"), "{}", i.fix);
    assert!(!codes(&f).contains(&Code::ChainPrivateRoot));
}

#[test]
fn expired_and_untrusted_reports_both() {
    let (_root, inter, _, _) = chain();
    let (l, k) = leaf_with(&["leaf.test"], Some(&inter), |p| {
        p.not_before = now() - time::Duration::days(100);
        p.not_after = now() - time::Duration::days(10);
    });
    let f = check_bundle(&bundle(vec![l], Some(&k)), &ctx());
    let e = find(&f, Code::CertExpired);
    assert_eq!(e.severity, Severity::Error);
    assert!(e.why.contains("#1 'leaf.test'"), "{}", e.why);
    assert!(e.why.contains("(leaf)"), "{}", e.why);
    assert!(e.why.contains("10 day(s) ago"), "{}", e.why);
    assert_eq!(find(&f, Code::ChainIncomplete).severity, Severity::Error);
    assert!(f[0].is_error() && f[1].is_error());
}

#[test]
fn expired_intermediate_is_named() {
    let root = ca("Test Root", None);
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "Old Intermediate");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.use_authority_key_identifier_extension = true;
    params.not_before = now() - time::Duration::days(400);
    params.not_after = now() - time::Duration::days(2);
    let cert = params.signed_by(&key, &root.issuer()).unwrap();
    let inter = Ca {
        info: CertInfo::parse(cert.der()).unwrap(),
        params,
        key,
    };
    let (l, k) = leaf(&inter);
    let f = check_bundle(&bundle(vec![l, inter.info], Some(&k)), &ctx_ca(&root));
    let e = find(&f, Code::CertExpired);
    assert!(e.why.contains("#2 'Old Intermediate'"), "{}", e.why);
    assert!(e.why.contains("(intermediate)"), "{}", e.why);
}

#[test]
fn not_yet_valid_says_when() {
    let root = ca("Test Root", None);
    let (l, k) = leaf_with(&["leaf.test"], Some(&root), |p| {
        p.not_before = now() + time::Duration::days(3);
    });
    let f = check_bundle(&bundle(vec![l], Some(&k)), &ctx_ca(&root));
    let e = find(&f, Code::CertNotYetValid);
    assert_eq!(e.severity, Severity::Error);
    assert!(e.why.contains("3 day(s) from now"), "{}", e.why);
}

#[test]
fn expiring_soon_gives_days_left() {
    let root = ca("Test Root", None);
    let (l, k) = leaf_with(&["leaf.test"], Some(&root), |p| {
        p.not_after = now() + time::Duration::days(10) + time::Duration::hours(1);
    });
    let f = check_bundle(&bundle(vec![l], Some(&k)), &ctx_ca(&root));
    let e = find(&f, Code::CertExpiringSoon);
    assert_eq!(e.severity, Severity::Warning);
    assert!(e.summary.contains("10 day(s)"), "{}", e.summary);
    assert!(e.why.contains("threshold 30 day(s)"), "{}", e.why);
    no_errors(&f);
}

#[test]
fn name_not_covered_lists_names_compared() {
    let root = ca("Test Root", None);
    let (l, k) = leaf_with(&["*.example.com", "10.0.0.1"], Some(&root), |_| {});
    let mut c = ctx_ca(&root);
    c.names = vec![
        "api.example.com".into(),
        "a.b.example.com".into(),
        "example.com".into(),
        "10.0.0.1".into(),
    ];
    let f = check_bundle(&bundle(vec![l], Some(&k)), &c);
    let missing: Vec<_> = f
        .iter()
        .filter(|x| x.code == Code::NameNotCovered)
        .collect();
    assert_eq!(missing.len(), 2, "{f:#?}");
    assert_eq!(missing[0].severity, Severity::Error);
    assert!(missing[0].summary.contains("'a.b.example.com'"));
    assert!(missing[1].summary.contains("'example.com'"));
    assert!(
        missing[0].why.contains("[*.example.com, 10.0.0.1]"),
        "{}",
        missing[0].why
    );
}

#[test]
fn wildcard_rules() {
    assert!(san_covers("*.example.com", "a.example.com"));
    assert!(san_covers("*.Example.com", "A.example.com."));
    assert!(!san_covers("*.example.com", "example.com"));
    assert!(!san_covers("*.example.com", "a.b.example.com"));
    assert!(!san_covers("*.example.com", ".example.com"));
    assert!(san_covers("::1", "[::1]"));
    assert!(san_covers("127.0.0.1", "127.0.0.1"));
    assert!(!san_covers("127.0.0.1", "127.0.0.2"));
    assert!(!san_covers("*", "localhost"));
}

#[test]
fn cn_only_certificate() {
    let root = ca("Test Root", None);
    let (l, k) = leaf_with(&[], Some(&root), |_| {});
    assert!(!l.has_san_extension);
    let f = check_bundle(&bundle(vec![l], Some(&k)), &ctx_ca(&root));
    let e = find(&f, Code::CertCnOnly);
    assert_eq!(e.severity, Severity::Error);
    assert!(e.why.contains("CN=leaf.test"), "{}", e.why);
}

#[test]
fn leaf_is_ca() {
    let root = ca("Test Root", None);
    let (l, k) = leaf_with(&["leaf.test"], Some(&root), |p| {
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained)
    });
    let f = check_bundle(&bundle(vec![l], Some(&k)), &ctx_ca(&root));
    let e = find(&f, Code::LeafIsCa);
    assert_eq!(e.severity, Severity::Error);
    assert!(e.why.contains("CA:TRUE"), "{}", e.why);
}

#[test]
fn eku_without_server_auth() {
    let root = ca("Test Root", None);
    let (l, k) = leaf_with(&["leaf.test"], Some(&root), |p| {
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth]
    });
    let f = check_bundle(&bundle(vec![l], Some(&k)), &ctx_ca(&root));
    let e = find(&f, Code::EkuMissingServerAuth);
    assert_eq!(e.severity, Severity::Error);
    assert!(e.why.contains("[clientAuth]"), "{}", e.why);
}

#[test]
fn weak_rsa_key() {
    // aws-lc-rs cannot generate RSA-1024: the check reads CertInfo, so weaken a parsed one.
    let root = ca("Test Root", None);
    let (mut l, k) = leaf(&root);
    l.key.algorithm = "RSA".into();
    l.key.bits = 1024;
    let f = check_bundle(&bundle(vec![l], Some(&k)), &ctx_ca(&root));
    let e = find(&f, Code::WeakRsaKey);
    assert_eq!(e.severity, Severity::Error);
    assert!(e.why.contains("1024 bits"), "{}", e.why);
}

#[test]
fn weak_signature_below_root_only() {
    let (root, inter, l, k) = chain();
    let mut l = l;
    l.signature_weak = true;
    l.signature_algorithm = "sha1WithRSAEncryption".into();
    let mut r = root.info.clone();
    r.signature_weak = true;
    let f = check_bundle(&bundle(vec![l, inter.info, r], Some(&k)), &ctx());
    let weak: Vec<_> = f.iter().filter(|x| x.code == Code::WeakSignature).collect();
    assert_eq!(weak.len(), 1, "{f:#?}");
    assert_eq!(weak[0].severity, Severity::Error);
    assert!(weak[0].why.contains("#1 'leaf.test'"), "{}", weak[0].why);
    assert!(
        weak[0].why.contains("sha1WithRSAEncryption"),
        "{}",
        weak[0].why
    );
}

#[test]
fn missing_aki_not_for_roots() {
    let root = ca("Test Root", None);
    let (l, k) = leaf_with(&["leaf.test"], Some(&root), |p| {
        p.use_authority_key_identifier_extension = false
    });
    assert!(l.authority_key_id.is_none());
    let f = check_bundle(&bundle(vec![l, root.info.clone()], Some(&k)), &ctx());
    let m: Vec<_> = f.iter().filter(|x| x.code == Code::MissingAki).collect();
    assert_eq!(m.len(), 1, "{f:#?}");
    assert_eq!(m[0].severity, Severity::Warning);
    assert!(m[0].why.contains("#1 'leaf.test'"), "{}", m[0].why);
    assert!(m[0].why.contains("Python 3.13"), "{}", m[0].why);
}

#[test]
fn self_signed_leaf() {
    let (l, k) = leaf_with(&["leaf.test"], None, |_| {});
    let f = check_bundle(&bundle(vec![l.clone()], Some(&k)), &ctx());
    let s = find(&f, Code::SelfSignedLeaf);
    assert_eq!(s.severity, Severity::Warning);
    assert!(s.why.contains("its own issuer"), "{}", s.why);
    assert!(!codes(&f).contains(&Code::ChainIncomplete));
    assert!(!codes(&f).contains(&Code::ChainIncludesRoot));
    assert!(!codes(&f).contains(&Code::MissingAki));
    // Trusted explicitly: still a warning, stated as given.
    let c = CheckContext {
        extra_roots: vec![l.clone()],
        ..ctx()
    };
    let f = check_bundle(&bundle(vec![l], Some(&k)), &c);
    assert!(find(&f, Code::SelfSignedLeaf)
        .why
        .contains("given as ca:/--ca"));
    no_errors(&f);
}

#[test]
fn validity_too_long_is_info() {
    let root = ca("Test Root", None);
    let (l, k) = leaf_with(&["leaf.test"], Some(&root), |p| {
        p.not_after = now() + time::Duration::days(800)
    });
    let f = check_bundle(&bundle(vec![l], Some(&k)), &ctx_ca(&root));
    let v = find(&f, Code::ValidityTooLong);
    assert_eq!(v.severity, Severity::Info);
    assert!(v.summary.contains("801 days"), "{}", v.summary);
    no_errors(&f);
}

fn write(dir: &Path, name: &str, content: &[u8], mode: u32) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    p
}

fn pem_of(c: &CertInfo) -> String {
    let b64 = base64_lines(c.der.as_ref());
    format!("-----BEGIN CERTIFICATE-----\n{b64}-----END CERTIFICATE-----\n")
}

fn base64_lines(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                s.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    let mut out = String::new();
    for line in s.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push('\n');
    }
    out
}

#[cfg(unix)]
#[test]
fn key_file_permissions_and_load_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let root = ca("Test Root", None);
    let (l, k) = leaf(&root);
    let cert = write(dir.path(), "cert.pem", pem_of(&l).as_bytes(), 0o644);
    let key = write(dir.path(), "key.pem", k.serialize_pem().as_bytes(), 0o644);
    let b = load_bundle(std::slice::from_ref(&cert), Some(&key));
    assert!(b.fatal.is_empty(), "{:#?}", b.fatal);
    assert_eq!(b.key_mode, Some(0o644));
    let f = check_bundle(&b, &ctx_ca(&root));
    let p = find(&f, Code::KeyFilePermissions);
    assert_eq!(p.severity, Severity::Warning);
    assert!(p.why.contains("0644"), "{}", p.why);
    assert!(p.fix.contains("chmod 600"), "{}", p.fix);
    no_errors(&f);

    // Key in the same file as the certificate, owner-only: no permission finding.
    let both = write(
        dir.path(),
        "both.pem",
        format!("{}{}", pem_of(&l), k.serialize_pem()).as_bytes(),
        0o600,
    );
    let b = load_bundle(&[both], None);
    assert!(b.key_spki.is_some());
    let f = check_bundle(&b, &ctx_ca(&root));
    assert!(!codes(&f).contains(&Code::KeyFilePermissions));
    no_errors(&f);
}

#[test]
fn load_bundle_fatal_findings() {
    let dir = tempfile::tempdir().unwrap();
    let root = ca("Test Root", None);
    let (l, k) = leaf(&root);
    let cert = write(dir.path(), "cert.pem", pem_of(&l).as_bytes(), 0o600);

    let b = load_bundle(&[dir.path().join("missing.pem")], None);
    assert_eq!(codes(&b.fatal), vec![Code::CertFileUnreadable]);

    let csr = CertificateParams::new(vec!["a.test".to_string()])
        .unwrap()
        .serialize_request(&k)
        .unwrap()
        .pem()
        .unwrap();
    let csr = write(dir.path(), "req.pem", csr.as_bytes(), 0o600);
    let b = load_bundle(&[csr], None);
    assert_eq!(codes(&b.fatal), vec![Code::CertNotFoundInFile]);
    assert!(b.fatal[0].why.contains("CERTIFICATE REQUEST"));

    let enc = write(
        dir.path(),
        "enc.pem",
        b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n",
        0o600,
    );
    let b = load_bundle(std::slice::from_ref(&cert), Some(&enc));
    assert_eq!(codes(&b.fatal), vec![Code::KeyEncrypted]);
    let b = load_bundle(&[cert.clone(), enc], None);
    assert_eq!(codes(&b.fatal), vec![Code::KeyEncrypted]);

    let b = load_bundle(std::slice::from_ref(&cert), Some(&cert));
    assert_eq!(codes(&b.fatal), vec![Code::KeyNotFoundInFile]);

    // A PKCS#8 block that is not a key rustls can use.
    let bogus = write(
        dir.path(),
        "bogus.pem",
        b"-----BEGIN PRIVATE KEY-----\nMAMCAQA=\n-----END PRIVATE KEY-----\n",
        0o600,
    );
    let b = load_bundle(std::slice::from_ref(&cert), Some(&bogus));
    assert_eq!(codes(&b.fatal), vec![Code::KeyUnsupported]);
    let f = check_bundle(&b, &ctx_ca(&root));
    assert_eq!(f[0].code, Code::KeyUnsupported);

    // Garbage never panics.
    let junk = write(
        dir.path(),
        "junk.pem",
        &[0x30, 0x82, 0xff, 0xff, 0x00, 0xc3],
        0o600,
    );
    let b = load_bundle(&[junk], None);
    assert_eq!(codes(&b.fatal), vec![Code::CertNotFoundInFile]);
    assert!(!check_bundle(&b, &ctx()).is_empty());
}

#[test]
fn served_dev_certificate_is_clean() {
    let dir = tempfile::tempdir().unwrap();
    let d = crate::certs::devca::ensure_dev_certs(dir.path(), &[], false).unwrap();
    let loaded = crate::certs::served::load(&crate::config::CertificateSource {
        cert: d.cert.clone(),
        key: d.key.clone(),
        ca: Some(d.ca_cert.clone()),
        names: Some(vec!["localhost".into()]),
    })
    .unwrap();
    let f = check_served(&loaded, &ctx());
    no_errors(&f);
    assert_eq!(codes(&f), vec![Code::ChainPrivateRoot], "{f:#?}");
    let mut c = ctx();
    c.names = vec!["other.test".into()];
    let f = check_served(&loaded, &c);
    assert!(codes(&f).contains(&Code::NameNotCovered));
}

#[test]
fn chain_summary_describes_the_path() {
    let (root, inter, l, k) = chain();
    let b = bundle(vec![l, inter.info], Some(&k));
    let s = chain_summary(&b, &ctx_ca(&root));
    assert!(
        s.contains("'leaf.test' -> 'Test Intermediate' -> trusted by the private root 'Test Root'"),
        "{s}"
    );
}

#[test]
fn der_helpers_round_trip() {
    let root = ca("Test Root", None);
    let inner = der_contents(&root.info.subject_raw).unwrap();
    assert_eq!(der_sequence(inner), root.info.subject_raw);
    let long = vec![0u8; 300];
    assert_eq!(der_contents(&der_sequence(&long)).unwrap(), &long[..]);
    assert!(der_contents(&[0x30, 0x05, 0x00]).is_none());
    assert!(der_contents(&[0x30, 0x84, 0xff]).is_none());
}

#[test]
fn forged_issuer_link_is_not_followed() {
    // Same names and key ids as the real intermediate, different key: the signature says no.
    let (root, inter, l, k) = chain();
    let fake = {
        let key = KeyPair::generate().unwrap();
        let cert = inter.params.signed_by(&key, &root.issuer()).unwrap();
        CertInfo::parse(cert.der()).unwrap()
    };
    let mut forged = fake.clone();
    forged.subject_key_id = inter.info.subject_key_id.clone();
    assert!(forged.issued(&l));
    assert!(!links(&forged, &l));
    let f = check_bundle(&bundle(vec![l, forged], Some(&k)), &ctx_ca(&root));
    assert!(codes(&f).contains(&Code::ChainIncomplete), "{f:#?}");
}
