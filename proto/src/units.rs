//! Human units in config files: durations (`"25ms"`, `"7d"`), byte sizes (`"8MiB"`), bit rates
//! (`"2mbit"`) and quotas (`"1GiB/day"`). Each parses from a string and deserializes with a clear message.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A duration written as `<number><unit>`, unit one of `us ms s m h d w`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration(pub Duration);

/// A byte count written as a number with an optional `B KB MB GB KiB MiB GiB TiB` suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

/// A rate in bits per second written as `tc` does: `bit kbit mbit gbit` (decimal, like `tc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rate(pub u64);

/// A volume per period: `"1GiB/day"`, `"500MB/week"`, `"10GiB/month"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub bytes: u64,
    pub period: QuotaPeriod,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaPeriod {
    Day,
    Week,
    Month,
}

fn split_number(s: &str) -> Option<(f64, &str)> {
    let s = s.trim();
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(end);
    let n: f64 = num.parse().ok()?;
    if !n.is_finite() || n < 0.0 {
        return None;
    }
    Some((n, unit.trim()))
}

fn scaled(n: f64, factor: f64) -> Option<u64> {
    let v = n * factor;
    (v.is_finite() && v >= 0.0 && v < u64::MAX as f64).then_some(v.round() as u64)
}

impl FromStr for HumanDuration {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let err = || format!("expected a duration like \"25ms\", \"30s\", \"7d\", got {s:?}");
        let (n, unit) = split_number(s).ok_or_else(err)?;
        let micros = match unit {
            "us" | "µs" => 1.0,
            "ms" => 1e3,
            "s" => 1e6,
            "m" | "min" => 60e6,
            "h" => 3600e6,
            "d" => 86_400e6,
            "w" => 604_800e6,
            _ => return Err(err()),
        };
        Ok(HumanDuration(Duration::from_micros(
            scaled(n, micros).ok_or_else(err)?,
        )))
    }
}

impl FromStr for ByteSize {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let err = || format!("expected a size like \"8MiB\", \"512KB\", \"4096\", got {s:?}");
        let (n, unit) = split_number(s).ok_or_else(err)?;
        let f = match unit.to_ascii_lowercase().as_str() {
            "" | "b" => 1.0,
            "kb" | "k" => 1e3,
            "mb" | "m" => 1e6,
            "gb" | "g" => 1e9,
            "tb" | "t" => 1e12,
            "kib" => 1024.0,
            "mib" => 1_048_576.0,
            "gib" => 1_073_741_824.0,
            "tib" => 1_099_511_627_776.0,
            _ => return Err(err()),
        };
        Ok(ByteSize(scaled(n, f).ok_or_else(err)?))
    }
}

impl FromStr for Rate {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let err = || format!("expected a rate like \"2mbit\", \"500kbit\", \"1gbit\", got {s:?}");
        let (n, unit) = split_number(s).ok_or_else(err)?;
        let f = match unit.to_ascii_lowercase().as_str() {
            "bit" | "bps" => 1.0,
            "kbit" => 1e3,
            "mbit" => 1e6,
            "gbit" => 1e9,
            _ => return Err(err()),
        };
        match scaled(n, f) {
            Some(v) if v >= 8 => Ok(Rate(v)),
            _ => Err(err()),
        }
    }
}

impl FromStr for Quota {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let err = || {
            format!(
                "expected a quota like \"1GiB/day\", \"20GB/week\", \"100GiB/month\", got {s:?}"
            )
        };
        let (size, period) = s.split_once('/').ok_or_else(err)?;
        let period = match period.trim() {
            "day" => QuotaPeriod::Day,
            "week" => QuotaPeriod::Week,
            "month" => QuotaPeriod::Month,
            _ => return Err(err()),
        };
        let bytes = size.parse::<ByteSize>().map_err(|_| err())?.0;
        Ok(Quota { bytes, period })
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let us = self.0.as_micros();
        for (unit, n) in [
            ("d", 86_400_000_000u128),
            ("h", 3_600_000_000),
            ("m", 60_000_000),
            ("s", 1_000_000),
            ("ms", 1_000),
        ] {
            if us >= n && us.is_multiple_of(n) {
                return write!(f, "{}{unit}", us / n);
            }
        }
        write!(f, "{us}us")
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}bit", self.0)
    }
}

macro_rules! deserialize_from_str {
    ($($t:ty),*) => {$(
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl serde::de::Visitor<'_> for V {
                    type Value = $t;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str("a string with a unit")
                    }
                    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<$t, E> {
                        s.parse().map_err(E::custom)
                    }
                    fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<$t, E> {
                        self.visit_str(&n.to_string())
                    }
                }
                d.deserialize_any(V)
            }
        }
    )*};
}
deserialize_from_str!(HumanDuration, ByteSize, Rate, Quota);

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(
            "25ms".parse::<HumanDuration>().unwrap().0,
            Duration::from_millis(25)
        );
        assert_eq!(
            "7d".parse::<HumanDuration>().unwrap().0,
            Duration::from_secs(7 * 86_400)
        );
        assert_eq!(
            "1.5s".parse::<HumanDuration>().unwrap().0,
            Duration::from_millis(1500)
        );
        assert!("25".parse::<HumanDuration>().is_err());
        assert!("-1s".parse::<HumanDuration>().is_err());
        assert!("1e400s".parse::<HumanDuration>().is_err());
        assert_eq!(HumanDuration(Duration::from_millis(25)).to_string(), "25ms");
    }

    #[test]
    fn sizes_rates_quotas() {
        assert_eq!("8MiB".parse::<ByteSize>().unwrap().0, 8 << 20);
        assert_eq!("4096".parse::<ByteSize>().unwrap().0, 4096);
        assert_eq!("2mbit".parse::<Rate>().unwrap().0, 2_000_000);
        assert!("2mb".parse::<Rate>().is_err());
        let q: Quota = "1GiB/day".parse().unwrap();
        assert_eq!((q.bytes, q.period), (1 << 30, QuotaPeriod::Day));
        assert!("1GiB/year".parse::<Quota>().is_err());
    }
}
