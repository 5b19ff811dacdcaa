//! Logging: tracing setup (pretty or flat JSON lines), the one redaction function set, and
//! rate-limited summaries of repeated events.

pub mod event;
pub mod ratelimit;
pub mod redact;

pub use event::Event;

use crate::config::LogFormat;

/// Installs the global tracing subscriber. `RUST_LOG` overrides the default `info` level.
///
/// JSON lines are flat (`flatten_event`): every event field sits at the top level next to
/// `timestamp` and `level`, so `jq 'select(.event=="request")'` works without nesting.
/// Whether the diagnosis-only work on the success path runs: the first-bytes peek and sniff
/// and the ClientHello copy of an inbound handshake, the first-bytes recording of an upstream
/// connection, the screening of upstream responses for TLS error pages. Always on, except
/// that `TLSGATE_BENCH_NO_DIAGNOSIS=1` (read once, at the first use) turns it off, so a
/// benchmark can measure what diagnosis costs (`benches/load/profile.sh`). Never for
/// production: failures are then reported without their causes.
pub fn diagnosis_on() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("TLSGATE_BENCH_NO_DIAGNOSIS").is_none_or(|v| v != "1"))
}

pub fn init(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let result = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_target(false)
            .try_init(),
        LogFormat::Pretty => builder.with_target(false).compact().try_init(),
    };
    // A second init (tests, or `serve` after a subcommand set one up) keeps the first.
    let _ = result;
}
