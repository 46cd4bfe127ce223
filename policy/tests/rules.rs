//! Matchers and actions through the public API: one test per matcher and per action, each on a flow
//! that matches and one that does not. Every decision is also checked against the naive scan.

// Tests fail loudly on purpose: unwrap on test fixtures is the assertion.
#![allow(clippy::unwrap_used, clippy::field_reassign_with_default)]

use std::net::SocketAddr;

use nfguard_policy::{Action, ClassFacts, Decision, FlowFacts, Now, Policy, Reason, Usage};
use nfguard_proto::types::{AppId, FlowKey, Verdict};

/// 2026-11-23 00:00 UTC, a Monday.
const MONDAY: u64 = 1_795_392_000;
const MASK: u32 = 0xff00;

fn policy(rules: &str) -> Policy {
    let text = format!("default = \"accept\"\n{rules}");
    Policy::parse("policy.toml", &text, MASK).unwrap_or_else(|e| panic!("{e}"))
}

fn key(client: &str, server: &str, l4: u8) -> FlowKey {
    FlowKey {
        client: client.parse::<SocketAddr>().unwrap(),
        server: server.parse::<SocketAddr>().unwrap(),
        l4,
    }
}

fn tcp(server_port: u16) -> FlowFacts<'static> {
    FlowFacts {
        key: key(
            "192.168.1.10:40000",
            &format!("203.0.113.5:{server_port}"),
            6,
        ),
        in_iface: "lan0",
        out_iface: "wan0",
        queue: 0,
        class: None,
    }
}

fn class<'a>(master: u16, app: u16, category: &'a str, host: Option<&'a str>) -> ClassFacts<'a> {
    ClassFacts {
        master: AppId(master),
        app: AppId(app),
        category,
        host,
        risks: &[],
        ja4: None,
        ech: false,
    }
}

fn with<'a>(f: FlowFacts<'static>, c: ClassFacts<'a>) -> FlowFacts<'a> {
    let mut f: FlowFacts<'a> = f;
    f.class = Some(c);
    f
}

fn decide_at(p: &Policy, f: &FlowFacts<'_>, now: Now, usage: &Usage) -> Decision {
    let d = p.decide(f, now, usage);
    assert_eq!(
        d,
        p.decide_naive(f, now, usage),
        "index and naive scan disagree on {f:?}"
    );
    d
}

fn decide(p: &Policy, f: &FlowFacts<'_>) -> Decision {
    decide_at(p, f, Now::utc(MONDAY + 12 * 3600), &Usage::empty())
}

fn rule_of(d: &Decision) -> Option<&str> {
    d.rule.as_deref()
}

const TLS_YOUTUBE: (u16, u16) = (91, 124);
const QUIC_YOUTUBE: (u16, u16) = (188, 124);

#[test]
fn app_matches_master_or_app() {
    let p = policy(
        "[[rule]]\nname = \"yt\"\napp = [\"YouTube\"]\naction = \"drop\"\n[[rule]]\nname = \"tls\"\napp = \"TLS\"\naction = \"reject\"\n",
    );
    let yt = |(m, a): (u16, u16)| with(tcp(443), class(m, a, "Media", None));
    assert_eq!(rule_of(&decide(&p, &yt(TLS_YOUTUBE))), Some("yt"));
    assert_eq!(rule_of(&decide(&p, &yt(QUIC_YOUTUBE))), Some("yt"));
    let plain_tls = with(tcp(443), class(91, 0, "Web", Some("a.test")));
    let d = decide(&p, &plain_tls);
    assert_eq!(
        (rule_of(&d), d.action, d.verdict),
        (Some("tls"), Action::Reject, Verdict::Reject)
    );
    let http = with(tcp(80), class(7, 7, "Web", None));
    assert_eq!(decide(&p, &http).reason, Reason::Default);
}

#[test]
fn master_matches_master_only() {
    let p = policy("[[rule]]\nname = \"quic\"\nmaster = [\"QUIC\"]\naction = \"drop\"\n");
    assert_eq!(
        rule_of(&decide(&p, &with(tcp(443), class(188, 124, "Media", None)))),
        Some("quic")
    );
    // YouTube over TLS: master TLS, no match even though YouTube also runs over QUIC.
    assert_eq!(
        rule_of(&decide(&p, &with(tcp(443), class(91, 124, "Media", None)))),
        None
    );
    // An app id equal to QUIC with another master is not a master match.
    assert_eq!(
        rule_of(&decide(&p, &with(tcp(443), class(7, 188, "Web", None)))),
        None
    );
}

#[test]
fn category_is_case_insensitive_and_checked() {
    let p = policy(
        "[[rule]]\nname = \"video\"\ncategory = [\"Media\", \"Video\"]\naction = \"drop\"\n",
    );
    assert_eq!(
        rule_of(&decide(&p, &with(tcp(443), class(91, 124, "Media", None)))),
        Some("video")
    );
    assert_eq!(
        rule_of(&decide(&p, &with(tcp(443), class(91, 124, "media", None)))),
        Some("video")
    );
    assert_eq!(
        rule_of(&decide(&p, &with(tcp(443), class(91, 0, "Web", None)))),
        None
    );
}

#[test]
fn host_globs() {
    let p = policy(
        "[[rule]]\nname = \"site\"\nhost = \"*.example-video.test\"\naction = \"reject\"\nlog = true\n[[rule]]\nname = \"cdn\"\nhost = [\"cdn?.other.test\", \"exact.test\"]\naction = \"drop\"\n",
    );
    let h = |host: &'static str| with(tcp(443), class(91, 0, "Web", Some(host)));
    let d = decide(&p, &h("www.Example-Video.test"));
    assert_eq!(
        (rule_of(&d), d.verdict, d.log),
        (Some("site"), Verdict::Reject, true)
    );
    assert_eq!(rule_of(&decide(&p, &h("example-video.test"))), Some("site"));
    assert_eq!(rule_of(&decide(&p, &h("example-video.test.evil"))), None);
    assert_eq!(rule_of(&decide(&p, &h("notexample-video.test"))), None);
    assert_eq!(rule_of(&decide(&p, &h("cdn7.other.test"))), Some("cdn"));
    assert_eq!(rule_of(&decide(&p, &h("cdn77.other.test"))), None);
    assert_eq!(rule_of(&decide(&p, &h("EXACT.test."))), Some("cdn"));
    assert_eq!(
        rule_of(&decide(&p, &with(tcp(443), class(91, 0, "Web", None)))),
        None
    );
}

#[test]
fn src_and_dst_cidrs_v4_v6() {
    let p = policy(
        "[[rule]]\nname = \"lan\"\nsrc = [\"192.168.1.0/24\", \"fd00:1::/64\"]\ndst = \"203.0.113.0/24\"\naction = \"drop\"\n[[rule]]\nname = \"v6dst\"\ndst = [\"2001:db8::1\"]\naction = \"reject\"\n",
    );
    assert_eq!(rule_of(&decide(&p, &tcp(443))), Some("lan"));
    let mut f = tcp(443);
    f.key = key("192.168.2.10:40000", "203.0.113.5:443", 6);
    assert_eq!(rule_of(&decide(&p, &f)), None);
    f.key = key("192.168.1.10:40000", "198.51.100.1:443", 6);
    assert_eq!(rule_of(&decide(&p, &f)), None);
    f.key = key("[fd00:1::5]:40000", "[2001:db8::1]:443", 6);
    assert_eq!(rule_of(&decide(&p, &f)), Some("v6dst"));
    f.key = key("[fd00:2::5]:40000", "[2001:db8::2]:443", 6);
    assert_eq!(rule_of(&decide(&p, &f)), None);
}

#[test]
fn port_and_port_range_are_server_ports_of_tcp_udp() {
    let p = policy(
        "[[rule]]\nname = \"telnet\"\nport = [23]\naction = \"drop\"\n[[rule]]\nname = \"bt\"\nport_range = \"6881-6889\"\nl4 = \"udp\"\naction = \"drop\"\n[[rule]]\nname = \"wide\"\nport_range = [\"10000-60000\"]\naction = \"reject\"\n",
    );
    assert_eq!(rule_of(&decide(&p, &tcp(23))), Some("telnet"));
    let mut f = tcp(443);
    f.key = key("192.168.1.10:23", "203.0.113.5:443", 6);
    assert_eq!(
        rule_of(&decide(&p, &f)),
        None,
        "client port 23 is not the server port"
    );
    f.key = key("192.168.1.10:40000", "203.0.113.5:6885", 17);
    assert_eq!(rule_of(&decide(&p, &f)), Some("bt"));
    f.key = key("192.168.1.10:40000", "203.0.113.5:6885", 6);
    assert_eq!(rule_of(&decide(&p, &f)), None, "l4 = udp");
    f.key = key("192.168.1.10:40000", "203.0.113.5:6890", 17);
    assert_eq!(rule_of(&decide(&p, &f)), None);
    f.key = key("192.168.1.10:40000", "203.0.113.5:50000", 17);
    assert_eq!(rule_of(&decide(&p, &f)), Some("wide"));
    // ICMP carries no port: the type in the port slot never matches a port rule.
    f.key = key("192.168.1.10:0", "203.0.113.5:23", 1);
    assert_eq!(rule_of(&decide(&p, &f)), None);
}

#[test]
fn l4_names_and_numbers() {
    let p = policy("[[rule]]\nname = \"icmp\"\nl4 = [\"icmp\", \"47\"]\naction = \"drop\"\n");
    let mut f = tcp(0);
    f.key = key("192.168.1.10:0", "203.0.113.5:8", 1);
    assert_eq!(rule_of(&decide(&p, &f)), Some("icmp"));
    f.key.l4 = 47;
    assert_eq!(rule_of(&decide(&p, &f)), Some("icmp"));
    assert_eq!(rule_of(&decide(&p, &tcp(443))), None);
}

#[test]
fn interfaces_and_queue() {
    let p = policy(
        "[[rule]]\nname = \"guest\"\nin_iface = \"wlan+\"\nout_iface = [\"wan0\"]\nqueue = [1, 2]\naction = \"drop\"\n",
    );
    let mut f = tcp(443);
    f.in_iface = "wlan3";
    f.queue = 2;
    assert_eq!(rule_of(&decide(&p, &f)), Some("guest"));
    f.queue = 0;
    assert_eq!(rule_of(&decide(&p, &f)), None);
    f.queue = 1;
    f.in_iface = "lan0";
    assert_eq!(rule_of(&decide(&p, &f)), None);
    f.in_iface = "wlan0";
    f.out_iface = "wan1";
    assert_eq!(rule_of(&decide(&p, &f)), None);
}

#[test]
fn time_window_matches_local_time_and_sets_valid_until() {
    let p = policy(
        "[[rule]]\nname = \"office\"\nport = 443\ntime = { days = [\"mon\", \"tue\"], hours = \"08:00-18:00\" }\naction = \"drop\"\n",
    );
    let u = Usage::empty();
    let at = |s: u64| Now::utc(MONDAY + s);
    let d = decide_at(&p, &tcp(443), at(9 * 3600), &u);
    assert_eq!(
        (rule_of(&d), d.valid_until),
        (Some("office"), Some(MONDAY + 18 * 3600))
    );
    let d = decide_at(&p, &tcp(443), at(7 * 3600), &u);
    assert_eq!(
        (rule_of(&d), d.valid_until),
        (None, Some(MONDAY + 8 * 3600))
    );
    // Wednesday: no match until next Monday 08:00.
    let d = decide_at(&p, &tcp(443), at(2 * 86_400 + 9 * 3600), &u);
    assert_eq!(
        (rule_of(&d), d.valid_until),
        (None, Some(MONDAY + 7 * 86_400 + 8 * 3600))
    );
    // 07:30 UTC is 09:30 in UTC+2.
    let local = Now {
        unix_s: MONDAY + 7 * 3600 + 1800,
        utc_offset_s: 7200,
    };
    assert_eq!(
        rule_of(&decide_at(&p, &tcp(443), local, &u)),
        Some("office")
    );
    // A decision by a rule before the time rule does not depend on time.
    let p2 = policy(
        "[[rule]]\nname = \"first\"\nport = 443\naction = \"accept\"\n[[rule]]\nname = \"office\"\ntime = { hours = \"08:00-18:00\" }\naction = \"drop\"\n",
    );
    assert_eq!(decide(&p2, &tcp(443)).valid_until, None);
}

#[test]
fn risk_matches_any_listed() {
    let p = policy(
        "[[rule]]\nname = \"risky\"\nrisk = [\"ndpi_clear_text_credentials\", \"ndpi_known_protocol_on_non_standard_port\"]\naction = \"drop\"\n",
    );
    let risks = vec![
        "ndpi_url_possible_xss".to_string(),
        "NDPI_CLEAR_TEXT_CREDENTIALS".to_string(),
    ];
    let mut c = class(7, 7, "Web", None);
    c.risks = &risks;
    assert_eq!(rule_of(&decide(&p, &with(tcp(80), c))), Some("risky"));
    assert_eq!(
        rule_of(&decide(&p, &with(tcp(80), class(7, 7, "Web", None)))),
        None
    );
}

/// Issue #19: `ja4` matches the ClientHello's fingerprint exactly (FoxIO's Chrome example and
/// curl's), needs DPI, and a flow without a fingerprint never meets it.
#[test]
fn ja4_matches_exactly_and_needs_dpi() {
    let p = policy(
        "[[rule]]\nname = \"bots\"\nja4 = [\"t13d3112h2_e8f1e7e78f70_b26ce05bbdd6\", \"q13d0307h3_55b375c5d22e_1cecd519fee8\"]\naction = \"drop\"\n",
    );
    assert_eq!(decide(&p, &tcp(443)).action, Action::NeedsDpi);
    let mut c = class(91, 91, "Web", Some("x.test"));
    c.ja4 = Some("t13d3112h2_e8f1e7e78f70_b26ce05bbdd6");
    assert_eq!(rule_of(&decide(&p, &with(tcp(443), c))), Some("bots"));
    c.ja4 = Some("q13d0307h3_55b375c5d22e_1cecd519fee8");
    assert_eq!(rule_of(&decide(&p, &with(tcp(443), c))), Some("bots"));
    // Another browser, a near miss (one hash digit), and no hello at all.
    c.ja4 = Some("t13d1516h2_8daaf6152771_02713d6af862");
    assert_eq!(rule_of(&decide(&p, &with(tcp(443), c))), None);
    c.ja4 = Some("t13d3112h2_e8f1e7e78f70_b26ce05bbdd7");
    assert_eq!(rule_of(&decide(&p, &with(tcp(443), c))), None);
    c.ja4 = None;
    assert_eq!(rule_of(&decide(&p, &with(tcp(443), c))), None);
}

/// Issue #19: `ech = true` meets a hello with the encrypted_client_hello extension, `ech = false`
/// every other classified flow; both need DPI.
#[test]
fn ech_true_and_false() {
    let p = policy(
        "[[rule]]\nname = \"ech\"\nech = true\naction = \"reject\"\n[[rule]]\nname = \"plain\"\nech = false\nport = 443\naction = \"accept\"\n",
    );
    assert_eq!(decide(&p, &tcp(443)).action, Action::NeedsDpi);
    let mut c = class(91, 124, "Media", Some("www.youtube.com"));
    c.ech = true;
    assert_eq!(rule_of(&decide(&p, &with(tcp(443), c))), Some("ech"));
    c.ech = false;
    assert_eq!(rule_of(&decide(&p, &with(tcp(443), c))), Some("plain"));
    assert_eq!(rule_of(&decide(&p, &with(tcp(80), c))), None);
}

/// The pb fields reach the facts: an empty `ja4` is none.
#[test]
fn class_facts_from_pb_carry_ja4_and_ech() {
    let pb = nfguard_proto::pb::Classification {
        ja4: "t13d1516h2_8daaf6152771_02713d6af862".into(),
        ech: true,
        ..Default::default()
    };
    let c = ClassFacts::from_pb(&pb);
    assert_eq!(c.ja4, Some("t13d1516h2_8daaf6152771_02713d6af862"));
    assert!(c.ech);
    let none = nfguard_proto::pb::Classification::default();
    let c = ClassFacts::from_pb(&none);
    assert_eq!((c.ja4, c.ech), (None, false));
}

/// Issue #20: a malformed name (as the classifier shows it: escaped, case and trailing dot as sent)
/// still meets its host rule, and its risk can be acted on by a rule of its own.
#[test]
fn malformed_host_names_are_not_an_evasion() {
    let p = policy(
        "[[rule]]\nname = \"no-video\"\nhost = \"*.example-video.test\"\naction = \"reject\"\n[[rule]]\nname = \"bad-names\"\nrisk = [\"ndpi_invalid_characters\", \"ndpi_malformed_packet\"]\naction = \"drop\"\n",
    );
    let long = format!("{}.example-video.test", "a".repeat(300));
    for host in [
        "x\\x00.evil.example-video.test",
        "WWW.Example-Video.TEST.",
        long.as_str(),
    ] {
        let d = decide(&p, &with(tcp(443), class(91, 91, "Web", Some(host))));
        assert_eq!(rule_of(&d), Some("no-video"), "{host:?}");
        assert_eq!(
            (d.action, d.verdict),
            (Action::Reject, Verdict::Reject),
            "{host:?}"
        );
    }
    // A malformed name whose valid part no host rule names: the risk rule catches it.
    let risks = vec!["ndpi_invalid_characters".to_string()];
    let mut c = class(91, 91, "Web", Some("x\\x00.other.test"));
    c.risks = &risks;
    assert_eq!(rule_of(&decide(&p, &with(tcp(443), c))), Some("bad-names"));
    assert_eq!(
        rule_of(&decide(
            &p,
            &with(tcp(443), class(91, 91, "Web", Some("other.test")))
        )),
        None
    );
}

#[test]
fn shape_quota_and_mark_actions() {
    let p = policy(
        "[[rule]]\nname = \"video-cap\"\ncategory = \"Video\"\naction = \"shape\"\nrate = \"2mbit\"\nmark = 0x4200\n[[rule]]\nname = \"guest-quota\"\nsrc = [\"192.168.50.0/24\"]\nquota = \"1GiB/day\"\nover_quota = \"shape\"\nover_quota_rate = \"1mbit\"\naction = \"accept\"\n[[rule]]\nname = \"hard-quota\"\nsrc = \"192.168.60.0/24\"\nquota = \"10MB/week\"\nover_quota = \"drop\"\naction = \"accept\"\n",
    );
    let shapers = p.shapers();
    assert_eq!(shapers.len(), 2);
    assert_eq!(
        (
            shapers[0].class,
            shapers[0].rate.0,
            shapers[0].rule.as_str(),
            shapers[0].over_quota
        ),
        (1, 2_000_000, "video-cap", false)
    );
    assert_eq!(
        (shapers[1].class, shapers[1].rate.0, shapers[1].over_quota),
        (2, 1_000_000, true)
    );

    let d = decide(&p, &with(tcp(443), class(91, 0, "Video", None)));
    assert_eq!(
        (d.action, d.verdict, d.shaper, d.mark, d.offload),
        (Action::Shape, Verdict::Accept, 1, 0x4200, true)
    );
    assert_eq!(d.to_pb(7).shaper, 1);
    assert_eq!(d.to_pb(7).epoch, 7);

    let web = class(91, 0, "Web", None);
    let mut guest = with(tcp(443), web);
    guest.key = key("192.168.50.9:40000", "203.0.113.5:443", 6);
    let mut usage = Usage::empty();
    let now = Now::utc(MONDAY);
    let d = decide_at(&p, &guest, now, &usage);
    assert_eq!(
        (d.action, d.over_quota, rule_of(&d)),
        (Action::Accept, false, Some("guest-quota"))
    );
    usage.set(guest.key.client.ip(), 1 << 30, 1 << 30, 1 << 30);
    let d = decide_at(&p, &guest, now, &usage);
    assert_eq!((d.action, d.shaper, d.over_quota), (Action::Shape, 2, true));
    // Another host of the same subnet is not over its quota.
    let mut other = guest;
    other.key = key("192.168.50.10:40000", "203.0.113.5:443", 6);
    assert_eq!(decide_at(&p, &other, now, &usage).action, Action::Accept);

    let mut hard = with(tcp(443), web);
    hard.key = key("192.168.60.9:40000", "203.0.113.5:443", 6);
    usage.set(hard.key.client.ip(), 0, 10_000_001, 10_000_001);
    let d = decide_at(&p, &hard, now, &usage);
    assert_eq!(
        (d.action, d.verdict, d.over_quota),
        (Action::Drop, Verdict::Drop, true)
    );
    assert_eq!(
        p.over_quota_hosts(
            &usage,
            &[
                guest.key.client.ip(),
                hard.key.client.ip(),
                other.key.client.ip()
            ]
        )
        .len(),
        2
    );
}

#[test]
fn default_drop_and_reject() {
    for (default, verdict) in [("drop", Verdict::Drop), ("reject", Verdict::Reject)] {
        let p = Policy::parse("p.toml", &format!("default = \"{default}\"\n"), MASK).unwrap();
        let d = decide(&p, &with(tcp(443), class(91, 0, "Web", None)));
        assert_eq!(
            (d.verdict, d.reason, d.rule.clone(), d.offload),
            (verdict, Reason::Default, None, true)
        );
    }
}

#[test]
fn monitor_mode_accepts_and_counts_would_drop() {
    let p = Policy::parse("p.toml", "default = \"accept\"\nmode = \"monitor\"\n[[rule]]\nname = \"no-telnet\"\nport = [23]\naction = \"drop\"\nlog = true\n", MASK).unwrap();
    let d = decide(&p, &tcp(23));
    assert_eq!(
        (d.action, d.verdict, d.would_drop, d.log),
        (Action::Accept, Verdict::Accept, true, true)
    );
    assert_eq!(rule_of(&d), Some("no-telnet"));
    let pb = d.to_pb(3);
    assert_eq!(
        (pb.verdict_bits, pb.would_drop, pb.rule.as_str()),
        (1, true, "no-telnet")
    );
    assert!(!decide(&p, &tcp(22)).would_drop);
}

#[test]
fn tuple_only_requests_final_or_needs_dpi() {
    // The port rule is after a DPI rule that could match: the first possible rule needs the app.
    let p = policy(
        "[[rule]]\nname = \"no-p2p\"\napp = \"BitTorrent\"\naction = \"drop\"\n[[rule]]\nname = \"no-telnet\"\nport = [23]\naction = \"drop\"\n",
    );
    let d = decide(&p, &tcp(23));
    assert_eq!(d.action, Action::NeedsDpi);
    assert!(!d.offload);
    let p = policy(
        "[[rule]]\nname = \"no-telnet\"\nport = [23]\naction = \"drop\"\n[[rule]]\nname = \"no-p2p\"\napp = \"BitTorrent\"\naction = \"drop\"\n",
    );
    let d = decide(&p, &tcp(23));
    assert_eq!(
        (d.action, d.offload, rule_of(&d)),
        (Action::Drop, true, Some("no-telnet"))
    );
    assert_eq!(decide(&p, &tcp(443)).action, Action::NeedsDpi);
    // A DPI rule limited to other sources cannot match: final default accept.
    let p = policy(
        "[[rule]]\nname = \"lan-yt\"\nsrc = \"10.0.0.0/8\"\napp = \"YouTube\"\naction = \"drop\"\n",
    );
    let d = decide(&p, &tcp(443));
    assert_eq!(
        (d.action, d.reason, d.offload),
        (Action::Accept, Reason::Default, true)
    );
}

#[test]
fn critical_traffic_is_allowed_unless_named() {
    let p = Policy::parse("p.toml", "default = \"drop\"\n[[rule]]\nname = \"no-53\"\nport = 53\naction = \"drop\"\n[[rule]]\nname = \"any\"\nl4 = \"udp\"\naction = \"reject\"\n", MASK).unwrap();
    let mut dns = tcp(53);
    dns.key.l4 = 17;
    // Tuple-only: a drop of a possible DNS flow waits for DPI.
    assert_eq!(decide(&p, &dns).action, Action::NeedsDpi);
    let d = decide(&p, &with(dns, class(5, 5, "Network", Some("example.test"))));
    assert_eq!((d.action, d.reason), (Action::Accept, Reason::Critical));
    let d = decide(&p, &with(dns, class(5, 126, "Web", Some("www.google.com"))));
    assert_eq!((d.action, d.reason), (Action::Accept, Reason::Critical));
    // Not DNS after all: the port rule applies.
    let d = decide(&p, &with(dns, class(0, 0, "Unspecified", None)));
    assert_eq!(rule_of(&d), Some("no-53"));
    // DHCP to port 67.
    let mut dhcp = tcp(67);
    dhcp.key = key("0.0.0.0:68", "255.255.255.255:67", 17);
    assert_eq!(decide(&p, &dhcp).action, Action::NeedsDpi);
    assert_eq!(
        decide(&p, &with(dhcp, class(18, 18, "Network", None))).reason,
        Reason::Critical
    );

    // A rule naming DNS rules DNS.
    let p = Policy::parse("p.toml", "default = \"accept\"\n[[rule]]\nname = \"no-dns-out\"\napp = \"DNS\"\ndst = \"198.51.100.0/24\"\naction = \"drop\"\n", MASK).unwrap();
    let mut out = dns;
    out.key = key("192.168.1.10:40000", "198.51.100.1:53", 17);
    assert_eq!(
        decide(&p, &with(out, class(5, 5, "Network", None))).action,
        Action::Drop
    );
    assert_eq!(
        decide(&p, &with(dns, class(5, 5, "Network", None))).reason,
        Reason::Critical
    );
}

#[test]
fn icmpv6_neighbour_discovery_is_critical() {
    let p = Policy::parse(
        "p.toml",
        "default = \"drop\"\n[[rule]]\nname = \"no-icmp6\"\nl4 = \"icmpv6\"\naction = \"drop\"\n",
        MASK,
    )
    .unwrap();
    let mut ns = tcp(0);
    ns.key = key("[fe80::1]:0", "[ff02::1:ff00:2]:135", 58);
    let d = decide(&p, &ns);
    assert_eq!(
        (d.action, d.reason, d.offload),
        (Action::Accept, Reason::Critical, true)
    );
    let mut ping = ns;
    ping.key = key("[fd00::1]:0", "[2001:db8::1]:128", 58);
    assert_eq!(rule_of(&decide(&p, &ping)), Some("no-icmp6"));
    let p = Policy::parse(
        "p.toml",
        "default = \"accept\"\n[[rule]]\nname = \"no-nd\"\napp = \"ICMPV6\"\naction = \"drop\"\n",
        MASK,
    )
    .unwrap();
    assert_eq!(decide(&p, &ns).action, Action::NeedsDpi);
    assert_eq!(
        decide(&p, &with(ns, class(102, 102, "Network", None))).action,
        Action::Drop
    );
}

#[test]
fn decide_request_round_trip() {
    use nfguard_proto::pb;
    let p = policy("[[rule]]\nname = \"yt\"\napp = \"YouTube\"\naction = \"drop\"\n");
    let req = pb::DecideRequest {
        flow: Some(pb::FlowRef {
            queue: 3,
            boot_id: 1,
            flow_id: 9,
        }),
        tuple: Some(key("10.0.0.2:51000", "[2001:db8::1]:443", 6).to_tuple()),
        in_iface: "lan0".into(),
        out_iface: "wan0".into(),
        classification: Some(pb::Classification {
            master_id: 188,
            app_id: 124,
            host: "www.youtube.com".into(),
            category: "Media".into(),
            ..Default::default()
        }),
        time_unix_s: MONDAY,
    };
    let f = FlowFacts::from_pb(&req).unwrap();
    assert_eq!(
        (f.queue, f.in_iface, f.class.unwrap().host),
        (3, "lan0", Some("www.youtube.com"))
    );
    let d = decide(&p, &f);
    let pb = d.to_pb(5);
    assert_eq!(
        (pb.action, pb.verdict_bits, pb.rule.as_str(), pb.offload),
        (pb::Action::Drop as i32, 2, "yt", true)
    );
    let line = nfguard_policy::decision_log_line(&f, &d, Now::utc(MONDAY));
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["app"], "QUIC.YouTube");
    assert_eq!(v["rule"], "yt");
    assert_eq!(v["verdict"], "drop");
    assert_eq!(v["dst"], "[2001:db8::1]:443");
    let bad = pb::DecideRequest::default();
    assert!(FlowFacts::from_pb(&bad).is_err());
}

/// Issue #19: a host list rules TLS, HTTP and QUIC names alike; a DNS query is critical traffic,
/// ruled by the list only where the rule also names DNS; an ip list is decided on the first packet.
#[test]
fn host_list_and_ip_list_matchers() {
    let lists = [
        (
            "ads.txt",
            "0.0.0.0 tracker.test\n||ads.test^\n@@||ok.ads.test^\n",
        ),
        ("bad.netset", "203.0.113.0/24\n"),
    ];
    let mut read = |name: &str| {
        lists
            .iter()
            .find(|l| l.0 == name)
            .map(|l| l.1.to_string())
            .ok_or_else(|| "missing".to_string())
    };
    let text = "default = \"accept\"\n\
        [[rule]]\nname = \"dns-ads\"\napp = \"DNS\"\nhost_list = \"ads.txt\"\naction = \"reject\"\n\
        [[rule]]\nname = \"ads\"\nhost_list = \"ads.txt\"\naction = \"reject\"\n\
        [[rule]]\nname = \"bad-ips\"\nip_list = \"bad.netset\"\nport = 8080\naction = \"drop\"\n";
    let p = Policy::parse_with_lists("policy.toml", text, MASK, &mut read).unwrap();
    for (master, app, host, rule) in [
        (TLS_YOUTUBE.0, TLS_YOUTUBE.1, "www.ads.test", Some("ads")),
        (7, 7, "ADS.test.", Some("ads")),
        (QUIC_YOUTUBE.0, QUIC_YOUTUBE.1, "tracker.test", Some("ads")),
        (91, 91, "ok.ads.test", None),
        (91, 91, "x.tracker.test", None),
        (5, 5, "cdn.ads.test", Some("dns-ads")),
        (5, 5, "example.test", None),
    ] {
        let d = decide(&p, &with(tcp(443), class(master, app, "Web", Some(host))));
        assert_eq!(rule_of(&d), rule, "{host}");
    }
    // The DNS rule is first: a DNS flow's tuple-only request waits for its name.
    assert_eq!(decide(&p, &tcp(53)).action, Action::NeedsDpi);
    let d = decide(&p, &with(tcp(53), class(5, 5, "Network", Some("ads.test"))));
    assert_eq!((d.action, rule_of(&d)), (Action::Reject, Some("dns-ads")));
    // Server 203.0.113.5 is listed: with no host-list match the ip list drops port 8080.
    let d = decide(&p, &with(tcp(8080), class(7, 7, "Web", Some("a.test"))));
    assert_eq!((d.action, rule_of(&d)), (Action::Drop, Some("bad-ips")));
    let mut other = with(tcp(8080), class(7, 7, "Web", Some("a.test")));
    other.key.server = "198.51.100.1:8080".parse().unwrap();
    assert_eq!(rule_of(&decide(&p, &other)), None);
}

/// Issue #19: `src_country` / `dst_country` from a GeoIP database (`testdata/countries.mmdb`:
/// 192.0.2.0/24 DE, 198.51.100.0/24 FR, 203.0.113.0/24 placed without a country). Country rules are
/// decided on the first packet; an unplaced address matches no country matcher, negated or not.
#[test]
fn country_matchers() {
    let db = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/countries.mmdb");
    let db = nfguard_policy::CountryDb::open(std::path::Path::new(db)).unwrap();
    let text = "default = \"accept\"\n\
        [[rule]]\nname = \"from-de\"\nsrc_country = \"de\"\nport = 22\naction = \"accept\"\n\
        [[rule]]\nname = \"ssh-abroad\"\nport = 22\naction = \"drop\"\n\
        [[rule]]\nname = \"not-de-fr\"\ndst_country = [\"!DE\", \"!FR\"]\naction = \"reject\"\n";
    let p = Policy::parse("policy.toml", text, MASK)
        .unwrap()
        .with_geoip(Some(std::sync::Arc::new(db)))
        .unwrap();
    let flow = |client: &str, server: &str| FlowFacts {
        key: key(client, server, 6),
        ..tcp(443)
    };
    for (client, server, rule) in [
        ("192.0.2.9:40000", "10.0.0.5:22", Some("from-de")),
        ("198.51.100.9:40000", "10.0.0.5:22", Some("ssh-abroad")),
        ("10.0.0.9:40000", "192.0.2.80:443", None),
        ("10.0.0.9:40000", "198.51.100.80:443", None),
        ("10.0.0.9:40000", "[2001:db8:2::80]:443", None),
        ("10.0.0.9:40000", "[2001:db8:99::80]:443", None),
        ("10.0.0.9:40000", "203.0.113.80:443", None),
        ("10.0.0.9:40000", "10.45.2.2:443", Some("not-de-fr")),
    ] {
        let d = decide(&p, &flow(client, server));
        assert_eq!(rule_of(&d), rule, "{client} -> {server}");
        assert_ne!(d.action, Action::NeedsDpi, "decided on the tuple");
    }
    // Without a database the first country rule is named.
    let e = Policy::parse("policy.toml", text, MASK)
        .unwrap()
        .with_geoip(None)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("policy.toml:4: rule[0].src_country: country rules need a GeoIP database"),
        "{e}"
    );
    let e = Policy::parse(
        "policy.toml",
        "default = \"accept\"\n[[rule]]\nname = \"x\"\ndst_country = \"DEU\"\naction = \"drop\"\n",
        MASK,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("rule[0].dst_country") && e.contains("ISO 3166-1"),
        "{e}"
    );
}
