//! `nfguard replay FILE [--json] [--policy FILE]`: classifies a capture offline with the same flow
//! table and DPI engine as the classifier process and, with a policy, shows each flow's verdict and rule
//! — a dry run of a rule file against real traffic.

use std::io::Write;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use nfguard_classifier::{FlowSummary, ReplayOptions, ReplayStats};
use nfguard_policy::{ClassFacts, FlowFacts, Now, Policy, Usage};
use nfguard_proto::FlowKey;

/// Replays `path`, writing one line per flow to `out`: the DESIGN §6 JSON object, or a table row.
///
/// # Errors
/// An unreadable or malformed capture, or a write error.
pub fn run(
    path: &Path,
    json: bool,
    policy: Option<&Policy>,
    out: &mut impl Write,
) -> anyhow::Result<ReplayStats> {
    let now = Now::utc(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    );
    let usage = Usage::empty();
    let mut write_err = None;
    if !json {
        writeln!(
            out,
            "{:<6} {:<44} {:<44} {:<24} {:<32} {:>7} {:>10} {:<8} RULE",
            "L4", "CLIENT", "SERVER", "LABEL", "HOST", "PACKETS", "BYTES", "VERDICT"
        )?;
    }
    let stats = nfguard_classifier::replay(path, &ReplayOptions::default(), |f: &FlowSummary| {
        let decided = policy.map(|p| decide(p, f, now, &usage));
        let (verdict, rule) = match &decided {
            Some((v, r)) => (Some(v.as_str()), r.as_deref()),
            None => (None, None),
        };
        let line = if json {
            f.to_json(verdict, rule)
        } else {
            format!(
                "{:<6} {:<44} {:<44} {:<24} {:<32} {:>7} {:>10} {:<8} {}",
                nfguard_proto::types::l4_name(f.l4),
                f.client,
                f.server,
                f.label,
                f.host,
                f.packets,
                f.bytes,
                verdict.unwrap_or("-"),
                rule.unwrap_or("-")
            )
        };
        if let Err(e) = writeln!(out, "{line}") {
            write_err.get_or_insert(e);
        }
    })?;
    if let Some(e) = write_err {
        return Err(e.into());
    }
    Ok(stats)
}

fn decide(policy: &Policy, f: &FlowSummary, now: Now, usage: &Usage) -> (String, Option<String>) {
    let host = (!f.host.is_empty()).then_some(f.host.as_str());
    let facts = FlowFacts {
        key: FlowKey {
            client: f.client,
            server: f.server,
            l4: f.l4,
        },
        in_iface: "",
        out_iface: "",
        queue: 0,
        class: Some(ClassFacts {
            master: f.master,
            app: f.app,
            category: f.category,
            host,
            risks: &[],
        }),
    };
    let d = policy.decide(&facts, now, usage);
    let verdict = if d.would_drop {
        format!("{} (monitor: would drop)", d.verdict)
    } else {
        d.verdict.to_string()
    };
    (verdict, d.rule.as_deref().map(str::to_string))
}
