//! Diagnosis: the one `Finding` type, the catalogue of codes, and the pure classifiers that turn
//! evidence (certificates, handshake signals, upstream errors) into findings.
//!
//! Everything here is a pure function of its inputs so it can be tested exhaustively without
//! sockets; the code that gathers evidence lives next to the sockets (`server`, `proxy`).

mod catalogue;
mod finding;

pub use catalogue::Code;
pub use finding::{sort_by_importance, Finding, Severity};

pub mod handshake;
pub mod upstream;
