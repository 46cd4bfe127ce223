//! Steady-state size under continuous load with a short retention window (issue #8, not run in CI):
//! `cargo run --release -p nfguard-store --example steady -- [RATE] [WINDOW_S] [WINDOWS] [DIR] [CACHE_MIB]`
//! (CACHE_MIB: sled's `cache_capacity`, default the config's `[store] cache_capacity` default).
//!
//! Time is simulated: every simulated second is one flush holding RATE new flows (START) and the END of
//! the flows started 30 s earlier, the way captures publish them; retention runs every simulated 60 s
//! (as the store does, `RETENTION_INTERVAL`) with a cutoff WINDOW_S behind the simulated clock, in
//! `EXPIRE_CHUNK` passes. So a run of a few minutes covers WINDOWS retention windows. After every window
//! it prints the record count, the size on disk (and by part: sled's log, snapshots, block files,
//! the reserve) and the keys per kind (`o` open records, `s` block summaries (one per block),
//! `a` aggregate buckets, `u` usage days): if the size kept growing while the keys stay flat, the
//! growth is sled's, not left-over keys of ours.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use nfguard_proto::pb;
use nfguard_store::ingest::Batch;
use nfguard_store::retention::EXPIRE_CHUNK;
use nfguard_store::{FlowStore, SledStore};

mod common;
use common::{memory, sizes, synthetic_flow};

/// The store binary's allocator (`src/main.rs`), so measurements match the service.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Simulated seconds between a flow's START and its END.
const FLOW_LIFE_S: u64 = 30;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut num = |d: u64| args.next().and_then(|s| s.parse().ok()).unwrap_or(d);
    let rate = num(500);
    let window_s = num(300);
    let windows = num(8);
    let dir = match std::env::args().nth(4) {
        Some(d) => std::path::PathBuf::from(d),
        None => std::env::temp_dir().join(format!("nfguard-store-steady-{}", std::process::id())),
    };
    let _ = std::fs::remove_dir_all(&dir);
    let cache_mib = std::env::args()
        .nth(5)
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(
            nfguard_proto::config::Config::default()
                .store
                .cache_capacity
                .0
                >> 20,
        );
    let store = SledStore::open(&dir, cache_mib << 20).unwrap();
    let total_s = window_s * windows;
    // The simulated run ends at the real now, so the hot cache's real-clock window behaves as in service.
    let t_start_ms = nfguard_store::now_ms() - (total_s + FLOW_LIFE_S) * 1000;
    println!(
        "rate {rate} flows/s, retention window {window_s} s, {windows} windows ({} flows); steady state ≈ {} records; cache {cache_mib} MiB",
        rate * total_s,
        rate * window_s
    );
    println!(
        "{:>6} {:>9} {:>9} {:>10} {:>9} {:>9} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8}",
        "window",
        "flows",
        "records",
        "size MiB",
        "o keys",
        "s keys",
        "a keys",
        "u keys",
        "ingest/s",
        "ingest s",
        "expire s",
        "wall s"
    );
    let t0 = Instant::now();
    // Time spent ingesting (batch building, write, fsync) and in retention during the current window,
    // each timed alone: the rate printed is flows over ingest time only, so neither retention nor this
    // example's own key-count scans are charged to ingest.
    let mut ingest = Duration::ZERO;
    let mut expire = Duration::ZERO;
    let mut flows_total = 0u64;
    for sec in 0..total_s + FLOW_LIFE_S {
        let now_ms = t_start_ms + sec * 1000;
        let t_ingest = Instant::now();
        let mut b = Batch::default();
        if sec < total_s {
            for j in 0..rate {
                let i = sec * rate + j;
                let ev = synthetic_flow(i, now_ms, pb::FlowEventKind::FlowEventStart, 0);
                b.add(ev, now_ms, |id| store.lookup(id)).unwrap().unwrap();
            }
            flows_total += rate;
        }
        if let Some(started) = sec.checked_sub(FLOW_LIFE_S).filter(|s| *s < total_s) {
            for j in 0..rate {
                let i = started * rate + j;
                let ev = synthetic_flow(
                    i,
                    t_start_ms + started * 1000,
                    pb::FlowEventKind::FlowEventEnd,
                    FLOW_LIFE_S * 1000,
                );
                b.add(ev, now_ms, |id| store.lookup(id)).unwrap().unwrap();
            }
        }
        store.write(&b).unwrap();
        store.sync().unwrap();
        ingest += t_ingest.elapsed();
        if sec % 60 == 59 {
            let t_expire = Instant::now();
            let (cutoff_ms, usage_cutoff_s) =
                nfguard_store::retention::cutoffs(now_ms, std::time::Duration::from_secs(window_s));
            while store
                .expire(cutoff_ms, usage_cutoff_s, EXPIRE_CHUNK)
                .unwrap()
                .more
            {}
            store.sync().unwrap();
            expire += t_expire.elapsed();
        }
        if (sec + 1) % window_s == 0 && sec < total_s {
            let keys = count_keys(&store);
            println!(
                "{:>6} {:>9} {:>9} {:>10.1} {:>9} {:>9} {:>9} {:>9} {:>8.0} {:>8.1} {:>8.1} {:>8.1}",
                (sec + 1) / window_s,
                flows_total,
                store.records().unwrap(),
                store.size_on_disk() as f64 / 1_048_576.0,
                keys[0],
                keys[1],
                keys[2],
                keys[3],
                (rate * window_s) as f64 / ingest.as_secs_f64(),
                ingest.as_secs_f64(),
                expire.as_secs_f64(),
                t0.elapsed().as_secs_f64()
            );
            println!("       {}; {}", sizes(&dir), memory());
            ingest = Duration::ZERO;
            expire = Duration::ZERO;
        }
    }
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Keys per kind (`o`, `s`, `a`, `u`), read through a query-free scan of the open database.
fn count_keys(store: &SledStore) -> [u64; 4] {
    let mut out = [0u64; 4];
    for (n, p) in [b'o', b's', b'a', b'u'].iter().enumerate() {
        out[n] = store.count_prefix(&[*p]).unwrap();
    }
    out
}
