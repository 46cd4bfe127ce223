//! Issue #19 lists end to end with the real capture, classifier and policy processes in the netns
//! lab: a host list in each format (hosts file, plain domains, AdBlock) rejects curl HTTPS to a
//! listed SNI while an unlisted one passes; editing a list blocks a new name without touching the
//! rule file; an `ip_list` drops ping to a listed address and not to an unlisted one; country
//! rules from a GeoIP database (`[policy] geoip`) drop ping to the server's country only.
#![allow(clippy::unwrap_used)]

mod capture_support;

use std::time::{Duration, Instant};

use capture_support::{Rig, binaries, lab_ok};

const PLAIN: &str = "offload = false\n";

/// A TLS server for any name (self-signed certificate, argv: port, cert, key): answers `ok` to an
/// HTTP request, one thread per connection.
const TLS_SERVER: &str = r#"
import socket, ssl, sys, threading
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[2], sys.argv[3])
def serve(c):
    c.settimeout(5)
    try:
        t = ctx.wrap_socket(c, server_side=True)
        t.recv(4096)
        t.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok')
        t.close()
    except OSError:
        c.close()
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(('::', int(sys.argv[1])))
s.listen(16)
while True:
    threading.Thread(target=serve, args=(s.accept()[0],), daemon=True).start()
"#;

/// The address list first: a tuple rule, so a listed server's first packet is already dropped
/// (behind a DPI rule it would be accepted provisionally until classified).
const RULES: &str = r#"default = "accept"

[[rule]]
name = "bad-ips"
ip_list = "lists/level1.netset"
action = "drop"

[[rule]]
name = "hosts-file"
host_list = "lists/hosts.txt"
action = "reject"

[[rule]]
name = "plain"
host_list = "lists/plain.txt"
action = "reject"

[[rule]]
name = "adblock"
host_list = "lists/adblock.txt"
action = "reject"
"#;

const PORT: u16 = 8443;

/// Starts the TLS server in the server namespace and waits until it answers locally.
fn tls_server(rig: &Rig) {
    let dir = &rig.lab.dir;
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=nfguard-lab", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(out.status.success(), "openssl: {:?}", out);
    let script = dir.join("tls_server.py");
    std::fs::write(&script, TLS_SERVER).unwrap();
    rig.lab
        .server
        .spawn(&[
            "python3",
            script.to_str().unwrap(),
            &PORT.to_string(),
            cert.to_str().unwrap(),
            key.to_str().unwrap(),
        ])
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let local = rig
            .lab
            .server
            .output(&["curl", "-sk", &format!("https://127.0.0.1:{PORT}/")])
            .map(|o| o.stdout == b"ok")
            .unwrap_or(false);
        if local {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the TLS server did not start");
}

/// `curl https://NAME:8443/` from the client, NAME resolved to the server by `--resolve` (so the
/// SNI is NAME); true when the server's `ok` came back.
fn https(rig: &Rig, name: &str) -> bool {
    let server = rig.lab.server_addr.v4.to_string();
    let out = rig
        .lab
        .client
        .output(&[
            "curl",
            "-sk",
            "--max-time",
            "4",
            "--resolve",
            &format!("{name}:{PORT}:{server}"),
            &format!("https://{name}:{PORT}/"),
        ])
        .unwrap();
    out.status.success() && out.stdout == b"ok"
}

fn write_lists(rig: &Rig) {
    let lists = rig.lab.dir.join("lists");
    std::fs::create_dir_all(&lists).unwrap();
    std::fs::write(
        lists.join("hosts.txt"),
        "# hosts file\n127.0.0.1 localhost\n0.0.0.0 ads.hosts.test tracker.hosts.test\n",
    )
    .unwrap();
    std::fs::write(lists.join("plain.txt"), "# domains\nplain.test\n").unwrap();
    std::fs::write(
        lists.join("adblock.txt"),
        "[Adblock Plus 2.0]\n! Title: lab\n||adblock.test^\n@@||good.adblock.test^\n||opt.test^$third-party\n",
    )
    .unwrap();
    let level1 = format!(
        "# firehol-style netset\n198.51.100.0/24\n{}\n",
        rig.lab.server_addr.v4
    );
    std::fs::write(lists.join("level1.netset"), level1).unwrap();
}

#[test]
fn host_lists_reject_listed_snis_and_reload_on_change() {
    if !lab_ok() {
        return;
    }
    let Some((capture, policy, classifier)) = binaries() else {
        return;
    };
    // The ip list must not name the server here: this test is about names.
    let rules = RULES.replace(
        "ip_list = \"lists/level1.netset\"",
        "ip_list = \"lists/other.netset\"",
    );
    let mut rig = Rig::new(PLAIN, &rules);
    write_lists(&rig);
    std::fs::write(rig.lab.dir.join("lists/other.netset"), "198.51.100.0/24\n").unwrap();
    rig.plain_queue_rule("--queue-num 0");
    rig.start_peers(&policy, &classifier);
    rig.start_capture(&capture, 0);
    tls_server(&rig);

    let check = |name: &str, want: bool| {
        let got = https(&rig, name);
        if got != want {
            rig.dump_logs();
        }
        assert_eq!(got, want, "curl https://{name}:{PORT}/ (true: served)");
    };
    check("www.unlisted.test", true);
    // Hosts file: the names themselves only.
    check("ads.hosts.test", false);
    check("tracker.hosts.test", false);
    check("sub.ads.hosts.test", true);
    // Plain domain: itself and subdomains.
    check("plain.test", false);
    check("cdn.plain.test", false);
    // AdBlock: ||x^ with subdomains, the @@ exception, the skipped $option line.
    check("adblock.test", false);
    check("a.adblock.test", false);
    check("good.adblock.test", true);
    check("opt.test", true);
    check("www.unlisted.test", true);
    let log = std::fs::read_to_string(rig.lab.dir.join("policy.log")).unwrap();
    assert!(
        log.contains("lists/adblock.txt:5: unsupported AdBlock option $third-party, line skipped"),
        "the skipped line is not reported:\n{log}"
    );

    // The operator's cron refreshes a list: the new name is rejected without a rule-file change.
    std::fs::write(
        rig.lab.dir.join("lists/plain.txt"),
        "plain.test\nunlisted.test\n",
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while https(&rig, "www.unlisted.test") {
        assert!(Instant::now() < deadline, "a list change was not picked up");
        std::thread::sleep(Duration::from_millis(200));
    }
    // A broken list (an HTML error page saved by a failed download) keeps the working one.
    std::fs::write(
        rig.lab.dir.join("lists/plain.txt"),
        "<html>\n<body>502 Bad Gateway</body>\n</html>\n",
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let log = std::fs::read_to_string(rig.lab.dir.join("policy.log")).unwrap();
        if log.contains("lists/plain.txt: no usable entry in 3 lines") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the broken list was not rejected:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    check("www.unlisted.test", false);
    check("plain.test", false);
    check("www.other.test", true);
}

/// Queues the lab's forwarding, starts the processes and pings the server's v4 and v6 addresses
/// from the client: whether each answered (the logs are printed unless only v6 did).
fn start_and_ping_server(
    rig: &mut Rig,
    capture: &std::path::Path,
    policy: &std::path::Path,
    classifier: &std::path::Path,
) -> (bool, bool) {
    rig.plain_queue_rule("--queue-num 0");
    rig.start_peers(policy, classifier);
    rig.start_capture(capture, 0);
    let v6_ok = rig.ping(&rig.lab.server_addr.v6.to_string(), 3);
    let v4_ok = rig.ping(&rig.lab.server_addr.v4.to_string(), 3);
    if v4_ok || !v6_ok {
        rig.dump_logs();
    }
    (v4_ok, v6_ok)
}

#[test]
fn ip_list_drops_ping_to_a_listed_address() {
    if !lab_ok() {
        return;
    }
    let Some((capture, policy, classifier)) = binaries() else {
        return;
    };
    let mut rig = Rig::new(PLAIN, RULES);
    write_lists(&rig);
    // The v4 address is listed, the v6 one is not.
    let (v4_ok, v6_ok) = start_and_ping_server(&mut rig, &capture, &policy, &classifier);
    assert!(v6_ok, "ping to an unlisted address was dropped");
    assert!(!v4_ok, "ping to a listed address passed");
    let m = rig.metrics("capture-q0");
    assert!(m.get("nfguard_flows_decided_total", &[("verdict", "drop")]) >= 1.0);
}

/// The lab's client side (10.N.1.0/24, fd00:N:1::/48) is "XC" in the fixture, its server side "XS"
/// (`policy/testdata/make_countries_mmdb.py`).
const COUNTRY_RULES: &str = r#"default = "accept"

[[rule]]
name = "not-here"
dst_country = "DE"
action = "drop"

[[rule]]
name = "abroad"
src_country = "xc"
dst_country = ["!XC", "!DE"]
l4 = "icmp"
action = "drop"
"#;

#[test]
fn country_rules_drop_by_the_servers_country() {
    if !lab_ok() {
        return;
    }
    let Some((capture, policy, classifier)) = binaries() else {
        return;
    };
    let mut rig = Rig::new(PLAIN, COUNTRY_RULES);
    let db = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../policy/testdata/countries.mmdb"
    );
    let config = std::fs::read_to_string(&rig.config).unwrap().replace(
        "[policy]\nrules = \"policy.toml\"\n",
        &format!("[policy]\nrules = \"policy.toml\"\ngeoip = \"{db}\"\n"),
    );
    std::fs::write(&rig.config, config).unwrap();
    // Both are "XS": the v4 ping meets "abroad"; ICMPv6 is not `l4 = "icmp"`, and "not-here" wants DE.
    let (v4_ok, v6_ok) = start_and_ping_server(&mut rig, &capture, &policy, &classifier);
    assert!(v6_ok, "ping to a server no country rule names was dropped");
    assert!(!v4_ok, "ping to the server's country passed");
    let m = rig.metrics("policy");
    assert!(
        m.get("nfguard_rule_hits_total", &[("rule", "abroad")]) >= 1.0,
        "no hit for the country rule"
    );
    assert_eq!(
        m.get("nfguard_rule_hits_total", &[("rule", "not-here")]),
        0.0
    );
}
