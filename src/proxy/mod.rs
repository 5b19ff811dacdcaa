//! The proxy (being assembled).

pub mod connect;
pub mod errors;
pub mod rewrite;
pub mod tls_client;
