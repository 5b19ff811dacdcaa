//! TLS plumbing shared by both directions: the crypto provider (built once), trust stores,
//! the recording verifier that keeps a presented chain for diagnosis, the rustls client
//! configurations for upstreams, and the session ticketer shared by replicas.
//!
//! It builds rustls objects; it does not judge certificates (that is `certs` and `diagnose`).

use std::sync::{Arc, OnceLock};

use rustls::crypto::CryptoProvider;

pub mod client;
pub mod roots;
pub mod tickets;
pub mod verifier;

/// The process's crypto provider (aws-lc-rs), shared by every config.
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .clone()
}
