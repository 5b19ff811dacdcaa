//! Algorithms, key identifiers, permissions (part of the parent module's checks).

use super::*;

pub(super) fn check_algorithms(b: &Bundle, uniq: &[usize], out: &mut Vec<Finding>) {
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

pub(super) fn check_key_permissions(b: &Bundle, out: &mut Vec<Finding>) {
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
