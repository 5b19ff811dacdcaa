//! The scenarios of issue 15 as functions: set up the peer, let tlsgate meet it, collect what
//! tlsgate says, print it as one `REAL_PEER_RESULT {json}` line (the evidence behind
//! docs/peer-behaviour.md), then assert what the spec says is right.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};

use super::clients::{Client, Target};
use super::gate::{self, codes, findings, Gate, GateConfig, ListenerTls, Upstream};
use super::pki::{Pki, SignedBy, Usage, Validity, INTERMEDIATE_CN};
use super::servers::{self, Server, ServerTls};

fn report(peer: &str, scenario: &str, v: &Value) {
    eprintln!(
        "REAL_PEER_RESULT {}",
        json!({"peer": peer, "scenario": scenario, "observed": v})
    );
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn contains_ci(hay: &str, needle: &str) -> bool {
    hay.to_lowercase().contains(&needle.to_lowercase())
}

/// The first finding with `code` in `list`.
fn finding<'a>(list: &'a [Value], code: &str) -> Option<&'a Value> {
    list.iter().find(|f| f["code"] == code)
}

fn text_of(f: &Value) -> String {
    format!(
        "{} | {} | {}",
        f["summary"].as_str().unwrap_or(""),
        f["why"].as_str().unwrap_or(""),
        f["fix"].as_str().unwrap_or("")
    )
}

// ------------------------------------------------------------------------------------------
// Upstreams: nginx and HAProxy
// ------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerKind {
    Nginx,
    Haproxy,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpstreamScenario {
    ClientCertRequired,
    ClientCertRejected,
    TlsOnHttpUrl,
    Expired,
    MissingIntermediate,
    ExpiredAndUntrusted,
}

impl ServerKind {
    pub const ALL: [ServerKind; 2] = [ServerKind::Nginx, ServerKind::Haproxy];

    pub fn name(self) -> &'static str {
        match self {
            ServerKind::Nginx => "nginx",
            ServerKind::Haproxy => "haproxy",
        }
    }
}

impl UpstreamScenario {
    pub const ALL: [UpstreamScenario; 6] = [
        UpstreamScenario::ClientCertRequired,
        UpstreamScenario::ClientCertRejected,
        UpstreamScenario::TlsOnHttpUrl,
        UpstreamScenario::Expired,
        UpstreamScenario::MissingIntermediate,
        UpstreamScenario::ExpiredAndUntrusted,
    ];

    /// The test function's name after `<server>_`.
    pub fn test_suffix(self) -> &'static str {
        match self {
            Self::ClientCertRequired => "client_cert_required",
            Self::ClientCertRejected => "client_cert_rejected",
            Self::TlsOnHttpUrl => "tls_port_on_http_url",
            Self::Expired => "expired",
            Self::MissingIntermediate => "missing_intermediate",
            Self::ExpiredAndUntrusted => "expired_and_untrusted",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::ClientCertRequired => "client certificate required",
            Self::ClientCertRejected => "client certificate rejected",
            Self::TlsOnHttpUrl => "TLS port on an http:// URL",
            Self::Expired => "expired",
            Self::MissingIntermediate => "missing intermediate",
            Self::ExpiredAndUntrusted => "expired and untrusted",
        }
    }

    /// The codes the spec asks for, each with a word its fix must contain; all must be
    /// reported, and the proxy's 502 must name one of them.
    pub fn expected(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Self::ClientCertRequired => &[("upstream_client_cert_required", "client_cert")],
            Self::ClientCertRejected => &[("upstream_client_cert_rejected", "client_cert")],
            Self::TlsOnHttpUrl => &[("upstream_tls_on_http_url", "https://")],
            Self::Expired => &[("upstream_cert_expired", "renew")],
            Self::MissingIntermediate => &[("upstream_chain_incomplete", INTERMEDIATE_CN)],
            Self::ExpiredAndUntrusted => &[
                ("upstream_cert_expired", "renew"),
                ("upstream_untrusted_root", "ca_bundle"),
            ],
        }
    }
}

/// What tlsgate said about one upstream scenario.
pub struct UpstreamVerdict {
    pub check_exit: Option<i32>,
    pub check_findings: Vec<Value>,
    pub proxy_status: Option<u16>,
    pub proxy_body: String,
    pub proxy_code: Option<String>,
    pub log_findings: Vec<Value>,
}

/// Runs one upstream scenario against nginx or HAProxy; `None` when the server is missing.
pub fn upstream(kind: ServerKind, sc: UpstreamScenario) -> Option<()> {
    let bin = match kind {
        ServerKind::Nginx => servers::nginx_bin()?,
        ServerKind::Haproxy => servers::haproxy_bin()?,
    };
    let peer = kind.name();
    let pki = Pki::new();
    let names = ["localhost", "127.0.0.1"];
    let (by, validity, full_chain) = match sc {
        UpstreamScenario::Expired => (SignedBy::Intermediate, Validity::Expired, true),
        UpstreamScenario::MissingIntermediate => (SignedBy::Intermediate, Validity::Current, false),
        UpstreamScenario::ExpiredAndUntrusted => (SignedBy::Untrusted, Validity::Expired, true),
        _ => (SignedBy::Intermediate, Validity::Current, true),
    };
    let leaf = pki.leaf(&names, by, validity, Usage::Server);
    let (cert, key) = pki.write_leaf("server", &leaf, full_chain);
    let client_auth = matches!(
        sc,
        UpstreamScenario::ClientCertRequired | UpstreamScenario::ClientCertRejected
    );
    let tls = ServerTls {
        cert,
        key,
        client_ca: client_auth.then(|| pki.root_path()),
    };
    let server: Server = match kind {
        ServerKind::Nginx => servers::nginx(&bin, &tls),
        ServerKind::Haproxy => servers::haproxy(&bin, &tls),
    };
    let scheme = if sc == UpstreamScenario::TlsOnHttpUrl {
        "http"
    } else {
        "https"
    };
    let client_cert: Option<(PathBuf, PathBuf)> = (sc == UpstreamScenario::ClientCertRejected)
        .then(|| {
            let c = pki.leaf(
                &["tlsgate client"],
                SignedBy::Untrusted,
                Validity::Current,
                Usage::Client,
            );
            pki.write_leaf("client", &c, true)
        });
    let cfg = GateConfig {
        tls: None,
        upstream: Upstream {
            url: format!("{scheme}://127.0.0.1:{}", server.port),
            ca_bundle: Some(pki.root_path()),
            client_cert,
        },
    };

    let (check_run, check_report) = gate::check(&cfg);
    let check_findings = findings(&check_report);

    let g = Gate::start(&cfg);
    let resp = gate::http_get(g.addr(), "/v1/models", Duration::from_secs(20));
    let events = g.wait_events(
        &["upstream_tls_failed", "upstream_error"],
        Duration::from_secs(3),
    );
    let (proxy_status, proxy_body) = match &resp {
        Ok((s, _, b)) => (Some(*s), b.clone()),
        Err(e) => (None, e.clone()),
    };
    let proxy_code = serde_json::from_str::<Value>(proxy_body.trim())
        .ok()
        .and_then(|v| v["error"]["code"].as_str().map(str::to_string));
    let v = UpstreamVerdict {
        check_exit: check_run.code(),
        check_findings,
        proxy_status,
        proxy_body,
        proxy_code,
        log_findings: events,
    };
    report(
        peer,
        sc.name(),
        &json!({
            "check_exit": v.check_exit,
            "check_findings": v.check_findings,
            "proxy_status": v.proxy_status,
            "proxy_body": v.proxy_body.chars().take(600).collect::<String>(),
            "proxy_code": v.proxy_code,
            "log_events": v.log_findings,
            "server_log": tail(&server.daemon.output.all(), 12),
        }),
    );
    drop(g);
    drop(server);
    assert_upstream(sc, &v);
    Some(())
}

fn assert_upstream(sc: UpstreamScenario, v: &UpstreamVerdict) {
    let want = sc.expected();
    // Every mismatch is listed, so one run shows all that is wrong today.
    let mut wrong = Vec::new();
    let got = codes(&v.check_findings);
    for (code, fix_word) in want {
        match finding(&v.check_findings, code) {
            None => wrong.push(format!("tlsgate check: expected {code}, got {got:?}")),
            Some(f) if !contains_ci(f["fix"].as_str().unwrap_or(""), fix_word) => {
                wrong.push(format!(
                    "tlsgate check: the fix of {code} should name {fix_word:?}: {}",
                    text_of(f)
                ))
            }
            Some(_) => {}
        }
    }
    if v.proxy_status != Some(502) {
        wrong.push(format!(
            "proxy: expected tlsgate's own 502, got {:?}: {}",
            v.proxy_status,
            v.proxy_body.chars().take(200).collect::<String>()
        ));
    } else {
        let code = v.proxy_code.as_deref().unwrap_or("(none)");
        if !want.iter().any(|(c, _)| *c == code) {
            wrong.push(format!("proxy: the 502 names {code}, expected {want:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

// ------------------------------------------------------------------------------------------
// PostgreSQL, probed with STARTTLS
// ------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PgScenario {
    Good,
    Expired,
    Untrusted,
    WrongName,
}

impl PgScenario {
    pub const ALL: [PgScenario; 4] = [
        PgScenario::Good,
        PgScenario::Expired,
        PgScenario::Untrusted,
        PgScenario::WrongName,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PgScenario::Good => "good",
            PgScenario::Expired => "expired",
            PgScenario::Untrusted => "untrusted",
            PgScenario::WrongName => "wrong name",
        }
    }

    pub fn test_suffix(self) -> &'static str {
        match self {
            PgScenario::Good => "good",
            PgScenario::Expired => "expired",
            PgScenario::Untrusted => "untrusted",
            PgScenario::WrongName => "wrong_name",
        }
    }

    /// The finding the probe must report (exit 1) and the words its fix must contain; `None`:
    /// healthy (exit 0, no error).
    pub fn expected(self) -> Option<(&'static str, &'static [&'static str])> {
        match self {
            PgScenario::Good => None,
            PgScenario::Expired => Some(("upstream_cert_expired", &["ssl_cert_file"])),
            PgScenario::Untrusted => {
                Some(("upstream_untrusted_root", &["sslrootcert", "verify-full"]))
            }
            PgScenario::WrongName => Some(("upstream_name_mismatch", &["verify-full"])),
        }
    }
}

pub fn postgres(sc: PgScenario) -> Option<()> {
    let bin_dir = servers::postgres_bin_dir()?;
    let pki = Pki::new();
    let (names, validity): (&[&str], Validity) = match sc {
        PgScenario::WrongName => (&["db.example.internal"], Validity::Current),
        PgScenario::Expired => (&["localhost", "127.0.0.1"], Validity::Expired),
        _ => (&["localhost", "127.0.0.1"], Validity::Current),
    };
    let leaf = pki.leaf(names, SignedBy::Intermediate, validity, Usage::Server);
    let (cert, key) = pki.write_leaf("server", &leaf, true);
    let server = servers::postgres(&bin_dir, &cert, &key);
    let target = format!("127.0.0.1:{}", server.port);
    let root = pki.root_path().display().to_string();
    let mut args = vec!["--starttls", "postgres", target.as_str()];
    if sc != PgScenario::Untrusted {
        args.extend(["--ca", root.as_str()]);
    }
    let (run, rep) = gate::probe(&args);
    let fs = findings(&rep);
    let name = sc.name();
    report(
        "postgresql",
        name,
        &json!({
            "probe_args": args,
            "probe_exit": run.code(),
            "tls_version": rep["tls_version"],
            "alpn": rep["alpn"],
            "client_cert_requested": rep["client_cert_requested"],
            "findings": fs,
            "stderr": tail(&run.stderr(), 5),
            "server_log": tail(&server.daemon.output.all(), 8),
        }),
    );
    drop(server);
    let errors: Vec<&Value> = fs.iter().filter(|f| f["severity"] == "error").collect();
    let Some((code, fix_words)) = sc.expected() else {
        assert_eq!(run.code(), Some(0), "probe exit, findings {errors:?}");
        assert!(errors.is_empty(), "no error expected: {errors:?}");
        return Some(());
    };
    assert_eq!(run.code(), Some(1), "probe exit status");
    let f = finding(&fs, code).unwrap_or_else(|| panic!("expected {code}, got {:?}", codes(&fs)));
    for w in fix_words {
        assert!(
            contains_ci(f["fix"].as_str().unwrap_or(""), w),
            "the fix of {code} should name the libpq setting {w:?}: {}",
            text_of(f)
        );
    }
    Some(())
}

// ------------------------------------------------------------------------------------------
// Clients of tlsgate
// ------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientScenario {
    /// The client does not trust our private root.
    UntrustedCa,
    /// https://127.0.0.1 with a certificate for `localhost` only.
    IpWithoutIpSan,
    /// Our leaf expired; the client trusts the root.
    Expired,
    /// A TLS-1.2-max client against `min_version: tls1.3`.
    Tls12Max,
}

impl ClientScenario {
    pub const ALL: [ClientScenario; 4] = [
        ClientScenario::UntrustedCa,
        ClientScenario::IpWithoutIpSan,
        ClientScenario::Expired,
        ClientScenario::Tls12Max,
    ];

    pub fn test_suffix(self) -> &'static str {
        match self {
            Self::UntrustedCa => "untrusted_ca",
            Self::IpWithoutIpSan => "ip_without_ip_san",
            Self::Expired => "expired_cert",
            Self::Tls12Max => "tls12_max_vs_tls13_listener",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::UntrustedCa => "untrusted CA",
            Self::IpWithoutIpSan => "by IP address without an IP SAN",
            Self::Expired => "expired served certificate",
            Self::Tls12Max => "TLS-1.2-max client vs min_version tls1.3",
        }
    }
}

/// Whether the client closes silently instead of sending an alert (the spec's
/// `client_closed_after_certificate`). Java's HttpClient is one of them: it closes before its
/// Finished without putting an alert on the wire, exactly as Node does, so nothing tells its
/// untrusted-CA rejection from its expired-certificate one or from a client that just left;
/// naming `client_rejected_untrusted_ca` would claim evidence tlsgate does not have.
fn silent(client: Client) -> bool {
    matches!(client, Client::Node | Client::Java)
}

/// The code the `tls_handshake_failed` event must carry for `client` in `sc`, and the words
/// its text must contain (the fix's for the trust setting and `min_version`).
pub fn client_expected(client: Client, sc: ClientScenario) -> (&'static str, Vec<&'static str>) {
    match sc {
        ClientScenario::UntrustedCa => (
            if silent(client) {
                "client_closed_after_certificate"
            } else {
                "client_rejected_untrusted_ca"
            },
            trust_setting(client).to_vec(),
        ),
        ClientScenario::IpWithoutIpSan => (
            "client_rejected_name_mismatch",
            vec!["127.0.0.1", "IP", "localhost"],
        ),
        ClientScenario::Expired => (
            if silent(client) {
                "client_closed_after_certificate"
            } else {
                "client_rejected_expired_cert"
            },
            vec!["expired", "renew"],
        ),
        ClientScenario::Tls12Max => (
            "client_tls_version_too_old",
            vec!["1.2", "1.3", "min_version"],
        ),
    }
}

/// The setting that makes `client` trust a private root, as the fix must name it.
fn trust_setting(client: Client) -> &'static [&'static str] {
    match client {
        Client::Node => &["NODE_EXTRA_CA_CERTS"],
        Client::Java => &["keytool -importcert", "javax.net.ssl.trustStore"],
        Client::Chromium => &["certutil -d sql:$HOME/.pki/nssdb"],
        Client::Requests => &["REQUESTS_CA_BUNDLE"],
        Client::Httpx => &["SSL_CERT_FILE"],
        Client::Curl => &["--cacert"],
        Client::OpenSsl => &["-CAfile"],
    }
}

pub fn client(client: Client, sc: ClientScenario) -> Option<()> {
    let program = client.program()?;
    let pki = Pki::new();
    let names: &[&str] = match sc {
        ClientScenario::IpWithoutIpSan => &["localhost"],
        _ => &["localhost", "127.0.0.1"],
    };
    let validity = if sc == ClientScenario::Expired {
        Validity::Expired
    } else {
        Validity::Current
    };
    let leaf = pki.leaf(names, SignedBy::Intermediate, validity, Usage::Server);
    let (cert, key) = pki.write_leaf("gate", &leaf, true);
    let cfg = GateConfig {
        tls: Some(ListenerTls {
            cert,
            key,
            ca: Some(pki.root_path()),
            tls13_only: sc == ClientScenario::Tls12Max,
        }),
        // Never reached: every scenario fails in the handshake.
        upstream: Upstream {
            url: "http://127.0.0.1:9".into(),
            ..Default::default()
        },
    };
    let g = Gate::start(&cfg);
    let host = if sc == ClientScenario::IpWithoutIpSan {
        "127.0.0.1"
    } else {
        "localhost"
    };
    let root = pki.root_path();
    let work = tempfile::tempdir().unwrap();
    let t = Target {
        url: format!("https://{host}:{}/v1/models", g.port),
        host,
        port: g.port,
        trust: (sc != ClientScenario::UntrustedCa).then_some(root.as_path()),
        tls12_max: sc == ClientScenario::Tls12Max,
        work: work.path(),
    };
    let run = client.run(&program, &t);
    let events = g.wait_events(&["tls_handshake_failed"], Duration::from_secs(5));
    let keep = [
        "code",
        "alert",
        "rustls_error",
        "sni",
        "alpn",
        "client_versions",
        "cipher_count",
        "summary",
        "why",
        "fix",
    ];
    let slim: Vec<Value> = events
        .iter()
        .map(|e| {
            Value::Object(
                keep.iter()
                    .filter_map(|k| e.get(*k).map(|v| (k.to_string(), v.clone())))
                    .collect(),
            )
        })
        .collect();
    report(
        client.name(),
        sc.name(),
        &json!({
            "client_exit": run.code(),
            "client_seconds": run.elapsed.as_secs_f32(),
            "client_output": tail(&run.all(), 8),
            "events": slim,
        }),
    );
    drop(g);
    let first = events.first().unwrap_or_else(|| {
        panic!(
            "tlsgate logged no tls_handshake_failed; client said:\n{}",
            run.all()
        )
    });
    let code = first["code"].as_str().unwrap_or("");
    let text = text_of(first);
    let fix = first["fix"].as_str().unwrap_or("");
    let (want, _) = client_expected(client, sc);
    match sc {
        ClientScenario::UntrustedCa => {
            assert_eq!(code, want, "{text}");
            for s in trust_setting(client) {
                assert!(
                    fix.contains(s),
                    "the fix should name {s:?} for {}: {fix}",
                    client.name()
                );
            }
        }
        ClientScenario::IpWithoutIpSan => {
            assert_eq!(code, want, "{text}");
            assert!(
                text.contains("127.0.0.1"),
                "the address reached must be named: {text}"
            );
            assert!(
                contains_ci(fix, "IP") && fix.contains("localhost"),
                "the fix should offer an IP SAN and connecting by name (localhost): {fix}"
            );
        }
        ClientScenario::Expired => {
            assert_eq!(code, want, "{text}");
            assert!(contains_ci(&text, "expired"), "{text}");
            assert!(contains_ci(fix, "renew"), "the fix should say renew: {fix}");
        }
        ClientScenario::Tls12Max => {
            assert_eq!(code, want, "{text}");
            assert!(
                !text.contains("1.0/1.1"),
                "a TLS 1.2 client is not a TLS 1.0/1.1 client: {text}"
            );
            assert!(
                text.contains("1.2") && text.contains("1.3"),
                "name both versions: {text}"
            );
            assert!(
                fix.contains("min_version"),
                "the fix should name the listener's min_version: {fix}"
            );
        }
    }
    Some(())
}
