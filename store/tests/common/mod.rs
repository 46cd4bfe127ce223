//! Shared set-up for the store's bus tests: a temp runtime dir and database, a config pointing at them,
//! test publishers and a query client.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use nfguard_proto::bus::RpcClient;
use nfguard_proto::config::Config;
use nfguard_proto::pb;

pub type StoreClient = RpcClient<pb::StoreRequest, pb::StoreResponse>;

/// A config whose runtime dir and database live in `dir` (short path: ipc names are limited to 107 B).
pub fn config(dir: &Path, flush: &str) -> Config {
    let text = format!(
        "runtime_dir = \"{run}\"\n[capture]\nqueues = \"0\"\n[store]\npath = \"{db}\"\nflush_interval = \"{flush}\"\ncache_capacity = \"16MiB\"\n",
        run = dir.join("run").display(),
        db = dir.join("db").display(),
    );
    Config::parse("test.toml", &text).unwrap()
}

pub fn now_ms() -> u64 {
    nfguard_store::now_ms()
}

pub fn flow(
    id: u64,
    kind: pb::FlowEventKind,
    label: &str,
    host: &str,
    client: [u8; 4],
) -> pb::FlowEvent {
    let t = now_ms();
    pb::FlowEvent {
        kind: kind as i32,
        flow: Some(pb::FlowRef {
            queue: 0,
            boot_id: 7,
            flow_id: id,
        }),
        tuple: Some(pb::Tuple {
            client_ip: client.to_vec(),
            server_ip: vec![93, 184, 216, 34],
            client_port: 40_000 + (id % 20_000) as u32,
            server_port: 443,
            l4: 6,
        }),
        classification: Some(pb::Classification {
            host: host.into(),
            ..Default::default()
        }),
        label: label.into(),
        verdict: "accept".into(),
        first_seen_unix_ms: t,
        last_seen_unix_ms: t,
        ..Default::default()
    }
}

pub async fn call(c: &StoreClient, body: pb::store_request::Body) -> pb::store_response::Body {
    for _ in 0..100 {
        if let Ok(r) = c
            .call(
                &pb::StoreRequest {
                    body: Some(body.clone()),
                },
                Duration::from_secs(5),
            )
            .await
        {
            return r.body.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("store did not answer");
}

pub async fn flows(c: &StoreClient, q: pb::FlowQuery) -> pb::FlowPage {
    match call(c, pb::store_request::Body::Flows(q)).await {
        pb::store_response::Body::Flows(p) => p,
        other => panic!("unexpected {other:?}"),
    }
}

/// Every record matching `q`, following the cursor.
pub async fn all_flows(c: &StoreClient, mut q: pb::FlowQuery) -> Vec<pb::FlowRecord> {
    let mut out = Vec::new();
    loop {
        let p = flows(c, q.clone()).await;
        out.extend(p.flows);
        if p.next_key.is_empty() {
            return out;
        }
        q.after_key = p.next_key;
    }
}

pub fn bytes(f: &pb::FlowEvent) -> u64 {
    f.bytes_c2s + f.bytes_s2c
}
