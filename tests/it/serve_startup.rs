//! `serve` refuses only material it cannot use, printing the findings, and starts (loudly) with
//! the rest.

use crate::support;

use std::time::Duration;

use crate::support::{run_tlsgate, GateConfig, MockUpstream, TestPki, Tlsgate};

fn config_with(cert: &std::path::Path, key: &std::path::Path) -> String {
    format!(
        "listeners:\n  - name: main\n    bind: 127.0.0.1:0\n    tls:\n      certificates:\n        - cert: \"{}\"\n          key: \"{}\"\nupstreams:\n  u: {{url: \"http://127.0.0.1:1\"}}\nadmin: {{bind: \"127.0.0.1:0\"}}\n",
        cert.display(),
        key.display(),
    )
}

#[test]
fn key_mismatch_stops_startup_with_the_finding() {
    let pki = TestPki::new();
    let other = TestPki::leaf_for(&["localhost"], &pki.ca);
    let (_, other_key) = pki.write_leaf(&other, "other");
    let cfg = pki.dir.path().join("tlsgate.yaml");
    std::fs::write(&cfg, config_with(&pki.cert_path, &other_key)).unwrap();
    let (status, out) = run_tlsgate(
        &["serve", "-c", cfg.to_str().unwrap()],
        pki.dir.path(),
        &[],
        Duration::from_secs(20),
    );
    assert_eq!(status.code(), Some(1), "{}", out.all());
    let err = out.stderr();
    assert!(err.contains("error  key_mismatch:"), "{err}");
    assert!(err.contains("why:") && err.contains("fix:"), "{err}");
}

#[test]
fn encrypted_key_stops_startup() {
    let pki = TestPki::new();
    let enc = pki.dir.path().join("enc.pem");
    let st = std::process::Command::new("openssl")
        .args(["pkey", "-in"])
        .arg(&pki.key_path)
        .args(["-aes256", "-passout", "pass:secret", "-out"])
        .arg(&enc)
        .status()
        .unwrap();
    assert!(st.success());
    let cfg = pki.dir.path().join("tlsgate.yaml");
    std::fs::write(&cfg, config_with(&pki.cert_path, &enc)).unwrap();
    let (status, out) = run_tlsgate(
        &["serve", "-c", cfg.to_str().unwrap()],
        pki.dir.path(),
        &[],
        Duration::from_secs(20),
    );
    assert_eq!(status.code(), Some(1), "{}", out.all());
    assert!(out.stderr().contains("key_encrypted"), "{}", out.all());
}

#[test]
fn incomplete_chain_serves_and_logs_the_finding() {
    // Leaf only, its issuer in no store: an error finding, but tlsgate still serves.
    let pki = TestPki::new();
    let up = MockUpstream::start();
    let gate = Tlsgate::start(&GateConfig::tls(&pki, up.url()));
    let ev = gate
        .wait_for_log(Duration::from_secs(3), |l| {
            l["event"] == "cert_finding" && l["code"] == "chain_incomplete"
        })
        .expect("chain_incomplete logged at startup");
    assert_eq!(ev["level"], "ERROR");
    assert!(
        ev["why"].as_str().unwrap().contains("tlsgate test root"),
        "{ev}"
    );
    let out = support::curl(&[
        "-sS",
        "--cacert",
        pki.ca_path.to_str().unwrap(),
        &gate.url("/v1/models"),
    ]);
    assert!(out.ok(), "{}", out.describe());
}

#[test]
fn a_port_in_use_is_refused_with_the_reason() {
    // Worker sockets use SO_REUSEPORT; the port must still be reported as taken.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("tlsgate.yaml");
    std::fs::write(
        &cfg,
        format!(
            "listeners:\n  - name: main\n    bind: 127.0.0.1:{port}\nupstreams:\n  u: {{url: \"http://127.0.0.1:1\"}}\nadmin: {{bind: \"127.0.0.1:0\"}}\n"
        ),
    )
    .unwrap();
    let (status, out) = run_tlsgate(
        &["serve", "-c", cfg.to_str().unwrap()],
        dir.path(),
        &[],
        Duration::from_secs(20),
    );
    assert_eq!(status.code(), Some(1), "{}", out.all());
    assert!(
        out.stderr().contains("another process uses this port"),
        "{}",
        out.all()
    );
    drop(taken);
}

#[test]
fn port_0_is_one_port_for_every_worker_named_in_the_ready_file_the_log_and_status() {
    let up = MockUpstream::start();
    let mut cfg = GateConfig::plain(up.url());
    cfg.env = vec![("TLSGATE_WORKERS".into(), "4".into())];
    let gate = Tlsgate::start(&cfg);
    let ready: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&gate.ready_path).unwrap()).unwrap();
    let addr = format!("127.0.0.1:{}", gate.listen_port);
    assert_eq!(ready["listeners"][0]["name"], "main", "{ready}");
    assert_eq!(ready["listeners"][0]["addr"], addr.as_str(), "{ready}");
    assert_eq!(ready["listeners"][0]["tls"], false, "{ready}");
    assert_eq!(ready["pid"], gate.pid(), "{ready}");
    let admin = gate.admin_addr().to_string();
    assert_eq!(ready["admin"], admin.as_str(), "{ready}");

    let listening = gate
        .wait_for_log(Duration::from_secs(5), |l| l["event"] == "listening")
        .expect("listening event");
    assert_eq!(listening["bind"], addr.as_str(), "{listening}");
    assert_eq!(listening["workers"], 4, "{listening}");
    let admin_listening = gate
        .wait_for_log(Duration::from_secs(5), |l| l["event"] == "admin_listening")
        .expect("admin_listening event");
    assert_eq!(admin_listening["bind"], admin.as_str(), "{admin_listening}");
    let (_, body) = support::raw_http_get(gate.admin_addr(), "/status", Duration::from_secs(5))
        .expect("status");
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["listeners"][0]["bind"], addr.as_str(), "{status}");

    // New connections, spread by the kernel over the four workers' sockets on that port, are
    // all served.
    for _ in 0..16 {
        let r = support::curl_http(&[&gate.url("/v1/models")]);
        assert_eq!(r.status, 200, "{}", r.raw.describe());
    }
    assert_eq!(up.count("/v1/models"), 16);
}

#[test]
fn a_ready_file_in_a_missing_directory_is_refused_before_starting() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("tlsgate.yaml");
    std::fs::write(
        &cfg,
        "listeners:\n  - name: main\n    bind: 127.0.0.1:0\nupstreams:\n  u: {url: \"http://127.0.0.1:1\"}\nadmin: {bind: \"127.0.0.1:0\"}\n",
    )
    .unwrap();
    let ready = dir.path().join("no-such-dir/ready.json");
    let (status, out) = run_tlsgate(
        &[
            "serve",
            "-c",
            cfg.to_str().unwrap(),
            "--ready-file",
            ready.to_str().unwrap(),
        ],
        dir.path(),
        &[],
        Duration::from_secs(20),
    );
    assert_eq!(status.code(), Some(1), "{}", out.all());
    assert!(out.stderr().contains("--ready-file"), "{}", out.all());
}
