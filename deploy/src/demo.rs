//! `nfguard demo`: the seed use case in network namespaces. A LAN client, a NAT router running nfguard on
//! two queues (`--queue-balance 0:1`, offload, managed rules) and a server with real services (HTTP,
//! HTTPS with several names, DNS, SSH, a BitTorrent peer, telnet). Real clients drive traffic through the
//! router while a live view shows what nfguard classified and decided; the gateway is reachable from the
//! host. Ctrl-C or `--duration` removes everything; `--keep` leaves the lab for exploring.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::lab::{Lab, Netns};

/// Gateway port inside the router; the host reaches it through the host link.
const GATEWAY_PORT: u16 = 3100;
const VIEW_INTERVAL: Duration = Duration::from_secs(2);
const TRAFFIC_INTERVAL: Duration = Duration::from_secs(3);

/// Commands the demo runs, and the Debian package providing each.
const NEEDS: &[(&str, &str)] = &[
    ("ip", "iproute2"),
    ("iptables", "iptables"),
    ("tc", "iproute2"),
    ("curl", "curl"),
    ("openssl", "openssl"),
    ("python3", "python3"),
    ("dig", "dnsutils"),
    ("dnsmasq", "dnsmasq-base"),
    ("sshd", "openssh-server"),
    ("ssh", "openssh-client"),
    ("nc", "netcat-openbsd"),
];

/// The demo's rules: what the live view shows being enforced.
pub const DEMO_POLICY: &str = r#"# nfguard demo policy: first match wins.
default = "accept"
mode = "enforce"

# Port and address rules first: they decide on a flow's first packet (the SYN never gets through).
# Below an application rule they would wait for DPI, which a flow without payload never completes.
[[rule]]
name = "no-telnet"
port = [23]
action = "drop"

[[rule]]
name = "no-p2p"
app = ["BitTorrent"]
action = "drop"

[[rule]]
name = "block-site"
host = "*.example-video.test"
action = "reject"
log = true

[[rule]]
name = "video-cap"
app = ["Netflix", "YouTube"]
action = "shape"
rate = "2mbit"
"#;

/// A BitTorrent peer-wire peer: answers a handshake with its own (BEP 3).
const BT_PEER: &str = r#"
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 6881)); s.listen(16)
while True:
    c, _ = s.accept()
    try:
        c.settimeout(3); c.recv(68)
        c.sendall(b"\x13BitTorrent protocol" + bytes(8) + b"\x11" * 20 + b"-NF0001-demopeer0000")
    except OSError:
        pass
    c.close()
"#;

/// A BitTorrent client: sends the handshake and waits for the answer (which never comes when dropped).
const BT_CLIENT: &str = r#"
import socket, sys
try:
    c = socket.create_connection((sys.argv[1], 6881), timeout=3)
    c.sendall(b"\x13BitTorrent protocol" + bytes(8) + b"\x11" * 20 + b"-NF0001-democlient00")
    c.recv(68)
except OSError:
    sys.exit(1)
"#;

#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub duration: Option<Duration>,
    pub keep: bool,
    /// Where the nfguard-* binaries are.
    pub bin_dir: PathBuf,
}

/// The running system: the lab, nfguard under its supervisor inside the router, the gateway address.
pub struct DemoSystem {
    // Field order is drop order: nfguard stops (removing its rules) before the lab goes.
    supervisor: Supervisor,
    pub lab: Lab,
    /// The gateway as reached from the host.
    pub gateway: SocketAddr,
    round: u32,
}

impl DemoSystem {
    /// Builds the lab, starts the services and nfguard, and waits for the gateway.
    ///
    /// # Errors
    /// Missing binaries or packages, or a lab step that failed.
    pub fn start(bin_dir: &Path) -> anyhow::Result<DemoSystem> {
        ensure_packages()?;
        for b in [
            "nfguard",
            "nfguard-capture",
            "nfguard-classifier",
            "nfguard-policy",
            "nfguard-store",
            "nfguard-gateway",
        ] {
            if !bin_dir.join(b).exists() {
                bail!(
                    "{} is missing: build the workspace first (cargo build --release --workspace)",
                    bin_dir.join(b).display()
                );
            }
        }
        let lab = Lab::new().context("creating the namespace lab")?;
        // The seed's NAT router; the gateway listens on the router's loopback, reached through DNAT.
        let gateway_ip = lab.nat_router_with_gateway(GATEWAY_PORT)?;
        start_services(&lab)?;
        let config = write_config(&lab, bin_dir, gateway_ip)?;
        // The children run as the service user, as on an installed system.
        ensure_service_user()?;
        lab.hand_over(crate::run_as::DEFAULT_USER, &["policy.toml"])?;
        let log = std::fs::File::create(lab.dir.join("nfguard.log"))?;
        let child = lab
            .router
            .command(&bin_dir.join("nfguard").display().to_string())
            .args(["run", "-c"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting nfguard run")?;
        let sys = DemoSystem {
            supervisor: Supervisor(child),
            gateway: SocketAddr::from((gateway_ip, GATEWAY_PORT)),
            lab,
            round: 0,
        };
        wait_gateway(sys.gateway, Duration::from_secs(30)).with_context(|| {
            format!(
                "the gateway did not come up; see {}",
                sys.log_path().display()
            )
        })?;
        sys.wait_ready(Duration::from_secs(30)).with_context(|| {
            format!("nfguard did not come up; see {}", sys.log_path().display())
        })?;
        Ok(sys)
    }

    /// Waits until every process reports up and nfguard's rules are installed (the supervisor installs
    /// them once both capture workers are bound).
    fn wait_ready(&self, timeout: Duration) -> anyhow::Result<()> {
        let parts = ["store", "policy", "classifier", "capture-q0", "capture-q1"];
        let deadline = Instant::now() + timeout;
        loop {
            let (rules, up) = nfguard_ready(&self.lab, self.gateway, &parts);
            if rules && up {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("not ready after {timeout:?} (rules installed: {rules}, all parts up: {up})");
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// nfguard's combined log (supervisor and children).
    pub fn log_path(&self) -> PathBuf {
        self.lab.dir.join("nfguard.log")
    }

    /// One round of real clients (see [`drive_traffic`]).
    pub fn drive_traffic(&mut self) {
        drive_traffic(&self.lab, self.round);
        self.round = self.round.wrapping_add(1);
    }

    /// Stops nfguard (SIGTERM, which removes its rules) and waits up to `timeout`; true if it exited 0.
    pub fn stop(&mut self, timeout: Duration) -> bool {
        self.supervisor.stop(timeout)
    }

    /// GET a gateway path and parse JSON; `None` on any failure.
    pub fn json(&self, path: &str) -> Option<serde_json::Value> {
        get_json(self.gateway, path)
    }
}

/// Runs the demo until Ctrl-C (`stop` turns true) or the duration ends.
///
/// # Errors
/// Missing packages that could not be installed, or a lab step that failed.
pub fn run(opts: &DemoOptions, stop: &std::sync::atomic::AtomicBool) -> anyhow::Result<()> {
    eprintln!("Building the lab: client ─ router (nfguard, NAT) ─ server …");
    let mut sys = DemoSystem::start(&opts.bin_dir)?;
    let url = format!("http://{}/", sys.gateway);
    let started = Instant::now();
    let mut last_traffic = Instant::now() - TRAFFIC_INTERVAL;
    while !stop.load(std::sync::atomic::Ordering::Relaxed)
        && opts.duration.is_none_or(|d| started.elapsed() < d)
    {
        if last_traffic.elapsed() >= TRAFFIC_INTERVAL {
            sys.drive_traffic();
            last_traffic = Instant::now();
        }
        print_view(&sys, &url, started.elapsed());
        std::thread::sleep(VIEW_INTERVAL);
    }
    sys.stop(Duration::from_secs(15));
    if opts.keep {
        let lab = &sys.lab;
        eprintln!(
            "Lab kept: namespaces {} {} {}; files in {}.",
            lab.client.name,
            lab.router.name,
            lab.server.name,
            lab.dir.display()
        );
        eprintln!(
            "Remove it with: ip netns del {}; ip netns del {}; ip netns del {}",
            lab.client.name, lab.router.name, lab.server.name
        );
        std::mem::forget(sys);
    } else {
        eprintln!("Removing the lab.");
    }
    Ok(())
}

/// `nfguard run` inside the router; killed if still running when dropped (e.g. on an error).
struct Supervisor(std::process::Child);

impl Supervisor {
    /// SIGTERM, then SIGKILL after `timeout`; true when it exited 0 by itself.
    fn stop(&mut self, timeout: Duration) -> bool {
        if let Ok(Some(status)) = self.0.try_wait() {
            return status.success();
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.0.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
        false
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.stop(Duration::from_secs(10));
        }
    }
}

/// Creates the system user `nfguard run` starts its children as, when it is missing: the install
/// step of OPERATIONS.md (`useradd --system`).
fn ensure_service_user() -> anyhow::Result<()> {
    let user = crate::run_as::DEFAULT_USER;
    if nix::unistd::User::from_name(user).ok().flatten().is_some() {
        return Ok(());
    }
    eprintln!("Creating the system user {user} (the children of nfguard run run as it) …");
    let out = Command::new("useradd")
        .args([
            "--system",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            user,
        ])
        .output()?;
    // A parallel test may have created it meanwhile (exit 9: already exists).
    if !out.status.success() && nix::unistd::User::from_name(user).ok().flatten().is_none() {
        bail!(
            "useradd {user} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn ensure_packages() -> anyhow::Result<()> {
    let missing: Vec<&str> = NEEDS
        .iter()
        .filter(|(cmd, _)| !on_path(cmd))
        .map(|(_, pkg)| *pkg)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let mut pkgs = missing.clone();
    pkgs.dedup();
    let cmd = format!("apt-get install -y {}", pkgs.join(" "));
    if !on_path("apt-get") {
        bail!("missing programs; install them with: {cmd}");
    }
    eprintln!("Installing: {}", pkgs.join(" "));
    let ok = Command::new("apt-get")
        .args(["install", "-y", "-qq"])
        .args(&pkgs)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()?
        .success();
    if !ok {
        bail!("installing packages failed; run: apt-get update && {cmd}");
    }
    Ok(())
}

fn on_path(cmd: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .chain(["/usr/sbin".into(), "/sbin".into()])
                .any(|d| d.join(cmd).is_file())
        })
        .unwrap_or(false)
}

fn start_services(lab: &Lab) -> anyhow::Result<()> {
    let s = &lab.server;
    let ip = lab.server_addr.v4.to_string();
    let d = &lab.dir;
    let www = d.join("www");
    std::fs::create_dir_all(&www)?;
    std::fs::write(www.join("index.html"), "<h1>nfguard demo server</h1>\n")?;
    // A 4 MB file so shaped and offloaded transfers are visible in the byte counters.
    std::fs::write(www.join("big.bin"), vec![0x5au8; 4 << 20])?;
    s.spawn(&[
        "python3",
        "-m",
        "http.server",
        "80",
        // "::" serves IPv4 too (v4-mapped), so the lab's IPv6 path has a real server.
        "--bind",
        "::",
        "--directory",
        &www.display().to_string(),
    ])?;

    let (cert, key) = (d.join("cert.pem"), d.join("key.pem"));
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=demo.test",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()?
        .success();
    if !ok {
        bail!("openssl could not make the demo certificate");
    }
    s.spawn(&[
        "openssl",
        "s_server",
        "-quiet",
        "-accept",
        "443",
        "-www",
        "-cert",
        &cert.display().to_string(),
        "-key",
        &key.display().to_string(),
    ])?;

    // DNS: every name resolves to the server.
    s.spawn(&[
        "dnsmasq",
        "-k",
        "--no-resolv",
        "--no-hosts",
        "--bind-interfaces",
        &format!("--listen-address={ip}"),
        &format!("--address=/#/{ip}"),
        &format!("--pid-file={}", d.join("dnsmasq.pid").display()),
        "--user=root",
    ])?;

    let host_key = d.join("ssh_host_ed25519_key");
    Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&host_key)
        .status()?;
    std::fs::create_dir_all("/run/sshd")?;
    s.spawn(&[
        "/usr/sbin/sshd",
        "-D",
        "-f",
        "/dev/null",
        "-o",
        &format!("HostKey={}", host_key.display()),
        "-o",
        &format!("ListenAddress={ip}"),
        "-o",
        &format!("PidFile={}", d.join("sshd.pid").display()),
    ])?;

    let peer = d.join("bt_peer.py");
    std::fs::write(&peer, BT_PEER)?;
    s.spawn(&["python3", &peer.display().to_string(), &ip])?;
    std::fs::write(d.join("bt_client.py"), BT_CLIENT)?;
    s.spawn(&["nc", "-lk", &ip, "23"])?;
    Ok(())
}

/// The demo's `nfguard.toml`; the gateway also serves the host-link address the host browses to.
fn write_config(lab: &Lab, bin_dir: &Path, gateway_ip: Ipv4Addr) -> anyhow::Result<PathBuf> {
    let d = &lab.dir;
    std::fs::write(d.join("policy.toml"), DEMO_POLICY)?;
    let cfg = format!(
        "# nfguard demo configuration (generated)\nruntime_dir = \"{d}/run\"\n\n[capture]\nqueues = \"0:1\"\ninterfaces = [\"{lan}\", \"{wan}\"]\noffload = true\nmanage_rules = true\n\n[policy]\nrules = \"policy.toml\"\ndecision_log = \"{d}/decisions.jsonl\"\n\n[store]\npath = \"{d}/store\"\n\n[gateway]\nlisten = \"127.0.0.1:{GATEWAY_PORT}\"\nallowed_hosts = [\"localhost\", \"127.0.0.1\", \"{gateway_ip}\"]\n\n[supervisor]\nbin_dir = \"{bin}\"\n",
        d = d.display(),
        lan = lab.lan_if,
        wan = lab.wan_if,
        bin = bin_dir.display()
    );
    let path = d.join("nfguard.toml");
    std::fs::write(&path, cfg)?;
    Ok(path)
}

/// One round of real clients: HTTP, HTTPS with several names, DNS, SSH, BitTorrent, telnet.
fn drive_traffic(lab: &Lab, round: u32) {
    let c = &lab.client;
    let ip = lab.server_addr.v4.to_string();
    let quiet = |ns: &Netns, args: &[&str]| {
        let _ = ns
            .command(args[0])
            .args(&args[1..])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .and_then(|ch| ns.adopt(ch));
    };
    quiet(
        c,
        &[
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "-m",
            "5",
            &format!("http://{ip}/"),
        ],
    );
    for name in [
        "www.youtube.com",
        "www.netflix.com",
        "www.github.com",
        "clips.example-video.test",
    ] {
        quiet(
            c,
            &[
                "curl",
                "-sk",
                "-o",
                "/dev/null",
                "-m",
                "5",
                "--resolve",
                &format!("{name}:443:{ip}"),
                &format!("https://{name}/"),
            ],
        );
    }
    if round.is_multiple_of(3) {
        quiet(
            c,
            &[
                "curl",
                "-s",
                "-o",
                "/dev/null",
                "-m",
                "10",
                &format!("http://{ip}/big.bin"),
            ],
        );
    }
    for name in ["www.google.com", "www.facebook.com", "api.spotify.com"] {
        quiet(
            c,
            &[
                "dig",
                "+short",
                "+time=2",
                "+tries=1",
                &format!("@{ip}"),
                name,
            ],
        );
    }
    quiet(
        c,
        &[
            "ssh",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "ConnectTimeout=3",
            &format!("demo@{ip}"),
            "true",
        ],
    );
    quiet(
        c,
        &[
            "python3",
            &lab.dir.join("bt_client.py").display().to_string(),
            &ip,
        ],
    );
    quiet(c, &["nc", "-z", "-w", "2", &ip, "23"]);
}

fn wait_gateway(gw: SocketAddr, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if http_get(gw, "/health").is_ok_and(|(code, _)| code == 200) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("no answer from http://{gw}/health");
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// GET a gateway path and parse JSON; `None` on any failure (not 200, not JSON, unreachable).
pub fn get_json(addr: SocketAddr, path: &str) -> Option<serde_json::Value> {
    http_get(addr, path)
        .ok()
        .filter(|(c, _)| *c == 200)
        .and_then(|(_, b)| serde_json::from_str(&b).ok())
}

/// Whether nfguard in the lab's router is ready: (its managed rules are in the mangle table, every
/// one of `parts` reports `nfguard_process_up 1` on the gateway at `addr`).
pub fn nfguard_ready(lab: &Lab, addr: SocketAddr, parts: &[&str]) -> (bool, bool) {
    let rules = lab
        .router
        .exec(&["iptables-save", "-t", "mangle"])
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("-j NFGUARD"))
        .unwrap_or(false);
    let metrics = http_get(addr, "/metrics")
        .map(|(_, m)| m)
        .unwrap_or_default();
    let up = parts.iter().all(|p| {
        metrics.lines().any(|l| {
            l.starts_with("nfguard_process_up")
                && l.contains(&format!("part=\"{p}\""))
                && l.ends_with(" 1")
        })
    });
    (rules, up)
}

/// A minimal HTTP/1.0 GET: status code and body.
///
/// # Errors
/// Connection or read failures, or a response without a status line.
pub fn http_get(addr: SocketAddr, path: &str) -> anyhow::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(3)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .context("no HTTP status line")?;
    Ok((code, body.to_string()))
}

fn print_view(sys: &DemoSystem, url: &str, elapsed: Duration) {
    let (gw, lab) = (sys.gateway, &sys.lab);
    let mut out = String::from("\x1b[2J\x1b[H");
    out += &format!(
        "nfguard demo — {}s — dashboard and API from this host: {url}  (metrics: {url}metrics)\n",
        elapsed.as_secs()
    );
    out += &format!(
        "client {} ─ router (nfguard, queues 0:1, NAT) ─ server {}    Ctrl-C stops and removes the lab\n\n",
        lab.client_addr.v4, lab.server_addr.v4
    );
    let json = |path: &str| sys.json(path);
    let num = |v: &serde_json::Value| v.as_u64().unwrap_or(0);

    out += "APPLICATION                      FLOWS        BYTES\n";
    if let Some(v) = json("/api/v1/apps/top?window=1h&limit=12") {
        for e in v["entries"].as_array().into_iter().flatten() {
            out += &format!(
                "{:<30} {:>7} {:>12}\n",
                e["key"].as_str().unwrap_or("?"),
                num(&e["flows"]),
                num(&e["bytes"])
            );
        }
    }
    out += "\nRULE                             FLOWS        BYTES\n";
    if let Some(v) = json("/api/v1/rules/top?window=1h&limit=8") {
        for e in v["entries"].as_array().into_iter().flatten() {
            let key = e["key"]
                .as_str()
                .filter(|k| !k.is_empty())
                .unwrap_or("(default)");
            out += &format!(
                "{:<30} {:>7} {:>12}\n",
                key,
                num(&e["flows"]),
                num(&e["bytes"])
            );
        }
    }
    out += "\nRECENT FLOWS\n";
    if let Some(v) = json("/api/v1/flows?limit=10") {
        for f in v["flows"].as_array().into_iter().flatten() {
            let s = |k: &str| f[k].as_str().unwrap_or("").to_string();
            out += &format!(
                "{:<5} {:<24} {:<28} {:<8} {}\n",
                s("l4"),
                s("label"),
                s("host"),
                s("verdict"),
                s("rule")
            );
        }
    }
    out += "\nQUEUE HEALTH\n";
    if let Ok((200, metrics)) = http_get(gw, "/metrics") {
        for line in metrics.lines().filter(|l| {
            [
                "nfguard_packets_total",
                "nfguard_held_packets",
                "nfguard_verdict_timeouts_total",
                "nfguard_kernel_bypassed_packets_total",
                "nfguard_process_up",
            ]
            .iter()
            .any(|m| l.starts_with(m))
        }) {
            out += line;
            out.push('\n');
        }
    }
    print!("{out}");
    let _ = std::io::stdout().flush();
}
