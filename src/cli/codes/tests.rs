use super::*;

const REGENERATE: &str = "regenerate it with scripts/gen-docs.sh (it puts the output of \
                          `cargo run -- codes --format markdown` between the markers)";

fn read_doc(relative: &str) -> String {
    let path = format!("{}/{relative}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The generated section of a document must be exactly what the catalogue renders now.
fn assert_generated_section_is_current(relative: &str) {
    let doc = read_doc(relative);
    let Some(current) = splice(&doc, &render_markdown()) else {
        panic!("{relative} lacks the {BEGIN_MARKER} … {END_MARKER} section; add the two markers and {REGENERATE}");
    };
    if current != doc {
        let first_difference = doc
            .lines()
            .zip(current.lines())
            .find(|(a, b)| a != b)
            .map(|(a, b)| format!("\n  {relative}: {a}\n  catalogue:  {b}"))
            .unwrap_or_default();
        panic!("{relative}'s list of codes differs from src/findings/catalogue.rs;{first_difference}\n{REGENERATE}");
    }
}

#[test]
fn readme_code_list_is_generated_from_the_catalogue() {
    assert_generated_section_is_current("README.md");
}

#[test]
fn docs_codes_md_is_generated_from_the_catalogue() {
    assert_generated_section_is_current("docs/codes.md");
}

#[test]
fn markdown_has_a_row_per_code_with_every_column() {
    let md = render_markdown();
    for &code in Code::ALL {
        let prefix = format!(
            "| `{}` | {} | {} |",
            code.as_str(),
            code.default_severity(),
            http_cell(code)
        );
        let line = md
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no row for {code}"));
        assert!(line.contains(code.meaning()) && line.contains(code.fix_hint()));
        assert_eq!(line.matches(" | ").count(), 6, "{line}");
    }
    for group in Code::GROUPS {
        assert!(md.contains(&format!("**{}** — {}", group.name, group.title)));
    }
    assert!(md.contains("| `upstream_timeout` | error | 504 | yes | no |"));
    assert!(md.contains("| `upstream_cert_expired` | error | 502 | no | yes |"));
    assert!(md.contains("| `client_send_timeout` | info | closed | - | - |"));
    assert!(md.contains("| `cert_expired` | error | - | - | - |"));
}

#[test]
fn text_lists_every_code_with_its_fix() {
    let text = render_text();
    for &code in Code::ALL {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(code.as_str()))
            .unwrap_or_else(|| panic!("no line for {code}"));
        assert!(line.contains(code.meaning()), "{line}");
        assert!(line.contains(code.default_severity().as_str()), "{line}");
        assert!(text.contains(&format!("fix: {}", code.fix_hint())));
    }
    let refused = text
        .lines()
        .find(|l| l.starts_with("upstream_refused "))
        .unwrap();
    let cells: Vec<&str> = refused.split_whitespace().take(6).collect();
    assert_eq!(
        cells,
        ["upstream_refused", "upstream", "error", "502", "yes", "no"]
    );
}

#[test]
fn json_carries_every_column() {
    let rows: Vec<serde_json::Value> = serde_json::from_str(&render_json()).unwrap();
    assert_eq!(rows.len(), Code::ALL.len());
    let by_name = |name: &str| {
        rows.iter()
            .find(|r| r["code"] == name)
            .unwrap_or_else(|| panic!("{name}"))
            .clone()
    };
    let r = by_name("upstream_handshake_timeout");
    assert_eq!(r["group"], "upstream");
    assert_eq!(r["severity"], "error");
    assert_eq!(r["http_status"], 504);
    assert_eq!(r["closes_connection"], false);
    assert_eq!(r["retryable"], true);
    assert_eq!(r["tls_cause"], true);
    assert_eq!(r["summary"], Code::UpstreamHandshakeTimeout.meaning());
    assert_eq!(r["fix"], Code::UpstreamHandshakeTimeout.fix_hint());
    let r = by_name("client_idle_timeout");
    assert_eq!(r["http_status"], serde_json::Value::Null);
    assert_eq!(r["closes_connection"], true);
    let r = by_name("key_mismatch");
    assert_eq!(r["http_status"], serde_json::Value::Null);
    assert_eq!(r["closes_connection"], false);
}

#[test]
fn explain_prints_every_column() {
    let text = explain("upstream_untrusted_root").unwrap();
    assert!(text.starts_with("upstream_untrusted_root\n"), "{text}");
    for want in [
        "group:      upstream — Upstreams",
        "severity:   error",
        "HTTP:       502",
        "retryable:  no: answered with x-should-retry: false",
        "TLS cause:  yes: a failed request is logged as upstream_tls_failed",
        Code::UpstreamUntrustedRoot.meaning(),
        Code::UpstreamUntrustedRoot.fix_hint(),
    ] {
        assert!(text.contains(want), "{want:?} not in:\n{text}");
    }
    let text = explain("client_send_timeout").unwrap();
    assert!(
        text.contains("HTTP:       none: the connection is closed"),
        "{text}"
    );
    // Forgiving about case and dashes.
    assert!(explain(" Cert-Expired ")
        .unwrap()
        .starts_with("cert_expired\n"));
    for &code in Code::ALL {
        assert!(explain(code.as_str()).is_ok(), "{code}");
    }
}

#[test]
fn explain_suggests_a_close_name_for_an_unknown_code() {
    let err = explain("cert_expird").unwrap_err();
    assert!(
        err.contains("unknown code 'cert_expird'; did you mean 'cert_expired'?"),
        "{err}"
    );
    let err = explain("upstream_refuse").unwrap_err();
    assert!(err.contains("did you mean 'upstream_refused'?"), "{err}");
    // A fragment only one code contains.
    let err = explain("inspection").unwrap_err();
    assert!(
        err.contains("did you mean 'upstream_tls_inspection'?"),
        "{err}"
    );
    // Nothing close: no guess, but where to look.
    let err = explain("banana").unwrap_err();
    assert!(!err.contains("did you mean"), "{err}");
    assert!(err.contains("`tlsgate codes` lists every code"), "{err}");
}

#[test]
fn edit_distances() {
    assert_eq!(edit_distance("", "abc"), 3);
    assert_eq!(edit_distance("abc", "abc"), 0);
    assert_eq!(edit_distance("kitten", "sitting"), 3);
    assert_eq!(edit_distance("no_sni", "no_snii"), 1);
}

#[test]
fn splice_replaces_only_the_marked_section() {
    let doc = format!("intro\n{BEGIN_MARKER}\nold\nlines\n{END_MARKER}\noutro\n");
    assert_eq!(
        splice(&doc, "new\n").unwrap(),
        format!("intro\n{BEGIN_MARKER}\nnew\n{END_MARKER}\noutro\n")
    );
    assert_eq!(splice("no markers", "x"), None);
    assert_eq!(splice(&format!("{END_MARKER} {BEGIN_MARKER}"), "x"), None);
}
