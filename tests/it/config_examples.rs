//! Every example in config/ parses and validates, so the documentation cannot drift from the
//! schema.

#[test]
fn every_example_config_is_valid() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let env = |name: &str| -> Option<String> {
            Some(match name {
                "AZURE_OPENAI_RESOURCE" => "example".into(),
                // Unset: the example's default applies.
                "LLM_PORT" => return None,
                "HTTPS_PROXY" => "proxy.example.test:3128".into(),
                _ => format!("test-{name}"),
            })
        };
        let cfg = tlsgate::config::parse_with_env(&text, &path.display().to_string(), &env)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!cfg.listeners.is_empty(), "{}", path.display());
        assert!(!cfg.effective_routes().is_empty(), "{}", path.display());
        seen += 1;
    }
    assert!(
        seen >= 5,
        "expected the five documented examples, found {seen}"
    );
}

/// The configuration the Kubernetes manifests ship (deploy/kubernetes/tlsgate.yaml, mounted
/// from the ConfigMap) parses and validates with today's schema: PROXY protocol, session
/// tickets and the drain settings included.
#[test]
fn the_kubernetes_config_is_valid() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes/tlsgate.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let env = |name: &str| Some(format!("test-{name}"));
    let cfg = tlsgate::config::parse_with_env(&text, &path.display().to_string(), &env)
        .unwrap_or_else(|e| panic!("{e}"));
    let l = &cfg.listeners[0];
    let tls = l.tls.as_ref().expect("the public listener terminates TLS");
    assert!(
        tls.session_tickets.is_some(),
        "replicas share a ticket key file"
    );
    assert!(cfg.shutdown.drain_delay.get() < cfg.shutdown.drain_timeout.get());
}
