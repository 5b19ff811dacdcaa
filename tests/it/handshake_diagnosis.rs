//! Inbound handshake diagnosis with real clients: each failure is logged as a
//! `tls_handshake_failed` event whose code names the cause, and counted in `/status` and
//! `/metrics`.

use crate::support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{
    curl, leaf_with_validity, GateConfig, MockUpstream, TestCa, TestPki, Tlsgate,
};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// Waits for a `tls_handshake_failed` event with `code`; returns it.
fn failed_event(gate: &Tlsgate, code: &str) -> serde_json::Value {
    gate.wait_for_log(Duration::from_secs(5), |l| {
        l["event"] == "tls_handshake_failed" && l["code"] == code
    })
    .unwrap_or_else(|| {
        panic!(
            "no tls_handshake_failed with code {code}; events: {:#?}",
            gate.events("tls_handshake_failed")
        )
    })
}

fn start_single(pki: &TestPki, extra: &str) -> (Tlsgate, MockUpstream) {
    let up = MockUpstream::start();
    let mut cfg = GateConfig::tls(pki, up.url());
    cfg.top_extra = extra.to_string();
    (Tlsgate::start(&cfg), up)
}

/// A Python `ssl` client (OpenSSL) connecting with `cafile` and `server_hostname`; returns
/// what it printed ("ok" or the error).
fn python_connect(port: u16, cafile: &Path, server_hostname: &str) -> String {
    let script = format!(
        "import ssl, socket\n\
ctx = ssl.create_default_context(cafile={cafile:?})\n\
s = socket.create_connection(('127.0.0.1', {port}), timeout=10)\n\
try:\n    t = ctx.wrap_socket(s, server_hostname={server_hostname:?}); print('ok'); t.close()\n\
except Exception as e:\n    print('error', e)\n",
        cafile = cafile.display().to_string(),
    );
    let out = Command::new("python3")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .output()
        .expect("python3");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn openssl_s_client(port: u16, args: &[&str]) -> String {
    let mut cmd = Command::new("openssl");
    cmd.args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("openssl");
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// An intermediate CA signed by `root`.
fn intermediate(root: &TestCa, name: &str) -> TestCa {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.use_authority_key_identifier_extension = true;
    let cert = params.signed_by(&key, &root.issuer).unwrap();
    TestCa {
        cert_pem: cert.pem(),
        cert_der: cert.der().clone(),
        issuer: Issuer::new(params, key),
    }
}

/// A single-certificate listener whose private root is named by `ca:` (as the dev default and
/// `certs init` set it).
fn start_with_ca(pki: &TestPki) -> (Tlsgate, MockUpstream) {
    let ca = pki.ca_path.display();
    start_listener(pki, "main", &format!(", ca: \"{ca}\""), "")
}

/// One TLS listener serving `pki`'s leaf: `cert_extra` goes inside the certificate's mapping,
/// `tls_extra` lines inside `tls:`.
fn start_listener(
    pki: &TestPki,
    name: &str,
    cert_extra: &str,
    tls_extra: &str,
) -> (Tlsgate, MockUpstream) {
    let up = MockUpstream::start();
    let certificate = format!(
        "{{cert: \"{}\", key: \"{}\"{cert_extra}}}",
        pki.cert_path.display(),
        pki.key_path.display()
    );
    let url = up.url();
    let gate = Tlsgate::start_yaml(
        &format!(
            "listeners:\n  - name: {name}\n    bind: 127.0.0.1:0\n    tls:\n      certificates:\n        - {certificate}\n{tls_extra}upstreams:\n  u: {{url: \"{url}\"}}\nadmin: {{bind: \"127.0.0.1:0\"}}\ndiagnostics: {{log_format: json}}\n"
        ),
        true,
    );
    (gate, up)
}

#[test]
fn private_root_without_ca_setting_is_reported_as_incomplete_with_both_fixes() {
    // Only the leaf is sent and nothing tells tlsgate its issuer is a root: from our side the
    // chain is incomplete, and the fix names both readings.
    let pki = TestPki::new();
    let (gate, _up) = start_single(&pki, "");
    let out = curl(&["-sS", "--max-time", "10", &gate.url("/v1/models")]);
    assert!(!out.ok());
    let ev = failed_event(&gate, "client_rejected_incomplete_chain");
    assert!(
        ev["why"].as_str().unwrap().contains("tlsgate test root"),
        "{ev}"
    );
}

#[test]
fn curl_without_our_ca_is_untrusted_ca_and_counted() {
    let pki = TestPki::new();
    let (gate, _up) = start_with_ca(&pki);
    let out = curl(&["-sS", "--max-time", "10", &gate.url("/v1/models")]);
    assert!(!out.ok(), "curl must reject the private CA");
    let ev = failed_event(&gate, "client_rejected_untrusted_ca");
    assert_eq!(ev["alert"], "unknown_ca");
    assert_eq!(ev["level"], "WARN");
    assert_eq!(ev["sni"], "localhost");
    assert!(ev["served_cert"].as_str().is_some_and(|s| s.len() == 64));
    for field in [
        "peer",
        "client_versions",
        "cipher_count",
        "summary",
        "fix",
        "duration_ms",
    ] {
        assert!(!ev[field].is_null(), "missing {field}: {ev}");
    }

    let (_, body) = support::raw_http_get(
        ([127, 0, 0, 1], gate.admin_port).into(),
        "/status",
        Duration::from_secs(5),
    )
    .unwrap();
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    let hf = &status["listeners"][0]["handshake_failures"];
    assert_eq!(hf["by_code"]["client_rejected_untrusted_ca"], 1, "{hf}");
    assert_eq!(hf["recent"][0]["code"], "client_rejected_untrusted_ca");
}

#[test]
fn plain_http_gets_a_readable_400_naming_https() {
    let pki = TestPki::new();
    let (gate, _up) = start_single(&pki, "");
    let out = curl(&[
        "-sS",
        "--max-time",
        "10",
        "-w",
        "%{http_code}",
        &format!("http://localhost:{}/v1/models", gate.listen_port),
    ]);
    assert!(
        out.stdout
            .contains(&format!("https://localhost:{}/", gate.listen_port)),
        "{}",
        out.describe()
    );
    assert!(out.stdout.ends_with("400"), "{}", out.describe());
    let ev = failed_event(&gate, "plain_http_on_tls_port");
    assert_eq!(ev["level"], "INFO");
}

#[test]
fn ssh_banner_is_not_tls_with_evidence() {
    let pki = TestPki::new();
    let (gate, _up) = start_single(&pki, "");
    let mut s = TcpStream::connect(("127.0.0.1", gate.listen_port)).unwrap();
    s.write_all(b"SSH-2.0-OpenSSH_9.2p1 Debian\r\n").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let ev = failed_event(&gate, "not_tls");
    assert!(ev["why"].as_str().unwrap().contains("SSH"), "{ev}");
}

#[test]
fn tls_1_1_only_client_is_too_old() {
    let pki = TestPki::new();
    let (gate, _up) = start_single(&pki, "");
    let _ = openssl_s_client(gate.listen_port, &["-tls1_1", "-servername", "localhost"]);
    let ev = failed_event(&gate, "client_tls_version_too_old");
    assert!(
        ev["client_versions"].as_str().unwrap().contains("TLSv1.1"),
        "{ev}"
    );
}

#[test]
fn alpn_without_overlap_is_alpn_mismatch() {
    let pki = TestPki::new();
    let (gate, _up) = start_single(&pki, "");
    let _ = openssl_s_client(
        gate.listen_port,
        &["-alpn", "spdy/3", "-servername", "localhost"],
    );
    let ev = failed_event(&gate, "alpn_mismatch");
    assert_eq!(ev["alpn"], "spdy/3");
}

#[test]
fn several_certificates_without_default_refuse_unknown_and_missing_sni() {
    let pki = TestPki::new();
    let other = TestPki::leaf_for(&["api.example.test"], &pki.ca);
    let (oc, ok) = pki.write_leaf(&other, "other");
    let up = MockUpstream::start();
    let gate = Tlsgate::start_yaml(
        &format!(
            "listeners:\n  - name: multi\n    bind: 127.0.0.1:0\n    tls:\n      certificates:\n        - {{cert: \"{}\", key: \"{}\", names: [localhost]}}\n        - {{cert: \"{}\", key: \"{}\"}}\nupstreams:\n  u: {{url: \"{}\"}}\nadmin: {{bind: \"127.0.0.1:0\"}}\ndiagnostics: {{log_format: json}}\n",
            pki.cert_path.display(),
            pki.key_path.display(),
            oc.display(),
            ok.display(),
            up.url()
        ),
        true,
    );
    let _ = openssl_s_client(gate.listen_port, &["-servername", "unknown.example.test"]);
    let ev = failed_event(&gate, "unknown_sni");
    let text = format!("{} {}", ev["why"], ev["fix"]);
    assert!(text.contains("unknown.example.test"), "{ev}");
    assert!(
        text.contains("api.example.test") && text.contains("localhost"),
        "{ev}"
    );
    let _ = openssl_s_client(gate.listen_port, &["-noservername"]);
    failed_event(&gate, "no_sni");
}

#[test]
fn missing_intermediate_is_named_when_the_client_rejects() {
    let root = TestPki::new_ca("Test Root R1");
    let inter = intermediate(&root, "Test Intermediate R11");
    let dir = tempfile::tempdir().unwrap();
    let leaf = TestPki::leaf_for(&["localhost"], &inter);
    let (cert, key, ca) = (
        dir.path().join("c.pem"),
        dir.path().join("k.pem"),
        dir.path().join("root.pem"),
    );
    std::fs::write(&cert, &leaf.cert_pem).unwrap(); // the intermediate is NOT sent
    std::fs::write(&key, &leaf.key_pem).unwrap();
    std::fs::write(&ca, &root.cert_pem).unwrap();
    let up = MockUpstream::start();
    let mut cfg = GateConfig::plain(up.url());
    cfg.tls = Some((cert, key));
    let gate = Tlsgate::start(&cfg);
    let out = python_connect(gate.listen_port, &ca, "localhost");
    assert!(out.starts_with("error"), "{out}");
    let ev = failed_event(&gate, "client_rejected_incomplete_chain");
    assert!(format!("{ev}").contains("Test Intermediate R11"), "{ev}");
}

#[test]
fn name_not_covered_is_name_mismatch() {
    let pki = TestPki::new();
    let (gate, _up) = start_single(&pki, "");
    let out = python_connect(gate.listen_port, &pki.ca_path, "api.example.test");
    assert!(out.contains("error"), "{out}");
    let ev = failed_event(&gate, "client_rejected_name_mismatch");
    assert!(
        ev["why"].as_str().unwrap().contains("api.example.test"),
        "{ev}"
    );
}

#[test]
fn expired_certificate_rejected_by_client_is_expired() {
    let pki = TestPki::new();
    let now = time::OffsetDateTime::now_utc();
    let expired = leaf_with_validity(
        &["localhost"],
        &pki.ca,
        now - time::Duration::days(30),
        now - time::Duration::days(2),
    );
    let (c, k) = pki.write_leaf(&expired, "expired");
    let up = MockUpstream::start();
    let mut cfg = GateConfig::plain(up.url());
    cfg.tls = Some((c, k));
    let gate = Tlsgate::start(&cfg);
    // An expired chain still serves (loudly)...
    assert!(gate
        .wait_for_log(Duration::from_secs(2), |l| l["event"] == "cert_finding"
            && l["code"] == "cert_expired")
        .is_some());
    let out = python_connect(gate.listen_port, &pki.ca_path, "localhost");
    assert!(out.contains("expired"), "{out}");
    failed_event(&gate, "client_rejected_expired_cert");
}

/// A listener requiring client certificates from `pki`'s CA (mutual TLS).
fn start_mtls(pki: &TestPki) -> (Tlsgate, MockUpstream) {
    let ca = pki.ca_path.display();
    start_listener(
        pki,
        "mtls",
        "",
        &format!("      client_auth: {{ca: \"{ca}\", mode: require}}\n"),
    )
}

#[test]
fn mutual_tls_without_a_client_certificate_is_client_cert_missing() {
    let pki = TestPki::new();
    let (gate, _up) = start_mtls(&pki);
    let out = curl(&[
        "-sS",
        "--max-time",
        "10",
        "--cacert",
        pki.ca_path.to_str().unwrap(),
        &gate.url("/v1/models"),
    ]);
    assert!(!out.ok());
    failed_event(&gate, "client_cert_missing");
}

#[test]
fn silent_client_times_out_and_a_closed_connection_is_reported() {
    let pki = TestPki::new();
    let (gate, _up) = start_single(&pki, "limits:\n  handshake_timeout: 1s\n");
    let mut s = TcpStream::connect(("127.0.0.1", gate.listen_port)).unwrap();
    let ev = failed_event(&gate, "handshake_timeout");
    assert_eq!(ev["level"], "INFO");
    // And the connection is closed by tlsgate, not left open.
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut b = [0u8; 8];
    match s.read(&mut b) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("the silent connection must be closed, got {other:?}"),
    }

    // A client that completes the handshake and leaves without a request.
    assert!(support::served_fingerprint(gate.listen_port).is_some());
    let ev = failed_event(&gate, "client_closed_after_certificate");
    assert_eq!(ev["sni"], "localhost");
}

#[test]
fn repeated_failures_are_rate_limited_but_all_counted() {
    let pki = TestPki::new();
    let (gate, _up) = start_single(&pki, "");
    for _ in 0..12 {
        let mut s = TcpStream::connect(("127.0.0.1", gate.listen_port)).unwrap();
        s.write_all(b"\x00\x01garbage-bytes-here\r\n").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
    }
    let counted = support::wait_until(Duration::from_secs(5), || {
        let (_, body) = support::raw_http_get(
            ([127, 0, 0, 1], gate.admin_port).into(),
            "/metrics",
            Duration::from_secs(5),
        )?;
        body.contains("tlsgate_handshake_failures_total{listener=\"main\",code=\"not_tls\"} 12")
            .then_some(())
    });
    assert!(counted.is_some(), "the metric must count all 12");
    let logged = || {
        gate.events("tls_handshake_failed")
            .into_iter()
            .filter(|e| e["code"] == "not_tls")
            .count()
    };
    // The log is read from a pipe. All 12 are counted, and each is counted just before it is
    // logged (or suppressed); one more failure of another code, made now, is logged after
    // them: once its line has arrived, every line the 12 produced has too.
    let marker = curl(&[
        "-sS",
        "--max-time",
        "10",
        &format!("http://127.0.0.1:{}/", gate.listen_port),
    ]);
    assert!(marker.ok(), "{}", marker.describe());
    failed_event(&gate, "plain_http_on_tls_port");
    assert_eq!(logged(), 5, "the first 5 per minute are logged one by one");
}

#[test]
fn curl_resolve_with_a_name_not_in_the_sans_is_name_mismatch() {
    let pki = TestPki::new();
    let (gate, _up) = start_with_ca(&pki);
    let port = gate.listen_port;
    let out = curl(&[
        "-sS",
        "--max-time",
        "10",
        "--cacert",
        pki.ca_path.to_str().unwrap(),
        "--resolve",
        &format!("api.example.test:{port}:127.0.0.1"),
        &format!("https://api.example.test:{port}/v1/models"),
    ]);
    assert!(!out.ok(), "curl must reject the name: {}", out.describe());
    let ev = failed_event(&gate, "client_rejected_name_mismatch");
    assert_eq!(ev["sni"], "api.example.test");
    let why = ev["why"].as_str().unwrap();
    assert!(
        why.contains("localhost"),
        "names served must be listed: {why}"
    );
}

#[test]
fn tls12_client_with_only_cbc_sha_ciphers_is_no_shared_cipher() {
    let pki = TestPki::new();
    let (gate, _up) = start_with_ca(&pki);
    let _ = openssl_s_client(
        gate.listen_port,
        &[
            "-tls1_2",
            "-cipher",
            "AES128-SHA",
            "-servername",
            "localhost",
        ],
    );
    let ev = failed_event(&gate, "no_shared_cipher");
    assert_eq!(
        ev["cipher_count"].as_u64().map(|n| n <= 2),
        Some(true),
        "{ev}"
    );
}

#[test]
fn python_default_verification_rejects_our_private_ca() {
    let pki = TestPki::new();
    let (gate, _up) = start_with_ca(&pki);
    let script = format!(
        "import ssl, socket\nctx = ssl.create_default_context()\ns = socket.create_connection(('127.0.0.1', {}), timeout=10)\ntry:\n    ctx.wrap_socket(s, server_hostname='localhost'); print('ok')\nexcept Exception as e:\n    print('error', e)\n",
        gate.listen_port
    );
    let out = Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("CERTIFICATE_VERIFY_FAILED"));
    let ev = failed_event(&gate, "client_rejected_untrusted_ca");
    // The hello shape of an OpenSSL-based client lets the fix name its ecosystem's variables.
    let text = format!("{} {}", ev["why"], ev["fix"]);
    assert!(
        text.contains("SSL_CERT_FILE") || text.contains("REQUESTS_CA_BUNDLE"),
        "{ev}"
    );
}

/// A client certificate (clientAuth EKU) issued by `pki`'s CA, written into its dir.
fn client_certificate(pki: &TestPki, stem: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = CertificateParams::new(vec!["client.example.test".to_string()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "test client");
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    params.use_authority_key_identifier_extension = true;
    let cert = params.signed_by(&key, &pki.ca.issuer).unwrap();
    let c = pki.dir.path().join(format!("{stem}.cert.pem"));
    let k = pki.dir.path().join(format!("{stem}.key.pem"));
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    (c, k)
}

#[test]
fn mutual_tls_with_a_certificate_from_another_ca_is_client_cert_untrusted() {
    let pki = TestPki::new();
    let foreign = TestPki::with_ca_name("Some Other CA");
    let (client_cert, client_key) = client_certificate(&foreign, "client");
    let (gate, _up) = start_mtls(&pki);
    let out = curl(&[
        "-sS",
        "--max-time",
        "10",
        "--cacert",
        pki.ca_path.to_str().unwrap(),
        "--cert",
        client_cert.to_str().unwrap(),
        "--key",
        client_key.to_str().unwrap(),
        &gate.url("/v1/models"),
    ]);
    assert!(!out.ok());
    failed_event(&gate, "client_cert_untrusted");
}

#[test]
fn a_flood_of_garbage_connections_is_bounded_in_logs_and_good_clients_are_served() {
    let pki = TestPki::new();
    let (gate, _up) = start_with_ca(&pki);
    let port = gate.listen_port;
    // 10 000 connections from 4 threads, each sending garbage and closing.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let done = done.clone();
            std::thread::spawn(move || {
                for _ in 0..2500 {
                    if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
                        let _ = s.write_all(b"\x00garbage\r\n\r\n");
                        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                        let mut b = [0u8; 16];
                        let _ = s.read(&mut b);
                    }
                    done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            })
        })
        .collect();
    // A good client is served during the flood (once it is well under way).
    let under_way = support::wait_until(Duration::from_secs(10), || {
        (done.load(std::sync::atomic::Ordering::Relaxed) >= 400).then_some(())
    });
    assert!(under_way.is_some(), "the flood did not start");
    let good = support::https_get_status(port, &pki.ca.cert_der, "/v1/models");
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(good, Ok(200));
    assert_eq!(
        support::https_get_status(port, &pki.ca.cert_der, "/v1/models"),
        Ok(200)
    );
    let lines = gate
        .events("tls_handshake_failed")
        .into_iter()
        .filter(|e| e["code"] == "not_tls")
        .count();
    assert!(lines <= 5, "{lines} log lines for one minute of one code");
    let total = gate.output().lines().count();
    assert!(total < 200, "the flood produced {total} output lines");
    let counted = support::wait_until(Duration::from_secs(5), || {
        let (_, body) = support::raw_http_get(
            ([127, 0, 0, 1], gate.admin_port).into(),
            "/metrics",
            Duration::from_secs(5),
        )?;
        body.contains("code=\"not_tls\"} 10000").then_some(())
    });
    assert!(counted.is_some(), "every failure is counted");
}
