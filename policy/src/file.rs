//! The `policy.toml` schema as serde reads it: strings and numbers only, no meaning yet. Every table
//! denies unknown keys; [`crate::compile`] turns these into checked rules with `FILE:LINE` errors.

use std::fmt;
use std::marker::PhantomData;

use nfguard_proto::units::{Quota, Rate};
use serde::de::{self, IntoDeserializer, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PolicyFile {
    /// Verdict when no rule matches. Required: the operator states it.
    pub default: DefaultAction,
    /// `enforce` (default) or `monitor` (decide and log, never drop).
    #[serde(default)]
    pub mode: Mode,
    /// `[[rule]]` tables, first match wins.
    #[serde(default)]
    pub rule: Vec<RuleFile>,
}

/// What happens when no rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DefaultAction {
    Accept,
    Drop,
    Reject,
}

/// `enforce`: verdicts apply. `monitor`: decide, count `would_drop`, log, but accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Enforce,
    Monitor,
}

/// A rule's `action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ActionFile {
    Accept,
    Drop,
    Reject,
    Shape,
}

/// A rule's `over_quota`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum OverQuotaFile {
    Drop,
    Shape,
}

/// One `[[rule]]` table. Matchers are ANDed; values inside one matcher are ORed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleFile {
    pub name: String,
    pub app: Option<OneOrMany<String>>,
    pub master: Option<OneOrMany<String>>,
    pub category: Option<OneOrMany<String>>,
    pub host: Option<OneOrMany<String>>,
    pub src: Option<OneOrMany<String>>,
    pub dst: Option<OneOrMany<String>>,
    pub port: Option<OneOrMany<i64>>,
    pub port_range: Option<OneOrMany<String>>,
    pub l4: Option<OneOrMany<String>>,
    pub in_iface: Option<OneOrMany<String>>,
    pub out_iface: Option<OneOrMany<String>>,
    pub queue: Option<OneOrMany<i64>>,
    pub time: Option<TimeFile>,
    pub risk: Option<OneOrMany<String>>,
    /// Host list files, relative to the rule file (`host_list.rs`).
    pub host_list: Option<OneOrMany<String>>,
    /// Address list files matched against the server address (`ip_list.rs`).
    pub ip_list: Option<OneOrMany<String>>,
    /// ISO 3166-1 alpha-2 codes, `!` to exclude (`geoip.rs`).
    pub src_country: Option<OneOrMany<String>>,
    pub dst_country: Option<OneOrMany<String>>,
    /// JA4 fingerprints of the ClientHello, exact (`compile::ja4`).
    pub ja4: Option<OneOrMany<String>>,
    /// Whether the ClientHello carries an Encrypted ClientHello extension.
    pub ech: Option<bool>,
    pub action: ActionFile,
    pub rate: Option<Rate>,
    pub quota: Option<Quota>,
    pub over_quota: Option<OverQuotaFile>,
    pub over_quota_rate: Option<Rate>,
    pub mark: Option<i64>,
    #[serde(default)]
    pub log: bool,
}

/// `time = { days = ["mon"], hours = "08:00-18:00" }`; either key may be left out (every day / all day).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TimeFile {
    pub days: Option<OneOrMany<String>>,
    pub hours: Option<OneOrMany<String>>,
}

/// A value or a list of values: `port = 23` and `port = [23, 2323]` both work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OneOrMany<T>(pub Vec<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = OneOrMany<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a value or a list of values")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(x) = seq.next_element()? {
                    out.push(x);
                }
                Ok(OneOrMany(out))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                T::deserialize(s.into_deserializer()).map(|x| OneOrMany(vec![x]))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Self::Value, E> {
                T::deserialize(n.into_deserializer()).map(|x| OneOrMany(vec![x]))
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<Self::Value, E> {
                T::deserialize(b.into_deserializer()).map(|x| OneOrMany(vec![x]))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}
