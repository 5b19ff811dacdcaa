//! Local certificate checks (being written).
