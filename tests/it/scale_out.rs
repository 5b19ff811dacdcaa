//! Running several replicas (issue 17), with real peers: HAProxy in front sending the PROXY
//! protocol (v1 and v2) for a client on another loopback address, session tickets shared by
//! two tlsgate processes through one key file (OpenSSL's `s_client -sess_out` / `-sess_in`, TLS
//! 1.2 and 1.3), ticket key rotation through a Kubernetes-style `..data` swap, and the SIGTERM
//! drain (`/readyz` 503, streams finish, new connections refused, a second SIGTERM exits now).
//!
//! Every wait is bounded; HAProxy comes from `scripts/install-peers.sh` and a missing one skips
//! the test unless TLSGATE_REQUIRE_PEERS is set (CI). tlsgate binds port 0 (ports from its ready
//! file); HAProxy's frontends take free ports, retried if one is taken meanwhile.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::real_peers::proc::{free_port, require_peer};
use crate::support::{
    curl, curl_http, curl_stream, raw_http_get, scrub, wait_until, MockUpstream, TestPki, Tlsgate,
};

/// The address the client connects from: not the load balancer's (127.0.0.1).
const CLIENT_IP: &str = "127.0.0.7";

fn yaml_path(p: &Path) -> String {
    format!("\"{}\"", p.display())
}

/// A TLS listener's YAML (indented for `listeners:`, on port 0), with `extra` listener keys.
fn tls_listener(name: &str, pki: &TestPki, extra: &str, tls_extra: &str) -> String {
    format!(
        "  - name: {name}\n    bind: 127.0.0.1:0\n{extra}    tls:\n      certificates:\n        - cert: {}\n          key: {}\n          ca: {}\n{tls_extra}",
        yaml_path(&pki.cert_path),
        yaml_path(&pki.key_path),
        yaml_path(&pki.ca_path),
    )
}

/// The rest of the config; without a `shutdown:` section in `more`, no drain delay (so a test's
/// gates stop at once when dropped).
fn tail_yaml(upstream: &MockUpstream, more: &str) -> String {
    let shutdown = if more.contains("shutdown:") {
        ""
    } else {
        "shutdown:\n  drain_delay: 0s\n"
    };
    format!(
        "upstreams:\n  mock:\n    url: {}\nadmin:\n  bind: 127.0.0.1:0\ndiagnostics:\n  log_format: json\n{more}{shutdown}",
        upstream.url()
    )
}

fn field<'a>(ev: &'a serde_json::Value, name: &str) -> &'a str {
    ev.get(name).and_then(|v| v.as_str()).unwrap_or("")
}

// ---------------------------------------------------------------------------------------------
// HAProxy in front
// ---------------------------------------------------------------------------------------------

fn haproxy_bin() -> Option<PathBuf> {
    require_peer("haproxy", &["haproxy", "/usr/sbin/haproxy"])
}

/// HAProxy in the foreground (`-db`), killed on drop.
struct Haproxy {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Haproxy {
    /// TCP-mode frontends on free ports, each relaying to its tlsgate port with its server
    /// options (`send-proxy`, `send-proxy-v2`). Returns HAProxy and the frontend ports; a
    /// port taken between choosing and binding it is retried with new ones.
    fn start(bin: &Path, backends: &[(u16, &str)]) -> (Haproxy, Vec<u16>) {
        let mut failures = Vec::new();
        for _ in 0..3 {
            let fronts: Vec<u16> = backends.iter().map(|_| free_port()).collect();
            let dir = tempfile::tempdir().unwrap();
            let mut conf = String::from(
                "global\n  log stderr format raw local0 info\ndefaults\n  mode tcp\n  log global\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n",
            );
            for (i, (front, (back, opts))) in fronts.iter().zip(backends).enumerate() {
                conf.push_str(&format!(
                    "frontend fe{i}\n  bind 127.0.0.1:{front}\n  default_backend be{i}\nbackend be{i}\n  server gate 127.0.0.1:{back} {opts}\n"
                ));
            }
            let path = dir.path().join("haproxy.cfg");
            std::fs::write(&path, &conf).unwrap();
            let mut cmd = Command::new(bin);
            scrub(&mut cmd);
            let child = cmd
                .arg("-db")
                .arg("-f")
                .arg(&path)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn haproxy");
            let mut h = Haproxy { child, _dir: dir };
            let all_up = fronts.iter().all(|front| {
                let addr = SocketAddr::from(([127, 0, 0, 1], *front));
                wait_until(Duration::from_secs(10), || {
                    if h.child.try_wait().ok().flatten().is_some() {
                        return Some(false);
                    }
                    TcpStream::connect_timeout(&addr, Duration::from_millis(200))
                        .ok()
                        .map(|_| true)
                }) == Some(true)
            });
            if all_up {
                return (h, fronts);
            }
            let _ = h.child.kill();
            failures.push(conf);
        }
        panic!(
            "haproxy did not start; configs tried:\n{}",
            failures.join("\n---\n")
        );
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// curl from the client address through `port` (HTTPS for `localhost`), trusting `ca`.
fn client_args(port: u16, ca: Option<&Path>) -> Vec<String> {
    let mut v = vec![
        "--interface".to_string(),
        CLIENT_IP.to_string(),
        "--resolve".to_string(),
        format!("localhost:{port}:127.0.0.1"),
    ];
    if let Some(ca) = ca {
        v.push("--cacert".into());
        v.push(ca.display().to_string());
    }
    v
}

#[test]
fn haproxy_send_proxy_v1_and_v2_name_the_client_everywhere() {
    let Some(bin) = haproxy_bin() else { return };
    let pki = TestPki::new();
    let upstream = MockUpstream::start();
    // `any` takes HAProxy's v2 as well.
    let any = "    proxy_protocol: any\n    trusted_proxies: [127.0.0.1]\n";
    let gate = Tlsgate::start_yaml(
        &format!(
            "listeners:\n{}{}{}",
            tls_listener(
                "pp1",
                &pki,
                "    proxy_protocol: v1\n    trusted_proxies: [127.0.0.1/32]\n",
                ""
            ),
            tls_listener("pp2", &pki, any, ""),
            tail_yaml(&upstream, "")
        ),
        true,
    );
    // The second listener's port, from the ready file.
    let ready: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&gate.ready_path).unwrap()).unwrap();
    let v2_port: u16 = ready["listeners"][1]["addr"]
        .as_str()
        .and_then(|a| a.parse::<SocketAddr>().ok())
        .map(|a| a.port())
        .unwrap_or_else(|| panic!("no second listener in the ready file: {ready}"));
    let (_haproxy, fronts) = Haproxy::start(
        &bin,
        &[(gate.listen_port, "send-proxy"), (v2_port, "send-proxy-v2")],
    );
    let (front_v1, front_v2) = (fronts[0], fronts[1]);

    for (round, (front, listener)) in [(front_v1, "pp1"), (front_v2, "pp2")]
        .into_iter()
        .enumerate()
    {
        // A request through HAProxy: the upstream's X-Forwarded-For and the access log name
        // the client, not HAProxy.
        let args = client_args(front, Some(&pki.ca_path));
        let url = format!("https://localhost:{front}/echo");
        let mut a: Vec<&str> = args.iter().map(String::as_str).collect();
        a.push(&url);
        let r = curl_http(&a);
        assert_eq!(r.status, 200, "{}", r.raw.describe());
        let echo = r.json();
        assert_eq!(
            echo["headers"]["x-forwarded-for"], CLIENT_IP,
            "{listener}: X-Forwarded-For: {echo}"
        );
        let access = wait_until(Duration::from_secs(5), || {
            gate.events("request").get(round).cloned()
        })
        .unwrap_or_else(|| panic!("no access log line for {listener}:\n{}", gate.output()));
        assert!(
            field(&access, "peer").starts_with(&format!("{CLIENT_IP}:")),
            "{listener}: access log peer: {access}"
        );

        // A failed handshake through HAProxy (curl does not trust the CA): the event names the
        // client, and HAProxy as the proxy it came through.
        let args = client_args(front, None);
        let url = format!("https://localhost:{front}/");
        let mut a: Vec<&str> = args.iter().map(String::as_str).collect();
        a.push(&url);
        let out = curl(&a);
        assert!(!out.ok(), "curl must refuse the untrusted CA");
        // (HAProxy's readiness probe above also reached tlsgate, as a connection reset by the
        // probe itself: that event is not this one.)
        let failed = gate
            .wait_for_log(Duration::from_secs(5), |l| {
                l["event"] == "tls_handshake_failed"
                    && l["listener"] == listener
                    && l["code"] == "client_rejected_untrusted_ca"
            })
            .unwrap_or_else(|| panic!("no tls_handshake_failed on {listener}:\n{}", gate.output()));
        assert!(
            field(&failed, "peer").starts_with(&format!("{CLIENT_IP}:")),
            "{listener}: handshake event peer: {failed}"
        );
        assert!(
            field(&failed, "proxy").starts_with("127.0.0.1:"),
            "{listener}: the load balancer is named as the proxy: {failed}"
        );
        assert_eq!(
            field(&failed, "code"),
            "client_rejected_untrusted_ca",
            "{failed}"
        );
    }

    // /status keeps the client address too (the recent handshake failures).
    let (_, status) = raw_http_get(
        SocketAddr::from(([127, 0, 0, 1], gate.admin_port)),
        "/status",
        Duration::from_secs(5),
    )
    .expect("/status");
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    for l in status["listeners"].as_array().unwrap() {
        let rejected: Vec<_> = l["handshake_failures"]["recent"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|ev| ev["code"] == "client_rejected_untrusted_ca")
            .collect();
        assert!(!rejected.is_empty(), "{l}");
        assert!(
            rejected
                .iter()
                .all(|ev| field(ev, "peer").starts_with(&format!("{CLIENT_IP}:"))),
            "{l}"
        );
    }
}

#[test]
fn untrusted_missing_and_malformed_headers_are_refused() {
    let pki = TestPki::new();
    let upstream = MockUpstream::start();
    let gate = Tlsgate::start_yaml(
        &format!(
            "listeners:\n{}{}",
            tls_listener(
                "lb",
                &pki,
                "    proxy_protocol: any\n    trusted_proxies: [127.0.0.1]\n",
                ""
            ),
            tail_yaml(&upstream, "")
        ),
        true,
    );
    let refused = |who: &str, pred: &dyn Fn(&serde_json::Value) -> bool| {
        gate.wait_for_log(Duration::from_secs(5), |l| {
            l["event"] == "client_error" && l["code"] == "proxy_protocol_invalid" && pred(l)
        })
        .unwrap_or_else(|| panic!("no proxy_protocol_invalid for {who}:\n{}", gate.output()))
    };

    // A PROXY header from a source not in trusted_proxies (curl writes one naming itself).
    let url = gate.url("/v1/models");
    let args = client_args(gate.listen_port, Some(&pki.ca_path));
    let mut a: Vec<&str> = args.iter().map(String::as_str).collect();
    a.extend(["--haproxy-protocol", &url]);
    let out = curl(&a);
    assert!(
        !out.ok(),
        "the connection must be closed: {}",
        out.describe()
    );
    let ev = refused("an untrusted source", &|l| {
        field(l, "peer").starts_with(&format!("{CLIENT_IP}:"))
    });
    assert!(
        field(&ev, "why").contains("not in trusted_proxies")
            && field(&ev, "why").contains("127.0.0.1/32"),
        "{ev}"
    );

    // A trusted source without a header: TLS straight away.
    let out = curl(&[
        "--resolve",
        &format!("localhost:{}:127.0.0.1", gate.listen_port),
        "--cacert",
        pki.ca_path.to_str().unwrap(),
        &url,
    ]);
    assert!(!out.ok());
    let ev = refused("a missing header", &|l| {
        field(l, "summary").contains("no PROXY header")
    });
    assert!(field(&ev, "why").contains("TLS"), "{ev}");

    // A malformed v1 header from a trusted source.
    let mut s = TcpStream::connect(("127.0.0.1", gate.listen_port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"PROXY TCP4 10.0.0.1 10.0.0.2 99999 443\r\n")
        .unwrap();
    let mut buf = [0u8; 16];
    assert!(matches!(s.read(&mut buf), Ok(0) | Err(_)), "closed");
    let ev = refused("a malformed header", &|l| {
        field(l, "why").contains("malformed")
    });
    assert!(field(&ev, "fix").contains("PROXY protocol"), "{ev}");

    // Counted with the other connections tlsgate closes, per listener and reason.
    let (_, metrics) = raw_http_get(
        SocketAddr::from(([127, 0, 0, 1], gate.admin_port)),
        "/metrics",
        Duration::from_secs(5),
    )
    .unwrap();
    assert!(
        metrics.contains(
            "tlsgate_connections_closed_total{listener=\"lb\",reason=\"proxy_protocol_invalid\"} 3"
        ),
        "{metrics}"
    );
}

/// A PROXY v2 header built by hand: `command` 1 PROXY / 0 LOCAL, IPv4 addresses, TLVs.
fn v2_header(command: u8, src: SocketAddr, dst: SocketAddr, tlvs: &[(u8, &[u8])]) -> Vec<u8> {
    let (SocketAddr::V4(src), SocketAddr::V4(dst)) = (src, dst) else {
        panic!("IPv4 only")
    };
    let mut payload = Vec::new();
    payload.extend(src.ip().octets());
    payload.extend(dst.ip().octets());
    payload.extend(src.port().to_be_bytes());
    payload.extend(dst.port().to_be_bytes());
    for (kind, value) in tlvs {
        payload.push(*kind);
        payload.extend((value.len() as u16).to_be_bytes());
        payload.extend_from_slice(value);
    }
    let mut v = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    v.push(0x20 | command);
    v.push(0x11);
    v.extend((payload.len() as u16).to_be_bytes());
    v.extend(payload);
    v
}

/// A TLS listener `lb` taking PROXY v2 headers from loopback sources.
fn v2_gate(pki: &TestPki, upstream: &MockUpstream) -> Tlsgate {
    Tlsgate::start_yaml(
        &format!(
            "listeners:\n{}{}",
            tls_listener(
                "lb",
                pki,
                "    proxy_protocol: v2\n    trusted_proxies: [127.0.0.0/8]\n",
                ""
            ),
            tail_yaml(upstream, "")
        ),
        true,
    )
}

#[test]
fn v2_tlvs_are_evidence_and_local_uses_the_real_peer() {
    let pki = TestPki::new();
    let upstream = MockUpstream::start();
    let gate = v2_gate(&pki, &upstream);
    let send = |header: Vec<u8>| {
        let mut s = TcpStream::connect(("127.0.0.1", gate.listen_port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(&header).unwrap();
        // Not TLS after the header: a handshake failure with the header's evidence.
        s.write_all(b"SSH-2.0-OpenSSH_9.6\r\n").unwrap();
        let mut buf = [0u8; 64];
        let _ = s.read(&mut buf);
    };
    send(v2_header(
        1,
        "127.0.0.9:4444".parse().unwrap(),
        "127.0.0.1:443".parse().unwrap(),
        &[(0x02, b"api.example.test"), (0x01, b"h2")],
    ));
    let ev = gate
        .wait_for_log(Duration::from_secs(5), |l| {
            l["event"] == "tls_handshake_failed" && field(l, "peer") == "127.0.0.9:4444"
        })
        .unwrap_or_else(|| panic!("no event for the proxied client:\n{}", gate.output()));
    assert_eq!(field(&ev, "code"), "not_tls");
    assert_eq!(field(&ev, "proxy_authority"), "api.example.test");
    assert_eq!(field(&ev, "proxy_alpn"), "h2");
    assert!(field(&ev, "proxy").starts_with("127.0.0.1:"), "{ev}");

    // LOCAL: the load balancer's own connection (a health check): its real address.
    send(v2_header(
        0,
        "10.1.1.1:1".parse().unwrap(),
        "10.1.1.2:2".parse().unwrap(),
        &[],
    ));
    let ev = gate
        .wait_for_log(Duration::from_secs(5), |l| {
            l["event"] == "tls_handshake_failed"
                && field(l, "peer").starts_with("127.0.0.1:")
                && field(l, "proxy").starts_with("127.0.0.1:")
        })
        .unwrap_or_else(|| panic!("no event for the LOCAL connection:\n{}", gate.output()));
    assert!(!field(&ev, "peer").starts_with("10.1.1.1"), "{ev}");
}

#[test]
fn v2_tlv_text_is_escaped_in_the_handshake_log() {
    let pki = TestPki::new();
    let upstream = MockUpstream::start();
    let gate = v2_gate(&pki, &upstream);
    let mut s = TcpStream::connect(("127.0.0.1", gate.listen_port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(&v2_header(
        1,
        "127.0.0.11:4444".parse().unwrap(),
        "127.0.0.1:443".parse().unwrap(),
        &[
            (0x02, "api\u{2028}x\u{202e}y\u{85}\x07\x1b[31m".as_bytes()),
            (0x01, "h2\u{2029}".as_bytes()),
        ],
    ))
    .unwrap();
    s.write_all(b"SSH-2.0-OpenSSH_9.6\r\n").unwrap();
    let mut buf = [0u8; 64];
    let _ = s.read(&mut buf);
    let ev = gate
        .wait_for_log(Duration::from_secs(10), |l| {
            l["event"] == "tls_handshake_failed" && field(l, "peer") == "127.0.0.11:4444"
        })
        .unwrap_or_else(|| panic!("no event for the proxied client:\n{}", gate.output()));
    assert_eq!(
        field(&ev, "proxy_authority"),
        "api\\xe2\\x80\\xa8x\\xe2\\x80\\xaey\\xc2\\x85\\x07\\x1b[31m"
    );
    assert_eq!(field(&ev, "proxy_alpn"), "h2\\xe2\\x80\\xa9");
    let out = gate.output();
    for c in ['\u{2028}', '\u{2029}', '\u{202e}', '\u{85}', '\u{1b}'] {
        assert!(
            !out.contains(c),
            "U+{:04X} reached the log raw:\n{out}",
            c as u32
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Session tickets shared by replicas
// ---------------------------------------------------------------------------------------------

fn write_key(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

fn random_key() -> Vec<u8> {
    let mut k = vec![0u8; 80];
    aws_lc_rs::rand::fill(&mut k).unwrap();
    k
}

fn ticket_gate(pki: &TestPki, upstream: &MockUpstream, key_file: &Path) -> Tlsgate {
    let tls_extra = format!(
        "      session_tickets:\n        key_file: {}\n",
        yaml_path(key_file)
    );
    Tlsgate::start_yaml(
        &format!(
            "listeners:\n{}{}",
            tls_listener("main", pki, "", &tls_extra),
            tail_yaml(upstream, "reload:\n  debounce: 100ms\n")
        ),
        true,
    )
}

/// One `openssl s_client` connection with an HTTP request: saves the session to `sess_out` or
/// offers `sess_in`. Returns "Reused" or "New" from its output.
fn s_client(
    port: u16,
    version: &str,
    ca: &Path,
    sess_in: Option<&Path>,
    sess_out: Option<&Path>,
) -> &'static str {
    let mut cmd = Command::new("openssl");
    scrub(&mut cmd);
    cmd.args([
        "s_client",
        "-connect",
        &format!("127.0.0.1:{port}"),
        "-servername",
        "localhost",
        version,
        "-CAfile",
        ca.to_str().unwrap(),
        "-ign_eof",
    ]);
    if let Some(p) = sess_in {
        cmd.arg("-sess_in").arg(p);
    }
    if let Some(p) = sess_out {
        cmd.arg("-sess_out").arg(p);
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn openssl");
    // The response arrives after the TLS 1.3 tickets, so reading it to the end (the server
    // closes: Connection: close) means -sess_out has a ticket to save.
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"GET /v1/models HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "openssl s_client hangs");
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(stdin);
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(
        out.contains("HTTP/1.1 200"),
        "s_client {version} got no response ({status:?}):\n{out}\n{err}"
    );
    if out.contains("Reused, TLSv1") {
        "Reused"
    } else if out.contains("New, TLSv1") {
        "New"
    } else {
        panic!("s_client printed neither New nor Reused:\n{out}\n{err}")
    }
}

#[test]
fn a_session_from_one_replica_resumes_on_another_with_the_same_key_file() {
    let pki = TestPki::new();
    let upstream = MockUpstream::start();
    let keys = tempfile::tempdir().unwrap();
    let (shared, other) = (
        keys.path().join("shared.key"),
        keys.path().join("other.key"),
    );
    write_key(&shared, &random_key());
    write_key(&other, &random_key());
    let a = ticket_gate(&pki, &upstream, &shared);
    let b = ticket_gate(&pki, &upstream, &shared);
    let c = ticket_gate(&pki, &upstream, &other);
    let loaded = a
        .wait_for_log(Duration::from_secs(5), |l| {
            l["event"] == "ticket_key_loaded"
        })
        .expect("ticket_key_loaded");
    let shared_bytes = std::fs::read(&shared).unwrap();
    assert_eq!(field(&loaded, "key_name"), hex::encode(&shared_bytes[..16]));
    assert!(
        a.events("ticket_key_finding").is_empty(),
        "0600: no warning"
    );

    for version in ["-tls1_2", "-tls1_3"] {
        let sess = keys.path().join(format!("sess{version}.pem"));
        assert_eq!(
            s_client(a.listen_port, version, &pki.ca_path, None, Some(&sess)),
            "New"
        );
        assert_eq!(
            s_client(b.listen_port, version, &pki.ca_path, Some(&sess), None),
            "Reused",
            "{version}: replica B shares A's key"
        );
        assert_eq!(
            s_client(c.listen_port, version, &pki.ca_path, Some(&sess), None),
            "New",
            "{version}: replica C has another key"
        );
    }
}

#[cfg(unix)]
#[test]
fn a_ticket_key_rotated_by_a_data_swap_keeps_old_sessions_resumable() {
    use std::os::unix::fs::symlink;
    let pki = TestPki::new();
    let upstream = MockUpstream::start();
    // The Kubernetes Secret volume layout: ..data -> ..<timestamp>, files linked via ..data.
    let secret = tempfile::tempdir().unwrap();
    let dir = secret.path();
    let (key1, key2) = (random_key(), random_key());
    std::fs::create_dir(dir.join("..2026_12_01_v1")).unwrap();
    write_key(&dir.join("..2026_12_01_v1/ticket.key"), &key1);
    symlink("..2026_12_01_v1", dir.join("..data")).unwrap();
    symlink("..data/ticket.key", dir.join("ticket.key")).unwrap();
    let gate = ticket_gate(&pki, &upstream, &dir.join("ticket.key"));
    let sessions = tempfile::tempdir().unwrap();
    let old_sess = sessions.path().join("old.pem");
    assert_eq!(
        s_client(
            gate.listen_port,
            "-tls1_3",
            &pki.ca_path,
            None,
            Some(&old_sess)
        ),
        "New"
    );

    // The kubelet's swap: a new directory, a new link renamed over ..data.
    std::fs::create_dir(dir.join("..2026_12_02_v2")).unwrap();
    write_key(&dir.join("..2026_12_02_v2/ticket.key"), &key2);
    symlink("..2026_12_02_v2", dir.join("..data_tmp")).unwrap();
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
    std::fs::remove_dir_all(dir.join("..2026_12_01_v1")).unwrap();
    let rotated = gate
        .wait_for_log(Duration::from_secs(5), |l| {
            l["event"] == "ticket_key_rotated"
        })
        .unwrap_or_else(|| panic!("no ticket_key_rotated:\n{}", gate.output()));
    assert_eq!(field(&rotated, "key_name_old"), hex::encode(&key1[..16]));
    assert_eq!(field(&rotated, "key_name_new"), hex::encode(&key2[..16]));

    // A ticket sealed before the rotation still resumes (the previous key is kept)...
    assert_eq!(
        s_client(
            gate.listen_port,
            "-tls1_3",
            &pki.ca_path,
            Some(&old_sess),
            None
        ),
        "Reused"
    );
    // ...and new tickets are sealed with the new key: a replica holding only key 2 takes them.
    let new_sess = sessions.path().join("new.pem");
    s_client(
        gate.listen_port,
        "-tls1_2",
        &pki.ca_path,
        None,
        Some(&new_sess),
    );
    let keys = tempfile::tempdir().unwrap();
    write_key(&keys.path().join("k2"), &key2);
    let only_new = ticket_gate(&pki, &upstream, &keys.path().join("k2"));
    assert_eq!(
        s_client(
            only_new.listen_port,
            "-tls1_2",
            &pki.ca_path,
            Some(&new_sess),
            None
        ),
        "Reused"
    );

    // A broken replacement is refused; the current key keeps working.
    std::fs::create_dir(dir.join("..2026_12_03_v3")).unwrap();
    write_key(&dir.join("..2026_12_03_v3/ticket.key"), b"too short");
    symlink("..2026_12_03_v3", dir.join("..data_tmp")).unwrap();
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
    let rejected = gate
        .wait_for_log(Duration::from_secs(5), |l| {
            l["event"] == "ticket_key_rejected"
        })
        .unwrap_or_else(|| panic!("no ticket_key_rejected:\n{}", gate.output()));
    assert_eq!(field(&rejected, "code"), "ticket_key_invalid");
    assert_eq!(
        s_client(
            gate.listen_port,
            "-tls1_2",
            &pki.ca_path,
            Some(&new_sess),
            None
        ),
        "Reused"
    );
}

#[test]
fn ticket_key_files_are_checked() {
    let pki = TestPki::new();
    let upstream = MockUpstream::start();
    let keys = tempfile::tempdir().unwrap();

    // Readable by others: served, with a warning.
    let open = keys.path().join("open.key");
    std::fs::write(&open, random_key()).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
        let gate = ticket_gate(&pki, &upstream, &open);
        let w = gate
            .wait_for_log(Duration::from_secs(5), |l| {
                l["event"] == "ticket_key_finding"
            })
            .unwrap_or_else(|| panic!("no ticket_key_finding:\n{}", gate.output()));
        assert_eq!(field(&w, "code"), "ticket_key_permissions");
    }

    // Hex text instead of bytes: tlsgate does not start, and says why.
    let hex_key = keys.path().join("hex.key");
    write_key(
        &hex_key,
        format!("{}\n", hex::encode(random_key())).as_bytes(),
    );
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tlsgate.yaml");
    let tickets = format!(
        "      session_tickets:\n        key_file: {}\n",
        yaml_path(&hex_key)
    );
    let yaml = format!(
        "listeners:\n{}{}",
        tls_listener("main", &pki, "", &tickets),
        tail_yaml(&upstream, "")
    );
    std::fs::write(&config, yaml).unwrap();
    let args = [
        "serve".to_string(),
        "-c".into(),
        config.display().to_string(),
    ];
    let mut gate = Tlsgate::spawn_args(&args, dir, None, &[], true);
    let status = gate.wait_exit(Duration::from_secs(15));
    assert_eq!(status.code(), Some(1), "{}", gate.output());
    let out = gate.output();
    assert!(
        out.contains("ticket_key_invalid") && out.contains("hex"),
        "{out}"
    );
}

// ---------------------------------------------------------------------------------------------
// Draining on SIGTERM
// ---------------------------------------------------------------------------------------------

fn drain_gate(pki: &TestPki, upstream: &MockUpstream, shutdown: &str) -> Tlsgate {
    Tlsgate::start_yaml(
        &format!(
            "listeners:\n{}{}",
            tls_listener("main", pki, "", ""),
            tail_yaml(upstream, shutdown)
        ),
        true,
    )
}

fn readyz(gate: &Tlsgate) -> Option<u16> {
    raw_http_get(
        SocketAddr::from(([127, 0, 0, 1], gate.admin_port)),
        "/readyz",
        Duration::from_secs(2),
    )
    .map(|(s, _)| s)
}

#[test]
fn sigterm_drains_streams_then_refuses_new_connections() {
    let pki = TestPki::new();
    let upstream = MockUpstream::start();
    let mut gate = drain_gate(
        &pki,
        &upstream,
        "shutdown:\n  drain_delay: 3s\n  drain_timeout: 20s\n",
    );
    assert_eq!(readyz(&gate), Some(200));

    // Two SSE streams in flight, HTTP/1.1 and HTTP/2, each pausing 6 s mid-stream.
    let resolve = format!("localhost:{}:127.0.0.1", gate.listen_port);
    let url = gate.url("/sse-pause?ms=6000");
    let streams: Vec<_> = ["--http1.1", "--http2"]
        .into_iter()
        .map(|proto| {
            let (resolve, url, ca) = (resolve.clone(), url.clone(), pki.ca_path.clone());
            std::thread::spawn(move || {
                curl_stream(&[
                    proto,
                    "--resolve",
                    &resolve,
                    "--cacert",
                    ca.to_str().unwrap(),
                    "--max-time",
                    "30",
                    &url,
                ])
            })
        })
        .collect();
    assert!(
        wait_until(Duration::from_secs(10), || (upstream.count("/sse-pause")
            == 2)
            .then_some(()))
        .is_some(),
        "both streams reached the upstream"
    );
    std::thread::sleep(Duration::from_millis(200));
    let term_at = Instant::now();
    gate.sigterm();

    // Not ready at once, while still serving: a new request works and is told to close.
    assert!(
        wait_until(Duration::from_secs(2), || (readyz(&gate) == Some(503))
            .then_some(()))
        .is_some(),
        "/readyz is 503 during the drain"
    );
    let r = curl_http(&[
        "--http1.1",
        "--resolve",
        &resolve,
        "--cacert",
        pki.ca_path.to_str().unwrap(),
        &gate.url("/v1/models"),
    ]);
    assert!(
        term_at.elapsed() < Duration::from_secs(3),
        "checked within the drain delay"
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("connection").as_deref(), Some("close"));

    // After the delay: accepting stops, so new connections are refused.
    gate.wait_for_log(Duration::from_secs(6), |l| l["event"] == "draining")
        .unwrap_or_else(|| panic!("no draining event:\n{}", gate.output()));
    assert!(term_at.elapsed() >= Duration::from_millis(2900));
    let refused = wait_until(Duration::from_secs(2), || {
        TcpStream::connect_timeout(
            &SocketAddr::from(([127, 0, 0, 1], gate.listen_port)),
            Duration::from_millis(500),
        )
        .err()
    })
    .expect("new connections are refused after the drain delay");
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    assert_eq!(
        readyz(&gate),
        Some(503),
        "the admin API answers through the drain"
    );

    // The streams in flight run to their end, then the process exits 0.
    for (proto, s) in ["http/1.1", "h2"].iter().zip(streams) {
        let (lines, status, stderr) = s.join().unwrap();
        assert!(status.success(), "{proto}: curl {status:?}: {stderr}");
        assert!(
            lines.iter().any(|l| l.line == "data: [DONE]"),
            "{proto}: the stream completed: {:?}",
            lines.iter().map(|l| &l.line).collect::<Vec<_>>()
        );
    }
    let status = gate.wait_exit(Duration::from_secs(15));
    assert_eq!(status.code(), Some(0), "{}", gate.output());
    assert_eq!(upstream.aborted_count(), 0);
}

#[test]
fn a_second_sigterm_exits_at_once() {
    let pki = TestPki::new();
    let upstream = MockUpstream::start();
    let mut gate = drain_gate(
        &pki,
        &upstream,
        "shutdown:\n  drain_delay: 30s\n  drain_timeout: 30s\n",
    );
    gate.sigterm();
    gate.wait_for_log(Duration::from_secs(5), |l| l["event"] == "shutting_down")
        .unwrap_or_else(|| panic!("no shutting_down event:\n{}", gate.output()));
    assert_eq!(readyz(&gate), Some(503));
    let t0 = Instant::now();
    gate.sigterm();
    let status = gate.wait_exit(Duration::from_secs(5));
    assert!(t0.elapsed() < Duration::from_secs(3));
    assert_eq!(status.code(), Some(143), "{}", gate.output());
    assert!(gate.output().contains("shutdown_forced"));
}
