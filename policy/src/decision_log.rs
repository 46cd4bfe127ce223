//! The decision log: one JSON object per decided flow of a rule with `log = true` (time, tuple, app,
//! host, rule, verdict). The library formats the line; the process appends it to `decision_log`.

use nfguard_proto::protocols;

use crate::decision::Decision;
use crate::facts::FlowFacts;
use crate::time_window::Now;

/// One line (without the newline), e.g.
/// `{"time":1795392000,"l4":"TCP","src":"10.0.0.2:51000","dst":"10.0.1.2:443","app":"TLS.YouTube",…}`.
pub fn decision_log_line(f: &FlowFacts<'_>, d: &Decision, now: Now) -> String {
    let (label, category, host) = match &f.class {
        Some(c) => (
            Some(protocols::label(c.master, c.app)),
            Some(c.category),
            c.host,
        ),
        None => (None, None, None),
    };
    serde_json::json!({
        "time": now.unix_s,
        "l4": f.key.l4_name(),
        "src": f.key.client.to_string(),
        "dst": f.key.server.to_string(),
        "in_iface": f.in_iface,
        "out_iface": f.out_iface,
        "app": label,
        "category": category,
        "host": host,
        "rule": d.rule.as_deref(),
        "action": d.action.as_str(),
        "verdict": d.verdict.as_str(),
        "shaper": d.shaper,
        "would_drop": d.would_drop,
        "over_quota": d.over_quota,
    })
    .to_string()
}
