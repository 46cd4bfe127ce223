//! The kernel side of nfguard on the demo's NAT router (`nfguard run`, queues 0:1, offload, rules applied
//! by the supervisor exactly as `nfguard rules --apply` does): conntrack accounting of offloaded flows,
//! re-decision of offloaded flows on a policy change, HTB shaping of an offloaded flow, the NFQUEUE rule
//! counter standing still once a flow is offloaded, and address rules under MASQUERADE.
//!
//! Each test builds its own lab (dropped, with every rule and process, even on panic); the tests take a
//! lock so that only one lab runs at a time on this small machine.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on a broken lab step"
)]

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nfguard::demo::{DEMO_POLICY, DemoSystem};
use nfguard::lab;
use nfguard_proto::pb;

static ONE_LAB: Mutex<()> = Mutex::new(());

fn start() -> Option<(std::sync::MutexGuard<'static, ()>, DemoSystem)> {
    if !lab::available() {
        eprintln!("skipped: needs root to create network namespaces");
        return None;
    }
    let guard = ONE_LAB.lock().unwrap_or_else(|p| p.into_inner());
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_nfguard")).parent().unwrap();
    let sys = DemoSystem::start(bin_dir).expect("demo system");
    Some((guard, sys))
}

/// Every `FlowEvent` published on the conntrack worker's `flows-ct.sock`, collected by a real bus
/// subscriber on its own thread.
struct CtEvents {
    seen: Arc<Mutex<Vec<pb::FlowEvent>>>,
}

impl CtEvents {
    fn subscribe(sys: &DemoSystem) -> CtEvents {
        let endpoint = format!("ipc://{}/run/flows-ct.sock", sys.lab.dir.display());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let out = seen.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let mut sub = nfguard_proto::bus::Subscriber::connect(&[endpoint]);
                // Bounded: the thread ends with the test binary at the latest.
                let deadline = Instant::now() + Duration::from_secs(300);
                while Instant::now() < deadline {
                    if let Ok(Ok(m)) =
                        tokio::time::timeout(Duration::from_secs(1), sub.recv()).await
                        && let Some(pb::published::Body::FlowEvent(ev)) = m.body
                    {
                        out.lock().unwrap().push(ev);
                    }
                }
            });
        });
        // Let the SUB connect before traffic (a PUB drops what no subscriber has asked for yet).
        std::thread::sleep(Duration::from_millis(500));
        CtEvents { seen }
    }

    /// Waits up to `timeout` for an END event whose tuple goes to `server_ip:port`.
    fn wait_end(&self, server_ip: &str, port: u32, timeout: Duration) -> Option<pb::FlowEvent> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let found = self
                .seen
                .lock()
                .unwrap()
                .iter()
                .find(|e| {
                    e.tuple.as_ref().is_some_and(|t| {
                        t.server_port == port
                            && nfguard_proto::FlowKey::from_tuple(t)
                                .is_some_and(|k| k.server.ip().to_string() == server_ip)
                    })
                })
                .cloned();
            if found.is_some() {
                return found;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }
}

fn client_ok(sys: &DemoSystem, args: &[&str]) -> bool {
    sys.lab
        .client
        .output(args)
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Sum of the NFQUEUE rule counters of nfguard's chain (v4 or v6).
fn queued(sys: &DemoSystem, v6: bool) -> u64 {
    sys.lab
        .router
        .rule_packets(v6, "mangle", "NFGUARD", "NFQUEUE")
        .expect("NFQUEUE rule in NFGUARD")
}

fn rule_counter(sys: &DemoSystem, v6: bool, needle: &str) -> u64 {
    sys.lab
        .router
        .rule_packets(v6, "mangle", "NFGUARD", needle)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A conntrack END for an offloaded ~10 MB HTTP download carries the kernel's byte count, v4 and v6.
#[test]
fn offloaded_transfer_ends_with_kernel_counters() {
    let Some((_g, sys)) = start() else { return };
    const SIZE: usize = 10 << 20;
    std::fs::write(sys.lab.dir.join("www/ten.bin"), vec![0xa5u8; SIZE]).unwrap();
    let events = CtEvents::subscribe(&sys);
    for (v6, ip) in [
        (false, sys.lab.server_addr.v4.to_string()),
        (true, sys.lab.server_addr.v6.to_string()),
    ] {
        let url = if v6 {
            format!("http://[{ip}]/ten.bin")
        } else {
            format!("http://{ip}/ten.bin")
        };
        let q0 = queued(&sys, v6);
        assert!(
            client_ok(&sys, &["curl", "-sf", "-m", "30", "-o", "/dev/null", &url]),
            "download of {url} failed"
        );
        let q = queued(&sys, v6) - q0;
        // ~7000 wire packets; only the handshake and the classified first payload are queued.
        assert!(q < 60, "{q} packets queued for an offloaded 10 MB flow");
        // TCP keeps the entry in TIME_WAIT for 2 min: end it now, as an expiry would.
        let fam = if v6 { "ipv6" } else { "ipv4" };
        sys.lab
            .router
            .exec(&[
                "conntrack",
                "-D",
                "-f",
                fam,
                "-p",
                "tcp",
                "-d",
                &ip,
                "--dport",
                "80",
            ])
            .expect("conntrack -D");
        let ev = events
            .wait_end(&ip, 80, Duration::from_secs(10))
            .unwrap_or_else(|| panic!("no END for {url} on flows-ct.sock"));
        assert!(ev.offloaded);
        assert_eq!(ev.kind, pb::FlowEventKind::FlowEventEnd as i32);
        assert_eq!(ev.verdict, "accept");
        assert_eq!(ev.label, "HTTP", "label from the connmark's app bits");
        let err = (ev.bytes_s2c as f64 - SIZE as f64).abs() / SIZE as f64;
        eprintln!(
            "{url}: kernel counted {} B server→client in {} packets ({:.2} % off {SIZE} B of payload), {} B client→server; {q} packets queued",
            ev.bytes_s2c,
            ev.packets_s2c,
            err * 100.0,
            ev.bytes_c2s
        );
        assert!(err < 0.05, "kernel bytes {} vs {SIZE}", ev.bytes_s2c);
        assert!(ev.packets_c2s > 0 && ev.bytes_c2s > 0);
    }
}

/// A long HTTP download accepted and offloaded under policy 1 is cut within 2 s of writing policy 2,
/// which drops HTTP: the conntrack worker clears the verdict bits, the next packet comes back to the
/// capture, which re-decides from its cached classification.
#[test]
fn policy_change_cuts_an_offloaded_flow() {
    let Some((_g, sys)) = start() else { return };
    let ip = sys.lab.server_addr.v4.to_string();
    // A paced HTTP server: 2 kB every 10 ms (200 kB/s) for 20 s, so the wire carries the flow all along
    // (curl --limit-rate only paces its reading; the socket buffers would take the file at once).
    let slow = sys.lab.dir.join("slow_http.py");
    std::fs::write(&slow, SLOW_HTTP).unwrap();
    sys.lab
        .server
        .spawn(&["python3", slow.to_str().unwrap(), "8080"])
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    // Counts server→client HTTP packets that got past nfguard's mangle chain.
    sys.lab
        .router
        .iptables(&["-I", "FORWARD", "-p", "tcp", "--sport", "8080"])
        .unwrap();
    let passed = || {
        sys.lab
            .router
            .rule_packets(false, "filter", "FORWARD", "tcp spt:8080")
            .unwrap()
    };
    let out = sys.lab.dir.join("slow.out");
    let curl = sys
        .lab
        .client
        .command("curl")
        .args([
            "-s",
            "--speed-limit",
            "1000",
            "--speed-time",
            "5",
            "-m",
            "40",
            "-o",
        ])
        .arg(&out)
        .arg(format!("http://{ip}:8080/stream"))
        .stdin(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = curl.id();
    sys.lab.client.adopt(curl).unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let q_before = queued(&sys, false);
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        queued(&sys, false) - q_before < 3,
        "the flow is not offloaded under policy 1"
    );
    let got = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
    assert!(
        (200_000..1_200_000).contains(&got),
        "{got} B after 4 s under policy 1 (200 kB/s expected)"
    );
    let p0 = passed();
    std::thread::sleep(Duration::from_millis(500));
    assert!(passed() > p0, "no HTTP packets on the wire before the edit");

    let policy2 = format!(
        "{}\n[[rule]]\nname = \"no-http\"\napp = [\"HTTP\"]\naction = \"drop\"\n",
        DEMO_POLICY
    );
    // First match wins; none of the demo's rules matches plain HTTP, so appending is enough.
    std::fs::write(sys.lab.dir.join("policy.toml"), policy2).unwrap();
    let edited = Instant::now();
    let (mut last, mut last_change) = (passed(), Instant::now());
    while last_change.elapsed() < Duration::from_secs(3)
        && edited.elapsed() < Duration::from_secs(15)
    {
        std::thread::sleep(Duration::from_millis(20));
        let n = passed();
        if n != last {
            (last, last_change) = (n, Instant::now());
        }
    }
    let cut = last_change.saturating_duration_since(edited);
    eprintln!("policy edit → last HTTP packet forwarded: {cut:?}");
    assert!(
        last_change.elapsed() >= Duration::from_secs(3),
        "HTTP packets still forwarded 15 s after the edit"
    );
    assert!(cut < Duration::from_secs(2), "cut after {cut:?}");
    // curl gives up (speed limit) instead of finishing the 4 MB.
    let deadline = Instant::now() + Duration::from_secs(30);
    while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let got = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
    assert!(got < 4_000_000, "the whole stream arrived ({got} B)");
    let drops = rule_counter(&sys, false, "mark match 0x2/0x3");
    assert!(drops > 0, "no retransmission dropped in the kernel");
}

/// Answers one HTTP request per connection with 4 MB, paced at 2 kB per 10 ms.
const SLOW_HTTP: &str = r#"
import socket, sys, threading, time
def serve(c):
    try:
        c.recv(4096)
        c.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 4000000\r\n\r\n")
        for _ in range(2000):
            c.sendall(b"z" * 2000)
            time.sleep(0.01)
    except OSError:
        pass
    c.close()
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(8)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"#;

/// The demo's `video-cap` (2 Mbit/s for YouTube) holds a TLS download with a YouTube SNI to 2 Mbit/s
/// ± 20 % while the flow is offloaded (the NFQUEUE counter stands still meanwhile).
#[test]
fn youtube_is_shaped_while_offloaded() {
    let Some((_g, sys)) = start() else { return };
    let ip = sys.lab.server_addr.v4.to_string();
    const SIZE: usize = 1_500_000; // 6 s at 2 Mbit/s
    let www = sys.lab.dir.join("www");
    std::fs::write(www.join("video.bin"), vec![0x33u8; SIZE]).unwrap();
    let (cert, key) = (sys.lab.dir.join("cert.pem"), sys.lab.dir.join("key.pem"));
    let server = sys
        .lab
        .server
        .command("openssl")
        .args(["s_server", "-WWW", "-quiet", "-accept", "8443", "-cert"])
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .current_dir(&www)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    sys.lab.server.adopt(server).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let out = sys.lab.dir.join("video.out");
    let url = "https://www.youtube.com:8443/video.bin";
    let resolve = format!("www.youtube.com:8443:{ip}");
    let curl = sys
        .lab
        .client
        .command("curl")
        .args(["-sk", "-m", "30", "--resolve", &resolve, "-o"])
        .arg(&out)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    sys.lab.client.adopt(curl).unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let (q1, t1) = (queued(&sys, false), Instant::now());
    let b1 = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
    std::thread::sleep(Duration::from_secs(3));
    let (q2, t2) = (queued(&sys, false), Instant::now());
    let b2 = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
    // `s_server -WWW` answers HTTP/1.0 without a length and keeps the connection: done is the full size.
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0) < SIZE as u64
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let total = started.elapsed();
    let got = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
    assert_eq!(got as usize, SIZE, "download incomplete");
    let mid_rate = (b2 - b1) as f64 * 8.0 / (t2 - t1).as_secs_f64();
    let whole_rate = got as f64 * 8.0 / total.as_secs_f64();
    eprintln!(
        "shaped YouTube flow: {:.3} Mbit/s in the middle 3 s, {:.3} Mbit/s over {total:?}; {} packets queued meanwhile",
        mid_rate / 1e6,
        whole_rate / 1e6,
        q2 - q1
    );
    assert!(
        q2 - q1 < 3,
        "flow still queued mid-transfer ({} packets)",
        q2 - q1
    );
    assert!(
        (1.6e6..=2.4e6).contains(&mid_rate),
        "mid-transfer rate {mid_rate} bit/s"
    );
    let label = sys
        .json("/api/v1/flows?limit=200")
        .and_then(|v| v["flows"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .any(|f| f["label"] == "TLS.YouTube");
    assert!(label, "the flow was not classified as TLS.YouTube");
}

/// Accepted flow: queued only for its first packets. Dropped TCP flow (BitTorrent, decided on its
/// first payload): queued once, its retransmissions dropped in the kernel by the saved connmark.
#[test]
fn applied_rules_offload_accepted_and_dropped_flows() {
    let Some((_g, sys)) = start() else { return };
    let ip = sys.lab.server_addr.v4.to_string();
    for v6 in [false, true] {
        let url = if v6 {
            format!("http://[{}]/big.bin", sys.lab.server_addr.v6)
        } else {
            format!("http://{ip}/big.bin")
        };
        let q0 = queued(&sys, v6);
        assert!(client_ok(
            &sys,
            &["curl", "-sf", "-m", "20", "-o", "/dev/null", &url]
        ));
        let q = queued(&sys, v6) - q0;
        eprintln!("accepted 4 MB HTTP (v6 {v6}): {q} packets queued");
        assert!((3..40).contains(&q), "{q} packets queued");
    }
    let q0 = queued(&sys, false);
    let d0 = rule_counter(&sys, false, "mark match 0x2/0x3");
    let bt = sys.lab.dir.join("bt_client.py");
    assert!(
        !client_ok(&sys, &["python3", bt.to_str().unwrap(), &ip]),
        "BitTorrent handshake was answered"
    );
    let q = queued(&sys, false) - q0;
    let d = rule_counter(&sys, false, "mark match 0x2/0x3") - d0;
    eprintln!("dropped BitTorrent flow: {q} packets queued, {d} dropped in the kernel");
    assert!(
        d >= 2,
        "retransmissions not dropped by the saved connmark ({d})"
    );
    // SYN, ACK, the handshake payload (+ the FIN/RST of the client's close at most).
    assert!(q <= 6, "{q} packets queued for a dropped flow");
}

/// Under MASQUERADE a rule on the server's address matches (FORWARD sees it after DNAT, before SNAT),
/// and a rule on the LAN client's own address does too (the address before SNAT), v4 and v6.
#[test]
fn address_rules_match_behind_nat() {
    let Some((_g, sys)) = start() else { return };
    let (s4, s6) = (sys.lab.server_addr.v4, sys.lab.server_addr.v6);
    let (c4, c6) = (sys.lab.client_addr.v4, sys.lab.client_addr.v6);
    let policy = format!(
        "default = \"accept\"\n\n[[rule]]\nname = \"srv-http\"\ndst = [\"{s4}/32\", \"{s6}/128\"]\nport = [80]\naction = \"reject\"\n\n[[rule]]\nname = \"lan-ssh\"\nsrc = [\"{c4}/32\", \"{c6}/128\"]\nport = [22]\naction = \"reject\"\n"
    );
    std::fs::write(sys.lab.dir.join("policy.toml"), policy).unwrap();
    std::thread::sleep(Duration::from_secs(3)); // the policy polls its file every second
    for (http, tls, ssh) in [
        (
            format!("http://{s4}/"),
            format!("https://{s4}/"),
            s4.to_string(),
        ),
        (
            format!("http://[{s6}]/"),
            format!("https://[{s6}]/"),
            s6.to_string(),
        ),
    ] {
        let t = Instant::now();
        assert!(
            !client_ok(&sys, &["curl", "-s", "-m", "10", "-o", "/dev/null", &http]),
            "{http} passed"
        );
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "{http}: a timeout, not a reject"
        );
        assert!(
            client_ok(&sys, &["curl", "-sk", "-m", "10", "-o", "/dev/null", &tls]),
            "{tls} blocked"
        );
        assert!(
            !client_ok(&sys, &["nc", "-z", "-w", "3", &ssh, "22"]),
            "ssh to {ssh} passed"
        );
    }
}
