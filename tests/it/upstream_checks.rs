//! Upstream checks at startup (a failing upstream warns, never stops `serve`) and in
//! `tlsgate check` without `--offline`.

use crate::support;

use std::time::Duration;

use crate::support::{run_tlsgate, GateConfig, MockUpstream, TestPki, Tlsgate};

fn status(gate: &Tlsgate) -> serde_json::Value {
    let (_, body) = support::raw_http_get(
        ([127, 0, 0, 1], gate.admin_port).into(),
        "/status",
        Duration::from_secs(5),
    )
    .expect("status");
    serde_json::from_str(&body).unwrap()
}

#[test]
fn untrusted_upstream_at_startup_is_a_warning_and_shows_in_status() {
    let listener_pki = TestPki::new();
    let upstream_pki = TestPki::with_ca_name("Upstream Private Root");
    let up = MockUpstream::start_tls(&upstream_pki.leaf);
    let gate = Tlsgate::start(&GateConfig::tls(&listener_pki, up.url()));
    let ev = gate
        .wait_for_log(Duration::from_secs(10), |l| l["event"] == "upstream_check")
        .expect("upstream_check event");
    assert_eq!(ev["level"], "WARN", "{ev}");
    assert_eq!(ev["status"], "failing");
    assert_eq!(ev["code"], "upstream_untrusted_root", "{ev}");
    assert!(ev["fix"].as_str().unwrap().contains("ca_bundle"), "{ev}");
    let st = status(&gate);
    let u = &st["upstreams"][0];
    assert_eq!(u["status"], "failing", "{st}");
    assert_eq!(u["findings"][0]["code"], "upstream_untrusted_root");
    assert!(u["chain"][0]["issuer"]
        .as_str()
        .unwrap()
        .contains("Upstream Private Root"));
    assert!(u["checked_at"].as_str().unwrap().ends_with('Z'));
    // Still serving: the request itself fails with the same diagnosis.
    let out = support::curl(&[
        "-sS",
        "--cacert",
        listener_pki.ca_path.to_str().unwrap(),
        &gate.url("/v1/models"),
    ]);
    assert!(
        out.stdout.contains("upstream_untrusted_root"),
        "{}",
        out.describe()
    );
}

#[test]
fn trusted_upstream_is_healthy_with_tls_details() {
    let listener_pki = TestPki::new();
    let upstream_pki = TestPki::with_ca_name("Upstream Private Root");
    let up = MockUpstream::start_tls(&upstream_pki.leaf);
    let mut cfg = GateConfig::tls(&listener_pki, up.url());
    cfg.upstream_extra = format!(
        "    tls:\n      ca_bundle: \"{}\"\n",
        upstream_pki.ca_path.display()
    );
    let gate = Tlsgate::start(&cfg);
    let ev = gate
        .wait_for_log(Duration::from_secs(10), |l| l["event"] == "upstream_check")
        .expect("upstream_check event");
    assert_eq!(ev["status"], "healthy", "{ev}");
    let st = status(&gate);
    let u = &st["upstreams"][0];
    assert_eq!(u["status"], "healthy");
    assert!(u["tls_version"].as_str().unwrap().contains("1"), "{u}");
    assert!(!u["cipher"].is_null());
}

#[test]
fn check_online_probes_upstreams() {
    let listener_pki = TestPki::new();
    let upstream_pki = TestPki::with_ca_name("Upstream Private Root");
    let up = MockUpstream::start_tls(&upstream_pki.leaf);
    let dir = tempfile::tempdir().unwrap();
    let yaml = |extra: &str| {
        format!(
            "listeners:\n  - name: main\n    bind: 127.0.0.1:1\n    tls:\n      certificates:\n        - {{cert: \"{}\", key: \"{}\", ca: \"{}\"}}\nupstreams:\n  u:\n    url: \"{}\"\n{extra}",
            listener_pki.cert_path.display(),
            listener_pki.key_path.display(),
            listener_pki.ca_path.display(),
            up.url()
        )
    };
    let cfg = dir.path().join("tlsgate.yaml");
    std::fs::write(&cfg, yaml("")).unwrap();
    let (st, out) = run_tlsgate(
        &["check", "--format", "json", "-c", cfg.to_str().unwrap()],
        dir.path(),
        &[],
        Duration::from_secs(30),
    );
    assert_eq!(st.code(), Some(1), "{}", out.all());
    assert!(
        out.stdout().contains("upstream_untrusted_root"),
        "{}",
        out.all()
    );

    // --offline does not connect.
    let (st, out) = run_tlsgate(
        &["check", "--offline", "-c", cfg.to_str().unwrap()],
        dir.path(),
        &[],
        Duration::from_secs(30),
    );
    assert_eq!(st.code(), Some(0), "{}", out.all());

    std::fs::write(
        &cfg,
        yaml(&format!(
            "    tls:\n      ca_bundle: \"{}\"\n",
            upstream_pki.ca_path.display()
        )),
    )
    .unwrap();
    let (st, out) = run_tlsgate(
        &["check", "-c", cfg.to_str().unwrap()],
        dir.path(),
        &[],
        Duration::from_secs(30),
    );
    assert_eq!(st.code(), Some(0), "{}", out.all());
    assert!(out.stdout().contains("healthy"), "{}", out.all());
}
