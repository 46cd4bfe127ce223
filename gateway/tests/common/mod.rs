//! A running stack for gateway tests: the real store `run()`, the real gateway `serve()` on an ephemeral
//! port, a test publisher standing in for capture queue 0 (flows and its metrics snapshot), and a tiny
//! HTTP/1.1 client.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use nfguard_proto::bus::Publisher;
use nfguard_proto::config::Config;
use nfguard_proto::pb;
use nfguard_proto::process::endpoints;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const TOKEN: &str = "s3cret-token";

pub struct Stack {
    pub dir: tempfile::TempDir,
    pub cfg: Config,
    pub addr: SocketAddr,
    pub flows: Publisher,
    pub capture_metrics: Publisher,
    pub stops: Vec<tokio::sync::oneshot::Sender<()>>,
    pub tasks: Vec<tokio::task::JoinHandle<()>>,
}

fn config(dir: &std::path::Path, listen: &str) -> Config {
    std::fs::write(dir.join("token"), format!("{TOKEN}\n")).unwrap();
    let text = format!(
        "runtime_dir = \"{run}\"\n[policy]\nrules = \"{rules}\"\n[capture]\nqueues = \"0\"\n[store]\npath = \"{db}\"\nflush_interval = \"100ms\"\ncache_capacity = \"16MiB\"\n[gateway]\nlisten = \"{listen}\"\ntoken_file = \"{tok}\"\n",
        run = dir.join("run").display(),
        db = dir.join("db").display(),
        tok = dir.join("token").display(),
        rules = dir.join("policy.toml").display(),
    );
    let mut cfg = Config::parse("test.toml", &text).unwrap();
    // The gateway and the policy process share it, as under `nfguard run`.
    cfg.bus_secret = Some(nfguard_proto::bus_secret::BusSecret::generate());
    cfg
}

/// The rule file the real policy process starts with.
pub const POLICY: &str = "default = \"accept\"\n\n[[rule]]\nname = \"no-p2p\"\napp = [\"BitTorrent\"]\naction = \"drop\"\n";

/// Starts the real policy process on the stack's runtime dir.
pub async fn start_policy(s: &mut Stack) {
    std::fs::write(s.dir.path().join("policy.toml"), POLICY).unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    s.stops.insert(0, tx);
    let c = s.cfg.clone();
    s.tasks.insert(
        0,
        tokio::spawn(async move {
            nfguard_policy::service::run(c, async move {
                let _ = rx.await;
            })
            .await
            .unwrap();
        }),
    );
}

pub fn flow(id: u64, label: &str, host: &str, verdict: &str, bytes: u64) -> pb::FlowEvent {
    let t = nfguard_store::now_ms();
    pb::FlowEvent {
        kind: pb::FlowEventKind::FlowEventEnd as i32,
        flow: Some(pb::FlowRef {
            queue: 0,
            boot_id: 5,
            flow_id: id,
        }),
        tuple: Some(pb::Tuple {
            client_ip: vec![10, 0, 0, 2],
            server_ip: vec![142, 250, 1, 1],
            client_port: 50_000 + id as u32,
            server_port: 443,
            l4: 6,
        }),
        classification: Some(pb::Classification {
            master_id: 91,
            app_id: 124,
            host: host.into(),
            ..Default::default()
        }),
        label: label.into(),
        verdict: verdict.into(),
        bytes_c2s: bytes,
        bytes_s2c: bytes,
        packets_c2s: 2,
        packets_s2c: 3,
        first_seen_unix_ms: t,
        last_seen_unix_ms: t + 5,
        end_reason: "idle".into(),
        ..Default::default()
    }
}

/// Every metric name the design lists for the capture worker, with plausible values.
pub fn capture_snapshot() -> pb::MetricsSnapshot {
    let mut b = nfguard_proto::metrics::SnapshotBuilder::new();
    for v in ["accept", "drop"] {
        b.counter(
            "nfguard_packets_total",
            &[("queue", "0"), ("verdict", v)],
            1000,
        );
        b.counter(
            "nfguard_bytes_total",
            &[("queue", "0"), ("verdict", v)],
            150_000,
        );
    }
    b.counter("nfguard_verdict_timeouts_total", &[("queue", "0")], 3)
        .counter("nfguard_flows_new_total", &[("queue", "0")], 40)
        .counter("nfguard_flows_undecided_total", &[("queue", "0")], 30)
        .counter(
            "nfguard_fail_open_total",
            &[("queue", "0"), ("reason", "timeout")],
            3,
        )
        .counter(
            "nfguard_kernel_bypassed_packets_total",
            &[("queue", "0"), ("reason", "id_gap")],
            0,
        )
        .counter(
            "nfguard_decode_errors_total",
            &[("queue", "0"), ("reason", "truncated")],
            1,
        )
        .gauge("nfguard_held_packets", &[("queue", "0")], 2.0)
        .gauge("nfguard_flow_table_size", &[("queue", "0")], 42.0)
        .counter("nfguard_flows_total", &[("app", "TLS.YouTube")], 10)
        .counter(
            "nfguard_flow_bytes_total",
            &[("app", "TLS.YouTube")],
            99_000,
        )
        .counter("nfguard_rule_hits_total", &[("rule", "block-bt")], 4)
        .counter("nfguard_would_drop_total", &[("rule", "block-bt")], 0);
    let h = nfguard_proto::metrics::Histogram::new(nfguard_proto::metrics::LATENCY_BOUNDS);
    h.record(Duration::from_micros(30));
    h.record(Duration::from_millis(2));
    b.histogram("nfguard_bus_request_seconds", &[("peer", "policy")], &h);
    b.counter(
        "nfguard_bus_messages_lost_total",
        &[("topic", "policy-events")],
        0,
    );
    b.finish("capture-q0", 0, 12)
}

/// A supervisor snapshot: restarts per part, and its own view of `nfguard_process_up` (which the
/// gateway must drop in favour of its heartbeat view).
pub fn supervisor_snapshot() -> pb::MetricsSnapshot {
    let mut b = nfguard_proto::metrics::SnapshotBuilder::new();
    b.counter(
        "nfguard_process_restarts_total",
        &[("part", "classifier")],
        2,
    )
    .gauge("nfguard_process_up", &[("part", "classifier")], 1.0);
    b.finish("supervisor", 0, 100)
}

impl Stack {
    pub async fn start(listen_any: bool) -> Stack {
        let dir = tempfile::Builder::new()
            .prefix("gw")
            .tempdir_in("/tmp")
            .unwrap();
        let cfg = config(dir.path(), "127.0.0.1:0");
        let flows = Publisher::bind(&cfg.endpoint(&endpoints::flows_queue(0)), 21)
            .await
            .unwrap();
        let capture_metrics = Publisher::bind(&cfg.endpoint(&endpoints::metrics("capture-q0")), 22)
            .await
            .unwrap();
        let mut stops = Vec::new();
        let mut tasks = Vec::new();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        stops.push(tx);
        let c = cfg.clone();
        tasks.push(tokio::spawn(async move {
            nfguard_store::run(c, async move {
                let _ = rx.await;
            })
            .await
            .unwrap();
        }));
        let listener = std::net::TcpListener::bind(if listen_any {
            "0.0.0.0:0"
        } else {
            "127.0.0.1:0"
        })
        .unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        stops.push(tx);
        let c = cfg.clone();
        // The kernel's table as it reads with one queue bound (columns per nfnetlink_queue.c).
        let nfq = dir.path().join("nfnetlink_queue");
        std::fs::write(&nfq, "    0  31337     5 2  4096     7     1      900  1\n").unwrap();
        let opts = nfguard_gateway::Options {
            nfnetlink_queue: nfq,
        };
        tasks.push(tokio::spawn(async move {
            nfguard_gateway::serve_with(c, listener, opts, async move {
                let _ = rx.await;
            })
            .await
            .unwrap();
        }));
        let stack = Stack {
            dir,
            cfg,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            flows,
            capture_metrics,
            stops,
            tasks,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while get(&stack, "/health").await.0 != 200 {
            assert!(Instant::now() < deadline, "gateway never answered /health");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // And until its store client is connected, so tests see answers rather than 503s.
        let auth = format!("Bearer {TOKEN}");
        while request(
            &stack,
            "GET",
            "/api/v1/totals",
            &[("Authorization", &auth)],
            b"",
        )
        .await
        .0 != 200
        {
            assert!(Instant::now() < deadline, "gateway never reached the store");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        stack
    }

    /// Publishes flows (repeating until the store has them: PUB drops messages before SUB joins).
    pub async fn ingest(&self, events: &[pb::FlowEvent]) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            for e in events {
                self.flows
                    .publish(pb::published::Body::FlowEvent(e.clone()));
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            let (code, body) = request(
                self,
                "GET",
                "/api/v1/flows?limit=1000",
                &[("Authorization", &format!("Bearer {TOKEN}"))],
                b"",
            )
            .await;
            if code == 200 {
                let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                if v["flows"].as_array().unwrap().len() >= events.len() {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "store never got the flows: {code} {body}"
            );
        }
    }

    pub async fn stop(mut self) {
        for s in self.stops.drain(..).rev() {
            let _ = s.send(());
        }
        for t in self.tasks.drain(..) {
            tokio::time::timeout(Duration::from_secs(10), t)
                .await
                .unwrap()
                .unwrap();
        }
    }
}

pub async fn get(s: &Stack, path: &str) -> (u16, String) {
    request(s, "GET", path, &[], b"").await
}

/// One HTTP/1.1 request with `Connection: close`; returns (status, body). Status 0 if the connection
/// failed or the answer was not HTTP.
pub async fn request(
    s: &Stack,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let Ok(mut c) = tokio::net::TcpStream::connect(s.addr).await else {
        return (0, String::new());
    };
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let mut data = req.into_bytes();
    data.extend_from_slice(body);
    if c.write_all(&data).await.is_err() {
        return (0, String::new());
    }
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), c.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    (status, body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((len, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(len.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].strip_prefix("\r\n").unwrap_or(&rest[n..]);
    }
    out
}
