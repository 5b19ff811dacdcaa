//! Key (part of the parent module's checks).

use super::*;

/// Key vs leaf. Returns the index of the leaf: the certificate matching the key, else the first.
pub(super) fn check_key(b: &Bundle, out: &mut Vec<Finding>) -> usize {
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
