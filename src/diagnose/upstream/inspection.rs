//! TLS inspection: vendors and public names: part of the upstream classifier in `mod.rs`.

use super::*;

/// Known TLS-inspection products, matched on whole words of the subject and issuer names.
pub(super) const INSPECTION_VENDORS: &[(&[&str], &str)] = &[
    (&["zscaler"], "Zscaler"),
    (&["netskope"], "Netskope"),
    (&["palo", "alto"], "Palo Alto Networks"),
    (&["paloaltonetworks"], "Palo Alto Networks"),
    (&["fortinet"], "Fortinet"),
    (&["fortigate"], "Fortinet FortiGate"),
    (&["blue", "coat"], "Blue Coat"),
    (&["bluecoat"], "Blue Coat"),
    (&["proxysg"], "Symantec ProxySG"),
    (&["cisco", "umbrella"], "Cisco Umbrella"),
    (&["opendns"], "Cisco Umbrella"),
    (&["forcepoint"], "Forcepoint"),
    (&["websense"], "Forcepoint"),
    (&["sophos"], "Sophos"),
    (&["check", "point"], "Check Point"),
    (&["checkpoint"], "Check Point"),
    (&["kaspersky"], "Kaspersky"),
    (&["avast"], "Avast"),
    (&["avg"], "AVG"),
    (&["eset"], "ESET"),
    (&["bitdefender"], "Bitdefender"),
    (&["mitmproxy"], "mitmproxy"),
    (&["charles", "proxy"], "Charles Proxy"),
    (&["fiddler"], "Fiddler"),
    (&["do", "not", "trust"], "Fiddler"),
    (&["portswigger"], "Burp Suite"),
    (&["burp"], "Burp Suite"),
    (&["mcafee"], "McAfee"),
    (&["skyhigh"], "Skyhigh Security"),
];

pub(super) fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

/// The TLS-inspection vendor named by a certificate subject or issuer, if any. Long,
/// distinctive names match anywhere (`FiddlerRoot`); short ones (`ESET`, `AVG`) only as words.
pub fn inspection_vendor_of(name: &str) -> Option<&'static str> {
    let w = words(name);
    let lower = name.to_ascii_lowercase();
    INSPECTION_VENDORS.iter().find_map(|(needle, vendor)| {
        if needle.len() == 1 && needle[0].len() >= 6 && lower.contains(needle[0]) {
            return Some(*vendor);
        }
        let hit = w
            .windows(needle.len())
            .any(|win| win.iter().zip(needle.iter()).all(|(a, b)| a == b));
        hit.then_some(*vendor)
    })
}

pub(super) fn inspection_vendor(chain: &[CertInfo]) -> Option<String> {
    chain
        .iter()
        .skip(1)
        .map(|c| c.subject.as_str())
        .chain(chain.iter().map(|c| c.issuer.as_str()))
        .find_map(inspection_vendor_of)
        .map(str::to_string)
}

/// Public services that are always served with a publicly trusted certificate.
pub(super) const WELL_KNOWN_PUBLIC: &[&str] = &[
    "openai.com",
    "anthropic.com",
    "googleapis.com",
    "google.com",
    "azure.com",
    "microsoft.com",
    "windows.net",
    "amazonaws.com",
    "github.com",
    "githubusercontent.com",
    "cloudflare.com",
    "mistral.ai",
    "cohere.ai",
    "cohere.com",
    "groq.com",
    "huggingface.co",
    "together.xyz",
    "deepseek.com",
    "x.ai",
];

pub(super) fn well_known_public_host(name: &str) -> bool {
    let n = name.trim_end_matches('.').to_ascii_lowercase();
    WELL_KNOWN_PUBLIC
        .iter()
        .any(|d| n == *d || n.ends_with(&format!(".{d}")))
}

/// A DNS name that looks public: dotted, alphabetic TLD, not a private-use suffix.
pub(super) fn has_public_shape(name: &str) -> bool {
    if name.parse::<IpAddr>().is_ok() {
        return false;
    }
    let n = name.trim_end_matches('.').to_ascii_lowercase();
    let Some((_, tld)) = n.rsplit_once('.') else {
        return false;
    };
    const PRIVATE: &[&str] = &[
        "local",
        "localhost",
        "internal",
        "lan",
        "corp",
        "home",
        "test",
        "example",
        "invalid",
        "intranet",
        "private",
        "arpa",
    ];
    tld.chars().all(|c| c.is_ascii_alphabetic()) && !PRIVATE.contains(&tld)
}
