//! `nfguard flows [--app X] [--host Y] [--verdict V] [--rule R] [--since 10m] [--limit N]`: the operator's
//! command-line view of recent flows, asked of the store over `store.sock`.

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nfguard_proto::FlowKey;
use nfguard_proto::bus::RpcClient;
use nfguard_proto::config::Config;
use nfguard_proto::pb;
use nfguard_proto::process::endpoints;

/// How long to wait for the store.
const STORE_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, Default)]
pub struct FlowFilter {
    pub app: Option<String>,
    pub host: Option<String>,
    pub verdict: Option<String>,
    pub rule: Option<String>,
    pub since: Option<Duration>,
    pub limit: u32,
}

/// Queries the store and prints one line per flow, newest first.
///
/// # Errors
/// The store is not running or answers with an error, or a write fails.
pub async fn print_flows(
    cfg: &Config,
    f: &FlowFilter,
    out: &mut impl Write,
) -> anyhow::Result<usize> {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let since = f.since.map_or(0, |d| {
        now_ms.saturating_sub(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    });
    let query = pb::FlowQuery {
        since_unix_ms: since,
        until_unix_ms: 0,
        app: f.app.clone().unwrap_or_default(),
        host: f.host.clone().unwrap_or_default(),
        verdict: f.verdict.clone().unwrap_or_default(),
        rule: f.rule.clone().unwrap_or_default(),
        limit: f.limit,
        after_key: Vec::new(),
    };
    let endpoint = cfg.endpoint(endpoints::STORE);
    let client = RpcClient::<pb::StoreRequest, pb::StoreResponse>::connect(&endpoint);
    let req = pb::StoreRequest {
        body: Some(pb::store_request::Body::Flows(query)),
    };
    // The client connects in the background: retry until the deadline.
    let deadline = tokio::time::Instant::now() + STORE_TIMEOUT;
    let reply = loop {
        match client.call(&req, Duration::from_millis(500)).await {
            Ok(r) => break r,
            Err(e) if tokio::time::Instant::now() >= deadline => {
                anyhow::bail!("no answer from the store at {endpoint}: {e} (is nfguard running?)")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    let page = match reply.body {
        Some(pb::store_response::Body::Flows(p)) => p,
        Some(pb::store_response::Body::Error(e)) => anyhow::bail!("store: {e}"),
        _ => anyhow::bail!("store answered another query"),
    };
    writeln!(
        out,
        "{:<23} {:<5} {:<44} {:<44} {:<22} {:<30} {:>10} {:<7} RULE",
        "LAST SEEN (UTC)", "L4", "CLIENT", "SERVER", "APP", "HOST", "BYTES", "VERDICT"
    )?;
    for r in &page.flows {
        let Some(ev) = &r.flow else { continue };
        let key = ev.tuple.as_ref().and_then(FlowKey::from_tuple);
        let host = ev.classification.as_ref().map_or("", |c| c.host.as_str());
        writeln!(
            out,
            "{:<23} {:<5} {:<44} {:<44} {:<22} {:<30} {:>10} {:<7} {}",
            utc(ev.last_seen_unix_ms),
            key.map_or_else(|| "?".into(), |k| k.l4_name()),
            key.map_or_else(|| "?".into(), |k| k.client.to_string()),
            key.map_or_else(|| "?".into(), |k| k.server.to_string()),
            ev.label,
            host,
            ev.bytes_c2s.saturating_add(ev.bytes_s2c),
            ev.verdict,
            ev.rule
        )?;
    }
    Ok(page.flows.len())
}

/// `YYYY-MM-DD HH:MM:SS` in UTC from Unix milliseconds (civil-from-days, H. Hinnant's algorithm).
fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let tod = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        tod / 3600,
        tod % 3600 / 60,
        tod % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(1_795_805_866_128), "2026-11-27 18:57:46");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00");
    }
}
