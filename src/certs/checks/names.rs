//! Names and leaf profile (part of the parent module's checks).

use super::*;

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

pub(super) fn check_names(leaf: &CertInfo, ctx: &CheckContext, out: &mut Vec<Finding>) {
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

pub(super) fn check_leaf_profile(leaf: &CertInfo, _ctx: &CheckContext, out: &mut Vec<Finding>) {
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
