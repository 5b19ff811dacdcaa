//! docs/diagnosis-matrix.md, generated from the expectations the real-peer tests assert: one
//! row per test (peer × scenario → the code tlsgate must name and what its text must say), with
//! the test's state read from tests/it/real_peers.rs (passes, or ignored and why). A test compares
//! the document with this rendering, so the matrix cannot drift from the tests.

use super::cases::{client_expected, PgScenario, ServerKind, UpstreamScenario};
use super::clients::Client;

pub const DOC: &str = "docs/diagnosis-matrix.md";
pub const BEGIN: &str = "<!-- BEGIN generated from tests/it/real_peers/cases.rs -->";
pub const END: &str = "<!-- END generated -->";

/// One real-peer test.
pub struct Row {
    pub side: &'static str,
    pub peer: String,
    pub scenario: &'static str,
    /// The codes tlsgate must report.
    pub codes: Vec<&'static str>,
    /// Words the finding must contain (its fix, or its text for clients).
    pub words: Vec<&'static str>,
    pub test: String,
}

pub fn rows() -> Vec<Row> {
    let mut out = Vec::new();
    for kind in ServerKind::ALL {
        for sc in UpstreamScenario::ALL {
            let want = sc.expected();
            out.push(Row {
                side: "upstream (check, probe, proxied request)",
                peer: kind.name().to_string(),
                scenario: sc.name(),
                codes: want.iter().map(|(c, _)| *c).collect(),
                words: want.iter().map(|(_, w)| *w).collect(),
                test: format!("{}_{}", kind.name(), sc.test_suffix()),
            });
        }
    }
    for sc in PgScenario::ALL {
        let (codes, words) = match sc.expected() {
            Some((code, words)) => (vec![code], words.to_vec()),
            None => (Vec::new(), Vec::new()),
        };
        out.push(Row {
            side: "upstream (probe --starttls postgres)",
            peer: "PostgreSQL".to_string(),
            scenario: sc.name(),
            codes,
            words,
            test: format!("postgres_{}", sc.test_suffix()),
        });
    }
    for client in Client::ALL {
        for sc in super::cases::ClientScenario::ALL {
            let (code, words) = client_expected(client, sc);
            out.push(Row {
                side: "inbound (tls_handshake_failed)",
                peer: client.name().to_string(),
                scenario: sc.name(),
                codes: vec![code],
                words,
                test: format!("{}_{}", client.test_prefix(), sc.test_suffix()),
            });
        }
    }
    out
}

/// The state of test `name` in the test file's source: "passes", or the ignore reason.
pub fn state(source: &str, name: &str) -> Option<String> {
    let at = source.find(&format!("\nfn {name}()"))?;
    let before = &source[..at];
    let attrs = before.rsplit("\n\n").next().unwrap_or("");
    match attrs.find("#[ignore") {
        Some(i) => {
            let reason = attrs[i..]
                .split('"')
                .nth(1)
                .unwrap_or("no reason given")
                .to_string();
            Some(format!("ignored: {reason}"))
        }
        None => Some("passes".to_string()),
    }
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

/// The generated part of the document.
pub fn render(test_source: &str) -> String {
    let mut s = String::new();
    s.push_str(BEGIN);
    s.push('\n');
    s.push_str(
        "| side | peer | scenario | tlsgate names | its text must contain | test | state |\n",
    );
    s.push_str("|---|---|---|---|---|---|---|\n");
    for r in rows() {
        let codes = if r.codes.is_empty() {
            "no error (probe exit 0)".to_string()
        } else {
            r.codes
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(" + ")
        };
        let words = r
            .words
            .iter()
            .map(|w| format!("`{}`", cell(w)))
            .collect::<Vec<_>>()
            .join(", ");
        let state = state(test_source, &r.test).unwrap_or_else(|| "MISSING".to_string());
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | `{}` | {} |\n",
            r.side,
            r.peer,
            r.scenario,
            codes,
            words,
            r.test,
            cell(&state)
        ));
    }
    s.push_str(END);
    s.push('\n');
    s
}
