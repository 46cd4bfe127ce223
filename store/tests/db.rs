//! `SledStore` directly: retention with explicit time, the schema-version guard, reopening.
#![allow(clippy::unwrap_used)]

use nfguard_proto::pb;
use nfguard_store::ingest::Batch;
use nfguard_store::schema::META_SCHEMA;
use nfguard_store::{FlowStore, SledStore, StoreError};

const MIN: u64 = 60_000;
const DAY_MS: u64 = 86_400_000;

fn ev(id: u64, first: u64, last: u64, label: &str) -> pb::FlowEvent {
    pb::FlowEvent {
        flow: Some(pb::FlowRef {
            queue: 1,
            boot_id: 2,
            flow_id: id,
        }),
        tuple: Some(pb::Tuple {
            client_ip: vec![10, 0, 0, 1],
            server_ip: vec![10, 0, 0, 2],
            client_port: 1234,
            server_port: 443,
            l4: 6,
        }),
        label: label.into(),
        verdict: "accept".into(),
        bytes_c2s: 100,
        packets_c2s: 1,
        first_seen_unix_ms: first,
        last_seen_unix_ms: last,
        ..Default::default()
    }
}

fn write(store: &SledStore, events: Vec<pb::FlowEvent>) {
    let mut b = Batch::default();
    for e in events {
        b.add(e, 0, |id| store.lookup(id)).unwrap().unwrap();
    }
    store.write(&b).unwrap();
}

#[test]
fn retention_deletes_exactly_what_is_older_than_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(&dir.path().join("db"), 8 << 20).unwrap();
    let now = 100 * DAY_MS;
    let cutoff = now - 7 * DAY_MS;
    // id, first, last: old; old-but-still-active; exactly at the cutoff; new.
    write(
        &store,
        vec![
            ev(1, cutoff - 2 * DAY_MS, cutoff - DAY_MS, "Old"),
            ev(2, cutoff - 3 * MIN, cutoff - 1, "Old"),
            ev(3, cutoff - DAY_MS, cutoff + MIN, "Active"),
            ev(4, cutoff, cutoff, "Edge"),
            ev(5, now - MIN, now, "New"),
        ],
    );
    assert_eq!(store.records().unwrap(), 5);
    let e = store.expire(cutoff, 0, 10_000).unwrap();
    assert_eq!(e.records, 2);
    assert!(!e.more);
    assert_eq!(store.records().unwrap(), 3);
    let all = store.flows(&pb::FlowQuery::default()).unwrap();
    let mut ids: Vec<u64> = all
        .flows
        .iter()
        .map(|f| f.flow.as_ref().unwrap().flow.unwrap().flow_id)
        .collect();
    ids.sort();
    assert_eq!(ids, vec![3, 4, 5]);
    // Index entries went with the records; the flow refs too (a late event starts a new record).
    let old = store
        .flows(&pb::FlowQuery {
            app: "Old".into(),
            ..Default::default()
        })
        .unwrap();
    assert!(old.flows.is_empty());
    let id1 = nfguard_store::schema::FlowId {
        queue: 1,
        boot_id: 2,
        flow_id: 1,
    };
    assert!(store.lookup(&id1).unwrap().is_none());
    // Aggregates: buckets ending by the cutoff are gone, later ones stay.
    let top = store
        .top(
            &pb::TopQuery {
                since_unix_ms: 0,
                until_unix_ms: now,
                limit: 10,
                ..Default::default()
            },
            now,
        )
        .unwrap();
    let keys: Vec<&str> = top.entries.iter().map(|e| e.key.as_str()).collect();
    assert!(!keys.contains(&"Old"), "{keys:?}");
    assert!(keys.contains(&"New") && keys.contains(&"Edge"), "{keys:?}");
    // A second pass has nothing left to do.
    assert_eq!(store.expire(cutoff, 0, 10_000).unwrap().records, 0);
}

#[test]
fn retention_works_in_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(&dir.path().join("db"), 8 << 20).unwrap();
    write(
        &store,
        (0..25).map(|i| ev(i, 1000 + i, 2000 + i, "X")).collect(),
    );
    let mut passes = 0;
    loop {
        passes += 1;
        let e = store.expire(DAY_MS, 0, 10).unwrap();
        if !e.more {
            break;
        }
    }
    assert!(passes >= 3);
    assert_eq!(store.records().unwrap(), 0);
    assert!(
        store
            .flows(&pb::FlowQuery::default())
            .unwrap()
            .flows
            .is_empty()
    );
}

#[test]
fn newer_schema_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let db = sled::open(&path).unwrap();
        db.insert(META_SCHEMA, &99u32.to_be_bytes()).unwrap();
        db.flush().unwrap();
    }
    let err = SledStore::open(&path, 8 << 20).err().unwrap();
    assert!(
        matches!(err, StoreError::SchemaTooNew { found: 99, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("schema version 99"), "{err}");
}

#[test]
fn records_survive_reopen_and_updates_move_index_entries() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let store = SledStore::open(&path, 8 << 20).unwrap();
        write(&store, vec![ev(1, 1000, 1000, "TLS")]);
        store.sync().unwrap();
    }
    let store = SledStore::open(&path, 8 << 20).unwrap();
    // The END reclassifies the flow: the old label's index entry must go.
    write(&store, vec![ev(1, 1000, 5000, "TLS.YouTube")]);
    let tls = store
        .flows(&pb::FlowQuery {
            app: "tls".into(),
            ..Default::default()
        })
        .unwrap();
    assert!(tls.flows.is_empty(), "stale index entry: {tls:?}");
    let yt = store
        .flows(&pb::FlowQuery {
            app: "YouTube".into(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(yt.flows.len(), 1);
    assert_eq!(store.records().unwrap(), 1);
}

#[test]
fn top_from_hot_cache_matches_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let now = nfguard_store::now_ms();
    let events = vec![
        ev(1, now - 5 * MIN, now - MIN, "A"),
        ev(2, now - 2 * MIN, now, "B"),
        ev(3, now - 50 * MIN, now - 40 * MIN, "A"),
    ];
    let q = pb::TopQuery {
        since_unix_ms: now - 3_600_000,
        limit: 10,
        ..Default::default()
    };
    let hot = {
        let store = SledStore::open(&path, 8 << 20).unwrap();
        write(&store, events);
        store.sync().unwrap();
        store.top(&q, now).unwrap()
    };
    // Reopened: the cache is rebuilt from the database and must agree.
    let cold = SledStore::open(&path, 8 << 20)
        .unwrap()
        .top(&q, now)
        .unwrap();
    assert_eq!(hot, cold);
    let a = hot.entries.iter().find(|e| e.key == "A").unwrap();
    assert_eq!((a.flows, a.bytes), (2, 200));
}

#[test]
fn a_bad_cursor_is_an_error_not_the_first_page_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(&dir.path().join("db"), 8 << 20).unwrap();
    write(&store, vec![ev(1, 1000, 1000, "X")]);
    let err = store
        .flows(&pb::FlowQuery {
            after_key: vec![1, 2, 3],
            ..Default::default()
        })
        .err()
        .unwrap();
    assert!(matches!(err, StoreError::BadQuery(_)), "{err}");
}

/// The flush adds increments to the hot cache's copy of an aggregate instead of reading it back: after
/// several flushes into the same buckets (and an update of an already stored flow), the database read
/// cold after a reopen must hold the sums, for hot-held buckets and for LAN-host usage alike.
#[test]
fn aggregates_accumulate_across_flushes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let now = nfguard_store::now_ms();
    let q = pb::TotalsQuery {
        since_unix_ms: now - 3_600_000,
        until_unix_ms: 0,
    };
    {
        let store = SledStore::open(&path, 8 << 20).unwrap();
        for i in 0..5 {
            write(&store, vec![ev(10 + i, now - MIN, now - MIN, "A")]);
        }
        // Flow 10 again, 400 bytes more: only the increase counts.
        let mut more = ev(10, now - MIN, now, "A");
        more.bytes_c2s = 500;
        write(&store, vec![more]);
        store.sync().unwrap();
        let t = store.totals(&q, now).unwrap();
        assert_eq!((t.flows, t.bytes), (5, 900));
    }
    let store = SledStore::open(&path, 8 << 20).unwrap();
    let t = store.totals(&q, now).unwrap();
    assert_eq!((t.flows, t.bytes, t.records_stored), (5, 900, 5));
    let top = store
        .top(
            &pb::TopQuery {
                since_unix_ms: now - 3_600_000,
                limit: 10,
                ..Default::default()
            },
            now,
        )
        .unwrap();
    let a = top.entries.iter().find(|e| e.key == "A").unwrap();
    assert_eq!((a.flows, a.bytes), (5, 900));
    let u = store.usage(now / 1000).unwrap();
    assert_eq!(u.hosts.len(), 1);
    assert_eq!(u.hosts[0].day_bytes, 900);
}

/// Typed errors (issue #17): the reply carries the kind, so the gateway needs no message parsing.
#[test]
fn query_errors_carry_their_kind() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(&dir.path().join("db"), 8 << 20).unwrap();
    let bad = pb::StoreRequest {
        body: Some(pb::store_request::Body::Flows(pb::FlowQuery {
            after_key: vec![1, 2, 3],
            ..Default::default()
        })),
    };
    let r = nfguard_store::answer(&store, bad, 0);
    assert!(
        matches!(r.body, Some(pb::store_response::Body::Error(_))),
        "{r:?}"
    );
    assert_eq!(r.error_kind, pb::StoreErrorKind::BadQuery as i32);
    let empty = nfguard_store::answer(&store, pb::StoreRequest { body: None }, 0);
    assert_eq!(empty.error_kind, pb::StoreErrorKind::BadQuery as i32);
    let ok = nfguard_store::answer(
        &store,
        pb::StoreRequest {
            body: Some(pb::store_request::Body::Totals(pb::TotalsQuery::default())),
        },
        0,
    );
    assert!(matches!(ok.body, Some(pb::store_response::Body::Totals(_))));
    assert_eq!(ok.error_kind, pb::StoreErrorKind::Unspecified as i32);
}

/// Schema 1 and 2 databases are refused with what to do, not misread.
#[test]
fn older_schemas_are_refused_with_what_to_do() {
    for version in [1u32, 2] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        {
            let db = sled::open(&path).unwrap();
            db.insert(META_SCHEMA, &version.to_be_bytes()).unwrap();
            db.flush().unwrap();
        }
        let err = SledStore::open(&path, 8 << 20).err().unwrap();
        assert!(
            matches!(err, StoreError::SchemaOld { found, .. } if found == version),
            "{err}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains("move") && msg.contains("[store] path"),
            "{msg}"
        );
    }
}

/// An offloaded capture record (START) of the tuple `ev` gives every flow.
fn offloaded(id: u64, first: u64, last: u64) -> pb::FlowEvent {
    let mut e = ev(id, first, last, "HTTP");
    e.kind = pb::FlowEventKind::FlowEventStart as i32;
    e.offloaded = true;
    e.rule = "files".into();
    e
}

/// The conntrack worker's END of that tuple, with the kernel's totals.
fn kernel_end(id: u64, last: u64, bytes: u64) -> pb::FlowEvent {
    let mut e = ev(id, last, last, "");
    e.flow = Some(pb::FlowRef {
        queue: nfguard_store::open::CONNTRACK_QUEUE,
        boot_id: 0,
        flow_id: id,
    });
    e.kind = pb::FlowEventKind::FlowEventEnd as i32;
    e.end_reason = nfguard_store::open::KERNEL_END.into();
    e.bytes_s2c = bytes;
    e.offloaded = true;
    e
}

fn write_known(store: &SledStore, events: Vec<pb::FlowEvent>) -> Batch {
    let mut b = Batch::default();
    for e in events {
        b.add_known(e, 0, nfguard_store::StoreKnown(store))
            .unwrap()
            .unwrap();
    }
    store.write(&b).unwrap();
    b
}

fn records_of(store: &SledStore) -> Vec<pb::FlowEvent> {
    store
        .flows(&pb::FlowQuery::default())
        .unwrap()
        .flows
        .into_iter()
        .map(|r| r.flow.unwrap())
        .collect()
}

/// The set of flows a kernel END closed is stored: after a restart the capture's late END (or UPDATE)
/// of such a flow is still dropped instead of starting a second record.
#[test]
fn late_capture_events_after_a_restart_make_no_second_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let now = nfguard_store::now_ms();
    {
        let store = SledStore::open(&path, 8 << 20).unwrap();
        write_known(&store, vec![offloaded(1, now - 5 * MIN, now - 5 * MIN)]);
        let b = write_known(&store, vec![kernel_end(900, now - MIN, 10_000_000)]);
        assert_eq!(b.kernel_merged, 1);
        store.sync().unwrap();
    }
    let store = SledStore::open(&path, 8 << 20).unwrap();
    let mut late_end = offloaded(1, now - 5 * MIN, now);
    late_end.kind = pb::FlowEventKind::FlowEventEnd as i32;
    late_end.end_reason = "idle".into();
    let mut late_update = offloaded(1, now - 5 * MIN, now);
    late_update.kind = pb::FlowEventKind::FlowEventUpdate as i32;
    let b = write_known(&store, vec![late_update, late_end]);
    assert_eq!(b.late_dropped, 2);
    assert_eq!(store.records().unwrap(), 1);
    let recs = records_of(&store);
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert_eq!(recs[0].bytes_s2c, 10_000_000);
    assert_eq!(recs[0].end_reason, nfguard_store::open::KERNEL_END);
    assert_eq!(recs[0].rule, "files");
}

/// An offloaded record whose kernel END never comes is closed by the sweep once it waited the flow's
/// idle timeout (`open::kernel_end_wait_ms`, 1 h for TCP) after its last event; a younger one stays
/// open, and the capture's late events of a swept flow make no second record, also after a restart.
#[test]
fn offloaded_records_without_kernel_end_are_swept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let now = nfguard_store::now_ms();
    let hour = 60 * MIN;
    {
        let store = SledStore::open(&path, 8 << 20).unwrap();
        // 1: handed off and ended at the capture (held for the kernel) 61 min ago; 2: 59 min ago;
        // 3: not offloaded, open (the capture's own END will close it).
        let mut end1 = offloaded(1, now - 2 * hour, now - hour - MIN);
        end1.kind = pb::FlowEventKind::FlowEventEnd as i32;
        end1.end_reason = "idle".into();
        let mut plain = ev(3, now - 2 * hour, now - 2 * hour, "DNS");
        plain.kind = pb::FlowEventKind::FlowEventStart as i32;
        write_known(
            &store,
            vec![
                offloaded(1, now - 2 * hour, now - 2 * hour),
                end1,
                offloaded(2, now - 2 * hour, now - hour + MIN),
                plain,
            ],
        );
        assert_eq!(store.layout().2, 3, "all three open");
        let mut b = Batch::default();
        assert_eq!(b.sweep(now, nfguard_store::StoreKnown(&store)).unwrap(), 1);
        store.write(&b).unwrap();
        store.sync().unwrap();
        // Ended, and still open for a late kernel END (`open::SWEPT_LINGER_MS`).
        assert_eq!(store.layout().2, 3);
        let swept: Vec<_> = records_of(&store)
            .into_iter()
            .filter(|f| f.flow.unwrap().flow_id == 1)
            .collect();
        assert_eq!(swept.len(), 1);
        assert_eq!(swept[0].kind, pb::FlowEventKind::FlowEventEnd as i32);
        assert_eq!(swept[0].end_reason, nfguard_store::open::NO_KERNEL_END);
        assert_eq!(swept[0].bytes_c2s, 100);
        // Nothing new was counted: the flow's bytes are in the aggregates once.
        let t = store
            .totals(
                &pb::TotalsQuery {
                    since_unix_ms: now - 3 * hour,
                    until_unix_ms: 0,
                },
                now,
            )
            .unwrap();
        assert_eq!((t.flows, t.bytes), (3, 300));
        // A second sweep an hour later closes the other offloaded one, never the plain one.
        let mut b = Batch::default();
        assert_eq!(
            b.sweep(now + hour, nfguard_store::StoreKnown(&store))
                .unwrap(),
            1
        );
        store.write(&b).unwrap();
        store.sync().unwrap();
        assert_eq!(store.layout().2, 3);
        // Once the first one lingered its time, a sweep closes it for good.
        let mut b = Batch::default();
        let linger = nfguard_store::open::SWEPT_LINGER_MS;
        assert_eq!(
            b.sweep(now + linger, nfguard_store::StoreKnown(&store))
                .unwrap(),
            0
        );
        store.write(&b).unwrap();
        store.sync().unwrap();
        assert_eq!(store.layout().2, 2);
        assert_eq!(store.records().unwrap(), 3);
    }
    let store = SledStore::open(&path, 8 << 20).unwrap();
    let mut late = offloaded(1, now - 2 * hour, now);
    late.kind = pb::FlowEventKind::FlowEventUpdate as i32;
    let b = write_known(&store, vec![late]);
    assert_eq!(b.late_dropped, 1);
    assert_eq!(store.records().unwrap(), 3);
}

/// A kernel END that comes after the sweep closed the capture's record (the conntrack worker was
/// slow, or restarted) merges into that record, also across a restart: one record per flow, with the
/// kernel's totals, and its bytes counted once under the capture's app.
#[test]
fn a_kernel_end_after_the_sweep_merges_into_the_swept_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let now = nfguard_store::now_ms();
    let hour = 60 * MIN;
    {
        let store = SledStore::open(&path, 8 << 20).unwrap();
        write_known(&store, vec![offloaded(1, now - 2 * hour, now - 2 * hour)]);
        let mut b = Batch::default();
        assert_eq!(b.sweep(now, nfguard_store::StoreKnown(&store)).unwrap(), 1);
        store.write(&b).unwrap();
        store.sync().unwrap();
        let recs = records_of(&store);
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].end_reason, nfguard_store::open::NO_KERNEL_END);
        assert_eq!(recs[0].kind, pb::FlowEventKind::FlowEventEnd as i32);
    }
    let store = SledStore::open(&path, 8 << 20).unwrap();
    let b = write_known(&store, vec![kernel_end(900, now - MIN, 10_000_000)]);
    assert_eq!(b.kernel_merged, 1);
    assert_eq!(store.records().unwrap(), 1);
    let recs = records_of(&store);
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert_eq!(recs[0].flow.unwrap().queue, 1, "the capture's record");
    assert_eq!(recs[0].end_reason, nfguard_store::open::KERNEL_END);
    assert_eq!(recs[0].bytes_s2c, 10_000_000);
    assert_eq!(recs[0].rule, "files");
    let top = store
        .top(
            &pb::TopQuery {
                by: pb::TopBy::App as i32,
                since_unix_ms: now - 3 * hour,
                until_unix_ms: 0,
                limit: 10,
            },
            now,
        )
        .unwrap();
    assert_eq!(top.entries.len(), 1, "{top:?}");
    assert_eq!(top.entries[0].key, "HTTP");
    assert_eq!(
        (top.entries[0].flows, top.entries[0].bytes),
        (1, 10_000_100)
    );
}

/// Block files: a full block is one file beside the database; retention deletes it, and a file left
/// without summary (a crash between writing it and the batch that commits it) is removed at open.
#[test]
fn sealed_blocks_are_files_that_retention_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let blocks = path.join(nfguard_store::blockfile::BLOCKS_DIR);
    let n = nfguard_store::block::BLOCK_RECORDS as u64;
    let files = || std::fs::read_dir(&blocks).unwrap().count();
    {
        let store = SledStore::open(&path, 8 << 20).unwrap();
        let mut events: Vec<_> = (0..n).map(|i| ev(i, 1000 + i, 2000 + i, "Old")).collect();
        for e in &mut events {
            e.kind = pb::FlowEventKind::FlowEventEnd as i32;
        }
        write(&store, events);
        store.sync().unwrap();
        assert_eq!(store.layout().0, 1);
        assert_eq!(files(), 1);
        assert_eq!(
            store
                .flows(&pb::FlowQuery {
                    app: "Old".into(),
                    limit: 10,
                    ..Default::default()
                })
                .unwrap()
                .flows
                .len(),
            10
        );
    }
    std::fs::write(blocks.join("00000000000000ff.blk"), b"orphan").unwrap();
    std::fs::write(blocks.join("0000000000000100.tmp"), b"partial").unwrap();
    let store = SledStore::open(&path, 8 << 20).unwrap();
    assert_eq!(files(), 1);
    // Retention exact at its boundary inside the block: it is rewritten with the survivors.
    let e = store.expire(2000 + n / 2, 0, usize::MAX).unwrap();
    assert_eq!(e.records, n / 2);
    assert_eq!(store.records().unwrap(), n / 2);
    assert_eq!(files(), 1);
    let e = store.expire(DAY_MS, 0, usize::MAX).unwrap();
    assert_eq!(e.records, n / 2);
    assert_eq!(files(), 0);
    assert!(
        store
            .flows(&pb::FlowQuery::default())
            .unwrap()
            .flows
            .is_empty()
    );
}

/// A flush that closes nothing keeps the closed records not yet in a block (the tail): they stay
/// visible, and sealing them later loses none (the flush once dropped them from memory).
#[test]
fn a_flush_without_closed_records_keeps_the_tail() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(&dir.path().join("db"), 8 << 20).unwrap();
    let mut closed = ev(1, 1000, 2000, "Closed");
    closed.kind = pb::FlowEventKind::FlowEventEnd as i32;
    write(&store, vec![closed]);
    let mut open = ev(2, 3000, 3000, "Open");
    open.kind = pb::FlowEventKind::FlowEventStart as i32;
    write(&store, vec![open]);
    assert_eq!(records_of(&store).len(), 2);
    let n = nfguard_store::block::BLOCK_RECORDS as u64;
    write(
        &store,
        (10..10 + n)
            .map(|i| {
                let mut e = ev(i, 4000 + i, 5000 + i, "Fill");
                e.kind = pb::FlowEventKind::FlowEventEnd as i32;
                e
            })
            .collect(),
    );
    assert_eq!(store.layout().0, 1);
    let q = pb::FlowQuery {
        app: "Closed".into(),
        ..Default::default()
    };
    assert_eq!(store.flows(&q).unwrap().flows.len(), 1);
}

/// Small flushes of closed records are sealed into a short block once the tail's stored chunks
/// would pass `TAIL_MAX_BYTES` (a sled leaf of them would otherwise become a blob file).
#[test]
fn a_large_tail_is_sealed_short() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(&dir.path().join("db"), 8 << 20).unwrap();
    let mut id = 0u64;
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    for _ in 0..200 {
        let events = (0..50)
            .map(|_| {
                id += 1;
                // Incompressible host names: xorshift64.
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let mut e = ev(id, 1000 + id, 2000 + id, "X");
                e.kind = pb::FlowEventKind::FlowEventEnd as i32;
                e.classification = Some(pb::Classification {
                    host: format!("{seed:016x}{:016x}.example", seed.rotate_left(7)),
                    ..Default::default()
                });
                e
            })
            .collect();
        write(&store, events);
    }
    let (blocks, tail, _) = store.layout();
    assert!(blocks >= 1, "{blocks} blocks, {tail} tail records");
    assert!(
        (blocks as u64) * (nfguard_store::block::BLOCK_RECORDS as u64) > id,
        "blocks were sealed short: {blocks} for {id} records"
    );
    assert_eq!(store.records().unwrap(), id);
    assert_eq!(
        store
            .flows(&pb::FlowQuery {
                limit: 1000,
                ..Default::default()
            })
            .unwrap()
            .flows
            .len(),
        1000
    );
}
