//! A queue another process holds: the kernel answers EPERM exactly as it does without CAP_NET_ADMIN,
//! so `nfguard-capture` reads the queue table and says who holds it instead of "Operation not
//! permitted" (which reads like a privilege problem).
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use nfguard::lab::{self, Lab};

const QUEUE: &str = "7";

fn config(lab: &Lab, name: &str) -> std::path::PathBuf {
    let dir = lab.dir.join(name);
    let path = lab.dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "runtime_dir = \"{}\"\n[capture]\nqueues = \"{QUEUE}\"\n",
            dir.display()
        ),
    )
    .unwrap();
    path
}

#[test]
fn a_queue_held_by_another_process_is_named_as_such() {
    if !lab::available() {
        eprintln!("skipped: needs root to create network namespaces");
        return;
    }
    let capture = Path::new(env!("CARGO_BIN_EXE_nfguard")).with_file_name("nfguard-capture");
    assert!(
        capture.exists(),
        "build the workspace first (cargo build --workspace)"
    );
    let lab = Lab::new().unwrap();
    // The first worker holds queue 7 (its own runtime dir: the bus sockets must not be what collides).
    let first = lab
        .router
        .command(capture.to_str().unwrap())
        .args(["--queue", QUEUE, "-c"])
        .arg(config(&lab, "first"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _first = Kill(first);
    let start = Instant::now();
    loop {
        let table = lab
            .router
            .exec(&["cat", "/proc/net/netfilter/nfnetlink_queue"])
            .unwrap();
        let bound = String::from_utf8_lossy(&table.stdout)
            .lines()
            .any(|l| l.split_whitespace().next() == Some(QUEUE));
        if bound {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the first worker never bound queue {QUEUE}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let second = lab
        .router
        .command(capture.to_str().unwrap())
        .args(["--queue", QUEUE, "-c"])
        .arg(config(&lab, "second"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!second.status.success());
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(
        err.contains(&format!(
            "queue {QUEUE} is already bound by another process (netlink port "
        )),
        "{err}"
    );
    assert!(!err.contains("Operation not permitted"), "{err}");
}
