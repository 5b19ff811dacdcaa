//! tlsgate: a TLS-terminating reverse proxy that diagnoses.
//!
//! Data flows one way: bytes from a listener → first-byte sniffing → TLS handshake (failures go
//! to `diagnose`) → HTTP → route → upstream client (its failures go to `diagnose`) → response
//! stream back. Each stage is a module:
//!
//! - [`config`]: YAML schema, `${ENV}` interpolation, validation into typed settings.
//! - [`certs`]: PEM loading, x509 inspection, local chain checks, dev CA generation.
//! - [`diagnose`]: the `Finding` type, the catalogue of codes, and the pure classifiers.
//! - [`server`]: listeners, sniffing, ClientHello parsing, TLS acceptor, SNI resolver.
//! - [`proxy`]: routing, request/response rewriting, streaming, upstream client.
//! - [`reload`]: certificate watching, validation and swapping.
//! - [`admin`]: health, status, metrics and reload endpoints.
//! - [`telemetry`]: tracing setup, redaction, rate-limited summaries.
//! - [`cli`]: the subcommands behind the thin `main`.

#![forbid(unsafe_code)]

pub mod admin;
pub mod app;
pub mod certs;
pub mod cli;
pub mod config;
pub mod diagnose;
pub mod findings;
mod locks;
pub mod proxy;
pub mod reload;
pub mod server;
pub mod status;
pub mod telemetry;
pub mod tls;
pub mod wire;
