//! The integration tests, compiled as one test binary (`it`) so the shared harness and the
//! dependencies are linked once rather than once per file.
//!
//! Each file under `tests/it/` is a module named after the area it covers; a test keeps its
//! name under its module (`cargo test --test it reload::` runs the reload tests,
//! `cargo test --test it proxy_basic::sse_chunks_arrive_as_they_are_sent` one test).
//!
//! Tests that start `tlsgate serve` bind port 0 everywhere and learn the real ports from the
//! `--ready-file` the binary writes once it is listening (see `support::Tlsgate`), so tests can
//! run in parallel without racing for ports.

mod support;

mod admin_api;
mod architecture;
mod budgets;
mod certs_example;
mod check_cli;
mod config_examples;
mod handshake_diagnosis;
mod harness_selftest;
mod hostile_lifecycle;
mod hostile_requests;
mod inspect_cli;
mod limits;
mod proxy_basic;
mod proxy_errors;
mod real_peers;
mod reload;
mod scale_out;
mod serve_startup;
mod upstream_checks;
mod upstream_egress;
mod upstream_tls;
