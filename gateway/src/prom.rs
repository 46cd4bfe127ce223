//! Prometheus text exposition (format 0.0.4) of the `MetricsSnapshot`s the gateway holds: one HELP/TYPE
//! block per name, every sample labelled with its source (`part`, and `queue` for captures) so a
//! process restart reads as a clean counter reset. Whatever arrives is rendered validly: names and
//! label names are sanitised, values escaped, duplicate series and kind conflicts dropped.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write;

use nfguard_proto::pb;

/// One source of metrics: a process's latest snapshot.
pub struct Source<'a> {
    pub snapshot: &'a pb::MetricsSnapshot,
}

struct Sample {
    labels: Vec<(String, String)>,
    metric: pb::Metric,
}

struct Family {
    kind: pb::MetricKind,
    samples: Vec<Sample>,
}

/// Help texts for the names the design names; others get a generic line (promtool wants HELP).
fn help(name: &str) -> &'static str {
    match name {
        "nfguard_packets_total" => "Packets given a verdict, by queue and verdict.",
        "nfguard_bytes_total" => "Bytes (original length) given a verdict, by queue and verdict.",
        "nfguard_flows_total" => "Flows decided, by application label.",
        "nfguard_flow_bytes_total" => "Bytes of decided flows, by application label.",
        "nfguard_rule_hits_total" => "Decisions per policy rule.",
        "nfguard_would_drop_total" => "Monitor-mode decisions that would have dropped, per rule.",
        "nfguard_verdict_timeouts_total" => {
            "Held packets released with the default verdict after a bus timeout."
        }
        "nfguard_fail_open_total" => "Packets accepted without a decision (fail-open), by reason.",
        "nfguard_kernel_bypassed_packets_total" => {
            "Packets the kernel accepted without queueing them to nfguard, by reason."
        }
        "nfguard_decode_errors_total" => "Packets that could not be decoded, by reason.",
        "nfguard_flows_new_total" => "Flows a capture worker saw for the first time (new flows/s).",
        "nfguard_flows_undecided_total" => {
            "Flows that ended without a decision (recorded as verdict \"undecided\")."
        }
        "nfguard_flows_unrecorded_total" => {
            "Undecided flows past the per-queue record rate: counted, not stored."
        }
        "nfguard_held_packets" => "Packets currently held awaiting a decision.",
        "nfguard_flow_table_size" => "Flows tracked by a capture worker.",
        "nfguard_bus_request_seconds" => "Bus request round-trip time.",
        "nfguard_bus_messages_lost_total" => {
            "Published bus messages a subscriber never received (sequence gaps)."
        }
        "nfguard_process_up" => {
            "1 if the process's heartbeat reached the gateway in the last 3 seconds."
        }
        "nfguard_process_restarts_total" => "Restarts of a child process by the supervisor.",
        "nfguard_kernel_queue_packets" => {
            "Packets waiting in the kernel's NFQUEUE (nfnetlink_queue queue_total)."
        }
        "nfguard_kernel_queue_dropped_total" => {
            "Packets the kernel dropped because the queue was full (queue_dropped)."
        }
        "nfguard_kernel_queue_user_dropped_total" => {
            "Packets the kernel could not send to user space (user_dropped)."
        }
        _ => "",
    }
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*` for metric names (`colon = true`), without `:` for label names.
pub fn sanitize(name: &str, colon: bool) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || (colon && c == ':') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

fn labels(ls: &[(String, String)], extra: Option<(&str, String)>) -> String {
    let mut parts: Vec<String> = ls
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    if let Some((k, v)) = extra {
        parts.push(format!("{k}=\"{}\"", escape(&v)));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

/// The source labels a snapshot's samples get, unless the metric already carries them.
fn source_labels(s: &pb::MetricsSnapshot) -> Vec<(String, String)> {
    let mut out = vec![("part".to_string(), s.part.clone())];
    if s.part.starts_with("capture") {
        out.push(("queue".to_string(), s.queue.to_string()));
    }
    out
}

/// Renders every source. `skip` names metrics to leave out (the gateway is the one source of some).
pub fn render(sources: &[Source<'_>], skip: &[&str]) -> String {
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    for src in sources {
        let extra = source_labels(src.snapshot);
        for m in &src.snapshot.metrics {
            let name = sanitize(&m.name, true);
            if skip.contains(&name.as_str()) {
                continue;
            }
            let kind = pb::MetricKind::try_from(m.kind).unwrap_or(pb::MetricKind::Gauge);
            let mut ls: Vec<(String, String)> = Vec::new();
            for l in &m.labels {
                let k = sanitize(&l.name, false);
                // `le` is reserved for histogram buckets; `__` names for Prometheus itself.
                if k == "le" || k.starts_with("__") || ls.iter().any(|(n, _)| *n == k) {
                    continue;
                }
                ls.push((k, l.value.clone()));
            }
            for (k, v) in &extra {
                if !ls.iter().any(|(n, _)| n == k) {
                    ls.push((k.clone(), v.clone()));
                }
            }
            ls.sort();
            let fam = families.entry(name).or_insert_with(|| Family {
                kind,
                samples: Vec::new(),
            });
            // A name reported with two kinds cannot be exposed twice: the first kind wins.
            if fam.kind != kind {
                continue;
            }
            fam.samples.push(Sample {
                labels: ls,
                metric: m.clone(),
            });
        }
    }
    let mut out = String::new();
    for (name, fam) in &families {
        let family_name = name.as_str();
        let h = help(family_name);
        let h = if h.is_empty() {
            format!("nfguard metric {family_name}.")
        } else {
            h.to_string()
        };
        let t = match fam.kind {
            pb::MetricKind::Counter => "counter",
            pb::MetricKind::Gauge => "gauge",
            pb::MetricKind::Histogram => "histogram",
        };
        let _ = writeln!(out, "# HELP {family_name} {}", escape_help(&h));
        let _ = writeln!(out, "# TYPE {family_name} {t}");
        let mut seen: HashSet<&[(String, String)]> = HashSet::new();
        for s in &fam.samples {
            if !seen.insert(&s.labels) {
                continue;
            }
            let m = &s.metric;
            match fam.kind {
                pb::MetricKind::Counter | pb::MetricKind::Gauge => {
                    let v = if fam.kind == pb::MetricKind::Counter
                        && (m.value.is_nan() || m.value < 0.0)
                    {
                        0.0
                    } else {
                        m.value
                    };
                    let _ = writeln!(out, "{family_name}{} {}", labels(&s.labels, None), value(v));
                }
                pb::MetricKind::Histogram => {
                    let mut running = 0u64;
                    let mut last_bound = f64::NEG_INFINITY;
                    for (i, b) in m.bucket_bounds.iter().enumerate() {
                        // Bounds must rise and counts must be cumulative; skip what is not.
                        if !b.is_finite() || *b <= last_bound {
                            continue;
                        }
                        last_bound = *b;
                        running = running.max(m.bucket_counts.get(i).copied().unwrap_or(running));
                        let _ = writeln!(
                            out,
                            "{family_name}_bucket{} {running}",
                            labels(&s.labels, Some(("le", value(*b))))
                        );
                    }
                    let count = m.count.max(running);
                    let _ = writeln!(
                        out,
                        "{family_name}_bucket{} {count}",
                        labels(&s.labels, Some(("le", "+Inf".into())))
                    );
                    let sum = if m.value.is_finite() { m.value } else { 0.0 };
                    let _ = writeln!(
                        out,
                        "{family_name}_sum{} {}",
                        labels(&s.labels, None),
                        value(sum)
                    );
                    let _ = writeln!(
                        out,
                        "{family_name}_count{} {count}",
                        labels(&s.labels, None)
                    );
                }
            }
        }
    }
    out
}

fn escape_help(h: &str) -> String {
    h.replace('\\', "\\\\").replace('\n', "\\n")
}

/// One row of `/proc/net/netfilter/nfnetlink_queue`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelQueue {
    pub queue: u32,
    pub queue_total: u64,
    pub queue_dropped: u64,
    pub user_dropped: u64,
}

/// Parses `/proc/net/netfilter/nfnetlink_queue` (columns: queue, portid, queue_total, copy_mode,
/// copy_range, queue_dropped, user_dropped, id_sequence, 1); malformed lines are skipped.
pub fn parse_nfnetlink_queue(text: &str) -> Vec<KernelQueue> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let n = |i: usize| f.get(i).and_then(|s| s.parse::<u64>().ok());
            Some(KernelQueue {
                queue: u32::try_from(n(0)?).ok()?,
                queue_total: n(2)?,
                queue_dropped: n(5)?,
                user_dropped: n(6)?,
            })
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn metric(name: &str, kind: pb::MetricKind, labels: &[(&str, &str)], v: f64) -> pb::Metric {
        pb::Metric {
            name: name.into(),
            kind: kind as i32,
            labels: labels
                .iter()
                .map(|(n, v)| pb::Label {
                    name: (*n).into(),
                    value: (*v).into(),
                })
                .collect(),
            value: v,
            ..Default::default()
        }
    }

    #[test]
    fn sources_keep_their_labels_and_duplicates_go() {
        let a = pb::MetricsSnapshot {
            part: "capture-q0".into(),
            queue: 0,
            metrics: vec![
                metric(
                    "nfguard_packets_total",
                    pb::MetricKind::Counter,
                    &[("queue", "0"), ("verdict", "accept")],
                    5.0,
                ),
                metric(
                    "nfguard_packets_total",
                    pb::MetricKind::Counter,
                    &[("queue", "0"), ("verdict", "accept")],
                    6.0,
                ),
                metric(
                    "nfguard_packets_total",
                    pb::MetricKind::Gauge,
                    &[("verdict", "x")],
                    1.0,
                ),
            ],
            ..Default::default()
        };
        let b = pb::MetricsSnapshot {
            part: "store".into(),
            metrics: vec![metric(
                "weird name-1",
                pb::MetricKind::Gauge,
                &[("a\"b", "v\"\n\\")],
                f64::NAN,
            )],
            ..Default::default()
        };
        let out = render(&[Source { snapshot: &a }, Source { snapshot: &b }], &[]);
        assert_eq!(out.matches("nfguard_packets_total{").count(), 1, "{out}");
        assert!(
            out.contains(
                "nfguard_packets_total{part=\"capture-q0\",queue=\"0\",verdict=\"accept\"} 5\n"
            ),
            "{out}"
        );
        assert!(
            out.contains("weird_name_1{a_b=\"v\\\"\\n\\\\\",part=\"store\"} NaN"),
            "{out}"
        );
        assert!(out.contains("# TYPE nfguard_packets_total counter"));
    }

    #[test]
    fn histogram_has_buckets_sum_count() {
        let s = pb::MetricsSnapshot {
            part: "policy".into(),
            metrics: vec![pb::Metric {
                name: "nfguard_bus_request_seconds".into(),
                kind: pb::MetricKind::Histogram as i32,
                value: 0.5,
                bucket_bounds: vec![0.001, 0.01],
                bucket_counts: vec![1, 2, 3],
                count: 3,
                ..Default::default()
            }],
            ..Default::default()
        };
        let out = render(&[Source { snapshot: &s }], &[]);
        assert!(
            out.contains("nfguard_bus_request_seconds_bucket{part=\"policy\",le=\"0.001\"} 1"),
            "{out}"
        );
        assert!(out.contains("nfguard_bus_request_seconds_bucket{part=\"policy\",le=\"+Inf\"} 3"));
        assert!(out.contains("nfguard_bus_request_seconds_sum{part=\"policy\"} 0.5"));
        assert!(out.contains("nfguard_bus_request_seconds_count{part=\"policy\"} 3"));
    }

    #[test]
    fn nfnetlink_queue_lines() {
        let t = "    0  23456     2 2  4096     7    9  123  1\n    1  23457     0 2  4096     0    0    5  1\ngarbage\n";
        assert_eq!(
            parse_nfnetlink_queue(t),
            vec![
                KernelQueue {
                    queue: 0,
                    queue_total: 2,
                    queue_dropped: 7,
                    user_dropped: 9
                },
                KernelQueue {
                    queue: 1,
                    queue_total: 0,
                    queue_dropped: 0,
                    user_dropped: 0
                },
            ]
        );
    }
}
