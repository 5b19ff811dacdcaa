//! The SNI certificate resolver: which certificate a handshake gets.
//!
//! The served set lives behind an `ArcSwap` so a reload publishes a new set with one atomic
//! store and a handshake reads it with one atomic load — no lock on the handshake path.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::certs::LoadedCertificate;
use crate::config::{CertificateSource, Config};
use crate::findings::{sort_by_importance, Finding, Severity};
use crate::telemetry::Event;

/// One served certificate and the names it answers for.
#[derive(Debug, Clone)]
pub struct CertEntry {
    /// Lower-case DNS names (possibly `*.example.com`) and IP literals.
    pub names: Vec<String>,
    pub key: Arc<CertifiedKey>,
}

/// What SNI selection decided, for diagnosis of refusals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// The only certificate: served to everyone.
    Only(usize),
    /// Matched the SNI exactly or by wildcard.
    Matched(usize),
    /// SNI absent or unknown; the configured default was served.
    Default(usize),
    /// No SNI and no default: refused.
    NoSni,
    /// SNI matched nothing and no default: refused.
    UnknownSni,
}

impl Selection {
    pub fn index(self) -> Option<usize> {
        match self {
            Selection::Only(i) | Selection::Matched(i) | Selection::Default(i) => Some(i),
            Selection::NoSni | Selection::UnknownSni => None,
        }
    }
}

/// The certificates a listener serves, indexed for lookup by SNI.
#[derive(Debug)]
pub struct CertSet {
    entries: Vec<CertEntry>,
    exact: HashMap<String, usize>,
    /// `*.example.com` stored as `example.com`.
    wildcard: HashMap<String, usize>,
    default: Option<usize>,
}

impl CertSet {
    /// Builds the index. The first certificate naming a host wins, as in the config order.
    pub fn new(entries: Vec<CertEntry>, default: Option<usize>) -> Self {
        let mut exact = HashMap::new();
        let mut wildcard = HashMap::new();
        for (i, e) in entries.iter().enumerate() {
            for name in &e.names {
                let name = name.to_ascii_lowercase();
                match name.strip_prefix("*.") {
                    Some(suffix) => {
                        wildcard.entry(suffix.to_string()).or_insert(i);
                    }
                    None => {
                        exact.entry(name).or_insert(i);
                    }
                }
            }
        }
        let default = default.filter(|&d| d < entries.len());
        CertSet {
            entries,
            exact,
            wildcard,
            default,
        }
    }

    pub fn entries(&self) -> &[CertEntry] {
        &self.entries
    }

    /// All names served, for "unknown SNI" evidence.
    pub fn names(&self) -> Vec<String> {
        self.entries.iter().flat_map(|e| e.names.clone()).collect()
    }

    /// Picks the certificate for a ClientHello's SNI.
    pub fn select(&self, sni: Option<&str>) -> Selection {
        if self.entries.len() == 1 {
            return Selection::Only(0);
        }
        let Some(sni) = sni else {
            return self.default.map_or(Selection::NoSni, Selection::Default);
        };
        let lowered;
        let sni = if sni.bytes().any(|b| b.is_ascii_uppercase()) {
            lowered = sni.to_ascii_lowercase();
            lowered.as_str()
        } else {
            sni
        };
        let sni = sni.strip_suffix('.').unwrap_or(sni);
        if let Some(&i) = self.exact.get(sni) {
            return Selection::Matched(i);
        }
        // A wildcard covers exactly one label.
        if let Some((_, parent)) = sni.split_once('.') {
            if let Some(&i) = self.wildcard.get(parent) {
                return Selection::Matched(i);
            }
        }
        self.default
            .map_or(Selection::UnknownSni, Selection::Default)
    }
}

/// The rustls resolver over a swappable `CertSet`.
#[derive(Debug, Clone)]
pub struct SniResolver {
    current: Arc<ArcSwap<CertSet>>,
}

impl SniResolver {
    pub fn new(set: CertSet) -> Self {
        SniResolver {
            current: Arc::new(ArcSwap::from_pointee(set)),
        }
    }

    /// The handle a reload publishes through.
    pub fn handle(&self) -> Arc<ArcSwap<CertSet>> {
        self.current.clone()
    }

    /// The current set for a short look (no reference-count change).
    pub fn load(&self) -> arc_swap::Guard<Arc<CertSet>> {
        self.current.load()
    }

    pub fn current(&self) -> Arc<CertSet> {
        self.current.load_full()
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let set = self.current.load();
        set.select(hello.server_name())
            .index()
            .map(|i| set.entries[i].key.clone())
    }
}

/// A listener's certificates, loaded and diagnosed.
pub struct LoadedSet {
    pub set: CertSet,
    pub loaded: Vec<LoadedCertificate>,
    /// Non-fatal findings per certificate (same order as `loaded`).
    pub findings: Vec<Vec<Finding>>,
}

/// Loads and checks every certificate of a listener. Fatal findings (material that cannot be
/// served) come back as `Err`, all of them, not just the first.
pub fn load_certificates(
    sources: &[CertificateSource],
    default: Option<usize>,
    cfg: &Config,
) -> Result<LoadedSet, Vec<Finding>> {
    let mut loaded = Vec::new();
    let mut fatal = Vec::new();
    for src in sources {
        match crate::certs::served::load(src) {
            Ok(l) => loaded.push(l),
            Err(mut f) => fatal.append(&mut f),
        }
    }
    if !fatal.is_empty() {
        sort_by_importance(&mut fatal);
        return Err(fatal);
    }
    Ok(diagnose_set(loaded, default, cfg))
}

/// Runs the local checks on loaded certificates and indexes them for SNI.
pub fn diagnose_set(
    loaded: Vec<LoadedCertificate>,
    default: Option<usize>,
    cfg: &Config,
) -> LoadedSet {
    let ctx = crate::certs::checks::CheckContext::for_config(cfg);
    let findings = loaded
        .iter()
        .map(|l| {
            let mut f = crate::certs::checks::check_served(l, &ctx);
            sort_by_importance(&mut f);
            f
        })
        .collect();
    let entries = loaded
        .iter()
        .map(|l| CertEntry {
            names: l.names.clone(),
            key: l.certified_key.clone(),
        })
        .collect();
    LoadedSet {
        set: CertSet::new(entries, default),
        loaded,
        findings,
    }
}

/// Logs `cert_loaded` (or `cert_reloaded` when `old` is given) and each finding.
pub fn log_certificates(listener: &str, set: &LoadedSet, event: Event) {
    for (l, findings) in set.loaded.iter().zip(&set.findings) {
        let leaf = l.leaf();
        tracing::info!(
            event = event.as_str(),
            listener,
            cert_file = %l.source.cert.display(),
            key_file = %l.source.key.display(),
            subject = %leaf.subject,
            sans = %leaf.sans.join(","),
            not_after = %crate::certs::info::format_time(leaf.not_after),
            fingerprint = %leaf.fingerprint_sha256,
            findings = findings.len(),
        );
        for f in findings {
            log_finding(listener, &l.source.cert.display().to_string(), f);
        }
    }
}

fn log_finding(listener: &str, file: &str, f: &Finding) {
    macro_rules! emit {
        ($lvl:ident) => {
            tracing::$lvl!(
                event = Event::CertFinding.as_str(),
                listener,
                cert_file = file,
                code = f.code.as_str(),
                severity = f.severity.as_str(),
                summary = %f.summary,
                why = %f.why,
                fix = %f.fix,
            )
        };
    }
    match f.severity {
        Severity::Error => emit!(error),
        Severity::Warning => emit!(warn),
        Severity::Info => emit!(info),
    }
}

#[cfg(test)]
mod tests;
