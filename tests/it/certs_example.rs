//! Runs certs-example/generate.sh into a temporary directory and checks that `tlsgate inspect`
//! reports the intended code for every example (the cases are listed by the script in
//! `cases.tsv`: name, expected code or `ok`, inspect arguments).

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_tlsgate");

fn have(cmd: &str) -> bool {
    Command::new(cmd)
        .arg("version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[test]
fn every_example_reports_its_code() {
    if !have("openssl") {
        eprintln!("skipping: openssl not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("certs-example/generate.sh");
    let gen = Command::new("sh").arg(&script).arg(&out).output().unwrap();
    assert!(
        gen.status.success(),
        "generate.sh failed:\n{}\n{}",
        String::from_utf8_lossy(&gen.stdout),
        String::from_utf8_lossy(&gen.stderr)
    );
    let cases = std::fs::read_to_string(out.join("cases.tsv")).unwrap();
    let mut failures = Vec::new();
    let mut seen = 0;
    for line in cases.lines().filter(|l| !l.trim().is_empty()) {
        let mut parts = line.splitn(3, '\t');
        let (name, code, args) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap_or(""),
        );
        seen += 1;
        let run = Command::new(BIN)
            .current_dir(&out)
            .arg("inspect")
            .args(args.split_whitespace())
            .args(["--format", "json"])
            .env("SSL_CERT_FILE", "/nonexistent/tlsgate-test-bundle.pem")
            .env("SSL_CERT_DIR", "/nonexistent/tlsgate-test-dir")
            .output()
            .unwrap();
        let v: serde_json::Value = match serde_json::from_slice(&run.stdout) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!("{name}: output is not JSON ({e})"));
                continue;
            }
        };
        let codes: Vec<String> = v["findings"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|f| f["code"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let has_error = v["findings"]
            .as_array()
            .map(|a| a.iter().any(|f| f["severity"] == "error"))
            .unwrap_or(false);
        let want_rc = if has_error { 1 } else { 0 };
        if run.status.code() != Some(want_rc) {
            failures.push(format!(
                "{name}: exit {:?}, expected {want_rc} for {codes:?}",
                run.status.code()
            ));
        }
        if code == "ok" {
            if has_error {
                failures.push(format!("{name}: expected no error, got {codes:?}"));
            }
        } else if !codes.iter().any(|c| c == code) {
            failures.push(format!("{name}: expected {code}, got {codes:?}"));
        }
    }
    assert!(seen >= 25, "only {seen} cases in cases.tsv");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
