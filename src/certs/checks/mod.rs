//! The local certificate checks: everything docs/spec.md's "Local certificates and keys" table
//! asks of a bundle (certificates in the order they are sent, an optional private key), as a pure
//! function of the bundle and a [`CheckContext`].
//!
//! API:
//! - [`load_bundle`] reads files into a [`Bundle`]; what makes the material unusable (unreadable
//!   file, no certificate, no key where one is configured, encrypted or unsupported key) is kept
//!   in [`Bundle::fatal`].
//! - [`check_bundle`] returns every finding that applies (the fatal ones first), sorted most
//!   important first.
//! - [`check_served`] does the same for an already-loaded listener certificate (the serve path).
//!
//! Trust: a chain is followed from the leaf through the bundle's certificates to an anchor: a
//! root given by `ca:`/`--ca` ([`CheckContext::extra_roots`]), the system store (rustls-native-certs,
//! honouring `SSL_CERT_FILE`/`SSL_CERT_DIR`) and the bundled webpki roots. Issuer links are made by
//! name and key identifier and confirmed by verifying the signature where the algorithm allows.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use time::OffsetDateTime;
use x509_parser::error::X509Error;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::x509::SubjectPublicKeyInfo;

use super::info::{format_time, CertInfo};
use super::pem::PemFile;
use super::served::{parse_chain, LoadedCertificate};
use crate::findings::{sort_by_importance, Code, Finding};

/// What is checked: certificates in the order they are sent and, if known, the private key.
#[derive(Debug, Clone, Default)]
pub struct Bundle {
    /// The files the bundle was read from, in order.
    pub files: Vec<PathBuf>,
    /// Every certificate of every file, in file order.
    pub certs: Vec<CertInfo>,
    /// The file each certificate came from (same length as `certs`; may be empty, then
    /// `files[0]` is assumed).
    pub origins: Vec<PathBuf>,
    /// The DER SubjectPublicKeyInfo of the private key, comparable with `CertInfo::spki_der`.
    pub key_spki: Option<Vec<u8>>,
    /// The file holding the key.
    pub key_file: Option<PathBuf>,
    /// Permission bits of the key file, where known.
    pub key_mode: Option<u32>,
    /// Findings that make the material unusable (reported first by `check_bundle`).
    pub fatal: Vec<Finding>,
}

/// What the bundle is checked against.
#[derive(Debug, Clone)]
pub struct CheckContext {
    /// Names the certificate must cover (configured `names`, `--name`).
    pub names: Vec<String>,
    /// Private trust anchors (`ca:`, `--ca`); never sent to clients.
    pub extra_roots: Vec<CertInfo>,
    /// Warn when a certificate expires within this.
    pub expiry_warning: Duration,
    pub now: OffsetDateTime,
    /// Consult the system trust store.
    pub system_roots: bool,
    /// Consult the bundled webpki roots.
    pub webpki_roots: bool,
}

impl CheckContext {
    /// The context for a running listener: the configured expiry warning, both public stores.
    pub fn for_config(cfg: &crate::config::Config) -> CheckContext {
        CheckContext {
            expiry_warning: cfg.diagnostics.expiry_warning.get(),
            ..CheckContext::default()
        }
    }
}

impl Default for CheckContext {
    fn default() -> Self {
        CheckContext {
            names: Vec::new(),
            extra_roots: Vec::new(),
            expiry_warning: Duration::from_secs(30 * 86_400),
            now: OffsetDateTime::now_utc(),
            system_roots: true,
            webpki_roots: true,
        }
    }
}

/// Reads certificate files (and an optional separate key file) into a bundle. The key may be in
/// any of the files; without `key_file` a bundle with no key is fine (certificate-only checks),
/// but an encrypted key in any file is reported.
pub fn load_bundle(cert_files: &[PathBuf], key_file: Option<&Path>) -> Bundle {
    let mut b = Bundle {
        files: cert_files.to_vec(),
        ..Bundle::default()
    };
    let mut key: Option<(
        rustls::pki_types::PrivateKeyDer<'static>,
        PathBuf,
        Option<u32>,
    )> = None;
    let mut encrypted: Option<Finding> = None;
    let mut empty_files: Vec<Finding> = Vec::new();

    for path in cert_files {
        let file = match PemFile::read(path) {
            Ok(f) => f,
            Err(f) => {
                b.fatal.push(f);
                continue;
            }
        };
        match parse_chain(&file.certs, path) {
            Ok(chain) => {
                for c in chain {
                    b.certs.push(c);
                    b.origins.push(path.clone());
                }
            }
            Err(mut f) => b.fatal.append(&mut f),
        }
        if key.is_none() && key_file.is_none() {
            if let Some(k) = file.keys.first() {
                key = Some((k.clone_key(), path.clone(), file.mode));
            }
        }
        if file.encrypted_key && file.keys.is_empty() && encrypted.is_none() {
            encrypted = Some(file.no_key_finding());
        }
        if file.certs.is_empty() && file.keys.is_empty() && !file.encrypted_key {
            empty_files.push(file.no_certificate_finding());
        }
    }

    if let Some(kp) = key_file {
        b.key_file = Some(kp.to_path_buf());
        match PemFile::read(kp) {
            Err(f) => b.fatal.push(f),
            Ok(f) => match f.keys.first() {
                Some(k) => key = Some((k.clone_key(), kp.to_path_buf(), f.mode)),
                None => b.fatal.push(f.no_key_finding()),
            },
        }
    } else if key.is_none() {
        if let Some(f) = encrypted {
            b.fatal.push(f);
        }
    }

    // A file that holds nothing usable (a CSR, DER, garbage) is an error even when another file
    // of the bundle has certificates: it was given for a reason.
    b.fatal.append(&mut empty_files);
    if b.certs.is_empty()
        && !b
            .fatal
            .iter()
            .any(|f| matches!(f.code, Code::CertNotFoundInFile | Code::CertFileUnreadable))
    {
        let first = cert_files.first().cloned().unwrap_or_default();
        b.fatal.push(Finding::new(
            Code::CertNotFoundInFile,
            "no certificate in the files given",
            format!(
                "{} hold(s) no CERTIFICATE block",
                cert_files
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            format!(
                "add the certificate (leaf first, then intermediates) to {}",
                first.display()
            ),
        ));
    }

    if let Some((der, path, mode)) = key {
        b.key_mode = mode;
        if b.key_file.is_none() {
            b.key_file = Some(path.clone());
        }
        match crate::tls::provider()
            .key_provider
            .load_private_key(der)
        {
            Ok(sk) => b.key_spki = sk.public_key().map(|p| p.as_ref().to_vec()),
            Err(e) => b.fatal.push(Finding::new(
                Code::KeyUnsupported,
                format!("the private key in {} cannot be used", path.display()),
                format!("rustls (aws-lc-rs) rejected the key: {e}"),
                "use an ECDSA P-256/P-384, Ed25519 or RSA (2048+ bits) key in PKCS#8, PKCS#1 or SEC1 PEM",
            )),
        }
    }
    b
}

/// Builds a bundle from a loaded listener certificate and checks it: `ca:` roots are added to the
/// context's extra roots and the configured `names` are checked when the context names none.
pub fn check_served(loaded: &LoadedCertificate, ctx: &CheckContext) -> Vec<Finding> {
    let bundle = Bundle {
        files: vec![loaded.source.cert.clone()],
        certs: loaded.chain.clone(),
        origins: vec![loaded.source.cert.clone(); loaded.chain.len()],
        key_spki: loaded
            .certified_key
            .key
            .public_key()
            .map(|p| p.as_ref().to_vec()),
        key_file: Some(loaded.source.key.clone()),
        key_mode: loaded.key_mode,
        fatal: Vec::new(),
    };
    let mut ctx = ctx.clone();
    ctx.extra_roots.extend(loaded.ca.iter().cloned());
    if ctx.names.is_empty() {
        ctx.names = loaded.source.names.clone().unwrap_or_default();
    }
    check_bundle(&bundle, &ctx)
}

/// Runs every local check on the bundle. Returns all findings that apply (including
/// `bundle.fatal`), most important first.
pub fn check_bundle(b: &Bundle, ctx: &CheckContext) -> Vec<Finding> {
    let mut out = b.fatal.clone();
    if b.certs.is_empty() {
        check_key_permissions(b, &mut out);
        sort_by_importance(&mut out);
        return out;
    }
    let leaf_idx = check_key(b, &mut out);
    let uniq = check_duplicates(b, &mut out);
    check_order(b, &uniq, &mut out);
    let path_end = check_trust(b, &uniq, leaf_idx, ctx, &mut out);
    check_validity(b, &uniq, &path_end, ctx, &mut out);
    let leaf = &b.certs[leaf_idx];
    check_names(leaf, ctx, &mut out);
    check_leaf_profile(leaf, ctx, &mut out);
    check_algorithms(b, &uniq, &mut out);
    check_key_permissions(b, &mut out);
    sort_by_importance(&mut out);
    out
}

/// One line describing the path found from the leaf to a trust anchor, for reports: e.g.
/// `leaf 'a.test' -> 'Intermediate' -> trusted by 'Root' (the system trust store)`.
pub fn chain_summary(b: &Bundle, ctx: &CheckContext) -> String {
    if b.certs.is_empty() {
        return "no certificate".into();
    }
    let leaf_idx = b
        .key_spki
        .as_ref()
        .and_then(|k| b.certs.iter().position(|c| &c.spki_der == k))
        .unwrap_or(0);
    let mut uniq: Vec<usize> = Vec::new();
    for i in 0..b.certs.len() {
        if !uniq
            .iter()
            .any(|&j| b.certs[j].fingerprint_sha256 == b.certs[i].fingerprint_sha256)
        {
            uniq.push(i);
        }
    }
    let end = follow(b, &uniq, leaf_idx, ctx);
    let names: Vec<String> = end
        .path
        .iter()
        .map(|&i| format!("'{}'", b.certs[i].display_name()))
        .collect();
    let tail = match (&end.anchor, end.untrusted_root, end.missing_issuer_of) {
        (Some(Anchor::Private(r)), _, _) => {
            format!(
                "trusted by the private root '{}' (ca:/--ca)",
                r.display_name()
            )
        }
        (Some(Anchor::Public(name, store)), _, _) => format!("trusted by '{name}' ({store})"),
        (None, Some(_), _) => "ends at a root no trust store consulted has".to_string(),
        (None, None, Some(m)) => format!("issuer '{}' not found", b.certs[m].issuer_display_name()),
        (None, None, None) => "not trusted".to_string(),
    };
    format!("{} -> {tail}", names.join(" -> "))
}

mod algorithms;
mod chain;
mod key;
mod names;
mod trust;
mod validity;

use self::algorithms::*;
use self::chain::*;
use self::key::*;
pub use self::names::*;
pub use self::trust::*;
use self::validity::*;

// ---------------------------------------------------------------------------------------------
// Labels

fn label(b: &Bundle, i: usize) -> String {
    let c = &b.certs[i];
    let file = b
        .origins
        .get(i)
        .or_else(|| b.files.first())
        .map(|p| format!(" in {}", p.display()))
        .unwrap_or_default();
    format!("#{} '{}'{file}", i + 1, c.display_name())
}

fn role(b: &Bundle, i: usize, leaf_idx: usize) -> &'static str {
    if i == leaf_idx {
        "leaf"
    } else if b.certs[i].is_self_signed() {
        "root"
    } else {
        "intermediate"
    }
}

#[cfg(test)]
mod tests;
