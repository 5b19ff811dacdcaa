//! Certificate hot reload with real files and real TLS connections: every rotation style is
//! served to new connections within 2 s, broken pairs are rejected while the old certificate
//! keeps serving, and rotations under load fail no request.

use crate::support;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::{
    fingerprint, https_get_status, leaf_with_validity, served_fingerprint, wait_until, GateConfig,
    MockUpstream, TestLeaf, TestPki, Tlsgate,
};

/// The deadline the issue sets for a rotation to be visible to new connections.
const VISIBLE_WITHIN: Duration = Duration::from_secs(2);

fn new_leaf(pki: &TestPki) -> TestLeaf {
    TestPki::leaf_for(&["localhost", "127.0.0.1"], &pki.ca)
}

/// Starts tlsgate serving `cert`/`key` with `reload_yaml` as its `reload:` section.
fn start(cert: &Path, key: &Path, reload_yaml: &str) -> (Tlsgate, MockUpstream) {
    let upstream = MockUpstream::start();
    let mut cfg = GateConfig::plain(upstream.url());
    cfg.tls = Some((cert.to_path_buf(), key.to_path_buf()));
    cfg.top_extra = format!("reload:\n{reload_yaml}");
    (Tlsgate::start(&cfg), upstream)
}

/// Waits until new connections are served `expected`; returns how long it took.
fn wait_served(gate: &Tlsgate, expected: &str, within: Duration) -> Duration {
    let t0 = Instant::now();
    let seen = wait_until(within, || {
        (served_fingerprint(gate.listen_port).as_deref() == Some(expected)).then_some(())
    });
    assert!(
        seen.is_some(),
        "new certificate {expected} not served within {within:?}; serving {:?}\n{}",
        served_fingerprint(gate.listen_port),
        gate.output()
    );
    t0.elapsed()
}

/// Writes `content` to `path` via a temporary file and a rename (what most tools do).
fn atomic_write(path: &Path, content: &str) {
    let tmp = path.with_extension("tmp-rotate");
    std::fs::write(&tmp, content).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[test]
fn atomic_rename_is_picked_up() {
    let pki = TestPki::new();
    let (gate, _up) = start(&pki.cert_path, &pki.key_path, "  debounce: 200ms\n");
    assert_eq!(
        served_fingerprint(gate.listen_port).unwrap(),
        fingerprint(&pki.leaf.cert_der)
    );
    let next = new_leaf(&pki);
    atomic_write(&pki.key_path, &next.key_pem);
    atomic_write(&pki.cert_path, &next.chain_pem);
    let took = wait_served(&gate, &fingerprint(&next.cert_der), VISIBLE_WITHIN);
    eprintln!("atomic rename → new certificate served after {took:?}");
    let ev = gate
        .wait_for_log(Duration::from_secs(2), |l| l["event"] == "cert_reloaded")
        .expect("cert_reloaded event");
    assert_eq!(ev["fingerprint_old"], fingerprint(&pki.leaf.cert_der));
    assert_eq!(ev["fingerprint_new"], fingerprint(&next.cert_der));
    assert!(ev["not_after"].as_str().unwrap().ends_with('Z'));
}

#[cfg(unix)]
#[test]
fn kubernetes_data_symlink_swap_is_picked_up() {
    use std::os::unix::fs::symlink;
    let pki = TestPki::new();
    let dir = pki.dir.path().join("secret");
    let v1 = dir.join("..2026_11_23_v1");
    std::fs::create_dir_all(&v1).unwrap();
    std::fs::write(v1.join("tls.crt"), &pki.leaf.chain_pem).unwrap();
    std::fs::write(v1.join("tls.key"), &pki.leaf.key_pem).unwrap();
    symlink("..2026_11_23_v1", dir.join("..data")).unwrap();
    symlink("..data/tls.crt", dir.join("tls.crt")).unwrap();
    symlink("..data/tls.key", dir.join("tls.key")).unwrap();
    let (gate, _up) = start(
        &dir.join("tls.crt"),
        &dir.join("tls.key"),
        "  debounce: 200ms\n",
    );

    // What the kubelet does: a new timestamped dir, a temporary link, renamed over `..data`,
    // then the old dir removed.
    let next = new_leaf(&pki);
    let v2 = dir.join("..2026_11_23_v2");
    std::fs::create_dir_all(&v2).unwrap();
    std::fs::write(v2.join("tls.crt"), &next.chain_pem).unwrap();
    std::fs::write(v2.join("tls.key"), &next.key_pem).unwrap();
    symlink("..2026_11_23_v2", dir.join("..data_tmp")).unwrap();
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
    std::fs::remove_dir_all(&v1).unwrap();
    let took = wait_served(&gate, &fingerprint(&next.cert_der), VISIBLE_WITHIN);
    eprintln!("..data swap → new certificate served after {took:?}");
}

#[test]
fn in_place_overwrite_is_picked_up() {
    let pki = TestPki::new();
    let (gate, _up) = start(&pki.cert_path, &pki.key_path, "  debounce: 200ms\n");
    let next = new_leaf(&pki);
    // Truncate-and-write the same inodes, key first.
    std::fs::write(&pki.key_path, &next.key_pem).unwrap();
    std::fs::write(&pki.cert_path, &next.chain_pem).unwrap();
    wait_served(&gate, &fingerprint(&next.cert_der), VISIBLE_WITHIN);
}

#[cfg(unix)]
#[test]
fn certbot_style_symlinks_recreated_one_by_one_are_picked_up() {
    use std::os::unix::fs::symlink;
    let pki = TestPki::new();
    let archive = pki.dir.path().join("archive/example");
    let live = pki.dir.path().join("live/example");
    std::fs::create_dir_all(&archive).unwrap();
    std::fs::create_dir_all(&live).unwrap();
    std::fs::write(archive.join("fullchain1.pem"), &pki.leaf.chain_pem).unwrap();
    std::fs::write(archive.join("privkey1.pem"), &pki.leaf.key_pem).unwrap();
    symlink(
        "../../archive/example/fullchain1.pem",
        live.join("fullchain.pem"),
    )
    .unwrap();
    symlink(
        "../../archive/example/privkey1.pem",
        live.join("privkey.pem"),
    )
    .unwrap();
    let (gate, _up) = start(
        &live.join("fullchain.pem"),
        &live.join("privkey.pem"),
        "  debounce: 200ms\n",
    );

    let next = new_leaf(&pki);
    std::fs::write(archive.join("fullchain2.pem"), &next.chain_pem).unwrap();
    std::fs::write(archive.join("privkey2.pem"), &next.key_pem).unwrap();
    // certbot unlinks and re-creates each link separately: for a moment the new certificate
    // sits with the old key (the pause is part of the scenario).
    std::fs::remove_file(live.join("fullchain.pem")).unwrap();
    symlink(
        "../../archive/example/fullchain2.pem",
        live.join("fullchain.pem"),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(20));
    std::fs::remove_file(live.join("privkey.pem")).unwrap();
    symlink(
        "../../archive/example/privkey2.pem",
        live.join("privkey.pem"),
    )
    .unwrap();
    wait_served(&gate, &fingerprint(&next.cert_der), VISIBLE_WITHIN);
}

/// Asserts the old certificate is still served after a broken write, and the rejection names
/// `code`.
fn assert_rejected_keeps_old(gate: &Tlsgate, old_fp: &str, code: &str) {
    let ev = gate
        .wait_for_log(Duration::from_secs(5), |l| {
            l["event"] == "cert_reload_rejected" && l["code"] == code
        })
        .unwrap_or_else(|| panic!("no cert_reload_rejected with {code}:\n{}", gate.output()));
    assert!(ev["fix"].as_str().is_some_and(|f| !f.is_empty()));
    assert_eq!(
        served_fingerprint(gate.listen_port).as_deref(),
        Some(old_fp),
        "the old certificate must keep serving"
    );
}

#[test]
fn broken_pairs_are_rejected_then_a_good_pair_is_taken() {
    let pki = TestPki::new();
    let (gate, _up) = start(&pki.cert_path, &pki.key_path, "  debounce: 150ms\n");
    let old_fp = fingerprint(&pki.leaf.cert_der);

    // 1. A certificate with someone else's key.
    let stranger = new_leaf(&pki);
    let next = new_leaf(&pki);
    atomic_write(&pki.key_path, &stranger.key_pem);
    atomic_write(&pki.cert_path, &next.chain_pem);
    assert_rejected_keeps_old(&gate, &old_fp, "key_mismatch");

    // 2. A truncated certificate file.
    atomic_write(&pki.key_path, &next.key_pem);
    atomic_write(&pki.cert_path, &next.chain_pem[..next.chain_pem.len() / 2]);
    assert_rejected_keeps_old(&gate, &old_fp, "cert_not_found_in_file");

    // 3. An expired replacement for a valid certificate.
    let now = time::OffsetDateTime::now_utc();
    let expired = leaf_with_validity(
        &["localhost"],
        &pki.ca,
        now - time::Duration::days(60),
        now - time::Duration::days(1),
    );
    atomic_write(&pki.key_path, &expired.key_pem);
    atomic_write(&pki.cert_path, &expired.chain_pem);
    assert_rejected_keeps_old(&gate, &old_fp, "cert_expired");

    // /status and POST /reload report the rejection with its findings.
    let (code, body) = support::raw_http_get(
        ([127, 0, 0, 1], gate.admin_port).into(),
        "/status",
        Duration::from_secs(5),
    )
    .expect("status");
    assert_eq!(code, 200);
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["reload"]["result"], "rejected", "{status}");
    assert_eq!(status["reload"]["findings"][0]["code"], "cert_expired");

    // 4. Then a good pair is picked up.
    atomic_write(&pki.key_path, &next.key_pem);
    atomic_write(&pki.cert_path, &next.chain_pem);
    wait_served(&gate, &fingerprint(&next.cert_der), VISIBLE_WITHIN);
}

#[test]
fn fifty_rotations_under_load_fail_no_request() {
    let pki = TestPki::new();
    let (gate, up) = start(&pki.cert_path, &pki.key_path, "  debounce: 100ms\n");
    let port = gate.listen_port;
    let ca = pki.ca.cert_der.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));

    // Two clients, each a new connection (a full handshake) per request.
    let clients: Vec<_> = (0..2)
        .map(|_| {
            let (stop, ok, failures, ca) = (stop.clone(), ok.clone(), failures.clone(), ca.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match https_get_status(port, &ca, "/v1/models") {
                        Ok(200) => {
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(other) => failures.lock().unwrap().push(format!("status {other}")),
                        Err(e) => failures.lock().unwrap().push(e),
                    }
                }
            })
        })
        .collect();

    let mut last = pki.leaf.cert_der.clone();
    for _ in 0..50 {
        let next = new_leaf(&pki);
        atomic_write(&pki.key_path, &next.key_pem);
        atomic_write(&pki.cert_path, &next.chain_pem);
        last = next.cert_der.clone();
        // The pace of the rotations: part of the scenario.
        std::thread::sleep(Duration::from_millis(60));
    }
    wait_served(&gate, &fingerprint(&last), Duration::from_secs(5));
    // Keep the load on a little longer, over the last certificate.
    let after_last = ok.load(Ordering::Relaxed);
    let more = wait_until(Duration::from_secs(10), || {
        (ok.load(Ordering::Relaxed) >= after_last + 20).then_some(())
    });
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let failures = failures.lock().unwrap();
    assert!(
        more.is_some() || !failures.is_empty(),
        "no request succeeded after the last rotation"
    );
    let ok = ok.load(Ordering::Relaxed);
    eprintln!("50 rotations: {ok} requests ok, {} failed", failures.len());
    assert!(
        failures.is_empty(),
        "failed requests: {:?}",
        &failures[..failures.len().min(5)]
    );
    assert!(
        ok >= 50,
        "the load was too light to mean anything: {ok} requests"
    );
    assert!(up.request_count() >= ok);
    assert!(!gate.events("cert_reloaded").is_empty());
}

#[test]
fn deleted_and_recreated_directory_keeps_reloading() {
    let pki = TestPki::new();
    let dir: PathBuf = pki.dir.path().join("certs");
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, &pki.leaf.chain_pem).unwrap();
    std::fs::write(&key, &pki.leaf.key_pem).unwrap();
    let (gate, _up) = start(&cert, &key, "  debounce: 200ms\n");

    std::fs::remove_dir_all(&dir).unwrap();
    // The watcher notices, and the reload finds no files: rejected.
    gate.wait_for_log(Duration::from_secs(5), |l| {
        l["event"] == "cert_reload_rejected" && l["code"] == "cert_file_unreadable"
    })
    .unwrap_or_else(|| panic!("the deletion was not noticed:\n{}", gate.output()));
    // While the files are gone the old certificate keeps serving.
    assert_eq!(
        served_fingerprint(gate.listen_port).unwrap(),
        fingerprint(&pki.leaf.cert_der)
    );
    std::fs::create_dir_all(&dir).unwrap();
    let next = new_leaf(&pki);
    std::fs::write(&key, &next.key_pem).unwrap();
    std::fs::write(&cert, &next.chain_pem).unwrap();
    wait_served(&gate, &fingerprint(&next.cert_der), VISIBLE_WITHIN);

    // And the re-created directory is watched again.
    let third = new_leaf(&pki);
    atomic_write(&key, &third.key_pem);
    atomic_write(&cert, &third.chain_pem);
    wait_served(&gate, &fingerprint(&third.cert_der), VISIBLE_WITHIN);
}

#[test]
fn sighup_reloads_with_the_watcher_disabled() {
    let pki = TestPki::new();
    let (gate, _up) = start(
        &pki.cert_path,
        &pki.key_path,
        "  watch: false\n  poll: 1h\n",
    );
    let next = new_leaf(&pki);
    atomic_write(&pki.key_path, &next.key_pem);
    atomic_write(&pki.cert_path, &next.chain_pem);
    // Nothing is waited for here: this is the time given to a reload that must not happen
    // (a watcher would have reacted within its 300 ms debounce).
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(
        served_fingerprint(gate.listen_port).unwrap(),
        fingerprint(&pki.leaf.cert_der),
        "with watch: false nothing reloads on its own"
    );
    let status = std::process::Command::new("kill")
        .args(["-HUP", &gate.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    wait_served(&gate, &fingerprint(&next.cert_der), VISIBLE_WITHIN);
    let ev = gate
        .wait_for_log(Duration::from_secs(2), |l| l["event"] == "cert_reloaded")
        .unwrap();
    assert_eq!(ev["trigger"], "sighup");
}

#[test]
fn post_reload_returns_findings_of_a_rejected_reload() {
    let pki = TestPki::new();
    let (gate, _up) = start(
        &pki.cert_path,
        &pki.key_path,
        "  watch: false\n  poll: 1h\n",
    );
    let stranger = new_leaf(&pki);
    atomic_write(&pki.key_path, &stranger.key_pem);
    let out = support::curl(&[
        "-sS",
        "--max-time",
        "20",
        "-X",
        "POST",
        "-H",
        "X-Tlsgate: 1",
        &format!("http://127.0.0.1:{}/reload", gate.admin_port),
    ]);
    let body: serde_json::Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", out.describe());
    });
    assert_eq!(body["result"], "rejected", "{body}");
    assert_eq!(body["findings"][0]["code"], "key_mismatch");
    assert_eq!(
        served_fingerprint(gate.listen_port).unwrap(),
        fingerprint(&pki.leaf.cert_der)
    );
}
