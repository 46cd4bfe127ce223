//! The real classifier process in-process on a temporary runtime directory, over the real bus: a
//! recorded ClientHello is classified DONE as TLS with its SNI, a request past its deadline is
//! dropped and counted (no reply), `classifier.max_dpi_packets` from the config ends DPI with
//! GAVE_UP, and the metrics heartbeat carries the counters. Real time with generous bounds.

#![cfg(feature = "process")]
// Setup failures in a test may unwrap: the panic is the test failing.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use nfguard_classifier::process::run;
use nfguard_proto::bus::{BusError, RpcClient, Subscriber};
use nfguard_proto::config::Config;
use nfguard_proto::pb;
use nfguard_proto::process::endpoints;
use nfguard_proto::types::FlowKey;

const CURL_HELLO: &[u8] = include_bytes!("../testdata/tls_client_hello_curl.bin");
const CALL_TIMEOUT: Duration = Duration::from_secs(2);
const PATIENCE: Duration = Duration::from_secs(10);

type Client = RpcClient<pb::ClassifyRequest, pb::ClassifyReply>;

fn request(
    flow_id: u64,
    server_port: u16,
    payload: &[u8],
    packet_index: u32,
) -> pb::ClassifyRequest {
    let key = FlowKey {
        client: "192.168.1.10:40000".parse().unwrap(),
        server: format!("203.0.113.5:{server_port}").parse().unwrap(),
        l4: 6,
    };
    pb::ClassifyRequest {
        flow: Some(pb::FlowRef {
            queue: 1,
            boot_id: 7,
            flow_id,
        }),
        tuple: Some(key.to_tuple()),
        from_client: true,
        time_us: 1_000,
        // ACK | PSH
        tcp_flags: 0x18,
        tcp_seq: 1000,
        payload: payload.to_vec(),
        packet_index,
    }
}

/// The first reply, retried while the client connects.
async fn first_reply(c: &Client, req: &pb::ClassifyRequest) -> pb::ClassifyReply {
    let start = Instant::now();
    loop {
        match c.call(req, CALL_TIMEOUT).await {
            Ok(r) => return r,
            Err(e) if start.elapsed() > PATIENCE => panic!("classifier never answered: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// The value of a metric in the next heartbeat where it has this label value and `accept` holds.
async fn metric(
    sub: &mut Subscriber,
    name: &str,
    label: Option<(&str, &str)>,
    accept: impl Fn(f64) -> bool,
) -> f64 {
    let until = Instant::now() + PATIENCE;
    let mut last = None;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        let Ok(Ok(m)) = tokio::time::timeout(left, sub.recv()).await else {
            panic!("no heartbeat with {name} {label:?} (last value {last:?})");
        };
        let Some(pb::published::Body::Metrics(s)) = m.body else {
            continue;
        };
        assert_eq!(s.part, "classifier");
        if let Some(v) = s.metrics.iter().find(|x| {
            x.name == name
                && label
                    .is_none_or(|(k, v)| x.labels.iter().any(|kv| kv.name == k && kv.value == v))
        }) {
            if accept(v.value) {
                return v.value;
            }
            last = Some(v.value);
        }
    }
}

/// The default config with its runtime directory under `dir`.
fn config(dir: &std::path::Path) -> Config {
    Config {
        runtime_dir: dir.join("run"),
        ..Config::default()
    }
}

fn app_name(c: &pb::Classification) -> (String, String) {
    let name = |id: u32| {
        u16::try_from(id)
            .ok()
            .and_then(|i| nfguard_proto::protocols::by_id(nfguard_proto::AppId(i)))
            .map_or_else(|| format!("#{id}"), |p| p.name.to_string())
    };
    (name(c.master_id), name(c.app_id))
}

#[actix_rt::test]
async fn classifies_drops_expired_gives_up_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.classifier.max_dpi_packets = 3;

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let process = actix_rt::spawn(run(cfg.clone(), async move {
        let _ = stop_rx.await;
    }));

    let client = Client::connect(&cfg.endpoint(endpoints::CLASSIFIER));
    let mut metrics = Subscriber::connect(&[cfg.endpoint(&endpoints::metrics("classifier"))]);

    // A recorded curl ClientHello: DONE, TLS, with its SNI.
    let r = first_reply(&client, &request(1, 443, CURL_HELLO, 4)).await;
    assert_eq!(r.state, pb::ClassifyState::Done as i32, "{r:?}");
    assert_eq!(
        r.flow.as_ref().map(|f| (f.queue, f.boot_id, f.flow_id)),
        Some((1, 7, 1))
    );
    let c = r.classification.expect("a classification");
    assert_eq!(app_name(&c).0, "TLS");
    assert_eq!(c.host, "x.test");
    assert_eq!(c.confidence, pb::Confidence::Dpi as i32);

    // A request whose deadline passes before the classifier reads it: no reply, counted.
    let late = client
        .call(&request(2, 443, CURL_HELLO, 4), Duration::from_micros(1))
        .await;
    assert!(matches!(late, Err(BusError::Timeout)), "{late:?}");
    let expired = metric(
        &mut metrics,
        "nfguard_classify_dropped_total",
        Some(("reason", "expired")),
        |v| v >= 1.0,
    )
    .await;
    assert_eq!(expired, 1.0);

    // Bytes no dissector knows, on a port with no registered protocol: NEED_MORE until the
    // configured max_dpi_packets (3, not nDPI's default 32), then GAVE_UP as Unknown.
    let junk = [
        0x5au8, 0x17, 0x99, 0x01, 0xfe, 0x42, 0x00, 0x13, 0x77, 0x88, 0x31, 0xc4,
    ];
    for i in 1..=3u32 {
        let mut req = request(3, 47_123, &junk, i);
        req.tcp_seq = 1000 + (i - 1) * junk.len() as u32;
        let r = client.call(&req, CALL_TIMEOUT).await.expect("a reply");
        let want = if i < 3 {
            pb::ClassifyState::NeedMore
        } else {
            pb::ClassifyState::GaveUp
        };
        assert_eq!(r.state, want as i32, "packet {i}: {r:?}");
        if i == 3 {
            let c = r.classification.expect("a classification");
            assert_eq!(app_name(&c), ("Unknown".to_string(), "Unknown".to_string()));
        }
    }
    // The limit counts payload packets the engine inspected, not the capture's packet index
    // (handshake packets included): a first payload packet at index 3 is still NEED_MORE, and
    // the third payload packet of the flow ends DPI with GAVE_UP.
    for (n, index) in [(1u32, 3u32), (2, 4), (3, 5)] {
        let mut req = request(4, 47_124, &junk, index);
        req.tcp_seq = 1000 + (n - 1) * junk.len() as u32;
        let r = client.call(&req, CALL_TIMEOUT).await.expect("a reply");
        let want = if n < 3 {
            pb::ClassifyState::NeedMore
        } else {
            pb::ClassifyState::GaveUp
        };
        assert_eq!(
            r.state, want as i32,
            "payload packet {n} (index {index}): {r:?}"
        );
    }

    // The heartbeat counts the classified flows by label and the replies by state.
    let tls = metric(
        &mut metrics,
        "nfguard_flows_total",
        Some(("app", "TLS")),
        |v| v >= 1.0,
    )
    .await;
    assert_eq!(tls, 1.0);
    let unknown = metric(
        &mut metrics,
        "nfguard_flows_total",
        Some(("app", "Unknown")),
        |v| v >= 2.0,
    )
    .await;
    assert_eq!(unknown, 2.0);
    let gave_up = metric(
        &mut metrics,
        "nfguard_classify_replies_total",
        Some(("state", "gave_up")),
        |v| v >= 2.0,
    )
    .await;
    assert_eq!(gave_up, 2.0);

    stop_tx.send(()).unwrap();
    let counters = tokio::time::timeout(PATIENCE, process)
        .await
        .expect("run returns after shutdown")
        .expect("run task")
        .expect("run succeeds");
    use std::sync::atomic::Ordering::Relaxed;
    assert_eq!(counters.expired.load(Relaxed), 1);
    assert_eq!(counters.done.load(Relaxed), 1);
    // Two NEED_MORE packets of flow 3 and two of flow 4.
    assert_eq!(counters.need_more.load(Relaxed), 4);
}

#[actix_rt::test]
async fn second_instance_refuses_the_live_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let first = actix_rt::spawn(run(cfg.clone(), async move {
        let _ = stop_rx.await;
    }));
    // Wait until the first one answers, then a second run must fail to bind.
    let client = Client::connect(&cfg.endpoint(endpoints::CLASSIFIER));
    let _ = first_reply(&client, &request(1, 443, CURL_HELLO, 1)).await;
    let second = run(cfg.clone(), std::future::ready(())).await;
    assert!(
        second.is_err(),
        "a second classifier bound the same endpoint"
    );
    stop_tx.send(()).unwrap();
    let _ = tokio::time::timeout(PATIENCE, first).await;
}
