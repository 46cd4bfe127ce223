//! Fail-open end to end: the capture worker with no classifier and no policy running lets traffic
//! through (IPv4 and IPv6); a killed worker is bypassed by `--queue-bypass`; a burst while the worker
//! is stopped overflows its socket and the kernel's bypass shows up in the id-gap counter; the packets
//! that passed the dead worker's rule unqueued show up in the conntrack worker's rule-counter bypass.
#![allow(clippy::unwrap_used)]

mod capture_support;

use std::time::{Duration, Instant};

use capture_support::{Rig, binary, lab_ok};

const PLAIN: &str = "offload = false\nverdict_timeout = \"25ms\"\n";
const POLICY: &str = "default = \"accept\"\n";

#[test]
fn traffic_flows_without_classifier_and_policy() {
    if !lab_ok() {
        return;
    }
    let Some(capture) = binary("nfguard-capture") else {
        return;
    };
    let mut rig = Rig::new(PLAIN, POLICY);
    rig.plain_queue_rule("--queue-num 0");
    rig.start_capture(&capture, 0);
    rig.http_server(8080, 100_000);
    let (v4, v6) = (
        rig.lab.server_addr.v4.to_string(),
        rig.lab.server_addr.v6.to_string(),
    );
    assert!(rig.ping(&v4, 3), "IPv4 ping failed with peers absent");
    assert!(rig.ping(&v6, 3), "IPv6 ping failed with peers absent");
    for v6 in [false, true] {
        let t = Instant::now();
        let n = rig.curl(&rig.url(v6, 8080, "/blob"), 10);
        assert_eq!(
            n,
            Some(100_000),
            "HTTP over {} failed with peers absent",
            if v6 { "IPv6" } else { "IPv4" }
        );
        // No peer: each packet of a new flow costs at most one verdict_timeout, and an absent socket
        // fails at once; a transfer of 100 kB with a few dozen packets stays far below a second.
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "fail-open transfer took {:?}",
            t.elapsed()
        );
    }
    let m = rig.metrics("capture-q0");
    let failed = m.get("nfguard_fail_open_total", &[("queue", "0")]);
    assert!(failed >= 4.0, "fail-open decisions not counted: {failed}");
    assert!(m.get("nfguard_packets_total", &[("verdict", "accept")]) >= 20.0);
    assert_eq!(m.get("nfguard_packets_total", &[("verdict", "drop")]), 0.0);
    // The kernel rule saw the packets: the worker really was in the path.
    assert!(
        rig.lab
            .router
            .rule_packets(false, "mangle", "FORWARD", "NFQUEUE")
            .unwrap()
            >= 20
    );
    assert!(
        rig.lab
            .router
            .rule_packets(true, "mangle", "FORWARD", "NFQUEUE")
            .unwrap()
            >= 20
    );
}

#[test]
fn killed_worker_is_bypassed() {
    if !lab_ok() {
        return;
    }
    let Some(capture) = binary("nfguard-capture") else {
        return;
    };
    let mut rig = Rig::new(PLAIN, POLICY);
    rig.plain_queue_rule("--queue-num 0");
    let pid = rig.start_capture(&capture, 0);
    // The conntrack worker compares the NFQUEUE rules' counters with the packets the queue numbered.
    rig.start(&capture, "conntrack", &["--conntrack"]);
    let v4 = rig.lab.server_addr.v4.to_string();
    let v6 = rig.lab.server_addr.v6.to_string();
    assert!(rig.ping(&v4, 2));
    // Queued packets are not bypass: one poll (5 s) after traffic through the worker, still 0.
    let queued = rule_counter_bypass(&rig, |_| true);
    assert_eq!(queued, 0.0, "queued packets counted as bypassed");
    rig.signal(pid, "-KILL");
    let deadline = Instant::now() + Duration::from_secs(5);
    while rig.queue_bound(0) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!rig.queue_bound(0), "queue still bound after kill -9");
    assert!(
        rig.ping(&v4, 2),
        "IPv4 blocked with no worker despite --queue-bypass"
    );
    assert!(
        rig.ping(&v6, 2),
        "IPv6 blocked with no worker despite --queue-bypass"
    );
    // 4 echo requests and 4 replies crossed FORWARD with no worker: the kernel let them past.
    let bypassed = rule_counter_bypass(&rig, |n| n >= 8.0);
    assert!(
        bypassed >= 8.0,
        "rule-counter bypass not counted: {bypassed}"
    );
}

/// `nfguard_kernel_bypassed_packets_total{queue="0",reason="rule_counter"}` from the conntrack worker
/// once `done` accepts it, or after two of its 5 s polls.
fn rule_counter_bypass(rig: &Rig, done: impl Fn(f64) -> bool) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(12);
    let mut first_seen: Option<Instant> = None;
    loop {
        let m = rig.metrics("conntrack");
        let n = m.get(
            "nfguard_kernel_bypassed_packets_total",
            &[("queue", "0"), ("reason", "rule_counter")],
        );
        let seen = m.has(
            "nfguard_kernel_bypassed_packets_total",
            &[("queue", "0"), ("reason", "rule_counter")],
        );
        if seen {
            let t = *first_seen.get_or_insert_with(Instant::now);
            if (done(n) && t.elapsed() >= Duration::from_secs(6)) || Instant::now() > deadline {
                return n;
            }
        } else if Instant::now() > deadline {
            panic!("the conntrack worker published no rule-counter bypass metric");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn burst_while_stopped_is_counted_as_bypass() {
    if !lab_ok() {
        return;
    }
    let Some(capture) = binary("nfguard-capture") else {
        return;
    };
    // A small socket buffer so a stopped worker overflows it quickly; fail-open keeps traffic going.
    let mut rig = Rig::new(
        "offload = false\nsocket_buffer = \"64KiB\"\nfail_open = true\n",
        POLICY,
    );
    rig.plain_queue_rule("--queue-num 0");
    let pid = rig.start_capture(&capture, 0);
    let v4 = rig.lab.server_addr.v4.to_string();
    assert!(rig.ping(&v4, 1));
    let before = rig.metrics("capture-q0").get(
        "nfguard_kernel_bypassed_packets_total",
        &[("reason", "id_gap")],
    );
    rig.signal(pid, "-STOP");
    let burst = format!(
        "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\nfor i in range(5000): s.sendto(b'x'*32,('{v4}',9))\n"
    );
    let out = rig.lab.client.output(&["python3", "-c", &burst]).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("queue line while stopped: {:?}", rig.queue_line(0));
    rig.signal(pid, "-CONT");
    // A gap shows when the next packet after it arrives: the ping is also the liveness check.
    assert!(rig.ping(&v4, 2), "worker stuck after SIGCONT");
    std::thread::sleep(Duration::from_millis(1200));
    let m = rig.metrics("capture-q0");
    let after = m.get(
        "nfguard_kernel_bypassed_packets_total",
        &[("reason", "id_gap")],
    );
    assert!(
        after > before + 100.0,
        "bypass counter did not rise: {before} -> {after}"
    );
}

#[test]
fn silent_policy_costs_one_timeout_then_the_breaker_answers_at_once() {
    if !lab_ok() {
        return;
    }
    let Some((capture, policy, classifier)) = capture_support::binaries() else {
        return;
    };
    let mut rig = Rig::new(PLAIN, POLICY);
    rig.plain_queue_rule("--queue-num 0");
    let policy_pid = rig.start_peer(&policy, "policy", "policy.sock");
    let classifier_pid = rig.start_peer(&classifier, "classifier", "classifier.sock");
    rig.start_capture(&capture, 0);
    rig.http_server(8080, 10_000);
    // Connected but silent: every request runs into its deadline until the breaker opens.
    rig.signal(policy_pid, "-STOP");
    rig.signal(classifier_pid, "-STOP");
    let t = Instant::now();
    for v6 in [false, true, false, true] {
        assert_eq!(
            rig.curl(&rig.url(v6, 8080, "/blob"), 10),
            Some(10_000),
            "HTTP failed with silent peers"
        );
    }
    // Four flows of about a dozen packets each: without the breaker that would be ≥ 48 × 25 ms.
    let took = t.elapsed();
    let m = rig.metrics("capture-q0");
    let timeouts = m.get("nfguard_verdict_timeouts_total", &[("queue", "0")]);
    // Answered at once: by the breaker (`peer_down`) or, with the default `overload = "bypass-new"`,
    // by the overload window the first timeout opened (`overload`); neither waits for a deadline.
    let down = m.get("nfguard_fail_open_total", &[("reason", "peer_down")])
        + m.get("nfguard_fail_open_total", &[("reason", "overload")]);
    rig.signal(policy_pid, "-CONT");
    rig.signal(classifier_pid, "-CONT");
    assert!(
        down >= 1.0,
        "breaker never answered at once (timeouts {timeouts})"
    );
    assert!(
        timeouts <= 12.0,
        "{timeouts} verdict timeouts for 4 flows: the breaker did not open"
    );
    assert!(
        took < Duration::from_secs(3),
        "4 small transfers took {took:?} with silent peers"
    );
}
