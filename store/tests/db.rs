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

/// A schema-1 database is refused with what to do, not misread.
#[test]
fn schema_one_is_refused_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let db = sled::open(&path).unwrap();
        db.insert(META_SCHEMA, &1u32.to_be_bytes()).unwrap();
        db.flush().unwrap();
    }
    let err = SledStore::open(&path, 8 << 20).err().unwrap();
    assert!(
        matches!(err, StoreError::SchemaOld { found: 1, .. }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("move") && msg.contains("[store] path"),
        "{msg}"
    );
}
