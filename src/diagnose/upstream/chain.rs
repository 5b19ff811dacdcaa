//! The presented chain: validity, names, trust: part of the upstream classifier in `mod.rs`.

use super::*;

pub(super) fn position(chain: &[CertInfo], i: usize) -> String {
    let c = &chain[i];
    if i == 0 {
        format!("the leaf certificate \"{}\"", c.display_name())
    } else if c.self_issued {
        format!("the root certificate \"{}\"", c.display_name())
    } else {
        format!("intermediate #{i} \"{}\"", c.display_name())
    }
}

/// "3 days", "5 minutes", …
pub fn human_duration(d: time::Duration) -> String {
    let s = d.whole_seconds().unsigned_abs();
    let (n, unit) = if s >= 2 * 86_400 {
        (s / 86_400, "days")
    } else if s >= 2 * 3600 {
        (s / 3600, "hours")
    } else if s >= 120 {
        (s / 60, "minutes")
    } else {
        (s, "seconds")
    };
    format!("{n} {unit}")
}

pub(super) const CLOCK_SKEW: time::Duration = time::Duration::minutes(15);

pub(super) fn chain_findings(ev: &UpstreamEvidence, out: &mut Vec<Finding>) {
    let ctx = &ev.context;
    let addr = &ev.address;
    let chain = &ev.chain;
    let leaf = &chain[0];
    let sev = |f: Finding| {
        if ev.verification_disabled {
            f.with_severity(Severity::Warning)
        } else {
            f
        }
    };

    // Validity of each presented certificate (a presented root is not checked by verifiers:
    // the store's copy is what counts).
    for (i, c) in chain.iter().enumerate() {
        if i > 0 && c.self_issued {
            continue;
        }
        if ev.now > c.not_after {
            let ago = ev.now - c.not_after;
            let skew = if ago < CLOCK_SKEW {
                " That is only minutes: if the upstream renewed it, this machine's clock may be ahead."
            } else {
                ""
            };
            out.push(sev(Finding::new(
                Code::UpstreamCertExpired,
                format!("the upstream's certificate expired {} ago", human_duration(ago)),
                format!(
                    "{} presented by {addr} is valid until {}; it is now {} ({} later).{skew}",
                    position(chain, i),
                    format_time(c.not_after),
                    format_time(ev.now),
                    human_duration(ago)
                ),
                "the upstream's operator must renew and deploy its certificate; check this machine's clock if it should be valid",
            )));
        } else if ev.now < c.not_before {
            let ahead = c.not_before - ev.now;
            let skew = if ahead < CLOCK_SKEW {
                " That is only minutes: most likely a clock skew, this machine's clock is behind (or the upstream's CA clock is ahead)."
            } else {
                ""
            };
            out.push(sev(Finding::new(
                Code::UpstreamCertNotYetValid,
                format!("the upstream's certificate is not valid for another {}", human_duration(ahead)),
                format!(
                    "{} presented by {addr} is valid from {}; it is now {}.{skew}",
                    position(chain, i),
                    format_time(c.not_before),
                    format_time(ev.now)
                ),
                "check this machine's clock (NTP); if it is right, the upstream deployed a certificate dated in the future",
            )));
        }
    }

    // The name.
    if !ev.server_name.is_empty() && !name_matches(&ev.server_name, &leaf.sans) {
        let presented = if leaf.sans.is_empty() {
            match &leaf.subject_cn {
                Some(cn) => {
                    format!("no subjectAltName at all (only CN={cn}, which clients ignore)")
                }
                None => "no names at all".to_string(),
            }
        } else {
            leaf.sans.join(", ")
        };
        let ip = ev.server_name.parse::<IpAddr>().is_ok();
        let hint = if ip {
            " An IP address matches only an IP subjectAltName, never a DNS name."
        } else if leaf.sans.iter().any(|s| s.starts_with("*.")) {
            " A wildcard covers exactly one label: *.example.com covers a.example.com, not example.com or a.b.example.com."
        } else {
            ""
        };
        out.push(sev(Finding::new(
            Code::UpstreamNameMismatch,
            format!("the upstream's certificate does not cover \"{}\"", ev.server_name),
            format!(
                "we verify the name \"{}\"; the certificate presented by {addr} is for {presented}.{hint}",
                ev.server_name
            ),
            format!(
                "use a host name the certificate covers, or set {} to one of its names",
                ctx.server_name()
            ),
        )));
    }

    let trusted = ev.trusted_by_any();
    let inspection = inspection_vendor(chain);
    let public_host = well_known_public_host(&ev.server_name);
    let self_signed_leaf = leaf.is_self_signed();

    // TLS inspection: a vendor root, or a non-public root for a well-known public host.
    if let Some(vendor) = &inspection {
        let f = Finding::new(
            Code::UpstreamTlsInspection,
            format!("a TLS-inspection proxy ({vendor}) is re-signing the traffic to the upstream"),
            format!(
                "the chain presented for \"{}\" is issued by \"{}\"{}, a {vendor} TLS-inspection CA: a corporate proxy or security product between this machine and {addr} replaced the certificate",
                ev.server_name,
                chain_top(chain).map(|c| c.issuer_display_name()).unwrap_or("?"),
                if trusted { " (trusted by a consulted store)" } else { "" }
            ),
            inspection_fix(ctx),
        );
        out.push(if trusted {
            f.with_severity(Severity::Warning)
        } else {
            sev(f)
        });
    } else if !trusted && !ev.publicly_trusted && public_host {
        out.push(sev(Finding::new(
            Code::UpstreamTlsInspection,
            "a TLS-inspection proxy seems to re-sign the traffic to the upstream",
            format!(
                "\"{}\" is a public service whose real certificate comes from a public CA, but the chain presented at {addr} ends at \"{}\", which no public trust store has: something between this machine and the upstream replaced the certificate",
                ev.server_name,
                chain_top(chain).map(|c| c.issuer_display_name()).unwrap_or("?")
            ),
            inspection_fix(ctx),
        )));
    }

    if trusted {
        return;
    }
    if self_signed_leaf {
        out.push(sev(Finding::new(
            Code::UpstreamSelfSigned,
            "the upstream presents a self-signed certificate",
            format!(
                "the leaf \"{}\" presented by {addr} is its own issuer and is in none of the consulted trust stores ({})",
                leaf.display_name(),
                ev.stores_text()
            ),
            format!(
                "give the upstream a certificate from a CA, or trust this exact certificate by adding it to {}",
                ctx.ca_bundle()
            ),
        )));
        return;
    }
    let Some(top) = chain_top(chain) else {
        return;
    };
    let top_is_root = top.is_self_signed();
    // Nothing above the leaf was sent (or nothing that issued it).
    let top_is_leaf = std::ptr::eq(top, leaf);
    let issuer_known = ev.trust.iter().any(|v| v.knows_top_issuer);
    let aia = top.aia_ca_issuers.join(", ");
    if top_is_root {
        out.push(sev(untrusted_root(ev, top.display_name(), true)));
    } else if issuer_known {
        let named: Vec<_> = ev
            .trust
            .iter()
            .filter(|v| v.knows_top_issuer)
            .map(|v| v.store.as_str())
            .collect();
        let other_key: Vec<_> = ev
            .trust
            .iter()
            .filter(|v| v.top_issuer_other_key)
            .map(|v| v.store.as_str())
            .collect();
        let mut f = untrusted_root(ev, top.issuer_display_name(), false);
        f.why = if other_key.is_empty() {
            format!(
                "{} A certificate named \"{}\" is in {}, but the chain does not verify to it.",
                f.why,
                top.issuer_display_name(),
                named.join(", ")
            )
        } else {
            format!(
                "{} {} holds a CA named \"{}\" with a different key: its signature on \"{}\" does not verify, so the CA was re-issued or replaced under the same name and the server's chain comes from the other key.",
                f.why,
                other_key.join(", "),
                top.issuer_display_name(),
                top.display_name()
            )
        };
        out.push(sev(f));
    } else if top_is_leaf && !top.aia_ca_issuers.is_empty() {
        // The leaf's issuer is neither sent nor in any store, and the leaf says where it is:
        // a missing intermediate, not an unknown root (roots are never fetched by AIA).
        out.push(sev(Finding::new(
            Code::UpstreamChainIncomplete,
            format!("the upstream does not send the intermediate certificate \"{}\"", top.issuer_display_name()),
            format!(
                "{addr} sent only its leaf \"{}\"{}, issued by \"{}\", which was not sent and is in none of the consulted trust stores ({}). It can be downloaded from the leaf's AIA caIssuers URL: {aia}",
                top.display_name(),
                if chain.len() > 1 { format!(" (and {} unrelated certificate(s))", chain.len() - 1) } else { String::new() },
                top.issuer,
                ev.stores_text()
            ),
            format!(
                "the upstream must serve its full chain (leaf followed by \"{}\", e.g. fullchain.pem); until then, add that intermediate ({aia}) to {}",
                top.issuer_display_name(),
                ctx.ca_bundle()
            ),
        )));
    } else if top_is_leaf {
        let mut f = untrusted_root(ev, top.issuer_display_name(), false);
        f.why = format!(
            "{} The server sent only its leaf and the leaf names no AIA caIssuers URL, so \"{}\" may also be an intermediate the server fails to send (then the server must send it; adding it to {} works meanwhile).",
            f.why,
            top.issuer_display_name(),
            ctx.ca_bundle()
        );
        out.push(sev(f));
    } else {
        // An intermediate was sent; its issuer is unknown: an untrusted root (servers send the
        // chain up to the root, not the root), unless a second intermediate is missing.
        let mut f = untrusted_root(ev, top.issuer_display_name(), false);
        let via = if aia.is_empty() {
            String::new()
        } else {
            format!(" (its AIA caIssuers URL: {aia})")
        };
        f.why = format!(
            "{} The server sent the intermediate \"{}\"; its issuer \"{}\"{via} was not sent: a root no consulted store has, or, if it is another intermediate, one the server must send too.",
            f.why,
            top.display_name(),
            top.issuer_display_name()
        );
        out.push(sev(f));
    }
}

pub(super) fn untrusted_root(ev: &UpstreamEvidence, root: &str, presented: bool) -> Finding {
    let ctx = &ev.context;
    let public_hint = if has_public_shape(&ev.server_name)
        && !well_known_public_host(&ev.server_name)
    {
        format!(
            " If \"{}\" is a public service, a TLS-inspection proxy may be re-signing the traffic (then add the corporate CA).",
            ev.server_name
        )
    } else {
        String::new()
    };
    Finding::new(
        Code::UpstreamUntrustedRoot,
        format!("the upstream's certificate chain ends at \"{root}\", a CA we do not trust"),
        format!(
            "the chain presented by {} {} \"{root}\", which is in none of the consulted trust stores ({}): a private CA.{public_hint}",
            ev.address,
            if presented { "includes the root" } else { "is issued by" },
            ev.stores_text()
        ),
        format!(
            "add the root CA \"{root}\" (PEM) to {}; ask the upstream's operator for it, or export it with `openssl s_client -showcerts -connect {}`",
            ctx.ca_bundle(),
            ev.address
        ),
    )
}

pub(super) fn inspection_fix(ctx: &FixContext) -> String {
    format!(
        "add your organisation's inspection CA (PEM) to {}: export it from the OS trust store (macOS: Keychain Access → System Roots → export as .pem; Windows: certmgr.msc → Trusted Root Certification Authorities → export Base-64 .cer; Linux: /usr/local/share/ca-certificates) or ask IT for it; or have IT exempt this host from inspection",
        ctx.ca_bundle()
    )
}

pub(super) fn fallback_finding(ev: &UpstreamEvidence) -> Option<Finding> {
    let addr = &ev.address;
    if let Some(rustls::Error::AlertReceived(rustls::AlertDescription::NoApplicationProtocol)) =
        &ev.tls_error
    {
        return Some(Finding::new(
            Code::UpstreamTlsFailed,
            "the upstream accepts none of the application protocols we offered (ALPN)",
            format!("{addr}: the upstream sent the alert no_application_protocol to our ALPN offer"),
            match &ev.context {
                FixContext::Upstream(name) => format!(
                    "set upstreams.{name}.http_version to the protocol the upstream speaks (http1 or http2)"
                ),
                FixContext::Probe => "the server speaks neither h2 nor http/1.1 over TLS on this port (for PostgreSQL use --starttls postgres)".to_string(),
                FixContext::ProbePostgres => "the server refuses the ALPN protocol \"postgresql\" that libpq offers: check that this port is PostgreSQL's".to_string(),
            },
        ));
    }
    if let Some(err) = &ev.tls_error {
        let code = match err {
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer) => {
                Code::UpstreamUntrustedRoot
            }
            _ => Code::UpstreamTlsFailed,
        };
        return Some(Finding::new(
            code,
            "the TLS handshake with the upstream failed",
            format!("{addr}: {}", describe_tls_error(err)),
            "run `tlsgate probe` against the upstream for a full diagnosis",
        ));
    }
    if let Some(io) = &ev.io_error {
        return Some(Finding::new(
            Code::UpstreamConnectionReset,
            "the upstream closed the connection during the TLS handshake",
            format!(
                "{addr}: {io}. Candidates: the port does not speak TLS, the upstream rejects our SNI \"{}\" or TLS version, or it requires a client certificate",
                ev.server_name
            ),
            "check that the upstream speaks TLS on this port and accepts this host name; `tlsgate probe` shows more",
        ));
    }
    None
}
