//! The whole system as a user meets it: `nfguard run` on the lab's NAT router (two queues, offload,
//! managed rules), real servers and clients, and what the operator sees through the gateway. Each kind of
//! traffic must be classified and decided as the demo policy says, the decisions must be enforced on the
//! wire, and SIGTERM must leave no rule or process behind.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use nfguard::demo::DemoSystem;
use nfguard::lab;

fn flows(sys: &DemoSystem) -> Vec<serde_json::Value> {
    sys.json("/api/v1/flows?limit=200")
        .and_then(|v| v["flows"].as_array().cloned())
        .unwrap_or_default()
}

fn find<'a>(
    flows: &'a [serde_json::Value],
    label: &str,
    host: Option<&str>,
) -> Option<&'a serde_json::Value> {
    flows
        .iter()
        .find(|f| f["label"] == label && host.is_none_or(|h| f["host"] == h))
}

fn client_ok(sys: &DemoSystem, args: &[&str]) -> bool {
    sys.lab
        .client
        .output(args)
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[test]
fn demo_policy_is_classified_enforced_and_visible() {
    if !lab::available() {
        eprintln!("skipped: needs root to create network namespaces");
        return;
    }
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_nfguard")).parent().unwrap();
    let mut sys = DemoSystem::start(bin_dir).expect("demo system");
    let ip = sys.lab.server_addr.v4.to_string();
    let ip6 = sys.lab.server_addr.v6.to_string();

    // Enforcement, seen from the client.
    let resolve = |name: &str| format!("{name}:443:{ip}");
    assert!(
        client_ok(
            &sys,
            &[
                "curl",
                "-sk",
                "-m",
                "10",
                "-o",
                "/dev/null",
                "--resolve",
                &resolve("www.github.com"),
                "https://www.github.com/"
            ]
        ),
        "allowed HTTPS failed"
    );
    let started = Instant::now();
    assert!(!client_ok(
        &sys,
        &[
            "curl",
            "-sk",
            "-m",
            "10",
            "-o",
            "/dev/null",
            "--resolve",
            &resolve("clips.example-video.test"),
            "https://clips.example-video.test/"
        ]
    ));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "reject took {:?}: a timeout, not a refusal",
        started.elapsed()
    );
    assert!(
        !client_ok(
            &sys,
            &[
                "python3",
                sys.lab.dir.join("bt_client.py").to_str().unwrap(),
                &ip
            ]
        ),
        "BitTorrent handshake was answered"
    );
    assert!(
        !client_ok(&sys, &["nc", "-z", "-w", "2", &ip, "23"]),
        "telnet port reachable"
    );
    assert!(
        client_ok(
            &sys,
            &[
                "curl",
                "-s",
                "-m",
                "10",
                "-o",
                "/dev/null",
                &format!("http://{ip}/big.bin")
            ]
        ),
        "HTTP download failed"
    );
    assert!(
        client_ok(
            &sys,
            &[
                "curl",
                "-gs",
                "-m",
                "10",
                "-o",
                "/dev/null",
                &format!("http://[{ip6}]/")
            ]
        ),
        "IPv6 HTTP failed"
    );
    for _ in 0..2 {
        sys.drive_traffic();
        std::thread::sleep(Duration::from_secs(2));
    }

    // What the operator sees: flows in the store through the gateway API.
    let deadline = Instant::now() + Duration::from_secs(30);
    let expected: &[(&str, Option<&str>, &str, &str)] = &[
        ("BitTorrent", None, "drop", "no-p2p"),
        (
            "TLS",
            Some("clips.example-video.test"),
            "reject",
            "block-site",
        ),
        ("TLS.YouTube", Some("www.youtube.com"), "shape", "video-cap"),
        ("TLS.Github", Some("www.github.com"), "accept", ""),
        ("DNS.Google", Some("www.google.com"), "accept", ""),
        ("SSH", None, "accept", ""),
        ("HTTP", None, "accept", ""),
    ];
    let all = loop {
        let all = flows(&sys);
        if expected
            .iter()
            .all(|(l, h, _, _)| find(&all, l, *h).is_some())
            || Instant::now() > deadline
        {
            break all;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    for (label, host, verdict, rule) in expected {
        let f = find(&all, label, *host)
            .unwrap_or_else(|| panic!("no {label} flow in the store; flows: {all:#?}"));
        assert_eq!(f["verdict"], *verdict, "{label}: {f}");
        assert_eq!(f["rule"].as_str().unwrap_or(""), *rule, "{label}: {f}");
    }
    assert!(
        all.iter()
            .any(|f| f["dst"].as_str().is_some_and(|d| d.contains(&ip6))),
        "no IPv6 flow recorded: {all:#?}"
    );

    // The operator's command-line view asks the store directly.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nfguard"))
        .args([
            "flows",
            "-c",
            sys.lab.dir.join("nfguard.toml").to_str().unwrap(),
            "--app",
            "BitTorrent",
            "--since",
            "10m",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "nfguard flows: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.lines()
            .skip(1)
            .any(|l| l.contains("BitTorrent") && l.contains("drop") && l.contains("no-p2p")),
        "{text}"
    );
    assert!(
        !text.contains("TLS.YouTube"),
        "--app filter ignored:\n{text}"
    );

    // Metrics: classification and rule hits reach Prometheus.
    let (code, metrics) = nfguard::demo::http_get(sys.gateway, "/metrics").unwrap();
    assert_eq!(code, 200);
    let has = |prefix: &str, label: &str| {
        metrics
            .lines()
            .any(|l| l.starts_with(prefix) && l.contains(label) && !l.ends_with(" 0"))
    };
    assert!(
        has("nfguard_flows_total", "app=\"TLS.YouTube\""),
        "{metrics}"
    );
    assert!(
        has("nfguard_rule_hits_total", "rule=\"no-p2p\""),
        "{metrics}"
    );
    assert!(
        has("nfguard_packets_total", "verdict=\"drop\""),
        "{metrics}"
    );

    // SIGTERM: everything stops, nfguard's rules are gone.
    assert!(
        sys.stop(Duration::from_secs(20)),
        "nfguard run did not exit 0 on SIGTERM; log: {}",
        std::fs::read_to_string(sys.log_path()).unwrap_or_default()
    );
    let rules = String::from_utf8(sys.lab.router.exec(&["iptables-save"]).unwrap().stdout).unwrap();
    assert!(!rules.contains("NFGUARD"), "rules left behind:\n{rules}");
    let rules6 =
        String::from_utf8(sys.lab.router.exec(&["ip6tables-save"]).unwrap().stdout).unwrap();
    assert!(
        !rules6.contains("NFGUARD"),
        "IPv6 rules left behind:\n{rules6}"
    );
    let pids = String::from_utf8(
        std::process::Command::new("ip")
            .args(["netns", "pids", &sys.lab.router.name])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    for pid in pids.split_whitespace() {
        let cmd = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        assert!(
            !cmd.contains("nfguard"),
            "nfguard process {pid} survived SIGTERM: {cmd}"
        );
    }
}
