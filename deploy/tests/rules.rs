//! `nfguard rules` in a lab router: `--apply` then `--remove` leaves iptables, ip6tables and tc exactly as
//! they were; `--apply --confirm` without a confirmation rolls back; a confirmed apply stays.
#![allow(clippy::unwrap_used)]

use std::process::Output;
use std::time::{Duration, Instant};

use nfguard::lab::{self, Lab};

/// `iptables-save` output without comments and counters, and without tables that hold nothing but
/// built-in chains with ACCEPT policies: iptables-nft keeps a table once it was touched, which is
/// equivalent to no table at all.
fn normalize(dump: &str) -> String {
    let mut out = String::new();
    let mut table: Vec<&str> = Vec::new();
    for line in dump.lines().filter(|l| !l.starts_with('#')) {
        table.push(line);
        if line == "COMMIT" {
            let empty = table.iter().all(|l| {
                l.starts_with('*')
                    || *l == "COMMIT"
                    || (l.starts_with(':') && l.contains(" ACCEPT"))
            });
            if !empty {
                for l in &table {
                    out.push_str(l.split(" [").next().unwrap_or(l));
                    out.push('\n');
                }
            }
            table.clear();
        }
    }
    out
}

fn state(lab: &Lab) -> String {
    let text = |o: Output| String::from_utf8_lossy(&o.stdout).into_owned();
    let strip = |s: String| normalize(&s);
    let mut s = strip(text(lab.router.exec(&["iptables-save"]).unwrap()));
    s += &strip(text(lab.router.exec(&["ip6tables-save"]).unwrap()));
    for ifname in [&lab.lan_if, &lab.wan_if] {
        s += &text(
            lab.router
                .exec(&["tc", "qdisc", "show", "dev", ifname])
                .unwrap(),
        );
    }
    s
}

fn setup(lab: &Lab) -> std::path::PathBuf {
    let cfg = lab.dir.join("nfguard.toml");
    std::fs::write(
        &cfg,
        format!(
            "runtime_dir = \"{d}/run\"\n[capture]\nqueues = \"0:1\"\ninterfaces = [\"{lan}\", \"{wan}\"]\nnever_queue = [\"192.0.2.0/24\", \"fd00:ffff::/64\"]\n",
            d = lab.dir.display(),
            lan = lab.lan_if,
            wan = lab.wan_if
        ),
    )
    .unwrap();
    std::fs::write(
        lab.dir.join("policy.toml"),
        "default = \"accept\"\n[[rule]]\nname = \"video-cap\"\ncategory = [\"Video\"]\naction = \"shape\"\nrate = \"2mbit\"\n",
    )
    .unwrap();
    cfg
}

fn nfguard(lab: &Lab, args: &[&str]) -> Output {
    let mut c = lab.router.command(env!("CARGO_BIN_EXE_nfguard"));
    c.args(args).output().unwrap()
}

#[test]
fn apply_then_remove_restores_everything() {
    if !lab::available() {
        eprintln!("skipped: needs root to create network namespaces");
        return;
    }
    let lab = Lab::new().unwrap();
    // Somebody else's rule must survive untouched.
    lab.router
        .ip46tables(&[
            "-t", "mangle", "-A", "FORWARD", "-p", "udp", "--dport", "9", "-j", "ACCEPT",
        ])
        .unwrap();
    let cfg = setup(&lab);
    let cfg = cfg.to_str().unwrap();
    let before = state(&lab);

    let out = nfguard(&lab, &["rules", "-c", cfg, "--apply"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let applied = state(&lab);
    assert!(
        applied.contains("-A NFGUARD -j NFQUEUE --queue-balance 0:1 --queue-bypass"),
        "{applied}"
    );
    assert!(applied.contains(&format!("-A FORWARD -i {} -j NFGUARD", lab.lan_if)));
    assert!(applied.contains("NFGUARD-REJECT"));
    assert!(applied.contains("htb"), "no HTB qdisc: {applied}");
    // Applying twice is refused rather than doubling every rule.
    assert!(
        !nfguard(&lab, &["rules", "-c", cfg, "--apply"])
            .status
            .success()
    );

    let out = nfguard(&lab, &["rules", "-c", cfg, "--remove"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(state(&lab), before);
}

#[test]
fn unconfirmed_apply_rolls_back_and_confirmed_stays() {
    if !lab::available() {
        eprintln!("skipped: needs root to create network namespaces");
        return;
    }
    let lab = Lab::new().unwrap();
    let cfg = setup(&lab);
    let cfg = cfg.to_str().unwrap();
    let before = state(&lab);

    let started = Instant::now();
    let out = nfguard(&lab, &["rules", "-c", cfg, "--apply", "--confirm", "1s"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(state(&lab), before, "rules stayed without confirmation");

    // runtime_dir as `nfguard run` leaves it: the service user's, who may have planted a link
    // for root's marker write to follow.
    let run = lab.dir.join("run");
    std::fs::create_dir_all(&run).unwrap();
    let victim = lab.dir.join("victim");
    std::fs::write(&victim, "untouched").unwrap();
    std::os::unix::fs::symlink(&victim, run.join("rules.unconfirmed")).unwrap();
    std::os::unix::fs::lchown(run.join("rules.unconfirmed"), Some(65534), Some(65534)).unwrap();
    std::os::unix::fs::chown(&run, Some(65534), Some(65534)).unwrap();
    let mut waiting = lab.router.command(env!("CARGO_BIN_EXE_nfguard"));
    let mut waiting = waiting
        .args(["rules", "-c", cfg, "--apply", "--confirm", "20s"])
        .spawn()
        .unwrap();
    let marker = lab.dir.join("run-rules/unconfirmed");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !marker.exists() {
        assert!(
            Instant::now() < deadline,
            "apply never waited for confirmation"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = nfguard(&lab, &["rules", "-c", cfg, "--confirm"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(waiting.wait().unwrap().success());
    assert!(state(&lab).contains("-A NFGUARD -j NFQUEUE"));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched");
    assert!(
        nfguard(&lab, &["rules", "-c", cfg, "--remove"])
            .status
            .success()
    );
    assert_eq!(state(&lab), before);
}
