//! Malformed input end to end: truncated transport headers and garbage sent with raw sockets from the
//! client namespace cross the router's NFQUEUE; the worker answers them with the default verdict,
//! counts them by reason, and keeps serving good traffic.
#![allow(clippy::unwrap_used)]

mod capture_support;

use capture_support::{Rig, binary, lab_ok};

#[test]
fn malformed_packets_are_counted_and_survived() {
    if !lab_ok() {
        return;
    }
    let Some(capture) = binary("nfguard-capture") else {
        return;
    };
    let mut rig = Rig::new("offload = false\n", "default = \"accept\"\n");
    rig.plain_queue_rule("--queue-num 0");
    let pid = rig.start_capture(&capture, 0);
    let (v4, v6) = (
        rig.lab.server_addr.v4.to_string(),
        rig.lab.server_addr.v6.to_string(),
    );
    assert!(rig.ping(&v4, 1));
    // The kernel fills in the IP header (valid, or the router's ip_rcv would drop it before netfilter);
    // the transport part is cut short or random.
    let script = format!(
        "import socket, os\n\
         for fam, dst in ((socket.AF_INET, '{v4}'), (socket.AF_INET6, '{v6}')):\n\
         \x20   for proto, body in ((6, b'\\x00\\x50\\x01'), (17, b'\\x12\\x34'), (6, os.urandom(10)), (58, b''), (1, b'')):\n\
         \x20       s = socket.socket(fam, socket.SOCK_RAW, proto if not (fam == socket.AF_INET6 and proto == 1) else 58)\n\
         \x20       for i in range(20):\n\
         \x20           try: s.sendto(body, (dst, 0))\n\
         \x20           except OSError: pass\n"
    );
    let out = rig.lab.client.output(&["python3", "-c", &script]).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::thread::sleep(std::time::Duration::from_millis(1200));
    let m = rig.metrics("capture-q0");
    let bad = m.get(
        "nfguard_decode_errors_total",
        &[("queue", "0"), ("reason", "bad_transport")],
    );
    assert!(bad >= 40.0, "decode errors not counted: {bad}");
    // Still alive, same process, still passing traffic in both families.
    assert!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "worker died"
    );
    assert!(
        rig.ping(&v4, 2) && rig.ping(&v6, 2),
        "worker stopped forwarding after malformed input"
    );
    let m = rig.metrics("capture-q0");
    assert!(m.get("nfguard_packets_total", &[("verdict", "accept")]) >= 4.0);
}
