//! nginx, HAProxy and PostgreSQL started as foreground children on 127.0.0.1, configured in a
//! tempdir, stopped on drop.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::pki::quoted;
use super::proc::{free_port, require_peer, run_bounded, scrubbed, which, Daemon};

/// What a TLS server serves and whether it asks for client certificates.
pub struct ServerTls {
    /// The certificate file as the server sends it (leaf, then any chain).
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Client certificates must chain to this CA (mutual TLS, required).
    pub client_ca: Option<PathBuf>,
}

pub struct Server {
    pub daemon: Daemon,
    pub port: u16,
    /// Config, certificates, data; removed after the daemon stopped.
    _dir: tempfile::TempDir,
}

/// Starts a server whose config needs the port number: bind :0, read, drop, start; retried
/// when another test took the port in between.
fn start_on_free_port(
    name: &str,
    stop_signal: &'static str,
    mut build: impl FnMut(&Path, u16) -> Command,
) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut errors = Vec::new();
    for _ in 0..3 {
        let port = free_port();
        let mut daemon = Daemon::spawn(name, build(dir.path(), port), stop_signal);
        match daemon.wait_port(port, Duration::from_secs(15)) {
            Ok(()) => {
                return Server {
                    daemon,
                    port,
                    _dir: dir,
                }
            }
            Err(e) => errors.push(e),
        }
    }
    panic!("{name} did not start:\n{}", errors.join("\n---\n"));
}

pub fn nginx_bin() -> Option<PathBuf> {
    require_peer("nginx", &["nginx", "/usr/sbin/nginx"])
}

/// nginx in the foreground (`daemon off; master_process off;`, so as root it needs no
/// `user`), answering `ok from nginx` on every path.
pub fn nginx(bin: &Path, tls: &ServerTls) -> Server {
    start_on_free_port("nginx", "TERM", |dir, port| {
        let client_auth = match &tls.client_ca {
            Some(ca) => format!(
                "ssl_verify_client on;\n      ssl_client_certificate {};",
                quoted(ca)
            ),
            None => String::new(),
        };
        let d = dir.display();
        let conf = format!(
            r#"daemon off;
master_process off;
worker_processes 1;
error_log stderr info;
pid "{d}/nginx.pid";
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path "{d}/body";
  proxy_temp_path "{d}/proxy";
  fastcgi_temp_path "{d}/fastcgi";
  uwsgi_temp_path "{d}/uwsgi";
  scgi_temp_path "{d}/scgi";
  server {{
    listen 127.0.0.1:{port} ssl;
    server_name localhost;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    {client_auth}
    location / {{
      default_type text/plain;
      return 200 "ok from nginx\n";
    }}
  }}
}}
"#,
            cert = quoted(&tls.cert),
            key = quoted(&tls.key),
        );
        let path = dir.join("nginx.conf");
        std::fs::write(&path, conf).unwrap();
        let mut cmd = scrubbed(bin);
        cmd.arg("-e")
            .arg("stderr")
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&path);
        cmd
    })
}

pub fn haproxy_bin() -> Option<PathBuf> {
    require_peer("haproxy", &["haproxy", "/usr/sbin/haproxy"])
}

/// HAProxy in the foreground (`-db`), answering `ok from haproxy` itself.
pub fn haproxy(bin: &Path, tls: &ServerTls) -> Server {
    start_on_free_port("haproxy", "TERM", |dir, port| {
        // HAProxy wants the certificate, its chain and the key in one file.
        let pem = dir.join("server.pem");
        let cert = std::fs::read_to_string(&tls.cert).unwrap();
        let key = std::fs::read_to_string(&tls.key).unwrap();
        std::fs::write(&pem, format!("{cert}{key}")).unwrap();
        let client_auth = match &tls.client_ca {
            Some(ca) => format!(" verify required ca-file {}", quoted(ca)),
            None => String::new(),
        };
        let conf = format!(
            r#"global
  log stderr format raw local0 info
defaults
  mode http
  log global
  option httplog
  timeout connect 5s
  timeout client 10s
  timeout server 10s
frontend fe
  bind 127.0.0.1:{port} ssl crt {pem}{client_auth}
  http-request return status 200 content-type text/plain string "ok from haproxy"
"#,
            pem = quoted(&pem),
        );
        let path = dir.join("haproxy.cfg");
        std::fs::write(&path, conf).unwrap();
        let mut cmd = scrubbed(bin);
        cmd.arg("-db").arg("-f").arg(&path);
        cmd
    })
}

/// Debian's PostgreSQL binaries: the newest /usr/lib/postgresql/<major>/bin, else PATH.
pub fn postgres_bin_dir() -> Option<PathBuf> {
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").is_file().then_some((major, bin))
        })
        .collect();
    dirs.sort();
    if let Some((_, d)) = dirs.pop() {
        return Some(d);
    }
    require_peer("PostgreSQL (Debian package postgresql)", &["postgres"])
        .and_then(|p| p.parent().map(Path::to_path_buf))
}

/// The account PostgreSQL runs as when the tests run as root (it refuses root): `postgres`
/// (created by Debian's package) or `nobody`.
fn pg_account() -> Option<(u32, u32)> {
    let me = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(0);
    if me != 0 {
        return None;
    }
    for user in ["postgres", "nobody"] {
        let id = |flag: &str| -> Option<u32> {
            let out = Command::new("id").arg(flag).arg(user).output().ok()?;
            String::from_utf8(out.stdout).ok()?.trim().parse().ok()
        };
        if let (Some(u), Some(g)) = (id("-u"), id("-g")) {
            return Some((u, g));
        }
    }
    panic!("running as root and neither 'postgres' nor 'nobody' exists to run PostgreSQL as");
}

/// `program` run as `account` (via setpriv, which execs: the child is the program itself).
fn as_account(account: Option<(u32, u32)>, program: &Path) -> Command {
    match account {
        Some((u, g)) => {
            let setpriv = which("setpriv").expect("setpriv (util-linux) to drop root");
            let mut c = scrubbed(setpriv);
            c.arg(format!("--reuid={u}"))
                .arg(format!("--regid={g}"))
                .arg("--clear-groups")
                .arg(program);
            c
        }
        None => scrubbed(program),
    }
}

fn chown_tree(path: &Path, account: Option<(u32, u32)>) {
    if let Some((u, g)) = account {
        std::os::unix::fs::chown(path, Some(u), Some(g)).unwrap();
    }
}

/// PostgreSQL with `ssl = on`, a fresh cluster (initdb) in a tempdir, listening on
/// 127.0.0.1 only; stopped with SIGINT (fast shutdown).
pub fn postgres(bin_dir: &Path, cert: &Path, key: &Path) -> Server {
    let account = pg_account();
    let base = tempfile::tempdir().unwrap();
    // The account must reach into the tempdir.
    std::fs::set_permissions(base.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let home = base.path().join("pg");
    std::fs::create_dir(&home).unwrap();
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
    chown_tree(&home, account);
    let data = home.join("data");
    let mut initdb = as_account(account, &bin_dir.join("initdb"));
    initdb
        .arg("-D")
        .arg(&data)
        .args([
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        ])
        .current_dir(&home);
    let run = run_bounded(initdb, Duration::from_secs(120));
    assert_eq!(run.code(), Some(0), "initdb failed:\n{}", run.all());
    // The key must be owned by the server's account with no group/other access.
    let (crt, k) = (home.join("server.crt"), home.join("server.key"));
    std::fs::copy(cert, &crt).unwrap();
    std::fs::copy(key, &k).unwrap();
    std::fs::set_permissions(&k, std::fs::Permissions::from_mode(0o600)).unwrap();
    chown_tree(&crt, account);
    chown_tree(&k, account);
    let server = start_on_free_port("postgres", "INT", |_, port| {
        let mut cmd = as_account(account, &bin_dir.join("postgres"));
        cmd.arg("-D")
            .arg(&data)
            .arg("-p")
            .arg(port.to_string())
            .arg("-c")
            .arg("listen_addresses=127.0.0.1")
            .arg("-c")
            .arg(format!("unix_socket_directories={}", home.display()))
            .args([
                "-c",
                "ssl=on",
                "-c",
                "fsync=off",
                "-c",
                "log_connections=on",
            ])
            .arg("-c")
            .arg(format!("ssl_cert_file={}", crt.display()))
            .arg("-c")
            .arg(format!("ssl_key_file={}", k.display()))
            .current_dir(&home);
        cmd
    });
    Server {
        daemon: server.daemon,
        port: server.port,
        _dir: base,
    }
}
