//! Listeners: accepting connections, the TLS handshake (its failures handed to `diagnose`), and
//! serving HTTP/1.1 and HTTP/2 on the result by handing each request to the `proxy`.

pub mod context;
pub mod handshake;
pub mod lifecycle;
pub mod listener;
pub mod parse_errors;
pub mod tls;
