//! Shared rig for the capture end-to-end tests: a lab, an `nfguard.toml` in the lab's private
//! directory, the real binaries started inside the router namespace, and metrics read from the
//! worker's heartbeat socket.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use nfguard::lab::{self, Lab};
use nfguard_proto::bus::Subscriber;
use nfguard_proto::pb;

/// A sibling binary of `nfguard` in the target dir, or `None` with a message saying how to build it.
pub fn binary(name: &str) -> Option<PathBuf> {
    let nfguard = PathBuf::from(env!("CARGO_BIN_EXE_nfguard"));
    let path = nfguard.parent()?.join(name);
    if path.exists() {
        Some(path)
    } else {
        eprintln!(
            "skipped: {} is missing; run `cargo build --workspace` first",
            path.display()
        );
        None
    }
}

/// True when the lab can run; prints why not.
pub fn lab_ok() -> bool {
    if !lab::available() {
        eprintln!("skipped: needs root and iproute2 to create network namespaces");
        return false;
    }
    true
}

pub struct Rig {
    pub lab: Lab,
    pub config: PathBuf,
    children: Vec<u32>,
}

/// Extra `[capture]` lines for the config.
pub fn config_text(dir: &Path, capture_extra: &str) -> String {
    format!(
        "runtime_dir = \"{}\"\n[capture]\nqueues = \"0:1\"\n{capture_extra}\n[policy]\nrules = \"policy.toml\"\n[store]\npath = \"{}/store\"\n",
        dir.display(),
        dir.display()
    )
}

impl Rig {
    pub fn new(capture_extra: &str, policy: &str) -> Rig {
        let lab = Lab::new().expect("lab");
        lab.wait_ready(Duration::from_secs(5)).expect("lab routes");
        let config = lab.dir.join("nfguard.toml");
        std::fs::write(&config, config_text(&lab.dir, capture_extra)).unwrap();
        std::fs::write(lab.dir.join("policy.toml"), policy).unwrap();
        Rig {
            lab,
            config,
            children: Vec::new(),
        }
    }

    fn log(&self, name: &str) -> std::fs::File {
        std::fs::File::create(self.lab.dir.join(format!("{name}.log"))).unwrap()
    }

    /// Prints a process's log (for failing tests).
    pub fn dump_log(&self, name: &str) {
        if let Ok(s) = std::fs::read_to_string(self.lab.dir.join(format!("{name}.log"))) {
            eprintln!("----- {name}.log -----\n{s}");
        }
    }

    /// Starts a binary in the router namespace with `-c nfguard.toml` plus `args`; returns its pid.
    pub fn start(&mut self, bin: &Path, log: &str, args: &[&str]) -> u32 {
        let child: Child = self
            .lab
            .router
            .command(bin.to_str().unwrap())
            .args(args)
            .arg("-c")
            .arg(&self.config)
            .env("RUST_LOG", "info,nfguard_capture=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(self.log(log))
            .spawn()
            .unwrap();
        let pid = self.lab.router.adopt(child).unwrap();
        self.children.push(pid);
        pid
    }

    /// Starts `nfguard-capture --queue N` and waits until the kernel shows the queue bound.
    pub fn start_capture(&mut self, bin: &Path, queue: u16) -> u32 {
        let q = queue.to_string();
        let pid = self.start(bin, &format!("capture-q{queue}"), &["--queue", &q]);
        self.wait_capture_bound(queue);
        pid
    }

    /// Waits until the kernel shows `queue` bound and the worker's metrics socket exists; panics
    /// with the worker's log after 10 s.
    pub fn wait_capture_bound(&self, queue: u16) {
        let sock = self.lab.dir.join(format!("metrics-capture-q{queue}.sock"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.queue_bound(queue) && sock.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.dump_log(&format!("capture-q{queue}"));
        panic!("nfguard-capture --queue {queue} did not bind within 10 s");
    }

    /// Starts a bus peer (policy, classifier) and waits for its socket file.
    pub fn start_peer(&mut self, bin: &Path, name: &str, socket: &str) -> u32 {
        let pid = self.start(bin, name, &[]);
        let path = self.lab.dir.join(socket);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if path.exists() {
                // The socket file appears at bind; give the accept loop a moment.
                std::thread::sleep(Duration::from_millis(200));
                return pid;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.dump_log(name);
        panic!("{name} did not bind {socket} within 10 s");
    }

    /// Whether `/proc/net/netfilter/nfnetlink_queue` of the router lists `queue` with a peer.
    pub fn queue_bound(&self, queue: u16) -> bool {
        self.queue_line(queue).is_some()
    }

    /// The router's nfnetlink_queue line for `queue`: number, peer portid, queue_total, copy_mode,
    /// copy_range, queue_dropped, user_dropped, id_sequence, 1.
    pub fn queue_line(&self, queue: u16) -> Option<Vec<u64>> {
        let out = self
            .lab
            .router
            .output(&["cat", "/proc/net/netfilter/nfnetlink_queue"])
            .ok()?;
        String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
            let f: Vec<u64> = l
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            (f.first() == Some(&u64::from(queue))).then_some(f)
        })
    }

    pub fn signal(&self, pid: u32, sig: &str) {
        let _ = std::process::Command::new("kill")
            .args([sig, &pid.to_string()])
            .status();
    }

    /// One metrics snapshot of `part` (e.g. `capture-q0`).
    pub fn metrics(&self, part: &str) -> Metrics {
        let ep = format!("ipc://{}/metrics-{part}.sock", self.lab.dir.display());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let mut sub = Subscriber::connect(std::slice::from_ref(&ep));
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            loop {
                match tokio::time::timeout_at(deadline, sub.recv()).await {
                    Ok(Ok(pb::Published {
                        body: Some(pb::published::Body::Metrics(m)),
                        ..
                    })) => return Metrics(m),
                    Ok(Ok(_)) => {}
                    _ => panic!("no metrics snapshot on {ep} within 5 s"),
                }
            }
        })
    }

    /// Client: `curl` over `url`, with a timeout; returns the body length on success.
    pub fn curl(&self, url: &str, max_s: u32) -> Option<usize> {
        let out = self
            .lab
            .client
            .output(&[
                "curl",
                "-sS",
                "-g",
                "--max-time",
                &max_s.to_string(),
                "-o",
                "-",
                url,
            ])
            .ok()?;
        out.status.success().then_some(out.stdout.len())
    }

    pub fn ping(&self, ip: &str, count: u32) -> bool {
        self.lab
            .client
            .output(&["ping", "-c", &count.to_string(), "-i", "0.2", "-W", "1", ip])
            .map(|o| o.status.success())
            .unwrap_or(false)
    }

    /// A python http.server in the server namespace on `port` serving a `size`-byte file `blob`,
    /// listening on IPv4 and IPv6.
    pub fn http_server(&self, port: u16, size: usize) {
        let root = self.lab.dir.join(format!("www{port}"));
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("blob"), vec![b'x'; size]).unwrap();
        let script = format!(
            "import http.server, socket, functools\n\
             class S(http.server.ThreadingHTTPServer):\n    address_family = socket.AF_INET6\n    \
             def server_bind(self):\n        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)\n        super().server_bind()\n\
             h = functools.partial(http.server.SimpleHTTPRequestHandler, directory={root:?})\n\
             http.server.SimpleHTTPRequestHandler.log_message = lambda *a: None\n\
             S(('::', {port}), h).serve_forever()\n",
            root = root.display().to_string()
        );
        let path = self.lab.dir.join(format!("http{port}.py"));
        std::fs::write(&path, script).unwrap();
        self.lab
            .server
            .spawn(&["python3", path.to_str().unwrap()])
            .unwrap();
        // Wait until it listens (checked from inside the server namespace).
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let ok = self
                .lab
                .server
                .output(&[
                    "curl",
                    "-s",
                    "-o",
                    "/dev/null",
                    &format!("http://127.0.0.1:{port}/blob"),
                ])
                .map(|o| o.status.success())
                .unwrap_or(false);
            if ok {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("http server on {port} did not start");
    }

    pub fn url(&self, v6: bool, port: u16, path: &str) -> String {
        if v6 {
            format!("http://[{}]:{port}{path}", self.lab.server_addr.v6)
        } else {
            format!("http://{}:{port}{path}", self.lab.server_addr.v4)
        }
    }

    /// `-t mangle -A FORWARD -j NFQUEUE <queues> --queue-bypass` for both families (a plain user
    /// rule: requires `offload = false`, DESIGN §5).
    pub fn plain_queue_rule(&self, queues: &str) {
        let mut args = vec!["-t", "mangle", "-A", "FORWARD", "-j", "NFQUEUE"];
        args.extend(queues.split_whitespace());
        args.push("--queue-bypass");
        self.lab.router.ip46tables(&args).unwrap();
    }

    /// nfguard's chain exactly as DESIGN §5, with mask M = 0xffff00ff (verdict, shaper, app bits), on
    /// `--queue-balance <queues>`.
    pub fn design_chain(&self, queues: &str) {
        let m = "0xffff00ff";
        for v6 in [false, true] {
            let t = |args: &[&str]| {
                if v6 {
                    self.lab.router.ip6tables(args).unwrap();
                } else {
                    self.lab.router.iptables(args).unwrap();
                }
            };
            t(&["-t", "mangle", "-N", "NFGUARD"]);
            t(&["-t", "mangle", "-A", "FORWARD", "-j", "NFGUARD"]);
            t(&[
                "-t",
                "mangle",
                "-A",
                "NFGUARD",
                "-m",
                "mark",
                "--mark",
                "0x0/0x3",
                "-j",
                "CONNMARK",
                "--restore-mark",
                "--mask",
                m,
            ]);
            t(&[
                "-t",
                "mangle",
                "-A",
                "NFGUARD",
                "-m",
                "mark",
                "!",
                "--mark",
                "0x0/0x3",
                "-m",
                "connmark",
                "--mark",
                "0x0/0x3",
                "-j",
                "CONNMARK",
                "--save-mark",
                "--mask",
                m,
            ]);
            t(&[
                "-t", "mangle", "-A", "NFGUARD", "-m", "mark", "--mark", "0x1/0x3", "-j", "RETURN",
            ]);
            t(&[
                "-t", "mangle", "-A", "NFGUARD", "-m", "mark", "--mark", "0x2/0x3", "-j", "DROP",
            ]);
            t(&[
                "-t", "mangle", "-A", "NFGUARD", "-m", "mark", "--mark", "0x3/0x3", "-j", "RETURN",
            ]);
            let mut q = vec!["-t", "mangle", "-A", "NFGUARD", "-j", "NFQUEUE"];
            q.extend(queues.split_whitespace());
            q.push("--queue-bypass");
            t(&q);
            t(&[
                "-t",
                "filter",
                "-I",
                "FORWARD",
                "-m",
                "mark",
                "--mark",
                "0x3/0x3",
                "-p",
                "tcp",
                "-j",
                "REJECT",
                "--reject-with",
                "tcp-reset",
            ]);
        }
    }
}

/// A metrics snapshot with lookups by name and labels.
pub struct Metrics(pub pb::MetricsSnapshot);

impl Metrics {
    /// Sum of the series named `name` whose labels include all of `labels`.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.0
            .metrics
            .iter()
            .filter(|m| m.name == name)
            .filter(|m| {
                labels
                    .iter()
                    .all(|(k, v)| m.labels.iter().any(|l| l.name == *k && l.value == *v))
            })
            .map(|m| m.value)
            .sum()
    }

    /// Whether a series named `name` with all of `labels` is present.
    #[allow(dead_code)]
    pub fn has(&self, name: &str, labels: &[(&str, &str)]) -> bool {
        self.0.metrics.iter().any(|m| {
            m.name == name
                && labels
                    .iter()
                    .all(|(k, v)| m.labels.iter().any(|l| l.name == *k && l.value == *v))
        })
    }
}

/// The three binaries the policy-driven tests run, or `None` (with a message) when one is not built.
pub fn binaries() -> Option<(PathBuf, PathBuf, PathBuf)> {
    Some((
        binary("nfguard-capture")?,
        binary("nfguard-policy")?,
        binary("nfguard-classifier")?,
    ))
}

/// A small BitTorrent peer (BEP 3 handshake: `\x13BitTorrent protocol`, 8 reserved bytes, 20-byte
/// info hash, 20-byte peer id) listening on `[::]:port` for IPv4 and IPv6; it answers a handshake
/// with its own.
pub const BT_PEER: &str = r#"
import socket, sys
HS = b'\x13BitTorrent protocol' + bytes(8) + b'\x11' * 20 + b'-PY0001-123456789012'
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(('::', int(sys.argv[1])))
s.listen(16)
while True:
    c, _ = s.accept()
    c.settimeout(5)
    try:
        d = c.recv(68)
        if d.startswith(b'\x13BitTorrent protocol'):
            c.sendall(HS)
            c.recv(1)
    except OSError:
        pass
    c.close()
"#;

/// The client half: connects, sends a handshake, prints `reply` if the peer answered within 3 s,
/// `blocked` otherwise.
pub const BT_CLIENT: &str = r#"
import socket, sys
HS = b'\x13BitTorrent protocol' + bytes(8) + b'\x22' * 20 + b'-PY0001-abcdefghijkl'
try:
    c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
    c.sendall(HS)
    d = c.recv(68)
    print('reply' if d.startswith(b'\x13BitTorrent protocol') else 'blocked')
except OSError:
    print('blocked')
"#;

impl Rig {
    /// Starts policy and classifier (real processes) in the router namespace.
    pub fn start_peers(&mut self, policy: &Path, classifier: &Path) {
        self.start_peer(policy, "policy", "policy.sock");
        self.start_peer(classifier, "classifier", "classifier.sock");
    }

    pub fn bt_peer(&self, port: u16) {
        let path = self.lab.dir.join("bt_peer.py");
        std::fs::write(&path, BT_PEER).unwrap();
        self.lab
            .server
            .spawn(&["python3", path.to_str().unwrap(), &port.to_string()])
            .unwrap();
        std::thread::sleep(Duration::from_millis(500));
    }

    /// Runs the BitTorrent client from the client namespace: true when the peer's handshake came back.
    pub fn bt_handshake(&self, v6: bool, port: u16) -> bool {
        let path = self.lab.dir.join("bt_client.py");
        std::fs::write(&path, BT_CLIENT).unwrap();
        let ip = if v6 {
            self.lab.server_addr.v6.to_string()
        } else {
            self.lab.server_addr.v4.to_string()
        };
        let out = self
            .lab
            .client
            .output(&["python3", path.to_str().unwrap(), &ip, &port.to_string()])
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim() == "reply"
    }

    pub fn dump_logs(&self) {
        for n in ["capture-q0", "capture-q1", "policy", "classifier"] {
            self.dump_log(n);
        }
    }
}
