//! Listeners: accepting connections, first-byte sniffing, ClientHello parsing, the TLS acceptor
//! and the SNI certificate resolver.

pub mod client_hello;
pub mod evidence;
pub mod handshake;
pub mod listener;
pub mod serve;
pub mod sni;
pub mod sniff;
pub mod tls;
