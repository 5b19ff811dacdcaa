//! Configuration: the YAML schema, `${ENV}` interpolation, and validation into typed settings.

mod schema;
mod units;

pub use schema::*;
pub use units::{parse_duration, parse_size, ByteSize, Duration};
