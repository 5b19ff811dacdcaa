//! `tlsgate codes [--format text|json|markdown]` and `tlsgate explain CODE`: the catalogue of
//! finding codes, printed from its one table (`findings::Code`) with every column.
//!
//! The markdown form is also the documentation: README.md and docs/codes.md carry it between
//! [`BEGIN_MARKER`] and [`END_MARKER`], `scripts/gen-docs.sh` rewrites those sections, and the
//! tests beside this file fail when a document differs from the table.

use std::fmt::Write;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use serde::Serialize;

use super::report;
use crate::findings::{Code, HttpAnswer};

/// Opens the generated section of a document.
pub const BEGIN_MARKER: &str = "<!-- codes:begin -->";
/// Closes the generated section of a document.
pub const END_MARKER: &str = "<!-- codes:end -->";

#[derive(Debug, Args)]
pub struct CodesArgs {
    #[arg(long, value_enum, default_value_t = CodesFormat::Text)]
    pub format: CodesFormat,
}

/// Output formats of `tlsgate codes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum CodesFormat {
    #[default]
    Text,
    Json,
    /// The tables of README.md and docs/codes.md.
    Markdown,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// A finding code, as logs and reports show it (e.g. `chain_incomplete`).
    pub code: String,
}

pub fn run_codes(args: CodesArgs) -> ExitCode {
    let out = match args.format {
        CodesFormat::Text => render_text(),
        CodesFormat::Json => render_json(),
        CodesFormat::Markdown => render_markdown(),
    };
    report::emit(&out);
    ExitCode::SUCCESS
}

pub fn run_explain(args: ExplainArgs) -> ExitCode {
    match explain(&args.code) {
        Ok(text) => {
            report::emit(&text);
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("{message}");
            ExitCode::from(1)
        }
    }
}

/// The HTTP column for people: a status, `closed`, or `-` for codes that never end a request.
fn http_cell(code: Code) -> String {
    match code.http_answer() {
        HttpAnswer::Status(s) => s.to_string(),
        HttpAnswer::Closed => "closed".to_string(),
        HttpAnswer::None => "-".to_string(),
    }
}

/// The retryable column for people: only an answer carries `x-should-retry`.
fn retry_cell(code: Code) -> &'static str {
    match (code.http_status(), code.retryable()) {
        (None, _) => "-",
        (Some(_), true) => "yes",
        (Some(_), false) => "no",
    }
}

/// The TLS-cause column for people: it decides the event of a failed upstream request, so it
/// applies to upstream codes only.
fn tls_cell(code: Code) -> &'static str {
    match (code.group(), code.is_tls_cause()) {
        ("upstream", true) => "yes",
        ("upstream", false) => "no",
        (_, true) => "yes",
        _ => "-",
    }
}

fn group_title(group: &str) -> &'static str {
    Code::GROUPS
        .iter()
        .find(|g| g.name == group)
        .map(|g| g.title)
        .unwrap_or("")
}

/// One line per code with every column, the fix on an indented line below; a titled section
/// per group.
pub fn render_text() -> String {
    let headers = ["CODE", "GROUP", "SEVERITY", "HTTP", "RETRY", "TLS"];
    let code_w = Code::ALL
        .iter()
        .map(|c| c.as_str().len())
        .max()
        .unwrap_or(0)
        .max(headers[0].len());
    let widths = [code_w, 8, 8, 6, 5, 3];
    let row = |cells: [&str; 6], summary: &str| {
        let mut line = String::new();
        for (cell, w) in cells.iter().zip(widths) {
            let _ = write!(line, "{cell:<w$}  ");
        }
        line.push_str(summary);
        line
    };
    let indent = widths.iter().map(|w| w + 2).sum::<usize>();
    let mut out = String::new();
    for group in Code::GROUPS {
        if !out.is_empty() {
            out.push('\n');
        }
        let _ = writeln!(out, "{}: {}", group.name, group.title);
        let _ = writeln!(out, "{}", row(headers, "SUMMARY"));
        for &code in Code::ALL.iter().filter(|c| c.group() == group.name) {
            let http = http_cell(code);
            let cells = [
                code.as_str(),
                code.group(),
                code.default_severity().as_str(),
                &http,
                retry_cell(code),
                tls_cell(code),
            ];
            let _ = writeln!(out, "{}", row(cells, code.meaning()));
            let _ = writeln!(out, "{:indent$}fix: {}", "", code.fix_hint());
        }
    }
    out
}

/// One catalogue row as JSON: every column, typed for scripts.
#[derive(Debug, Serialize)]
struct Row {
    code: &'static str,
    group: &'static str,
    severity: &'static str,
    /// The status a client gets, or null (closed connection, or no HTTP request involved).
    http_status: Option<u16>,
    /// The connection is closed without an answer.
    closes_connection: bool,
    /// No `x-should-retry: false` on the answer.
    retryable: bool,
    /// A failed upstream request is logged as `upstream_tls_failed`.
    tls_cause: bool,
    summary: &'static str,
    fix: &'static str,
}

fn row(code: Code) -> Row {
    Row {
        code: code.as_str(),
        group: code.group(),
        severity: code.default_severity().as_str(),
        http_status: code.http_status(),
        closes_connection: code.http_answer() == HttpAnswer::Closed,
        retryable: code.retryable(),
        tls_cause: code.is_tls_cause(),
        summary: code.meaning(),
        fix: code.fix_hint(),
    }
}

/// The whole catalogue as a JSON array, in catalogue order.
pub fn render_json() -> String {
    let rows: Vec<Row> = Code::ALL.iter().copied().map(row).collect();
    let mut out = serde_json::to_string_pretty(&rows).unwrap_or_else(|_| "[]".to_string());
    out.push('\n');
    out
}

/// A table per group: the generated section of README.md and docs/codes.md.
pub fn render_markdown() -> String {
    let mut out = String::new();
    for group in Code::GROUPS {
        if !out.is_empty() {
            out.push('\n');
        }
        let _ = writeln!(out, "**{}** — {}\n", group.name, group.title);
        let _ = writeln!(
            out,
            "| code | severity | HTTP | retryable | TLS cause | summary | fix |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|");
        for &code in Code::ALL.iter().filter(|c| c.group() == group.name) {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} | {} | {} |",
                code.as_str(),
                code.default_severity(),
                http_cell(code),
                retry_cell(code),
                tls_cell(code),
                code.meaning(),
                code.fix_hint()
            );
        }
    }
    out
}

/// `text` with the part between the markers replaced by `generated`; `None` without both
/// markers in order.
pub fn splice(text: &str, generated: &str) -> Option<String> {
    let begin = text.find(BEGIN_MARKER)? + BEGIN_MARKER.len();
    let end = begin + text[begin..].find(END_MARKER)?;
    Some(format!("{}\n{}{}", &text[..begin], generated, &text[end..]))
}

/// Everything the catalogue says about one code, or the error to print (with a suggestion when
/// a code of a close name exists).
pub fn explain(name: &str) -> Result<String, String> {
    let wanted = name.trim().to_ascii_lowercase().replace('-', "_");
    let Some(code) = Code::from_name(&wanted) else {
        let mut message = format!("tlsgate: unknown code '{name}'");
        if let Some(close) = closest(&wanted) {
            let _ = write!(message, "; did you mean '{close}'?");
        }
        message.push_str("\n`tlsgate codes` lists every code.");
        return Err(message);
    };
    let http = match code.http_answer() {
        HttpAnswer::Status(s) => format!("{s} (an OpenAI-shaped JSON error)"),
        HttpAnswer::Closed => "none: the connection is closed".to_string(),
        HttpAnswer::None => "none: this code does not end an HTTP request".to_string(),
    };
    let retry = match (code.http_status(), code.retryable()) {
        (None, _) => "-",
        (Some(_), true) => "yes: the client may retry",
        (Some(_), false) => "no: answered with x-should-retry: false",
    };
    let tls = match (code.group(), code.is_tls_cause()) {
        ("upstream", true) => "yes: a failed request is logged as upstream_tls_failed",
        ("upstream", false) => "no: a failed request is logged as upstream_error",
        (_, true) => "yes",
        _ => "-",
    };
    let mut out = String::new();
    let _ = writeln!(out, "{code}");
    let _ = writeln!(
        out,
        "  group:      {} — {}",
        code.group(),
        group_title(code.group())
    );
    let _ = writeln!(out, "  severity:   {}", code.default_severity());
    let _ = writeln!(out, "  HTTP:       {http}");
    let _ = writeln!(out, "  retryable:  {retry}");
    let _ = writeln!(out, "  TLS cause:  {tls}");
    let _ = writeln!(out, "  summary:    {}", code.meaning());
    let _ = writeln!(out, "  fix:        {}", code.fix_hint());
    Ok(out)
}

/// The code whose name is closest to `wanted`: within a few edits, or the only one containing
/// it.
fn closest(wanted: &str) -> Option<&'static str> {
    if wanted.is_empty() {
        return None;
    }
    let (best, distance) = Code::ALL
        .iter()
        .map(|c| (c.as_str(), edit_distance(wanted, c.as_str())))
        .min_by_key(|&(_, d)| d)?;
    if distance <= (wanted.len() / 4).max(2) {
        return Some(best);
    }
    let mut containing = Code::ALL
        .iter()
        .map(|c| c.as_str())
        .filter(|n| n.contains(wanted));
    match (containing.next(), containing.next()) {
        (Some(only), None) => Some(only),
        _ => None,
    }
}

/// Levenshtein distance over bytes (code names are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, &ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(ca != cb);
            cur[j + 1] = substitute.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests;
