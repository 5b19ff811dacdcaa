//! Chain shape (part of the parent module's checks).

use super::*;

/// Reports duplicates; returns the indices of first occurrences, in file order.
pub(super) fn check_duplicates(b: &Bundle, out: &mut Vec<Finding>) -> Vec<usize> {
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

pub(super) fn check_order(b: &Bundle, uniq: &[usize], out: &mut Vec<Finding>) {
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
