use super::*;
use std::collections::HashSet;

#[test]
fn names_are_unique_snake_case_and_round_trip() {
    let mut seen = HashSet::new();
    for &code in Code::ALL {
        let name = code.as_str();
        assert!(seen.insert(name), "duplicate code {name}");
        assert!(
            name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
            "{name} is not snake_case"
        );
        assert_eq!(Code::from_name(name), Some(code));
    }
}

#[test]
fn product_spec_severities_hold() {
    assert_eq!(Code::ChainIncludesRoot.default_severity(), Severity::Info);
    assert_eq!(Code::ChainOutOfOrder.default_severity(), Severity::Warning);
    assert_eq!(Code::KeyMismatch.default_severity(), Severity::Error);
    assert_eq!(
        Code::UpstreamVerificationDisabled.default_severity(),
        Severity::Warning
    );
    for &code in Code::ALL {
        if code.group() == "upstream" && code != Code::UpstreamVerificationDisabled {
            assert_eq!(code.default_severity(), Severity::Error, "{code}");
        }
    }
}

/// The README's findings table is the user-facing catalogue: it must list every code.
#[test]
fn readme_lists_every_code() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md at the crate root");
    for code in Code::ALL {
        let row = format!(
            "| `{}` | {} | {} | {} |",
            code.as_str(),
            code.default_severity(),
            code.meaning(),
            code.fix_hint()
        );
        assert!(
            readme.contains(&row),
            "README.md does not list {} as the catalogue says: {row}",
            code.as_str()
        );
    }
}
