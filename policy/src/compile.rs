//! Checking `policy.toml` and turning it into [`Rule`]s. Every name is resolved against the protocol
//! table and category list; every error reads `FILE:LINE: rule[N].KEY: message`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use nfguard_proto::config::{ConfigError, error_at, parse_toml};
use nfguard_proto::protocols;
use nfguard_proto::types::AppId;
use nfguard_proto::units::Rate;

use crate::file::{
    ActionFile, DefaultAction, Mode, OneOrMany, OverQuotaFile, PolicyFile, RuleFile,
};
use crate::geoip::CountrySet;
use crate::host::HostPattern;
use crate::lists::{Lists, ReadList};
use crate::rule::{IfacePattern, Matchers, QuotaRule, Rule, RuleAction};
use crate::time_window::TimeWindows;

/// HTB classes nfguard may use: the default shaper mask 0xfc holds 6 bits, class 0 means "none".
pub const MAX_SHAPERS: usize = 63;
/// Longest rule name (it becomes a metric label and a log field).
const MAX_NAME_LEN: usize = 128;

/// One HTB class the `nfguard rules` command creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shaper {
    /// 1-based class index, the value of the shaper mark bits.
    pub class: u8,
    pub rate: Rate,
    /// The rule it belongs to.
    pub rule: String,
    /// True for the rule's `over_quota = "shape"` class.
    pub over_quota: bool,
}

/// A checked file.
#[derive(Debug, Clone)]
pub(crate) struct Compiled {
    pub default: DefaultAction,
    pub mode: Mode,
    pub rules: Vec<Rule>,
    pub shapers: Vec<Shaper>,
    /// List files the rules name, as written (relative to the rule file).
    pub list_files: Vec<String>,
    /// Lines the lists skipped (`lists/ads.txt:120: … line skipped`).
    pub warnings: Vec<String>,
    /// The first country matcher, as the error to give without a GeoIP database.
    pub needs_geoip: Option<ConfigError>,
}

/// Parses and checks `text` (the contents of `file`); `read` returns the text of a list file.
pub(crate) fn compile<'r>(
    file: &str,
    text: &str,
    user_mask: u32,
    read: &'r mut ReadList<'r>,
) -> Result<Compiled, ConfigError> {
    let pf: PolicyFile = parse_toml(file, text)?;
    let mut cx = Cx {
        file,
        text,
        user_mask,
        shapers: Vec::new(),
        lists: Lists::new(read),
        needs_geoip: None,
    };
    let mut names: HashMap<&str, usize> = HashMap::new();
    let mut rules = Vec::with_capacity(pf.rule.len());
    for (i, r) in pf.rule.iter().enumerate() {
        if let Some(first) = names.insert(r.name.as_str(), i) {
            return Err(cx.err(
                i,
                "name",
                format!("duplicate rule name {:?} (also rule[{first}])", r.name),
            ));
        }
        rules.push(cx.rule(i, r)?);
    }
    Ok(Compiled {
        default: pf.default,
        mode: pf.mode,
        rules,
        shapers: cx.shapers,
        list_files: cx.lists.files,
        warnings: cx.lists.warnings,
        needs_geoip: cx.needs_geoip,
    })
}

struct Cx<'a, 'r> {
    file: &'a str,
    text: &'a str,
    user_mask: u32,
    shapers: Vec<Shaper>,
    lists: Lists<'r>,
    needs_geoip: Option<ConfigError>,
}

impl Cx<'_, '_> {
    fn err(&self, i: usize, key: &str, msg: impl Into<String>) -> ConfigError {
        error_at(self.file, self.text, &format!("rule[{i}].{key}"), msg)
    }

    fn rule(&mut self, i: usize, r: &RuleFile) -> Result<Rule, ConfigError> {
        if r.name.trim().is_empty() {
            return Err(self.err(i, "name", "rule name must not be empty"));
        }
        if r.name.len() > MAX_NAME_LEN || r.name.chars().any(char::is_control) {
            return Err(self.err(
                i,
                "name",
                format!("rule name must be at most {MAX_NAME_LEN} printable characters"),
            ));
        }
        let m = self.matchers(i, r)?;
        let action = match r.action {
            ActionFile::Accept => RuleAction::Accept,
            ActionFile::Drop => RuleAction::Drop,
            ActionFile::Reject => RuleAction::Reject,
            ActionFile::Shape => {
                let Some(rate) = r.rate else {
                    return Err(self.err(
                        i,
                        "action",
                        "action = \"shape\" needs rate = \"…\" (e.g. \"2mbit\")",
                    ));
                };
                let class = self.shaper(i, "action", &r.name, rate, false)?;
                RuleAction::Shape { class, rate }
            }
        };
        if r.rate.is_some() && r.action != ActionFile::Shape {
            return Err(self.err(i, "rate", "rate is only used with action = \"shape\""));
        }
        let quota = match (r.quota, r.over_quota) {
            (None, None) => None,
            (None, Some(_)) => {
                return Err(self.err(
                    i,
                    "over_quota",
                    "over_quota needs quota = \"…\" (e.g. \"1GiB/day\")",
                ));
            }
            (Some(_), None) => {
                return Err(self.err(i, "quota", "quota needs over_quota = \"drop\" or \"shape\""));
            }
            (Some(quota), Some(OverQuotaFile::Drop)) => Some(QuotaRule {
                quota,
                over: RuleAction::Drop,
            }),
            (Some(quota), Some(OverQuotaFile::Shape)) => {
                let Some(rate) = r.over_quota_rate else {
                    return Err(self.err(
                        i,
                        "over_quota",
                        "over_quota = \"shape\" needs over_quota_rate = \"…\" (e.g. \"1mbit\")",
                    ));
                };
                let class = self.shaper(i, "over_quota", &r.name, rate, true)?;
                Some(QuotaRule {
                    quota,
                    over: RuleAction::Shape { class, rate },
                })
            }
        };
        if r.over_quota_rate.is_some() && r.over_quota != Some(OverQuotaFile::Shape) {
            return Err(self.err(
                i,
                "over_quota_rate",
                "over_quota_rate is only used with over_quota = \"shape\"",
            ));
        }
        if quota.is_some_and(|q| q.quota.bytes == 0) {
            return Err(self.err(
                i,
                "quota",
                "a quota of 0 bytes is always exceeded; use action = \"drop\"",
            ));
        }
        let mark = match r.mark {
            None => 0,
            Some(n) => {
                let Ok(n) = u32::try_from(n) else {
                    return Err(self.err(
                        i,
                        "mark",
                        format!("mark {n} is not between 0 and 0xffffffff"),
                    ));
                };
                if n & !self.user_mask != 0 {
                    return Err(self.err(
                        i,
                        "mark",
                        format!(
                            "mark {n:#x} is outside user_mask {:#x} ([capture] user_mask in nfguard.toml)",
                            self.user_mask
                        ),
                    ));
                }
                n
            }
        };
        Ok(Rule {
            name: Arc::from(r.name.as_str()),
            action,
            quota,
            mark,
            log: r.log,
            m,
        })
    }

    fn shaper(
        &mut self,
        i: usize,
        key: &str,
        name: &str,
        rate: Rate,
        over_quota: bool,
    ) -> Result<u8, ConfigError> {
        if self.shapers.len() >= MAX_SHAPERS {
            return Err(self.err(
                i,
                key,
                format!(
                    "more than {MAX_SHAPERS} shaper classes (the shaper mask 0xfc holds 6 bits)"
                ),
            ));
        }
        let class = u8::try_from(self.shapers.len() + 1).unwrap_or(u8::MAX);
        self.shapers.push(Shaper {
            class,
            rate,
            rule: name.to_string(),
            over_quota,
        });
        Ok(class)
    }

    fn matchers(&mut self, i: usize, r: &RuleFile) -> Result<Matchers, ConfigError> {
        let mut m = Matchers {
            apps: self.list(i, "app", &r.app, |s| app_id(s))?,
            masters: self.list(i, "master", &r.master, |s| app_id(s))?,
            categories: self.list(i, "category", &r.category, |s| category(s))?,
            hosts: self.list(i, "host", &r.host, |s| HostPattern::parse(s))?,
            risks: self.list(i, "risk", &r.risk, |s| {
                let s = s.trim();
                if s.is_empty() {
                    Err("empty risk name".to_string())
                } else {
                    Ok(s.to_string())
                }
            })?,
            ja4: self.list(i, "ja4", &r.ja4, |s| ja4(s))?,
            ech: r.ech,
            src: self.list(i, "src", &r.src, |s| cidr(s))?,
            dst: self.list(i, "dst", &r.dst, |s| cidr(s))?,
            ports: self.list(i, "port", &r.port, |&p| {
                u16::try_from(p)
                    .ok()
                    .filter(|&p| p != 0)
                    .ok_or_else(|| format!("port {p} is out of range 1-65535"))
            })?,
            port_ranges: self.list(i, "port_range", &r.port_range, |s| port_range(s))?,
            l4: self.list(i, "l4", &r.l4, |s| l4(s))?,
            in_iface: self.list(i, "in_iface", &r.in_iface, |s| IfacePattern::parse(s))?,
            out_iface: self.list(i, "out_iface", &r.out_iface, |s| IfacePattern::parse(s))?,
            queues: self.list(i, "queue", &r.queue, |&q| {
                u16::try_from(q).map_err(|_| format!("queue {q} is out of range 0-65535"))
            })?,
            time: None,
            host_lists: Vec::new(),
            ip_lists: Vec::new(),
            src_country: self.countries(i, "src_country", &r.src_country)?,
            dst_country: self.countries(i, "dst_country", &r.dst_country)?,
        };
        // Checked for emptiness like every list; each file is read once per compile.
        self.list(i, "host_list", &r.host_list, |_| Ok(()))?;
        self.list(i, "ip_list", &r.ip_list, |_| Ok(()))?;
        for name in r.host_list.iter().flat_map(|v| &v.0) {
            let l = self.lists.host_list(name);
            m.host_lists
                .push(l.map_err(|e| self.err(i, "host_list", e))?);
        }
        for name in r.ip_list.iter().flat_map(|v| &v.0) {
            let l = self.lists.ip_list(name);
            m.ip_lists.push(l.map_err(|e| self.err(i, "ip_list", e))?);
        }
        if let Some(t) = &r.time {
            let days = t.days.as_ref().map(|d| d.0.as_slice());
            let hours = t.hours.as_ref().map(|h| h.0.as_slice());
            m.time = Some(
                TimeWindows::parse(days, hours)
                    .map_err(|(key, msg)| self.err(i, &format!("time.{key}"), msg))?,
            );
        }
        Ok(m)
    }

    /// A `src_country` / `dst_country` list; the first one in the file is remembered, as the error
    /// to give when no GeoIP database is configured.
    fn countries(
        &mut self,
        i: usize,
        key: &str,
        v: &Option<OneOrMany<String>>,
    ) -> Result<Option<CountrySet>, ConfigError> {
        let codes = self.list(i, key, v, |s| Ok(s.clone()))?;
        if v.is_none() {
            return Ok(None);
        }
        let mut set = CountrySet::default();
        for c in &codes {
            set.push(c).map_err(|e| self.err(i, key, e))?;
        }
        if self.needs_geoip.is_none() {
            self.needs_geoip = Some(self.err(
                i,
                key,
                "country rules need a GeoIP database: set [policy] geoip = \"/usr/share/GeoIP/GeoLite2-Country.mmdb\" in nfguard.toml",
            ));
        }
        Ok(Some(set))
    }

    /// Converts every element of an optional list; an empty list is an error (it would match nothing).
    fn list<T, U>(
        &self,
        i: usize,
        key: &str,
        v: &Option<OneOrMany<T>>,
        f: impl Fn(&T) -> Result<U, String>,
    ) -> Result<Vec<U>, ConfigError> {
        let Some(v) = v else { return Ok(Vec::new()) };
        if v.0.is_empty() {
            return Err(self.err(
                i,
                key,
                "empty list matches nothing; remove the key to match any",
            ));
        }
        v.0.iter()
            .map(|x| f(x).map_err(|e| self.err(i, key, e)))
            .collect()
    }
}

fn app_id(name: &str) -> Result<AppId, String> {
    match protocols::by_name(name.trim()) {
        Some(p) => Ok(p.id),
        None => Err(
            match protocols::did_you_mean(name, protocols::all().map(|p| p.name)) {
                Some(s) => format!("unknown application {name:?} (did you mean {s:?}?)"),
                None => format!("unknown application {name:?} (`nfguard protocols` lists them)"),
            },
        ),
    }
}

fn category(name: &str) -> Result<&'static str, String> {
    match protocols::category(name.trim()) {
        Some(c) => Ok(c),
        None => Err(
            match protocols::did_you_mean(name, protocols::categories().iter().copied()) {
                Some(s) => format!("unknown category {name:?} (did you mean {s:?}?)"),
                None => format!("unknown category {name:?}"),
            },
        ),
    }
}

/// `"192.168.1.0/24"`, `"fd00:1::/64"` or a bare address (a /32 or /128).
fn cidr(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(IpNet::from(ip));
    }
    let net: IpNet = s.parse().map_err(|_| {
        format!("invalid CIDR {s:?} (expected e.g. \"192.168.1.0/24\" or \"fd00:1::/64\")")
    })?;
    if net.addr() != net.network() {
        return Err(format!(
            "{s:?} has host bits set (did you mean \"{}\"?)",
            net.trunc()
        ));
    }
    Ok(net)
}

/// A JA4 as FoxIO writes it (`t13d1516h2_8daaf6152771_02713d6af862`): transport `t`/`q`/`d`,
/// two version characters, `d`/`i`, two two-digit counts, two ALPN characters, then two
/// 12-digit lowercase hex hashes.
fn ja4(s: &str) -> Result<Box<str>, String> {
    let s = s.trim();
    let hash = |h: &str| h.len() == 12 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let ok = match (
        s.get(..10),
        s.get(10..11),
        s.get(11..23),
        s.get(23..24),
        s.get(24..),
    ) {
        (Some(a), Some("_"), Some(b), Some("_"), Some(c)) => {
            let a = a.as_bytes();
            matches!(a.first(), Some(b't' | b'q' | b'd'))
                && a.get(1..3)
                    .is_some_and(|v| v.iter().all(u8::is_ascii_alphanumeric))
                && matches!(a.get(3), Some(b'd' | b'i'))
                && a.get(4..8)
                    .is_some_and(|n| n.iter().all(u8::is_ascii_digit))
                && a.get(8..10)
                    .is_some_and(|p| p.iter().all(u8::is_ascii_graphic))
                && hash(b)
                && hash(c)
        }
        _ => false,
    };
    if ok {
        Ok(s.into())
    } else {
        Err(format!(
            "{s:?} is not a JA4 fingerprint (expected e.g. \"t13d1516h2_8daaf6152771_02713d6af862\": hashes in lowercase hex)"
        ))
    }
}

/// `"6881-6889"`.
fn port_range(s: &str) -> Result<(u16, u16), String> {
    let err = || format!("expected a port range like \"6881-6889\", got {s:?}");
    let (a, b) = s.split_once('-').ok_or_else(err)?;
    let a: u16 = a.trim().parse().map_err(|_| err())?;
    let b: u16 = b.trim().parse().map_err(|_| err())?;
    if a == 0 || a > b {
        return Err(format!("{s:?}: the range must be 1-65535, first ≤ last"));
    }
    Ok((a, b))
}

/// `"tcp"`, `"udp"`, `"icmp"`, `"icmpv6"`, … or an IP protocol number.
fn l4(s: &str) -> Result<u8, String> {
    let n = match s.trim().to_ascii_lowercase().as_str() {
        "tcp" => 6,
        "udp" => 17,
        "icmp" => 1,
        "icmpv6" | "ipv6-icmp" => 58,
        "gre" => 47,
        "esp" => 50,
        "ah" => 51,
        "sctp" => 132,
        "dccp" => 33,
        "udplite" => 136,
        other => other.parse::<u8>().map_err(|_| {
            format!(
                "unknown l4 protocol {s:?} (expected tcp, udp, icmp, icmpv6, gre, esp, ah, sctp, dccp, udplite or a number 0-255)"
            )
        })?,
    };
    Ok(n)
}
