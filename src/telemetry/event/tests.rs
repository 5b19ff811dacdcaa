use super::*;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

#[test]
fn names_are_the_stable_ones() {
    let names: Vec<&str> = Event::ALL.iter().map(|e| e.as_str()).collect();
    assert_eq!(
        names,
        [
            "tls_handshake_failed",
            "tls_handshake_failures_suppressed",
            "cert_loaded",
            "cert_reloaded",
            "cert_reload_rejected",
            "cert_finding",
            "cert_expiring_soon",
            "upstream_check",
            "upstream_tls_failed",
            "upstream_error",
            "upstream_errors_suppressed",
            "upstream_verification_disabled",
            "request",
            "client_error",
            "client_errors_suppressed",
            "accept_failures_suppressed",
            "accept_failed",
            "resource_limits",
            "connection_error",
            "upgrade_failed",
            "listening",
            "admin_listening",
            "ready_file_failed",
            "shutting_down",
            "draining",
            "shutdown_forced",
            "stopped",
            "worker_failed",
            "drain_timeout",
            "drain_skipped",
            "watch_failed",
            "watch_unavailable",
            "ticket_key_loaded",
            "ticket_key_rotated",
            "ticket_key_rejected",
            "ticket_key_finding",
        ]
    );
}

#[test]
fn names_are_snake_case_and_unique() {
    let mut seen = HashSet::new();
    for e in Event::ALL {
        let name = e.as_str();
        assert!(
            !name.is_empty()
                && name.starts_with(|c: char| c.is_ascii_lowercase())
                && !name.ends_with('_')
                && !name.contains("__")
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{e:?}: {name:?} is not snake_case"
        );
        assert!(seen.insert(name), "{e:?}: {name:?} is used twice");
        assert_eq!(e.to_string(), name);
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// A string literal as an event name would bypass the enum (and a typo would create a new
/// name); every variant is emitted somewhere, so the list above is the list logged.
#[test]
fn call_sites_name_events_through_the_enum() {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut sources = String::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        for (i, line) in text.lines().enumerate() {
            let code = line.trim_start();
            assert!(
                code.starts_with("//")
                    || !(code.contains("event = \"") || code.contains("event=\"")),
                "{}:{}: name the event with telemetry::Event, not a string: {line}",
                f.display(),
                i + 1
            );
        }
        if !f.ends_with("telemetry/event.rs") && !f.ends_with("telemetry/event/tests.rs") {
            sources.push_str(&text);
        }
    }
    for e in Event::ALL {
        assert!(
            sources.contains(&format!("Event::{e:?}")),
            "Event::{e:?} ({}) is never logged",
            e.as_str()
        );
    }
}
