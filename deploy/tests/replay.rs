//! `nfguard replay` on captures recorded from real programs (classifier/testdata): the DESIGN §6 JSON line,
//! the dry-run verdict with `--policy`, and a clear error for an unreadable file.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../classifier/testdata")
        .join(name)
}

fn replay(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_nfguard"))
        .arg("replay")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn json_lines_carry_the_tls_server_name() {
    let out = replay(&["--json", testdata("curl_tls_lo.pcap").to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    let f = &lines[0];
    assert_eq!(f["l4"], "TCP");
    assert_eq!(f["master"], "TLS");
    assert_eq!(f["master_id"], 91);
    assert_eq!(f["host"], "x.test");
    assert_eq!(f["confidence"], "dpi");
    assert!(f["packets"].as_u64().unwrap() > 3);
    assert!(f["verdict"].is_null() && f["rule"].is_null());
}

#[test]
fn policy_dry_run_names_verdict_and_rule() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        "default = \"accept\"\n[[rule]]\nname = \"no-x\"\nhost = \"*.test\"\naction = \"reject\"\n",
    )
    .unwrap();
    let out = replay(&[
        "--json",
        "--policy",
        policy.to_str().unwrap(),
        testdata("curl_tls_lo.pcap").to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let f: serde_json::Value =
        serde_json::from_str(String::from_utf8(out.stdout).unwrap().trim()).unwrap();
    assert_eq!(f["verdict"], "reject");
    assert_eq!(f["rule"], "no-x");

    // A bad rule file is a usage error naming file, line and key.
    std::fs::write(&policy, "default = \"accept\"\n[[rule]]\nname = \"p2p\"\napp = [\"BitTorent\"]\naction = \"drop\"\n").unwrap();
    let out = replay(&[
        "--policy",
        policy.to_str().unwrap(),
        testdata("curl_tls_lo.pcap").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("policy.toml:4: rule[0].app: unknown application \"BitTorent\" (did you mean \"BitTorrent\"?)"), "{err}");
}

#[test]
fn unreadable_and_garbage_files_fail_cleanly() {
    let out = replay(&["/nonexistent/capture.pcap"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/capture.pcap"));
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.pcap");
    std::fs::write(&junk, b"this is not a capture file at all").unwrap();
    let out = replay(&[junk.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
}
