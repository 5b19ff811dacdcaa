//! `tlsgate check`: exit codes 0 / 1 / 2 and the findings it names, on real files.

use std::time::Duration;

use crate::support::{run_tlsgate, TestPki};

fn write_config(dir: &std::path::Path, body: &str) -> std::path::PathBuf {
    let p = dir.join("tlsgate.yaml");
    std::fs::write(&p, body).unwrap();
    p
}

fn listener_config(
    cert: &std::path::Path,
    key: &std::path::Path,
    ca: Option<&std::path::Path>,
) -> String {
    let mut y = format!(
        "listeners:\n  - name: main\n    bind: 127.0.0.1:1\n    tls:\n      certificates:\n        - cert: \"{}\"\n          key: \"{}\"\n",
        cert.display(),
        key.display()
    );
    if let Some(ca) = ca {
        y.push_str(&format!("          ca: \"{}\"\n", ca.display()));
    }
    y.push_str("upstreams:\n  u: {url: \"http://127.0.0.1:1\"}\n");
    y
}

fn check_json(
    dir: &std::path::Path,
    cfg: &std::path::Path,
    env: &[(&str, &str)],
) -> (i32, serde_json::Value) {
    let (status, out) = run_tlsgate(
        &[
            "check",
            "--offline",
            "--format",
            "json",
            "-c",
            cfg.to_str().unwrap(),
        ],
        dir,
        env,
        Duration::from_secs(30),
    );
    let json: serde_json::Value = serde_json::from_str(&out.stdout())
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", out.all()));
    (status.code().unwrap_or(-1), json)
}

fn codes(v: &serde_json::Value) -> Vec<String> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn private_ca_certificate_with_ca_passes() {
    let pki = TestPki::new();
    let cfg = write_config(
        pki.dir.path(),
        &listener_config(&pki.cert_path, &pki.key_path, Some(&pki.ca_path)),
    );
    let (code, json) = check_json(pki.dir.path(), &cfg, &[]);
    assert_eq!(code, 0, "{json}");
    assert!(
        !codes(&json).iter().any(|c| c == "chain_incomplete"),
        "{json}"
    );
}

#[test]
fn key_mismatch_is_an_error_exit_1() {
    let pki = TestPki::new();
    let other = TestPki::leaf_for(&["localhost"], &pki.ca);
    let (_, other_key) = pki.write_leaf(&other, "other");
    let cfg = write_config(
        pki.dir.path(),
        &listener_config(&pki.cert_path, &other_key, Some(&pki.ca_path)),
    );
    let (code, json) = check_json(pki.dir.path(), &cfg, &[]);
    assert_eq!(code, 1, "{json}");
    assert!(codes(&json).contains(&"key_mismatch".to_string()), "{json}");
}

#[test]
fn leaf_without_its_issuer_is_chain_incomplete() {
    let pki = TestPki::new();
    let cfg = write_config(
        pki.dir.path(),
        &listener_config(&pki.cert_path, &pki.key_path, None),
    );
    let (code, json) = check_json(pki.dir.path(), &cfg, &[]);
    assert_eq!(code, 1, "{json}");
    assert!(
        codes(&json).contains(&"chain_incomplete".to_string()),
        "{json}"
    );
}

#[test]
fn unusable_configuration_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        "listeners:\n  - bind: 127.0.0.1:1\n    tsl: {}\n",
    );
    let (code, json) = check_json(dir.path(), &cfg, &[]);
    assert_eq!(code, 2, "{json}");
    assert_eq!(codes(&json), vec!["config_invalid"]);
    let why = json["findings"][0]["why"].as_str().unwrap();
    assert!(why.contains(":3:5") && why.contains("tsl"), "{why}");

    let cfg = write_config(
        dir.path(),
        "upstreams:\n  u: {url: \"${TLSGATE_TEST_UNSET_VAR}\"}\n",
    );
    let (code, json) = check_json(dir.path(), &cfg, &[]);
    assert_eq!(code, 2, "{json}");
    assert_eq!(codes(&json), vec!["config_env_missing"]);
    assert!(json["findings"][0]["summary"]
        .as_str()
        .unwrap()
        .contains("TLSGATE_TEST_UNSET_VAR"));
}

#[test]
fn text_report_has_marks_why_and_fix() {
    let pki = TestPki::new();
    let cfg = write_config(
        pki.dir.path(),
        &listener_config(&pki.cert_path, &pki.key_path, None),
    );
    let (status, out) = run_tlsgate(
        &["check", "--offline", "-c", cfg.to_str().unwrap()],
        pki.dir.path(),
        &[],
        Duration::from_secs(30),
    );
    assert_eq!(status.code(), Some(1));
    let text = out.stdout();
    assert!(text.contains("error  chain_incomplete:"), "{text}");
    assert!(text.contains("why: "), "{text}");
    assert!(text.contains("fix: "), "{text}");
}
