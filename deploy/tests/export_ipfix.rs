//! Flow export over IPFIX (issue #18) to real collectors, end to end: `nfguard run` on the lab's NAT
//! router with `[export] ipfix` naming nfdump's `nfcapd`, pmacct's `nfacctd` (both listening on the
//! router's loopback, started by this test) and two collectors that are not there (a UDP port nobody
//! listens on, a TCP port that refuses). tshark captures the export on loopback. Real traffic from
//! the client: HTTPS with two SNIs, DNS, and an offloaded 10 MB HTTP download.
//!
//! Then: pmacct's JSON shows the flows with addresses, ports, the nDPI label (custom primitive on
//! ntop's PEN 35632 element 119) and the download's bytes within 1 % of the kernel's totals (the
//! store's record of an offloaded flow carries conntrack's END counters); nfdump lists the same
//! flows and bytes; tshark decodes every message with no malformed or warning expert info and shows
//! `L7_PROTO_NAME` and the SNI; the absent collectors' records are counted as dropped while the
//! traffic, the store and the other collectors are unaffected. Everything this test starts (lab,
//! collectors, nfguard) is removed on drop, even on panic.
#![allow(clippy::unwrap_used)]

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nfguard::demo::{get_json, http_get, nfguard_ready};
use nfguard::lab::{self, Lab, Netns};

const GATEWAY_PORT: u16 = 3118;
/// IPFIX's port: tshark decodes it as IPFIX without being told.
const NFCAPD_PORT: u16 = 4739;
const PMACCT_PORT: u16 = 4740;
const ABSENT_UDP_PORT: u16 = 4741;
const ABSENT_TCP_PORT: u16 = 4742;
const FILE_BYTES: usize = 10 << 20;
const FILES_HOST: &str = "files.example.test";
const SNIS: [&str; 2] = ["www.youtube.com", "www.github.com"];

const POLICY: &str = r#"default = "accept"
mode = "enforce"

[[rule]]
name = "files"
host = "files.example.test"
action = "accept"
"#;

/// pmacct: flows keyed by the 5-tuple, the nDPI label and the server name, appended as JSON lines
/// every second. ntop's elements are custom primitives (`field_type = PEN:ID`).
const PMACCT_PRIMITIVES: &str = "name=l7_name field_type=35632:119 len=vlen semantics=str\n\
name=server_name field_type=35632:188 len=vlen semantics=str\n";

/// A process this test started: its stop signal (collectors write their files on it), then SIGKILL.
struct Proc(Child, &'static str, &'static str);

impl Proc {
    fn start(ns: &Netns, args: &[&str], log: &Path, what: &'static str) -> Proc {
        Proc::start_stopped_by(ns, args, log, what, "-TERM")
    }

    /// nfacctd's core process exits (taking its plugin processes along) on SIGINT, not SIGTERM.
    fn start_stopped_by(
        ns: &Netns,
        args: &[&str],
        log: &Path,
        what: &'static str,
        signal: &'static str,
    ) -> Proc {
        let out = std::fs::File::create(log).unwrap();
        let child = ns
            .command(args[0])
            .args(&args[1..])
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("{what} did not start: {e}"));
        Proc(child, what, signal)
    }

    /// The stop signal, and wait (bounded); true when it exited.
    fn stop(&mut self) -> bool {
        if let Ok(Some(_)) = self.0.try_wait() {
            return true;
        }
        let _ = Command::new("kill")
            .args([self.2, &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if !self.stop() {
            eprintln!("{} ignored SIGTERM; killing it", self.1);
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn metric(metrics: &str, name: &str, collector: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(name) && l.contains(&format!("collector=\"{collector}\"")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

/// Polls `f` until it returns `Some`, failing with `what` after `secs`.
fn wait_for<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn listening(ns: &Netns, udp: bool, port: u16) -> bool {
    let flag = if udp { "-lun" } else { "-ltn" };
    ns.output(&["ss", flag])
        .map(|o| String::from_utf8_lossy(&o.stdout).contains(&format!("127.0.0.1:{port} ")))
        .unwrap_or(false)
}

struct Servers;

impl Servers {
    /// HTTP with the 10 MB file, HTTPS (openssl s_server) and DNS (dnsmasq) on the server.
    fn start(lab: &Lab) {
        let d = &lab.dir;
        let ip = lab.server_addr.v4.to_string();
        let www = d.join("www");
        std::fs::create_dir_all(&www).unwrap();
        std::fs::write(www.join("files.bin"), vec![0x5au8; FILE_BYTES]).unwrap();
        lab.server
            .spawn(&[
                "python3",
                "-m",
                "http.server",
                "80",
                "--bind",
                &ip,
                "--directory",
                &www.display().to_string(),
            ])
            .unwrap();
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
                "/CN=export.test",
                "-keyout",
            ])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success();
        assert!(ok, "openssl could not make a certificate");
        lab.server
            .spawn(&[
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
            ])
            .unwrap();
        lab.server
            .spawn(&[
                "dnsmasq",
                "-k",
                "--no-resolv",
                "--no-hosts",
                "--bind-interfaces",
                &format!("--listen-address={ip}"),
                &format!("--address=/#/{ip}"),
                &format!("--pid-file={}", d.join("dnsmasq.pid").display()),
                "--user=root",
            ])
            .unwrap();
        wait_for(10, "the lab's servers", || {
            let tcp = lab.server.output(&["ss", "-ltn"]).ok()?;
            let t = String::from_utf8_lossy(&tcp.stdout).to_string();
            let udp = lab.server.output(&["ss", "-lun"]).ok()?;
            let u = String::from_utf8_lossy(&udp.stdout).to_string();
            (t.contains(":80 ") && t.contains(":443 ") && u.contains(&format!("{ip}:53 ")))
                .then_some(())
        });
    }
}

struct Collectors {
    nfcapd: Proc,
    _pmacct: Proc,
    tshark: Proc,
    nfcapd_dir: PathBuf,
    pmacct_out: PathBuf,
    pcap: PathBuf,
}

impl Collectors {
    fn start(lab: &Lab) -> Collectors {
        let d = &lab.dir;
        let r = &lab.router;
        // tshark first, so it sees the first template message.
        let pcap = d.join("export.pcap");
        let tshark_log = d.join("tshark.log");
        let tshark = Proc::start(
            r,
            &[
                "tshark",
                "-q",
                "-i",
                "lo",
                "-f",
                &format!("udp port {NFCAPD_PORT}"),
                "-w",
                &pcap.display().to_string(),
            ],
            &tshark_log,
            "tshark",
        );
        let nfcapd_dir = d.join("nfcapd");
        std::fs::create_dir_all(&nfcapd_dir).unwrap();
        let nfcapd = Proc::start(
            r,
            &[
                "nfcapd",
                "-b",
                "127.0.0.1",
                "-p",
                &NFCAPD_PORT.to_string(),
                "-w",
                &nfcapd_dir.display().to_string(),
            ],
            &d.join("nfcapd.log"),
            "nfcapd",
        );
        let prims = d.join("pmacct-primitives.lst");
        std::fs::write(&prims, PMACCT_PRIMITIVES).unwrap();
        let pmacct_out = d.join("pmacct-flows.json");
        let conf = d.join("nfacctd.conf");
        std::fs::write(
            &conf,
            format!(
                "daemonize: false\nnfacctd_ip: 127.0.0.1\nnfacctd_port: {PMACCT_PORT}\naggregate_primitives: {prims}\nplugins: print[flows]\naggregate[flows]: src_host, dst_host, src_port, dst_port, proto, l7_name, server_name\nprint_output[flows]: json\nprint_output_file[flows]: {out}\nprint_output_file_append[flows]: true\nprint_refresh_time[flows]: 1\n",
                prims = prims.display(),
                out = pmacct_out.display()
            ),
        )
        .unwrap();
        let pmacct = Proc::start_stopped_by(
            r,
            &["nfacctd", "-f", &conf.display().to_string()],
            &d.join("nfacctd.log"),
            "nfacctd",
            "-INT",
        );
        wait_for(20, "collectors listening and tshark capturing", || {
            let capturing =
                std::fs::read_to_string(&tshark_log).is_ok_and(|l| l.contains("Capturing on"));
            (capturing && listening(r, true, NFCAPD_PORT) && listening(r, true, PMACCT_PORT))
                .then_some(())
        });
        Collectors {
            nfcapd,
            _pmacct: pmacct,
            tshark,
            nfcapd_dir,
            pmacct_out,
            pcap,
        }
    }
}

fn start_nfguard(lab: &Lab, bin_dir: &Path) -> (Proc, SocketAddr) {
    let gateway_ip: Ipv4Addr = lab.nat_router_with_gateway(GATEWAY_PORT).unwrap();
    // Closed connections and DNS exchanges end in the kernel (and their END reaches the store) after
    // these timeouts; the defaults (TIME_WAIT 120 s, UDP 30 s) would only make the test wait.
    for t in [
        "tcp_timeout_time_wait",
        "tcp_timeout_close_wait",
        "tcp_timeout_fin_wait",
        "tcp_timeout_last_ack",
        "tcp_timeout_close",
        "udp_timeout",
    ] {
        lab.router
            .exec(&[
                "sysctl",
                "-q",
                "-w",
                &format!("net.netfilter.nf_conntrack_{t}=1"),
            ])
            .unwrap();
    }
    std::fs::write(lab.dir.join("policy.toml"), POLICY).unwrap();
    let cfg = format!(
        "runtime_dir = \"{d}/run\"\n\n[capture]\nqueues = \"0\"\ninterfaces = [\"{lan}\", \"{wan}\"]\noffload = true\nmanage_rules = true\n\n[policy]\nrules = \"policy.toml\"\n\n[store]\npath = \"{d}/store\"\nflush_interval = \"200ms\"\n\n[gateway]\nlisten = \"127.0.0.1:{GATEWAY_PORT}\"\nallowed_hosts = [\"{gateway_ip}\"]\n\n[supervisor]\nbin_dir = \"{bin}\"\n# About export, not privileges.\nuser = \"root\"\nallow_root = true\n\n[export]\nipfix = [\n  \"udp://127.0.0.1:{NFCAPD_PORT}\",\n  \"udp://127.0.0.1:{PMACCT_PORT}\",\n  \"udp://127.0.0.1:{ABSENT_UDP_PORT}\",\n  \"tcp://127.0.0.1:{ABSENT_TCP_PORT}\",\n]\nobservation_domain = 18\n",
        d = lab.dir.display(),
        lan = lab.lan_if,
        wan = lab.wan_if,
        bin = bin_dir.display()
    );
    let cfg_path = lab.dir.join("nfguard.toml");
    std::fs::write(&cfg_path, cfg).unwrap();
    let nfguard = Proc::start(
        &lab.router,
        &[
            &bin_dir.join("nfguard").display().to_string(),
            "run",
            "-c",
            &cfg_path.display().to_string(),
        ],
        &lab.dir.join("nfguard.log"),
        "nfguard",
    );
    let gw = SocketAddr::from((gateway_ip, GATEWAY_PORT));
    let parts = ["store", "policy", "classifier", "capture-q0", "conntrack"];
    wait_for(60, "nfguard up with its rules", || {
        let (rules, up) = nfguard_ready(lab, gw, &parts);
        (rules && up).then_some(())
    });
    (nfguard, gw)
}

fn client(lab: &Lab, args: &[&str]) -> String {
    let out = lab.client.output(args).unwrap();
    assert!(out.status.success(), "{args:?} failed: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A store record as the gateway shows it.
#[derive(Debug, Clone)]
struct Rec {
    client: String,
    client_port: u16,
    server: String,
    server_port: u16,
    bytes: u64,
    label: String,
    host: String,
}

fn split(addr: &str) -> (String, u16) {
    let (ip, port) = addr.rsplit_once(':').unwrap();
    (
        ip.trim_matches(['[', ']']).to_string(),
        port.parse().unwrap(),
    )
}

fn ended_records(gw: SocketAddr) -> Vec<Rec> {
    get_json(gw, "/api/v1/flows?limit=1000")
        .and_then(|v| v["flows"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter(|f| f["state"] == "ended")
        .map(|f| {
            let (client, client_port) = split(f["src"].as_str().unwrap());
            let (server, server_port) = split(f["dst"].as_str().unwrap());
            Rec {
                client,
                client_port,
                server,
                server_port,
                bytes: f["bytes"].as_u64().unwrap_or(0),
                label: f["label"].as_str().unwrap_or("").into(),
                host: f["host"].as_str().unwrap_or("").into(),
            }
        })
        .collect()
}

/// Bytes of both directions of `r` among `(src, sport, dst, dport, bytes)` rows.
fn both_directions(rows: &[(String, u16, String, u16, u64)], r: &Rec) -> u64 {
    rows.iter()
        .filter(|(s, sp, d, dp, _)| {
            (s == &r.client && *sp == r.client_port && d == &r.server && *dp == r.server_port)
                || (s == &r.server
                    && *sp == r.server_port
                    && d == &r.client
                    && *dp == r.client_port)
        })
        .map(|row| row.4)
        .sum()
}

fn within_1pct(got: u64, want: u64) -> bool {
    got.abs_diff(want) * 100 <= want
}

/// pmacct's appended JSON lines: (src, sport, dst, dport, bytes, l7_name, server_name).
fn pmacct_rows(path: &Path) -> Vec<(String, u16, String, u16, u64, String, String)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| {
            let s = |k: &str| v[k].as_str().unwrap_or("").to_string();
            let n = |k: &str| v[k].as_u64().unwrap_or(0);
            (
                s("ip_src"),
                n("port_src") as u16,
                s("ip_dst"),
                n("port_dst") as u16,
                n("bytes"),
                s("l7_name"),
                s("server_name"),
            )
        })
        .collect()
}

#[test]
fn collectors_read_the_export_of_real_traffic() {
    if !lab::available() {
        eprintln!("skipped: needs root to create network namespaces");
        return;
    }
    for tool in ["nfcapd", "nfdump", "nfacctd", "tshark"] {
        assert!(
            Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .stdout(Stdio::null())
                .status()
                .unwrap()
                .success(),
            "{tool} is missing: run deploy/install-packages.sh (tshark, nfdump, pmacct)"
        );
    }
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_nfguard")).parent().unwrap();
    let lab = Lab::new().unwrap();
    Servers::start(&lab);
    let mut col = Collectors::start(&lab);
    let (nfguard, gw) = start_nfguard(&lab, bin_dir);

    // Real traffic through the router.
    let ip = lab.server_addr.v4.to_string();
    for name in SNIS {
        client(
            &lab,
            &[
                "curl",
                "-sk",
                "-m",
                "10",
                "-o",
                "/dev/null",
                "--resolve",
                &format!("{name}:443:{ip}"),
                &format!("https://{name}/"),
            ],
        );
    }
    let answer = client(
        &lab,
        &[
            "dig",
            "+short",
            "+time=2",
            "+tries=2",
            &format!("@{ip}"),
            "www.google.com",
        ],
    );
    assert_eq!(answer.trim(), ip, "DNS through the router");
    let size = client(
        &lab,
        &[
            "curl",
            "-s",
            "-m",
            "60",
            "-o",
            "/dev/null",
            "-w",
            "%{size_download}",
            "--resolve",
            &format!("{FILES_HOST}:80:{ip}"),
            &format!("http://{FILES_HOST}/files.bin"),
        ],
    );
    assert_eq!(size, FILE_BYTES.to_string());

    // The store's ended records: the download (kernel totals), both HTTPS flows, the DNS exchange.
    let recs = wait_for(90, "ended store records of every flow", || {
        let r = ended_records(gw);
        let download = r
            .iter()
            .any(|f| f.server_port == 80 && f.bytes >= FILE_BYTES as u64);
        let tls = SNIS
            .iter()
            .all(|s| r.iter().any(|f| f.host == *s && f.server_port == 443));
        let dns = r.iter().any(|f| f.server_port == 53);
        (download && tls && dns).then_some(r)
    });
    let download = recs
        .iter()
        .find(|f| f.server_port == 80 && f.bytes >= FILE_BYTES as u64)
        .unwrap()
        .clone();
    let youtube = recs.iter().find(|f| f.host == SNIS[0]).unwrap().clone();
    let dns = recs.iter().find(|f| f.server_port == 53).unwrap().clone();
    assert_eq!(download.label, "HTTP", "{download:?}");
    assert_eq!(youtube.label, "TLS.YouTube", "{youtube:?}");

    // pmacct: addresses, ports, labels, SNI, and the download's bytes within 1 % of the kernel's.
    let rows = wait_for(30, "pmacct showing the download's bytes", || {
        let rows = pmacct_rows(&col.pmacct_out);
        let flat: Vec<_> = rows
            .iter()
            .map(|r| (r.0.clone(), r.1, r.2.clone(), r.3, r.4))
            .collect();
        within_1pct(both_directions(&flat, &download), download.bytes).then_some(rows)
    });
    let yt: Vec<_> = rows
        .iter()
        .filter(|r| r.0 == youtube.client && r.1 == youtube.client_port && r.3 == 443)
        .collect();
    assert!(
        !yt.is_empty(),
        "no client→server YouTube row in pmacct: {rows:#?}"
    );
    assert!(
        yt.iter().all(|r| r.5 == "TLS.YouTube" && r.6 == SNIS[0]),
        "pmacct's l7_name/server_name of the YouTube flow: {yt:#?}"
    );
    assert!(
        rows.iter()
            .any(|r| r.3 == 53 && r.0 == dns.client && r.5.starts_with("DNS")),
        "no DNS row in pmacct: {rows:#?}"
    );
    assert!(
        rows.iter()
            .any(|r| r.1 == 80 && r.2 == download.client && r.5 == "HTTP"),
        "no server→client HTTP row in pmacct: {rows:#?}"
    );

    // Both present collectors got every record; the absent ones' records are counted as dropped.
    let udp = |p: u16| format!("udp://127.0.0.1:{p}");
    let tcp = format!("tcp://127.0.0.1:{ABSENT_TCP_PORT}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let metrics = loop {
        let m = http_get(gw, "/metrics").map(|(_, m)| m).unwrap_or_default();
        let sent = |c: &str| metric(&m, "nfguard_export_records_sent_total", c);
        let dropped = |c: &str| metric(&m, "nfguard_export_records_dropped_total", c);
        if sent(&udp(NFCAPD_PORT)) > 0
            && sent(&udp(NFCAPD_PORT)) == sent(&udp(PMACCT_PORT))
            && dropped(&tcp) > 0
            && sent(&tcp) == 0
            // UDP has no delivery: records handed to the kernel count as sent, and an absent
            // collector shows as send errors (the ICMP port unreachable of an earlier message).
            && metric(&m, "nfguard_export_send_errors_total", &udp(ABSENT_UDP_PORT)) > 0
        {
            break m;
        }
        assert!(
            Instant::now() < deadline,
            "export counters: {}",
            m.lines()
                .filter(|l| l.starts_with("nfguard_export"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    for c in [udp(NFCAPD_PORT), udp(PMACCT_PORT)] {
        assert_eq!(
            metric(&metrics, "nfguard_export_records_dropped_total", &c),
            0,
            "{c}: {metrics}"
        );
    }
    assert_eq!(metric(&metrics, "nfguard_export_collector_up", &tcp), 0);
    assert_eq!(
        metric(&metrics, "nfguard_export_records_sent_total", &tcp),
        0
    );
    // Ingest went on: nothing malformed, nothing paused.
    let store_metric = |name: &str| -> f64 {
        metrics
            .lines()
            .filter(|l| l.starts_with(name))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    assert_eq!(store_metric("nfguard_store_ingest_paused"), 0.0);
    assert_eq!(store_metric("nfguard_store_malformed_total"), 0.0);

    // nfdump: nfcapd writes its file on SIGTERM.
    assert!(col.nfcapd.stop(), "nfcapd did not stop");
    let out = Command::new("nfdump")
        .args(["-R"])
        .arg(&col.nfcapd_dir)
        .args(["-q", "-N", "-o", "fmt:%sa|%sp|%da|%dp|%pr|%byt|%pkt"])
        .output()
        .unwrap();
    assert!(out.status.success(), "nfdump: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let nfdump: Vec<(String, u16, String, u16, u64)> = text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('|').map(str::trim).collect();
            Some((
                f.first()?.to_string(),
                f.get(1)?.parse().ok()?,
                f.get(2)?.to_string(),
                f.get(3)?.parse().ok()?,
                f.get(5)?.parse().ok()?,
            ))
        })
        .collect();
    let got = both_directions(&nfdump, &download);
    assert!(
        within_1pct(got, download.bytes),
        "nfdump's bytes of the download {got} vs the kernel's {}: {text}",
        download.bytes
    );
    for r in [&youtube, &dns] {
        assert!(
            both_directions(&nfdump, r) > 0,
            "nfdump lacks {r:?}: {text}"
        );
    }

    // tshark: every message decodes, no malformed packet or warning, names and SNI shown.
    assert!(col.tshark.stop(), "tshark did not stop");
    let read = |extra: &[&str]| {
        let out = Command::new("tshark")
            .arg("-r")
            .arg(&col.pcap)
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "tshark: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let bad = read(&[
        "-Y",
        "_ws.malformed || _ws.expert.severity >= warning || !cflow",
    ]);
    assert!(
        bad.trim().is_empty(),
        "tshark finds problems: {bad}\n{}",
        read(&["-V"])
    );
    let fields = read(&[
        "-Y",
        "cflow.pie.ntop.l7_proto_name",
        "-T",
        "fields",
        "-E",
        "occurrence=a",
        "-e",
        "cflow.pie.ntop.l7_proto_name",
        "-e",
        "cflow.pie.ntop.ssl_server_name",
        "-e",
        "cflow.pie.ntop.http_host",
    ]);
    for want in ["TLS.YouTube", SNIS[0], SNIS[1], "HTTP", FILES_HOST] {
        assert!(
            fields.contains(want),
            "tshark does not show {want}: {fields}"
        );
    }
    let names = read(&["-T", "fields", "-e", "cflow.appl_name"]);
    assert!(
        names.contains("YouTube"),
        "no applicationName options: {names}"
    );
    drop(nfguard);
}

/// A bad collector is refused like every other key: `FILE:LINE: export.ipfix[N]: …`, exit 64.
#[test]
fn check_names_the_bad_collector_and_exits_64() {
    let dir = std::env::temp_dir().join(format!("nfguard-export-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("nfguard.toml");
    std::fs::write(
        &path,
        "[export]\nipfix = [\n  \"udp://192.0.2.10:4739\",\n  \"http://192.0.2.10:4739\",\n]\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_nfguard"))
        .args(["check", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(64), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}:4: export.ipfix[1]: ", path.display()))
            && err.contains("expected udp://ADDRESS:PORT or tcp://ADDRESS:PORT"),
        "{err}"
    );
}
