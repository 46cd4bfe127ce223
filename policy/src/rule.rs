//! A compiled rule: checked matchers and the action they lead to. Matching is split in two halves:
//! tuple fields (known on a flow's first packet: addresses, ports, l4, interfaces, queue, time) and
//! class fields (known after DPI: app, master, category, host, host list, risk, JA4, ECH).

use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use nfguard_proto::types::{AppId, IPPROTO_TCP, IPPROTO_UDP};
use nfguard_proto::units::{Quota, Rate};

use crate::facts::{ClassFacts, FlowFacts};
use crate::geoip::{Countries, CountrySet};
use crate::host::HostPattern;
use crate::host_list::HostList;
use crate::ip_list::IpList;
use crate::time_window::{Now, TimeWindows};

/// IP protocols whose tuple ports are real ports (TCP, UDP, DCCP 33, SCTP 132). `port` matchers
/// never match other protocols, where the tuple's port may hold an ICMP type.
const PORT_PROTOCOLS: [u8; 4] = [IPPROTO_TCP, IPPROTO_UDP, 33, 132];

/// nDPI ids of critical traffic (DESIGN §7): DNS (5), DHCP (18), DHCPV6 (103), and ICMPV6 (102)
/// for neighbour discovery.
pub(crate) const DNS: AppId = AppId(5);
pub(crate) const DHCP: AppId = AppId(18);
pub(crate) const DHCPV6: AppId = AppId(103);
pub(crate) const ICMPV6: AppId = AppId(102);
pub(crate) const CRITICAL_APPS: [AppId; 4] = [DNS, DHCP, DHCPV6, ICMPV6];

/// What a matching rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleAction {
    Accept,
    Drop,
    Reject,
    /// Accept through HTB class `class` (1-based) limited to `rate`.
    Shape {
        class: u8,
        rate: Rate,
    },
}

/// What a quota rule does to a host over its quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaRule {
    pub quota: Quota,
    /// `Drop` or `Shape` only.
    pub over: RuleAction,
}

/// One compiled `[[rule]]`.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: Arc<str>,
    pub action: RuleAction,
    pub quota: Option<QuotaRule>,
    /// Mark bits within `user_mask` (0: none).
    pub mark: u32,
    pub log: bool,
    pub(crate) m: Matchers,
}

/// A rule's matchers; an empty list means "any".
#[derive(Debug, Clone, Default)]
pub(crate) struct Matchers {
    /// Matches the flow's app or master.
    pub apps: Vec<AppId>,
    pub masters: Vec<AppId>,
    pub categories: Vec<&'static str>,
    pub hosts: Vec<HostPattern>,
    /// Matches the flow's host (SNI, HTTP Host, QUIC SNI, DNS query name, DNS-cache name).
    pub host_lists: Vec<Arc<HostList>>,
    pub risks: Vec<String>,
    /// JA4 fingerprints of the ClientHello (TLS or QUIC), compared exactly.
    pub ja4: Vec<Box<str>>,
    /// `Some(true)`: the ClientHello offered ECH; `Some(false)`: it did not, or there was none.
    pub ech: Option<bool>,
    pub src: Vec<IpNet>,
    pub dst: Vec<IpNet>,
    /// Matches the server address.
    pub ip_lists: Vec<Arc<IpList>>,
    /// Match the client's / the server's country (`geoip.rs`).
    pub src_country: Option<CountrySet>,
    pub dst_country: Option<CountrySet>,
    pub ports: Vec<u16>,
    /// Inclusive ranges.
    pub port_ranges: Vec<(u16, u16)>,
    pub l4: Vec<u8>,
    pub in_iface: Vec<IfacePattern>,
    pub out_iface: Vec<IfacePattern>,
    pub queues: Vec<u16>,
    pub time: Option<TimeWindows>,
}

/// An interface name, or a prefix written with a trailing `+` as iptables does (`eth+`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IfacePattern {
    Exact(Box<str>),
    Prefix(Box<str>),
}

// === impl Rule ===

impl Rule {
    /// True when the rule has an app, master, category, host, host list, risk, JA4 or ECH
    /// matcher: it cannot be decided from the tuple alone.
    pub fn needs_dpi(&self) -> bool {
        self.m.needs_class()
    }

    /// True when the rule names `id` in `app` or `master` (critical traffic is only ruled by those).
    pub(crate) fn names_app(&self, id: AppId) -> bool {
        self.m.apps.contains(&id) || self.m.masters.contains(&id)
    }

    pub(crate) fn names_critical(&self) -> bool {
        CRITICAL_APPS.iter().any(|&id| self.names_app(id))
    }

    /// Minutes of the week where the `time` matcher changes (empty without one).
    pub(crate) fn time_edges(&self) -> &[u32] {
        self.m.time.as_ref().map_or(&[], |t| t.edges())
    }
}

// === impl Matchers ===

impl Matchers {
    pub(crate) fn needs_class(&self) -> bool {
        !(self.apps.is_empty()
            && self.masters.is_empty()
            && self.categories.is_empty()
            && self.hosts.is_empty()
            && self.host_lists.is_empty()
            && self.risks.is_empty()
            && self.ja4.is_empty()
            && self.ech.is_none())
    }

    /// The tuple half: every matcher known on the first packet (`countries` are the tuple's).
    pub(crate) fn matches_tuple(&self, f: &FlowFacts<'_>, now: Now, countries: &Countries) -> bool {
        let k = &f.key;
        (self.l4.is_empty() || self.l4.contains(&k.l4))
            && self.matches_port(k.l4, k.server.port())
            && any_net(&self.src, k.client.ip())
            && any_net(&self.dst, k.server.ip())
            && (self.ip_lists.is_empty() || self.ip_lists.iter().any(|l| l.contains(k.server.ip())))
            && any_iface(&self.in_iface, f.in_iface)
            && any_iface(&self.out_iface, f.out_iface)
            && (self.queues.is_empty() || self.queues.contains(&f.queue))
            && self.time.as_ref().is_none_or(|t| t.contains(now))
            && self
                .src_country
                .as_ref()
                .is_none_or(|c| c.matches(countries.client))
            && self
                .dst_country
                .as_ref()
                .is_none_or(|c| c.matches(countries.server))
    }

    fn matches_port(&self, l4: u8, port: u16) -> bool {
        if self.ports.is_empty() && self.port_ranges.is_empty() {
            return true;
        }
        PORT_PROTOCOLS.contains(&l4)
            && (self.ports.contains(&port)
                || self
                    .port_ranges
                    .iter()
                    .any(|&(a, b)| a <= port && port <= b))
    }

    /// The class half: app, master, category, host, host list, risk, JA4, ECH.
    pub(crate) fn matches_class(&self, c: &ClassFacts<'_>) -> bool {
        (self.apps.is_empty() || self.apps.iter().any(|&a| a == c.app || a == c.master))
            && (self.masters.is_empty() || self.masters.contains(&c.master))
            && (self.categories.is_empty()
                || self
                    .categories
                    .iter()
                    .any(|cat| cat.eq_ignore_ascii_case(c.category)))
            && (self.hosts.is_empty()
                || c.host
                    .is_some_and(|h| self.hosts.iter().any(|p| p.matches(h))))
            && (self.risks.is_empty()
                || c.risks
                    .iter()
                    .any(|r| self.risks.iter().any(|w| w.eq_ignore_ascii_case(r))))
            && (self.host_lists.is_empty()
                || c.host
                    .is_some_and(|h| self.host_lists.iter().any(|l| l.matches(h))))
            && (self.ja4.is_empty() || c.ja4.is_some_and(|j| self.ja4.iter().any(|w| **w == *j)))
            && self.ech.is_none_or(|e| e == c.ech)
    }
}

fn any_net(nets: &[IpNet], ip: IpAddr) -> bool {
    nets.is_empty() || nets.iter().any(|n| n.contains(&ip))
}

fn any_iface(pats: &[IfacePattern], iface: &str) -> bool {
    pats.is_empty() || pats.iter().any(|p| p.matches(iface))
}

// === impl IfacePattern ===

impl IfacePattern {
    pub(crate) fn parse(s: &str) -> Result<IfacePattern, String> {
        nfguard_proto::iface::check_iface_name(s)?;
        Ok(match s.strip_suffix('+') {
            Some(p) => IfacePattern::Prefix(p.into()),
            None => IfacePattern::Exact(s.into()),
        })
    }

    fn matches(&self, iface: &str) -> bool {
        match self {
            IfacePattern::Exact(n) => **n == *iface,
            IfacePattern::Prefix(p) => iface.starts_with(&**p) && !iface.is_empty(),
        }
    }
}
