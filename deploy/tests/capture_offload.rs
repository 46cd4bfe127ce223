//! Offload end to end with DESIGN §5's NFGUARD chain (installed by hand here; `nfguard rules` will
//! generate it): once a flow is decided, its packets stop reaching the queue while a 20 MB transfer
//! goes on, and a flow dropped after DPI reaches user space once.
#![allow(clippy::unwrap_used)]

mod capture_support;

use std::time::Duration;

use capture_support::{Rig, binaries, lab_ok};

const OFFLOAD: &str = "offload = true\n";

fn queued(rig: &Rig, v6: bool) -> u64 {
    rig.lab
        .router
        .rule_packets(v6, "mangle", "NFGUARD", "NFQUEUE")
        .unwrap()
}

#[test]
fn decided_flow_leaves_the_queue() {
    if !lab_ok() {
        return;
    }
    let Some((capture, policy, classifier)) = binaries() else {
        return;
    };
    // An app rule, so HTTP flows go through DPI before they are decided and offloaded.
    let policy_toml = "default = \"accept\"\n\n[[rule]]\nname = \"no-bittorrent\"\napp = \"BitTorrent\"\naction = \"drop\"\n";
    let mut rig = Rig::new(OFFLOAD, policy_toml);
    rig.design_chain("--queue-num 0");
    rig.start_peers(&policy, &classifier);
    rig.start_capture(&capture, 0);
    rig.http_server(8080, 20 << 20);
    for v6 in [false, true] {
        let before = queued(&rig, v6);
        assert_eq!(
            rig.curl(&rig.url(v6, 8080, "/blob"), 60),
            Some(20 << 20),
            "20 MB transfer failed (v6={v6})"
        );
        let during = queued(&rig, v6) - before;
        // 20 MB is ≥ 14 000 packets; the handshake, request and a few in flight while deciding reach us.
        if during > 60 {
            rig.dump_logs();
        }
        assert!(
            during <= 60,
            "{during} packets of an offloaded 20 MB flow went to the queue (v6={v6})"
        );
    }
    let m = rig.metrics("capture-q0");
    assert!(m.get("nfguard_offloaded_flows_total", &[]) >= 2.0);
}

#[test]
fn dropped_flow_reaches_user_space_once() {
    if !lab_ok() {
        return;
    }
    let Some((capture, policy, classifier)) = binaries() else {
        return;
    };
    let policy_toml = "default = \"accept\"\n\n[[rule]]\nname = \"no-bittorrent\"\napp = \"BitTorrent\"\naction = \"drop\"\n";
    let mut rig = Rig::new(OFFLOAD, policy_toml);
    rig.design_chain("--queue-num 0");
    rig.start_peers(&policy, &classifier);
    rig.start_capture(&capture, 0);
    rig.bt_peer(6881);
    assert!(
        !rig.bt_handshake(false, 6881),
        "BitTorrent handshake answered through a drop rule"
    );
    // The client retransmits the handshake for a while; the kernel drops those from the connmark.
    std::thread::sleep(Duration::from_millis(1500));
    let m = rig.metrics("capture-q0");
    let drops = m.get("nfguard_packets_total", &[("verdict", "drop")]);
    if drops != 1.0 {
        rig.dump_logs();
    }
    assert_eq!(
        drops, 1.0,
        "the dropped flow reached user space {drops} times"
    );
    assert!(
        rig.lab
            .router
            .rule_packets(false, "mangle", "NFGUARD", "DROP")
            .unwrap()
            >= 1,
        "no retransmission dropped by the chain"
    );
}
