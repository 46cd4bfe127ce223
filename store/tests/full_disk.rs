//! Full disk (issue #8): the database on a size-limited tmpfs each test mounts (unmounted on drop, even on
//! panic). Ingest must pause with a clear error, every kind of query keeps answering while it is paused
//! (for longer than sled's 500 ms background flush, which is what used to break reads), nothing written
//! before the failed batch is lost, and ingest resumes once space returns. Needs root for `mount`;
//! skipped with a message otherwise.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use nfguard_proto::bus::{Publisher, RpcClient, Subscriber};
use nfguard_proto::pb;
use nfguard_proto::process::endpoints;
use nfguard_store::ingest::Batch;
use nfguard_store::{FlowStore, SledStore, StoreError};

struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(path: &std::path::Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(path).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(path.to_path_buf()))
    }

    fn resize(&self, size: &str) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(ok.success());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn metric(s: &pb::MetricsSnapshot, name: &str) -> f64 {
    s.metrics
        .iter()
        .filter(|m| m.name == name)
        .map(|m| m.value)
        .sum()
}

/// Every query kind the store answers, each of which must succeed: totals, top apps, the newest flows
/// and the flows of one app (through the app index). Returns the stored record count and the flows.
async fn query_all(client: &StoreClient) -> (u64, usize) {
    let totals = match call(
        client,
        pb::store_request::Body::Totals(pb::TotalsQuery::default()),
    )
    .await
    {
        pb::store_response::Body::Totals(t) => t,
        o => panic!("totals failed on a full disk: {o:?}"),
    };
    match call(
        client,
        pb::store_request::Body::Top(pb::TopQuery::default()),
    )
    .await
    {
        pb::store_response::Body::Top(t) => {
            assert!(
                t.entries.iter().any(|e| e.key == "TLS"),
                "top: {t:?}, totals: {totals:?}"
            );
        }
        o => panic!("top failed on a full disk: {o:?}"),
    }
    let newest = flows(client, pb::FlowQuery::default()).await;
    let tls = flows(
        client,
        pb::FlowQuery {
            app: "TLS".into(),
            limit: 1000,
            ..Default::default()
        },
    )
    .await;
    assert!(!tls.flows.is_empty());
    (totals.records_stored, newest.flows.len())
}

/// Everything this test binary logs, for the assertions on what an operator reads.
static LOG: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());

struct LogWriter;

impl std::io::Write for LogWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        LOG.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_log() {
    let _ = tracing_subscriber::fmt()
        .with_writer(|| LogWriter)
        .with_ansi(false)
        .try_init();
}

fn logged() -> String {
    String::from_utf8_lossy(&LOG.lock().unwrap()).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_pauses_ingest_and_recovers() {
    capture_log();
    let dir = tempfile::Builder::new()
        .prefix("sf")
        .tempdir_in("/tmp")
        .unwrap();
    // 6 MiB for data plus the store's 2 MiB reserve (`reserve::RESERVE_BASE`).
    let Some(fs) = Tmpfs::mount(&dir.path().join("db"), "8m") else {
        eprintln!("SKIPPED full-disk test: cannot mount tmpfs (needs root)");
        return;
    };
    let mut cfg = config(dir.path(), "100ms");
    cfg.store.path = fs.0.join("store");
    let publisher = Publisher::bind(&cfg.endpoint(&endpoints::flows_queue(0)), 9)
        .await
        .unwrap();
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(nfguard_store::run(cfg.clone(), async move {
        let _ = rx.await;
    }));
    let client: StoreClient = RpcClient::connect(&cfg.endpoint(endpoints::STORE));
    let mut metrics = Subscriber::connect(&[cfg.endpoint(&endpoints::metrics("store"))]);
    // First some flows that are surely durable (a first batch may already overflow the disk), so the
    // queries on the full disk have something to find.
    const SEED: u64 = 50;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        for id in 1..=SEED {
            let f = flow(
                id,
                pb::FlowEventKind::FlowEventStart,
                "TLS",
                &format!("seed{id}.example"),
                [10, 0, 0, 1],
            );
            publisher.publish(pb::published::Body::FlowEvent(f));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        if let pb::store_response::Body::Totals(t) = call(
            &client,
            pb::store_request::Body::Totals(pb::TotalsQuery::default()),
        )
        .await
            && t.records_stored == SEED
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the seed flows were never stored"
        );
    }
    // Fill the disk: large host names make records big.
    let long = "h".repeat(200);
    let mut id = SEED;
    let deadline = Instant::now() + Duration::from_secs(60);
    let paused_snapshot = loop {
        for _ in 0..500 {
            id += 1;
            let f = flow(
                id,
                pb::FlowEventKind::FlowEventStart,
                "TLS",
                &format!("{id}.{long}"),
                [10, 0, 0, 1],
            );
            publisher.publish(pb::published::Body::FlowEvent(f));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut last = None;
        while let Ok(Ok(m)) = tokio::time::timeout(Duration::from_millis(1), metrics.recv()).await {
            if let Some(pb::published::Body::Metrics(s)) = m.body {
                last = Some(s);
            }
        }
        if let Some(s) = last
            && metric(&s, "nfguard_store_ingest_paused") == 1.0
        {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the store never reported a full disk after {id} events"
        );
    };
    assert!(metric(&paused_snapshot, "nfguard_store_write_errors_total") >= 1.0);
    // The error line names the database's path (OPERATIONS.md says so).
    let log = logged();
    let line = log
        .lines()
        .find(|l| l.contains("ingest paused"))
        .unwrap_or_else(|| panic!("no pause error logged:\n{log}"));
    assert!(line.contains("ERROR"), "{line}");
    assert!(
        line.contains(&format!("path={}", cfg.store.path.display())),
        "{line}"
    );
    // Queries keep working while ingest is paused, and see a store that does not change.
    let (records, newest) = query_all(&client).await;
    assert!(records >= SEED);
    assert_eq!(
        newest as u64,
        records.min(100),
        "a default page holds up to 100 flows"
    );
    let until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < until {
        assert_eq!(query_all(&client).await, (records, newest));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Space returns: ingest resumes and new flows are stored.
    fs.resize("256m");
    let marker = flow(
        u64::MAX - 1,
        pb::FlowEventKind::FlowEventStart,
        "Marker",
        "marker.example",
        [10, 0, 0, 9],
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        publisher.publish(pb::published::Body::FlowEvent(marker.clone()));
        tokio::time::sleep(Duration::from_millis(200)).await;
        // Queries answer throughout, also while the store reopens its database to write again.
        let q = pb::FlowQuery {
            app: "Marker".into(),
            ..Default::default()
        };
        if !flows(&client, q).await.flows.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "ingest never resumed after space returned"
        );
    }
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(20), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

fn event(id: u64, host: &str) -> pb::FlowEvent {
    flow(
        id,
        pb::FlowEventKind::FlowEventStart,
        "TLS",
        host,
        [10, 0, 0, 1],
    )
}

/// `SledStore` itself: a failed write is refused cleanly, reads keep answering from exactly what was
/// written before it, `recover` fails while the disk is full and succeeds once it is not.
#[test]
fn sled_store_reads_last_durable_state_after_enospc() {
    let dir = tempfile::Builder::new()
        .prefix("sd")
        .tempdir_in("/tmp")
        .unwrap();
    let Some(fs) = Tmpfs::mount(&dir.path().join("db"), "6m") else {
        eprintln!("SKIPPED full-disk test: cannot mount tmpfs (needs root)");
        return;
    };
    let path = fs.0.join("store");
    let store = SledStore::open(&path, 16 << 20).unwrap();
    let long = "h".repeat(200);
    let mut id = 0u64;
    let mut durable = 0u64;
    let err = loop {
        let mut b = Batch::default();
        for _ in 0..200 {
            id += 1;
            b.add(event(id, &format!("{id}.{long}")), now_ms(), |i| {
                store.lookup(i)
            })
            .unwrap()
            .unwrap();
        }
        match store.write(&b).and_then(|()| store.sync()) {
            Ok(()) => durable += 200,
            Err(e) => break e,
        }
        assert!(id < 1_000_000, "the disk never filled");
    };
    assert!(matches!(err, StoreError::Db(_)), "{err}");
    assert!(err.to_string().contains("No space left"), "{err}");
    // Writes are refused until recovery, without touching the disk.
    assert!(matches!(
        store.write(&Batch::default()),
        Err(StoreError::Paused)
    ));
    assert!(store.recover().is_err(), "recovered on a full disk");
    // Reads keep working, past sled's background flush, and see every record of the synced batches.
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        assert_eq!(store.records().unwrap(), durable);
        let mut seen = 0u64;
        let mut q = pb::FlowQuery {
            app: "TLS".into(),
            limit: 1000,
            ..Default::default()
        };
        loop {
            let p = store.flows(&q).unwrap();
            seen += p.flows.len() as u64;
            if p.next_key.is_empty() {
                break;
            }
            q.after_key = p.next_key;
        }
        assert_eq!(seen, durable);
        let totals = store.totals(&pb::TotalsQuery::default(), now_ms()).unwrap();
        assert_eq!(totals.flows, durable);
        let top = store.top(&pb::TopQuery::default(), now_ms()).unwrap();
        assert_eq!(top.entries.len(), 1);
        assert_eq!(top.entries.first().unwrap().flows, durable);
        let first = nfguard_store::schema::FlowId::from_pb(event(1, "").flow.as_ref()).unwrap();
        assert!(store.lookup(&first).unwrap().is_some());
        std::thread::sleep(Duration::from_millis(100));
    }
    fs.resize("64m");
    store.recover().unwrap();
    let mut b = Batch::default();
    b.add(event(u64::MAX - 1, "after.example"), now_ms(), |i| {
        store.lookup(i)
    })
    .unwrap()
    .unwrap();
    store.write(&b).unwrap();
    store.sync().unwrap();
    assert_eq!(store.records().unwrap(), durable + 1);
}
