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
    assert!(UpstreamUrl::parse("example.com")
        .unwrap_err()
        .contains("no scheme"));
    assert!(UpstreamUrl::parse("ftp://x")
        .unwrap_err()
        .contains("unsupported scheme"));
    assert!(UpstreamUrl::parse("https://u:p@x")
        .unwrap_err()
        .contains("credentials"));
    assert!(UpstreamUrl::parse("https://x/?a=b")
        .unwrap_err()
        .contains("query"));
}
