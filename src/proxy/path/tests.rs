use super::*;
use proptest::prelude::*;

fn ok(p: &str) -> String {
    normalize(p)
        .unwrap_or_else(|e| panic!("{p:?} refused: {e}"))
        .into_owned()
}

#[test]
fn rfc3986_dot_segments() {
    assert_eq!(ok("/v1/models"), "/v1/models");
    assert_eq!(ok("/"), "/");
    assert_eq!(ok("/v1/./models"), "/v1/models");
    assert_eq!(ok("/v1/../admin"), "/admin");
    assert_eq!(ok("/a/b/c/./../../g"), "/a/g");
    assert_eq!(ok("/a/b/.."), "/a/");
    assert_eq!(ok("/a/."), "/a/");
    assert_eq!(ok("/a/.."), "/");
    assert_eq!(ok("/a//../b"), "/a/b");
    assert_eq!(ok("/a/b..c/.d/e."), "/a/b..c/.d/e.");
    assert_eq!(ok("/v1/models/gpt-3.5-turbo"), "/v1/models/gpt-3.5-turbo");
}

#[test]
fn encoded_dots_are_dots() {
    assert_eq!(ok("/v1/%2e%2e/admin"), "/admin");
    assert_eq!(ok("/v1/%2E./admin"), "/admin");
    assert_eq!(ok("/%76%31/models"), "/v1/models");
    // Reserved escapes stay as sent.
    assert_eq!(ok("/v1/a%20b%3F"), "/v1/a%20b%3F");
    assert_eq!(ok("/v1/models/org%2Fname"), "/v1/models/org%2Fname");
    assert_eq!(ok("/v1;x=1/models"), "/v1;x=1/models");
}

#[test]
fn refusals() {
    for p in [
        "v1/models",
        "*",
        "/..",
        "/v1/../..",
        "/v1/%2e%2e/%2e%2e/x",
        "/v1/%zz",
        "/v1/%2",
        "/v1/%",
        "/v1/%00",
        "/v1/%252e%252e/admin",
        "/v1/%252F",
        "/v1/..;x/admin",
        "/v1/.;/admin",
        "/v1/..%2fadmin",
        "/v1/..%2Fadmin",
        "/v1/x%2F..%2Fadmin",
        "/v1/%2e%2e%5cadmin",
        "/v1/..\\admin",
    ] {
        assert!(
            normalize(p).is_err(),
            "{p:?} was accepted: {:?}",
            normalize(p)
        );
    }
}

#[test]
fn unchanged_paths_are_borrowed() {
    assert!(matches!(
        normalize("/v1/chat/completions"),
        Ok(Cow::Borrowed(_))
    ));
}

#[test]
fn under_prefix_is_segment_wise() {
    assert!(is_under("/v1", "/v1"));
    assert!(is_under("/v1/x", "/v1"));
    assert!(!is_under("/v10", "/v1"));
    assert!(is_under("/anything", ""));
}

/// Paths built from the pieces that matter: dots, escapes, separators, parameters.
fn path_strategy() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("."),
        Just(".."),
        Just("%2e"),
        Just("%2E%2e"),
        Just("%2f"),
        Just("%5C"),
        Just("\\"),
        Just(";"),
        Just("%25"),
        Just("%"),
        Just("%4"),
        Just("a"),
        Just("v1"),
        Just("%41"),
        Just("é"),
        Just("~"),
    ];
    let seg = prop::collection::vec(piece, 0..4).prop_map(|v| v.concat());
    prop::collection::vec(seg, 0..8).prop_map(|segs| format!("/{}", segs.join("/")))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn never_panics_on_any_text(s in ".*") {
        let _ = normalize(&s);
    }

    #[test]
    fn normalized_is_idempotent_and_has_no_dot_segment(p in path_strategy()) {
        if let Ok(n) = normalize(&p) {
            prop_assert!(n.starts_with('/'));
            for seg in n.split('/') {
                prop_assert!(seg != "." && seg != "..", "{p:?} -> {n:?}");
                let core = seg.split(';').next().unwrap_or("");
                prop_assert!(core != "." && core != "..", "{p:?} -> {n:?}");
            }
            let again = normalize(&n).map(|c| c.into_owned());
            prop_assert_eq!(again, Ok(n.to_string()), "{:?}", p);
        }
    }

    /// Under a base path, a normalized path never leaves it: `base + n` normalizes to itself.
    #[test]
    fn never_escapes_its_prefix(p in path_strategy(), base in "(/[a-z]{1,4}){0,3}") {
        if let Ok(n) = normalize(&p) {
            let joined = format!("{base}{n}");
            prop_assert!(joined.starts_with(&base));
            let again = normalize(&joined).map(|c| c.into_owned());
            prop_assert_eq!(again, Ok(joined.clone()));
        }
    }
}
