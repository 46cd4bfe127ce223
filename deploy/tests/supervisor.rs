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

/// Each pid's command line, state, parent and what it waits in (for a failing test's message).
fn describe(pids: &[i32]) -> String {
    pids.iter()
        .map(|p| {
            let read =
                |f: &str| std::fs::read_to_string(format!("/proc/{p}/{f}")).unwrap_or_default();
            let status: String = read("status")
                .lines()
                .filter(|l| l.starts_with("State:") || l.starts_with("PPid:"))
                .collect::<Vec<_>>()
                .join(" ");
            format!(
                "{p}: {} [{status}] wchan={}",
                read("cmdline").replace('\0', " "),
                read("wchan")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

const CHILDREN: [&str; 5] = [
    "nfguard-store",
    "nfguard-policy",
    "nfguard-classifier",
    "nfguard-gateway",
    "nfguard-capture",
];

/// The lab's `nfguard.toml` (one queue, an accept-all policy) and the text that finds its processes.
/// Children run as root here (`allow_root`): these tests are about restarts, not privileges.
fn write_config(lab: &Lab) -> (PathBuf, String) {
    write_config_as(lab, "user = \"root\"\nallow_root = true\n")
}

fn write_config_as(lab: &Lab, supervisor_extra: &str) -> (PathBuf, String) {
    for b in CHILDREN {
        bin(b);
    }
    let cfg_path = lab.dir.join("nfguard.toml");
    std::fs::write(lab.dir.join("policy.toml"), "default = \"accept\"\n").unwrap();
    let port = 20_000 + (std::process::id() % 20_000);
    std::fs::write(
        &cfg_path,
        format!(
            "runtime_dir = \"{dir}/run\"\n[capture]\nqueues = \"0\"\n[store]\npath = \"{dir}/db\"\n[gateway]\nlisten = \"127.0.0.1:{port}\"\n[supervisor]\nheartbeat_timeout = \"1500ms\"\n{supervisor_extra}",
            dir = lab.dir.display()
        ),
    )
    .unwrap();
    let needle = cfg_path.display().to_string();
    (cfg_path, needle)
}

/// `nfguard run -c cfg_path` in the lab's router namespace.
fn start_run(lab: &Lab, cfg_path: &Path) -> Supervisor {
    let child = lab
        .router
        .command(env!("CARGO_BIN_EXE_nfguard"))
        .args(["run", "-c"])
        .arg(cfg_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    Supervisor(child)
}

fn running(needle: &str) -> Vec<i32> {
    CHILDREN
        .iter()
        .flat_map(|b| pids(b, needle))
        .filter(|p| alive(*p))
        .collect()
}

#[test]
fn restarts_crashed_and_silent_children_and_stops_cleanly() {
    if !lab::available() {
        eprintln!("skipped: needs root to create network namespaces");
        return;
    }
    let lab = Lab::new().unwrap();
    let (cfg_path, needle) = write_config(&lab);
    let mut sup = start_run(&lab, &cfg_path);

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

#[test]
fn children_die_with_a_killed_supervisor_and_leftovers_are_stopped() {
    if !lab::available() {
        eprintln!("skipped: needs root to create network namespaces");
        return;
    }
    let lab = Lab::new().unwrap();
    let (cfg_path, needle) = write_config(&lab);
    let record = lab.dir.join("run").join(nfguard::leftovers::RECORD_FILE);
    let mut sup = start_run(&lab, &cfg_path);
    wait_for(
        "all six children on record",
        Duration::from_secs(15),
        || {
            std::fs::read_to_string(&record).is_ok_and(|t| nfguard::leftovers::parse(&t).len() == 6)
                && running(&needle).len() == 6
        },
    );

    // SIGKILL: the supervisor cannot stop anything itself; PR_SET_PDEATHSIG must.
    signal(i32::try_from(sup.0.id()).unwrap(), "KILL");
    let _ = sup.0.wait();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !running(&needle).is_empty() {
        assert!(
            Instant::now() < deadline,
            "children left 10 s after the supervisor's SIGKILL:\n{}",
            describe(&running(&needle))
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // A leftover the death signal does not cover (started outside any supervisor, as by an older
    // version): a classifier holding classifier.sock, on record in the runtime dir.
    let mut orphan = lab
        .router
        .command(bin("nfguard-classifier").to_str().unwrap())
        .arg("-c")
        .arg(&cfg_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let orphan_pid = i32::try_from(orphan.id()).unwrap();
    wait_for("orphan classifier bound", Duration::from_secs(10), || {
        lab.dir.join("run/classifier.sock").exists() && alive(orphan_pid)
    });
    let rec = nfguard::leftovers::record_of("classifier", orphan.id()).unwrap();
    nfguard::leftovers::write(&lab.dir.join("run"), &[rec]).unwrap();

    let mut sup = start_run(&lab, &cfg_path);
    wait_for(
        "orphan stopped by the new run",
        Duration::from_secs(10),
        || orphan.try_wait().unwrap().is_some(),
    );
    wait_for("new run's children up", Duration::from_secs(15), || {
        running(&needle).len() == 6
    });
    // The new classifier keeps running: it was not refused its socket by the orphan.
    let classifier = pids("nfguard-classifier", &needle);
    assert_eq!(classifier.len(), 1, "{classifier:?}");
    assert_ne!(classifier[0], orphan_pid);
    std::thread::sleep(Duration::from_secs(3));
    assert!(alive(classifier[0]), "the new classifier was restarted");
    assert_eq!(pids("nfguard-classifier", &needle), classifier);

    signal(i32::try_from(sup.0.id()).unwrap(), "TERM");
    let _ = sup.0.wait();
    assert!(!record.exists(), "a clean stop leaves no record behind");
}

/// `Name:\tvalue` of `/proc/PID/status`.
fn status_field(pid: i32, field: &str) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
        .trim()
        .to_string()
}

#[test]
fn children_run_as_the_configured_user_with_only_what_they_need() {
    if !lab::available() {
        eprintln!("skipped: needs root to create network namespaces");
        return;
    }
    let lab = Lab::new().unwrap();
    let (cfg_path, needle) = write_config_as(&lab, "user = \"nobody\"\n");
    lab.hand_over("nobody", &["policy.toml"]).unwrap();
    let mut sup = start_run(&lab, &cfg_path);
    wait_for("all six children up", Duration::from_secs(15), || {
        running(&needle).len() == 6
    });
    // The classifier installs its filter once bound; give every child its start-up.
    wait_for("classifier confined", Duration::from_secs(10), || {
        pids("nfguard-classifier", &needle)
            .first()
            .is_some_and(|p| status_field(*p, "Seccomp") == "2")
    });
    let nobody = "65534\t65534\t65534\t65534";
    const NET_ADMIN: &str = "0000000000001000";
    const NONE: &str = "0000000000000000";
    for (program, cap_eff, seccomp) in [
        ("nfguard-store", NONE, "0"),
        ("nfguard-policy", NONE, "0"),
        ("nfguard-classifier", NONE, "2"),
        ("nfguard-gateway", NONE, "0"),
        // The conntrack worker and capture-q0.
        ("nfguard-capture", NET_ADMIN, "0"),
    ] {
        let found = pids(program, &needle);
        assert!(!found.is_empty(), "{program} not running");
        for pid in found {
            assert_eq!(status_field(pid, "Uid"), nobody, "{program} Uid");
            assert_eq!(status_field(pid, "Gid"), nobody, "{program} Gid");
            assert_eq!(status_field(pid, "CapEff"), cap_eff, "{program} CapEff");
            assert_eq!(status_field(pid, "CapPrm"), cap_eff, "{program} CapPrm");
            assert_eq!(status_field(pid, "CapBnd"), cap_eff, "{program} CapBnd");
            assert_eq!(status_field(pid, "NoNewPrivs"), "1", "{program} NoNewPrivs");
            assert_eq!(status_field(pid, "Seccomp"), seccomp, "{program} Seccomp");
        }
    }
    // Nothing was restarted: every child could use what the config names as that user.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(running(&needle).len(), 6);
    let run_dir = std::fs::metadata(lab.dir.join("run")).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&run_dir), 65_534);
    signal(i32::try_from(sup.0.id()).unwrap(), "TERM");
    assert_eq!(sup.0.wait().unwrap().code(), Some(0));
}

#[test]
fn root_children_and_unusable_paths_are_refused_before_anything_starts() {
    if !lab::available() {
        eprintln!("skipped: needs root to create network namespaces");
        return;
    }
    let lab = Lab::new().unwrap();
    let run = |extra: &str| {
        let (cfg_path, _) = write_config_as(&lab, extra);
        let out = Command::new(env!("CARGO_BIN_EXE_nfguard"))
            .args(["run", "-c"])
            .arg(&cfg_path)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run("user = \"root\"\n");
    assert_eq!(code, Some(64), "{err}");
    assert!(
        err.contains("supervisor.user: \"root\" is root (uid 0)"),
        "{err}"
    );
    assert!(err.contains("allow_root = true"), "{err}");
    let (code, err) = run("user = \"no-such-user-nfg\"\n");
    assert_eq!(code, Some(64), "{err}");
    assert!(err.contains("no user \"no-such-user-nfg\""), "{err}");
    // The lab directory is root's (0700): nobody cannot even read the config in it.
    let (code, err) = run("user = \"nobody\"\n");
    assert_eq!(code, Some(64), "{err}");
    assert!(
        err.contains("user nobody (uid 65534) cannot enter") && err.contains("mode 0700"),
        "{err}"
    );
    // `nfguard check` says the same.
    let out = Command::new(env!("CARGO_BIN_EXE_nfguard"))
        .args(["check", "-c"])
        .arg(lab.dir.join("nfguard.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot enter"));
    // Given the directory but with a rule file only root may read: the rule file is named.
    lab.hand_over("nobody", &[]).unwrap();
    use std::os::unix::fs::PermissionsExt;
    let rules = lab.dir.join("policy.toml");
    std::fs::set_permissions(&rules, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (code, err) = run("user = \"nobody\"\n");
    assert_eq!(code, Some(64), "{err}");
    assert!(
        err.contains("policy.rules: user nobody (uid 65534) cannot read"),
        "{err}"
    );
    assert!(
        !lab.dir.join("run").exists(),
        "nothing may start on a refused config"
    );
}

/// A child the supervisor started but that lost it before its parent-death signal was armed (the
/// window between fork and setpriv's prctl) stops by itself: the supervisor's pid in its environment
/// is no longer its parent. With its real parent there, it keeps running.
#[test]
fn a_child_whose_supervisor_is_gone_stops_by_itself() {
    if !lab::available() {
        eprintln!("skipped: needs root to create network namespaces");
        return;
    }
    let lab = Lab::new().unwrap();
    let (cfg_path, _) = write_config(&lab);
    let policy = |supervisor: u32| {
        Command::new(bin("nfguard-policy"))
            .arg("-c")
            .arg(&cfg_path)
            .env(
                nfguard_proto::process::SUPERVISOR_PID_ENV,
                supervisor.to_string(),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    // Its parent is this test, not pid 1.
    let orphan = policy(1);
    let out = orphan.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("The supervisor that started this process is gone; stopping."),
        "{log}"
    );
    let mut kept = policy(std::process::id());
    std::thread::sleep(Duration::from_secs(2));
    let still = kept.try_wait().unwrap().is_none();
    let _ = kept.kill();
    let _ = kept.wait();
    assert!(still, "a child of its own supervisor stopped");
}
