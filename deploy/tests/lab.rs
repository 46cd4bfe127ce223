//! The netns lab itself: client → router → server over IPv4 and IPv6, through an `-j NFQUEUE` rule that
//! only passes traffic while a consumer answers, and everything gone afterwards.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use nfguard::lab::{self, Lab};

fn ping(lab: &Lab, ip: &str) -> bool {
    lab.client
        .output(&["ping", "-c", "2", "-i", "0.2", "-W", "1", ip])
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[test]
fn ping_through_nfqueue_v4_and_v6() {
    if !lab::available() {
        eprintln!("skipped: needs root and iproute2 to create network namespaces");
        return;
    }
    let lab = Lab::new().expect("lab");
    lab.wait_ready(Duration::from_secs(5)).expect("lab routes");
    let (v4, v6) = (
        lab.server_addr.v4.to_string(),
        lab.server_addr.v6.to_string(),
    );

    // No --queue-bypass: with nobody bound, the queue drops, which proves the rule is in the path.
    lab.router
        .ip46tables(&["-A", "FORWARD", "-j", "NFQUEUE", "--queue-num", "7"])
        .unwrap();
    assert!(
        !ping(&lab, &v4),
        "IPv4 passed an NFQUEUE rule nobody serves"
    );
    assert!(
        !ping(&lab, &v6),
        "IPv6 passed an NFQUEUE rule nobody serves"
    );

    let exe = env!("CARGO_BIN_EXE_nfqueue-accept");
    let mut child = lab
        .router
        .command(exe)
        .args(["--queue", "7"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    assert_eq!(ready.trim(), "ready");
    lab.router.adopt(child).unwrap();

    assert!(ping(&lab, &v4), "IPv4 ping through the accept loop failed");
    assert!(ping(&lab, &v6), "IPv6 ping through the accept loop failed");
    assert!(
        lab.router
            .rule_packets(false, "filter", "FORWARD", "NFQUEUE")
            .unwrap()
            >= 4
    );
    assert!(
        lab.router
            .rule_packets(true, "filter", "FORWARD", "NFQUEUE")
            .unwrap()
            >= 4
    );
}

#[test]
fn lab_leaves_nothing_behind() {
    if !lab::available() {
        eprintln!("skipped: needs root and iproute2 to create network namespaces");
        return;
    }
    let names;
    let dir;
    {
        let lab = Lab::new().expect("lab");
        names = [
            lab.client.name.clone(),
            lab.router.name.clone(),
            lab.server.name.clone(),
        ];
        dir = lab.dir.clone();
        lab.server.spawn(&["sleep", "300"]).unwrap();
        assert!(dir.exists());
    }
    let list = String::from_utf8(
        std::process::Command::new("ip")
            .args(["netns", "list"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    for n in &names {
        assert!(!list.contains(n.as_str()), "namespace {n} survived the lab");
    }
    assert!(!dir.exists());
}

#[test]
fn lab_is_removed_when_a_test_panics() {
    if !lab::available() {
        eprintln!("skipped: needs root and iproute2 to create network namespaces");
        return;
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let r = std::thread::spawn(move || {
        let lab = Lab::new().expect("lab");
        tx.send(lab.router.name.clone()).unwrap();
        panic!("test failure inside a lab");
    })
    .join();
    assert!(r.is_err());
    let name = rx.recv().unwrap();
    let list = String::from_utf8(
        std::process::Command::new("ip")
            .args(["netns", "list"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert!(!list.contains(&name), "{name} survived a panic");
}
