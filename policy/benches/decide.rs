//! Decisions per second on one core with 10,000 rules: `cargo bench -p nfguard-policy`.
//!
//! The rule mix is what a large deployment writes: per-site host rules (exact and `*.` suffix),
//! per-app rules (some limited to a subnet), per-subnet and per-address rules, port rules, category
//! rules and a few time windows; flows are classified (the common request) or tuple-only.
//!
//! Then the same with a 1,000,000-entry host list (hosts-file, plain and AdBlock lines) and a
//! 100,000-network ip list named by the first two rules, so every decision looks both up: the
//! list's load time, the memory it adds per entry (counted by a global allocator) and the rate.

// Tests fail loudly on purpose: unwrap on test fixtures is the assertion.
#![allow(clippy::unwrap_used, clippy::field_reassign_with_default)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Instant;

use nfguard_policy::{Action, ClassFacts, FlowFacts, Now, Policy, Usage};
use nfguard_proto::types::{AppId, FlowKey};

/// Live heap bytes, for the memory a list adds.
struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator; only counts.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const RULES: usize = 10_000;
const LIST_NAMES: usize = 1_000_000;
const LIST_NETS: usize = 100_000;
const FLOWS: usize = 4096;
const ROUNDS: usize = 250;
/// 2026-11-23 12:00 UTC, a Monday.
const NOON: u64 = 1_795_392_000 + 12 * 3600;

/// The rule file; with `tuple_first`, the rules that need no DPI come first (ports, addresses), so
/// tuple-only requests get final answers instead of "needs DPI".
fn rules(tuple_first: bool) -> String {
    let apps = [
        "YouTube",
        "Netflix",
        "BitTorrent",
        "Facebook",
        "Google",
        "Skype_Teams",
        "Zoom",
        "Spotify",
    ];
    let cats = [
        "Media",
        "Video",
        "Streaming",
        "Download",
        "SocialNetwork",
        "Game",
    ];
    let mut t = String::from("default = \"accept\"\n");
    let mut order: Vec<usize> = (0..RULES).collect();
    if tuple_first {
        order.sort_by_key(|i| !matches!(i % 10, 5 | 6 | 7 | 9));
    }
    for i in order {
        t += &format!("[[rule]]\nname = \"r{i}\"\n");
        match i % 10 {
            0..=2 => t += &format!("host = \"site{i}.example.test\"\n"),
            3 => t += &format!("host = \"*.zone{i}.test\"\n"),
            4 => {
                t += &format!(
                    "app = \"{}\"\nsrc = \"10.{}.{}.0/24\"\n",
                    apps[i % apps.len()],
                    i / 256 % 256,
                    i % 256
                )
            }
            5 => t += &format!("src = \"10.{}.{}.0/24\"\n", i / 256 % 256, i % 256),
            6 => {
                t += &format!(
                    "dst = \"198.{}.{}.{}\"\n",
                    18 + i / 65536 % 2,
                    i / 256 % 256,
                    i % 256
                )
            }
            7 => t += &format!("port = {}\nl4 = \"tcp\"\n", 1000 + i),
            8 => {
                t += &format!(
                    "category = \"{}\"\nsrc = \"172.16.{}.0/24\"\n",
                    cats[i % cats.len()],
                    i % 256
                )
            }
            _ => {
                t += &format!(
                    "dst = \"2001:db8::{:x}\"\ntime = {{ days = [\"sat\"], hours = \"08:00-09:00\" }}\n",
                    i
                )
            }
        }
        t += &format!("action = \"{}\"\n", ["accept", "drop", "reject"][i % 3]);
    }
    t
}

struct Flow {
    key: FlowKey,
    master: u16,
    app: u16,
    category: &'static str,
    host: String,
}

fn flows() -> Vec<Flow> {
    let mut x: u64 = 0x1234_5678;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let cats = ["Media", "Web", "Video", "Download", "Network"];
    (0..FLOWS)
        .map(|_| {
            let r = next();
            let client = IpAddr::V4(Ipv4Addr::new(
                10,
                (r % 40) as u8,
                (r >> 8) as u8,
                (r >> 16) as u8,
            ));
            let server = IpAddr::V4(Ipv4Addr::new(198, 18, (r >> 24) as u8, (r >> 32) as u8));
            let host = match r % 4 {
                0 => format!("site{}.example.test", (r >> 40) % (RULES as u64 * 2)),
                1 => format!("www.zone{}.test", (r >> 40) % (RULES as u64)),
                2 => format!("cdn{}.other.test", r >> 40),
                _ => String::new(),
            };
            Flow {
                key: FlowKey {
                    client: SocketAddr::new(client, 40000),
                    server: SocketAddr::new(server, [443, 80, 1500, 8443][(r >> 44) as usize % 4]),
                    l4: 6,
                },
                master: [91, 7, 188][(r >> 50) as usize % 3],
                app: [0, 124, 133, 37, 119, 126][(r >> 52) as usize % 6],
                category: cats[(r >> 56) as usize % cats.len()],
                host,
            }
        })
        .collect()
}

fn facts(f: &Flow, classified: bool) -> FlowFacts<'_> {
    FlowFacts {
        key: f.key,
        in_iface: "lan0",
        out_iface: "wan0",
        queue: 0,
        class: classified.then(|| ClassFacts {
            master: AppId(f.master),
            app: AppId(f.app),
            category: f.category,
            host: (!f.host.is_empty()).then_some(f.host.as_str()),
            risks: &[],
            ja4: None,
            ech: false,
        }),
    }
}

fn run(policy: &Policy, flows: &[Flow], classified: bool, naive: bool) -> (f64, [usize; 5]) {
    let usage = Usage::empty();
    let now = Now::utc(NOON);
    let facts: Vec<FlowFacts<'_>> = flows.iter().map(|f| facts(f, classified)).collect();
    let rounds = if naive { 2 } else { ROUNDS };
    let mut counts = [0usize; 5];
    let start = Instant::now();
    for _ in 0..rounds {
        for f in &facts {
            let d = if naive {
                policy.decide_naive(black_box(f), now, &usage)
            } else {
                policy.decide(black_box(f), now, &usage)
            };
            counts[d.action as usize] += 1;
            black_box(d);
        }
    }
    let n = (rounds * facts.len()) as f64;
    (n / start.elapsed().as_secs_f64(), counts)
}

/// A 1,000,000-name list: a third hosts-file lines, a third plain domains, a third AdBlock rules,
/// names like real ad and tracker hosts (two to four labels, 15–30 characters).
fn host_list_text() -> String {
    let mut t = String::with_capacity(LIST_NAMES * 32);
    t += "# bench list\n! mixed formats\n";
    for i in 0..LIST_NAMES {
        let name = format!("ads{i}.tracker{}.example.test", i % 977);
        match i % 3 {
            0 => t += &format!("0.0.0.0 {name}\n"),
            1 => t += &format!("{name}\n"),
            _ => t += &format!("||{name}^\n"),
        }
    }
    t
}

/// 100,000 /24 and /32 networks in 203.0.0.0/8 and 100.64.0.0/10, as a FireHOL netset.
fn ip_list_text() -> String {
    let mut t = String::from("# bench netset\n");
    for i in 0..LIST_NETS as u32 {
        if i % 2 == 0 {
            t += &format!("203.{}.{}.0/24\n", i / 256 % 256, i % 256);
        } else {
            let a = 0x6440_0000u32 + i * 7;
            t += &format!("{}\n", Ipv4Addr::from(a));
        }
    }
    t
}

/// Flows whose hosts are listed one time in eight (the rest miss every subdomain step).
fn listed_flows(mut flows: Vec<Flow>) -> Vec<Flow> {
    for (i, f) in flows.iter_mut().enumerate() {
        if i % 8 == 0 {
            f.host = format!("x.ads{}.tracker{}.example.test", i * 31, (i * 31) % 977);
        } else if f.host.is_empty() && i % 2 == 0 {
            f.host = format!("www.site{i}.example.test");
        }
    }
    flows
}

fn bench_lists(flows: Vec<Flow>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ads.txt"), host_list_text()).unwrap();
    std::fs::write(dir.path().join("level1.netset"), ip_list_text()).unwrap();
    let head = "default = \"accept\"\n[[rule]]\nname = \"ads\"\nhost_list = \"ads.txt\"\naction = \"reject\"\n\
                [[rule]]\nname = \"bad-ips\"\nip_list = \"level1.netset\"\naction = \"drop\"\n";
    let text = format!(
        "{head}{}",
        rules(false).trim_start_matches("default = \"accept\"\n")
    );
    let m0 = LIVE.load(Ordering::Relaxed);
    let plain = Policy::parse("bench.toml", &rules(false), 0xff00).unwrap();
    let base = LIVE.load(Ordering::Relaxed) - m0;
    let m1 = LIVE.load(Ordering::Relaxed);
    let t0 = Instant::now();
    let p = Policy::parse_in(dir.path(), "bench.toml", &text, 0xff00).unwrap();
    let load = t0.elapsed();
    let added = LIVE.load(Ordering::Relaxed) - m1 - base;
    assert!(p.warnings().is_empty(), "{:?}", p.warnings());
    println!(
        "loaded {RULES} rules + {LIST_NAMES}-name host list + {LIST_NETS}-net ip list in {:.0} ms; \
         the lists add {:.1} MB ({:.1} B per host-list entry, the ip list's bytes included)",
        load.as_secs_f64() * 1e3,
        added as f64 / 1e6,
        added as f64 / LIST_NAMES as f64,
    );
    let flows = listed_flows(flows);
    for (name, p, classified) in [
        ("same flows, no lists", &plain, true),
        ("lists, classified", &p, true),
        ("lists, tuple-only", &p, false),
    ] {
        let (rate, c) = run(p, &flows, classified, false);
        println!(
            "{name:<24} {:>10.0} decisions/s ({:.0} ns each)  accept {} drop {} reject {} needs_dpi {}",
            rate,
            1e9 / rate,
            c[Action::Accept as usize],
            c[Action::Drop as usize],
            c[Action::Reject as usize],
            c[Action::NeedsDpi as usize],
        );
    }
}

fn main() {
    let t0 = Instant::now();
    let policy = Policy::parse("bench.toml", &rules(false), 0xff00).expect("bench rules are valid");
    println!(
        "compiled {RULES} rules in {:.1} ms",
        t0.elapsed().as_secs_f64() * 1e3
    );
    let tuple_first =
        Policy::parse("bench.toml", &rules(true), 0xff00).expect("bench rules are valid");
    let flows = flows();
    for (name, p, classified, naive) in [
        ("classified, indexed", &policy, true, false),
        ("tuple-only, indexed", &policy, false, false),
        ("tuple-only, tuple first", &tuple_first, false, false),
        ("classified, tuple first", &tuple_first, true, false),
        ("classified, naive scan", &policy, true, true),
    ] {
        let (rate, c) = run(p, &flows, classified, naive);
        println!(
            "{name:<24} {:>10.0} decisions/s ({:.0} ns each)  accept {} drop {} reject {} shape {} needs_dpi {}",
            rate,
            1e9 / rate,
            c[Action::Accept as usize],
            c[Action::Drop as usize],
            c[Action::Reject as usize],
            c[Action::Shape as usize],
            c[Action::NeedsDpi as usize],
        );
    }
    drop((policy, tuple_first));
    bench_lists(flows);
}
