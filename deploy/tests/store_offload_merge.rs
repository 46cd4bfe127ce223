//! One record per flow for offloaded traffic (issue #17), end to end: `nfguard run` on the lab's NAT
//! router with `offload = true, manage_rules = true` and a host rule, a real 10 MB HTTP download from
//! the client, and what the gateway shows. The capture decides the flow on its first packets and
//! offloads it; the kernel forwards the rest; the conntrack worker's END carries the kernel's totals.
//! The store must merge that END into the capture's record: exactly one record for the download,
//! ~10 MB, with the app, host and rule, state "ended", and `/api/v1/apps/top` must count the 10 MB
//! under HTTP. The lab (namespaces, veths, rules) and nfguard are removed on drop, even on panic.
#![allow(clippy::unwrap_used)]

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nfguard::demo::{get_json, http_get, nfguard_ready};
use nfguard::lab::{self, Lab};

const GATEWAY_PORT: u16 = 3117;
/// The download: large enough that the capture's first packets are a rounding error next to it.
const FILE_BYTES: usize = 10 << 20;
const HOST: &str = "files.example.test";

const POLICY: &str = r#"default = "accept"
mode = "enforce"

[[rule]]
name = "files"
host = "files.example.test"
action = "accept"
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
    // The kernel destroys a closed connection's entry (and the conntrack worker publishes its END)
    // after these timeouts; the defaults (TIME_WAIT 120 s) would only make the test wait.
    for t in ["time_wait", "close_wait", "fin_wait", "last_ack", "close"] {
        lab.router
            .exec(&[
                "sysctl",
                "-q",
                "-w",
                &format!("net.netfilter.nf_conntrack_tcp_timeout_{t}=1"),
            ])
            .unwrap();
    }
    let www = lab.dir.join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("files.bin"), vec![0x5au8; FILE_BYTES]).unwrap();
    lab.server
        .spawn(&[
            "python3",
            "-m",
            "http.server",
            "80",
            "--bind",
            &lab.server_addr.v4.to_string(),
            "--directory",
            &www.display().to_string(),
        ])
        .unwrap();
    std::fs::write(lab.dir.join("policy.toml"), POLICY).unwrap();
    let cfg = format!(
        "runtime_dir = \"{d}/run\"\n\n[capture]\nqueues = \"0\"\ninterfaces = [\"{lan}\", \"{wan}\"]\noffload = true\nmanage_rules = true\n\n[policy]\nrules = \"policy.toml\"\n\n[store]\npath = \"{d}/store\"\nflush_interval = \"200ms\"\n\n[gateway]\nlisten = \"127.0.0.1:{GATEWAY_PORT}\"\n# Reached from the host link through DNAT.\nallowed_hosts = [\"{gateway_ip}\"]\n\n[supervisor]\nbin_dir = \"{bin}\"\n# About merging, not privileges.\nuser = \"root\"\nallow_root = true\n",
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
    let gw = SocketAddr::from((gateway_ip, GATEWAY_PORT));
    (Nfguard(child), gw)
}

#[test]
fn offloaded_download_is_one_record_with_kernel_totals_app_host_and_rule() {
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
    let (nfguard, gw) = setup(&lab, bin_dir);
    wait_ready(&lab, gw);

    let ip = lab.server_addr.v4.to_string();
    let out = lab
        .client
        .output(&[
            "curl",
            "-s",
            "-m",
            "60",
            "-o",
            "/dev/null",
            "-w",
            "%{size_download}",
            "--resolve",
            &format!("{HOST}:80:{ip}"),
            &format!("http://{HOST}/files.bin"),
        ])
        .unwrap();
    assert!(out.status.success(), "download failed: {out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), FILE_BYTES.to_string());

    // The kernel's END arrives once conntrack destroys the entry (timeouts above) and the store flushed.
    let big = |f: &serde_json::Value| f["bytes"].as_u64().unwrap_or(0) >= FILE_BYTES as u64;
    let deadline = Instant::now() + Duration::from_secs(90);
    let flows = loop {
        let flows = get_json(gw, "/api/v1/flows?limit=1000")
            .and_then(|v| v["flows"].as_array().cloned())
            .unwrap_or_default();
        if flows.iter().any(|f| big(f) && f["state"] == "ended") {
            break flows;
        }
        assert!(
            Instant::now() < deadline,
            "no ended record with the download's bytes; flows: {flows:#?}; log {}",
            lab.dir.join("nfguard.log").display()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    // Exactly one record for the download: the capture's, with the kernel's totals and end.
    let http: Vec<&serde_json::Value> = flows
        .iter()
        .filter(|f| f["dst"].as_str().is_some_and(|d| d.ends_with(":80")))
        .collect();
    assert_eq!(http.len(), 1, "records of the download: {http:#?}");
    let f = http[0];
    assert!(big(f), "{f}");
    assert!(
        f["bytes"].as_u64().unwrap() < FILE_BYTES as u64 + (1 << 20),
        "more than the download and its headers: {f}"
    );
    assert_eq!(f["label"], "HTTP", "{f}");
    assert_eq!(f["host"], HOST, "{f}");
    assert_eq!(f["rule"], "files", "{f}");
    assert_eq!(f["verdict"], "accept", "{f}");
    assert_eq!(f["state"], "ended", "{f}");
    assert_eq!(f["offloaded"], true, "{f}");
    assert_eq!(f["end_reason"], "conntrack", "{f}");

    // The 10 MB count under the app in the aggregates, as one flow.
    let top = get_json(gw, "/api/v1/apps/top?window=1h").unwrap();
    let entry = top["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["key"] == "HTTP")
        .cloned()
        .unwrap_or_else(|| panic!("no HTTP in top apps: {top}"));
    assert!(
        entry["bytes"].as_u64().unwrap() >= FILE_BYTES as u64,
        "{entry}"
    );
    assert_eq!(entry["flows"], 1, "{entry}");
    let rules = get_json(gw, "/api/v1/rules/top?window=1h").unwrap();
    assert!(
        rules["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["key"] == "files" && e["bytes"].as_u64().unwrap_or(0) >= FILE_BYTES as u64),
        "rule bytes: {rules}"
    );
    // The merge is counted where an operator looks (the store's heartbeat, every second).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let metrics = http_get(gw, "/metrics").map(|(_, m)| m).unwrap_or_default();
        let merged: f64 = metrics
            .lines()
            .filter(|l| l.starts_with("nfguard_store_kernel_ends_merged_total"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        if merged >= 1.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no merged kernel END counted: {metrics}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    drop(nfguard);
}
