//! The whole system when parts of it die, and monitor mode: with `nfguard run` on the lab's NAT router,
//! killing the classifier, the policy or a capture worker never stops traffic (fail-open, counted) and the
//! supervisor brings each back; `mode = "monitor"` lets a dropped application through and counts
//! `would_drop`; SIGTERM leaves no HTB qdisc behind.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use nfguard::demo::{DemoSystem, http_get};
use nfguard::lab;

/// Pids inside the router namespace whose command line names `program` with `args`.
fn pids(sys: &DemoSystem, program: &str, args: &str) -> Vec<u32> {
    let out = std::process::Command::new("ip")
        .args(["netns", "pids", &sys.lab.router.name])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .filter(|p: &u32| {
            let cmd = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            cmd.contains(program) && cmd.contains(args)
        })
        .collect()
}

fn metric_sum(sys: &DemoSystem, name: &str, label: &str) -> f64 {
    let (_, text) = http_get(sys.gateway, "/metrics").unwrap_or((0, String::new()));
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn https_ok(sys: &DemoSystem, name: &str) -> bool {
    let ip = sys.lab.server_addr.v4.to_string();
    sys.lab
        .client
        .output(&[
            "curl",
            "-sk",
            "-m",
            "5",
            "-o",
            "/dev/null",
            "--resolve",
            &format!("{name}:443:{ip}"),
            &format!("https://{name}/"),
        ])
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn traffic_survives_dying_parts_and_monitor_mode_only_counts() {
    if !lab::available() {
        eprintln!("skipped: needs root to create network namespaces");
        return;
    }
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_nfguard")).parent().unwrap();
    let mut sys = DemoSystem::start(bin_dir).expect("demo system");
    assert!(https_ok(&sys, "www.github.com"), "baseline HTTPS failed");

    for (program, args) in [
        ("nfguard-classifier", "-c"),
        ("nfguard-policy", "-c"),
        ("nfguard-capture", "--queue 0"),
    ] {
        let victims = pids(&sys, program, args);
        assert_eq!(victims.len(), 1, "{program}: {victims:?}");
        assert!(
            std::process::Command::new("kill")
                .args(["-9", &victims[0].to_string()])
                .status()
                .unwrap()
                .success()
        );
        // New flows keep passing while the part is down: fail-open (or --queue-bypass for a capture).
        let started = Instant::now();
        for i in 0..3 {
            assert!(
                https_ok(&sys, "www.github.com"),
                "{program} killed: HTTPS flow {i} failed"
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{program} killed: flows were slow ({:?})",
            started.elapsed()
        );
        wait_for(
            &format!("{program} restarted by the supervisor"),
            Duration::from_secs(10),
            || pids(&sys, program, args).iter().any(|p| *p != victims[0]),
        );
    }
    wait_for("restarts counted", Duration::from_secs(10), || {
        metric_sum(
            &sys,
            "nfguard_process_restarts_total",
            "part=\"classifier\"",
        ) >= 1.0
    });
    // Everything back: a site the policy rejects is refused again (the decision path works end to end).
    wait_for(
        "enforcement back after the restarts",
        Duration::from_secs(20),
        || !https_ok(&sys, "clips.example-video.test"),
    );

    // Monitor mode: the BitTorrent handshake is answered, and what would have been dropped is counted.
    let ip = sys.lab.server_addr.v4.to_string();
    let bt = sys.lab.dir.join("bt_client.py");
    let bt_ok = |sys: &DemoSystem| {
        sys.lab
            .client
            .output(&["python3", bt.to_str().unwrap(), &ip])
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    assert!(!bt_ok(&sys), "BitTorrent passed under enforce");
    let policy = sys.lab.dir.join("policy.toml");
    let text = std::fs::read_to_string(&policy)
        .unwrap()
        .replace("mode = \"enforce\"", "mode = \"monitor\"");
    std::fs::write(&policy, text).unwrap();
    wait_for(
        "monitor mode lets BitTorrent through",
        Duration::from_secs(15),
        || bt_ok(&sys),
    );
    wait_for("would_drop counted", Duration::from_secs(10), || {
        metric_sum(&sys, "nfguard_would_drop_total", "rule=\"no-p2p\"") >= 1.0
    });

    assert!(
        sys.stop(Duration::from_secs(20)),
        "nfguard run did not exit 0 on SIGTERM"
    );
    for ifname in [&sys.lab.lan_if, &sys.lab.wan_if] {
        let q = String::from_utf8(
            sys.lab
                .router
                .exec(&["tc", "qdisc", "show", "dev", ifname])
                .unwrap()
                .stdout,
        )
        .unwrap();
        assert!(!q.contains("htb"), "HTB qdisc left on {ifname}: {q}");
    }
}
