use super::*;

#[test]
fn parses_parts() {
    let u = UpstreamUrl::parse("https://example.com/openai/").unwrap();
    assert_eq!(
        (u.scheme, u.host.as_str(), u.port),
        (Scheme::Https, "example.com", 443)
    );
    assert_eq!(u.path_prefix, "/openai");
    let u = UpstreamUrl::parse("http://[::1]:8080").unwrap();
    assert_eq!(
        (u.host.as_str(), u.port, u.path_prefix.as_str()),
        ("::1", 8080, "")
    );
    assert!(u.is_loopback());
}

#[test]
fn rejects_with_reasons() {
    let err = |url: &str| UpstreamUrl::parse(url).unwrap_err();
    assert!(matches!(err("example.com"), UrlError::MissingScheme { .. }));
    assert!(err("example.com").to_string().contains("no scheme"));
    assert!(err("ftp://x").to_string().contains("unsupported scheme"));
    assert!(err("https://u:p@x").to_string().contains("credentials"));
    assert!(err("https://x/?a=b").to_string().contains("query"));
    assert!(matches!(err("https://x:0"), UrlError::Port { port, .. } if port == "0"));
    assert!(err("https://x:99999")
        .to_string()
        .contains("port \"99999\" is not in 1-65535"));
}
