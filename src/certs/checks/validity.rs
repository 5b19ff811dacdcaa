//! Validity (part of the parent module's checks).

use super::*;

pub(super) fn check_validity(
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
