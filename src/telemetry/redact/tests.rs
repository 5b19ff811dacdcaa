use super::*;

#[test]
fn query_values_are_redacted() {
    assert_eq!(
        redact_path_and_query("/v1/chat?api-key=abc&x=1&flag"),
        "/v1/chat?api-key=REDACTED&x=REDACTED&REDACTED"
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

#[test]
fn path_parameters_valueless_tokens_and_secret_names() {
    assert_eq!(
        redact_path_and_query("/v1;api_key=abc123/models;x=1?AIzaSyD4k9q2m7b1z&stream=true"),
        "/v1;api_key=REDACTED/models;x=REDACTED?REDACTED&stream=REDACTED"
    );
    assert_eq!(
        redact_path_and_query("/v1/key/AIzaSyD8w3p5/x?Zk3j29sl2kfJ2938=1"),
        "/v1/key/REDACTED/x?REDACTED=REDACTED"
    );
    assert_eq!(redact_path_and_query("/v1/x;tok"), "/v1/x;REDACTED");
    assert_eq!(
        redact_path_and_query("/api/access_token/abc/next"),
        "/api/access_token/REDACTED/next"
    );
}

mod props {
    use super::*;
    use proptest::prelude::*;

    fn secret() -> impl Strategy<Value = String> {
        "[A-Za-z0-9]{20,40}"
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        /// Wherever a key travels in a URL, it never reaches the log.
        #[test]
        fn a_secret_never_gets_through(
            s in secret(),
            name in "(api_key|key|token|x|api-version|access_token)",
            place in 0usize..7,
            pre in "(/v1|/openai/deployments/gpt|)",
        ) {
            let pq = match place {
                0 => format!("{pre}/chat?{name}={s}"),
                1 => format!("{pre}/chat?a=1&{s}"),
                2 => format!("{pre};{name}={s}/chat"),
                3 => format!("{pre}/chat;{s}"),
                4 => format!("{pre}/api-keys/{s}/x"),
                5 => format!("{pre}/chat?{s}=1"),
                _ => format!("{pre}/sk-{s}/chat"),
            };
            let out = redact_path_and_query(&pq);
            prop_assert!(!out.contains(&s), "{} -> {}", pq, out);
        }

        #[test]
        fn never_panics(pq in ".*") {
            let _ = redact_path_and_query(&pq);
        }
    }
}
