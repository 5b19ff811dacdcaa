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
    if let Some(path) = &args.ready_file {
        if let Err(f) = prepare_ready_file(path) {
            return fail(&[f]);
        }
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
    let ready_file = args.ready_file.as_deref();
    let result = runtime.block_on(runner::run(
        cfg,
        |running| {
            print_banner(running, dev.as_ref());
            if let Some(path) = ready_file {
                if let Err(e) = write_ready_file(path, running) {
                    tracing::error!(event = crate::telemetry::Event::ReadyFileFailed.as_str(), path = %path.display(), error = %e);
                }
            }
        },
        runner::termination_signal(),
    ));
    if let Some(path) = ready_file {
        // Only a running instance has a ready file: a supervisor must not read a stale one.
        let _ = std::fs::remove_file(path);
    }
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

/// Removes a ready file left by an earlier run, and refuses a path whose directory is missing,
/// before anything is bound.
fn prepare_ready_file(path: &Path) -> Result<(), Finding> {
    let refuse = |why: String| {
        Finding::new(
            crate::findings::Code::ConfigInvalid,
            "the --ready-file cannot be written",
            why,
            "give --ready-file a path in an existing, writable directory",
        )
    };
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(refuse(format!("removing the old {}: {e}", path.display()))),
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(refuse(format!("{} is not a directory", dir.display())));
    }
    Ok(())
}

/// The ready file's content: where each listener and the admin API actually listen (the bound
/// addresses, so a configured port 0 shows the port the system chose).
fn ready_json(running: &Running) -> serde_json::Value {
    let listeners: Vec<serde_json::Value> = running
        .listeners
        .iter()
        .map(|(name, addr, tls)| {
            serde_json::json!({"name": name, "addr": addr.to_string(), "tls": tls})
        })
        .collect();
    serde_json::json!({
        "listeners": listeners,
        "admin": running.admin.map(|a| a.to_string()),
        "pid": std::process::id(),
    })
}

/// Writes the ready file atomically: a temporary file beside it, renamed over it, so a reader
/// sees either nothing or the whole document.
fn write_ready_file(path: &Path, running: &Running) -> std::io::Result<()> {
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let mut text = ready_json(running).to_string();
    text.push('\n');
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

fn fail(findings: &[Finding]) -> ExitCode {
    let mut text = String::new();
    super::report::render_text("tlsgate: cannot start", findings, &mut text);
    eprint!("{text}");
    ExitCode::from(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_file_names_the_bound_addresses_and_replaces_a_stale_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ready.json");
        std::fs::write(&path, "stale").unwrap();
        prepare_ready_file(&path).unwrap();
        assert!(
            !path.exists(),
            "a stale ready file is removed before startup"
        );
        let running = Running {
            listeners: vec![("main".into(), "127.0.0.1:43121".parse().unwrap(), true)],
            admin: Some("127.0.0.1:40211".parse().unwrap()),
            state: std::sync::Arc::new(crate::admin::State::new()),
        };
        write_ready_file(&path, &running).unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(v["listeners"][0]["name"], "main");
        assert_eq!(v["listeners"][0]["addr"], "127.0.0.1:43121");
        assert_eq!(v["listeners"][0]["tls"], true);
        assert_eq!(v["admin"], "127.0.0.1:40211");
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file is left behind");
        assert!(prepare_ready_file(&dir.path().join("missing/ready.json")).is_err());
    }
}
