//! Every kind of bad policy file gives one precise `FILE:LINE: TOML.PATH: message` error.

// Tests fail loudly on purpose: unwrap on test fixtures is the assertion.
#![allow(clippy::unwrap_used, clippy::field_reassign_with_default)]

use nfguard_policy::Policy;

const MASK: u32 = 0xff00;

/// The error for `text`, as printed.
fn err(text: &str) -> String {
    match Policy::parse("policy.toml", text, MASK) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

/// A file whose third rule (`rule[2]`, `name` on line 11) has `body` from line 12 on.
fn third(body: &str) -> String {
    err(&format!(
        "default = \"accept\"\n\n[[rule]]\nname = \"a\"\naction = \"accept\"\n\n[[rule]]\nname = \"b\"\naction = \"accept\"\n[[rule]]\nname = \"c\"\n{body}"
    ))
}

/// One case per kind of mistake, in a rule that starts on line 10 (its body on line 12 on).
#[test]
fn each_bad_rule_names_line_path_and_problem() {
    let cases: &[(&str, &str)] = &[
        (
            "app = [\"HTTP\", \"BitTorent\"]\naction = \"drop\"\n",
            "policy.toml:12: rule[2].app: unknown application \"BitTorent\" (did you mean \"BitTorrent\"?)",
        ),
        (
            "app = [\"zzqqxxyy\"]\naction = \"drop\"\n",
            "policy.toml:12: rule[2].app: unknown application \"zzqqxxyy\" (`nfguard protocols` lists them)",
        ),
        (
            "master = [\"TSL\"]\naction = \"drop\"\n",
            "policy.toml:12: rule[2].master: unknown application \"TSL\" (`nfguard protocols` lists them)",
        ),
        (
            "category = [\"Vidoe\"]\naction = \"drop\"\n",
            "policy.toml:12: rule[2].category: unknown category \"Vidoe\"",
        ),
        (
            "host = \"bad host\"\naction = \"drop\"\n",
            "policy.toml:12: rule[2].host: \"bad host\": ' ' cannot appear in a host name",
        ),
        (
            "src = [\"192.168.1.0/33\"]\naction = \"drop\"\n",
            "policy.toml:12: rule[2].src: invalid CIDR \"192.168.1.0/33\" (expected e.g. \"192.168.1.0/24\" or \"fd00:1::/64\")",
        ),
        (
            "dst = [\"192.168.1.5/24\"]\naction = \"drop\"\n",
            "policy.toml:12: rule[2].dst: \"192.168.1.5/24\" has host bits set (did you mean \"192.168.1.0/24\"?)",
        ),
        (
            "port = [70000]\naction = \"drop\"\n",
            "policy.toml:12: rule[2].port: port 70000 is out of range 1-65535",
        ),
        (
            "port_range = \"6889-6881\"\naction = \"drop\"\n",
            "policy.toml:12: rule[2].port_range: \"6889-6881\": the range must be 1-65535, first ≤ last",
        ),
        (
            "port_range = \"6881\"\naction = \"drop\"\n",
            "policy.toml:12: rule[2].port_range: expected a port range like \"6881-6889\", got \"6881\"",
        ),
        (
            "l4 = \"tpc\"\naction = \"drop\"\n",
            "policy.toml:12: rule[2].l4: unknown l4 protocol \"tpc\" (expected tcp, udp, icmp, icmpv6, gre, esp, ah, sctp, dccp, udplite or a number 0-255)",
        ),
        (
            "in_iface = \"this-name-is-too-long\"\naction = \"drop\"\n",
            "policy.toml:12: rule[2].in_iface: \"this-name-is-too-long\" is not an interface name: longer than 15 bytes (IFNAMSIZ)",
        ),
        (
            "ja4 = [\"t13d1516h2_8DAAF6152771_02713d6af862\"]\naction = \"drop\"\n",
            "policy.toml:12: rule[2].ja4: \"t13d1516h2_8DAAF6152771_02713d6af862\" is not a JA4 fingerprint (expected e.g. \"t13d1516h2_8daaf6152771_02713d6af862\": hashes in lowercase hex)",
        ),
        (
            "ja4 = \"t13d1516h2\"\naction = \"drop\"\n",
            "policy.toml:12: rule[2].ja4: \"t13d1516h2\" is not a JA4 fingerprint (expected e.g. \"t13d1516h2_8daaf6152771_02713d6af862\": hashes in lowercase hex)",
        ),
        (
            "ja4 = []\naction = \"drop\"\n",
            "policy.toml:12: rule[2].ja4: empty list matches nothing; remove the key to match any",
        ),
        (
            "ech = \"yes\"\naction = \"drop\"\n",
            "policy.toml:12: rule[2].ech: invalid type: string \"yes\", expected a boolean",
        ),
        (
            "queue = [-1]\naction = \"drop\"\n",
            "policy.toml:12: rule[2].queue: queue -1 is out of range 0-65535",
        ),
        (
            "time = { days = [\"mun\"] }\naction = \"drop\"\n",
            "policy.toml:12: rule[2].time.days: unknown day \"mun\" (expected one of mon, tue, wed, thu, fri, sat, sun)",
        ),
        (
            "time = { hours = [\"08:00-18:00\", \"17:00-19:00\"] }\naction = \"drop\"\n",
            "policy.toml:12: rule[2].time.hours: windows overlap (08:00 and 17:00)",
        ),
        (
            "time = { hours = \"8-18\" }\naction = \"drop\"\n",
            "policy.toml:12: rule[2].time.hours: expected a window like \"08:00-18:00\", got \"8-18\"",
        ),
        (
            "time = { hours = \"08:00-18:00\", weeks = 2 }\naction = \"drop\"\n",
            "policy.toml:12: rule[2].time.weeks: unknown field `weeks`, expected `days` or `hours`",
        ),
        (
            "app = []\naction = \"drop\"\n",
            "policy.toml:12: rule[2].app: empty list matches nothing; remove the key to match any",
        ),
        (
            "action = \"shape\"\n",
            "policy.toml:12: rule[2].action: action = \"shape\" needs rate = \"…\" (e.g. \"2mbit\")",
        ),
        (
            "action = \"drop\"\nrate = \"2mbit\"\n",
            "policy.toml:13: rule[2].rate: rate is only used with action = \"shape\"",
        ),
        (
            "action = \"shape\"\nrate = \"2mb\"\n",
            "policy.toml:13: rule[2].rate: expected a rate like \"2mbit\", \"500kbit\", \"1gbit\", got \"2mb\"",
        ),
        (
            "action = \"accept\"\nquota = \"1GiB/year\"\nover_quota = \"drop\"\n",
            "policy.toml:13: rule[2].quota: expected a quota like \"1GiB/day\", \"20GB/week\", \"100GiB/month\", got \"1GiB/year\"",
        ),
        (
            "action = \"accept\"\nquota = \"1GiB/day\"\n",
            "policy.toml:13: rule[2].quota: quota needs over_quota = \"drop\" or \"shape\"",
        ),
        (
            "action = \"accept\"\nover_quota = \"drop\"\n",
            "policy.toml:13: rule[2].over_quota: over_quota needs quota = \"…\" (e.g. \"1GiB/day\")",
        ),
        (
            "action = \"accept\"\nquota = \"1GiB/day\"\nover_quota = \"shape\"\n",
            "policy.toml:14: rule[2].over_quota: over_quota = \"shape\" needs over_quota_rate = \"…\" (e.g. \"1mbit\")",
        ),
        (
            "action = \"accept\"\nover_quota_rate = \"1mbit\"\n",
            "policy.toml:13: rule[2].over_quota_rate: over_quota_rate is only used with over_quota = \"shape\"",
        ),
        (
            "action = \"accept\"\nmark = 0x10000\n",
            "policy.toml:13: rule[2].mark: mark 0x10000 is outside user_mask 0xff00 ([capture] user_mask in nfguard.toml)",
        ),
        (
            "action = \"accept\"\nmark = -1\n",
            "policy.toml:13: rule[2].mark: mark -1 is not between 0 and 0xffffffff",
        ),
        (
            "action = \"dorp\"\n",
            "policy.toml:12: rule[2].action: unknown variant `dorp`, expected one of `accept`, `drop`, `reject`, `shape`",
        ),
        (
            "actoin = \"drop\"\n",
            "policy.toml:12: rule[2].actoin: unknown field `actoin`, expected one of `name`, `app`, `master`, `category`, `host`, `src`, `dst`, `port`, `port_range`, `l4`, `in_iface`, `out_iface`, `queue`, `time`, `risk`, `host_list`, `ip_list`, `src_country`, `dst_country`, `ja4`, `ech`, `action`, `rate`, `quota`, `over_quota`, `over_quota_rate`, `mark`, `log`",
        ),
        (
            "app = \"YouTube\"\n",
            "policy.toml:10: rule[2]: missing field `action`",
        ),
    ];
    for (body, want) in cases {
        assert_eq!(&third(body), want, "for rule body {body:?}");
    }
}

#[test]
fn the_issue_example_error() {
    let text = "default = \"accept\"\n\n[[rule]]\nname = \"no-p2p\"\napp = [\"BitTorent\", \"Gnutella\"]\naction = \"drop\"\n";
    assert_eq!(
        err(text),
        "policy.toml:5: rule[0].app: unknown application \"BitTorent\" (did you mean \"BitTorrent\"?)"
    );
}

#[test]
fn duplicate_rule_names() {
    let text = "default = \"accept\"\n[[rule]]\nname = \"x\"\naction = \"drop\"\n[[rule]]\nname = \"x\"\naction = \"accept\"\n";
    assert_eq!(
        err(text),
        "policy.toml:6: rule[1].name: duplicate rule name \"x\" (also rule[0])"
    );
}

#[test]
fn file_level_mistakes() {
    assert_eq!(
        err("mode = \"enforce\"\n"),
        "policy.toml:1: -: missing field `default`"
    );
    assert_eq!(
        err("default = \"allow\"\n"),
        "policy.toml:1: default: unknown variant `allow`, expected one of `accept`, `drop`, `reject`"
    );
    assert_eq!(
        err("default = \"accept\"\nmode = \"audit\"\n"),
        "policy.toml:2: mode: unknown variant `audit`, expected `enforce` or `monitor`"
    );
    assert_eq!(
        err("default = \"accept\"\n[[rule]\n"),
        "policy.toml:2: -: unclosed array table, expected `]`"
    );
}

#[test]
fn at_most_63_shaper_classes() {
    let mut text = String::from("default = \"accept\"\n");
    for i in 0..64 {
        text.push_str(&format!(
            "[[rule]]\nname = \"s{i}\"\naction = \"shape\"\nrate = \"1mbit\"\n"
        ));
    }
    let line = 1 + 63 * 4 + 3;
    assert_eq!(
        err(&text),
        format!(
            "policy.toml:{line}: rule[63].action: more than 63 shaper classes (the shaper mask 0xfc holds 6 bits)"
        )
    );
    let ok = text.rsplit_once("[[rule]]").map(|(a, _)| a).unwrap();
    assert_eq!(
        Policy::parse("policy.toml", ok, MASK)
            .unwrap()
            .shapers()
            .len(),
        63
    );
}

#[test]
fn mark_inside_a_custom_user_mask() {
    let text =
        "default = \"accept\"\n[[rule]]\nname = \"m\"\naction = \"accept\"\nmark = 0x30000\n";
    assert!(Policy::parse("p.toml", text, 0xff_0000).is_ok());
    assert_eq!(
        Policy::parse("p.toml", text, 0xff00)
            .unwrap_err()
            .to_string(),
        "p.toml:5: rule[0].mark: mark 0x30000 is outside user_mask 0xff00 ([capture] user_mask in nfguard.toml)"
    );
}

#[test]
fn unreadable_file_is_line_0() {
    let e = Policy::load(std::path::Path::new("/nonexistent/policy.toml"), MASK).unwrap_err();
    assert_eq!(e.line, 0);
    assert!(
        e.to_string()
            .starts_with("/nonexistent/policy.toml:0: -: cannot read:"),
        "{e}"
    );
}

#[test]
fn the_shipped_example_loads() {
    let p = Policy::parse(
        "policy.toml",
        include_str!("../../deploy/policy.toml"),
        MASK,
    )
    .unwrap();
    let names: Vec<&str> = p.rules().iter().map(|r| &*r.name).collect();
    assert_eq!(
        names,
        [
            "no-telnet",
            "no-p2p",
            "video-cap",
            "block-site",
            "guest-quota"
        ]
    );
    assert_eq!(p.shapers().len(), 1);
}

/// Issue #19: list files that cannot stand in for a list are errors naming the rule, the key and
/// the list; skipped lines are warnings with the list's own line numbers.
#[test]
fn bad_lists_and_skipped_lines() {
    let rule = |key: &str, file: &str| {
        format!(
            "default = \"accept\"\n[[rule]]\nname = \"l\"\n{key} = \"{file}\"\naction = \"drop\"\n"
        )
    };
    let lists: &[(&str, &str)] = &[
        ("page.html", "<html>\n<body>502</body>\n</html>\n"),
        (
            "ads.txt",
            "||ads.test^\n||x.test^$third-party,script\nexample.test##.banner\n",
        ),
        ("ips.netset", "10.0.0.0/8\n10.0.0.0/40\n"),
    ];
    let parse = |text: &str| {
        let mut read = |name: &str| {
            lists
                .iter()
                .find(|l| l.0 == name)
                .map(|l| l.1.to_string())
                .ok_or_else(|| "No such file or directory (os error 2)".to_string())
        };
        Policy::parse_with_lists("policy.toml", text, MASK, &mut read)
    };
    let err = |text: String| parse(&text).unwrap_err().to_string();
    assert_eq!(
        err(rule("host_list", "missing.txt")),
        "policy.toml:4: rule[0].host_list: missing.txt: cannot read: No such file or directory (os error 2)"
    );
    assert_eq!(
        err(rule("host_list", "page.html")),
        "policy.toml:4: rule[0].host_list: page.html: no usable entry in 3 lines (the first: page.html:1: invalid host name \"<html>\", line skipped)"
    );
    assert_eq!(
        err(rule("ip_list", "page.html")),
        "policy.toml:4: rule[0].ip_list: page.html: no usable entry in 3 lines (the first: page.html:1: invalid address or CIDR \"<html>\", line skipped)"
    );
    assert_eq!(
        err(
            "default = \"accept\"\n[[rule]]\nname = \"l\"\nip_list = []\naction = \"drop\"\n"
                .into()
        ),
        "policy.toml:4: rule[0].ip_list: empty list matches nothing; remove the key to match any"
    );
    let p = parse(&rule("host_list", "ads.txt")).unwrap();
    assert_eq!(
        p.warnings(),
        [
            "ads.txt:2: unsupported AdBlock option $third-party, line skipped",
            "ads.txt:3: unsupported AdBlock element hiding rule, line skipped"
        ]
    );
    assert_eq!(p.list_files(), ["ads.txt"]);
    let p = parse(&rule("ip_list", "ips.netset")).unwrap();
    assert_eq!(
        p.warnings(),
        ["ips.netset:2: invalid address or CIDR \"10.0.0.0/40\", line skipped"]
    );
}

/// Lists are read relative to the rule file's directory, not the working directory.
#[test]
fn lists_are_relative_to_the_rule_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("lists")).unwrap();
    std::fs::write(dir.path().join("lists/ads.txt"), "ads.test\n").unwrap();
    let rules = dir.path().join("policy.toml");
    std::fs::write(
        &rules,
        "default = \"accept\"\n[[rule]]\nname = \"ads\"\nhost_list = \"lists/ads.txt\"\naction = \"reject\"\n",
    )
    .unwrap();
    let p = Policy::load(&rules, MASK).unwrap();
    assert_eq!(p.list_files(), ["lists/ads.txt"]);
    assert!(p.rules()[0].needs_dpi());
}
