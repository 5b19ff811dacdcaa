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

// ---------------------------------------------------------------------------------------------
// Key

/// Key vs leaf. Returns the index of the leaf: the certificate matching the key, else the first.
fn check_key(b: &Bundle, out: &mut Vec<Finding>) -> usize {
    let Some(spki) = &b.key_spki else {
        return 0;
    };
    let matches = |c: &CertInfo| c.spki_der == *spki;
    if matches(&b.certs[0]) {
        return 0;
    }
    let key_path = b
        .key_file
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "the key".into());
    if let Some(pos) = b.certs.iter().position(matches) {
        out.push(Finding::new(
            Code::ChainLeafNotFirst,
            format!(
                "the certificate matching the key is #{} of {}, not the first",
                pos + 1,
                b.certs.len()
            ),
            format!(
                "{key_path} matches {}; the first certificate is {}",
                label(b, pos),
                label(b, 0)
            ),
            format!(
                "reorder the bundle: the leaf ('{}') first, then each issuer in turn",
                b.certs[pos].display_name()
            ),
        ));
        return pos;
    }
    out.push(Finding::new(
        Code::KeyMismatch,
        format!("the private key {key_path} does not belong to the leaf certificate"),
        format!(
            "the key's public key matches none of the {} certificate(s) (leaf {}, fingerprint {})",
            b.certs.len(),
            label(b, 0),
            b.certs[0].fingerprint_sha256
        ),
        "use the key generated with this certificate's request (after a renewal, cert and key must come from the same issuance); compare: openssl x509 -noout -pubkey -in CERT | openssl sha256 and openssl pkey -pubout -in KEY | openssl sha256",
    ));
    0
}

// ---------------------------------------------------------------------------------------------
// Chain shape

/// Reports duplicates; returns the indices of first occurrences, in file order.
fn check_duplicates(b: &Bundle, out: &mut Vec<Finding>) -> Vec<usize> {
    let mut uniq: Vec<usize> = Vec::new();
    for i in 0..b.certs.len() {
        match uniq
            .iter()
            .find(|&&j| b.certs[j].fingerprint_sha256 == b.certs[i].fingerprint_sha256)
        {
            Some(&j) => out.push(Finding::new(
                Code::ChainDuplicateCert,
                format!("'{}' appears twice in the chain", b.certs[i].display_name()),
                format!(
                    "certificates #{} and #{} are the same (sha256 {})",
                    j + 1,
                    i + 1,
                    b.certs[i].fingerprint_sha256
                ),
                format!(
                    "remove certificate #{} from the bundle; each certificate is sent once",
                    i + 1
                ),
            )),
            None => uniq.push(i),
        }
    }
    uniq
}

fn check_order(b: &Bundle, uniq: &[usize], out: &mut Vec<Finding>) {
    let mut problems = Vec::new();
    for w in uniq.windows(2) {
        let (a, next) = (w[0], w[1]);
        let ca = &b.certs[a];
        if ca.is_self_signed() {
            problems.push(format!(
                "{} is a self-signed root but is followed by {}",
                label(b, a),
                label(b, next)
            ));
            continue;
        }
        if links(&b.certs[next], ca) {
            continue;
        }
        let issuer_at = uniq
            .iter()
            .find(|&&k| k != a && links(&b.certs[k], ca))
            .map(|&k| format!("its issuer is {}", label(b, k)))
            .unwrap_or_else(|| {
                format!(
                    "its issuer '{}' is not in the bundle",
                    ca.issuer_display_name()
                )
            });
        problems.push(format!(
            "{} is followed by {}, which did not issue it; {issuer_at}",
            label(b, a),
            label(b, next)
        ));
    }
    if problems.is_empty() {
        return;
    }
    out.push(Finding::new(
        Code::ChainOutOfOrder,
        "the chain is not in order: a certificate is not followed by its issuer",
        problems.join("; "),
        "order the bundle leaf first, then its issuer, then that certificate's issuer, and so on (drop unrelated certificates); strict clients reject a misordered chain",
    ));
}

// ---------------------------------------------------------------------------------------------
// Signatures and issuer links

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sig {
    Good,
    Bad,
    Unknown,
}

fn verify_with(child_der: &[u8], issuer_spki_der: &[u8]) -> Sig {
    let Ok((_, cert)) = X509Certificate::from_der(child_der) else {
        return Sig::Unknown;
    };
    let Ok((_, spki)) = SubjectPublicKeyInfo::from_der(issuer_spki_der) else {
        return Sig::Unknown;
    };
    match cert.verify_signature(Some(&spki)) {
        Ok(()) => Sig::Good,
        Err(X509Error::SignatureVerificationError) => Sig::Bad,
        Err(_) => Sig::Unknown,
    }
}

/// Whether the key in `spki_der` (a DER SubjectPublicKeyInfo) made the signature on
/// `child_der`: `Some(false)` when the signature is checked and does not verify, `None` when it
/// cannot be checked (unsupported algorithm, unparsable input).
pub fn signed_by_key(child_der: &[u8], spki_der: &[u8]) -> Option<bool> {
    match verify_with(child_der, spki_der) {
        Sig::Good => Some(true),
        Sig::Bad => Some(false),
        Sig::Unknown => None,
    }
}

/// Whether `issuer` issued `child`: names and key identifiers link them, and the signature
/// verifies (or cannot be checked: unsupported algorithm, a key too weak for the verifier).
fn links(issuer: &CertInfo, child: &CertInfo) -> bool {
    if !issuer.issued(child) {
        return false;
    }
    match verify_with(child.der.as_ref(), &issuer.spki_der) {
        Sig::Good | Sig::Unknown => true,
        // aws-lc-rs refuses RSA keys under 2048 bits for SHA-2 signatures: cannot tell.
        Sig::Bad => issuer.key.algorithm == "RSA" && issuer.key.bits < 2048,
    }
}

/// A self-signed certificate whose signature does not contradict it.
fn self_signed(c: &CertInfo) -> bool {
    c.is_self_signed() && links(c, c)
}

/// The contents of a DER SEQUENCE (tag and length stripped), if `raw` is exactly one.
fn der_contents(raw: &[u8]) -> Option<&[u8]> {
    if raw.len() < 2 || raw[0] != 0x30 {
        return None;
    }
    let (len, hdr) = if raw[1] < 0x80 {
        (raw[1] as usize, 2)
    } else {
        let n = (raw[1] & 0x7f) as usize;
        if n == 0 || n > 4 || raw.len() < 2 + n {
            return None;
        }
        let mut len = 0usize;
        for &byte in &raw[2..2 + n] {
            len = (len << 8) | byte as usize;
        }
        (len, 2 + n)
    };
    (hdr.checked_add(len)? == raw.len()).then(|| &raw[hdr..])
}

/// Wraps contents into a DER SEQUENCE.
fn der_sequence(contents: &[u8]) -> Vec<u8> {
    let len = contents.len();
    let mut v = vec![0x30];
    if len < 0x80 {
        v.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .iter()
            .copied()
            .skip_while(|&x| x == 0)
            .collect();
        v.push(0x80 | bytes.len() as u8);
        v.extend_from_slice(&bytes);
    }
    v.extend_from_slice(contents);
    v
}

/// The system trust store, parsed once.
fn system_store() -> &'static [CertInfo] {
    static ROOTS: OnceLock<Vec<CertInfo>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        crate::tls::roots::system_roots()
            .iter()
            .filter_map(|der| CertInfo::parse(der).ok())
            .collect()
    })
}

/// A trust anchor found for the chain.
#[derive(Debug, Clone)]
enum Anchor {
    /// A root (or the certificate itself) from `ca:`/`--ca`.
    Private(Box<CertInfo>),
    /// The system store or webpki roots: the name of the anchor and the store.
    Public(String, &'static str),
}

fn find_anchor_for(child: &CertInfo, ctx: &CheckContext) -> Option<Anchor> {
    if let Some(r) = ctx.extra_roots.iter().find(|r| links(r, child)) {
        return Some(Anchor::Private(Box::new(r.clone())));
    }
    if ctx.system_roots {
        if let Some(r) = system_store().iter().find(|r| links(r, child)) {
            return Some(Anchor::Public(
                r.display_name().to_string(),
                "the system trust store",
            ));
        }
    }
    if ctx.webpki_roots {
        let issuer = der_contents(&child.issuer_raw)?;
        for ta in webpki_roots::TLS_SERVER_ROOTS {
            if ta.subject.as_ref() != issuer {
                continue;
            }
            let spki = der_sequence(ta.subject_public_key_info.as_ref());
            if verify_with(child.der.as_ref(), &spki) != Sig::Bad {
                return Some(Anchor::Public(
                    child.issuer_display_name().to_string(),
                    "the webpki roots",
                ));
            }
        }
    }
    None
}

/// Whether `c` itself is a trust anchor.
fn is_anchor(c: &CertInfo, ctx: &CheckContext) -> Option<Anchor> {
    if let Some(r) = ctx
        .extra_roots
        .iter()
        .find(|r| r.fingerprint_sha256 == c.fingerprint_sha256)
    {
        return Some(Anchor::Private(Box::new(r.clone())));
    }
    if ctx.system_roots
        && system_store()
            .iter()
            .any(|r| r.fingerprint_sha256 == c.fingerprint_sha256)
    {
        return Some(Anchor::Public(
            c.display_name().to_string(),
            "the system trust store",
        ));
    }
    if ctx.webpki_roots {
        if let (Some(subject), Some(spki)) =
            (der_contents(&c.subject_raw), der_contents(&c.spki_der))
        {
            if webpki_roots::TLS_SERVER_ROOTS.iter().any(|ta| {
                ta.subject.as_ref() == subject && ta.subject_public_key_info.as_ref() == spki
            }) {
                return Some(Anchor::Public(
                    c.display_name().to_string(),
                    "the webpki roots",
                ));
            }
        }
    }
    None
}

/// Where following issuers from the leaf ended.
#[derive(Debug, Clone)]
struct PathEnd {
    /// Bundle indices on the path, leaf first.
    path: Vec<usize>,
    anchor: Option<Anchor>,
    /// The path ends at a self-signed certificate of the bundle (index) not in any store.
    untrusted_root: Option<usize>,
    /// The last certificate on the path whose issuer was found nowhere.
    missing_issuer_of: Option<usize>,
}

fn follow(b: &Bundle, uniq: &[usize], leaf_idx: usize, ctx: &CheckContext) -> PathEnd {
    let mut path = vec![leaf_idx];
    let mut cur = leaf_idx;
    loop {
        let c = &b.certs[cur];
        if let Some(a) = is_anchor(c, ctx) {
            return PathEnd {
                path,
                anchor: Some(a),
                untrusted_root: None,
                missing_issuer_of: None,
            };
        }
        if self_signed(c) {
            return PathEnd {
                path,
                anchor: None,
                untrusted_root: Some(cur),
                missing_issuer_of: None,
            };
        }
        if let Some(&next) = uniq
            .iter()
            .find(|&&j| !path.contains(&j) && links(&b.certs[j], c))
        {
            path.push(next);
            cur = next;
            continue;
        }
        let anchor = find_anchor_for(c, ctx);
        let missing = anchor.is_none().then_some(cur);
        return PathEnd {
            path,
            anchor,
            untrusted_root: None,
            missing_issuer_of: missing,
        };
    }
}

/// How to make clients trust a private root; `root` names it.
fn trust_instructions(root: &str) -> String {
    format!(
        "every client must trust {root}; with ROOT.pem its PEM file: curl --cacert ROOT.pem; Python requests REQUESTS_CA_BUNDLE=ROOT.pem; httpx and the OpenAI SDK SSL_CERT_FILE=ROOT.pem (replaces the default store: if they also call public services, concatenate certifi's bundle and ROOT.pem); Node NODE_EXTRA_CA_CERTS=ROOT.pem; system store (Debian/Ubuntu): sudo cp ROOT.pem /usr/local/share/ca-certificates/private-ca.crt && sudo update-ca-certificates; macOS: sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain ROOT.pem"
    )
}

fn check_trust(
    b: &Bundle,
    uniq: &[usize],
    leaf_idx: usize,
    ctx: &CheckContext,
    out: &mut Vec<Finding>,
) -> PathEnd {
    let end = follow(b, uniq, leaf_idx, ctx);
    let leaf = &b.certs[leaf_idx];

    // Roots sent along (not the leaf itself).
    for &i in uniq {
        if i != leaf_idx && b.certs[i].is_self_signed() {
            out.push(Finding::new(
                Code::ChainIncludesRoot,
                format!("the root '{}' is sent with the chain", b.certs[i].display_name()),
                format!(
                    "{} is self-signed (subject = issuer = {}); clients use their own copy of a root",
                    label(b, i),
                    b.certs[i].subject
                ),
                format!(
                    "optional: remove certificate #{} from the bundle (harmless, wasted bytes in every handshake)",
                    i + 1
                ),
            ));
        }
    }

    let stores = stores_consulted(ctx);
    if let Some(Anchor::Private(root)) = &end.anchor {
        let last = *end.path.last().unwrap_or(&leaf_idx);
        out.push(Finding::new(
            Code::ChainPrivateRoot,
            format!("the chain ends at the private CA '{}'", root.display_name()),
            format!(
                "{} verifies to '{}' (given by ca:/--ca, {}, expires {}), which no public trust store has",
                label(b, last),
                root.display_name(),
                root.subject,
                format_time(root.not_after)
            ),
            trust_instructions(&format!("the root '{}' given by ca:/--ca", root.display_name())),
        ));
    }
    if let Some(r) = end.untrusted_root {
        if r != leaf_idx {
            let root = &b.certs[r];
            out.push(Finding::new(
                Code::ChainPrivateRoot,
                format!("the chain ends at the private root '{}'", root.display_name()),
                format!(
                    "the chain ends at {}, a self-signed root that is in none of {stores}",
                    label(b, r)
                ),
                format!(
                    "valid for a private CA; {} (or set ca:/--ca to that root to state it is trusted)",
                    trust_instructions(&format!("the root '{}'", root.display_name()))
                ),
            ));
        }
    }
    if let Some(m) = end.missing_issuer_of {
        let c = &b.certs[m];
        let aia = if c.aia_ca_issuers.is_empty() {
            "the certificate has no AIA caIssuers URL".to_string()
        } else {
            format!("its AIA caIssuers URL is {}", c.aia_ca_issuers.join(", "))
        };
        let issuer = c.issuer_display_name();
        if m == leaf_idx {
            out.push(Finding::new(
                Code::ChainIncomplete,
                format!("the chain is incomplete: the issuer '{issuer}' of the leaf is missing"),
                format!(
                    "only the leaf {} is sent; its issuer '{}' is in no file and in none of {stores}; {aia}",
                    label(b, leaf_idx),
                    c.issuer
                ),
                format!(
                    "append intermediate '{issuer}' to the bundle after the leaf{}, or — if '{issuer}' is your private root — set `ca:` on this certificate (`--ca` for inspect)",
                    c.aia_ca_issuers
                        .first()
                        .map(|u| format!(" (download it from {u}; convert DER with openssl x509 -inform der)"))
                        .unwrap_or_default()
                ),
            ));
        } else {
            out.push(Finding::new(
                Code::ChainPrivateRoot,
                format!(
                    "the chain ends at '{}', issued by a private CA '{issuer}'",
                    c.display_name()
                ),
                format!(
                    "{} is issued by '{}', which is in none of {stores}: a private CA; {aia}",
                    label(b, m),
                    c.issuer
                ),
                format!(
                    "valid for a private CA; {} (set ca:/--ca to it to have it checked)",
                    trust_instructions(&format!("the root '{issuer}'"))
                ),
            ));
        }
    }
    if leaf.is_self_signed() && end.path.len() == 1 {
        let trusted = matches!(end.anchor, Some(Anchor::Private(_)));
        out.push(Finding::new(
            Code::SelfSignedLeaf,
            format!("the leaf '{}' is self-signed", leaf.display_name()),
            format!(
                "{} is its own issuer ({}){}",
                label(b, leaf_idx),
                leaf.subject,
                if trusted {
                    "; it is given as ca:/--ca"
                } else {
                    "; clients reject it unless each is told to trust this very certificate"
                }
            ),
            "issue the leaf from a CA instead (tlsgate certs init creates a local dev CA; clients then trust the CA once, and the leaf can be renewed without touching them)",
        ));
    }
    end
}

fn stores_consulted(ctx: &CheckContext) -> String {
    let mut v = Vec::new();
    if ctx.system_roots {
        v.push("the system trust store");
    }
    if ctx.webpki_roots {
        v.push("the webpki roots");
    }
    if !ctx.extra_roots.is_empty() {
        v.push("the ca:/--ca roots");
    }
    if v.is_empty() {
        "no trust store (none consulted)".into()
    } else {
        v.join(", ")
    }
}

// ---------------------------------------------------------------------------------------------
// Validity

fn check_validity(
    b: &Bundle,
    uniq: &[usize],
    end: &PathEnd,
    ctx: &CheckContext,
    out: &mut Vec<Finding>,
) {
    let leaf_idx = end.path.first().copied().unwrap_or(0);
    let mut items: Vec<(String, &CertInfo)> = uniq
        .iter()
        .map(|&i| {
            (
                format!("{} ({})", label(b, i), role(b, i, leaf_idx)),
                &b.certs[i],
            )
        })
        .collect();
    if let Some(Anchor::Private(root)) = &end.anchor {
        if !b
            .certs
            .iter()
            .any(|c| c.fingerprint_sha256 == root.fingerprint_sha256)
        {
            items.push((format!("the ca:/--ca root '{}'", root.display_name()), root));
        }
    }
    let warn = time::Duration::try_from(ctx.expiry_warning).unwrap_or(time::Duration::MAX);
    for (what, c) in items {
        if c.not_after < ctx.now {
            let ago = (ctx.now - c.not_after).whole_days();
            out.push(Finding::new(
                Code::CertExpired,
                format!("certificate '{}' has expired", c.display_name()),
                format!(
                    "{what} expired at {} ({ago} day(s) ago; now {})",
                    format_time(c.not_after),
                    format_time(ctx.now)
                ),
                "renew it and replace the file (then reload); if it only just expired, check that renewal (certbot, cert-manager, …) is running",
            ));
        } else if c.not_before > ctx.now {
            let mins = (c.not_before - ctx.now).whole_minutes();
            out.push(Finding::new(
                Code::CertNotYetValid,
                format!("certificate '{}' is not valid yet", c.display_name()),
                format!(
                    "{what} is valid from {} ({} from now; now {})",
                    format_time(c.not_before),
                    if mins < 120 {
                        format!("{mins} minute(s)")
                    } else {
                        format!("{} day(s)", mins / 1440)
                    },
                    format_time(ctx.now)
                ),
                "check this machine's clock (and the issuing machine's); otherwise wait, or reissue with a notBefore in the past",
            ));
        } else if c.not_after - ctx.now < warn {
            let days = c.days_left(ctx.now);
            out.push(Finding::new(
                Code::CertExpiringSoon,
                format!(
                    "certificate '{}' expires in {days} day(s)",
                    c.display_name()
                ),
                format!(
                    "{what} expires at {} ({days} day(s) left, warning threshold {} day(s))",
                    format_time(c.not_after),
                    ctx.expiry_warning.as_secs() / 86_400
                ),
                "renew it before it expires and check that automatic renewal works",
            ));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Names and leaf profile

/// Whether a SAN entry covers `name`: exact (case-insensitive, trailing dot ignored), IP
/// addresses by value, and `*.example.com` covering exactly one extra leftmost label.
pub fn san_covers(san: &str, name: &str) -> bool {
    let norm = |s: &str| s.trim().trim_end_matches('.').to_ascii_lowercase();
    let (san, name) = (norm(san), norm(name));
    let unbracket = |s: &str| s.trim_start_matches('[').trim_end_matches(']').to_string();
    if let (Ok(a), Ok(b)) = (
        unbracket(&san).parse::<std::net::IpAddr>(),
        unbracket(&name).parse::<std::net::IpAddr>(),
    ) {
        return a == b;
    }
    if san == name {
        return true;
    }
    if let Some(base) = san.strip_prefix("*.") {
        if let Some((first, rest)) = name.split_once('.') {
            return !first.is_empty() && first != "*" && rest == base && !base.is_empty();
        }
    }
    false
}

fn check_names(leaf: &CertInfo, ctx: &CheckContext, out: &mut Vec<Finding>) {
    if !leaf.has_san_extension || leaf.sans.is_empty() {
        out.push(Finding::new(
            Code::CertCnOnly,
            format!("the leaf '{}' has no subjectAltName", leaf.display_name()),
            format!(
                "the leaf names itself only in its subject ({}); browsers, rustls, Go, Python and curl ignore the CN",
                leaf.subject
            ),
            "reissue the certificate with the names in subjectAltName (openssl: -addext \"subjectAltName=DNS:example.com\")",
        ));
    }
    let missing: Vec<&String> = ctx
        .names
        .iter()
        .filter(|n| !leaf.sans.iter().any(|s| san_covers(s, n)))
        .collect();
    for name in missing {
        out.push(Finding::new(
            Code::NameNotCovered,
            format!("'{name}' is not covered by the certificate"),
            format!(
                "'{name}' compared with the leaf's SANs [{}] (a wildcard covers exactly one label: *.example.com covers a.example.com, not example.com or a.b.example.com)",
                leaf.sans.join(", ")
            ),
            format!("reissue the certificate with '{name}' in subjectAltName, or stop serving that name with it"),
        ));
    }
}

fn check_leaf_profile(leaf: &CertInfo, _ctx: &CheckContext, out: &mut Vec<Finding>) {
    if leaf.basic_constraints_ca == Some(true) {
        out.push(Finding::new(
            Code::LeafIsCa,
            format!("the leaf '{}' is a CA certificate", leaf.display_name()),
            "the leaf has basicConstraints CA:TRUE; rustls and webpki clients reject it (CaUsedAsEndEntity)".to_string(),
            "reissue the leaf with basicConstraints CA:FALSE (openssl: -addext basicConstraints=critical,CA:FALSE), or serve a leaf issued by this CA instead of the CA itself",
        ));
    }
    if let Some(eku) = &leaf.extended_key_usage {
        if !eku.iter().any(|e| e == "serverAuth" || e == "any") {
            out.push(Finding::new(
                Code::EkuMissingServerAuth,
                format!("the leaf '{}' is not valid for TLS servers", leaf.display_name()),
                format!(
                    "extendedKeyUsage is [{}], without serverAuth",
                    eku.join(", ")
                ),
                "reissue the leaf with extendedKeyUsage serverAuth (openssl: -addext extendedKeyUsage=serverAuth)",
            ));
        }
    }
    let days = (leaf.not_after - leaf.not_before).whole_days();
    if days > 398 {
        out.push(Finding::new(
            Code::ValidityTooLong,
            format!("the leaf '{}' is valid for {days} days", leaf.display_name()),
            format!(
                "valid from {} to {} ({days} days, over the 398-day limit of public CAs, Safari and Chrome)",
                format_time(leaf.not_before),
                format_time(leaf.not_after)
            ),
            "fine for a private PKI whose clients do not enforce it; otherwise reissue with at most 397 days",
        ));
    }
}

// ---------------------------------------------------------------------------------------------
// Algorithms, key identifiers, permissions

fn check_algorithms(b: &Bundle, uniq: &[usize], out: &mut Vec<Finding>) {
    for &i in uniq {
        let c = &b.certs[i];
        if c.key.algorithm == "RSA" && c.key.bits > 0 && c.key.bits < 2048 {
            out.push(Finding::new(
                Code::WeakRsaKey,
                format!("'{}' has a {}-bit RSA key", c.display_name(), c.key.bits),
                format!(
                    "{} has an RSA key of {} bits; clients refuse RSA keys under 2048 bits",
                    label(b, i),
                    c.key.bits
                ),
                "generate a new key (ECDSA P-256, or RSA 2048+) and reissue the certificate: openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 …",
            ));
        }
        let root = c.is_self_signed();
        if c.signature_weak && !root {
            out.push(Finding::new(
                Code::WeakSignature,
                format!(
                    "'{}' is signed with {}",
                    c.display_name(),
                    c.signature_algorithm
                ),
                format!(
                    "{} carries a {} signature by '{}'; SHA-1 and MD5 signatures are rejected by rustls, browsers and OpenSSL 3 at security level 1+",
                    label(b, i),
                    c.signature_algorithm,
                    c.issuer_display_name()
                ),
                "reissue it with a SHA-256 (or stronger) signature",
            ));
        }
        if !root && c.authority_key_id.is_none() {
            out.push(Finding::new(
                Code::MissingAki,
                format!(
                    "'{}' has no Authority Key Identifier",
                    c.display_name()
                ),
                format!(
                    "{} lacks the authorityKeyIdentifier extension; Python 3.13+ (VERIFY_X509_STRICT) rejects it with \"Missing Authority Key Identifier\"",
                    label(b, i)
                ),
                "reissue it with authorityKeyIdentifier (openssl: -extfile with authorityKeyIdentifier=keyid,issuer; rcgen: use_authority_key_identifier_extension)",
            ));
        }
    }
}

fn check_key_permissions(b: &Bundle, out: &mut Vec<Finding>) {
    let (Some(mode), Some(path)) = (b.key_mode, &b.key_file) else {
        return;
    };
    if b.key_spki.is_none() {
        return;
    }
    if mode & 0o077 != 0 {
        out.push(Finding::new(
            Code::KeyFilePermissions,
            format!("the private key {} is readable by others", path.display()),
            format!(
                "{} has mode {:04o}: readable by {}",
                path.display(),
                mode & 0o7777,
                match (mode & 0o070 != 0, mode & 0o007 != 0) {
                    (true, true) => "group and others",
                    (true, false) => "the group",
                    _ => "others",
                }
            ),
            format!(
                "chmod 600 {} (owned by the user tlsgate runs as)",
                path.display()
            ),
        ));
    }
}

#[cfg(test)]
mod tests;
