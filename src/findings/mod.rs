//! The vocabulary of diagnosis: the one `Finding` type and the catalogue of codes, each code's
//! whole policy in one row.
//!
//! Lowest layer: everything that reports a problem (config, certificate checks, classifiers,
//! the proxy's error responses, the admin API) speaks in these types, so this module imports
//! nothing from the crate.

mod catalogue;
mod finding;

pub use catalogue::{Code, Group, HttpAnswer};
pub use finding::{sort_by_importance, Finding, Severity};
