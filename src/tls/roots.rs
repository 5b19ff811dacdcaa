//! Trust stores: the system store (honours SSL_CERT_FILE / SSL_CERT_DIR), the bundled webpki
//! roots, and CA files named in the configuration, each built once and kept apart so a
//! diagnosis can say which store trusts a chain.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::RootCertStore;

use crate::config::{RootStore, UpstreamTls};

/// Why a CA file cannot be used as a trust store. The text starts with the path.
#[derive(Debug, thiserror::Error)]
pub enum CaFileError {
    #[error("{}: {source}", path.display())]
    Read { path: PathBuf, source: pem::Error },
    #[error("{}: no certificate found in the file", path.display())]
    NoCertificate { path: PathBuf },
    #[error("{}: no usable CA certificate in the file", path.display())]
    NoUsableCertificate { path: PathBuf },
}

/// Why the trust stores of an upstream cannot be built. The text starts with the setting.
#[derive(Debug, thiserror::Error)]
pub enum TrustStoreError {
    #[error("tls.ca_bundle {0}")]
    CaBundle(#[source] CaFileError),
}

/// One trust store that was consulted, with its anchors.
#[derive(Debug, Clone)]
pub struct TrustStore {
    /// `system`, `webpki` or `ca_bundle` (`ca` for `probe --ca`).
    pub name: String,
    pub roots: Arc<RootCertStore>,
}

impl TrustStore {
    pub fn new(name: impl Into<String>, roots: RootCertStore) -> Self {
        TrustStore {
            name: name.into(),
            roots: Arc::new(roots),
        }
    }

    /// Whether an anchor of this store has the subject `name_raw` (a DER Name, with or without
    /// its outer SEQUENCE header).
    pub fn has_subject(&self, name_raw: &[u8]) -> bool {
        let want = name_contents(name_raw);
        self.roots
            .roots
            .iter()
            .any(|a| name_contents(a.subject.as_ref()) == want)
    }

    /// The public keys (DER SubjectPublicKeyInfo) of the anchors whose subject is `name_raw`.
    pub fn keys_named(&self, name_raw: &[u8]) -> Vec<Vec<u8>> {
        let want = name_contents(name_raw);
        self.roots
            .roots
            .iter()
            .filter(|a| name_contents(a.subject.as_ref()) == want)
            .map(|a| der_sequence(a.subject_public_key_info.as_ref()))
            .collect()
    }

    /// Whether `leaf` (with `intermediates`) verifies to an anchor of this store at `at`.
    pub fn verifies(
        &self,
        leaf: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'static>],
        at: UnixTime,
    ) -> bool {
        if self.roots.is_empty() {
            return false;
        }
        let Ok(parsed) = rustls::server::ParsedCertificate::try_from(leaf) else {
            return false;
        };
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &parsed,
            &self.roots,
            intermediates,
            at,
            super::provider().signature_verification_algorithms.all,
        )
        .is_ok()
    }
}

/// The bundled public roots (webpki-roots) as a store.
pub fn webpki_store() -> TrustStore {
    static STORE: std::sync::OnceLock<TrustStore> = std::sync::OnceLock::new();
    STORE
        .get_or_init(|| {
            let mut roots = RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            TrustStore::new("webpki", roots)
        })
        .clone()
}

/// The system trust store, loaded once (honours SSL_CERT_FILE / SSL_CERT_DIR).
pub fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| rustls_native_certs::load_native_certs().certs)
}

/// Builds the root store an upstream is verified against.
pub fn root_store(tls: &UpstreamTls) -> Result<RootCertStore, TrustStoreError> {
    Ok(merged_roots(&trust_stores(tls)?))
}

/// One root store holding the anchors of every store given.
pub fn merged_roots(stores: &[TrustStore]) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    for store in stores {
        roots.roots.extend(store.roots.roots.iter().cloned());
    }
    roots
}

/// The trust stores an upstream is verified against, each on its own (`webpki`, `system`,
/// `ca_bundle`), so a diagnosis can say which one trusts a chain.
pub fn trust_stores(tls: &UpstreamTls) -> Result<Vec<TrustStore>, TrustStoreError> {
    let mut out = Vec::new();
    for store in &tls.roots {
        match store {
            RootStore::Webpki => out.push(webpki_store()),
            RootStore::System => out.push(system_store()),
        }
    }
    if let Some(path) = &tls.ca_bundle {
        out.push(ca_file_store("ca_bundle", path).map_err(TrustStoreError::CaBundle)?);
    }
    Ok(out)
}

/// The system roots as a store, built once (every upstream and every periodic check uses it).
pub fn system_store() -> TrustStore {
    static STORE: OnceLock<TrustStore> = OnceLock::new();
    STORE
        .get_or_init(|| {
            let mut roots = RootCertStore::empty();
            // Certificates the parser cannot use are skipped, as every OS bundle has some.
            let _ = roots.add_parsable_certificates(system_roots().iter().cloned());
            TrustStore::new("system", roots)
        })
        .clone()
}

/// A PEM file of CA certificates as a store named `name`. Errors start with the path.
pub fn ca_file_store(name: &str, path: &Path) -> Result<TrustStore, CaFileError> {
    let read = |source| CaFileError::Read {
        path: path.to_path_buf(),
        source,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(read)?
        .collect::<Result<_, _>>()
        .map_err(read)?;
    if certs.is_empty() {
        return Err(CaFileError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(CaFileError::NoUsableCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(TrustStore::new(name, roots))
}

/// A DER SEQUENCE around `contents` (trust anchors keep their SubjectPublicKeyInfo without it).
fn der_sequence(contents: &[u8]) -> Vec<u8> {
    let len = contents.len();
    let mut out = vec![0x30];
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(contents);
    out
}

/// The contents of a DER Name: strips the outer SEQUENCE header when present.
pub fn name_contents(raw: &[u8]) -> &[u8] {
    if raw.len() < 2 || raw[0] != 0x30 {
        return raw;
    }
    let (len, hdr) = match raw[1] {
        n if n < 0x80 => (n as usize, 2),
        0x81 if raw.len() > 2 => (raw[2] as usize, 3),
        0x82 if raw.len() > 3 => (((raw[2] as usize) << 8) | raw[3] as usize, 4),
        _ => return raw,
    };
    if hdr + len == raw.len() {
        &raw[hdr..]
    } else {
        raw
    }
}
