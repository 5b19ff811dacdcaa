//! Parsing of a raw TLS ClientHello from peeked bytes.
