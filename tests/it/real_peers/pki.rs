//! Certificates generated at test time with rcgen into a tempdir: a root, an intermediate it
//! signs, a second root nobody trusts, and leaves with any names and validity.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

pub const ROOT_CN: &str = "tlsgate peers root";
pub const INTERMEDIATE_CN: &str = "tlsgate peers intermediate";
pub const UNTRUSTED_CN: &str = "tlsgate peers untrusted root";
/// The caIssuers URL put in leaves signed by the intermediate (never fetched: port 9).
pub const AIA_URL: &str = "http://127.0.0.1:9/intermediate.der";

pub struct Ca {
    params: CertificateParams,
    key: KeyPair,
    pub pem: String,
}

impl Ca {
    fn issuer(&self) -> Issuer<'_, &KeyPair> {
        Issuer::from_params(&self.params, &self.key)
    }
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.distinguished_name
        .push(DnType::OrganizationName, "tlsgate real-peer tests");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = OffsetDateTime::now_utc();
    p.not_before = now - Duration::days(400);
    p.not_after = now + Duration::days(3650);
    p
}

fn new_root(cn: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let params = ca_params(cn);
    let pem = params.self_signed(&key).unwrap().pem();
    Ca { params, key, pem }
}

/// Which CA signs a leaf.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignedBy {
    /// The intermediate (the leaf's chain is leaf + intermediate, to the trusted root).
    Intermediate,
    /// A root no client and no tlsgate is told about.
    Untrusted,
}

/// A leaf's validity window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validity {
    Current,
    /// Expired 30 days ago.
    Expired,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Usage {
    Server,
    Client,
}

/// An issued leaf.
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    /// The leaf followed by the intermediate when it signed the leaf.
    pub chain_pem: String,
}

pub struct Pki {
    pub dir: tempfile::TempDir,
    pub root: Ca,
    pub intermediate: Ca,
    pub untrusted: Ca,
}

/// AuthorityInfoAccess with one caIssuers URI (short URLs: one-byte DER lengths).
fn aia(url: &str) -> CustomExtension {
    let method = [0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x02];
    let mut access = vec![0x30, (method.len() + 2 + url.len()) as u8];
    access.extend_from_slice(&method);
    access.push(0x86);
    access.push(url.len() as u8);
    access.extend_from_slice(url.as_bytes());
    let mut seq = vec![0x30, access.len() as u8];
    seq.extend_from_slice(&access);
    CustomExtension::from_oid_content(&[1, 3, 6, 1, 5, 5, 7, 1, 1], seq)
}

impl Pki {
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = new_root(ROOT_CN);
        let key = KeyPair::generate().unwrap();
        let params = ca_params(INTERMEDIATE_CN);
        let mut p2 = params.clone();
        p2.use_authority_key_identifier_extension = true;
        let pem = p2.signed_by(&key, &root.issuer()).unwrap().pem();
        let intermediate = Ca { params, key, pem };
        let untrusted = new_root(UNTRUSTED_CN);
        let pki = Pki {
            dir,
            root,
            intermediate,
            untrusted,
        };
        pki.write("root.pem", &pki.root.pem);
        pki.write("untrusted-root.pem", &pki.untrusted.pem);
        pki
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, contents).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
        p
    }

    pub fn root_path(&self) -> PathBuf {
        self.path("root.pem")
    }

    /// A leaf for `names` (DNS names or IP literals).
    pub fn leaf(&self, names: &[&str], by: SignedBy, validity: Validity, usage: Usage) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
        p.distinguished_name
            .push(DnType::CommonName, names.first().copied().unwrap_or("leaf"));
        p.is_ca = IsCa::ExplicitNoCa;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![match usage {
            Usage::Server => ExtendedKeyUsagePurpose::ServerAuth,
            Usage::Client => ExtendedKeyUsagePurpose::ClientAuth,
        }];
        p.use_authority_key_identifier_extension = true;
        let now = OffsetDateTime::now_utc();
        match validity {
            Validity::Current => {
                p.not_before = now - Duration::days(10);
                p.not_after = now + Duration::days(80);
            }
            Validity::Expired => {
                p.not_before = now - Duration::days(120);
                p.not_after = now - Duration::days(30);
            }
        }
        let ca = match by {
            SignedBy::Intermediate => {
                p.custom_extensions.push(aia(AIA_URL));
                &self.intermediate
            }
            SignedBy::Untrusted => &self.untrusted,
        };
        let cert_pem = p.signed_by(&key, &ca.issuer()).unwrap().pem();
        let chain_pem = if by == SignedBy::Intermediate {
            format!("{cert_pem}{}", self.intermediate.pem)
        } else {
            cert_pem.clone()
        };
        Leaf {
            cert_pem,
            key_pem: key.serialize_pem(),
            chain_pem,
        }
    }

    /// Writes `<stem>.crt` (the chain, or the leaf alone when `full_chain` is false) and
    /// `<stem>.key`; returns both paths.
    pub fn write_leaf(&self, stem: &str, leaf: &Leaf, full_chain: bool) -> (PathBuf, PathBuf) {
        let c = self.write(
            &format!("{stem}.crt"),
            if full_chain {
                &leaf.chain_pem
            } else {
                &leaf.cert_pem
            },
        );
        let k = self.write(&format!("{stem}.key"), &leaf.key_pem);
        // As a deployment would have it (tlsgate warns about group/other-readable keys, and
        // that warning would become a candidate cause in every diagnosis).
        std::fs::set_permissions(&k, std::fs::Permissions::from_mode(0o600)).unwrap();
        (c, k)
    }
}

/// A path as a double-quoted YAML / nginx / HAProxy string.
pub fn quoted(p: &Path) -> String {
    format!(
        "\"{}\"",
        p.display()
            .to_string()
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
    )
}
