use super::*;

#[test]
fn no_proxy_rules() {
    assert!(no_proxy_list_matches("*", "api.openai.com"));
    assert!(no_proxy_list_matches("openai.com", "api.openai.com"));
    assert!(no_proxy_list_matches(".openai.com, x", "api.openai.com"));
    assert!(!no_proxy_list_matches("ai.com", "api.openai.com"));
    assert!(!no_proxy_list_matches("", "api.openai.com"));
}

#[test]
fn loopback_is_never_proxied() {
    assert!(is_loopback_host("127.0.0.1"));
    assert!(is_loopback_host("::1"));
    assert!(is_loopback_host("LOCALHOST"));
    assert!(!is_loopback_host("10.0.0.1"));
}
