//! Durations (`10s`, `5m`, `300ms`, `30d`) and sizes (`64KiB`, `1MiB`, `512`) as written in the
//! YAML configuration.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// A duration written as a number and a unit: `ms`, `s`, `m`, `h`, `d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    pub const fn from_secs(s: u64) -> Self {
        Duration(std::time::Duration::from_secs(s))
    }
    pub const fn from_millis(ms: u64) -> Self {
        Duration(std::time::Duration::from_millis(ms))
    }
    pub const fn get(self) -> std::time::Duration {
        self.0
    }
}

/// Why a duration could not be read; each variant keeps the text as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("expected a duration with a unit like 10s, 5m, 300ms, 2h or 30d, found {text:?}")]
    MissingUnit { text: String },
    #[error("expected a duration like 10s, 5m, 300ms, 2h or 30d, found {text:?}")]
    InvalidNumber { text: String },
    #[error("unknown duration unit {unit:?} in {text:?}: use ms, s, m, h or d")]
    UnknownUnit { unit: String, text: String },
    #[error("duration {text:?} is out of range")]
    OutOfRange { text: String },
}

/// Parses `10s`, `5m`, `300ms`, `2h`, `30d`, `1.5s`. A bare number is rejected: the unit is
/// what makes a config readable.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| DurationError::MissingUnit { text: text.into() })?;
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| DurationError::InvalidNumber { text: text.into() })?;
    let scale = match unit.trim() {
        "ms" => 0.001,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86400.0,
        other => {
            return Err(DurationError::UnknownUnit {
                unit: other.into(),
                text: text.into(),
            })
        }
    };
    let secs = value * scale;
    if !secs.is_finite() || !(0.0..=1.0e10).contains(&secs) {
        return Err(DurationError::OutOfRange { text: text.into() });
    }
    Ok(Duration(std::time::Duration::from_secs_f64(secs)))
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration like 10s, 5m, 300ms, 2h or 30d")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
                parse_duration(v).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
                Err(E::custom(format!(
                    "expected a duration with a unit (e.g. {v}s), found the bare number {v}"
                )))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
                Err(E::custom(format!(
                    "expected a duration with a unit (e.g. {v}s), found the bare number {v}"
                )))
            }
        }
        d.deserialize_any(V)
    }
}

/// An optional duration: `none` (or YAML null) for no limit, else a duration.
pub fn optional_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(t) if t.trim() == "none" => Ok(None),
        Some(t) => parse_duration(&t).map(Some).map_err(de::Error::custom),
    }
}

/// An optional size: `none` (or YAML null) for no limit, else a size.
pub fn optional_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ByteSize>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(u64),
        Text(String),
    }
    match Option::<Raw>::deserialize(d)? {
        None => Ok(None),
        Some(Raw::Number(n)) => Ok(Some(ByteSize(n))),
        Some(Raw::Text(t)) if t.trim() == "none" => Ok(None),
        Some(Raw::Text(t)) => parse_size(&t).map(Some).map_err(de::Error::custom),
    }
}

/// A size in bytes: `512`, `64KiB`, `1MiB`, `2GiB`, `64KB` (decimal), `64k` (binary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

/// Why a size could not be read; each variant keeps the text as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    #[error("expected a size like 64KiB or 1MiB, found {text:?}")]
    InvalidNumber { text: String },
    #[error("unknown size unit {unit:?} in {text:?}: use B, KiB, MiB, GiB, KB, MB or GB")]
    UnknownUnit { unit: String, text: String },
    #[error("size {text:?} is out of range")]
    OutOfRange { text: String },
}

pub fn parse_size(text: &str) -> Result<ByteSize, SizeError> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: u64 = num
        .parse()
        .map_err(|_| SizeError::InvalidNumber { text: text.into() })?;
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" | "k" | "K" => 1 << 10,
        "MiB" | "M" => 1 << 20,
        "GiB" | "G" => 1 << 30,
        "KB" => 1000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        other => {
            return Err(SizeError::UnknownUnit {
                unit: other.into(),
                text: text.into(),
            })
        }
    };
    value
        .checked_mul(scale)
        .map(ByteSize)
        .ok_or_else(|| SizeError::OutOfRange { text: text.into() })
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a size like 64KiB or 1MiB")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ByteSize, E> {
                parse_size(v).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ByteSize, E> {
                u64::try_from(v)
                    .map(ByteSize)
                    .map_err(|_| E::custom("a size cannot be negative"))
            }
        }
        d.deserialize_any(V)
    }
}
