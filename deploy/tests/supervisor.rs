//! `nfguard run` with the real processes: a child killed with SIGKILL is back within 2 s, a stopped
//! (SIGSTOP) child is detected by its missing heartbeat and replaced, SIGTERM stops everything and exits 0.
//! Runs inside a lab namespace so the capture workers' queues are private to the test.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nfguard::lab::{self, Lab};

fn bin(name: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_BIN_EXE_nfguard")).with_file_name(name);
    assert!(
        p.exists(),
        "{} is missing: build the whole workspace first (cargo build --workspace)",
        p.display()
    );
    p
}

/// Pids of processes whose command line contains both `program` and `needle`.
fn pids(program: &str, needle: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains(program) && cmd.contains(needle) {
            out.push(pid);
        }
    }
    out
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    start.elapsed()
}

struct Supervisor(Child);

impl Drop for Supervisor {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn signal(pid: i32, sig: &str) {
    assert!(
        Command::new("kill")
            .args([&format!("-{sig}"), &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
}

fn alive(pid: i32) -> bool {
    // A zombie has no cmdline; a reaped process has no /proc entry.
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| !c.is_empty())
}

#[test]
fn restarts_crashed_and_silent_children_and_stops_cleanly() {
    if !lab::available() {
        eprintln!("skipped: needs root to create network namespaces");
        return;
    }
    for b in [
        "nfguard-store",
        "nfguard-policy",
        "nfguard-classifier",
        "nfguard-gateway",
        "nfguard-capture",
    ] {
        bin(b);
    }
    let lab = Lab::new().unwrap();
    let cfg_path = lab.dir.join("nfguard.toml");
    let policy = lab.dir.join("policy.toml");
    std::fs::write(&policy, "default = \"accept\"\n").unwrap();
    let port = 20_000 + (std::process::id() % 20_000);
    std::fs::write(
        &cfg_path,
        format!(
            "runtime_dir = \"{dir}/run\"\n[capture]\nqueues = \"0\"\n[store]\npath = \"{dir}/db\"\n[gateway]\nlisten = \"127.0.0.1:{port}\"\n[supervisor]\nheartbeat_timeout = \"1500ms\"\n",
            dir = lab.dir.display()
        ),
    )
    .unwrap();
    let needle = cfg_path.display().to_string();
    let child = lab
        .router
        .command(env!("CARGO_BIN_EXE_nfguard"))
        .args(["run", "-c"])
        .arg(&cfg_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut sup = Supervisor(child);

    // Every part up: the policy process is the one we torment.
    wait_for("policy started", Duration::from_secs(10), || {
        pids("nfguard-policy", &needle).len() == 1
    });
    wait_for("classifier started", Duration::from_secs(10), || {
        pids("nfguard-classifier", &needle).len() == 1
    });
    std::thread::sleep(Duration::from_secs(2));
    let first = pids("nfguard-policy", &needle)[0];

    signal(first, "KILL");
    let took = wait_for(
        "policy restarted after SIGKILL",
        Duration::from_secs(2),
        || {
            pids("nfguard-policy", &needle)
                .iter()
                .any(|p| *p != first && alive(*p))
        },
    );
    eprintln!("policy back {took:?} after SIGKILL");
    let second = *pids("nfguard-policy", &needle)
        .iter()
        .find(|p| **p != first)
        .unwrap();

    // Let it send heartbeats, then freeze it: the supervisor must notice the silence.
    std::thread::sleep(Duration::from_secs(2));
    signal(second, "STOP");
    wait_for("stopped policy replaced", Duration::from_secs(8), || {
        !alive(second)
            && pids("nfguard-policy", &needle)
                .iter()
                .any(|p| *p != second && *p != first && alive(*p))
    });

    let all_before = [
        "nfguard-store",
        "nfguard-policy",
        "nfguard-classifier",
        "nfguard-gateway",
        "nfguard-capture",
    ]
    .iter()
    .map(|b| pids(b, &needle).len())
    .sum::<usize>();
    assert!(
        all_before >= 5,
        "expected every child running, found {all_before}"
    );
    signal(i32::try_from(sup.0.id()).unwrap(), "TERM");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = sup.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "supervisor did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
    for b in [
        "nfguard-store",
        "nfguard-policy",
        "nfguard-classifier",
        "nfguard-gateway",
        "nfguard-capture",
    ] {
        let left: Vec<i32> = pids(b, &needle).into_iter().filter(|p| alive(*p)).collect();
        assert!(left.is_empty(), "{b} still running after SIGTERM: {left:?}");
    }
}
