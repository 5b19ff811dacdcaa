//! The admin API: health, readiness, `/status`, Prometheus `/metrics`, `POST /reload`, and an
//! HTML status page. It reads [`State`], which the rest of tlsgate reports into.

mod http;
mod page;

pub use crate::status::State;
pub use http::{serve, Budgets};
