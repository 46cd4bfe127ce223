//! Policy through the capture worker, end to end with the real policy and classifier processes:
//! pass-through with one and two workers, a port rule that drops the SYN, an app rule that stops a
//! BitTorrent handshake while HTTP passes — over IPv4 and IPv6.
#![allow(clippy::unwrap_used)]

mod capture_support;

use capture_support::{Rig, binaries, lab_ok};

const PLAIN: &str = "offload = false\n";
const POLICY: &str = r#"default = "accept"

[[rule]]
name = "no-port-9000"
port = 9000
action = "drop"

[[rule]]
name = "no-bittorrent"
app = "BitTorrent"
action = "drop"
"#;

#[test]
fn pass_through_one_worker() {
    if !lab_ok() {
        return;
    }
    let Some((capture, policy, classifier)) = binaries() else {
        return;
    };
    let mut rig = Rig::new(PLAIN, "default = \"accept\"\n");
    rig.plain_queue_rule("--queue-num 0");
    rig.start_peers(&policy, &classifier);
    rig.start_capture(&capture, 0);
    rig.http_server(8080, 1_000_000);
    let (v4, v6) = (
        rig.lab.server_addr.v4.to_string(),
        rig.lab.server_addr.v6.to_string(),
    );
    assert!(
        rig.ping(&v4, 3) && rig.ping(&v6, 3),
        "ping failed through the worker"
    );
    for v6 in [false, true] {
        assert_eq!(
            rig.curl(&rig.url(v6, 8080, "/blob"), 20),
            Some(1_000_000),
            "HTTP v6={v6}"
        );
    }
    let m = rig.metrics("capture-q0");
    let accepted = m.get("nfguard_packets_total", &[("verdict", "accept")]);
    assert!(
        accepted >= 100.0,
        "too few packets through the worker: {accepted}"
    );
    assert!(m.get("nfguard_flows_decided_total", &[("verdict", "accept")]) >= 4.0);
    // The transfers' decided packets left in batch verdicts (NFQNL_MSG_VERDICT_BATCH): had the kernel
    // ignored a batch, its packets would have stayed queued and the transfers above stalled.
    let batched = m.get("nfguard_batched_verdicts_total", &[]);
    assert!(
        batched >= 50.0 && batched > m.get("nfguard_verdict_batches_total", &[]),
        "batch verdicts unused: {batched} packets"
    );
    // With both peers up, nothing fell back to the default verdict.
    let failed = m.get("nfguard_fail_open_total", &[]);
    if failed > 0.0 {
        rig.dump_logs();
    }
    assert_eq!(
        failed, 0.0,
        "decisions fell back to fail-open with the peers running"
    );
}

#[test]
fn pass_through_two_workers_queue_balance() {
    if !lab_ok() {
        return;
    }
    let Some((capture, policy, classifier)) = binaries() else {
        return;
    };
    let mut rig = Rig::new(PLAIN, "default = \"accept\"\n");
    rig.plain_queue_rule("--queue-balance 0:1");
    rig.start_peers(&policy, &classifier);
    rig.start_capture(&capture, 0);
    rig.start_capture(&capture, 1);
    rig.http_server(8080, 200_000);
    let (v4, v6) = (
        rig.lab.server_addr.v4.to_string(),
        rig.lab.server_addr.v6.to_string(),
    );
    assert!(rig.ping(&v4, 2) && rig.ping(&v6, 2));
    for v6 in [false, true] {
        for _ in 0..3 {
            assert_eq!(
                rig.curl(&rig.url(v6, 8080, "/blob"), 20),
                Some(200_000),
                "HTTP v6={v6}"
            );
        }
    }
    // The kernel spreads flows by address hash; between them the two workers saw all of it.
    let q0 = rig.metrics("capture-q0").get("nfguard_packets_total", &[]);
    let q1 = rig.metrics("capture-q1").get("nfguard_packets_total", &[]);
    eprintln!("packets: queue 0 {q0}, queue 1 {q1}");
    let queued = rig
        .lab
        .router
        .rule_packets(false, "mangle", "FORWARD", "NFQUEUE")
        .unwrap()
        + rig
            .lab
            .router
            .rule_packets(true, "mangle", "FORWARD", "NFQUEUE")
            .unwrap();
    assert!(
        q0 + q1 >= queued as f64 * 0.95,
        "workers saw {q0}+{q1} of {queued} queued packets"
    );
}

fn port_rule_drops_syn(v6: bool) {
    let Some((capture, policy, classifier)) = binaries() else {
        return;
    };
    let mut rig = Rig::new(PLAIN, POLICY);
    rig.plain_queue_rule("--queue-num 0");
    rig.start_peers(&policy, &classifier);
    rig.start_capture(&capture, 0);
    rig.http_server(9000, 1000);
    rig.http_server(8080, 1000);
    // Counts SYNs that reach the server: the drop must happen before.
    let tool = if v6 { "ip6tables" } else { "iptables" };
    rig.lab
        .server
        .exec(&[
            tool, "-w", "-I", "INPUT", "-p", "tcp", "--dport", "9000", "--syn",
        ])
        .unwrap();
    assert_eq!(
        rig.curl(&rig.url(v6, 9000, "/blob"), 3),
        None,
        "port 9000 passed a drop rule (v6={v6})"
    );
    assert_eq!(
        rig.lab
            .server
            .rule_packets(v6, "filter", "INPUT", "dpt:9000")
            .unwrap(),
        0,
        "a SYN reached the server"
    );
    assert_eq!(
        rig.curl(&rig.url(v6, 8080, "/blob"), 5),
        Some(1000),
        "port 8080 blocked (v6={v6})"
    );
    let m = rig.metrics("capture-q0");
    assert!(m.get("nfguard_packets_total", &[("verdict", "drop")]) >= 1.0);
    assert!(m.get("nfguard_flows_decided_total", &[("verdict", "drop")]) >= 1.0);
}

#[test]
fn port_rule_drops_syn_v4() {
    if lab_ok() {
        port_rule_drops_syn(false);
    }
}

#[test]
fn port_rule_drops_syn_v6() {
    if lab_ok() {
        port_rule_drops_syn(true);
    }
}

fn bittorrent_dropped_http_passes(v6: bool) {
    let Some((capture, policy, classifier)) = binaries() else {
        return;
    };
    let mut rig = Rig::new(PLAIN, POLICY);
    rig.plain_queue_rule("--queue-num 0");
    rig.start_peers(&policy, &classifier);
    rig.start_capture(&capture, 0);
    rig.bt_peer(6881);
    rig.http_server(8080, 50_000);
    assert!(
        !rig.bt_handshake(v6, 6881),
        "BitTorrent handshake answered through a drop rule (v6={v6})"
    );
    assert_eq!(
        rig.curl(&rig.url(v6, 8080, "/blob"), 5),
        Some(50_000),
        "HTTP blocked (v6={v6})"
    );
    let m = rig.metrics("capture-q0");
    if m.get("nfguard_flows_decided_total", &[("verdict", "drop")]) < 1.0 {
        rig.dump_logs();
    }
    assert!(m.get("nfguard_flows_decided_total", &[("verdict", "drop")]) >= 1.0);
    assert!(m.get("nfguard_flows_decided_total", &[("verdict", "accept")]) >= 1.0);
}

#[test]
fn bittorrent_dropped_http_passes_v4() {
    if lab_ok() {
        bittorrent_dropped_http_passes(false);
    }
}

#[test]
fn bittorrent_dropped_http_passes_v6() {
    if lab_ok() {
        bittorrent_dropped_http_passes(true);
    }
}
