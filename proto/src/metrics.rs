//! Building `MetricsSnapshot`s: counters, gauges and fixed-bucket histograms that a process fills and
//! publishes every second. Names follow `nfguard_<noun>_<unit>_total`; label values must be bounded.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::pb;

/// Collects metrics for one snapshot.
#[derive(Debug, Default)]
pub struct SnapshotBuilder {
    metrics: Vec<pb::Metric>,
}

impl SnapshotBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn counter(&mut self, name: &str, labels: &[(&str, &str)], value: u64) -> &mut Self {
        self.push(name, labels, pb::MetricKind::Counter, value as f64)
    }

    pub fn gauge(&mut self, name: &str, labels: &[(&str, &str)], value: f64) -> &mut Self {
        self.push(name, labels, pb::MetricKind::Gauge, value)
    }

    pub fn histogram(&mut self, name: &str, labels: &[(&str, &str)], h: &Histogram) -> &mut Self {
        let mut cumulative = 0u64;
        let counts = h
            .buckets
            .iter()
            .map(|b| {
                cumulative = cumulative.saturating_add(b.load(Ordering::Relaxed));
                cumulative
            })
            .collect();
        self.metrics.push(pb::Metric {
            name: name.to_string(),
            labels: to_labels(labels),
            kind: pb::MetricKind::Histogram as i32,
            value: h.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
            bucket_bounds: h.bounds.to_vec(),
            bucket_counts: counts,
            count: h.count.load(Ordering::Relaxed),
        });
        self
    }

    fn push(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        kind: pb::MetricKind,
        value: f64,
    ) -> &mut Self {
        self.metrics.push(pb::Metric {
            name: name.to_string(),
            labels: to_labels(labels),
            kind: kind as i32,
            value,
            ..Default::default()
        });
        self
    }

    pub fn finish(self, part: &str, queue: u32, uptime_s: u64) -> pb::MetricsSnapshot {
        pb::MetricsSnapshot {
            part: part.to_string(),
            queue,
            pid: std::process::id(),
            uptime_s,
            metrics: self.metrics,
        }
    }
}

fn to_labels(labels: &[(&str, &str)]) -> Vec<pb::Label> {
    labels
        .iter()
        .map(|(n, v)| pb::Label {
            name: (*n).to_string(),
            value: (*v).to_string(),
        })
        .collect()
}

/// A latency histogram in seconds with fixed upper bounds; lock-free to record.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// One per bound plus +Inf.
    buckets: Vec<AtomicU64>,
    sum_micros: AtomicU64,
    count: AtomicU64,
}

/// Bus round trips: 10 µs … 100 ms.
pub const LATENCY_BOUNDS: &[f64] = &[
    0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1,
];

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    pub fn record(&self, d: std::time::Duration) {
        let s = d.as_secs_f64();
        let i = self
            .bounds
            .iter()
            .position(|b| s <= *b)
            .unwrap_or(self.bounds.len());
        if let Some(b) = self.buckets.get(i) {
            b.fetch_add(1, Ordering::Relaxed);
        }
        self.sum_micros.fetch_add(
            u64::try_from(d.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        self.count.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn histogram_is_cumulative() {
        let h = Histogram::new(&[0.001, 0.01]);
        h.record(Duration::from_micros(500));
        h.record(Duration::from_millis(5));
        h.record(Duration::from_secs(1));
        let mut b = SnapshotBuilder::new();
        b.histogram("x_seconds", &[], &h);
        let s = b.finish("t", 0, 0);
        assert_eq!(s.metrics[0].bucket_counts, vec![1, 2, 3]);
        assert_eq!(s.metrics[0].count, 3);
    }
}
