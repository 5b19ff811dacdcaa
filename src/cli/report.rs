//! Rendering findings as text (ok / warn / error marks, why:, fix:) or JSON.
//!
//! Text is for people: a section header per file or certificate, then one line per finding with
//! its mark, code and summary, and indented `why:` and `fix:` lines. JSON carries the same
//! findings in the contract shape (`{"code","severity","summary","why","fix"}`).

use std::fmt::Write;

use time::OffsetDateTime;

use crate::certs::info::format_time;
use crate::certs::CertInfo;
use crate::findings::{Finding, Severity};

/// Writes a report to stdout; a closed pipe (`| head`) is not an error worth a panic.
pub fn emit(text: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// Width of the mark column (`error` is the longest mark).
const MARK_WIDTH: usize = 5;

/// Appends a titled list of findings; "no problems found" when there is none.
pub fn render_text(title: &str, findings: &[Finding], out: &mut String) {
    if !title.is_empty() {
        let _ = writeln!(out, "{title}");
    }
    if findings.is_empty() {
        let _ = writeln!(out, "  {:<MARK_WIDTH$}  no problems found", "ok");
        return;
    }
    for f in findings {
        render_finding(f, out);
    }
}

/// One finding: `  mark   code: summary`, then `why:` and `fix:` lines.
pub fn render_finding(f: &Finding, out: &mut String) {
    let _ = writeln!(
        out,
        "  {:<MARK_WIDTH$}  {}: {}",
        f.severity.mark(),
        f.code,
        f.summary
    );
    if !f.why.is_empty() {
        let _ = writeln!(out, "  {:<MARK_WIDTH$}    why: {}", "", f.why);
    }
    if !f.fix.is_empty() {
        let _ = writeln!(out, "  {:<MARK_WIDTH$}    fix: {}", "", f.fix);
    }
}

/// A section header for one certificate: subject, issuer, SANs, validity with days left, key,
/// signature and fingerprint.
pub fn render_cert_header(heading: &str, cert: &CertInfo, now: OffsetDateTime, out: &mut String) {
    let _ = writeln!(out, "{heading}");
    let _ = writeln!(out, "    subject:     {}", cert.subject);
    let _ = writeln!(out, "    issuer:      {}", cert.issuer);
    let sans = if cert.has_san_extension {
        cert.sans.join(", ")
    } else {
        "(none: no subjectAltName extension)".to_string()
    };
    let _ = writeln!(out, "    names:       {sans}");
    let days = cert.days_left(now);
    let left = if cert.not_after < now {
        format!("expired {} day(s) ago", -days)
    } else if cert.not_before > now {
        "not valid yet".to_string()
    } else {
        format!("{days} day(s) left")
    };
    let _ = writeln!(
        out,
        "    valid:       {} to {} ({left})",
        format_time(cert.not_before),
        format_time(cert.not_after)
    );
    let ca = match cert.basic_constraints_ca {
        Some(true) => ", CA",
        _ => "",
    };
    let _ = writeln!(out, "    key:         {}{ca}", cert.key);
    let _ = writeln!(out, "    signature:   {}", cert.signature_algorithm);
    let _ = writeln!(out, "    sha256:      {}", cert.fingerprint_sha256);
}

/// A one-line tally: `1 error, 2 warnings, 1 info`.
pub fn render_summary(findings: &[Finding]) -> String {
    let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
    let (e, w, i) = (
        count(Severity::Error),
        count(Severity::Warning),
        count(Severity::Info),
    );
    let plural = |n: usize, word: &str| {
        if n == 1 {
            format!("{n} {word}")
        } else {
            format!("{n} {word}s")
        }
    };
    format!(
        "{}, {}, {} info",
        plural(e, "error"),
        plural(w, "warning"),
        i
    )
}

#[cfg(test)]
mod tests;
