use super::*;

fn guess(family: ClientFamily, confidence: Confidence, tool: Option<ClientTool>) -> FamilyGuess {
    FamilyGuess {
        family,
        confidence,
        tool,
        signals: "test",
    }
}

/// A family (and tool), words its advice must contain, words it must not.
type Case = (
    ClientFamily,
    Option<ClientTool>,
    &'static [&'static str],
    &'static [&'static str],
);

#[test]
fn each_family_gets_its_own_setting() {
    let ca = "/srv/ca.pem";
    let cases: &[Case] = &[
        (
            ClientFamily::NodeJs,
            None,
            &["NODE_EXTRA_CA_CERTS=/srv/ca.pem"],
            &["keytool", "REQUESTS_CA_BUNDLE"],
        ),
        (
            ClientFamily::Java,
            None,
            &[
                "keytool -importcert",
                "-file /srv/ca.pem",
                "-Djavax.net.ssl.trustStore=",
            ],
            &["NODE_EXTRA_CA_CERTS"],
        ),
        (
            ClientFamily::Chromium,
            None,
            &["certutil -d sql:$HOME/.pki/nssdb -A", "-i /srv/ca.pem"],
            &["NODE_EXTRA_CA_CERTS"],
        ),
        (
            ClientFamily::Python,
            Some(ClientTool::Requests),
            &[
                "REQUESTS_CA_BUNDLE=/srv/ca.pem",
                "ignores SSL_CERT_FILE",
                "SSL_CERT_FILE=/srv/ca.pem",
            ],
            &["--cacert"],
        ),
        (
            ClientFamily::OpenSsl,
            Some(ClientTool::Curl),
            &["curl --cacert /srv/ca.pem", "-CAfile /srv/ca.pem"],
            &["NODE_EXTRA_CA_CERTS"],
        ),
        (
            ClientFamily::Firefox,
            None,
            &["Certificates", "certutil"],
            &["NODE_EXTRA_CA_CERTS"],
        ),
        (
            ClientFamily::Go,
            None,
            &["SSL_CERT_FILE=/srv/ca.pem"],
            &["keytool"],
        ),
        (ClientFamily::Rustls, None, &["RootCertStore"], &["keytool"]),
    ];
    for (family, tool, has, lacks) in cases {
        let text = trust_advice(Some(&guess(*family, Confidence::High, *tool)), ca);
        for h in *has {
            assert!(text.contains(h), "{family:?}: {h:?} missing in {text}");
        }
        for l in *lacks {
            assert!(!text.contains(l), "{family:?}: {l:?} unexpected in {text}");
        }
    }
}

#[test]
fn the_likely_tool_comes_first() {
    let ca = "/ca.pem";
    let t = trust_advice(
        Some(&guess(
            ClientFamily::Python,
            Confidence::High,
            Some(ClientTool::PythonSsl),
        )),
        ca,
    );
    assert!(
        t.find("SSL_CERT_FILE").unwrap() < t.find("REQUESTS_CA_BUNDLE").unwrap(),
        "{t}"
    );
    let t = trust_advice(
        Some(&guess(
            ClientFamily::OpenSsl,
            Confidence::Medium,
            Some(ClientTool::OpenSslCli),
        )),
        ca,
    );
    assert!(
        t.find("-CAfile").unwrap() < t.find("--cacert").unwrap(),
        "{t}"
    );
}

#[test]
fn uncertainty_lists_the_candidates() {
    let ca = "/ca.pem";
    // Not pinned: the guess first, then every other family.
    let t = trust_advice(
        Some(&guess(ClientFamily::Chromium, Confidence::Low, None)),
        ca,
    );
    let chromium = t.find("certutil -d sql:$HOME/.pki/nssdb").unwrap();
    for other in [
        "NODE_EXTRA_CA_CERTS",
        "keytool",
        "REQUESTS_CA_BUNDLE",
        "--cacert",
    ] {
        assert!(t.find(other).is_some_and(|i| i > chromium), "{other}: {t}");
    }
    // Nothing known: every family.
    let t = trust_advice(None, ca);
    for f in ClientFamily::ALL {
        for e in ecosystems(f, None) {
            assert!(t.contains(e.who()), "{:?} missing: {t}", e);
        }
    }
}

#[test]
fn tls13_hints_name_the_client_setting() {
    assert!(enable_tls13(Some(ClientFamily::Java)).contains("jdk.tls.client.protocols"));
    assert!(enable_tls13(Some(ClientFamily::NodeJs)).contains("--tls-max-v1.2"));
    assert!(enable_tls13(Some(ClientFamily::OpenSsl)).contains("--tls-max"));
    assert!(enable_tls13(Some(ClientFamily::Python)).contains("maximum_version"));
    assert!(enable_tls13(Some(ClientFamily::Chromium)).contains("--ssl-version-max"));
    assert!(enable_tls13(None).contains("jdk.tls.client.protocols"));
}

#[test]
fn all_lines_cover_every_ecosystem_with_the_path() {
    let lines = all_lines("/abs/ca.pem");
    assert_eq!(lines.len(), Ecosystem::ALL.len());
    for (who, how) in &lines {
        assert!(how.contains("/abs/ca.pem"), "{who}: {how}");
    }
}
