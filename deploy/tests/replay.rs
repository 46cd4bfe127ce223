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

/// A little-endian pcapng block: type, total length, body (padded to 4), total length.
fn pcapng_block(ty: u32, body: &[u8]) -> Vec<u8> {
    let mut b = body.to_vec();
    b.resize(b.len().div_ceil(4) * 4, 0);
    let len = u32::try_from(b.len() + 12).unwrap();
    let mut out = ty.to_le_bytes().to_vec();
    out.extend(len.to_le_bytes());
    out.extend(b);
    out.extend(len.to_le_bytes());
    out
}

/// An Enhanced Packet Block on interface `iface` holding an IPv4/UDP packet from `sport` to port 9999.
fn udp_epb(iface: u32, sport: u16) -> Vec<u8> {
    let payload = b"nfguard replay test";
    let udp_len = u16::try_from(8 + payload.len()).unwrap();
    let ip_len = 20 + udp_len;
    let mut ip = vec![
        0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 2, 10, 0, 1, 2,
    ];
    ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
    ip.extend(sport.to_be_bytes());
    ip.extend(9999u16.to_be_bytes());
    ip.extend(udp_len.to_be_bytes());
    ip.extend([0, 0]);
    ip.extend(payload);
    let mut body = iface.to_le_bytes().to_vec();
    body.extend([0u8; 8]); // timestamp
    let n = u32::try_from(ip.len()).unwrap();
    body.extend(n.to_le_bytes());
    body.extend(n.to_le_bytes());
    body.extend(ip);
    pcapng_block(6, &body)
}

#[test]
fn a_malformed_pcapng_block_is_reported_and_exits_2_but_the_rest_is_read() {
    let mut shb_body = vec![0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0];
    shb_body.extend([0xff; 8]);
    let mut file = pcapng_block(0x0a0d_0d0a, &shb_body);
    // Interface 0: raw IP (link type 101).
    file.extend(pcapng_block(1, &[101, 0, 0, 0, 0xff, 0xff, 0, 0]));
    file.extend(udp_epb(0, 40_001));
    let bad_at = file.len();
    file.extend(udp_epb(5, 40_002)); // interface 5 was never described
    file.extend(udp_epb(0, 40_003));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad-block.pcapng");
    std::fs::write(&path, &file).unwrap();

    let out = replay(&["--json", path.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "1 unreadable pcapng block(s) skipped (first at byte {bad_at}:"
        )),
        "{err}"
    );
    let ports: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["src"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        ports,
        ["10.0.0.2:40001", "10.0.0.2:40003"],
        "the flow after the bad block is read"
    );
}
