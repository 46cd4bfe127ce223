//! Indexes over the rule list so a decision looks at a handful of rules, not all of them.
//!
//! Each rule is filed under one *primary* dimension, the most selective one it has: server port,
//! destination CIDR, source CIDR, app id, master id, host name or suffix, or category. Selectivity is
//! measured at build time: the dimension whose keys are shared by the fewest other rules wins (10,000
//! rules that all say `app = "YouTube"` but each a different `src` are filed by `src`). Rules with no
//! indexable matcher go to an "other" list. Every bucket is a sorted list of rule indexes. A lookup
//! scans each bucket the flow hits in order, stopping at its first full match or at the best index
//! found so far; the smallest index over all buckets is the first match in file order, exactly what a
//! linear scan would find.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::IpAddr;

use nfguard_proto::host_name::match_name;
use nfguard_proto::protocols;

use crate::host::{HostPattern, MAX_HOST_LEN};
use crate::rule::Rule;

/// Port ranges wider than this are not expanded into port buckets (the rule is filed elsewhere).
const MAX_EXPANDED_PORTS: usize = 1024;
/// Longest category name looked up through the index (nDPI's longest is 20 characters).
const MAX_CATEGORY_LEN: usize = 64;

/// FNV-1a: the keys are short (ports, host names) and not attacker-chosen in the table (they come
/// from the rule file), so a fast non-keyed hash is fine here.
#[derive(Default)]
pub(crate) struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 = h;
    }
}

type FnvMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;

/// FNV-1a of `bytes` (the host lists' tables).
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h = Fnv::default();
    h.write(bytes);
    h.finish()
}

/// Sorted rule indexes.
type Bucket = Vec<u32>;

/// Networks of one direction (source or destination), keyed by (family, prefix length, network).
#[derive(Debug, Default)]
struct CidrIndex {
    v4_lens: Vec<u8>,
    v6_lens: Vec<u8>,
    map: FnvMap<(bool, u8, u128), Bucket>,
}

/// One bucket key of one dimension.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Port(u16),
    Dst(bool, u8, u128),
    Src(bool, u8, u128),
    App(u16),
    Master(u16),
    HostExact(Box<str>),
    HostSuffix(Box<str>),
    Category(Box<str>),
}

/// The compiled indexes of one policy.
#[derive(Debug, Default)]
pub(crate) struct Index {
    port: FnvMap<u16, Bucket>,
    src: CidrIndex,
    dst: CidrIndex,
    app: Vec<Bucket>,
    master: Vec<Bucket>,
    host_exact: FnvMap<Box<str>, Bucket>,
    host_suffix: FnvMap<Box<str>, Bucket>,
    category: FnvMap<Box<str>, Bucket>,
    /// Rules without DPI matchers filed nowhere else.
    t_other: Bucket,
    /// Rules with DPI matchers filed nowhere else.
    c_other: Bucket,
    /// Rules with DPI matchers not filed under a tuple dimension: a tuple-only request scans them
    /// (the first whose tuple half matches means "needs DPI").
    pub c_untupled: Bucket,
    /// Rules that name a critical app (DNS, DHCP, DHCPV6, ICMPV6).
    pub critical: Bucket,
    /// Every minute of the week where some rule's `time` matcher changes, with the first rule that
    /// has it, sorted by minute (for `valid_until`: at most 10,080 entries whatever the rule count).
    pub time_edges: Vec<(u32, u32)>,
}

impl Index {
    pub(crate) fn build(rules: &[Rule]) -> Index {
        let apps = protocols::all().count();
        let mut ix = Index {
            app: vec![Vec::new(); apps],
            master: vec![Vec::new(); apps],
            ..Index::default()
        };
        let candidates: Vec<Vec<Vec<Key>>> = rules.iter().map(candidate_keys).collect();
        let mut shared: FnvMap<&Key, usize> = FnvMap::default();
        let mut edge_first: FnvMap<u32, u32> = FnvMap::default();
        for dims in &candidates {
            for k in dims.iter().flatten() {
                *shared.entry(k).or_default() += 1;
            }
        }
        for (i, (r, dims)) in rules.iter().zip(&candidates).enumerate() {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            if r.names_critical() {
                ix.critical.push(i);
            }
            for &e in r.time_edges() {
                edge_first.entry(e).or_insert(i);
            }
            // Cost of a dimension: how many rules a flow hitting its keys would have to look at.
            let best = dims.iter().min_by_key(|keys| {
                keys.iter()
                    .map(|k| shared.get(k).copied().unwrap_or(0))
                    .sum::<usize>()
            });
            let mut tupled = false;
            match best {
                Some(keys) => {
                    for k in keys {
                        tupled |= matches!(k, Key::Port(_) | Key::Dst(..) | Key::Src(..));
                        ix.file(k, i);
                    }
                }
                None if r.needs_dpi() => ix.c_other.push(i),
                None => ix.t_other.push(i),
            }
            if r.needs_dpi() && !tupled {
                ix.c_untupled.push(i);
            }
        }
        ix.time_edges = edge_first.into_iter().collect();
        ix.time_edges.sort_unstable();
        ix
    }

    fn file(&mut self, k: &Key, i: u32) {
        let b = match k {
            Key::Port(p) => self.port.entry(*p).or_default(),
            Key::Dst(v6, len, net) => self.dst.bucket(*v6, *len, *net),
            Key::Src(v6, len, net) => self.src.bucket(*v6, *len, *net),
            Key::App(a) => match self.app.get_mut(usize::from(*a)) {
                Some(b) => b,
                None => return,
            },
            Key::Master(a) => match self.master.get_mut(usize::from(*a)) {
                Some(b) => b,
                None => return,
            },
            Key::HostExact(h) => self.host_exact.entry(h.clone()).or_default(),
            Key::HostSuffix(h) => self.host_suffix.entry(h.clone()).or_default(),
            Key::Category(c) => self.category.entry(c.clone()).or_default(),
        };
        push_unique(b, i);
    }

    /// The next minute of the week after `minute` (cyclically) where a rule with index ≤ `upto`
    /// changes its time match.
    pub(crate) fn next_edge(&self, minute: u32, upto: u32) -> Option<u32> {
        let split = self.time_edges.partition_point(|&(e, _)| e <= minute);
        let (before, after) = self.time_edges.split_at(split);
        after
            .iter()
            .chain(before)
            .find(|&&(_, first)| first <= upto)
            .map(|&(e, _)| e)
    }

    /// Calls `visit` with every bucket of tuple-only rules the flow may match.
    pub(crate) fn tuple_buckets(
        &self,
        l4_has_ports: bool,
        server_port: u16,
        src: IpAddr,
        dst: IpAddr,
        visit: &mut impl FnMut(&[u32]),
    ) {
        if l4_has_ports && let Some(b) = self.port.get(&server_port) {
            visit(b);
        }
        self.dst.lookup(dst, visit);
        self.src.lookup(src, visit);
        visit(&self.t_other);
    }

    /// Calls `visit` with every bucket of DPI rules a classified flow may match.
    pub(crate) fn class_buckets(
        &self,
        c: &crate::facts::ClassFacts<'_>,
        visit: &mut impl FnMut(&[u32]),
    ) {
        if let Some(b) = self.app.get(usize::from(c.app.0)) {
            visit(b);
        }
        if c.master != c.app
            && let Some(b) = self.app.get(usize::from(c.master.0))
        {
            visit(b);
        }
        if let Some(b) = self.master.get(usize::from(c.master.0)) {
            visit(b);
        }
        if let Some(h) = c.host {
            self.host_buckets(h, visit);
        }
        let mut buf = [0u8; MAX_CATEGORY_LEN];
        if let Some(cat) = lower(c.category, &mut buf)
            && let Some(b) = self.category.get(cat)
        {
            visit(b);
        }
        visit(&self.c_other);
    }

    fn host_buckets(&self, host: &str, visit: &mut impl FnMut(&[u32])) {
        // The name rules match (`host.rs`): a malformed host by its valid suffix, never exactly.
        let n = match_name(host.as_bytes());
        let mut buf = [0u8; MAX_HOST_LEN];
        let Some(h) = std::str::from_utf8(n.name)
            .ok()
            .and_then(|name| lower(name, &mut buf))
        else {
            return;
        };
        if n.whole
            && let Some(b) = self.host_exact.get(h)
        {
            visit(b);
        }
        if self.host_suffix.is_empty() {
            return;
        }
        if let Some(b) = self.host_suffix.get(h) {
            visit(b);
        }
        for (pos, _) in h.match_indices('.') {
            if let Some(b) = h.get(pos + 1..).and_then(|s| self.host_suffix.get(s)) {
                visit(b);
            }
        }
    }
}

/// The keys a rule could be filed under, one list per indexable dimension it has.
fn candidate_keys(r: &Rule) -> Vec<Vec<Key>> {
    let m = &r.m;
    let mut dims = Vec::new();
    let expanded: usize = m.ports.len()
        + m.port_ranges
            .iter()
            .map(|&(a, b)| usize::from(b - a) + 1)
            .sum::<usize>();
    if expanded > 0 && expanded <= MAX_EXPANDED_PORTS {
        let ranges = m.port_ranges.iter().flat_map(|&(a, b)| a..=b);
        dims.push(
            m.ports
                .iter()
                .copied()
                .chain(ranges)
                .map(Key::Port)
                .collect(),
        );
    }
    let net_key = |n: &ipnet::IpNet| {
        (
            n.addr().is_ipv6(),
            n.prefix_len(),
            masked(n.network(), n.prefix_len()),
        )
    };
    if !m.dst.is_empty() {
        dims.push(
            m.dst
                .iter()
                .map(|n| {
                    let (a, b, c) = net_key(n);
                    Key::Dst(a, b, c)
                })
                .collect(),
        );
    }
    if !m.src.is_empty() {
        dims.push(
            m.src
                .iter()
                .map(|n| {
                    let (a, b, c) = net_key(n);
                    Key::Src(a, b, c)
                })
                .collect(),
        );
    }
    if !m.apps.is_empty() {
        dims.push(m.apps.iter().map(|a| Key::App(a.0)).collect());
    }
    if !m.masters.is_empty() {
        dims.push(m.masters.iter().map(|a| Key::Master(a.0)).collect());
    }
    if !m.hosts.is_empty() && !m.hosts.iter().any(|h| matches!(h, HostPattern::Glob(_))) {
        dims.push(
            m.hosts
                .iter()
                .map(|h| match h {
                    HostPattern::Exact(s) => Key::HostExact(s.clone()),
                    HostPattern::Suffix(s) | HostPattern::Glob(s) => Key::HostSuffix(s.clone()),
                })
                .collect(),
        );
    }
    if !m.categories.is_empty() {
        dims.push(
            m.categories
                .iter()
                .map(|c| Key::Category(c.to_ascii_lowercase().into()))
                .collect(),
        );
    }
    dims
}

/// ASCII-lowercases `s` into `buf`; `None` when it does not fit.
fn lower<'b>(s: &str, buf: &'b mut [u8]) -> Option<&'b str> {
    let out = buf.get_mut(..s.len())?;
    out.copy_from_slice(s.as_bytes());
    out.make_ascii_lowercase();
    std::str::from_utf8(out).ok()
}

fn push_unique(b: &mut Bucket, i: u32) {
    if b.last() != Some(&i) {
        b.push(i);
    }
}

// === impl CidrIndex ===

impl CidrIndex {
    fn bucket(&mut self, v6: bool, len: u8, net: u128) -> &mut Bucket {
        let lens = if v6 {
            &mut self.v6_lens
        } else {
            &mut self.v4_lens
        };
        if !lens.contains(&len) {
            lens.push(len);
            lens.sort_unstable();
        }
        self.map.entry((v6, len, net)).or_default()
    }

    fn lookup(&self, ip: IpAddr, visit: &mut impl FnMut(&[u32])) {
        let (v6, lens) = match ip {
            IpAddr::V4(_) => (false, &self.v4_lens),
            IpAddr::V6(_) => (true, &self.v6_lens),
        };
        for &len in lens {
            if let Some(b) = self.map.get(&(v6, len, masked(ip, len))) {
                visit(b);
            }
        }
    }
}

/// The address's first `len` bits, as a number.
fn masked(ip: IpAddr, len: u8) -> u128 {
    match ip {
        IpAddr::V4(a) => {
            let bits = u32::from(a);
            let mask = u32::MAX
                .checked_shl(32 - u32::from(len.min(32)))
                .unwrap_or(0);
            u128::from(bits & mask)
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            let mask = u128::MAX
                .checked_shl(128 - u32::from(len.min(128)))
                .unwrap_or(0);
            bits & mask
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn masks() {
        let ip: IpAddr = "192.168.1.77".parse().unwrap();
        assert_eq!(masked(ip, 24), u128::from(0xc0a8_0100u32));
        assert_eq!(masked(ip, 0), 0);
        assert_eq!(masked(ip, 32), u128::from(0xc0a8_014du32));
        let ip6: IpAddr = "fd00:1::5".parse().unwrap();
        assert_eq!(masked(ip6, 16), 0xfd00u128 << 112);
    }

    #[test]
    fn lowercase_buffer() {
        let mut b = [0u8; 8];
        assert_eq!(lower("Media", &mut b), Some("media"));
        assert_eq!(lower("much too long", &mut b), None);
    }
}
