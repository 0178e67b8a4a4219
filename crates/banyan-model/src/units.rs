//! Durations (`250ms`, `5s`, `1m`, `1h`) and byte sizes (`512`, `16KiB`, `1MiB`, `2GiB`, `10MB`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration as written in config: an integer and a unit. The default (zero) only stands in for a value that failed to parse.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    pub const fn secs(s: u64) -> Self {
        Self(std::time::Duration::from_secs(s))
    }
    pub const fn millis(ms: u64) -> Self {
        Self(std::time::Duration::from_millis(ms))
    }
    pub fn get(self) -> std::time::Duration {
        self.0
    }
}

/// Splits `250ms` or `2 GiB` into the whole number and the unit (a space between is allowed).
fn amount(s: &str) -> Option<(u64, &str)> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    Some((num.parse().ok()?, unit.trim_start()))
}

impl FromStr for Duration {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (n, unit) = amount(s).ok_or_else(|| {
            format!(
                "`{s}` is not a duration: write a whole number and a unit, like 250ms, 5s, 1m or 1h"
            )
        })?;
        let ms = match unit {
            "ms" => Some(n),
            "s" => n.checked_mul(1000),
            "m" => n.checked_mul(60_000),
            "h" => n.checked_mul(3_600_000),
            "" => {
                return Err(format!(
                    "`{s}` has no unit: write {n}s, {n}ms, {n}m or {n}h"
                ));
            }
            _ => {
                return Err(format!(
                    "`{unit}` is not a duration unit: use ms, s, m or h"
                ));
            }
        };
        ms.map(Duration::millis)
            .ok_or_else(|| format!("`{s}` is too long"))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        match ms {
            0 => write!(f, "0s"),
            ms if ms % 3_600_000 == 0 => write!(f, "{}h", ms / 3_600_000),
            ms if ms % 60_000 == 0 => write!(f, "{}m", ms / 60_000),
            ms if ms % 1000 == 0 => write!(f, "{}s", ms / 1000),
            ms => write!(f, "{ms}ms"),
        }
    }
}

/// A size in bytes as written in config. The default (zero) only stands in for a value that failed to parse.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

impl ByteSize {
    pub const fn kib(n: u64) -> Self {
        Self(n * 1024)
    }
    pub const fn mib(n: u64) -> Self {
        Self(n * 1024 * 1024)
    }
    pub fn get(self) -> u64 {
        self.0
    }
}

impl FromStr for ByteSize {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (n, unit) = amount(s).ok_or_else(|| {
            format!("`{s}` is not a size: write a whole number and a unit, like 512, 16KiB, 1MiB or 2GiB")
        })?;
        let mult: u64 = match unit {
            "" | "B" => 1,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            "KB" | "kB" => 1000,
            "MB" => 1_000_000,
            "GB" => 1_000_000_000,
            u => {
                return Err(format!(
                    "`{u}` is not a size unit: use B, KiB, MiB, GiB, KB, MB or GB"
                ));
            }
        };
        n.checked_mul(mult)
            .map(ByteSize)
            .ok_or_else(|| format!("`{s}` is too large"))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        match n {
            0 => write!(f, "0"),
            n if n % (1 << 30) == 0 => write!(f, "{}GiB", n >> 30),
            n if n % (1 << 20) == 0 => write!(f, "{}MiB", n >> 20),
            n if n % (1 << 10) == 0 => write!(f, "{}KiB", n >> 10),
            n => write!(f, "{n}"),
        }
    }
}

macro_rules! string_serde {
    ($t:ty, $what:literal) => {
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                // Accept plain integers for sizes (bytes); durations need a unit.
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    };
}
string_serde!(Duration, "duration");
string_serde!(ByteSize, "size");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!("250ms".parse::<Duration>().unwrap(), Duration::millis(250));
        assert_eq!("5s".parse::<Duration>().unwrap(), Duration::secs(5));
        assert_eq!("1m".parse::<Duration>().unwrap(), Duration::secs(60));
        assert!("5".parse::<Duration>().unwrap_err().contains("no unit"));
        assert!("5d".parse::<Duration>().is_err());
        assert_eq!("5 s".parse::<Duration>().unwrap(), Duration::secs(5));
        assert!(
            "5 parsecs"
                .parse::<Duration>()
                .unwrap_err()
                .starts_with("`parsecs` is not a duration unit")
        );
        assert!("-1s".parse::<Duration>().is_err());
        assert_eq!(Duration::millis(1500).to_string(), "1500ms");
        assert_eq!(Duration::secs(120).to_string(), "2m");
    }

    #[test]
    fn sizes() {
        assert_eq!("16KiB".parse::<ByteSize>().unwrap(), ByteSize(16384));
        assert_eq!("512".parse::<ByteSize>().unwrap(), ByteSize(512));
        assert_eq!("2GiB".parse::<ByteSize>().unwrap(), ByteSize(2 << 30));
        assert!("1TB".parse::<ByteSize>().is_err());
        assert!("99999999999999999999GiB".parse::<ByteSize>().is_err());
        assert_eq!(ByteSize::mib(1).to_string(), "1MiB");
    }
}
