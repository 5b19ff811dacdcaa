//! The `Finding` type shared by every part of tlsgate that diagnoses.

use serde::Serialize;

use super::Code;

/// How bad a finding is. Ordered so that `Error > Warning > Info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }

    /// The mark used in text reports.
    pub const fn mark(self) -> &'static str {
        match self {
            Severity::Info => "ok",
            Severity::Warning => "warn",
            Severity::Error => "error",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One diagnosis: a stable code, its severity, a plain-words summary, the evidence (`why`) and
/// what to do (`fix`).
///
/// Serialised as `{"code", "severity", "summary", "why", "fix"}`; the same shape appears in
/// reports, logs, `/status` and HTTP error bodies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub code: Code,
    pub severity: Severity,
    pub summary: String,
    pub why: String,
    pub fix: String,
}

impl Finding {
    /// A finding with the code's default severity.
    pub fn new(
        code: Code,
        summary: impl Into<String>,
        why: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Finding {
            code,
            severity: code.default_severity(),
            summary: summary.into(),
            why: why.into(),
            fix: fix.into(),
        }
    }

    /// The same finding with another severity (e.g. a startup upstream failure is only a warning).
    pub fn with_severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Sorts findings most important first (errors, then warnings, then info), keeping the
/// original order within a severity: classifiers emit causes in the order they matter.
pub fn sort_by_importance(findings: &mut [Finding]) {
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
}

#[cfg(test)]
mod tests;
