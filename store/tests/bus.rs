//! The real `run()` over the real bus: a test publisher on `flows-q0.sock`, queries on `store.sock`,
//! usage on `usage.sock`, metrics on `metrics-store.sock`.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;
use nfguard_proto::bus::{Publisher, RpcClient, Subscriber};
use nfguard_proto::pb;
use nfguard_proto::process::endpoints;
use pb::FlowEventKind::{FlowEventEnd as End, FlowEventStart as Start};

struct Running {
    _dir: tempfile::TempDir,
    cfg: nfguard_proto::config::Config,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), nfguard_store::StoreError>>,
    publisher: Publisher,
    client: StoreClient,
}

async fn start() -> Running {
    let dir = tempfile::Builder::new()
        .prefix("sg")
        .tempdir_in("/tmp")
        .unwrap();
    let cfg = config(dir.path(), "100ms");
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let publisher = Publisher::bind(&cfg.endpoint(&endpoints::flows_queue(0)), 11)
        .await
        .unwrap();
    let task = tokio::spawn(nfguard_store::run(cfg.clone(), async move {
        let _ = rx.await;
    }));
    let client = RpcClient::connect(&cfg.endpoint(endpoints::STORE));
    // PUB drops messages until the SUB has joined: publish a warm-up flow until it is stored.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut n = 0;
    loop {
        n += 1;
        publisher.publish(pb::published::Body::FlowEvent(flow(
            1_000_000 + n,
            Start,
            "Warmup",
            "",
            [10, 9, 9, 9],
        )));
        tokio::time::sleep(Duration::from_millis(100)).await;
        if client.is_connected() {
            let p = flows(
                &client,
                pb::FlowQuery {
                    app: "Warmup".into(),
                    ..Default::default()
                },
            )
            .await;
            if !p.flows.is_empty() {
                break;
            }
        }
        assert!(Instant::now() < deadline, "store never received a flow");
    }
    Running {
        _dir: dir,
        cfg,
        stop: Some(stop),
        task,
        publisher,
        client,
    }
}

impl Running {
    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap().unwrap();
    }
}

const APPS: [(&str, &str); 3] = [
    ("TLS.YouTube", "www.youtube.com"),
    ("QUIC.Google", "www.google.com"),
    ("DNS", "example.org"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_query_aggregates_usage_round_trip() {
    let r = start().await;
    let mut usage_sub = Subscriber::connect(&[r.cfg.endpoint(endpoints::USAGE)]);
    const N: u64 = 300;
    for i in 0..N {
        let (label, host) = APPS[(i % 3) as usize];
        let client = [10, 0, 0, (i % 2) as u8 + 1];
        let mut s = flow(i, Start, label, host, client);
        s.rule = if i % 5 == 0 {
            "block-dns".into()
        } else {
            String::new()
        };
        s.verdict = if i % 5 == 0 {
            "drop".into()
        } else {
            "accept".into()
        };
        s.bytes_c2s = 100;
        s.packets_c2s = 1;
        let mut e = s.clone();
        e.kind = End as i32;
        e.bytes_c2s = 1000 + i;
        e.bytes_s2c = 5000;
        e.packets_c2s = 3;
        e.packets_s2c = 4;
        e.end_reason = "idle".into();
        e.last_seen_unix_ms += 10;
        r.publisher.publish(pb::published::Body::FlowEvent(s));
        r.publisher.publish(pb::published::Body::FlowEvent(e));
        if i % 50 == 0 {
            // Stay under the subscriber's bounded queue: overflow would be counted, not stored.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // Wait until every END has been written.
    let deadline = Instant::now() + Duration::from_secs(20);
    let records = loop {
        let all = all_flows(
            &r.client,
            pb::FlowQuery {
                limit: 37,
                ..Default::default()
            },
        )
        .await;
        let ended = all
            .iter()
            .filter(|f| f.flow.as_ref().unwrap().end_reason == "idle")
            .count();
        if ended as u64 == N {
            break all;
        }
        assert!(Instant::now() < deadline, "only {ended} of {N} flows ended");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // One record per flow, newest first, no duplicates across pages.
    let test_records: Vec<&pb::FlowEvent> = records
        .iter()
        .map(|f| f.flow.as_ref().unwrap())
        .filter(|f| f.label != "Warmup")
        .collect();
    assert_eq!(test_records.len() as u64, N);
    let keys: Vec<&Vec<u8>> = records.iter().map(|f| &f.key).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    sorted.reverse();
    sorted.dedup();
    assert_eq!(
        keys, sorted,
        "pages must be newest first without duplicates"
    );
    for f in &test_records {
        assert_eq!(bytes(f), 1000 + f.flow.as_ref().unwrap().flow_id + 5000);
        assert_eq!(f.packets_c2s + f.packets_s2c, 7);
    }

    // Filters use the index and return exactly the matching records.
    let yt = all_flows(
        &r.client,
        pb::FlowQuery {
            app: "youtube".into(),
            limit: 7,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(yt.len() as u64, N / 3);
    assert!(
        yt.iter()
            .all(|f| f.flow.as_ref().unwrap().label == "TLS.YouTube")
    );
    let label = all_flows(
        &r.client,
        pb::FlowQuery {
            app: "QUIC.Google".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(label.len() as u64, N / 3);
    let host = all_flows(
        &r.client,
        pb::FlowQuery {
            host: "Example.org".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(host.len() as u64, N / 3);
    let dropped = all_flows(
        &r.client,
        pb::FlowQuery {
            verdict: "drop".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(dropped.len() as u64, N / 5);
    let rule_and_app = all_flows(
        &r.client,
        pb::FlowQuery {
            rule: "block-dns".into(),
            app: "DNS".into(),
            ..Default::default()
        },
    )
    .await;
    let expect = (0..N).filter(|i| i % 5 == 0 && i % 3 == 2).count();
    assert_eq!(rule_and_app.len(), expect);
    let none = all_flows(
        &r.client,
        pb::FlowQuery {
            app: "BitTorrent".into(),
            ..Default::default()
        },
    )
    .await;
    assert!(none.is_empty());
    let future = all_flows(
        &r.client,
        pb::FlowQuery {
            since_unix_ms: now_ms() + 60_000,
            ..Default::default()
        },
    )
    .await;
    assert!(future.is_empty());

    // Aggregates equal the sum of the records.
    let all: Vec<&pb::FlowEvent> = records.iter().map(|f| f.flow.as_ref().unwrap()).collect();
    let since = now_ms() - 3_600_000;
    let top = match call(
        &r.client,
        pb::store_request::Body::Top(pb::TopQuery {
            by: pb::TopBy::App as i32,
            since_unix_ms: since,
            limit: 50,
            ..Default::default()
        }),
    )
    .await
    {
        pb::store_response::Body::Top(t) => t,
        o => panic!("{o:?}"),
    };
    let mut by_label: HashMap<String, (u64, u64, u64)> = HashMap::new();
    for f in &all {
        let e = by_label.entry(f.label.clone()).or_default();
        e.0 += 1;
        e.1 += bytes(f);
        e.2 += f.packets_c2s + f.packets_s2c;
    }
    assert_eq!(top.entries.len(), by_label.len());
    for t in &top.entries {
        assert_eq!(by_label[&t.key], (t.flows, t.bytes, t.packets), "{}", t.key);
    }
    assert!(top.entries.windows(2).all(|w| w[0].bytes >= w[1].bytes));
    let totals = match call(
        &r.client,
        pb::store_request::Body::Totals(pb::TotalsQuery {
            since_unix_ms: since,
            ..Default::default()
        }),
    )
    .await
    {
        pb::store_response::Body::Totals(t) => t,
        o => panic!("{o:?}"),
    };
    assert_eq!(totals.bytes, all.iter().map(|f| bytes(f)).sum::<u64>());
    assert_eq!(totals.flows, all.len() as u64);
    assert_eq!(totals.records_stored, all.len() as u64);
    let rules = match call(
        &r.client,
        pb::store_request::Body::Top(pb::TopQuery {
            by: pb::TopBy::Rule as i32,
            since_unix_ms: since,
            ..Default::default()
        }),
    )
    .await
    {
        pb::store_response::Body::Top(t) => t,
        o => panic!("{o:?}"),
    };
    let block = rules.entries.iter().find(|e| e.key == "block-dns").unwrap();
    assert_eq!(block.flows, N / 5);

    // Usage equals the sum of each LAN host's bytes.
    let want: HashMap<Vec<u8>, u64> = all.iter().fold(HashMap::new(), |mut m, f| {
        *m.entry(f.tuple.as_ref().unwrap().client_ip.clone())
            .or_default() += bytes(f);
        m
    });
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let m = tokio::time::timeout(Duration::from_secs(10), usage_sub.recv())
            .await
            .unwrap()
            .unwrap();
        let Some(pb::published::Body::Usage(u)) = m.body else {
            continue;
        };
        let got: HashMap<Vec<u8>, u64> = u
            .hosts
            .iter()
            .map(|h| (h.ip.clone(), h.day_bytes))
            .collect();
        if got == want {
            assert!(
                u.hosts
                    .iter()
                    .all(|h| h.week_bytes >= h.day_bytes && h.month_bytes >= h.day_bytes)
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "usage {got:?} never reached {want:?}"
        );
    }
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_are_counted_and_dropped() {
    let r = start().await;
    let mut metrics = Subscriber::connect(&[r.cfg.endpoint(&endpoints::metrics("store"))]);
    let mut no_ref = flow(5, Start, "TLS", "a.example", [10, 0, 0, 1]);
    no_ref.flow = None;
    let mut bad_tuple = flow(6, Start, "TLS", "a.example", [10, 0, 0, 1]);
    bad_tuple.tuple.as_mut().unwrap().client_ip = vec![1, 2, 3];
    r.publisher.publish(pb::published::Body::FlowEvent(no_ref));
    r.publisher
        .publish(pb::published::Body::FlowEvent(bad_tuple));
    r.publisher
        .publish(pb::published::Body::Usage(pb::UsageSnapshot::default()));
    let good = flow(7, Start, "TLS", "good.example", [10, 0, 0, 1]);
    r.publisher.publish(pb::published::Body::FlowEvent(good));
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let m = tokio::time::timeout(Duration::from_secs(5), metrics.recv())
            .await
            .unwrap()
            .unwrap();
        let Some(pb::published::Body::Metrics(s)) = m.body else {
            continue;
        };
        let get = |reason: &str| {
            s.metrics
                .iter()
                .find(|m| {
                    m.name == "nfguard_store_malformed_total"
                        && m.labels.iter().any(|l| l.value == reason)
                })
                .map(|m| m.value)
        };
        if get("no_flow_ref") == Some(1.0)
            && get("bad_tuple") == Some(1.0)
            && get("not_a_flow_event") == Some(1.0)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "malformed counters never reached 1: {:?}",
            s.metrics
                .iter()
                .filter(|m| m.name.contains("malformed"))
                .collect::<Vec<_>>()
        );
    }
    // Only the good event was stored; the malformed ones changed nothing.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let p = flows(
            &r.client,
            pb::FlowQuery {
                app: "TLS".into(),
                ..Default::default()
            },
        )
        .await;
        if !p.flows.is_empty() {
            assert_eq!(p.flows.len(), 1);
            assert_eq!(
                p.flows[0]
                    .flow
                    .as_ref()
                    .unwrap()
                    .classification
                    .as_ref()
                    .unwrap()
                    .host,
                "good.example"
            );
            break;
        }
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    r.stop().await;
}

/// The store's periodic sweep closes an offloaded flow whose kernel END never comes (here: no
/// conntrack worker at all) once it has waited the flow's idle timeout, and counts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweep_closes_offloaded_flows_without_kernel_end() {
    let r = start().await;
    let mut metrics = Subscriber::connect(&[r.cfg.endpoint(&endpoints::metrics("store"))]);
    // Handed off to the kernel two hours ago (TCP waits 1 h), and one handed off just now.
    let two_hours_ago = now_ms() - 2 * 3_600_000;
    let mut old = flow(21, Start, "TLS.Old", "old.example", [10, 0, 0, 1]);
    old.offloaded = true;
    old.first_seen_unix_ms = two_hours_ago;
    old.last_seen_unix_ms = two_hours_ago;
    let mut young = flow(22, Start, "TLS.Young", "young.example", [10, 0, 0, 1]);
    young.offloaded = true;
    r.publisher.publish(pb::published::Body::FlowEvent(old));
    r.publisher.publish(pb::published::Body::FlowEvent(young));
    let deadline = Instant::now() + Duration::from_secs(30);
    let swept = loop {
        let m = tokio::time::timeout(Duration::from_secs(5), metrics.recv())
            .await
            .unwrap()
            .unwrap();
        let Some(pb::published::Body::Metrics(s)) = m.body else {
            continue;
        };
        let v = s
            .metrics
            .iter()
            .find(|m| m.name == "nfguard_store_no_kernel_end_total")
            .map_or(0.0, |m| m.value);
        if v >= 1.0 {
            break v;
        }
        assert!(Instant::now() < deadline, "the sweep never closed the flow");
    };
    assert_eq!(swept, 1.0);
    let one = |app: &str| {
        let q = pb::FlowQuery {
            app: app.into(),
            ..Default::default()
        };
        let c = &r.client;
        async move {
            let p = flows(c, q).await;
            assert_eq!(p.flows.len(), 1, "{p:?}");
            p.flows[0].flow.clone().unwrap()
        }
    };
    let old = one("TLS.Old").await;
    assert_eq!(old.kind, End as i32);
    assert_eq!(old.end_reason, nfguard_store::open::NO_KERNEL_END);
    let young = one("TLS.Young").await;
    assert_eq!(young.kind, Start as i32);
    r.stop().await;
}
