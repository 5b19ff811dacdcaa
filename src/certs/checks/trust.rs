//! Signatures and issuer links (part of the parent module's checks).

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sig {
    Good,
    Bad,
    Unknown,
}

pub(super) fn verify_with(child_der: &[u8], issuer_spki_der: &[u8]) -> Sig {
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
pub(super) fn links(issuer: &CertInfo, child: &CertInfo) -> bool {
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
pub(super) fn self_signed(c: &CertInfo) -> bool {
    c.is_self_signed() && links(c, c)
}

/// The contents of a DER SEQUENCE (tag and length stripped), if `raw` is exactly one.
pub(super) fn der_contents(raw: &[u8]) -> Option<&[u8]> {
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
pub(super) fn der_sequence(contents: &[u8]) -> Vec<u8> {
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
pub(super) fn system_store() -> &'static [CertInfo] {
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
pub(super) enum Anchor {
    /// A root (or the certificate itself) from `ca:`/`--ca`.
    Private(Box<CertInfo>),
    /// The system store or webpki roots: the name of the anchor and the store.
    Public(String, &'static str),
}

pub(super) fn find_anchor_for(child: &CertInfo, ctx: &CheckContext) -> Option<Anchor> {
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
pub(super) fn is_anchor(c: &CertInfo, ctx: &CheckContext) -> Option<Anchor> {
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
pub(super) struct PathEnd {
    /// Bundle indices on the path, leaf first.
    pub(super) path: Vec<usize>,
    pub(super) anchor: Option<Anchor>,
    /// The path ends at a self-signed certificate of the bundle (index) not in any store.
    pub(super) untrusted_root: Option<usize>,
    /// The last certificate on the path whose issuer was found nowhere.
    pub(super) missing_issuer_of: Option<usize>,
}

pub(super) fn follow(b: &Bundle, uniq: &[usize], leaf_idx: usize, ctx: &CheckContext) -> PathEnd {
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
pub(super) fn trust_instructions(root: &str) -> String {
    format!(
        "every client must trust {root}; with ROOT.pem its PEM file: curl --cacert ROOT.pem; Python requests REQUESTS_CA_BUNDLE=ROOT.pem; httpx and the OpenAI SDK SSL_CERT_FILE=ROOT.pem (replaces the default store: if they also call public services, concatenate certifi's bundle and ROOT.pem); Node NODE_EXTRA_CA_CERTS=ROOT.pem; system store (Debian/Ubuntu): sudo cp ROOT.pem /usr/local/share/ca-certificates/private-ca.crt && sudo update-ca-certificates; macOS: sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain ROOT.pem"
    )
}

pub(super) fn check_trust(
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

pub(super) fn stores_consulted(ctx: &CheckContext) -> String {
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
