//! `ip_list = "lists/firehol_level1.netset"`: a file of addresses and networks (FireHOL netsets,
//! Spamhaus DROP, plain lists), one per line, IPv4 and IPv6 mixed, compiled into sorted, merged
//! ranges searched by bisection; a large IPv4 list also keeps where each /16 starts among its
//! ranges (256 KiB), so a lookup bisects a handful of ranges, not all of them.
//!
//! A line is an address (`192.0.2.1`, a /32 or /128) or a CIDR (`198.51.100.0/24`), followed by an
//! optional comment (`#`, or `;` as Spamhaus writes); host bits are ignored, as `ipset` does.
//! Comments and blank lines are skipped silently; other lines are skipped and reported like a host
//! list's, and a file with lines but no usable entry is an error.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::host_list::Skipped;

/// IPv4 ranges above which the /16 index pays for its 256 KiB.
const INDEXED: usize = 4096;

/// Inclusive ranges, sorted and disjoint.
#[derive(Debug, Clone, Default)]
pub(crate) struct IpList {
    v4: Vec<(u32, u32)>,
    /// With more than [`INDEXED`] v4 ranges: entry `k` is the first range ending at or after
    /// `k << 16` (65,537 entries).
    v4_index: Vec<u32>,
    v6: Vec<(u128, u128)>,
    /// Lines read as entries (before merging).
    #[cfg_attr(not(test), allow(dead_code))]
    entries: usize,
}

impl IpList {
    /// Reads list text; `file` names it in messages.
    pub(crate) fn parse(file: &str, text: &str) -> Result<(IpList, Skipped), String> {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        let mut skipped = Skipped::default();
        for (n, line) in text.lines().enumerate() {
            let word = line.split(['#', ';']).next().unwrap_or("").trim();
            if word.is_empty() {
                continue;
            }
            let net = match word.parse::<IpAddr>() {
                Ok(ip) => IpNet::from(ip),
                Err(_) => match word.parse::<IpNet>() {
                    Ok(net) => net,
                    Err(_) => {
                        skipped.push(file, n + 1, &format!("invalid address or CIDR {word:?}"));
                        continue;
                    }
                },
            };
            match net {
                IpNet::V4(n) => v4.push((u32::from(n.network()), u32::from(n.broadcast()))),
                IpNet::V6(n) => v6.push((u128::from(n.network()), u128::from(n.broadcast()))),
            }
        }
        let entries = v4.len() + v6.len();
        if entries == 0 && skipped.count > 0 {
            return Err(format!(
                "{file}: no usable entry in {} lines (the first: {})",
                skipped.count,
                skipped.messages.first().map_or("", String::as_str)
            ));
        }
        let v4 = merge(v4);
        let v4_index = if v4.len() > INDEXED {
            (0..=1u64 << 16)
                .map(|k| {
                    let i = v4.partition_point(|&(_, b)| u64::from(b) < k << 16);
                    u32::try_from(i).unwrap_or(u32::MAX)
                })
                .collect()
        } else {
            Vec::new()
        };
        Ok((
            IpList {
                v4,
                v4_index,
                v6: merge(v6),
                entries,
            },
            skipped,
        ))
    }

    /// Entries read (a network counts once, however it merged).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries
    }

    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => self.within_v4(u32::from(a)),
            IpAddr::V6(a) => within(&self.v6, u128::from(a)),
        }
    }
}

impl IpList {
    /// The range holding `x` starts at or before the one the next /16's entry names (ranges are
    /// disjoint), and ends at or after this /16's.
    fn within_v4(&self, x: u32) -> bool {
        let k = usize::try_from(x >> 16).unwrap_or(0);
        let (Some(&lo), Some(&hi)) = (self.v4_index.get(k), self.v4_index.get(k + 1)) else {
            return within(&self.v4, x);
        };
        let lo = usize::try_from(lo).unwrap_or(usize::MAX);
        let hi = usize::try_from(hi)
            .unwrap_or(usize::MAX)
            .saturating_add(1)
            .min(self.v4.len());
        self.v4.get(lo..hi).is_some_and(|r| within(r, x))
    }
}

/// Sorts and merges overlapping or adjacent ranges.
fn merge<T: Copy + Ord + num::Step>(mut r: Vec<(T, T)>) -> Vec<(T, T)> {
    r.sort_unstable();
    let mut out: Vec<(T, T)> = Vec::with_capacity(r.len());
    for (a, b) in r {
        match out.last_mut() {
            Some(last) if a <= last.1.next_or_max() => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out.shrink_to_fit();
    out
}

fn within<T: Copy + Ord>(r: &[(T, T)], x: T) -> bool {
    let i = r.partition_point(|&(a, _)| a <= x);
    i.checked_sub(1)
        .and_then(|i| r.get(i))
        .is_some_and(|&(_, b)| x <= b)
}

/// `x + 1`, saturating: what "adjacent" needs for both widths.
mod num {
    pub(crate) trait Step {
        fn next_or_max(self) -> Self;
    }
    impl Step for u32 {
        fn next_or_max(self) -> u32 {
            self.saturating_add(1)
        }
    }
    impl Step for u128 {
        fn next_or_max(self) -> u128 {
            self.saturating_add(1)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn netset_with_comments_and_both_families() {
        let (l, s) = IpList::parse(
            "lists/level1.netset",
            "#\n# firehol_level1\n#\n0.0.0.0/8\n192.0.2.1\n198.51.100.0/24 ; SBL0001\n2001:db8::/32\n10.1.2.3/8\n",
        )
        .unwrap();
        assert_eq!(s.count, 0);
        assert_eq!(l.len(), 5);
        for yes in [
            "0.1.2.3",
            "192.0.2.1",
            "198.51.100.255",
            "2001:db8::1",
            "10.200.0.1",
        ] {
            assert!(l.contains(ip(yes)), "{yes}");
        }
        for no in [
            "192.0.2.2",
            "198.51.101.0",
            "2001:db9::1",
            "11.0.0.0",
            "::1",
        ] {
            assert!(!l.contains(ip(no)), "{no}");
        }
    }

    #[test]
    fn bad_lines_are_reported() {
        let (l, s) = IpList::parse("l.netset", "192.0.2.0/24\n300.1.1.1\n1.2.3.0/33\n").unwrap();
        assert!(l.contains(ip("192.0.2.9")));
        assert_eq!(
            s.messages,
            [
                "l.netset:2: invalid address or CIDR \"300.1.1.1\", line skipped",
                "l.netset:3: invalid address or CIDR \"1.2.3.0/33\", line skipped"
            ]
        );
        assert_eq!(
            IpList::parse("page.html", "<html>\n</html>\n").unwrap_err(),
            "page.html: no usable entry in 2 lines (the first: page.html:1: invalid address or CIDR \"<html>\", line skipped)"
        );
    }

    #[test]
    fn merging_keeps_edges() {
        let (l, _) = IpList::parse(
            "l",
            "10.0.0.0/25\n10.0.0.128/25\n10.0.0.0/24\n255.255.255.255\n0.0.0.0\n",
        )
        .unwrap();
        assert_eq!(
            l.v4,
            [(0, 0), (0x0a00_0000, 0x0a00_00ff), (u32::MAX, u32::MAX)]
        );
        assert!(l.contains(ip("255.255.255.255")) && l.contains(ip("0.0.0.0")));
        assert!(!l.contains(ip("10.0.1.0")));
    }

    /// The /16 index agrees with plain bisection on a list large enough to have it.
    #[test]
    fn indexed_lookup_equals_bisection() {
        let mut x: u32 = 0x9e37_79b9;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        };
        let mut text = String::new();
        for i in 0..6000u32 {
            let len = [32, 28, 24, 20, 12][(i % 5) as usize];
            let a = std::net::Ipv4Addr::from(next());
            text += &format!("{}\n", ipnet::Ipv4Net::new(a, len).unwrap().trunc());
        }
        text += "255.255.255.0/24\n0.0.0.0/16\n";
        let (l, _) = IpList::parse("l", &text).unwrap();
        assert!(!l.v4_index.is_empty());
        for _ in 0..200_000 {
            let p = next();
            assert_eq!(l.within_v4(p), within(&l.v4, p), "{p:#x}");
        }
        for p in [0, 0xffff, 0x1_0000, u32::MAX, 0xffff_fe00, 0xffff_ff00] {
            assert_eq!(l.within_v4(p), within(&l.v4, p), "{p:#x}");
        }
    }

    proptest! {
        /// Bisection over merged ranges == any entry contains the address.
        #[test]
        fn compiled_equals_naive(
            nets in prop::collection::vec((any::<u32>(), 8u8..=32), 0..40),
            probes in prop::collection::vec(any::<u32>(), 1..40),
        ) {
            let nets: Vec<ipnet::Ipv4Net> = nets
                .iter()
                .map(|&(a, len)| ipnet::Ipv4Net::new(a.into(), len).unwrap().trunc())
                .collect();
            let text: String = nets.iter().map(|n| format!("{n}\n")).collect();
            let (l, _) = IpList::parse("l", &text).unwrap();
            // Probe near the edges too.
            let edges = nets.iter().flat_map(|n| {
                let (a, b) = (u32::from(n.network()), u32::from(n.broadcast()));
                [a, b, a.wrapping_sub(1), b.wrapping_add(1)]
            });
            for p in probes.into_iter().chain(edges) {
                let a = std::net::Ipv4Addr::from(p);
                let naive = nets.iter().any(|n| n.contains(&a));
                prop_assert_eq!(l.contains(IpAddr::V4(a)), naive, "{}", a);
            }
        }
    }
}
