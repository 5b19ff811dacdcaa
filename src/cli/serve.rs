//! `tlsgate serve`: resolve the configuration (file, `./tlsgate.yaml`, or the built-in dev
//! default), then run the proxy until SIGTERM/SIGINT.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::ServeArgs;
use crate::app::{self as runner, Running};
use crate::certs::devca::{self, DevCerts};
use crate::config::{self, Config};
use crate::findings::Finding;

/// Where the built-in default keeps its dev CA and leaf.
pub const DEV_CERT_DIR: &str = ".tlsgate/certs";

pub fn run(args: ServeArgs) -> ExitCode {
    let (mut cfg, dev) = match resolve(&args) {
        Ok(pair) => pair,
        Err(findings) => return fail(&findings),
    };
    if let Err(e) = cfg.apply_overrides(args.upstream.as_deref(), args.listen) {
        return fail(&[e.to_finding()]);
    }
    crate::telemetry::init(cfg.diagnostics.log_format);
    // The main runtime runs the admin API, reloads and upstream checks; requests are served by
    // the worker threads `server::serve` starts (one single-threaded runtime per CPU).
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tlsgate: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(runner::run(
        cfg,
        |running| print_banner(running, dev.as_ref()),
        runner::termination_signal(),
    ));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e.0),
    }
}

/// The configuration to run: `-c FILE`, else `./tlsgate.yaml`, else the built-in default
/// (which creates or reuses the dev certificates).
fn resolve(args: &ServeArgs) -> Result<(Config, Option<DevCerts>), Vec<Finding>> {
    let path: Option<PathBuf> = match &args.config {
        Some(p) => Some(p.clone()),
        None => Some(PathBuf::from("tlsgate.yaml")).filter(|p| p.exists()),
    };
    if let Some(p) = path {
        return config::load(&p)
            .map(|c| (c, None))
            .map_err(|e| vec![e.to_finding()]);
    }
    let dev = devca::ensure_dev_certs(Path::new(DEV_CERT_DIR), &[], true).map_err(|e| {
        vec![Finding::new(
            crate::findings::Code::CertFileUnreadable,
            "the local development certificate cannot be created",
            e.to_string(),
            "run tlsgate from a writable directory, or give a configuration with -c",
        )]
    })?;
    let key = std::env::var("OPENAI_API_KEY").ok();
    let cfg = config::builtin_default(dev.cert.clone(), dev.key.clone(), dev.ca_cert.clone(), key);
    Ok((cfg, Some(dev)))
}

fn print_banner(running: &Running, dev: Option<&DevCerts>) {
    let mut out = String::new();
    for (name, addr, tls) in &running.listeners {
        let scheme = if *tls { "https" } else { "http" };
        let host = if addr.ip().is_loopback() || addr.ip().is_unspecified() {
            "localhost".to_string()
        } else {
            addr.ip().to_string()
        };
        out.push_str(&format!(
            "tlsgate: listener {name} on {scheme}://{host}:{}/\n",
            addr.port()
        ));
    }
    if let Some(admin) = running.admin {
        out.push_str(&format!("tlsgate: admin API on http://{admin}/status\n"));
    }
    if let Some(dev) = dev {
        let ca = super::certs_init::absolute(&dev.ca_cert);
        let ca = ca.display().to_string();
        if dev.created_ca {
            out.push_str("tlsgate: created a local development CA (kept for next time)\n");
        }
        out.push_str(&format!("tlsgate: trust this CA file: {ca}\n"));
        if let Some((_, addr, _)) = running.listeners.first() {
            out.push_str(&format!(
                "tlsgate: try: curl --cacert {ca} https://localhost:{}/v1/models\n",
                addr.port()
            ));
        }
        out.push_str("tlsgate: how each client trusts it:\n");
        for (who, how) in crate::diagnose::trust::all_lines(&ca) {
            out.push_str(&format!("tlsgate:   {:<31} {how}\n", format!("{who}:")));
        }
    }
    print!("{out}");
    use std::io::Write;
    let _ = std::io::stdout().flush();
}

fn fail(findings: &[Finding]) -> ExitCode {
    let mut text = String::new();
    super::report::render_text("tlsgate: cannot start", findings, &mut text);
    eprint!("{text}");
    ExitCode::from(1)
}
