use super::*;
use std::collections::HashSet;

#[test]
fn names_are_unique_snake_case_and_round_trip() {
    let mut seen = HashSet::new();
    for &code in Code::ALL {
        let name = code.as_str();
        assert!(seen.insert(name), "duplicate code {name}");
        assert!(
            name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
            "{name} is not snake_case"
        );
        assert_eq!(Code::from_name(name), Some(code));
    }
}

#[test]
fn product_spec_severities_hold() {
    assert_eq!(Code::ChainIncludesRoot.default_severity(), Severity::Info);
    assert_eq!(Code::ChainOutOfOrder.default_severity(), Severity::Warning);
    assert_eq!(Code::KeyMismatch.default_severity(), Severity::Error);
    assert_eq!(
        Code::UpstreamVerificationDisabled.default_severity(),
        Severity::Warning
    );
    for &code in Code::ALL {
        if code.group() == "upstream" && code != Code::UpstreamVerificationDisabled {
            assert_eq!(code.default_severity(), Severity::Error, "{code}");
        }
    }
}

fn codes(names: &[&str]) -> HashSet<Code> {
    names
        .iter()
        .map(|n| Code::from_name(n).unwrap_or_else(|| panic!("{n} is not a code")))
        .collect()
}

fn in_group(group: &str) -> impl Iterator<Item = Code> + '_ {
    Code::ALL
        .iter()
        .copied()
        .filter(move |c| c.group() == group)
}

#[test]
fn groups_are_listed_once_and_hold_their_codes_contiguously() {
    let names: Vec<&str> = Code::GROUPS.iter().map(|g| g.name).collect();
    assert_eq!(
        names,
        ["local", "inbound", "upstream", "request", "process", "config"],
        "the groups (a new group also needs a place in the docs' order)"
    );
    // ALL lists the groups one after the other, in GROUPS order.
    let mut order: Vec<&str> = Code::ALL.iter().map(|c| c.group()).collect();
    order.dedup();
    assert_eq!(order, names);
    for g in Code::GROUPS {
        assert!(
            !g.title.is_empty() && in_group(g.name).next().is_some(),
            "{}",
            g.name
        );
    }
}

#[test]
fn texts_are_one_table_cell_each() {
    for &code in Code::ALL {
        for text in [code.meaning(), code.fix_hint()] {
            assert!(!text.trim().is_empty(), "{code}: empty text");
            assert!(
                !text.contains('|') && !text.contains('\n'),
                "{code}: {text:?} would break the generated markdown table"
            );
            assert_eq!(text, text.trim(), "{code}: surrounding spaces");
        }
    }
}

/// docs/spec.md: "502 for upstream connect/TLS failures, 504 for upstream timeouts", and 503
/// (with retry-after) when tlsgate sheds load because the upstream's connection cap is full.
#[test]
fn every_upstream_code_answers_502_or_504_and_timeouts_504() {
    for code in in_group("upstream") {
        let want = if code.as_str().ends_with("timeout") {
            504
        } else if code == Code::UpstreamOverloaded {
            503
        } else {
            502
        };
        assert_eq!(code.http_answer(), HttpAnswer::Status(want), "{code}");
    }
}

/// A client's fault is the client's: every request-group code answers 4xx or closes the
/// connection, never 5xx.
#[test]
fn every_client_request_code_answers_4xx_or_closes() {
    for code in in_group("request") {
        match code.http_answer() {
            HttpAnswer::Status(s) => assert!((400..500).contains(&s), "{code}: {s}"),
            HttpAnswer::Closed => {}
            HttpAnswer::None => panic!("{code}: a client request always ends somehow"),
        }
    }
    // The statuses docs/spec.md gives the client-request codes.
    for (name, want) in [
        ("client_path_invalid", HttpAnswer::Status(400)),
        ("client_host_invalid", HttpAnswer::Status(400)),
        ("client_body_invalid", HttpAnswer::Status(400)),
        ("client_body_timeout", HttpAnswer::Status(408)),
        ("client_send_timeout", HttpAnswer::Closed),
        ("client_idle_timeout", HttpAnswer::Closed),
        ("client_upgrade_refused", HttpAnswer::Status(400)),
        ("client_method_refused", HttpAnswer::Status(405)),
        ("client_headers_too_large", HttpAnswer::Status(431)),
        ("client_body_too_large", HttpAnswer::Status(413)),
        ("proxy_protocol_invalid", HttpAnswer::Closed),
    ] {
        let code = Code::from_name(name).unwrap_or_else(|| panic!("{name} is missing"));
        assert_eq!(code.group(), "request", "{name}");
        assert_eq!(code.http_answer(), want, "{name}");
    }
}

/// Local files, handshakes and configuration never end an HTTP request — except plain HTTP on
/// a TLS port, which gets a readable 400.
#[test]
fn only_requests_and_upstreams_get_http_answers() {
    for group in ["local", "inbound", "config"] {
        for code in in_group(group) {
            let want = if code == Code::PlainHttpOnTlsPort {
                HttpAnswer::Status(400)
            } else {
                HttpAnswer::None
            };
            assert_eq!(code.http_answer(), want, "{code}");
        }
    }
}

/// docs/spec.md: transient failures (refused, DNS, timeouts, resets) leave the SDK free to retry;
/// everything else says `x-should-retry: false`.
#[test]
fn retryable_codes_are_exactly_the_transient_ones() {
    let transient = codes(&[
        // refused, unreachable, or a CONNECT proxy that could not connect
        "upstream_refused",
        "upstream_unreachable",
        "egress_proxy_failed",
        // DNS
        "upstream_dns_failed",
        // timeouts
        "upstream_connect_timeout",
        "upstream_handshake_timeout",
        "upstream_timeout",
        "client_body_timeout",
        // resets
        "upstream_connection_reset",
        // load shed: the cap frees up as requests finish
        "upstream_overloaded",
    ]);
    let retryable: HashSet<Code> = Code::ALL
        .iter()
        .copied()
        .filter(|c| c.retryable())
        .collect();
    assert_eq!(retryable, transient);
    for &code in Code::ALL {
        if code.retryable() {
            assert!(
                code.http_status().is_some(),
                "{code}: retryable, but no answer carries the header"
            );
        }
    }
}

/// A TLS cause decides `upstream_tls_failed` over `upstream_error`: certificate, trust, name,
/// protocol and plain-HTTP findings of an upstream, and its handshake timeout.
#[test]
fn tls_causes_are_the_upstream_tls_codes() {
    let tls = codes(&[
        "upstream_plain_http",
        "upstream_tls_on_http_url",
        "upstream_cert_expired",
        "upstream_cert_not_yet_valid",
        "upstream_name_mismatch",
        "upstream_self_signed",
        "upstream_chain_incomplete",
        "upstream_untrusted_root",
        "upstream_tls_inspection",
        "upstream_legacy_tls",
        "upstream_no_shared_cipher",
        "upstream_client_cert_required",
        "upstream_client_cert_rejected",
        "upstream_handshake_timeout",
        "upstream_tls_failed",
    ]);
    let marked: HashSet<Code> = Code::ALL
        .iter()
        .copied()
        .filter(|c| c.is_tls_cause())
        .collect();
    assert_eq!(marked, tls);
    for code in marked {
        assert_eq!(code.group(), "upstream", "{code}");
        // A TLS failure repeats on retry; only a handshake that ran out of time may not.
        assert_eq!(
            code.retryable(),
            code == Code::UpstreamHandshakeTimeout,
            "{code}"
        );
    }
}

/// Handshake failures are logged at their severity: warnings for causes on our side as clients
/// see it (our chain, names, SNI, ALPN, mutual TLS, a PROXY header), info for client-side
/// problems and scanner noise. No handshake code is an error.
#[test]
fn handshake_codes_log_at_warn_or_info() {
    for code in in_group("inbound") {
        assert!(code.default_severity() < Severity::Error, "{code}");
    }
    for name in [
        "client_rejected_untrusted_ca",
        "client_rejected_incomplete_chain",
        "unknown_sni",
        "no_sni",
        "alpn_mismatch",
        "client_cert_missing",
        "proxy_protocol_unexpected",
    ] {
        assert_eq!(
            Code::from_name(name).map(Code::default_severity),
            Some(Severity::Warning),
            "{name}"
        );
    }
    for name in [
        "not_tls",
        "plain_http_on_tls_port",
        "handshake_timeout",
        "client_closed_after_certificate",
        "client_tls_version_too_old",
        "no_shared_cipher",
    ] {
        assert_eq!(
            Code::from_name(name).map(Code::default_severity),
            Some(Severity::Info),
            "{name}"
        );
    }
}

/// Every code docs/spec.md's Findings tables name is in the catalogue, with the severity or HTTP
/// answer the spec gives it in brackets (`cert_expired` [error], `client_body_timeout` [408],
/// `client_send_timeout` [closed]).
#[test]
fn spec_findings_tables_match_the_catalogue() {
    let spec = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/spec.md"))
        .expect("docs/spec.md");
    let section = spec
        .split("\n## Findings")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("docs/spec.md has a Findings section");
    let mut named = 0;
    for line in section.lines() {
        let Some(first_cell) = line.strip_prefix("| `").and_then(|l| l.split(" | ").next()) else {
            continue;
        };
        // "`a` [error] / `b` [warning]" or "`a` / `b`"
        for part in format!("`{first_cell}").split(" / ") {
            let part = part.trim();
            let Some(rest) = part.strip_prefix('`') else {
                panic!("unexpected cell {part:?} in: {line}");
            };
            let (name, bracket) = rest.split_once('`').expect("closing backtick");
            let code = Code::from_name(name)
                .unwrap_or_else(|| panic!("docs/spec.md names `{name}`, not in the catalogue"));
            named += 1;
            let bracket = bracket.trim().trim_start_matches('[').trim_end_matches(']');
            match bracket {
                "" => {}
                "error" | "warning" | "info" => {
                    assert_eq!(code.default_severity().as_str(), bracket, "{name}")
                }
                "closed" => assert_eq!(code.http_answer(), HttpAnswer::Closed, "{name}"),
                status => assert_eq!(
                    code.http_status().map(|s| s.to_string()).as_deref(),
                    Some(status),
                    "{name}"
                ),
            }
        }
    }
    assert!(
        named > 60,
        "only {named} codes found in docs/spec.md's tables"
    );
}
