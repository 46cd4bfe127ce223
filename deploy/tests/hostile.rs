//! The probes of issue #20, replayed as a hostile user and a careless operator would: malformed SNIs
//! against a host rule (real capture → classifier → policy path), `PutPolicy` on the bus from a
//! process without the bus secret under `nfguard run`, hostile interface names and configs the
//! runtime cannot honour (a FIFO among them) at `nfguard check`, and a malformed pcapng at
//! `nfguard replay`. The connection flood against a lowered `RLIMIT_NOFILE` is
//! `gateway/tests/limits.rs` (it starts the gateway binary under `prlimit`); the privileges of
//! every child are `deploy/tests/supervisor.rs`.
#![allow(clippy::unwrap_used)]

mod capture_support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use capture_support::{Rig, binaries, lab_ok};
use nfguard::lab::{self, Lab};
use nfguard_proto::bus::{RpcClient, Subscriber};
use nfguard_proto::pb;
use nfguard_proto::process::endpoints;

const PLAIN: &str = "offload = false\n";

fn nfguard(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_nfguard"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

// ------------------------------------------------------------------ configs

/// Configs that once passed `nfguard check` and broke the runtime, or injected into a script: each is
/// refused with exit 64 and `FILE:LINE: KEY: message` naming the key.
#[test]
fn hostile_configs_and_interface_names_are_refused_by_check() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("policy.toml"), "default = \"accept\"\n").unwrap();
    let pwned = dir.path().join("PWNED");
    let cases: Vec<(String, &str)> = vec![
        (
            format!(
                "[capture]\ninterfaces = [\"x;touch${{IFS}}{};\"]\n",
                pwned.display()
            ),
            "capture.interfaces[0]",
        ),
        (
            "[capture]\ninterfaces = [\"eth0 -j ACCEPT\"]\n".into(),
            "capture.interfaces[0]",
        ),
        (
            format!("[capture]\ninterfaces = [\"{}\"]\n", "a".repeat(16)),
            "capture.interfaces[0]",
        ),
        (
            "[supervisor]\nheartbeat_timeout = \"0s\"\n".into(),
            "supervisor.heartbeat_timeout",
        ),
        (
            "[supervisor]\nrestart_backoff = \"10s\"\nrestart_backoff_max = \"5s\"\n".into(),
            "supervisor.restart_backoff_max",
        ),
        (
            "[capture]\nflow_table_size = 100000000\n".into(),
            "capture.flow_table_size",
        ),
        (
            "[gateway]\nlisten = \"0.0.0.0:3100\"\n".into(),
            "gateway.listen",
        ),
        (
            "[gateway]\ntoken_file = \"missing-token\"\n".into(),
            "gateway.token_file",
        ),
        (
            "[supervisor]\nuser = \"no-such-user-nfg\"\n".into(),
            "supervisor.user",
        ),
    ];
    for (i, (text, key)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("c{i}.toml"));
        std::fs::write(&path, text).unwrap();
        let out = nfguard(&["check", "-c", path.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{text}: {err}");
        assert!(
            err.contains(&format!("{}:", path.display())) && err.contains(&format!(": {key}: ")),
            "{text}: {err}"
        );
        if *key == "supervisor.user" {
            // Only `nfguard run` starts processes as that user; `nfguard rules` does not need it.
            continue;
        }
        // `nfguard rules` never prints a script for such a config.
        let out = nfguard(&["rules", "-c", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(64), "{text}");
        assert!(out.stdout.is_empty(), "{text}");
    }
    assert!(!pwned.exists());

    // A FIFO is refused at once (a read would block forever), and so is a device.
    let fifo = dir.path().join("fifo.toml");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let started = Instant::now();
    let out = nfguard(&["check", "-c", fifo.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a regular file"));
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "check waited on the FIFO"
    );
    let out = nfguard(&["check", "-c", "/dev/zero"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a regular file"));
}

// ------------------------------------------------------------------ the bus

/// `nfguard run` with its children as `nobody`; this test process (root, but without the bus secret)
/// is the hostile peer on `policy.sock`.
#[test]
fn put_policy_without_the_bus_secret_is_refused_and_counted() {
    if !lab::available() {
        eprintln!("skipped: needs root to create network namespaces");
        return;
    }
    let lab = Lab::new().unwrap();
    let rules = lab.dir.join("policy.toml");
    const RULES: &str = "default = \"accept\"\nmode = \"enforce\"\n\n[[rule]]\nname = \"no-telnet\"\nport = [23]\naction = \"drop\"\n";
    std::fs::write(&rules, RULES).unwrap();
    let cfg_path = lab.dir.join("nfguard.toml");
    let port = 20_000 + (std::process::id() % 20_000);
    std::fs::write(
        &cfg_path,
        format!(
            "runtime_dir = \"{d}/run\"\n[capture]\nqueues = \"0\"\n[store]\npath = \"{d}/db\"\n[gateway]\nlisten = \"127.0.0.1:{port}\"\n[supervisor]\nuser = \"nobody\"\nbin_dir = \"{bin}\"\n",
            d = lab.dir.display(),
            bin = Path::new(env!("CARGO_BIN_EXE_nfguard")).parent().unwrap().display()
        ),
    )
    .unwrap();
    lab.hand_over("nobody", &["policy.toml"]).unwrap();
    let sup = lab
        .router
        .command(env!("CARGO_BIN_EXE_nfguard"))
        .args(["run", "-c"])
        .arg(&cfg_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut sup = Supervisor(sup);
    let cfg = nfguard_proto::config::Config::load(&cfg_path).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = RpcClient::<pb::PolicyRequest, pb::PolicyResponse>::connect(
            &cfg.endpoint(endpoints::POLICY),
        );
        let mut metrics = Subscriber::connect(&[cfg.endpoint(&endpoints::metrics("policy"))]);
        let hostile = pb::PolicyRequest {
            body: Some(pb::policy_request::Body::Put(pb::PutPolicy {
                toml: "default = \"accept\"\nmode = \"monitor\"\n".into(),
                auth: b"guessed-guessed-guessed-guessed-guessed".to_vec(),
            })),
        };
        // The issue's probe: a DEALER on policy.sock. Retried while the policy process starts.
        let deadline = Instant::now() + Duration::from_secs(20);
        let reply = loop {
            match client.call(&hostile, Duration::from_secs(2)).await {
                Ok(pb::PolicyResponse {
                    body: Some(pb::policy_response::Body::Policy(p)),
                }) => break p,
                other => {
                    assert!(
                        Instant::now() < deadline,
                        "policy never answered: {other:?}"
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        assert!(!reply.ok, "PutPolicy without the secret was obeyed");
        assert!(
            reply.error.contains("needs the bus secret"),
            "{}",
            reply.error
        );
        assert_eq!(std::fs::read_to_string(&rules).unwrap(), RULES);
        let start = Instant::now();
        loop {
            let m = tokio::time::timeout(Duration::from_secs(5), metrics.recv())
                .await
                .expect("no policy heartbeat")
                .unwrap();
            if let Some(pb::published::Body::Metrics(s)) = m.body
                && let Some(v) = s
                    .metrics
                    .iter()
                    .find(|x| x.name == "nfguard_policy_bus_refused_total")
                && v.value >= 1.0
            {
                assert_eq!(v.value, 1.0);
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "refusal never counted"
            );
        }
    });
    let pid = nix::unistd::Pid::from_raw(i32::try_from(sup.0.id()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    assert_eq!(sup.0.wait().unwrap().code(), Some(0));
}

struct Supervisor(std::process::Child);

impl Drop for Supervisor {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// ------------------------------------------------------------------ malformed names on the wire

/// A TCP peer standing in for a TLS server that serves any name: it answers `served` to anything
/// that starts like a TLS handshake record, one thread per connection (a dropped hello leaves its
/// connection waiting).
const NAME_PEER: &str = r#"
import socket, sys, threading
def serve(c):
    c.settimeout(5)
    try:
        if c.recv(4096)[:1] == b'\x16':
            c.sendall(b'served')
    except OSError:
        pass
    c.close()
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(('::', int(sys.argv[1])))
s.listen(16)
while True:
    threading.Thread(target=serve, args=(s.accept()[0],), daemon=True).start()
"#;

/// The client: a TLS 1.3 ClientHello built from RFC 8446 §4.1.2 whose server_name is the hex bytes
/// of argv[3] (any bytes: a NUL, 300 of them); prints `reply` when the peer answered, else `blocked`.
const NAME_CLIENT: &str = r#"
import socket, struct, sys
def v16(b): return struct.pack('!H', len(b)) + b
sni = bytes.fromhex(sys.argv[3])
exts = (struct.pack('!H', 0) + v16(v16(b'\x00' + v16(sni)))
        + struct.pack('!H', 16) + v16(v16(b'\x02h2'))
        + struct.pack('!H', 43) + v16(b'\x02\x03\x04'))
body = b'\x03\x03' + b'\x11' * 32 + b'\x00' + v16(b'\x13\x01') + b'\x01\x00' + v16(exts)
msg = b'\x01' + struct.pack('!I', len(body))[1:] + body
try:
    c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
    c.sendall(b'\x16\x03\x01' + v16(msg))
    print('reply' if c.recv(16) == b'served' else 'blocked')
except OSError:
    print('blocked')
"#;

/// Issue #20: SNIs that are too long, hold a NUL, or differ by case and a trailing dot still meet
/// `host = "*.example-video.test"` (reject) through the real capture → classifier → policy path,
/// and a malformed name no host rule names meets the `risk` rule; a plain other name passes.
#[test]
fn malformed_sni_cannot_evade_a_host_rule() {
    if !lab_ok() {
        return;
    }
    let Some((capture, policy, classifier)) = binaries() else {
        return;
    };
    let rules = r#"default = "accept"

[[rule]]
name = "no-video"
host = "*.example-video.test"
action = "reject"

[[rule]]
name = "bad-names"
risk = ["ndpi_invalid_characters", "ndpi_malformed_packet"]
action = "drop"
"#;
    let mut rig = Rig::new(PLAIN, rules);
    rig.plain_queue_rule("--queue-num 0");
    rig.start_peers(&policy, &classifier);
    rig.start_capture(&capture, 0);
    let peer = rig.lab.dir.join("name_peer.py");
    let client = rig.lab.dir.join("name_client.py");
    std::fs::write(&peer, NAME_PEER).unwrap();
    std::fs::write(&client, NAME_CLIENT).unwrap();
    rig.lab
        .server
        .spawn(&["python3", peer.to_str().unwrap(), "8443"])
        .unwrap();
    let server = rig.lab.server_addr.v4.to_string();
    let hello = |sni: &[u8]| {
        let hex: String = sni.iter().map(|b| format!("{b:02x}")).collect();
        let out = rig
            .lab
            .client
            .output(&["python3", client.to_str().unwrap(), &server, "8443", &hex])
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    // The peer needs a moment to listen: wait for the control name to be served.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while hello(b"www.other.test") != "reply" {
        assert!(
            std::time::Instant::now() < deadline,
            "the control name was never served"
        );
    }
    let long = format!("{}.example-video.test", "a".repeat(300));
    for sni in [
        long.as_bytes(),
        b"x\0.evil.example-video.test",
        b"WWW.Example-Video.TEST.",
        b"x\0.other.test",
    ] {
        let got = hello(sni);
        if got != "blocked" {
            rig.dump_logs();
        }
        assert_eq!(got, "blocked", "{:?}", String::from_utf8_lossy(sni));
    }
    let again = hello(b"www.other.test");
    if again != "reply" {
        rig.dump_logs();
    }
    assert_eq!(again, "reply", "the control name after the blocked ones");
}

// ------------------------------------------------------------------ replay

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

    let out = nfguard(&["replay", "--json", path.to_str().unwrap()]);
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
