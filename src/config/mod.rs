//! Configuration: the YAML schema, `${ENV}` interpolation, and validation into typed settings.

mod load;
mod schema;
mod units;
mod upstream_url;

pub use load::{
    builtin_default, interpolate, load, parse_str, parse_with_env, validate, ConfigError,
};
pub use schema::*;
pub use units::{parse_duration, parse_size, ByteSize, Duration, DurationError, SizeError};
pub use upstream_url::{Scheme, UpstreamUrl, UrlError};
