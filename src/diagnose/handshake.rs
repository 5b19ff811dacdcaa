//! Classification of failed inbound TLS handshakes (owned by the handshake-diagnosis work).
