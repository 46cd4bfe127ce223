//! Query benchmark on 1 M flow records (not run in CI):
//! `cargo run --release -p nfguard-store --example bench -- [RECORDS] [DIR]`.
//! Writes RECORDS flows spread over 24 h (2 000 hosts, 100 apps, 20 rules, 3 verdicts) in 10 000-event
//! batches, times every query kind (best and median of 7 runs), then runs retention for the older half
//! and reports the database size before and after, and this process's memory (VmRSS, VmHWM: the
//! store process holds the same database state; sled's cache is the config default). A third
//! argument `keep` keeps DIR (and reuses it when it already holds RECORDS) and skips retention;
//! `retain` reuses DIR and runs retention.
//! `--export` (anywhere) also hands every written batch to the IPFIX exporter, as the store service
//! does, sending to a UDP sink on loopback: the ingest rate with export on vs off, and the records/s
//! the exporter's sender thread sustains (time until it has sent everything offered).
#![allow(clippy::unwrap_used, clippy::type_complexity)]

use std::time::{Duration, Instant};

use nfguard_proto::pb;
use nfguard_store::ingest::Batch;
use nfguard_store::{FlowStore, SledStore};

mod common;
use common::{memory, sizes, synthetic_flow};

/// The store binary's allocator (`src/main.rs`), so measurements match the service.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const HOUR_MS: u64 = 3_600_000;

fn main() {
    let all: Vec<String> = std::env::args().skip(1).collect();
    let export_on = all.iter().any(|a| a == "--export");
    let mut args = all.into_iter().filter(|a| a != "--export");
    let mut export = export_on.then(start_export);
    // Time spent in `Exporter::offer` (the ingest side's whole cost of export).
    let mut offer_time = Duration::ZERO;
    let n: u64 = args
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let dir = match args.next() {
        Some(d) => std::path::PathBuf::from(d),
        None => std::env::temp_dir().join(format!("nfguard-store-bench-{}", std::process::id())),
    };
    // `keep` as third argument: reuse DIR if it already holds RECORDS, skip retention, keep DIR.
    // `retain`: reuse DIR like `keep`, then run retention and delete DIR.
    let mode = args.next();
    let keep = mode.as_deref() == Some("keep");
    let retain = mode.as_deref() == Some("retain");
    if !keep && !retain {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let cache = nfguard_proto::config::Config::default()
        .store
        .cache_capacity
        .0;
    let store = SledStore::open(&dir, cache).unwrap();
    let reuse = (keep || retain) && store.records().unwrap() >= n;
    // Reused data was written relative to its own "now": the newest record's time stands in for it.
    let now = if reuse {
        let p = store
            .flows(&pb::FlowQuery {
                limit: 1,
                ..Default::default()
            })
            .unwrap();
        p.flows[0].flow.as_ref().unwrap().first_seen_unix_ms + 1
    } else {
        nfguard_store::now_ms()
    };
    let start = now - 24 * HOUR_MS;
    let t0 = Instant::now();
    let mut b = Batch::default();
    for i in 0..if reuse { 0 } else { n } {
        let first = start + i * (24 * HOUR_MS) / n;
        let ev = synthetic_flow(i, first, pb::FlowEventKind::FlowEventEnd, 30_000);
        b.add(ev, now, |id| store.lookup(id)).unwrap().unwrap();
        if b.events >= 10_000 {
            store.write(&b).unwrap();
            if let Some((x, _)) = export.as_mut() {
                let t = Instant::now();
                x.offer(std::mem::take(&mut b.records), now);
                offer_time += t.elapsed();
            }
            b = Batch::default();
        }
    }
    if !b.is_empty() {
        store.write(&b).unwrap();
        if let Some((x, _)) = export.as_mut() {
            let t = Instant::now();
            x.offer(std::mem::take(&mut b.records), now);
            offer_time += t.elapsed();
        }
    }
    store.sync().unwrap();
    let ingest = t0.elapsed();
    if let Some((x, sink)) = export.take() {
        println!(
            "export: offer took {:.2} s of the {:.1} s ingest",
            offer_time.as_secs_f64(),
            ingest.as_secs_f64()
        );
        report_export(x, &sink, t0);
        exporter_alone(n.min(500_000), now);
    }
    println!(
        "wrote {n} records in {:.1} s ({:.0} records/s); records = {}; db size {:.1} MiB",
        ingest.as_secs_f64(),
        n as f64 / ingest.as_secs_f64(),
        store.records().unwrap(),
        store.size_on_disk() as f64 / 1048576.0
    );

    let page1 = store
        .flows(&pb::FlowQuery {
            limit: 100,
            ..Default::default()
        })
        .unwrap();
    let q = |f: pb::FlowQuery| move |s: &SledStore| s.flows(&f).map(|p| p.flows.len()).unwrap();
    let top = |by: pb::TopBy, hours: u64| {
        move |s: &SledStore| {
            s.top(
                &pb::TopQuery {
                    by: by as i32,
                    since_unix_ms: now - hours * HOUR_MS,
                    until_unix_ms: now,
                    limit: 10,
                },
                now,
            )
            .map(|t| t.entries.len())
            .unwrap()
        }
    };
    let cases: Vec<(&str, Box<dyn Fn(&SledStore) -> usize>)> = vec![
        (
            "flows newest 100",
            Box::new(q(pb::FlowQuery {
                limit: 100,
                ..Default::default()
            })),
        ),
        (
            "flows page 2 (after_key)",
            Box::new(q(pb::FlowQuery {
                limit: 100,
                after_key: page1.next_key.clone(),
                ..Default::default()
            })),
        ),
        (
            "flows app=App7",
            Box::new(q(pb::FlowQuery {
                app: "App7".into(),
                limit: 100,
                ..Default::default()
            })),
        ),
        (
            "flows host=host42.example.com",
            Box::new(q(pb::FlowQuery {
                host: "host42.example.com".into(),
                limit: 100,
                ..Default::default()
            })),
        ),
        (
            "flows verdict=drop",
            Box::new(q(pb::FlowQuery {
                verdict: "drop".into(),
                limit: 100,
                ..Default::default()
            })),
        ),
        (
            "flows rule=rule3",
            Box::new(q(pb::FlowQuery {
                rule: "rule3".into(),
                limit: 100,
                ..Default::default()
            })),
        ),
        (
            "flows app+verdict (sparse)",
            Box::new(q(pb::FlowQuery {
                app: "App7".into(),
                verdict: "accept".into(),
                limit: 100,
                ..Default::default()
            })),
        ),
        (
            "flows time range 1 h, 6 h ago",
            Box::new(q(pb::FlowQuery {
                since_unix_ms: now - 7 * HOUR_MS,
                until_unix_ms: now - 6 * HOUR_MS,
                limit: 100,
                ..Default::default()
            })),
        ),
        (
            "flows host+range 1 h",
            Box::new(q(pb::FlowQuery {
                host: "host42.example.com".into(),
                since_unix_ms: now - 7 * HOUR_MS,
                until_unix_ms: now - 6 * HOUR_MS,
                limit: 100,
                ..Default::default()
            })),
        ),
        (
            "flows app no match",
            Box::new(q(pb::FlowQuery {
                app: "NoSuchApp".into(),
                limit: 100,
                ..Default::default()
            })),
        ),
        ("top apps 24 h", Box::new(top(pb::TopBy::App, 24))),
        ("top hosts 24 h", Box::new(top(pb::TopBy::Host, 24))),
        ("top rules 24 h", Box::new(top(pb::TopBy::Rule, 24))),
        ("top verdicts 24 h", Box::new(top(pb::TopBy::Verdict, 24))),
        ("top hosts 1 h", Box::new(top(pb::TopBy::Host, 1))),
        (
            "totals 24 h",
            Box::new(|s: &SledStore| {
                s.totals(
                    &pb::TotalsQuery {
                        since_unix_ms: now - 24 * HOUR_MS,
                        until_unix_ms: now,
                    },
                    now,
                )
                .map(|t| t.flows as usize)
                .unwrap()
            }),
        ),
    ];
    println!(
        "{:<34} {:>10} {:>10} {:>8}",
        "query", "best ms", "median ms", "rows"
    );
    let mut worst = Duration::ZERO;
    for (name, f) in &cases {
        let mut times = Vec::new();
        let mut rows = 0;
        for _ in 0..7 {
            let t = Instant::now();
            rows = f(&store);
            times.push(t.elapsed());
        }
        times.sort();
        worst = worst.max(times[3]);
        println!(
            "{name:<34} {:>10.2} {:>10.2} {rows:>8}",
            ms(times[0]),
            ms(times[3])
        );
    }
    println!("worst median: {:.2} ms", ms(worst));
    let (blocks, tail, open) = store.layout();
    println!(
        "layout: {blocks} blocks, {tail} tail records, {open} open; {}",
        sizes(&dir)
    );
    println!(
        "memory at {} records: {}",
        store.records().unwrap(),
        memory()
    );
    if keep {
        return;
    }

    let t = Instant::now();
    let mut expired = 0;
    loop {
        let e = store
            .expire(
                now - 12 * HOUR_MS,
                0,
                nfguard_store::retention::EXPIRE_CHUNK,
            )
            .unwrap();
        expired += e.records;
        if !e.more {
            break;
        }
    }
    store.sync().unwrap();
    println!(
        "retention of the older 12 h: {expired} records in {:.1} s; records = {}; db size {:.1} MiB",
        t.elapsed().as_secs_f64(),
        store.records().unwrap(),
        store.size_on_disk() as f64 / 1048576.0
    );
    println!("after retention: {}; {}", sizes(&dir), memory());
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The exporter of `--export`, sending to a UDP sink thread on loopback that counts datagrams.
fn start_export() -> (
    nfguard_store::export::Exporter,
    std::sync::Arc<std::sync::atomic::AtomicU64>,
) {
    use std::sync::atomic::{AtomicU64, Ordering};
    let sink = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = sink.local_addr().unwrap();
    let got = std::sync::Arc::new(AtomicU64::new(0));
    let g = got.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 65_536];
        while sink.recv(&mut buf).is_ok() {
            g.fetch_add(1, Ordering::Relaxed);
        }
    });
    let cfg = nfguard_proto::config::ExportConfig {
        ipfix: vec![format!("udp://{addr}").parse().unwrap()],
        // Every record of the run may wait: the bench measures the sender, not the drop policy.
        queue: nfguard_proto::config::MAX_EXPORT_QUEUE,
        ..Default::default()
    };
    let x = nfguard_store::export::Exporter::start(&cfg)
        .unwrap()
        .unwrap();
    (x, got)
}

fn report_export(
    x: nfguard_store::export::Exporter,
    sink: &std::sync::atomic::AtomicU64,
    t0: Instant,
) {
    let stats = x.stats();
    x.stop();
    let elapsed = t0.elapsed();
    let (_, sent, dropped) = stats.totals()[0].clone();
    println!(
        "export: {sent} IPFIX records sent ({dropped} dropped, {} batches not converted) in {:.1} s from the first batch = {:.0} records/s; sink got {} messages",
        stats.batches_dropped(),
        elapsed.as_secs_f64(),
        sent as f64 / elapsed.as_secs_f64(),
        sink.load(std::sync::atomic::Ordering::Relaxed)
    );
}

/// The exporter without the store: `n` flows' final records offered in 10 000-flow batches as fast
/// as they come, timed until it has sent them all (converter and sender thread: each one core).
fn exporter_alone(n: u64, now: u64) {
    let batches: Vec<Batch> = (0..n)
        .collect::<Vec<_>>()
        .chunks(10_000)
        .map(|c| {
            let mut b = Batch::default();
            for &i in c {
                let ev = synthetic_flow(i, now - 60_000, pb::FlowEventKind::FlowEventEnd, 30_000);
                b.add(ev, now, |_| Ok::<_, ()>(None)).unwrap().unwrap();
            }
            b
        })
        .collect();
    let (mut x, sink) = start_export();
    let stats = x.stats();
    let t0 = Instant::now();
    let mut offered = 0u64;
    for mut b in batches {
        // Keep at most 4 batches in flight: the converter's queue (8) never overflows.
        while offered.saturating_sub(stats.totals()[0].1) > 4 * 20_000 {
            std::thread::sleep(Duration::from_micros(200));
        }
        offered += 2 * b.records.len() as u64;
        x.offer(std::mem::take(&mut b.records), now);
    }
    report_export(x, &sink, t0);
}
