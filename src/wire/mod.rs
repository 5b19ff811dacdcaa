//! Pure byte parsers for what a peer sends before any TLS library sees it: first-byte
//! sniffing (TLS record, plain HTTP, SSH, h2c, PROXY header, …), the ClientHello, and the PROXY
//! protocol header a load balancer sends.
//!
//! No I/O and no allocation beyond the summaries they return; every parser is bounded and
//! total (never panics on any input) and is property-tested.

pub mod client_hello;
pub mod proxy_header;
pub mod sniff;
