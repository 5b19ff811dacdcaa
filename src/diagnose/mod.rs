//! Diagnosis: the pure classifiers that turn evidence (certificates, handshake signals,
//! upstream errors) into findings.
//!
//! Everything here is a pure function of its inputs so it can be tested exhaustively without
//! sockets; the code that gathers evidence lives next to the sockets (`server`, `proxy`). The
//! vocabulary it speaks — `Finding` and the catalogue of codes — is `crate::findings`.

pub mod evidence;
pub mod handshake;
pub mod trust;
pub mod upstream;
