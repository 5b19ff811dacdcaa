//! First-byte sniffing: what a new connection on a TLS port is speaking.
