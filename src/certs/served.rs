//! Loading a listener certificate (cert chain + key + optional private root) into what rustls
//! serves, refusing only material that cannot be served at all.
//!
//! The refusals are docs/spec.md's list: unreadable files, no certificate, no key, an encrypted or
//! unsupported key, a key that does not match the leaf (or matches a certificate other than the
//! first). Everything else (expiry, incomplete chain, …) is the checks' business: it serves,
//! loudly.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use time::OffsetDateTime;

use super::info::CertInfo;
use super::pem::PemFile;
use crate::config::CertificateSource;
use crate::findings::{Code, Finding};

/// A certificate ready to serve, with what is known about it.
#[derive(Debug, Clone)]
pub struct LoadedCertificate {
    pub source: CertificateSource,
    pub certified_key: Arc<CertifiedKey>,
    /// The chain as sent, leaf first.
    pub chain: Vec<CertInfo>,
    /// Trust anchors from `ca:` (never sent).
    pub ca: Vec<CertInfo>,
    /// SNI names this certificate is served for: configured `names`, else its SANs.
    pub names: Vec<String>,
    /// Permission bits of the key file, where known.
    pub key_mode: Option<u32>,
    pub loaded_at: OffsetDateTime,
}

impl LoadedCertificate {
    pub fn leaf(&self) -> &CertInfo {
        // `load` never builds an empty chain.
        &self.chain[0]
    }

    pub fn fingerprint(&self) -> &str {
        &self.leaf().fingerprint_sha256
    }
}

/// Reads, parses and pairs a configured certificate and key.
pub fn load(src: &CertificateSource) -> Result<LoadedCertificate, Vec<Finding>> {
    load_with(src, &PemFile::read)
}

/// As [`load`], with the files read by `read` (a reload reads from a stable snapshot so the
/// bytes validated are the bytes served).
pub fn load_with(
    src: &CertificateSource,
    read: &dyn Fn(&Path) -> Result<PemFile, Finding>,
) -> Result<LoadedCertificate, Vec<Finding>> {
    let cert_file = read(&src.cert).map_err(|f| vec![f])?;
    let key_file_separate = if src.key == src.cert {
        None
    } else {
        Some(read(&src.key).map_err(|f| vec![f])?)
    };
    let key_file = key_file_separate.as_ref().unwrap_or(&cert_file);
    if cert_file.certs.is_empty() {
        return Err(vec![cert_file.no_certificate_finding()]);
    }
    let Some(key) = key_file.keys.first().map(|k| k.clone_key()) else {
        return Err(vec![key_file.no_key_finding()]);
    };
    let chain = parse_chain(&cert_file.certs, &src.cert)?;
    let signing_key = signing_key(&key, &src.key)?;
    check_key_matches(&chain, signing_key.as_ref(), src)?;

    let ca = match &src.ca {
        Some(path) => read_certificates(path, read)?,
        None => Vec::new(),
    };

    let names = match &src.names {
        Some(n) if !n.is_empty() => n.iter().map(|s| s.to_ascii_lowercase()).collect(),
        _ => chain[0]
            .sans
            .iter()
            .map(|s| s.to_ascii_lowercase())
            .collect(),
    };
    let certified_key = Arc::new(CertifiedKey::new(
        chain.iter().map(|c| c.der.clone()).collect(),
        signing_key,
    ));
    Ok(LoadedCertificate {
        source: src.clone(),
        certified_key,
        chain,
        ca,
        names,
        key_mode: key_file.mode,
        loaded_at: OffsetDateTime::now_utc(),
    })
}

/// Reads a file that must hold certificates (a CA file): unreadable, empty or unparsable is a
/// finding.
pub fn read_certificates(
    path: &Path,
    read: &dyn Fn(&Path) -> Result<PemFile, Finding>,
) -> Result<Vec<CertInfo>, Vec<Finding>> {
    let f = read(path).map_err(|f| vec![f])?;
    if f.certs.is_empty() {
        return Err(vec![f.no_certificate_finding()]);
    }
    parse_chain(&f.certs, path)
}

/// Parses every certificate of a file; a block that is not X.509 makes the file unusable.
pub fn parse_chain(
    certs: &[CertificateDer<'static>],
    path: &Path,
) -> Result<Vec<CertInfo>, Vec<Finding>> {
    certs
        .iter()
        .enumerate()
        .map(|(i, der)| {
            CertInfo::parse(der).map_err(|e| {
                vec![Finding::new(
                    Code::CertNotFoundInFile,
                    format!(
                        "certificate #{} in {} cannot be parsed",
                        i + 1,
                        path.display()
                    ),
                    format!("{}: {e}", path.display()),
                    "replace the file with the certificate your CA issued (PEM, leaf first)",
                )]
            })
        })
        .collect()
}

fn signing_key(
    key: &PrivateKeyDer<'static>,
    path: &Path,
) -> Result<Arc<dyn rustls::sign::SigningKey>, Vec<Finding>> {
    crate::tls::provider()
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|e| {
            vec![Finding::new(
                Code::KeyUnsupported,
                format!("the private key in {} cannot be used", path.display()),
                format!("rustls (aws-lc-rs) rejected the key: {e}"),
                "use an ECDSA P-256/P-384, Ed25519 or RSA (2048+ bits) key in PKCS#8, PKCS#1 or SEC1 PEM",
            )]
        })
}

/// Compares the key's public half with the leaf's; on mismatch, says whether it matches another
/// certificate of the file (then the leaf is simply not first).
fn check_key_matches(
    chain: &[CertInfo],
    key: &dyn rustls::sign::SigningKey,
    src: &CertificateSource,
) -> Result<(), Vec<Finding>> {
    let Some(public) = key.public_key() else {
        // The provider cannot tell us the public key: nothing to compare, let rustls decide.
        return Ok(());
    };
    let matches = |c: &CertInfo| c.spki_der.as_slice() == public.as_ref();
    if matches(&chain[0]) {
        return Ok(());
    }
    let cert = src.cert.display();
    let key_path = src.key.display();
    if let Some(pos) = chain.iter().position(matches) {
        return Err(vec![Finding::new(
            Code::ChainLeafNotFirst,
            format!(
                "the certificate matching the key is #{} in {cert}, not the first",
                pos + 1
            ),
            format!(
                "{key_path} matches '{}' (#{} of {}); the first certificate is '{}'",
                chain[pos].display_name(),
                pos + 1,
                chain.len(),
                chain[0].display_name()
            ),
            format!(
                "reorder {cert}: the leaf ('{}') first, then each issuer in turn",
                chain[pos].display_name()
            ),
        )]);
    }
    Err(vec![Finding::new(
        Code::KeyMismatch,
        format!("the private key {key_path} does not belong to the certificate {cert}"),
        format!(
            "the key's public key matches none of the {} certificate(s) in {cert} (leaf: '{}', fingerprint {})",
            chain.len(),
            chain[0].display_name(),
            chain[0].fingerprint_sha256
        ),
        "use the key generated with this certificate's request (after a renewal, cert and key must come from the same issuance); compare: openssl x509 -noout -pubkey -in CERT | openssl sha256 and openssl pkey -pubout -in KEY | openssl sha256",
    )])
}

#[cfg(test)]
mod tests;
