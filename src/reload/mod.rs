//! Certificate (and session ticket key) hot reload: trigger → stable snapshot → validate → swap
//! → report.
//!
//! - [`watch`]: the triggers (directory watcher, content-hash poll, SIGHUP, daily expiry notice).
//! - [`snapshot`]: reading the files until two reads agree.
//! - [`pipeline`]: validating a snapshot with the local checks and publishing it with one
//!   atomic store, or rejecting it while the current certificate keeps serving.

pub mod pipeline;
pub mod snapshot;
pub mod watch;

pub use pipeline::{ListenerCerts, Outcome, Reloader, TicketKeySource, Trigger};
