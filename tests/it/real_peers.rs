//! Issue 15, phase 1: tlsgate against real peers from Debian's packages, on 127.0.0.1.
//!
//! * nginx and HAProxy as TLS upstreams: `tlsgate check` and a request through `tlsgate serve`
//!   must name the right `upstream_*` code.
//! * PostgreSQL with `ssl = on`, probed with `tlsgate probe --starttls postgres`.
//! * Node, Java `HttpClient`, headless Chromium, Python requests and httpx, curl and
//!   `openssl s_client` as clients of `tlsgate serve`: the `tls_handshake_failed` log line must
//!   name the right `client_*` code and a fix in the client's own terms.
//!
//! Peers come from `scripts/install-peers.sh`. A missing peer skips its tests with a message,
//! unless TLSGATE_REQUIRE_PEERS is set (CI), which makes it a failure. Each test prints one
//! `REAL_PEER_RESULT {json}` line with what it observed (`--nocapture` shows them); that is the
//! evidence in docs/peer-behaviour.md. A test that fails against a peer is ignored with the
//! reason (what tlsgate says instead); docs/diagnosis-matrix.md lists every test with its state
//! and is checked against the cases here. `cargo test --test it real_peers:: -- --include-ignored`
//! shows the full picture.

// The helpers live in tests/it/real_peers/.
pub mod cases;
pub mod clients;
pub mod gate;
pub mod matrix;
pub mod pki;
pub mod proc;
pub mod servers;

use self::cases::{ClientScenario as C, PgScenario, ServerKind, UpstreamScenario as U};
use self::clients::Client;

// ----------------------------------------------------------------------- the matrix document

/// docs/diagnosis-matrix.md shows, for every test below, the peer, the scenario, the code
/// tlsgate must name and the test's state; it is generated from the same expectations the tests
/// assert (tests/it/real_peers/matrix.rs). `TLSGATE_UPDATE_DOCS=1` rewrites it.
#[test]
fn diagnosis_matrix_doc_matches_the_cases() {
    let root = env!("CARGO_MANIFEST_DIR");
    let source = std::fs::read_to_string(format!("{root}/tests/it/real_peers.rs")).unwrap();
    let rows = matrix::rows();
    // One row per test, one test per row.
    let mut tests: Vec<&str> = source
        .split("\nfn ")
        .skip(1)
        .filter_map(|t| t.split_once("()").map(|(name, _)| name))
        .filter(|n| *n != "diagnosis_matrix_doc_matches_the_cases")
        .collect();
    tests.sort_unstable();
    let mut in_rows: Vec<&str> = rows.iter().map(|r| r.test.as_str()).collect();
    in_rows.sort_unstable();
    assert_eq!(tests, in_rows, "the tests and the matrix rows differ");

    assert_eq!(
        matrix::state(
            "x\n\n#[test]\n#[ignore = \"issue 99: why\"]\nfn t() {}",
            "t"
        ),
        Some("ignored: issue 99: why".to_string())
    );
    assert_eq!(
        matrix::state("x\n\n#[test]\nfn t() {}", "t"),
        Some("passes".to_string())
    );

    let generated = matrix::render(&source);
    let path = format!("{root}/{}", matrix::DOC);
    let doc = std::fs::read_to_string(&path).unwrap_or_default();
    let section = doc.split_once(matrix::BEGIN).and_then(|(before, rest)| {
        rest.split_once(matrix::END).map(|(mid, after)| {
            (
                before,
                format!("{}{mid}{}\n", matrix::BEGIN, matrix::END),
                after,
            )
        })
    });
    let Some((before, current, after)) = section else {
        panic!(
            "{path} lacks the generated section ({} … {})",
            matrix::BEGIN,
            matrix::END
        );
    };
    if std::env::var_os("TLSGATE_UPDATE_DOCS").is_some() {
        let after = after.strip_prefix('\n').unwrap_or(after);
        std::fs::write(&path, format!("{before}{generated}{after}")).unwrap();
        return;
    }
    assert_eq!(
        current, generated,
        "{path} does not match the real-peer cases; regenerate it with \
         TLSGATE_UPDATE_DOCS=1 cargo test --test it real_peers::diagnosis_matrix"
    );
}

// ----------------------------------------------------------------------- nginx, HAProxy

#[test]
fn nginx_client_cert_required() {
    cases::upstream(ServerKind::Nginx, U::ClientCertRequired);
}

#[test]
fn nginx_client_cert_rejected() {
    cases::upstream(ServerKind::Nginx, U::ClientCertRejected);
}

#[test]
fn nginx_tls_port_on_http_url() {
    cases::upstream(ServerKind::Nginx, U::TlsOnHttpUrl);
}

#[test]
fn nginx_expired() {
    cases::upstream(ServerKind::Nginx, U::Expired);
}

#[test]
fn nginx_missing_intermediate() {
    cases::upstream(ServerKind::Nginx, U::MissingIntermediate);
}

#[test]
fn nginx_expired_and_untrusted() {
    cases::upstream(ServerKind::Nginx, U::ExpiredAndUntrusted);
}

#[test]
fn haproxy_client_cert_required() {
    cases::upstream(ServerKind::Haproxy, U::ClientCertRequired);
}

#[test]
fn haproxy_client_cert_rejected() {
    cases::upstream(ServerKind::Haproxy, U::ClientCertRejected);
}

#[test]
fn haproxy_tls_port_on_http_url() {
    cases::upstream(ServerKind::Haproxy, U::TlsOnHttpUrl);
}

#[test]
fn haproxy_expired() {
    cases::upstream(ServerKind::Haproxy, U::Expired);
}

#[test]
fn haproxy_missing_intermediate() {
    cases::upstream(ServerKind::Haproxy, U::MissingIntermediate);
}

#[test]
fn haproxy_expired_and_untrusted() {
    cases::upstream(ServerKind::Haproxy, U::ExpiredAndUntrusted);
}

// ----------------------------------------------------------------------- PostgreSQL

#[test]
fn postgres_good() {
    cases::postgres(PgScenario::Good);
}

#[test]
fn postgres_expired() {
    cases::postgres(PgScenario::Expired);
}

#[test]
fn postgres_untrusted() {
    cases::postgres(PgScenario::Untrusted);
}

#[test]
fn postgres_wrong_name() {
    cases::postgres(PgScenario::WrongName);
}

// ----------------------------------------------------------------------- clients

#[test]
fn node_untrusted_ca() {
    cases::client(Client::Node, C::UntrustedCa);
}

#[test]
fn node_ip_without_ip_san() {
    cases::client(Client::Node, C::IpWithoutIpSan);
}

#[test]
fn node_expired_cert() {
    cases::client(Client::Node, C::Expired);
}

#[test]
fn node_tls12_max_vs_tls13_listener() {
    cases::client(Client::Node, C::Tls12Max);
}

#[test]
fn java_untrusted_ca() {
    cases::client(Client::Java, C::UntrustedCa);
}

#[test]
fn java_ip_without_ip_san() {
    cases::client(Client::Java, C::IpWithoutIpSan);
}

#[test]
fn java_expired_cert() {
    cases::client(Client::Java, C::Expired);
}

#[test]
fn java_tls12_max_vs_tls13_listener() {
    cases::client(Client::Java, C::Tls12Max);
}

#[test]
fn chromium_untrusted_ca() {
    cases::client(Client::Chromium, C::UntrustedCa);
}

#[test]
fn chromium_ip_without_ip_san() {
    cases::client(Client::Chromium, C::IpWithoutIpSan);
}

#[test]
fn chromium_expired_cert() {
    cases::client(Client::Chromium, C::Expired);
}

#[test]
fn chromium_tls12_max_vs_tls13_listener() {
    cases::client(Client::Chromium, C::Tls12Max);
}

#[test]
fn requests_untrusted_ca() {
    cases::client(Client::Requests, C::UntrustedCa);
}

#[test]
fn requests_ip_without_ip_san() {
    cases::client(Client::Requests, C::IpWithoutIpSan);
}

#[test]
fn requests_expired_cert() {
    cases::client(Client::Requests, C::Expired);
}

#[test]
fn requests_tls12_max_vs_tls13_listener() {
    cases::client(Client::Requests, C::Tls12Max);
}

#[test]
fn httpx_untrusted_ca() {
    cases::client(Client::Httpx, C::UntrustedCa);
}

#[test]
fn httpx_ip_without_ip_san() {
    cases::client(Client::Httpx, C::IpWithoutIpSan);
}

#[test]
fn httpx_expired_cert() {
    cases::client(Client::Httpx, C::Expired);
}

#[test]
fn httpx_tls12_max_vs_tls13_listener() {
    cases::client(Client::Httpx, C::Tls12Max);
}

#[test]
fn curl_untrusted_ca() {
    cases::client(Client::Curl, C::UntrustedCa);
}

#[test]
fn curl_ip_without_ip_san() {
    cases::client(Client::Curl, C::IpWithoutIpSan);
}

#[test]
fn curl_expired_cert() {
    cases::client(Client::Curl, C::Expired);
}

#[test]
fn curl_tls12_max_vs_tls13_listener() {
    cases::client(Client::Curl, C::Tls12Max);
}

#[test]
fn openssl_s_client_untrusted_ca() {
    cases::client(Client::OpenSsl, C::UntrustedCa);
}

#[test]
fn openssl_s_client_ip_without_ip_san() {
    cases::client(Client::OpenSsl, C::IpWithoutIpSan);
}

#[test]
fn openssl_s_client_expired_cert() {
    cases::client(Client::OpenSsl, C::Expired);
}

#[test]
fn openssl_s_client_tls12_max_vs_tls13_listener() {
    cases::client(Client::OpenSsl, C::Tls12Max);
}
