//! The real policy process in-process on a temporary runtime directory: decisions over the bus,
//! GetPolicy/PutPolicy, PolicyChanged events, reload on file change, bad files kept out, metrics.
//! Real time with generous bounds (real sockets: no paused clock).

// Tests fail loudly on purpose: unwrap on test fixtures is the assertion.
#![allow(clippy::unwrap_used, clippy::field_reassign_with_default)]
#![cfg(feature = "process")]

use std::path::Path;
use std::time::{Duration, Instant};

use nfguard_policy::service::run;
use nfguard_proto::bus::{RpcClient, Subscriber};
use nfguard_proto::bus_secret::BusSecret;
use nfguard_proto::config::Config;
use nfguard_proto::pb;
use nfguard_proto::process::endpoints;
use nfguard_proto::types::FlowKey;

const CALL_TIMEOUT: Duration = Duration::from_secs(2);
const PATIENCE: Duration = Duration::from_secs(10);

const FIRST: &str = "default = \"accept\"\n\n[[rule]]\nname = \"no-telnet\"\nport = [23]\naction = \"drop\"\nlog = true\n";
const BROKEN: &str = "default = \"accept\"\n\n[[rule]]\nname = \"no-p2p\"\napp = [\"BitTorent\"]\naction = \"drop\"\n";
const SECOND: &str = "default = \"accept\"\n\n[[rule]]\nname = \"no-http\"\napp = [\"HTTP\"]\naction = \"reject\"\n\n[[rule]]\nname = \"no-telnet\"\nport = [23]\naction = \"drop\"\n";
const THIRD: &str =
    "default = \"accept\"\n\n[[rule]]\nname = \"telnet-ok\"\nport = [23]\naction = \"accept\"\n";

type Client = RpcClient<pb::PolicyRequest, pb::PolicyResponse>;

fn decide_req(server_port: u16, http: bool) -> pb::PolicyRequest {
    let key = FlowKey {
        client: "192.168.1.10:40000".parse().unwrap(),
        server: format!("203.0.113.5:{server_port}").parse().unwrap(),
        l4: 6,
    };
    pb::PolicyRequest {
        body: Some(pb::policy_request::Body::Decide(pb::DecideRequest {
            flow: Some(pb::FlowRef {
                queue: 0,
                boot_id: 7,
                flow_id: u64::from(server_port),
            }),
            tuple: Some(key.to_tuple()),
            in_iface: "lan0".into(),
            out_iface: "wan0".into(),
            classification: http.then(|| pb::Classification {
                master_id: 7,
                app_id: 7,
                host: "www.example.test".into(),
                category: "Web".into(),
                ..Default::default()
            }),
            time_unix_s: 0,
        })),
    }
}

async fn decide(c: &Client, port: u16, http: bool) -> pb::Decision {
    match c.call(&decide_req(port, http), CALL_TIMEOUT).await {
        Ok(pb::PolicyResponse {
            body: Some(pb::policy_response::Body::Decision(d)),
        }) => d,
        other => panic!("unexpected answer {other:?}"),
    }
}

async fn policy_call(c: &Client, body: pb::policy_request::Body) -> pb::PolicyReply {
    let req = pb::PolicyRequest { body: Some(body) };
    match c.call(&req, CALL_TIMEOUT).await {
        Ok(pb::PolicyResponse {
            body: Some(pb::policy_response::Body::Policy(p)),
        }) => p,
        other => panic!("unexpected answer {other:?}"),
    }
}

/// The first decision, retried while the client connects.
async fn first_decision(c: &Client) -> pb::Decision {
    let start = Instant::now();
    loop {
        match c.call(&decide_req(23, false), CALL_TIMEOUT).await {
            Ok(pb::PolicyResponse {
                body: Some(pb::policy_response::Body::Decision(d)),
            }) => return d,
            other if start.elapsed() > PATIENCE => panic!("policy never answered: {other:?}"),
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Waits for `PolicyChanged { epoch }` on the subscriber.
async fn wait_epoch(sub: &mut Subscriber, epoch: u64) {
    let until = Instant::now() + PATIENCE;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, sub.recv()).await {
            Ok(Ok(pb::Published {
                body: Some(pb::published::Body::PolicyChanged(p)),
                ..
            })) if p.epoch == epoch => return,
            Ok(_) => {}
            Err(_) => panic!("no PolicyChanged with epoch {epoch}"),
        }
    }
}

/// The value of a metric in the next heartbeat that has it with this label value.
async fn metric(sub: &mut Subscriber, name: &str, label: Option<&str>) -> f64 {
    let until = Instant::now() + PATIENCE;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        let Ok(Ok(m)) = tokio::time::timeout(left, sub.recv()).await else {
            panic!("no heartbeat with {name}");
        };
        let Some(pb::published::Body::Metrics(s)) = m.body else {
            continue;
        };
        if let Some(v) = s.metrics.iter().find(|x| {
            x.name == name && label.is_none_or(|l| x.labels.iter().any(|kv| kv.value == l))
        }) {
            return v.value;
        }
    }
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[tokio::test]
async fn decisions_put_policy_events_and_reload() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("policy.toml");
    write(&rules, FIRST);
    let mut cfg = Config::default();
    cfg.runtime_dir = dir.path().join("run");
    cfg.policy.rules = rules.clone();
    cfg.policy.decision_log = Some(dir.path().join("decisions.jsonl"));
    let secret = BusSecret::generate();
    cfg.bus_secret = Some(secret.clone());

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let process = tokio::spawn(run(cfg.clone(), async move {
        let _ = stop_rx.await;
    }));

    let client = Client::connect(&cfg.endpoint(endpoints::POLICY));
    let mut events = Subscriber::connect(&[cfg.endpoint(endpoints::POLICY_EVENTS)]);
    let mut metrics = Subscriber::connect(&[cfg.endpoint(&endpoints::metrics("policy"))]);

    // A port-23 flow is dropped on its first packet (tuple only), final and offloadable.
    let d = first_decision(&client).await;
    assert_eq!(d.action, pb::Action::Drop as i32);
    assert_eq!(
        (d.verdict_bits, d.offload, d.rule.as_str()),
        (2, true, "no-telnet")
    );
    assert_eq!(
        d.flow.map(|f| f.flow_id),
        Some(23),
        "the flow ref comes back"
    );
    let epoch = d.epoch;
    assert!(epoch > 0);
    // An HTTP flow is accepted by default.
    let d = decide(&client, 80, true).await;
    assert_eq!((d.action, d.rule.as_str()), (pb::Action::Accept as i32, ""));

    let got = policy_call(&client, pb::policy_request::Body::Get(pb::GetPolicy {})).await;
    assert_eq!((got.ok, got.toml.as_str(), got.epoch), (true, FIRST, epoch));

    // A broken policy is refused with its error; the old one keeps answering.
    let put_with = |toml: &str, auth: &[u8]| {
        pb::policy_request::Body::Put(pb::PutPolicy {
            toml: toml.into(),
            auth: auth.to_vec(),
        })
    };
    let put = |toml: &str| put_with(toml, secret.as_bytes());

    // Without the bus secret, or with a wrong one, nothing changes and the refusal is counted.
    let other = BusSecret::generate();
    for auth in [&b""[..], other.as_bytes()] {
        let refused = policy_call(&client, put_with(THIRD, auth)).await;
        assert!(!refused.ok);
        assert!(
            refused.error.contains("needs the bus secret"),
            "{}",
            refused.error
        );
        assert_eq!(refused.epoch, epoch);
    }
    assert_eq!(std::fs::read_to_string(&rules).unwrap(), FIRST);
    // A heartbeat already queued may predate the refusals: wait for one that counts them.
    let (mut refused, start) = (0.0, Instant::now());
    while refused < 2.0 {
        assert!(start.elapsed() < PATIENCE, "refusals never counted");
        refused = metric(&mut metrics, "nfguard_policy_bus_refused_total", None).await;
    }
    assert_eq!(refused, 2.0);
    let bad = policy_call(&client, put(BROKEN)).await;
    assert!(!bad.ok);
    assert_eq!(
        bad.error,
        "policy.toml:5: rule[0].app: unknown application \"BitTorent\" (did you mean \"BitTorrent\"?)"
    );
    assert_eq!(bad.epoch, epoch);
    assert_eq!(std::fs::read_to_string(&rules).unwrap(), FIRST);
    assert_eq!(
        decide(&client, 23, false).await.action,
        pb::Action::Drop as i32
    );

    // A good one is written, loaded and announced with the next epoch.
    let good = policy_call(&client, put(SECOND)).await;
    assert!(good.ok, "{}", good.error);
    assert_eq!(good.epoch, epoch + 1);
    wait_epoch(&mut events, epoch + 1).await;
    assert_eq!(std::fs::read_to_string(&rules).unwrap(), SECOND);
    let d = decide(&client, 80, true).await;
    assert_eq!(
        (d.action, d.rule.as_str(), d.epoch),
        (pb::Action::Reject as i32, "no-http", epoch + 1)
    );
    // Now an app rule comes first: a tuple-only request must wait for DPI.
    assert_eq!(
        decide(&client, 23, false).await.action,
        pb::Action::NeedsDpi as i32
    );

    // Editing the file on disk changes the next decisions.
    write(&rules, THIRD);
    wait_epoch(&mut events, epoch + 2).await;
    let d = decide(&client, 23, false).await;
    assert_eq!(
        (d.action, d.rule.as_str(), d.epoch),
        (pb::Action::Accept as i32, "telnet-ok", epoch + 2)
    );

    // A bad file on disk is counted and ignored.
    write(&rules, BROKEN);
    let start = Instant::now();
    while metric(&mut metrics, "nfguard_policy_reload_errors_total", None).await < 1.0 {
        assert!(
            start.elapsed() < PATIENCE,
            "the bad file was never reported"
        );
    }
    let d = decide(&client, 23, false).await;
    assert_eq!((d.rule.as_str(), d.epoch), ("telnet-ok", epoch + 2));
    assert!(metric(&mut metrics, "nfguard_rule_hits_total", Some("no-telnet")).await >= 2.0);
    assert_eq!(
        metric(&mut metrics, "nfguard_policy_epoch", None).await,
        (epoch + 2) as f64
    );

    // The first rule had log = true: its decisions are in the decision log.
    let log = std::fs::read_to_string(dir.path().join("decisions.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    assert_eq!(
        (first["rule"].as_str(), first["verdict"].as_str()),
        (Some("no-telnet"), Some("drop"))
    );
    assert_eq!(first["dst"], "203.0.113.5:23");

    stop_tx.send(()).unwrap();
    let stopped = tokio::time::timeout(PATIENCE, process).await;
    assert!(matches!(stopped, Ok(Ok(Ok(())))), "{stopped:?}");
}

#[tokio::test]
async fn a_bad_file_at_start_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("policy.toml");
    write(&rules, BROKEN);
    let mut cfg = Config::default();
    cfg.runtime_dir = dir.path().join("run");
    cfg.policy.rules = rules;
    let e = run(cfg, std::future::pending()).await.unwrap_err();
    assert_eq!(e.exit_code(), 64);
    assert!(e.to_string().ends_with("policy.toml:5: rule[0].app: unknown application \"BitTorent\" (did you mean \"BitTorrent\"?)"), "{e}");
}

#[tokio::test]
async fn usage_snapshots_drive_quotas_and_epochs() {
    use nfguard_proto::bus::{Publisher, new_boot_id};
    const QUOTA: &str = "default = \"accept\"\n\n[[rule]]\nname = \"guest-quota\"\nsrc = [\"192.168.50.0/24\"]\nquota = \"1MB/day\"\nover_quota = \"drop\"\naction = \"accept\"\n";
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("policy.toml");
    write(&rules, QUOTA);
    let mut cfg = Config::default();
    cfg.runtime_dir = dir.path().join("run");
    cfg.policy.rules = rules;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let process = tokio::spawn(run(cfg.clone(), async move {
        let _ = stop_rx.await;
    }));
    // The store's side of usage.sock.
    let usage = Publisher::bind(&cfg.endpoint(endpoints::USAGE), new_boot_id())
        .await
        .unwrap();
    let client = Client::connect(&cfg.endpoint(endpoints::POLICY));
    let mut events = Subscriber::connect(&[cfg.endpoint(endpoints::POLICY_EVENTS)]);

    let guest = FlowKey {
        client: "192.168.50.9:40000".parse().unwrap(),
        server: "203.0.113.5:443".parse().unwrap(),
        l4: 6,
    };
    let ask = |key: FlowKey| pb::PolicyRequest {
        body: Some(pb::policy_request::Body::Decide(pb::DecideRequest {
            tuple: Some(key.to_tuple()),
            ..Default::default()
        })),
    };
    let answer = |r: Result<pb::PolicyResponse, _>| match r {
        Ok(pb::PolicyResponse {
            body: Some(pb::policy_response::Body::Decision(d)),
        }) => Some(d),
        _ => None,
    };
    let start = Instant::now();
    let before = loop {
        if let Some(d) = answer(client.call(&ask(guest), CALL_TIMEOUT).await) {
            break d;
        }
        assert!(start.elapsed() < PATIENCE, "policy never answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        (before.action, before.rule.as_str()),
        (pb::Action::Accept as i32, "guest-quota")
    );

    // The guest crosses 1 MB today: a new epoch, and its flows are dropped from now on.
    let snapshot = pb::UsageSnapshot {
        time_unix_s: 0,
        hosts: vec![pb::HostUsage {
            ip: vec![192, 168, 50, 9],
            day_bytes: 1_500_000,
            week_bytes: 1_500_000,
            month_bytes: 1_500_000,
        }],
    };
    let start = Instant::now();
    loop {
        usage.publish(pb::published::Body::Usage(snapshot.clone()));
        let got = tokio::time::timeout(Duration::from_millis(200), events.recv()).await;
        if let Ok(Ok(pb::Published {
            body: Some(pb::published::Body::PolicyChanged(p)),
            ..
        })) = got
            && p.epoch == before.epoch + 1
        {
            break;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "no new epoch after the usage snapshot"
        );
    }
    let d = answer(client.call(&ask(guest), CALL_TIMEOUT).await).unwrap();
    assert_eq!(
        (d.action, d.verdict_bits, d.epoch),
        (pb::Action::Drop as i32, 2, before.epoch + 1)
    );
    // Another guest host is not over its quota.
    let mut other = guest;
    other.client = "192.168.50.10:40000".parse().unwrap();
    let d = answer(client.call(&ask(other), CALL_TIMEOUT).await).unwrap();
    assert_eq!(d.action, pb::Action::Accept as i32);

    stop_tx.send(()).unwrap();
    assert!(matches!(
        tokio::time::timeout(PATIENCE, process).await,
        Ok(Ok(Ok(())))
    ));
}

/// Issue #19: a host list is reloaded when it changes on disk (same rule text, new epoch), a broken
/// list keeps the working one, and `PutPolicy` reads lists beside the rule file and refuses a
/// missing one with its name.
#[tokio::test]
async fn host_lists_reload_and_a_broken_list_is_kept_out() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("policy.toml");
    std::fs::create_dir(dir.path().join("lists")).unwrap();
    let list = dir.path().join("lists/ads.txt");
    write(&list, "||ads.test^\n");
    let text = "default = \"accept\"\n\n[[rule]]\nname = \"ads\"\nhost_list = \"lists/ads.txt\"\naction = \"reject\"\n";
    write(&rules, text);
    let mut cfg = Config::default();
    cfg.runtime_dir = dir.path().join("run");
    cfg.policy.rules = rules.clone();
    let secret = BusSecret::generate();
    cfg.bus_secret = Some(secret.clone());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let process = tokio::spawn(run(cfg.clone(), async move {
        let _ = stop_rx.await;
    }));
    let client = Client::connect(&cfg.endpoint(endpoints::POLICY));
    let mut events = Subscriber::connect(&[cfg.endpoint(endpoints::POLICY_EVENTS)]);
    let mut metrics = Subscriber::connect(&[cfg.endpoint(&endpoints::metrics("policy"))]);

    let epoch = first_decision(&client).await.epoch;
    // The request's host is www.example.test: not listed yet.
    let d = decide(&client, 80, true).await;
    assert_eq!((d.action, d.rule.as_str()), (pb::Action::Accept as i32, ""));

    write(&list, "||ads.test^\n0.0.0.0 www.example.test\n");
    wait_epoch(&mut events, epoch + 1).await;
    let d = decide(&client, 80, true).await;
    assert_eq!(
        (d.action, d.rule.as_str(), d.epoch),
        (pb::Action::Reject as i32, "ads", epoch + 1)
    );

    // An error page saved over the list: rejected, counted, the working list stays.
    write(&list, "<html>\n<h1>404</h1>\n</html>\n");
    let start = Instant::now();
    while metric(&mut metrics, "nfguard_policy_reload_errors_total", None).await < 1.0 {
        assert!(
            start.elapsed() < PATIENCE,
            "the broken list was never reported"
        );
    }
    let d = decide(&client, 80, true).await;
    assert_eq!((d.rule.as_str(), d.epoch), ("ads", epoch + 1));

    // PutPolicy reads lists relative to the rule file; a missing one is named.
    let put = |toml: &str| {
        pb::policy_request::Body::Put(pb::PutPolicy {
            toml: toml.into(),
            auth: secret.as_bytes().to_vec(),
        })
    };
    let missing = text.replace("lists/ads.txt", "lists/none.txt");
    let bad = policy_call(&client, put(&missing)).await;
    assert!(!bad.ok);
    assert!(
        bad.error.starts_with(
            "policy.toml:5: rule[0].host_list: lists/none.txt: cannot read: No such file"
        ),
        "{}",
        bad.error
    );
    write(&dir.path().join("lists/other.txt"), "example.test\n");
    let other = text.replace("lists/ads.txt", "lists/other.txt");
    let good = policy_call(&client, put(&other)).await;
    assert!(good.ok, "{}", good.error);
    assert_eq!(good.epoch, epoch + 2);
    let d = decide(&client, 80, true).await;
    assert_eq!((d.rule.as_str(), d.epoch), ("ads", epoch + 2));
    // The new policy's list is the one watched now.
    write(&dir.path().join("lists/other.txt"), "other.test\n");
    wait_epoch(&mut events, epoch + 3).await;
    let d = decide(&client, 80, true).await;
    assert_eq!((d.action, d.rule.as_str()), (pb::Action::Accept as i32, ""));

    stop_tx.send(()).unwrap();
    let stopped = tokio::time::timeout(PATIENCE, process).await;
    assert!(matches!(stopped, Ok(Ok(Ok(())))), "{stopped:?}");
}
