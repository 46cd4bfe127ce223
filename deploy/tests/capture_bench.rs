//! Throughput through the lab router (not in CI: `#[ignore]`; speed claims come from here, never from
//! timed assertions). Run: `cargo test -p nfguard --release --test capture_bench -- --ignored --nocapture`.
//! Prints UDP 64-byte packets/s and TCP bulk Gbit/s for: no queue (ceiling), every packet through
//! nfguard with decided flows (offload off), and nfguard with offload (DESIGN §5 chain).
#![allow(clippy::unwrap_used)]

mod capture_support;

use std::time::Duration;

use capture_support::{Rig, binaries, lab_ok};

fn iperf(rig: &Rig, args: &[&str]) -> serde_json::Value {
    let ip = rig.lab.server_addr.v4.to_string();
    let mut full = vec!["iperf3", "-c", ip.as_str(), "-t", "4", "-J"];
    full.extend_from_slice(args);
    let out = rig.lab.client.output(&full).unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

fn measure(rig: &Rig, label: &str) {
    let tcp = iperf(rig, &[]);
    let gbps = tcp["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .unwrap_or(0.0)
        / 1e9;
    let udp = iperf(rig, &["-u", "-l", "64", "-b", "0"]);
    let sum = &udp["end"]["sum"];
    let secs = sum["seconds"].as_f64().unwrap_or(1.0);
    let sent = sum["packets"].as_f64().unwrap_or(0.0);
    let lost = sum["lost_packets"].as_f64().unwrap_or(0.0);
    println!(
        "{label:<28} TCP {gbps:6.2} Gbit/s | UDP 64 B sent {:8.0} pkt/s, received {:8.0} pkt/s",
        sent / secs,
        (sent - lost) / secs
    );
}

#[test]
#[ignore]
fn throughput() {
    if !lab_ok() {
        return;
    }
    let Some((capture, policy, classifier)) = binaries() else {
        return;
    };
    for mode in ["ceiling", "decided", "offload"] {
        let offload = if mode == "offload" {
            "offload = true\n"
        } else {
            "offload = false\n"
        };
        let mut rig = Rig::new(offload, "default = \"accept\"\n");
        rig.lab.server.spawn(&["iperf3", "-s"]).unwrap();
        match mode {
            "ceiling" => {}
            "decided" => rig.plain_queue_rule("--queue-num 0"),
            _ => rig.design_chain("--queue-num 0"),
        }
        if mode != "ceiling" {
            rig.start_peers(&policy, &classifier);
            rig.start_capture(&capture, 0);
        }
        std::thread::sleep(Duration::from_millis(500));
        measure(&rig, mode);
        if mode != "ceiling" {
            let m = rig.metrics("capture-q0");
            println!(
                "{:<28} queued packets {} (fail-open {})",
                "",
                m.get("nfguard_packets_total", &[]),
                m.get("nfguard_fail_open_total", &[])
            );
        }
    }
}
