use super::*;

#[test]
fn query_values_are_redacted() {
    assert_eq!(
        redact_path_and_query("/v1/chat?api-key=abc&x=1&flag"),
        "/v1/chat?api-key=REDACTED&x=REDACTED&flag"
    );
    assert_eq!(redact_path_and_query("/v1/models"), "/v1/models");
}

#[test]
fn sk_tokens_are_masked_anywhere() {
    let s = redact_text("key sk-proj-abcdef123456 and sk-ant-api03-XYZxyz7890 end");
    assert!(!s.contains("abcdef123456"), "{s}");
    assert!(!s.contains("XYZxyz7890"), "{s}");
    assert_eq!(s, "key sk-REDACTED and sk-REDACTED end");
    // Short or embedded `sk-` is not a key.
    assert_eq!(
        redact_text("task-sk-1 disk-abcdefghijk"),
        "task-sk-1 disk-abcdefghijk"
    );
    assert_eq!(redact_path_and_query("/sk-abcdefghij/x"), "/sk-REDACTED/x");
    assert_eq!(redact_text("héllo sk-"), "héllo sk-");
}

#[test]
fn secret_headers() {
    for h in [
        "Authorization",
        "api-key",
        "X-Api-Key",
        "Cookie",
        "set-cookie",
    ] {
        assert!(is_secret_header(h), "{h}");
    }
    assert!(!is_secret_header("content-type"));
}

#[test]
fn fingerprint_is_short_and_stable() {
    let a = fingerprint("Bearer sk-test");
    assert_eq!(a, fingerprint("Bearer sk-test"));
    assert_ne!(a, fingerprint("Bearer sk-other"));
    assert_eq!(a.len(), "sha256:".len() + 8);
}
