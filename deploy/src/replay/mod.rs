//! `nfguard replay FILE [--json] [--policy FILE] [--verdicts]`: runs a capture file through the
//! capture's packet path ([`nfguard_capture::flow_path`]) with the classifier and policy libraries
//! answering in-process, so the verdicts are what live capture would give. One line per flow (the
//! DESIGN §6 JSON object, or a table row); with `--verdicts` also one line per packet saying its
//! verdict and why (`provisional`, `decided`, `cached`, `midstream`…).
//!
//! One deliberate difference from a live queue, unless `--live-midstream`: a TCP flow whose first
//! packet in the file has no SYN is classified like a new flow, because the file's start, not a
//! restart of nfguard, cut into it.

mod driver;

use std::io::Write;
use std::path::Path;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use nfguard_classifier::{ReplayError, ReplayStats};
use nfguard_policy::Policy;

pub use driver::{Driver, FlowLine, PacketVerdict};

/// The smallest capture record that carries an IP packet (16-byte pcap record header, 20-byte IPv4
/// header): bounds the packets, hence the flows, of a file.
const MIN_RECORD_BYTES: usize = 36;

/// How to replay.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options<'p> {
    /// One JSON object per line instead of a table.
    pub json: bool,
    /// Decide each flow with this rule file (a dry run).
    pub policy: Option<&'p Policy>,
    /// Also print each packet's verdict and why.
    pub verdicts: bool,
    /// TCP flows whose first packet in the file has no SYN get `midstream_verdict`, as a live queue
    /// gives a flow it first sees mid-stream. Off by default: a capture's start cuts into
    /// connections that a running firewall would have seen from their SYN, so they are classified.
    pub live_midstream: bool,
}

/// Replays `path`, writing the report to `out`.
///
/// # Errors
/// An unreadable or malformed capture, or a write error.
pub fn run(path: &Path, opts: Options<'_>, out: &mut impl Write) -> anyhow::Result<ReplayStats> {
    let data = std::fs::read(path).map_err(|source| ReplayError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let unix_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let max_packets = data.len() / MIN_RECORD_BYTES + 1;
    let mut driver = Driver::new(opts.policy, unix_ms, opts.live_midstream, max_packets);
    let mut write_err = None;
    if opts.verdicts && !opts.json {
        writeln!(
            out,
            "{:>7} {:<6} {:<44} {:<44} {:<7} {:<7} WHY",
            "FRAME", "L4", "SOURCE", "DESTINATION", "VERDICT", "NF"
        )?;
    }
    let mut last = None;
    let mut stats = nfguard_classifier::replay::walk_bytes(&data, |p, now| {
        last = Some(now);
        driver.packet(p, now, &mut |v| {
            if opts.verdicts
                && let Err(e) = writeln!(out, "{}", verdict_line(&v, opts.json))
            {
                write_err.get_or_insert(e);
            }
        });
    })
    .map_err(|source| ReplayError::Format {
        path: path.display().to_string(),
        source,
    })?;
    if let Some(e) = write_err {
        return Err(e.into());
    }
    let lines = driver.finish(last.unwrap_or_else(Instant::now));
    stats.flows = lines.len() as u64;
    if !opts.json {
        writeln!(
            out,
            "{:<6} {:<44} {:<44} {:<24} {:<32} {:>7} {:>10} {:<8} RULE",
            "L4", "CLIENT", "SERVER", "LABEL", "HOST", "PACKETS", "BYTES", "VERDICT"
        )?;
    }
    for l in &lines {
        writeln!(out, "{}", flow_line(l, opts.json))?;
    }
    Ok(stats)
}

fn flow_line(l: &FlowLine, json: bool) -> String {
    let f = &l.summary;
    if json {
        return f.to_json(l.verdict.as_deref(), l.rule.as_deref());
    }
    format!(
        "{:<6} {:<44} {:<44} {:<24} {:<32} {:>7} {:>10} {:<8} {}",
        nfguard_proto::types::l4_name(f.l4),
        f.client,
        f.server,
        f.label,
        f.host,
        f.packets,
        f.bytes,
        l.verdict.as_deref().unwrap_or("-"),
        l.rule.as_deref().unwrap_or("-")
    )
}

fn verdict_line(v: &PacketVerdict, json: bool) -> String {
    let reason = match v.why {
        nfguard_capture::flow_path::Why::Default(r) => r.as_str(),
        nfguard_capture::flow_path::Why::Undecodable(e) => e.as_str(),
        _ => "",
    };
    if json {
        let reason = if reason.is_empty() {
            String::new()
        } else {
            format!(",\"reason\":\"{reason}\"")
        };
        return format!(
            "{{\"frame\":{},\"l4\":\"{}\",\"src\":\"{}\",\"dst\":\"{}\",\"verdict\":\"{}\",\"nf\":\"{}\",\"why\":\"{}\"{}}}",
            v.frame,
            nfguard_proto::types::l4_name(v.l4),
            v.src,
            v.dst,
            v.verdict,
            v.nf,
            v.why.as_str(),
            reason
        );
    }
    let why = if reason.is_empty() {
        v.why.as_str().to_string()
    } else {
        format!("{} ({reason})", v.why.as_str())
    };
    format!(
        "{:>7} {:<6} {:<44} {:<44} {:<7} {:<7} {}",
        v.frame,
        nfguard_proto::types::l4_name(v.l4),
        v.src,
        v.dst,
        v.verdict.as_str(),
        v.nf,
        why
    )
}
