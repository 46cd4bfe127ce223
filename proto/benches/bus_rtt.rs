//! Bus round trip between two processes over ipc: `cargo bench -p nfguard-proto --features bus --bench bus_rtt`.
//! The bench re-runs itself as the ROUTER server (a policy-shaped echo), then times `RpcClient::call`
//! on a current-thread runtime (as the capture uses it) and prints median, p99 and max.

use std::time::{Duration, Instant};

use nfguard_proto::bus::{RpcClient, RpcServer};
use nfguard_proto::pb;

const SERVER_ENV: &str = "NFGUARD_BUS_RTT_SERVER";
const CALLS: usize = 20_000;
const WARMUP: usize = 1_000;

type Req = pb::PolicyRequest;
type Rep = pb::PolicyResponse;

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    if let Some(ep) = std::env::var_os(SERVER_ENV) {
        rt.block_on(server(ep.to_string_lossy().into_owned()));
        return;
    }
    let dir = std::env::temp_dir().join(format!("nfg-rtt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let ep = format!("ipc://{}/rtt.sock", dir.display());
    let mut child = std::process::Command::new(std::env::current_exe().expect("own path"))
        .env(SERVER_ENV, &ep)
        .spawn()
        .expect("server process");
    let samples = rt.block_on(client(&ep));
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    let mut s = samples;
    s.sort();
    let pct = |p: f64| s[((s.len() as f64 * p) as usize).min(s.len() - 1)];
    println!(
        "bus round trip, ipc, 2 processes, current-thread runtime, {} calls: median {:.1} µs, p99 {:.1} µs, max {:.1} µs",
        s.len(),
        pct(0.5).as_secs_f64() * 1e6,
        pct(0.99).as_secs_f64() * 1e6,
        s[s.len() - 1].as_secs_f64() * 1e6
    );
}

async fn server(ep: String) {
    let mut server = RpcServer::<Req, Rep>::bind(&ep).await.expect("bind");
    let replier = server.replier();
    let reply = Rep {
        body: Some(pb::policy_response::Body::Decision(pb::Decision {
            verdict_bits: 1,
            offload: true,
            ..Default::default()
        })),
    };
    while let Ok(req) = server.recv().await {
        replier.reply(&req.reply_to, req.id, &reply);
    }
}

async fn client(ep: &str) -> Vec<Duration> {
    let client = RpcClient::<Req, Rep>::connect(ep);
    let req = Req {
        body: Some(pb::policy_request::Body::Decide(pb::DecideRequest {
            tuple: Some(pb::Tuple {
                client_ip: vec![10, 0, 0, 2],
                server_ip: vec![10, 0, 1, 2],
                client_port: 51000,
                server_port: 443,
                l4: 6,
            }),
            ..Default::default()
        })),
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.call(&req, Duration::from_millis(200)).await.is_err() {
        assert!(Instant::now() < deadline, "server never answered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut samples = Vec::with_capacity(CALLS);
    for i in 0..CALLS + WARMUP {
        let t = Instant::now();
        client
            .call(&req, Duration::from_millis(100))
            .await
            .expect("call");
        if i >= WARMUP {
            samples.push(t.elapsed());
        }
    }
    samples
}
