//! The real `tlsgate` binary: `serve` with a generated YAML config (JSON logs), `check` and
//! `probe`, every run bounded.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use super::pki::quoted;
use super::proc::{free_port, run_bounded, scrubbed, wait_until, Daemon, Run};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_tlsgate")
}

pub fn command() -> Command {
    scrubbed(bin())
}

/// The TLS side of the listener.
#[derive(Clone, Debug, Default)]
pub struct ListenerTls {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// `ca:` — the private root clients must trust (never sent).
    pub ca: Option<PathBuf>,
    /// `min_version: tls1.3` when set.
    pub tls13_only: bool,
}

/// The upstream `peer`.
#[derive(Clone, Debug, Default)]
pub struct Upstream {
    pub url: String,
    pub ca_bundle: Option<PathBuf>,
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

#[derive(Clone, Debug, Default)]
pub struct GateConfig {
    /// `None`: a plain-HTTP listener.
    pub tls: Option<ListenerTls>,
    pub upstream: Upstream,
}

impl GateConfig {
    pub fn render(&self, listen_port: u16, admin_port: u16) -> String {
        let mut y = format!("listeners:\n  - name: main\n    bind: 127.0.0.1:{listen_port}\n");
        if let Some(t) = &self.tls {
            y.push_str("    tls:\n      certificates:\n");
            y.push_str(&format!("        - cert: {}\n", quoted(&t.cert)));
            y.push_str(&format!("          key: {}\n", quoted(&t.key)));
            if let Some(ca) = &t.ca {
                y.push_str(&format!("          ca: {}\n", quoted(ca)));
            }
            if t.tls13_only {
                y.push_str("      min_version: tls1.3\n");
            }
        }
        let u = &self.upstream;
        y.push_str(&format!("upstreams:\n  peer:\n    url: {}\n", u.url));
        y.push_str("    timeouts: { connect: 5s, tls_handshake: 5s, first_byte: 10s }\n");
        if u.ca_bundle.is_some() || u.client_cert.is_some() {
            y.push_str("    tls:\n");
            if let Some(ca) = &u.ca_bundle {
                y.push_str(&format!("      ca_bundle: {}\n", quoted(ca)));
            }
            if let Some((c, k)) = &u.client_cert {
                y.push_str(&format!("      client_cert: {}\n", quoted(c)));
                y.push_str(&format!("      client_key: {}\n", quoted(k)));
            }
        }
        y.push_str(&format!("admin:\n  bind: 127.0.0.1:{admin_port}\n"));
        y.push_str(
            "diagnostics:\n  log_format: json\n  client_error_detail: full\n  upstream_checks: off\n",
        );
        y
    }
}

/// A running `tlsgate serve`.
pub struct Gate {
    pub daemon: Daemon,
    pub port: u16,
    /// Holds the config file; dropped after the daemon.
    _dir: tempfile::TempDir,
}

/// A minimal HTTP/1.1 GET: `(status, head, body)`.
pub fn http_get(
    addr: SocketAddr,
    path: &str,
    timeout: Duration,
) -> Result<(u16, String, String), String> {
    let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(timeout)).ok();
    s.set_write_timeout(Some(timeout)).ok();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| format!("write: {e}"))?;
    let mut buf = Vec::new();
    let read = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    if text.is_empty() {
        return Err(format!("no answer ({read:?})"));
    }
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("not HTTP: {text:?}"))?;
    Ok((status, head.to_string(), body.to_string()))
}

impl Gate {
    /// Writes the config and starts `tlsgate serve`, waiting (15 s at most) for /readyz.
    pub fn start(cfg: &GateConfig) -> Gate {
        let dir = tempfile::tempdir().unwrap();
        let mut last = String::new();
        // The ports come from bind :0 + drop; retry when another test took one meanwhile.
        for _ in 0..3 {
            let port = free_port();
            let admin_port = free_port();
            if port == admin_port {
                continue;
            }
            let config_path = dir.path().join("tlsgate.yaml");
            std::fs::write(&config_path, cfg.render(port, admin_port)).unwrap();
            let mut cmd = command();
            cmd.arg("serve")
                .arg("-c")
                .arg(&config_path)
                .current_dir(dir.path());
            let mut daemon = Daemon::spawn("tlsgate", cmd, "TERM");
            let admin = SocketAddr::from(([127, 0, 0, 1], admin_port));
            let ready = wait_until(Duration::from_secs(15), || {
                if daemon.exited().is_some() {
                    return Some(false);
                }
                matches!(
                    http_get(admin, "/readyz", Duration::from_secs(2)),
                    Ok((200, _, _))
                )
                .then_some(true)
            });
            if ready == Some(true) {
                return Gate {
                    daemon,
                    port,
                    _dir: dir,
                };
            }
            last = daemon.output.all();
        }
        panic!(
            "tlsgate serve did not become ready. Config:\n{}\nOutput:\n{last}",
            cfg.render(0, 0)
        );
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// JSON log lines so far.
    pub fn logs(&self) -> Vec<Value> {
        parse_json_lines(&self.daemon.output.all())
    }

    /// Log lines whose `event` is one of `events`, waiting up to `timeout` for the first.
    pub fn wait_events(&self, events: &[&str], timeout: Duration) -> Vec<Value> {
        let pick = || {
            self.logs()
                .into_iter()
                .filter(|l| events.contains(&l["event"].as_str().unwrap_or("")))
                .collect::<Vec<_>>()
        };
        wait_until(timeout, || Some(pick()).filter(|v| !v.is_empty())).unwrap_or_default()
    }
}

pub fn parse_json_lines(out: &str) -> Vec<Value> {
    out.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l.trim()).ok())
        .filter(Value::is_object)
        .collect()
}

/// `tlsgate check -c FILE --format json` on a config written for the purpose.
pub fn check(cfg: &GateConfig) -> (Run, Value) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tlsgate.yaml");
    std::fs::write(&path, cfg.render(free_port(), free_port())).unwrap();
    let mut cmd = command();
    cmd.arg("check")
        .arg("-c")
        .arg(&path)
        .args(["--format", "json"]);
    let run = run_bounded(cmd, Duration::from_secs(30));
    let v = serde_json::from_str(&run.stdout()).unwrap_or(Value::Null);
    (run, v)
}

/// `tlsgate probe ARGS --format json`.
pub fn probe(args: &[&str]) -> (Run, Value) {
    let mut cmd = command();
    cmd.arg("probe")
        .args(args)
        .args(["--format", "json", "--timeout", "5"]);
    let run = run_bounded(cmd, Duration::from_secs(30));
    let v = serde_json::from_str(&run.stdout()).unwrap_or(Value::Null);
    (run, v)
}

/// The `findings` of a check or probe report.
pub fn findings(report: &Value) -> Vec<Value> {
    report["findings"].as_array().cloned().unwrap_or_default()
}

pub fn codes(findings: &[Value]) -> Vec<String> {
    findings
        .iter()
        .filter_map(|f| f["code"].as_str().map(str::to_string))
        .collect()
}
