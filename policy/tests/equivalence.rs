//! Property: the indexed evaluation gives exactly the decision of a naive first-match scan, on random
//! rule files (written as TOML and parsed, so the parser is exercised too) and random flows built
//! from overlapping pools of apps, hosts, addresses, ports, interfaces, times and list files.

// Tests fail loudly on purpose: unwrap on test fixtures is the assertion. The explicit derefs pick
// `T = &str` for `Pick::one`.
#![allow(clippy::unwrap_used, clippy::explicit_auto_deref)]

use std::net::{IpAddr, SocketAddr};

use nfguard_policy::{ClassFacts, FlowFacts, Now, Policy, Usage};
use nfguard_proto::types::{AppId, FlowKey};
use proptest::prelude::*;

/// 2026-11-23 00:00 UTC, a Monday.
const MONDAY: u64 = 1_795_392_000;

const APPS: &[(&str, u16)] = &[
    ("TLS", 91),
    ("QUIC", 188),
    ("YouTube", 124),
    ("BitTorrent", 37),
    ("DNS", 5),
    ("HTTP", 7),
    ("Google", 126),
    ("DHCP", 18),
    ("ICMPV6", 102),
    ("Facebook", 119),
];
const HOST_PATTERNS: &[&str] = &[
    "*.a.test",
    "a.test",
    "b.a.test",
    "*.b.test",
    "c*.a.test",
    "x?.b.test",
    "*",
];
const HOSTS: &[&str] = &[
    "a.test",
    "x.a.test",
    "B.a.test",
    "c1.a.test",
    "xy.b.test",
    "b.test",
    "other.test",
    // Malformed (issue #20): matched by the valid suffix, exact patterns never.
    "x\\x00.b.a.test",
    "A.TEST.",
    "q\0.xy.b.test",
];
const CATEGORIES: &[&str] = &["Media", "Web", "Network", "Download", "Video"];
const NETS: &[&str] = &[
    "10.0.0.0/8",
    "10.1.0.0/16",
    "10.1.2.0/24",
    "10.1.2.3",
    "fd00::/8",
    "fd00:1::/32",
    "0.0.0.0/0",
    "::/0",
];
const IPS: &[&str] = &[
    "10.1.2.3",
    "10.1.9.9",
    "10.200.0.1",
    "192.168.0.1",
    "fd00:1::5",
    "fd00:2::5",
    "2001:db8::1",
];
const PORTS: &[u16] = &[23, 53, 67, 80, 443, 6881, 135, 50000];
const PORT_RANGES: &[&str] = &["6881-6889", "1-1024", "20000-60000"];
const L4S: &[(&str, u8)] = &[("tcp", 6), ("udp", 17), ("icmpv6", 58), ("icmp", 1)];
const IFACE_PATTERNS: &[&str] = &["lan0", "wan0", "wlan+"];
const IFACES: &[&str] = &["lan0", "wan0", "wlan1", ""];
const TIMES: &[&str] = &[
    "{ days = [\"mon\"], hours = \"08:00-18:00\" }",
    "{ hours = \"22:00-06:00\" }",
    "{ days = [\"sat\", \"sun\"] }",
    "{ days = [\"tue\", \"wed\"], hours = [\"00:00-01:00\", \"12:00-13:00\"] }",
];
const RISKS: &[&str] = &["r1", "r2", "r3"];
const JA4S: &[&str] = &[
    "t13d1516h2_8daaf6152771_02713d6af862",
    "t13d3112h2_e8f1e7e78f70_b26ce05bbdd6",
    "q13d0307h3_55b375c5d22e_1cecd519fee8",
];
/// List files the rules may name, in all formats (`host_list.rs`, `ip_list.rs`).
const LISTS: &[(&str, &str)] = &[
    ("hosts.txt", "0.0.0.0 a.test c1.a.test\n"),
    (
        "adblock.txt",
        "! ads\n||b.test^\n@@||xy.b.test^\n||x.test^$third-party\n",
    ),
    ("plain.txt", "a.test\nother.test\n"),
    (
        "ips.netset",
        "# level1\n10.1.0.0/16\nfd00:1::/32\n192.168.0.1\n",
    ),
    ("v6.netset", "2001:db8::/32\n10.200.0.0/24 ; SBL1\n"),
];
const HOST_LISTS: &[&str] = &["hosts.txt", "adblock.txt", "plain.txt"];
const IP_LISTS: &[&str] = &["ips.netset", "v6.netset"];

/// splitmix64: a deterministic stream of choices from one proptest seed.
struct Pick(u64);

impl Pick {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
    fn one<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
    /// A TOML list of 1–2 values.
    fn list<T>(&mut self, xs: &[T], show: impl Fn(&T) -> String) -> String {
        let n = 1 + self.below(2);
        let items: Vec<String> = (0..n).map(|_| show(self.one(xs))).collect();
        format!("[{}]", items.join(", "))
    }
}

fn quoted(s: &&str) -> String {
    format!("\"{s}\"")
}

fn rule_text(i: usize, seed: u64) -> String {
    let mut p = Pick(seed);
    let mut t = format!("[[rule]]\nname = \"r{i}\"\n");
    // Each matcher appears with probability 1/4 (app a bit more often, to reach the indexes).
    if p.chance(3) {
        t += &format!("app = {}\n", p.list(APPS, |a| quoted(&a.0)));
    }
    if p.chance(6) {
        t += &format!("master = {}\n", p.list(APPS, |a| quoted(&a.0)));
    }
    if p.chance(4) {
        t += &format!("host = {}\n", p.list(HOST_PATTERNS, quoted));
    }
    if p.chance(5) {
        t += &format!("category = {}\n", p.list(CATEGORIES, quoted));
    }
    if p.chance(4) {
        t += &format!("src = {}\n", p.list(NETS, quoted));
    }
    if p.chance(4) {
        t += &format!("dst = {}\n", p.list(NETS, quoted));
    }
    if p.chance(3) {
        t += &format!("port = {}\n", p.list(PORTS, |x| x.to_string()));
    }
    if p.chance(6) {
        t += &format!("port_range = {}\n", p.list(PORT_RANGES, quoted));
    }
    if p.chance(5) {
        t += &format!("l4 = {}\n", p.list(L4S, |l| quoted(&l.0)));
    }
    if p.chance(6) {
        t += &format!("in_iface = {}\n", p.list(IFACE_PATTERNS, quoted));
    }
    if p.chance(8) {
        t += &format!("out_iface = {}\n", p.list(IFACE_PATTERNS, quoted));
    }
    if p.chance(8) {
        t += &format!("queue = {}\n", p.list(&[0u16, 1, 2], |x| x.to_string()));
    }
    if p.chance(6) {
        t += &format!("time = {}\n", p.one(TIMES));
    }
    if p.chance(8) {
        t += &format!("risk = {}\n", p.list(RISKS, quoted));
    }
    if p.chance(8) {
        t += &format!("ja4 = {}\n", p.list(JA4S, quoted));
    }
    if p.chance(8) {
        t += &format!("ech = {}\n", p.chance(2));
    }
    if p.chance(5) {
        t += &format!("host_list = {}\n", p.list(HOST_LISTS, quoted));
    }
    if p.chance(6) {
        t += &format!("ip_list = {}\n", p.list(IP_LISTS, quoted));
    }
    let action = *p.one(&["accept", "drop", "reject", "shape"]);
    t += &format!("action = \"{action}\"\n");
    if action == "shape" {
        t += "rate = \"2mbit\"\n";
    }
    if p.chance(6) {
        t += "quota = \"1MB/day\"\n";
        if p.chance(2) {
            t += "over_quota = \"drop\"\n";
        } else {
            t += "over_quota = \"shape\"\nover_quota_rate = \"1mbit\"\n";
        }
    }
    if p.chance(5) {
        t += "mark = 0x100\nlog = true\n";
    }
    t
}

fn policy_text(default: usize, monitor: bool, seeds: &[u64]) -> String {
    let mut t = format!(
        "default = \"{}\"\nmode = \"{}\"\n",
        ["accept", "drop", "reject"][default % 3],
        if monitor { "monitor" } else { "enforce" }
    );
    for (i, s) in seeds.iter().enumerate() {
        t += &rule_text(i, *s);
    }
    t
}

/// master, app, category, host, risks, JA4, ECH.
type OwnedClass = (
    u16,
    u16,
    &'static str,
    Option<String>,
    Vec<String>,
    Option<&'static str>,
    bool,
);

/// Owned parts of one random flow (the facts borrow them).
struct Flow {
    key: FlowKey,
    in_iface: &'static str,
    out_iface: &'static str,
    queue: u16,
    class: Option<OwnedClass>,
    now: Now,
}

fn flow(seed: u64) -> Flow {
    let mut p = Pick(seed);
    let v6 = p.chance(2);
    let ip = |p: &mut Pick| -> IpAddr {
        loop {
            let ip: IpAddr = p.one(IPS).parse().unwrap();
            if ip.is_ipv6() == v6 {
                return ip;
            }
        }
    };
    let l4 = p.one(L4S).1;
    let port = if p.chance(4) {
        (p.next() % 65536) as u16
    } else {
        *p.one(PORTS)
    };
    let client = SocketAddr::new(ip(&mut p), *p.one(&[0u16, 53, 68, 40000]));
    let server = SocketAddr::new(ip(&mut p), port);
    let class = p.chance(2).then(|| {
        let id = |p: &mut Pick| if p.chance(5) { 0 } else { p.one(APPS).1 };
        let master = id(&mut p);
        let app = id(&mut p);
        let host = (!p.chance(4)).then(|| p.one(HOSTS).to_string());
        let n = p.below(3);
        let risks = (0..n).map(|_| p.one(RISKS).to_string()).collect();
        let ja4 = p.chance(2).then(|| *p.one(JA4S));
        (
            master,
            app,
            *p.one(CATEGORIES),
            host,
            risks,
            ja4,
            p.chance(3),
        )
    });
    let offset = *p.one(&[0i32, 3600, -18_000]);
    Flow {
        key: FlowKey { client, server, l4 },
        in_iface: *p.one(IFACES),
        out_iface: *p.one(IFACES),
        queue: (p.next() % 3) as u16,
        class,
        now: Now {
            unix_s: MONDAY + p.next() % (14 * 86_400),
            utc_offset_s: offset,
        },
    }
}

fn facts(f: &Flow) -> FlowFacts<'_> {
    FlowFacts {
        key: f.key,
        in_iface: f.in_iface,
        out_iface: f.out_iface,
        queue: f.queue,
        class: f
            .class
            .as_ref()
            .map(|(m, a, cat, host, risks, ja4, ech)| ClassFacts {
                master: AppId(*m),
                app: AppId(*a),
                category: cat,
                host: host.as_deref(),
                risks,
                ja4: *ja4,
                ech: *ech,
            }),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn indexed_equals_naive_first_match(
        default in 0usize..3,
        monitor in any::<bool>(),
        rules in prop::collection::vec(any::<u64>(), 0..40),
        flows in prop::collection::vec(any::<u64>(), 1..30),
        over_quota in any::<bool>(),
    ) {
        let text = policy_text(default, monitor, &rules);
        let mut read = |name: &str| {
            LISTS
                .iter()
                .find(|l| l.0 == name)
                .map(|l| l.1.to_string())
                .ok_or_else(|| "no such list".to_string())
        };
        let policy = Policy::parse_with_lists("policy.toml", &text, 0xff00, &mut read)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        for seed in flows {
            let f = flow(seed);
            let mut usage = Usage::empty();
            if over_quota {
                usage.set(f.key.client.ip(), 2_000_000, 2_000_000, 2_000_000);
            }
            let ff = facts(&f);
            let fast = policy.decide(&ff, f.now, &usage);
            let naive = policy.decide_naive(&ff, f.now, &usage);
            prop_assert_eq!(&fast, &naive, "flow {:?}\npolicy:\n{}", ff, text);
        }
    }
}
