//! `tlsgate probe TARGET`: diagnose a remote TLS endpoint with one connection.
//!
//! The chain is captured even when invalid and judged by the project's own checks (trust per
//! store, name, validity, TLS inspection); the negotiated parameters, whether a client
//! certificate was asked for, plain HTTP on the port and PostgreSQL STARTTLS are reported too.
//! Exit status: 0 healthy, 1 problems found, 2 no TCP connection (DNS, refused, timeout).
//!
//! `cli::report` is still a stub in this tree, so the text rendering is local (same shape as
//! the other reports: a mark, the finding, an indented `why:` and `fix:`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, ValueEnum};
use serde_json::json;

use super::Format;
use crate::certs::info::format_time;
use crate::diagnose::upstream::{webpki_store, FixContext};
use crate::findings::{Code, Finding};
use crate::proxy::check::{probe, ProbeOutcome, ProbeTarget, StartTls};
use crate::proxy::connect::ConnectError;

#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// `https://host[:port]`, `host:port` or `host` (port 443).
    pub target: String,
    /// Extra trust anchors (a private CA's root, a corporate inspection CA), PEM.
    #[arg(long)]
    pub ca: Option<PathBuf>,
    /// The name to send as SNI and verify (default: the target's host; an IP target is
    /// verified against IP SANs).
    #[arg(long)]
    pub sni: Option<String>,
    /// Client certificate (PEM) for servers that require mutual TLS.
    #[arg(long = "client-cert", requires = "client_key")]
    pub client_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long = "client-key", requires = "client_cert")]
    pub client_key: Option<PathBuf>,
    /// Speak a protocol's STARTTLS preamble before TLS.
    #[arg(long, value_enum)]
    pub starttls: Option<StartTlsArg>,
    /// Seconds allowed for the TCP connection and, separately, the TLS handshake.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StartTlsArg {
    Postgres,
}

/// A parsed probe target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    pub port: u16,
    /// `false` for an `http://` target: then only "does it speak TLS?" is checked.
    pub tls: bool,
}

/// Why a probe target cannot be read; `target` is the text as given (trimmed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("{target:?}: only https:// and http:// URLs, host:port or host are accepted")]
    UnsupportedScheme { target: String },
    #[error("{target:?} has no host")]
    MissingHost { target: String },
    #[error("{target:?}: unclosed '[' in the IPv6 address")]
    UnclosedBracket { target: String },
    #[error("{target:?}: unexpected text after the IPv6 address")]
    AfterIpv6 { target: String },
    #[error("{target:?}: {port:?} is not a valid port")]
    Port { target: String, port: String },
}

/// Parses `https://host[:port][/path]`, `http://host[:port]`, `host:port`, `[v6]:port`, `host`.
pub fn parse_target(text: &str) -> Result<Target, TargetError> {
    let t = text.trim();
    let target = || t.to_string();
    let (rest, tls, default_port) = if let Some(r) = t.strip_prefix("https://") {
        (r, true, 443)
    } else if let Some(r) = t.strip_prefix("http://") {
        (r, false, 80)
    } else if t.contains("://") {
        return Err(TargetError::UnsupportedScheme { target: target() });
    } else {
        (t, true, 443)
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit('@').next().unwrap_or("");
    if authority.is_empty() {
        return Err(TargetError::MissingHost { target: target() });
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| TargetError::UnclosedBracket { target: target() })?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(TargetError::AfterIpv6 { target: target() }),
        };
        (h.to_string(), port)
    } else if authority.matches(':').count() > 1 {
        // A bare IPv6 address without brackets or port.
        (authority.to_string(), None)
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (authority.to_string(), None),
        }
    };
    if host.is_empty() {
        return Err(TargetError::MissingHost { target: target() });
    }
    let port = match port {
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| TargetError::Port {
                target: target(),
                port: p.to_string(),
            })?,
        None => default_port,
    };
    Ok(Target { host, port, tls })
}

/// The finding for a failure before TLS, worded for the command line.
fn tcp_finding(target: &str, ce: &ConnectError) -> Finding {
    let (summary, fix) = match ce.code {
        Code::UpstreamDnsFailed => (
            "the host name does not resolve",
            "check the spelling of the host and this machine's DNS",
        ),
        Code::UpstreamRefused => (
            "the connection was refused",
            "check the port, and that the server is running",
        ),
        Code::UpstreamConnectTimeout => (
            "connecting timed out",
            "check firewalls and routes, or whether an egress proxy is needed",
        ),
        _ => (
            "the host could not be reached",
            "check the address and the network",
        ),
    };
    Finding::new(ce.code, summary, format!("{target}: {}", ce.why), fix)
}

/// The ALPN protocols offered. PostgreSQL 17 and later reject a client that offers ALPN
/// without `postgresql` (a fatal `no_application_protocol` alert), and libpq offers exactly
/// that, so the PostgreSQL probe does too; older servers ignore ALPN.
fn alpn_for(starttls: Option<StartTlsArg>) -> Vec<Vec<u8>> {
    match starttls {
        Some(StartTlsArg::Postgres) => vec![b"postgresql".to_vec()],
        None => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
    }
}

/// Runs the subcommand.
pub fn run(args: ProbeArgs) -> ExitCode {
    let target = match parse_target(&args.target) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("tlsgate probe: {e}");
            return ExitCode::from(2);
        }
    };
    let mut stores = vec![crate::tls::roots::system_store(), webpki_store()];
    if let Some(ca) = &args.ca {
        match crate::tls::roots::ca_file_store("ca", ca) {
            Ok(s) => stores.push(s),
            Err(e) => {
                eprintln!("tlsgate probe: --ca {e}");
                return ExitCode::from(2);
            }
        }
    }
    let client_key = match (&args.client_cert, &args.client_key) {
        (Some(c), Some(k)) => match crate::tls::client::load_client_key(c, k) {
            Ok(k) => Some(k),
            Err(e) => {
                eprintln!("tlsgate probe: --{}", e.to_string().replacen('_', "-", 1));
                return ExitCode::from(2);
            }
        },
        _ => None,
    };
    let timeout = Duration::from_secs(args.timeout.max(1));
    let probe_target = ProbeTarget {
        host: target.host.clone(),
        port: target.port,
        server_name: args.sni.clone(),
        tls: target.tls,
        stores,
        client_key,
        alpn: alpn_for(args.starttls),
        connect_timeout: timeout,
        tls_timeout: timeout,
        context: match args.starttls {
            Some(StartTlsArg::Postgres) => FixContext::ProbePostgres,
            None => FixContext::Probe,
        },
        verification_disabled: false,
        starttls: args.starttls.map(|s| match s {
            StartTlsArg::Postgres => StartTls::Postgres,
        }),
        egress: None,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tlsgate probe: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let display = format!("{}:{}", target.host, target.port);
    let outcome = runtime.block_on(probe(&probe_target, |ce| tcp_finding(&display, ce)));
    let has_ca = args.ca.is_some();
    match args.format {
        Format::Json => {
            super::report::emit(&format!("{}\n", to_json(&args.target, &outcome, has_ca)))
        }
        Format::Text => super::report::emit(&to_text(&args.target, &outcome, has_ca)),
    }
    exit_code(&outcome)
}

/// 0 healthy, 1 problems found, 2 no TCP connection.
pub fn exit_code(outcome: &ProbeOutcome) -> ExitCode {
    if outcome.tcp_error.is_some() {
        ExitCode::from(2)
    } else if outcome.findings.iter().any(Finding::is_error) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn trust_of(outcome: &ProbeOutcome, store: &str) -> Option<bool> {
    outcome
        .trust
        .iter()
        .find(|v| v.store == store)
        .map(|v| v.trusted)
}

/// The JSON report.
pub fn to_json(target: &str, outcome: &ProbeOutcome, has_ca: bool) -> serde_json::Value {
    let chain_seen = !outcome.chain.is_empty();
    let verdict = |store: &str| -> serde_json::Value {
        if !chain_seen {
            return serde_json::Value::Null;
        }
        json!(trust_of(outcome, store).unwrap_or(false))
    };
    json!({
        "target": target,
        "address": outcome.address,
        "tls_version": outcome.tls_version,
        "cipher": outcome.cipher,
        "alpn": outcome.alpn,
        "chain": outcome.chain,
        "trust": {
            "system": verdict("system"),
            "webpki": verdict("webpki"),
            "ca": if has_ca { verdict("ca") } else { serde_json::Value::Null },
        },
        "client_cert_requested": outcome.client_cert_requested,
        "findings": outcome.findings,
    })
}

fn yes_no(b: Option<bool>) -> &'static str {
    match b {
        Some(true) => "trusted",
        Some(false) => "not trusted",
        None => "-",
    }
}

/// The text report.
pub fn to_text(target: &str, outcome: &ProbeOutcome, has_ca: bool) -> String {
    let mut s = String::new();
    s.push_str(&format!("target:  {target}\n"));
    if let Some(a) = &outcome.address {
        s.push_str(&format!("address: {a}\n"));
    }
    if let Some(v) = &outcome.tls_version {
        s.push_str(&format!(
            "tls:     {v}, {}, alpn {}\n",
            outcome.cipher.as_deref().unwrap_or("-"),
            outcome.alpn.as_deref().unwrap_or("none")
        ));
    }
    if !outcome.chain.is_empty() {
        s.push_str("chain:\n");
        for (i, c) in outcome.chain.iter().enumerate() {
            s.push_str(&format!(
                "  #{i} {}\n      issuer: {}\n      valid:  {} .. {}\n",
                c.subject,
                c.issuer,
                format_time(c.not_before),
                format_time(c.not_after)
            ));
            if !c.sans.is_empty() {
                s.push_str(&format!("      names:  {}\n", c.sans.join(", ")));
            }
        }
        s.push_str(&format!(
            "trust:   system {}, webpki {}{}\n",
            yes_no(trust_of(outcome, "system")),
            yes_no(trust_of(outcome, "webpki")),
            if has_ca {
                format!(", --ca {}", yes_no(trust_of(outcome, "ca")))
            } else {
                String::new()
            }
        ));
    }
    if outcome.tcp_error.is_none() {
        s.push_str(&format!(
            "client certificate requested: {}\n",
            if outcome.client_cert_requested {
                "yes"
            } else {
                "no"
            }
        ));
    }
    s.push('\n');
    super::report::render_text(
        &format!(
            "findings ({})",
            super::report::render_summary(&outcome.findings)
        ),
        &outcome.findings,
        &mut s,
    );
    s
}

#[cfg(test)]
mod tests;
