//! The real `nfguard-gateway` binary under abuse: started with a soft descriptor limit of 64 it raises
//! it, a flood of idle connections past `max_connections` gets 503 instead of exhausting descriptors
//! and the gateway answers again once they go, a foreign Host header (DNS rebinding) gets 421, every
//! response carries the browser security headers, a slow request body is cut off with 408, and a
//! flood of malformed requests logs one line, not one per request.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "limits-token";

struct Gateway {
    child: Child,
    addr: SocketAddr,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(max_connections: usize) -> Gateway {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    std::fs::write(dir.path().join("token"), TOKEN).unwrap();
    let cfg = dir.path().join("nfguard.toml");
    std::fs::write(
        &cfg,
        format!(
            "runtime_dir = \"{run}\"\n[gateway]\nlisten = \"127.0.0.1:{port}\"\ntoken_file = \"token\"\nmax_connections = {max_connections}\n",
            run = dir.path().join("run").display()
        ),
    )
    .unwrap();
    let log = dir.path().join("gateway.log");
    // prlimit (util-linux) starts it with the soft limit a default shell gives, lowered further.
    let child = Command::new("prlimit")
        .arg("--nofile=64:4096")
        .arg(env!("CARGO_BIN_EXE_nfguard-gateway"))
        .arg("-c")
        .arg(&cfg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let g = Gateway {
        child,
        addr,
        log,
        _dir: dir,
    };
    wait_for("gateway answers", Duration::from_secs(20), || {
        request(
            g.addr,
            "GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        )
        .is_some_and(|r| r.starts_with("HTTP/1.1 200"))
    });
    g
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends `raw` and reads the whole answer (the server closes), or `None` on a connection error.
fn request(addr: SocketAddr, raw: &str) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(15))).ok()?;
    s.write_all(raw.as_bytes()).ok()?;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    Some(String::from_utf8_lossy(&out).into_owned())
}

fn open_files_limit(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/limits"))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap()
        .split_whitespace()
        .nth(3)
        .unwrap()
        .to_string()
}

#[test]
fn descriptor_limit_is_raised_and_a_connection_flood_gets_503() {
    let g = start(20);
    assert_eq!(
        open_files_limit(g.child.id()),
        "4096",
        "soft RLIMIT_NOFILE raised to the hard limit"
    );

    // 60 idle connections (more than the 64 - stdio - sockets the old soft limit left), then a scrape.
    let idle: Vec<TcpStream> = (0..60)
        .map(|_| TcpStream::connect(g.addr).unwrap())
        .collect();
    wait_for(
        "the idle connections accepted",
        Duration::from_secs(10),
        || {
            std::fs::read_dir(format!("/proc/{}/fd", g.child.id()))
                .unwrap()
                .count()
                > 60
        },
    );
    let r = request(g.addr, "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    assert!(r.starts_with("HTTP/1.1 503"), "{r}");
    assert!(r.to_ascii_lowercase().contains("retry-after: 1"), "{r}");
    drop(idle);
    wait_for("scrapes answered again", Duration::from_secs(10), || {
        request(
            g.addr,
            "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        )
        .is_some_and(|r| r.starts_with("HTTP/1.1 200"))
    });
    wait_for(
        "refusal counted in /metrics",
        Duration::from_secs(10),
        || {
            request(
                g.addr,
                "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            )
            .is_some_and(|r| {
                r.lines().any(|l| {
                    l.starts_with("nfguard_http_refused_total{")
                        && l.contains("reason=\"max_connections\"")
                        && !l.ends_with(" 0")
                })
            })
        },
    );
}

#[test]
fn foreign_hosts_slow_bodies_and_bad_requests() {
    let g = start(512);
    // DNS rebinding: the browser sends the attacker's name as Host.
    let r = request(
        g.addr,
        "GET /api/v1/policy HTTP/1.1\r\nHost: rebind.attacker.test\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert!(r.starts_with("HTTP/1.1 421"), "{r}");
    let r = request(
        g.addr,
        "GET / HTTP/1.1\r\nHost: localhost:3100\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    let lower = r.to_ascii_lowercase();
    for h in [
        "content-security-policy: default-src 'none'; script-src 'sha256-",
        "x-frame-options: deny",
        "x-content-type-options: nosniff",
    ] {
        assert!(lower.contains(h), "missing {h}: {r}");
    }

    // An authenticated PUT that announces 100 bytes and sends 10: cut off, not held forever.
    let r = request(
        g.addr,
        &format!("PUT /api/v1/policy HTTP/1.1\r\nHost: localhost\r\nAuthorization: bearer {TOKEN}\r\nContent-Length: 100\r\n\r\ndefault = "),
    )
    .unwrap();
    assert!(r.starts_with("HTTP/1.1 408"), "{r}");

    let flood = Instant::now();
    for _ in 0..30 {
        let _ = request(g.addr, "GARBAGE\r\n\r\n");
    }
    // One line per started 10 s window: the flood usually fits in one.
    let windows = 1 + flood.elapsed().as_secs() / 10;
    let r = request(
        g.addr,
        "GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    let log = std::fs::read_to_string(&g.log).unwrap();
    let lines = log.lines().filter(|l| l.contains("parse error")).count();
    assert!(
        (1..=windows as usize).contains(&lines),
        "{lines} lines for 30 malformed requests in {windows} window(s) of 10 s:\n{log}"
    );
}
