//! `tlsgate inspect FILE... [--key FILE] [--name NAME]... [--ca FILE] [--format text|json]`:
//! diagnose local PEM files without running anything.
//!
//! The FILEs form one bundle (certificates in the order given, a key in any of them); `--ca` adds
//! private trust anchors. Exit 0 when no finding is an error, 1 otherwise.

use std::fmt::Write;
use std::process::ExitCode;

use serde::Serialize;

use super::report;
use super::{Format, InspectArgs};
use crate::certs::checks::{chain_summary, check_bundle, load_bundle, Bundle, CheckContext};
use crate::certs::pem::PemFile;
use crate::certs::served::read_certificates;
use crate::certs::CertInfo;
use crate::findings::{sort_by_importance, Finding};

#[derive(Serialize)]
struct JsonReport<'a> {
    certificates: &'a [CertInfo],
    findings: &'a [Finding],
}

/// Loads `--ca` roots; problems with the file itself are findings.
fn load_ca(args: &InspectArgs) -> (Vec<CertInfo>, Vec<Finding>) {
    let Some(path) = &args.ca else {
        return (Vec::new(), Vec::new());
    };
    match read_certificates(path, &PemFile::read) {
        Ok(c) => (c, Vec::new()),
        Err(f) => (Vec::new(), f),
    }
}

/// Runs the diagnosis: the bundle and every finding, most important first.
pub fn diagnose(args: &InspectArgs) -> (Bundle, Vec<Finding>, CheckContext) {
    diagnose_with(args, CheckContext::default())
}

/// As [`diagnose`] from a base context (`check` passes the configured expiry window).
pub fn diagnose_with(
    args: &InspectArgs,
    base: CheckContext,
) -> (Bundle, Vec<Finding>, CheckContext) {
    let bundle = load_bundle(&args.files, args.key.as_deref());
    let (roots, mut ca_findings) = load_ca(args);
    let ctx = CheckContext {
        names: args.names.clone(),
        extra_roots: roots,
        ..base
    };
    let mut findings = check_bundle(&bundle, &ctx);
    findings.append(&mut ca_findings);
    sort_by_importance(&mut findings);
    (bundle, findings, ctx)
}

/// The text report.
pub fn render(bundle: &Bundle, findings: &[Finding], ctx: &CheckContext) -> String {
    let mut out = String::new();
    let files: Vec<String> = bundle
        .files
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let _ = writeln!(out, "bundle: {}", files.join(" + "));
    if let Some(k) = &bundle.key_file {
        let _ = writeln!(out, "key:    {}", k.display());
    }
    for (i, c) in bundle.certs.iter().enumerate() {
        let from = bundle
            .origins
            .get(i)
            .map(|p| format!(" ({})", p.display()))
            .unwrap_or_default();
        report::render_cert_header(
            &format!("certificate #{}{from}", i + 1),
            c,
            ctx.now,
            &mut out,
        );
    }
    if !bundle.certs.is_empty() {
        let _ = writeln!(out, "chain:  {}", chain_summary(bundle, ctx));
    }
    let _ = writeln!(out);
    report::render_text(
        &format!("findings ({})", report::render_summary(findings)),
        findings,
        &mut out,
    );
    out
}

pub fn run(args: InspectArgs) -> ExitCode {
    let (bundle, findings, ctx) = diagnose(&args);
    match args.format {
        Format::Json => {
            let json = serde_json::to_string_pretty(&JsonReport {
                certificates: &bundle.certs,
                findings: &findings,
            })
            .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
            super::report::emit(&format!("{json}\n"));
        }
        Format::Text => super::report::emit(&render(&bundle, &findings, &ctx)),
    }
    if findings.iter().any(Finding::is_error) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
