//! `tlsgate check [-c FILE] [--offline] [--format text|json]`: like `nginx -t`, but explains.
//!
//! Validates the configuration, then every listener certificate (the same checks as `inspect`
//! and the startup self-check), the other files the configuration names, and — unless
//! `--offline` — connects once to every upstream and validates its chain.

use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;

use super::report;
use super::{CheckArgs, Format, InspectArgs};
use crate::certs::pem::PemFile;
use crate::config::{self, Config};
use crate::findings::Finding;

/// One titled group of findings in the report.
#[derive(Debug, Serialize)]
pub struct Section {
    pub title: String,
    pub findings: Vec<Finding>,
}

/// Exit status 2: the configuration itself cannot be used.
const EXIT_CONFIG: u8 = 2;

pub fn run(args: CheckArgs) -> ExitCode {
    let path = args
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from("tlsgate.yaml"));
    let cfg = match config::load(&path) {
        Ok(c) => c,
        Err(e) => {
            let sections = vec![Section {
                title: format!("configuration {}", path.display()),
                findings: vec![e.to_finding()],
            }];
            print(&sections, args.format);
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    crate::certs::pem::set_max_file_bytes(cfg.limits.max_cert_file_bytes.0);
    let mut sections = vec![Section {
        title: format!("configuration {}", path.display()),
        findings: Vec::new(),
    }];
    sections.extend(local_sections(&cfg));
    if !args.offline {
        sections.extend(upstream_sections(&cfg));
    }
    print(&sections, args.format);
    if sections
        .iter()
        .flat_map(|s| &s.findings)
        .any(Finding::is_error)
    {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Every local file the configuration names, diagnosed.
pub fn local_sections(cfg: &Config) -> Vec<Section> {
    let mut sections = Vec::new();
    for l in &cfg.listeners {
        let Some(tls) = &l.tls else { continue };
        for (i, src) in tls.certificates.iter().enumerate() {
            let args = InspectArgs {
                files: vec![src.cert.clone()],
                key: Some(src.key.clone()),
                names: src.names.clone().unwrap_or_default(),
                ca: src.ca.clone(),
                format: Format::Text,
            };
            let (_, findings, _) = super::inspect::diagnose_with(
                &args,
                crate::certs::checks::CheckContext::for_config(cfg),
            );
            sections.push(Section {
                title: format!(
                    "listener {} certificate #{} ({})",
                    l.name,
                    i,
                    src.cert.display()
                ),
                findings,
            });
        }
        if let Some(auth) = &tls.client_auth {
            sections.push(Section {
                title: format!("listener {} client CA ({})", l.name, auth.ca.display()),
                findings: cert_file_findings(&auth.ca),
            });
        }
    }
    for (name, up) in &cfg.upstreams {
        let mut findings = Vec::new();
        if let Some(ca) = &up.tls.ca_bundle {
            findings.extend(cert_file_findings(ca));
        }
        if let (Some(cert), Some(key)) = (&up.tls.client_cert, &up.tls.client_key) {
            let bundle = crate::certs::checks::load_bundle(std::slice::from_ref(cert), Some(key));
            findings.extend(bundle.fatal);
        }
        if up.tls.insecure_skip_verify {
            findings.push(Finding::new(
                crate::findings::Code::UpstreamVerificationDisabled,
                format!("certificate verification of upstream {name} is disabled"),
                format!("upstreams.{name}.tls.insecure_skip_verify is true"),
                format!(
                    "remove it and trust the upstream's CA with upstreams.{name}.tls.ca_bundle"
                ),
            ));
        }
        if !findings.is_empty() {
            sections.push(Section {
                title: format!("upstream {name} (local files)"),
                findings,
            });
        }
    }
    sections
}

/// A file that must hold at least one certificate.
fn cert_file_findings(path: &std::path::Path) -> Vec<Finding> {
    crate::certs::served::read_certificates(path, &PemFile::read)
        .err()
        .unwrap_or_default()
}

/// Connects to every upstream once and validates what it presents.
pub fn upstream_sections(cfg: &Config) -> Vec<Section> {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return Vec::new();
    };
    rt.block_on(async {
        let mut sections = Vec::new();
        for (name, up) in &cfg.upstreams {
            let st = crate::proxy::check::check_upstream(name, up).await;
            let tls = match (&st.tls_version, &st.cipher) {
                (Some(v), Some(c)) => format!(", {v} {c}"),
                _ => String::new(),
            };
            sections.push(Section {
                title: format!("upstream {name} ({}): {}{tls}", st.url, st.status),
                findings: st.findings,
            });
        }
        sections
    })
}

fn print(sections: &[Section], format: Format) {
    match format {
        Format::Json => {
            let all: Vec<&Finding> = sections.iter().flat_map(|s| &s.findings).collect();
            let v = serde_json::json!({"sections": sections, "findings": all});
            report::emit(&format!(
                "{}\n",
                serde_json::to_string_pretty(&v).unwrap_or_default()
            ));
        }
        Format::Text => {
            let mut out = String::new();
            for s in sections {
                report::render_text(&s.title, &s.findings, &mut out);
                out.push('\n');
            }
            let all: Vec<Finding> = sections.iter().flat_map(|s| s.findings.clone()).collect();
            out.push_str(&format!("result: {}\n", report::render_summary(&all)));
            report::emit(&out);
        }
    }
}
