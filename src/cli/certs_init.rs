//! `tlsgate certs init [--dir DIR] [--name NAME]...`: create (or reuse) a local development CA
//! and a leaf for localhost, 127.0.0.1, ::1 and the given names, and say exactly how to make
//! clients trust the CA.

use std::fmt::Write;
use std::process::ExitCode;

use super::CertsInitArgs;
use crate::certs::devca::{ensure_dev_certs, DevCerts};

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

/// What was created or reused, and how to trust the CA.
pub fn render(d: &DevCerts) -> String {
    let mut out = String::new();
    let ca = d.ca_cert.display().to_string();
    let verb = |created: bool| if created { "created" } else { "reused " };
    let _ = writeln!(
        out,
        "{} CA:   {ca} (key {}, mode 0600)",
        verb(d.created_ca),
        d.ca_key.display()
    );
    let _ = writeln!(
        out,
        "{} leaf: {} (key {}, mode 0600) for {}",
        if d.issued_leaf { "issued " } else { "reused " },
        d.cert.display(),
        d.key.display(),
        d.names.join(", ")
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "Serve with (tlsgate.yaml):");
    let _ = writeln!(out, "  certificates:");
    let _ = writeln!(out, "    - cert: {}", d.cert.display());
    let _ = writeln!(out, "      key: {}", d.key.display());
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
    let _ = writeln!(
        out,
        "  curl:              curl --cacert {ca} https://localhost:8443/"
    );
    let _ = writeln!(out, "  Python requests:   export REQUESTS_CA_BUNDLE={ca}");
    let _ = writeln!(out, "  httpx, OpenAI SDK: export SSL_CERT_FILE={ca}");
    let _ = writeln!(out, "                     warning: SSL_CERT_FILE REPLACES the default trust store instead of adding to it;");
    let _ = writeln!(out, "                     if the same process also calls public HTTPS services, concatenate certifi's bundle and the CA:");
    let _ = writeln!(out, "                     cat \"$(python3 -m certifi)\" {ca} > bundle.pem && export SSL_CERT_FILE=$PWD/bundle.pem");
    let _ = writeln!(out, "  Node.js:           export NODE_EXTRA_CA_CERTS={ca}");
    let _ = writeln!(out, "  system store (Debian/Ubuntu):");
    let _ = writeln!(out, "                     sudo cp {ca} /usr/local/share/ca-certificates/tlsgate.crt && sudo update-ca-certificates");
    let _ = writeln!(out, "  system store (macOS):");
    let _ = writeln!(out, "                     sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain {ca}");
    let _ = writeln!(
        out,
        "Keep {} private: anyone holding it can issue certificates your clients trust.",
        d.ca_key.display()
    );
    out
}
