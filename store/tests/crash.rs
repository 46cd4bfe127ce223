//! Crash safety: the real `nfguard-store` binary under heavy ingest is killed with SIGKILL and restarted
//! on the same database, twice. The database must open, every record must decode, the stored record
//! count must match the records, and every record the store had answered with more than one flush
//! interval before the kill must still be there.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;
use nfguard_proto::bus::{Publisher, RpcClient};
use nfguard_proto::pb;
use nfguard_proto::process::endpoints;

const FLUSH: Duration = Duration::from_millis(200);

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(config: &std::path::Path) -> Proc {
    Proc(
        Command::new(env!("CARGO_BIN_EXE_nfguard-store"))
            .arg("-c")
            .arg(config)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

async fn wait_answering(c: &StoreClient) -> pb::TotalsReply {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = c
            .call(
                &pb::StoreRequest {
                    body: Some(pb::store_request::Body::Totals(pb::TotalsQuery::default())),
                },
                Duration::from_secs(2),
            )
            .await
            && let Some(pb::store_response::Body::Totals(t)) = r.body
        {
            return t;
        }
        assert!(Instant::now() < deadline, "store never answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn keys(c: &StoreClient) -> HashSet<Vec<u8>> {
    all_flows(
        c,
        pb::FlowQuery {
            limit: 1000,
            ..Default::default()
        },
    )
    .await
    .into_iter()
    .map(|r| {
        assert!(r.flow.is_some(), "record without body");
        r.key
    })
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_heavy_ingest_loses_at_most_one_flush_interval() {
    let dir = tempfile::Builder::new()
        .prefix("sc")
        .tempdir_in("/tmp")
        .unwrap();
    let cfg = config(dir.path(), "200ms");
    let cfg_path = dir.path().join("nfguard.toml");
    std::fs::write(
        &cfg_path,
        format!(
            "runtime_dir = \"{}\"\n[capture]\nqueues = \"0\"\n[store]\npath = \"{}\"\nflush_interval = \"200ms\"\ncache_capacity = \"16MiB\"\n",
            cfg.runtime_dir.display(),
            cfg.store.path.display()
        ),
    )
    .unwrap();
    let publisher = Arc::new(
        Publisher::bind(&cfg.endpoint(&endpoints::flows_queue(0)), 3)
            .await
            .unwrap(),
    );
    let running = Arc::new(AtomicBool::new(true));
    let feeder = {
        let (p, running) = (publisher.clone(), running.clone());
        tokio::spawn(async move {
            let mut id = 0u64;
            while running.load(Ordering::Relaxed) {
                for _ in 0..500 {
                    id += 1;
                    let mut f = flow(
                        id,
                        pb::FlowEventKind::FlowEventStart,
                        "TLS.YouTube",
                        "www.youtube.com",
                        [10, 0, 0, (id % 200) as u8],
                    );
                    f.bytes_c2s = id;
                    p.publish(pb::published::Body::FlowEvent(f));
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        })
    };
    let mut client: StoreClient = RpcClient::connect(&cfg.endpoint(endpoints::STORE));
    let mut proc = spawn(&cfg_path);
    for round in 0..2 {
        let t = wait_answering(&client).await;
        // Let the store ingest for a while, then note what it serves.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let seen = keys(&client).await;
        let noted = Instant::now();
        assert!(
            seen.len() as u64 > t.records_stored,
            "round {round}: no ingest ({} records)",
            seen.len()
        );
        // Everything noted is at most one flush old once one more interval (plus its fsync) has passed.
        tokio::time::sleep(FLUSH * 2).await;
        let pid = proc.0.id();
        proc.0.kill().unwrap();
        proc.0.wait().unwrap();
        eprintln!(
            "round {round}: killed pid {pid} {:?} after noting {} records",
            noted.elapsed(),
            seen.len()
        );
        proc = spawn(&cfg_path);
        client = RpcClient::connect(&cfg.endpoint(endpoints::STORE));
        let after = wait_answering(&client).await;
        let now = keys(&client).await;
        let missing = seen.difference(&now).count();
        assert_eq!(
            missing,
            0,
            "round {round}: {missing} of {} noted records lost after kill -9",
            seen.len()
        );
        assert!(after.records_stored >= seen.len() as u64);
    }
    running.store(false, Ordering::Relaxed);
    feeder.await.unwrap();
    // Quiesce, then the record count must equal the records (batches are atomic). The store may still
    // be working through queued events when the feeder stops (measured: up to ~4000 events after 600 ms
    // on a loaded 2-core machine), so wait until the count holds still over three flush intervals.
    // One still interval is not enough on a loaded machine: a single 20 000-event flush with its fsync
    // took longer than 600 ms while another build ran (count 59 351, records 66 447), so the count must
    // hold still over three intervals in a row.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut t = wait_answering(&client).await;
    let mut still = 0;
    while still < 3 {
        tokio::time::sleep(FLUSH * 3).await;
        let again = wait_answering(&client).await;
        if again.records_stored == t.records_stored {
            still += 1;
        } else {
            still = 0;
        }
        t = again;
        assert!(Instant::now() < deadline, "ingest never drained");
    }
    let all = keys(&client).await;
    assert_eq!(
        t.records_stored,
        all.len() as u64,
        "record count and records disagree"
    );
    drop(proc);
}
