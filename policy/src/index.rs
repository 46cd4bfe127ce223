//! Indexes over the rule list so a decision looks at a handful of rules, not all of them.
//!
//! Each rule is filed under one *primary* key: tuple-only rules by server port, destination CIDR,
//! source CIDR (else "other"); DPI rules by app id, master id, host name or suffix, category (else
//! "other"). Every bucket is a sorted list of rule indexes. A lookup scans each bucket the flow hits
//! in order, stopping at its first full match or at the best index found so far; the smallest index
//! over all buckets is the first match in file order, exactly what a linear scan would find.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::IpAddr;

use nfguard_proto::protocols;

use crate::host::{HostPattern, MAX_HOST_LEN};
use crate::rule::Rule;

/// Port ranges wider than this are not expanded into port buckets (the rule goes to another bucket).
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

/// Sorted rule indexes.
type Bucket = Vec<u32>;

/// Networks of one direction (source or destination), keyed by (family, prefix length, network).
#[derive(Debug, Default)]
struct CidrIndex {
    v4_lens: Vec<u8>,
    v6_lens: Vec<u8>,
    map: FnvMap<(bool, u8, u128), Bucket>,
}

/// The compiled indexes of one policy.
#[derive(Debug, Default)]
pub(crate) struct Index {
    t_port: FnvMap<u16, Bucket>,
    t_src: CidrIndex,
    t_dst: CidrIndex,
    t_other: Bucket,
    c_app: Vec<Bucket>,
    c_master: Vec<Bucket>,
    c_host_exact: FnvMap<Box<str>, Bucket>,
    c_host_suffix: FnvMap<Box<str>, Bucket>,
    c_host_other: Bucket,
    c_category: FnvMap<Box<str>, Bucket>,
    c_other: Bucket,
    /// Every rule that needs DPI (tuple-only requests: the first one whose tuple half matches means
    /// "needs DPI").
    pub c_all: Bucket,
    /// Rules that name a critical app (DNS, DHCP, DHCPV6, ICMPV6).
    pub critical: Bucket,
    /// Rules with a `time` matcher (for `valid_until`).
    pub time_rules: Bucket,
}

impl Index {
    pub(crate) fn build(rules: &[Rule]) -> Index {
        let apps = protocols::all().count();
        let mut ix = Index {
            c_app: vec![Vec::new(); apps],
            c_master: vec![Vec::new(); apps],
            ..Index::default()
        };
        for (i, r) in rules.iter().enumerate() {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            if r.names_critical() {
                ix.critical.push(i);
            }
            if r.has_time() {
                ix.time_rules.push(i);
            }
            if r.needs_dpi() {
                ix.c_all.push(i);
                ix.file_class(i, r);
            } else {
                ix.file_tuple(i, r);
            }
        }
        ix
    }

    fn file_tuple(&mut self, i: u32, r: &Rule) {
        let m = &r.m;
        let expanded: usize = m.ports.len()
            + m.port_ranges
                .iter()
                .map(|&(a, b)| usize::from(b - a) + 1)
                .sum::<usize>();
        if expanded > 0 && expanded <= MAX_EXPANDED_PORTS {
            let ranges = m.port_ranges.iter().flat_map(|&(a, b)| a..=b);
            for p in m.ports.iter().copied().chain(ranges) {
                push_unique(self.t_port.entry(p).or_default(), i);
            }
        } else if !m.dst.is_empty() {
            self.t_dst.insert(&m.dst, i);
        } else if !m.src.is_empty() {
            self.t_src.insert(&m.src, i);
        } else {
            self.t_other.push(i);
        }
    }

    fn file_class(&mut self, i: u32, r: &Rule) {
        let m = &r.m;
        if !m.apps.is_empty() {
            for a in &m.apps {
                if let Some(b) = self.c_app.get_mut(usize::from(a.0)) {
                    push_unique(b, i);
                }
            }
        } else if !m.masters.is_empty() {
            for a in &m.masters {
                if let Some(b) = self.c_master.get_mut(usize::from(a.0)) {
                    push_unique(b, i);
                }
            }
        } else if !m.hosts.is_empty() {
            if m.hosts.iter().any(|h| matches!(h, HostPattern::Glob(_))) {
                self.c_host_other.push(i);
            } else {
                for h in &m.hosts {
                    match h {
                        HostPattern::Exact(s) => {
                            push_unique(self.c_host_exact.entry(s.clone()).or_default(), i)
                        }
                        HostPattern::Suffix(s) => {
                            push_unique(self.c_host_suffix.entry(s.clone()).or_default(), i)
                        }
                        HostPattern::Glob(_) => {}
                    }
                }
            }
        } else if !m.categories.is_empty() {
            for c in &m.categories {
                let key: Box<str> = c.to_ascii_lowercase().into();
                push_unique(self.c_category.entry(key).or_default(), i);
            }
        } else {
            self.c_other.push(i);
        }
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
        if l4_has_ports {
            if let Some(b) = self.t_port.get(&server_port) {
                visit(b);
            }
        }
        self.t_dst.lookup(dst, visit);
        self.t_src.lookup(src, visit);
        visit(&self.t_other);
    }

    /// Calls `visit` with every bucket of DPI rules a classified flow may match.
    pub(crate) fn class_buckets(
        &self,
        c: &crate::facts::ClassFacts<'_>,
        visit: &mut impl FnMut(&[u32]),
    ) {
        if let Some(b) = self.c_app.get(usize::from(c.app.0)) {
            visit(b);
        }
        if c.master != c.app {
            if let Some(b) = self.c_app.get(usize::from(c.master.0)) {
                visit(b);
            }
        }
        if let Some(b) = self.c_master.get(usize::from(c.master.0)) {
            visit(b);
        }
        if let Some(h) = c.host {
            self.host_buckets(h, visit);
        }
        visit(&self.c_host_other);
        let mut buf = [0u8; MAX_CATEGORY_LEN];
        if let Some(cat) = lower(c.category, &mut buf) {
            if let Some(b) = self.c_category.get(cat) {
                visit(b);
            }
        }
        visit(&self.c_other);
    }

    fn host_buckets(&self, host: &str, visit: &mut impl FnMut(&[u32])) {
        let host = host.strip_suffix('.').unwrap_or(host);
        let mut buf = [0u8; MAX_HOST_LEN];
        let owned;
        let h: &str = match lower(host, &mut buf) {
            Some(h) => h,
            None => {
                // Longer than any DNS name: hostile, rare; allocation is fine here.
                owned = host.to_ascii_lowercase();
                &owned
            }
        };
        if let Some(b) = self.c_host_exact.get(h) {
            visit(b);
        }
        if self.c_host_suffix.is_empty() {
            return;
        }
        if let Some(b) = self.c_host_suffix.get(h) {
            visit(b);
        }
        for (pos, _) in h.match_indices('.') {
            if let Some(b) = h.get(pos + 1..).and_then(|s| self.c_host_suffix.get(s)) {
                visit(b);
            }
        }
    }
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
    fn insert(&mut self, nets: &[ipnet::IpNet], i: u32) {
        for n in nets {
            let len = n.prefix_len();
            let (v6, lens) = match n {
                ipnet::IpNet::V4(_) => (false, &mut self.v4_lens),
                ipnet::IpNet::V6(_) => (true, &mut self.v6_lens),
            };
            if !lens.contains(&len) {
                lens.push(len);
                lens.sort_unstable();
            }
            push_unique(
                self.map
                    .entry((v6, len, masked(n.network(), len)))
                    .or_default(),
                i,
            );
        }
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
