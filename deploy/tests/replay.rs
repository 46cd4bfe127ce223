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

/// A rule file rejecting `*.test` (the host curl_tls_lo.pcap asks for).
fn reject_x_test(dir: &Path) -> PathBuf {
    let policy = dir.join("policy.toml");
    std::fs::write(
        &policy,
        "default = \"accept\"\n[[rule]]\nname = \"no-x\"\nhost = \"*.test\"\naction = \"reject\"\n",
    )
    .unwrap();
    policy
}

#[test]
fn policy_dry_run_names_verdict_and_rule() {
    let dir = tempfile::tempdir().unwrap();
    let policy = reject_x_test(dir.path());
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

fn json_lines(out: &std::process::Output) -> Vec<serde_json::Value> {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn verdicts_say_why_each_packet_got_its_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let policy = reject_x_test(dir.path());
    let lines = json_lines(&replay(&[
        "--json",
        "--verdicts",
        "--policy",
        policy.to_str().unwrap(),
        testdata("curl_tls_lo.pcap").to_str().unwrap(),
    ]));
    let packets: Vec<&serde_json::Value> = lines.iter().filter(|l| l["frame"].is_u64()).collect();
    let why: Vec<&str> = packets.iter().map(|p| p["why"].as_str().unwrap()).collect();
    // The handshake passes provisionally while the host rule waits for DPI, the ClientHello gets
    // the decision, every later packet the cached reject (offloaded: NF_REPEAT with the bits).
    let decided = why.iter().position(|w| *w == "decided").unwrap();
    assert!(decided >= 2, "{why:?}");
    assert!(
        why[..decided].iter().all(|w| *w == "provisional"),
        "{why:?}"
    );
    assert!(why[decided + 1..].iter().all(|w| *w == "cached"), "{why:?}");
    assert!(packets[decided..].iter().all(|p| p["verdict"] == "reject"));
    assert!(
        packets[..decided]
            .iter()
            .all(|p| p["verdict"] == "accept" && p["nf"] == "accept")
    );
    assert_eq!(packets[decided]["nf"], "repeat");
    let flows: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["l4"].is_string() && l["frame"].is_null())
        .collect();
    assert_eq!(flows.len(), 1);
    assert_eq!(flows[0]["verdict"], "reject");
    assert_eq!(flows[0]["packets"].as_u64(), Some(packets.len() as u64));
}

/// `curl_tls_lo.pcap` without its first `skip` packets (classic pcap: 24-byte file header, 16-byte
/// record headers whose third field is the captured length).
fn cut_capture(dir: &Path, skip: usize) -> PathBuf {
    let data = std::fs::read(testdata("curl_tls_lo.pcap")).unwrap();
    let mut at = 24;
    for _ in 0..skip {
        let caplen = u32::from_le_bytes(data[at + 8..at + 12].try_into().unwrap()) as usize;
        at += 16 + caplen;
    }
    let mut out = data[..24].to_vec();
    out.extend_from_slice(&data[at..]);
    let path = dir.join("midstream.pcap");
    std::fs::write(&path, out).unwrap();
    path
}

#[test]
fn a_flow_cut_by_the_capture_start_is_classified_unless_live_midstream() {
    let dir = tempfile::tempdir().unwrap();
    // Without the SYN, SYN-ACK and ACK the first packet is the ClientHello.
    let cut = cut_capture(dir.path(), 3);
    let lines = json_lines(&replay(&["--json", cut.to_str().unwrap()]));
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["master"], "TLS");
    assert_eq!(lines[0]["host"], "x.test");
    // As a live queue sees a flow first met mid-stream: midstream_verdict, no DPI.
    let lines = json_lines(&replay(&[
        "--json",
        "--verdicts",
        "--live-midstream",
        cut.to_str().unwrap(),
    ]));
    let why: Vec<&str> = lines.iter().filter_map(|l| l["why"].as_str()).collect();
    assert_eq!(why.first(), Some(&"midstream"), "{why:?}");
    assert!(why[1..].iter().all(|w| *w == "cached"), "{why:?}");
    let flow = lines.iter().find(|l| l["frame"].is_null()).unwrap();
    assert_eq!(flow["label"], "Unknown");
}
