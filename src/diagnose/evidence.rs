//! What a listener knows about its own side, prepared once per load or reload so a failed
//! handshake can be attributed without re-reading anything: the served chains as the
//! classifier sees them (`OurChain`) and what the listener accepts (`OurTls`).

use time::OffsetDateTime;

use crate::certs::set::LoadedSet;
use crate::certs::LoadedCertificate;
use crate::config::{ListenerTls, TlsVersion};
use crate::diagnose::handshake::{OurChain, OurTls};
use crate::findings::{Code, Finding};

/// The classifier's view of one served certificate, from its load-time findings.
pub fn our_chain(loaded: &LoadedCertificate, findings: &[Finding]) -> OurChain {
    let has = |c: Code| findings.iter().any(|f| f.code == c);
    let leaf = loaded.leaf();
    let last = loaded.chain.last().unwrap_or(leaf);
    let complete = !has(Code::ChainIncomplete);
    let private_root = match loaded.ca.first() {
        Some(root) => Some(root.display_name().to_string()),
        None if has(Code::ChainPrivateRoot) => Some(last.issuer_display_name().to_string()),
        None => None,
    };
    let now = OffsetDateTime::now_utc();
    OurChain {
        complete,
        missing_issuer: (!complete).then(|| last.issuer_display_name().to_string()),
        expired: has(Code::CertExpired),
        not_yet_valid: has(Code::CertNotYetValid),
        private_root,
        private_root_file: loaded.source.ca.as_ref().map(|p| p.display().to_string()),
        names: loaded.names.clone(),
        fingerprint: leaf.fingerprint_sha256.clone(),
        issued_recently: now - leaf.not_before < time::Duration::hours(48),
        local_findings: findings.iter().map(|f| f.code).collect(),
    }
}

/// The chains of a loaded set, by certificate index.
pub fn our_chains(set: &LoadedSet) -> Vec<OurChain> {
    set.loaded
        .iter()
        .zip(&set.findings)
        .map(|(l, f)| our_chain(l, f))
        .collect()
}

/// What a listener accepts, from its settings and the crypto provider.
pub fn our_tls(tls: &ListenerTls) -> OurTls {
    let provider = crate::tls::provider();
    let versions = match tls.min_version {
        TlsVersion::Tls12 => vec![0x0304, 0x0303],
        TlsVersion::Tls13 => vec![0x0304],
    };
    OurTls {
        versions,
        cipher_suites: provider
            .cipher_suites
            .iter()
            .map(|s| u16::from(s.suite()))
            .collect(),
        groups: provider
            .kx_groups
            .iter()
            .map(|g| u16::from(g.name()))
            .collect(),
        signature_schemes: provider
            .signature_verification_algorithms
            .supported_schemes()
            .into_iter()
            .map(u16::from)
            .collect(),
        alpn: tls.alpn.clone(),
        client_ca: tls.client_auth.as_ref().map(|a| a.ca.display().to_string()),
    }
}
