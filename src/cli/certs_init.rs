//! `tlsgate certs init [--dir DIR] [--name NAME]...`: create (or reuse) a local development CA
//! and a leaf for localhost, 127.0.0.1, ::1 and the given names, and say exactly how to make
//! clients trust the CA.

use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::CertsInitArgs;
use crate::certs::devca::{ensure_dev_certs, DevCerts};
use crate::diagnose::trust::all_lines;

pub fn run(args: CertsInitArgs) -> ExitCode {
    match ensure_dev_certs(&args.dir, &args.names, true) {
        Ok(d) => {
            super::report::emit(&render(&d));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "error: cannot create the development certificates in {}: {e}",
                args.dir.display()
            );
            eprintln!("  fix: choose a writable directory with --dir (e.g. --dir ./.tlsgate/certs), or fix its permissions or free space");
            ExitCode::from(1)
        }
    }
}

/// `path` made absolute (resolved when it exists), so the printed lines work from anywhere.
pub fn absolute(path: &Path) -> PathBuf {
    std::fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

/// What was created or reused, and how to trust the CA.
pub fn render(d: &DevCerts) -> String {
    let mut out = String::new();
    let ca = absolute(&d.ca_cert).display().to_string();
    let ca_key = absolute(&d.ca_key).display().to_string();
    let cert = absolute(&d.cert).display().to_string();
    let key = absolute(&d.key).display().to_string();
    let verb = |created: bool| if created { "created" } else { "reused " };
    let _ = writeln!(
        out,
        "{} CA:   {ca} (key {ca_key}, mode 0600)",
        verb(d.created_ca)
    );
    let _ = writeln!(
        out,
        "{} leaf: {cert} (key {key}, mode 0600) for {}",
        if d.issued_leaf { "issued " } else { "reused " },
        d.names.join(", ")
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "Serve with (tlsgate.yaml):");
    let _ = writeln!(out, "  certificates:");
    let _ = writeln!(out, "    - cert: {cert}");
    let _ = writeln!(out, "      key: {key}");
    let _ = writeln!(out, "      ca: {ca}");
    let _ = writeln!(out);
    if d.created_ca {
        let _ = writeln!(
            out,
            "A NEW CA was created: clients must be told to trust it."
        );
    } else {
        let _ = writeln!(
            out,
            "The CA is unchanged: clients that already trust it need nothing new."
        );
    }
    let _ = writeln!(out, "Make clients trust the CA ({ca}):");
    for (who, how) in all_lines(&ca) {
        let _ = writeln!(out, "  {:<31} {how}", format!("{who}:"));
    }
    let _ = writeln!(
        out,
        "Keep {ca_key} private: anyone holding it can issue certificates your clients trust."
    );
    out
}
