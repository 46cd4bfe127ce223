//! Every endpoint against the real store `run()` and the real gateway; auth, limits and errors; the
//! Prometheus output (promtool when installed) and the Grafana dashboard's metric names; a fuzzed
//! request test.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::*;
use nfguard_proto::pb;
use serde_json::Value;

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

fn auth() -> (&'static str, String) {
    ("Authorization", format!("Bearer {TOKEN}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_api_against_the_real_store() {
    let s = Stack::start(false).await;
    s.ingest(&[
        flow(1, "TLS.YouTube", "www.youtube.com", "accept", 5000),
        flow(2, "BitTorrent", "", "drop", 700),
        flow(3, "DNS.Google", "dns.google", "accept", 90),
    ])
    .await;

    let (code, body) = get(&s, "/api/v1/flows").await;
    assert_eq!(code, 200, "{body}");
    let v = json(&body);
    let flows = v["flows"].as_array().unwrap();
    assert_eq!(flows.len(), 3);
    let yt = flows.iter().find(|f| f["label"] == "TLS.YouTube").unwrap();
    assert_eq!(yt["src"], "10.0.0.2:50001");
    assert_eq!(yt["dst"], "142.250.1.1:443");
    assert_eq!(yt["l4"], "TCP");
    assert_eq!(yt["app"], "YouTube");
    assert_eq!(yt["master"], "TLS");
    assert_eq!(yt["bytes"], 10_000);
    assert_eq!(yt["packets"], 5);
    assert_eq!(yt["host"], "www.youtube.com");
    assert_eq!(yt["state"], "ended");
    assert!(yt["rule"].is_null());

    // Filters and the cursor.
    let v = json(&get(&s, "/api/v1/flows?app=youtube").await.1);
    assert_eq!(v["flows"].as_array().unwrap().len(), 1);
    let v = json(&get(&s, "/api/v1/flows?verdict=drop").await.1);
    assert_eq!(v["flows"][0]["label"], "BitTorrent");
    let p1 = json(&get(&s, "/api/v1/flows?limit=2").await.1);
    assert_eq!(p1["flows"].as_array().unwrap().len(), 2);
    let next = p1["next"].as_str().unwrap();
    let p2 = json(
        &get(&s, &format!("/api/v1/flows?limit=2&after={next}"))
            .await
            .1,
    );
    assert_eq!(p2["flows"].as_array().unwrap().len(), 1);
    let keys: BTreeSet<&str> = p1["flows"]
        .as_array()
        .unwrap()
        .iter()
        .chain(p2["flows"].as_array().unwrap())
        .map(|f| f["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys.len(), 3);

    // Top-N and totals agree with what was ingested.
    let top = json(&get(&s, "/api/v1/apps/top?window=1h").await.1);
    assert_eq!(top["entries"][0]["key"], "TLS.YouTube");
    assert_eq!(top["entries"][0]["bytes"], 10_000);
    assert_eq!(top["entries"].as_array().unwrap().len(), 3);
    let hosts = json(&get(&s, "/api/v1/hosts/top").await.1);
    assert_eq!(hosts["entries"].as_array().unwrap().len(), 2);
    let verdicts = json(&get(&s, "/api/v1/verdicts/top").await.1);
    let drop = verdicts["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["key"] == "drop")
        .unwrap();
    assert_eq!(drop["bytes"], 1400);
    let rules = json(&get(&s, "/api/v1/rules/top?limit=5").await.1);
    assert_eq!(rules["entries"][0]["key"], "(default)");
    assert_eq!(rules["entries"][0]["flows"], 3);
    let totals = json(&get(&s, "/api/v1/totals?window=1d").await.1);
    assert_eq!(totals["bytes"], 2 * (5000 + 700 + 90));
    assert_eq!(totals["records_stored"], 3);

    // Protocol table, OpenAPI, status, dashboard, health.
    let p = json(&get(&s, "/api/v1/protocols").await.1);
    assert!(
        p["protocols"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["id"] == 124 && x["name"] == "YouTube")
    );
    let o = json(&get(&s, "/api/v1/openapi.json").await.1);
    assert!(o["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/v1/flows",
        "/api/v1/apps/top",
        "/api/v1/hosts/top",
        "/api/v1/rules/top",
        "/api/v1/protocols",
        "/api/v1/policy",
        "/api/v1/status",
        "/metrics",
        "/health",
    ] {
        assert!(o["paths"][path].is_object(), "OpenAPI lacks {path}");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let st = json(&get(&s, "/api/v1/status").await.1);
        if st["processes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["part"] == "store" && p["up"] == true)
        {
            assert_eq!(st["version"], env!("CARGO_PKG_VERSION"));
            assert_eq!(st["queues"][0]["kernel_queue_packets"], 5);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "store heartbeat never seen: {st}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (code, html) = get(&s, "/").await;
    assert_eq!(code, 200);
    assert!(html.contains("<svg") && html.contains("/api/v1/flows"));
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"http"),
        "dashboard must not load from a CDN"
    );
    assert_eq!(get(&s, "/health").await.0, 200);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_auth_and_limits() {
    let s = Stack::start(false).await;
    for (path, want) in [
        ("/api/v1/flows?limit=abc", 400),
        ("/api/v1/flows?limit=0", 400),
        ("/api/v1/flows?bogus=1", 400),
        ("/api/v1/flows?after=zz", 400),
        ("/api/v1/flows?after=ffffffff", 400),
        ("/api/v1/apps/top?window=forever", 400),
        ("/api/v1/apps/top?window=1h&since=5", 400),
        ("/api/v1/totals?since=10&until=5", 400),
        ("/nope", 404),
    ] {
        let (code, body) = get(&s, path).await;
        assert_eq!(code, want, "{path}: {body}");
        assert!(json(&body)["error"].is_string(), "{path}: {body}");
    }
    // Writes: no token, a wrong token → 401; too large → 413 (checked before the policy is asked).
    let (code, body) = request(&s, "PUT", "/api/v1/policy", &[], b"default = \"accept\"\n").await;
    assert_eq!(code, 401, "{body}");
    let (code, _) = request(
        &s,
        "PUT",
        "/api/v1/policy",
        &[("Authorization", "Bearer wrong")],
        b"x",
    )
    .await;
    assert_eq!(code, 401);
    let (k, v) = auth();
    let big = vec![b'#'; 300 * 1024];
    let (code, body) = request(&s, "PUT", "/api/v1/policy", &[(k, &v)], &big).await;
    assert_eq!(code, 413, "{body}");
    let (code, body) = request(&s, "PUT", "/api/v1/policy", &[(k, &v)], &[0xff, 0xfe]).await;
    assert_eq!(code, 400, "{body}");
    // With no policy process running, policy calls are 503 with a message, not a hang or a panic.
    let (code, body) = get(&s, "/api/v1/policy").await;
    assert_eq!(code, 503, "{body}");
    assert!(json(&body)["error"].as_str().unwrap().contains("policy"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_need_the_token_beyond_loopback() {
    let s = Stack::start(true).await;
    let (code, _) = get(&s, "/api/v1/protocols").await;
    assert_eq!(code, 401);
    let (code, _) = get(&s, "/metrics").await;
    assert_eq!(code, 401);
    let (k, v) = auth();
    let (code, _) = request(&s, "GET", "/api/v1/protocols", &[(k, &v)], b"").await;
    assert_eq!(code, 200);
    assert_eq!(get(&s, "/health").await.0, 200);
    s.stop().await;
}

/// Metric names a PromQL expression uses (identifiers followed by `{`, `[`, `)` or space that start
/// with `nfguard_`), histogram series reduced to their family.
fn promql_metrics(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let b = expr.as_bytes();
    let mut i = 0;
    while let Some(pos) = expr.get(i..).and_then(|r| r.find("nfguard_")) {
        let start = i + pos;
        let mut end = start;
        while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_') {
            end += 1;
        }
        out.push(expr[start..end].to_string());
        i = end;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_render_every_source_and_pass_promtool() {
    let s = Stack::start(false).await;
    let sup = nfguard_proto::bus::Publisher::bind(
        &s.cfg
            .endpoint(&nfguard_proto::process::endpoints::metrics("supervisor")),
        23,
    )
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let text = loop {
        s.capture_metrics
            .publish(pb::published::Body::Metrics(capture_snapshot()));
        sup.publish(pb::published::Body::Metrics(supervisor_snapshot()));
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (code, text) = get(&s, "/metrics").await;
        assert_eq!(code, 200);
        if text.contains("nfguard_packets_total{")
            && text.contains("nfguard_store_records")
            && text.contains("nfguard_process_restarts_total")
        {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "sources never all arrived:\n{text}"
        );
    };
    assert!(
        text.contains(
            "nfguard_packets_total{part=\"capture-q0\",queue=\"0\",verdict=\"accept\"} 1000"
        ),
        "{text}"
    );
    assert!(text.contains("nfguard_bus_request_seconds_bucket{part=\"capture-q0\",peer=\"policy\",queue=\"0\",le=\"+Inf\"} 2"), "{text}");
    assert!(text.contains("nfguard_kernel_queue_packets{part=\"gateway\",queue=\"0\"} 5"));
    assert!(text.contains("nfguard_kernel_queue_dropped_total{part=\"gateway\",queue=\"0\"} 7"));
    assert!(
        text.contains("nfguard_kernel_queue_user_dropped_total{part=\"gateway\",queue=\"0\"} 1")
    );
    // One source for process_up: the gateway's heartbeat view (the supervisor's copy is dropped).
    assert!(
        text.contains("nfguard_process_up{part=\"store\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("nfguard_process_up{part=\"classifier\"} 0"),
        "{text}"
    );
    assert_eq!(
        text.matches("nfguard_process_up{part=\"classifier\"")
            .count(),
        1
    );
    // Every family has HELP and TYPE, and no series appears twice.
    let mut series = BTreeSet::new();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let name = line.split(['{', ' ']).next().unwrap();
        let family = name
            .trim_end_matches("_bucket")
            .trim_end_matches("_sum")
            .trim_end_matches("_count");
        assert!(
            text.contains(&format!("# TYPE {family} "))
                || text.contains(&format!("# TYPE {name} ")),
            "no TYPE for {name}"
        );
        let key = line.rsplit_once(' ').unwrap().0.to_string();
        assert!(series.insert(key), "duplicate series: {line}");
    }

    // promtool, when installed (the CI installs Debian's prometheus package).
    match std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    {
        Ok(mut child) => {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
            let out = child.wait_with_output().unwrap();
            let msg = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                out.status.success(),
                "promtool check metrics failed:\n{msg}\n---\n{text}"
            );
            eprintln!("promtool check metrics: ok");
        }
        Err(_) => {
            eprintln!("SKIPPED promtool check: promtool not installed (apt-get install prometheus)")
        }
    }

    // The Grafana dashboard uses only metrics this output has.
    let dash: Value =
        serde_json::from_str(include_str!("../../deploy/grafana/nfguard.json")).unwrap();
    let mut checked = 0;
    for p in dash["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().unwrap() {
            for m in promql_metrics(t["expr"].as_str().unwrap()) {
                assert!(
                    text.lines().any(|l| !l.starts_with('#')
                        && l.starts_with(&m)
                        && l[m.len()..].starts_with(['{', ' '])),
                    "Grafana panel {:?} uses {m}, which /metrics does not emit",
                    p["title"]
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 20, "only {checked} metric references checked");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzzed_requests_never_get_a_server_error() {
    use rand::{Rng, SeedableRng};
    let s = Stack::start(false).await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x6e66);
    let paths = [
        "/",
        "/health",
        "/metrics",
        "/api/v1/flows",
        "/api/v1/apps/top",
        "/api/v1/hosts/top",
        "/api/v1/rules/top",
        "/api/v1/totals",
        "/api/v1/protocols",
        "/api/v1/policy",
        "/api/v1/status",
        "/api/v1/openapi.json",
        "/api/v1/",
        "/api/v2/x",
        "/%00",
        "/api/v1/flows/../../etc/passwd",
    ];
    let keys = [
        "since", "until", "window", "app", "host", "verdict", "rule", "limit", "after", "x", "",
        "%ff",
    ];
    let values = [
        "",
        "0",
        "-1",
        "18446744073709551616",
        "1h",
        "7d",
        "zz",
        "%00",
        "%",
        "a%20b",
        "ffffffff",
        "9999999999999999999999",
        "TLS.YouTube",
        "..",
        "\u{e9}",
    ];
    let methods = ["GET", "PUT", "POST", "DELETE", "HEAD", "OPTIONS", "PATCH"];
    let (ak, av) = auth();
    for i in 0..400 {
        let mut path = paths[rng.random_range(0..paths.len())].to_string();
        for j in 0..rng.random_range(0..4) {
            path.push(if j == 0 { '?' } else { '&' });
            path.push_str(keys[rng.random_range(0..keys.len())]);
            if rng.random_bool(0.8) {
                path.push('=');
                path.push_str(&values[rng.random_range(0..values.len())].replace(' ', "%20"));
            }
        }
        let method = methods[rng.random_range(0..methods.len())];
        let body: Vec<u8> = (0..rng.random_range(0..64)).map(|_| rng.random()).collect();
        let headers: Vec<(&str, &str)> = if rng.random_bool(0.5) {
            vec![(ak, av.as_str())]
        } else {
            vec![]
        };
        let (code, resp) = request(&s, method, &path, &headers, &body).await;
        // 503: the policy process is not running in this test — an answer, not a failure.
        assert!(
            (200..500).contains(&code) || code == 503,
            "request {i}: {method} {path} → {code} {resp}"
        );
    }
    assert_eq!(get(&s, "/health").await.0, 200);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_get_and_put_through_the_real_policy_process() {
    let mut s = Stack::start(false).await;
    start_policy(&mut s).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let first = loop {
        let (code, body) = get(&s, "/api/v1/policy").await;
        if code == 200 {
            break json(&body);
        }
        assert!(
            Instant::now() < deadline,
            "policy never answered: {code} {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        first["toml"].as_str().unwrap().contains("no-p2p"),
        "{first}"
    );
    let epoch = first["epoch"].as_u64().unwrap();
    let (k, v) = auth();
    // A misspelt application: the policy's FILE:LINE: TOML.PATH: message comes back as JSON 400.
    let bad = "default = \"accept\"\n\n[[rule]]\nname = \"x\"\napp = [\"BitTorent\"]\naction = \"drop\"\n";
    let (code, body) = request(&s, "PUT", "/api/v1/policy", &[(k, &v)], bad.as_bytes()).await;
    assert_eq!(code, 400, "{body}");
    let err = json(&body)["error"].as_str().unwrap().to_string();
    assert!(
        err.contains(":5: rule[0].app:") && err.contains("BitTorrent"),
        "{err}"
    );
    // The running policy is unchanged.
    let still = json(&get(&s, "/api/v1/policy").await.1);
    assert!(still["toml"].as_str().unwrap().contains("no-p2p"));
    // Unauthenticated writes never reach the policy.
    let good = "default = \"drop\"\n";
    assert_eq!(
        request(&s, "PUT", "/api/v1/policy", &[], good.as_bytes())
            .await
            .0,
        401
    );
    let (code, body) = request(&s, "PUT", "/api/v1/policy", &[(k, &v)], good.as_bytes()).await;
    assert_eq!(code, 200, "{body}");
    assert!(json(&body)["epoch"].as_u64().unwrap() > epoch);
    let now = json(&get(&s, "/api/v1/policy").await.1);
    assert_eq!(now["toml"], good);
    let st = json(&get(&s, "/api/v1/status").await.1);
    assert!(st["epoch"].as_u64().unwrap() > epoch, "{st}");
    s.stop().await;
}
