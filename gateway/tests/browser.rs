//! The dashboard in a real headless Chromium: after it has polled live data, the DOM holds the flows
//! table rows and the top-applications bars. Skipped with a message when chromium is not installed.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use nfguard_proto::pb;

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            std::process::Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_populates_from_live_data() {
    let Some(browser) = chromium() else {
        eprintln!("SKIPPED browser test: chromium not installed (apt-get install chromium)");
        return;
    };
    let s = Stack::start(false).await;
    s.ingest(&[
        flow(1, "TLS.YouTube", "www.youtube.com", "accept", 5000),
        flow(2, "BitTorrent", "", "drop", 700),
    ])
    .await;
    // A few capture heartbeats so the throughput chart has counters to difference.
    let publisher = &s.capture_metrics;
    for _ in 0..3 {
        publisher.publish(pb::published::Body::Metrics(capture_snapshot()));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let profile = tempfile::tempdir().unwrap();
    let url = format!("http://{}/", s.addr);
    let args: Vec<String> = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-dev-shm-usage",
        // Lets the page's 2 s poll run a few times before the DOM is dumped.
        "--virtual-time-budget=7000",
    ]
    .iter()
    .map(|s| (*s).to_string())
    .chain([
        format!("--user-data-dir={}", profile.path().display()),
        "--dump-dom".into(),
        url,
    ])
    .collect();
    let browser = browser.to_string();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(browser).args(&args).output()
    })
    .await
    .unwrap()
    .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        dom.contains("<tr class=\"flow\">"),
        "flows table empty:\n{dom}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        dom.contains("TLS.YouTube") && dom.contains("www.youtube.com"),
        "{dom}"
    );
    assert!(
        dom.contains("class=\"app-bar\""),
        "top-apps chart empty:\n{dom}"
    );
    assert!(
        dom.contains("data-verdict=\"accept\""),
        "throughput chart empty:\n{dom}"
    );
    assert!(
        dom.contains("data-series=\"new\"") && dom.contains("■ new"),
        "new-flows chart empty:\n{dom}"
    );
    assert!(
        dom.contains("capture") || dom.contains("<td>0</td>"),
        "queue table empty:\n{dom}"
    );
    // For a person to look at: NFGUARD_SCREENSHOT=/tmp/dash.png cargo test -p nfguard-gateway --test browser
    if let Ok(png) = std::env::var("NFGUARD_SCREENSHOT") {
        let (browser, url) = (
            chromium().unwrap_or("chromium").to_string(),
            format!("http://{}/", s.addr),
        );
        let profile = tempfile::tempdir().unwrap();
        let args = vec![
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--hide-scrollbars".into(),
            "--virtual-time-budget=7000".into(),
            "--window-size=1280,1000".into(),
            format!("--user-data-dir={}", profile.path().display()),
            format!("--screenshot={png}"),
            url,
        ];
        let _ = tokio::task::spawn_blocking(move || {
            std::process::Command::new(browser).args(&args).output()
        })
        .await;
    }
    s.stop().await;
}
