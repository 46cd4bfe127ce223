//! Every flow on record (issue #21), end to end: `nfguard run` on the lab's NAT router (offload,
//! manage_rules, a policy with an app rule) and traffic that never reaches a decision — one-packet
//! UDP flows whose payload DPI cannot place and TCP SYNs the server never answers, as a scan sends
//! them. Each must end up in the store as its own record, `verdict = "undecided"`, with its tuple,
//! packets, bytes and times, counted in the aggregates, and the capture must count them as new
//! flows. The lab (namespaces, veths, rules) and nfguard are removed on drop, even on panic.
#![allow(clippy::unwrap_used)]

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nfguard::demo::{get_json, http_get, nfguard_ready};
use nfguard::lab::{self, Lab};

const GATEWAY_PORT: u16 = 3121;
const UDP_FLOWS: u16 = 40;
const SYN_FLOWS: u16 = 15;
/// The server drops whatever reaches this port before any socket (no reply goes back).
const SINK_PORT: u16 = 9;

const POLICY: &str = r#"default = "accept"

[[rule]]
name = "no-p2p"
app = ["BitTorrent"]
action = "drop"
"#;

/// `nfguard run` inside the router: SIGTERM (which removes its rules), then SIGKILL, on drop.
struct Nfguard(Child);

impl Drop for Nfguard {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn metric(gw: SocketAddr, name: &str) -> f64 {
    let metrics = http_get(gw, "/metrics").map(|(_, m)| m).unwrap_or_default();
    metrics
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Waits until every process reports up and the managed rules are in.
fn wait_ready(lab: &Lab, gw: SocketAddr) {
    let parts = ["store", "policy", "classifier", "capture-q0", "conntrack"];
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (rules, up) = nfguard_ready(lab, gw, &parts);
        if rules && up {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "nfguard not ready (rules {rules}, parts up {up}); see {}",
            lab.dir.join("nfguard.log").display()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn setup(lab: &Lab, bin_dir: &Path) -> (Nfguard, SocketAddr) {
    let gateway_ip: Ipv4Addr = lab.nat_router_with_gateway(GATEWAY_PORT).unwrap();
    for l4 in ["udp", "tcp"] {
        lab.server
            .iptables(&[
                "-t",
                "raw",
                "-A",
                "PREROUTING",
                "-p",
                l4,
                "--dport",
                &SINK_PORT.to_string(),
                "-j",
                "DROP",
            ])
            .unwrap();
    }
    std::fs::write(lab.dir.join("policy.toml"), POLICY).unwrap();
    let cfg = format!(
        "runtime_dir = \"{d}/run\"\n\n[capture]\nqueues = \"0\"\ninterfaces = [\"{lan}\", \"{wan}\"]\noffload = true\nmanage_rules = true\n\n[policy]\nrules = \"policy.toml\"\n\n[store]\npath = \"{d}/store\"\nflush_interval = \"200ms\"\n\n[gateway]\nlisten = \"127.0.0.1:{GATEWAY_PORT}\"\nallowed_hosts = [\"{gateway_ip}\"]\n\n[supervisor]\nbin_dir = \"{bin}\"\n# About flow records, not privileges.\nuser = \"root\"\nallow_root = true\n",
        d = lab.dir.display(),
        lan = lab.lan_if,
        wan = lab.wan_if,
        bin = bin_dir.display()
    );
    let cfg_path = lab.dir.join("nfguard.toml");
    std::fs::write(&cfg_path, cfg).unwrap();
    let log = std::fs::File::create(lab.dir.join("nfguard.log")).unwrap();
    let child = lab
        .router
        .command(&bin_dir.join("nfguard").display().to_string())
        .args(["run", "-c"])
        .arg(&cfg_path)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    (Nfguard(child), SocketAddr::from((gateway_ip, GATEWAY_PORT)))
}

/// From the client: one UDP datagram (32 pseudo-random bytes, seeded by the flow's index so every
/// run sends the same ones) from each of `UDP_FLOWS` source ports, and a SYN (with the kernel's
/// retransmissions: the same flow) from each of `SYN_FLOWS` more.
const SCAN: &str = r#"
import random, socket, sys, time
ip, port, udp, syn = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
for i in range(udp):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("", 41000 + i))
    s.sendto(random.Random(i).randbytes(32), (ip, port))
    s.close()
held = []
for i in range(syn):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    s.bind(("", 42000 + i))
    s.connect_ex((ip, port))
    held.append(s)
time.sleep(1.5)
"#;

#[test]
fn flows_that_never_get_a_decision_are_recorded() {
    if !lab::available() {
        eprintln!("skipped: needs root to create network namespaces");
        return;
    }
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_nfguard")).parent().unwrap();
    for b in [
        "nfguard-capture",
        "nfguard-classifier",
        "nfguard-policy",
        "nfguard-store",
        "nfguard-gateway",
    ] {
        assert!(
            bin_dir.join(b).exists(),
            "{} is missing: build the workspace first (cargo build --workspace)",
            bin_dir.join(b).display()
        );
    }
    let lab = Lab::new().unwrap();
    let (_nfguard, gw) = setup(&lab, bin_dir);
    wait_ready(&lab, gw);
    let new_before = metric(gw, "nfguard_flows_new_total");

    let ip = lab.server_addr.v4.to_string();
    let out = lab
        .client
        .output(&[
            "python3",
            "-c",
            SCAN,
            &ip,
            &SINK_PORT.to_string(),
            &UDP_FLOWS.to_string(),
            &SYN_FLOWS.to_string(),
        ])
        .unwrap();
    assert!(out.status.success(), "scan failed: {out:?}");

    // Undecided flows leave the table after its undecided timeout (15 s) and one sweep (5 s).
    let sink = format!("{ip}:{SINK_PORT}");
    let deadline = Instant::now() + Duration::from_secs(60);
    let records = loop {
        let flows = get_json(gw, "/api/v1/flows?window=1h&limit=1000")
            .and_then(|v| v["flows"].as_array().cloned())
            .unwrap_or_default();
        let to_sink: Vec<serde_json::Value> = flows
            .into_iter()
            .filter(|f| f["dst"].as_str() == Some(sink.as_str()))
            .collect();
        if to_sink.len() >= usize::from(UDP_FLOWS + SYN_FLOWS) {
            break to_sink;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} flows on record: {to_sink:#?}; log {}",
            to_sink.len(),
            UDP_FLOWS + SYN_FLOWS,
            lab.dir.join("nfguard.log").display()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(
        records.len(),
        usize::from(UDP_FLOWS + SYN_FLOWS),
        "one record per flow: {records:#?}"
    );
    let client = lab.client_addr.v4.to_string();
    // On a loaded machine a flow's request may time out (its packets then got default_verdict):
    // still on record, with that reason, and counted as fail-open.
    let fail_open_records = records
        .iter()
        .filter(|f| f["end_reason"] != "undecided")
        .count();
    for (l4, n, first_port, packet_bytes) in [
        ("UDP", UDP_FLOWS, 41000u16, 20 + 8 + 32),
        ("TCP", SYN_FLOWS, 42000, 0),
    ] {
        let mut ports: Vec<u16> = records
            .iter()
            .filter(|f| f["l4"] == l4)
            .map(|f| {
                assert_eq!(f["verdict"], "undecided", "{f}");
                assert_eq!(f["state"], "ended", "{f}");
                let why = f["end_reason"].as_str().unwrap_or_default();
                assert!(
                    why == "undecided"
                        || why.strip_prefix("fail_open:").is_some_and(|r| {
                            [
                                "timeout",
                                "peer_down",
                                "overload",
                                "overloaded",
                                "not_connected",
                            ]
                            .contains(&r)
                        }),
                    "{f}"
                );
                assert_eq!(f["label"], "Unknown", "{f}");
                assert_eq!(f["bytes_s2c"], 0, "nothing came back: {f}");
                let first = f["first_seen_ms"].as_u64().unwrap();
                let last = f["last_seen_ms"].as_u64().unwrap();
                assert!(
                    first > 0 && last >= first && last - first < 10_000,
                    "times are the packets', not the expiry's: {f}"
                );
                if packet_bytes > 0 {
                    assert_eq!(
                        (f["packets"].as_u64(), f["bytes"].as_u64()),
                        (Some(1), Some(packet_bytes)),
                        "{f}"
                    );
                } else {
                    assert!(f["packets"].as_u64().unwrap() >= 1, "{f}");
                }
                let (src_ip, port) = f["src"].as_str().unwrap().rsplit_once(':').unwrap();
                assert_eq!(src_ip, client, "{f}");
                port.parse().unwrap()
            })
            .collect();
        ports.sort_unstable();
        let expected: Vec<u16> = (first_port..first_port + n).collect();
        assert_eq!(ports, expected, "{l4} flows on record");
    }

    // Aggregates count them, and the capture counted them as new flows.
    let verdicts = get_json(gw, "/api/v1/verdicts/top?window=1h").unwrap();
    let undecided = verdicts["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["key"] == "undecided")
        .cloned()
        .unwrap_or_else(|| panic!("no undecided in top verdicts: {verdicts}"));
    assert!(
        undecided["flows"].as_u64().unwrap() >= u64::from(UDP_FLOWS + SYN_FLOWS),
        "{undecided}"
    );
    // The counters come with the capture's next heartbeat (every second).
    let flows = f64::from(UDP_FLOWS + SYN_FLOWS);
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric(gw, "nfguard_flows_new_total") - new_before < flows
        || metric(gw, "nfguard_flows_undecided_total") < flows
        || metric(gw, "nfguard_fail_open_total") < fail_open_records as f64
    {
        assert!(
            Instant::now() < deadline,
            "not counted: new {}, undecided {}, fail-open {} (records with a fail-open reason: {fail_open_records})",
            metric(gw, "nfguard_flows_new_total") - new_before,
            metric(gw, "nfguard_flows_undecided_total"),
            metric(gw, "nfguard_fail_open_total")
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(metric(gw, "nfguard_flows_unrecorded_total"), 0.0);
}
