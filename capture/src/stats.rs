//! The worker's counters: plain atomics bumped on the packet path (no allocation, no locks) and written
//! into the one-per-second `MetricsSnapshot` by [`Stats::report`]. Labels are bounded enums.

use std::sync::atomic::{AtomicU64, Ordering};

use nfguard_proto::Verdict;
use nfguard_proto::metrics::SnapshotBuilder;

use crate::decode::{DECODE_ERRORS, DecodeError};

/// Why a packet got the default verdict instead of a decision (`nfguard_fail_open_total{reason}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailReason {
    Timeout,
    PeerDown,
    NotConnected,
    Overloaded,
    PendingFull,
    BusError,
    /// Answered while the worker stops (SIGTERM), without asking anyone.
    Shutdown,
    /// A new flow past capacity under `overload = "bypass-new"`: not asked at all.
    Overload,
}

pub const FAIL_REASONS: [FailReason; 8] = [
    FailReason::Timeout,
    FailReason::PeerDown,
    FailReason::NotConnected,
    FailReason::Overloaded,
    FailReason::PendingFull,
    FailReason::BusError,
    FailReason::Shutdown,
    FailReason::Overload,
];

impl FailReason {
    /// Why a bus call gave no answer.
    pub fn of_bus(e: &nfguard_proto::bus::BusError) -> FailReason {
        use nfguard_proto::bus::BusError;
        match e {
            BusError::Timeout => FailReason::Timeout,
            BusError::PeerDown => FailReason::PeerDown,
            BusError::NotConnected(_) => FailReason::NotConnected,
            BusError::Overloaded => FailReason::Overloaded,
            _ => FailReason::BusError,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FailReason::Timeout => "timeout",
            FailReason::PeerDown => "peer_down",
            FailReason::NotConnected => "not_connected",
            FailReason::Overloaded => "overloaded",
            FailReason::PendingFull => "pending_full",
            FailReason::BusError => "bus_error",
            FailReason::Shutdown => "shutdown",
            FailReason::Overload => "overload",
        }
    }

    /// The record's `end_reason` of an undecided flow whose packets last got this fail-open.
    pub fn end_reason(self) -> &'static str {
        match self {
            FailReason::Timeout => "fail_open:timeout",
            FailReason::PeerDown => "fail_open:peer_down",
            FailReason::NotConnected => "fail_open:not_connected",
            FailReason::Overloaded => "fail_open:overloaded",
            FailReason::PendingFull => "fail_open:pending_full",
            FailReason::BusError => "fail_open:bus_error",
            FailReason::Shutdown => "fail_open:shutdown",
            FailReason::Overload => "fail_open:overload",
        }
    }

    /// The reason at `i` of [`FAIL_REASONS`].
    pub fn from_index(i: usize) -> Option<FailReason> {
        FAIL_REASONS.get(i).copied()
    }

    pub fn index(self) -> usize {
        match self {
            FailReason::Timeout => 0,
            FailReason::PeerDown => 1,
            FailReason::NotConnected => 2,
            FailReason::Overloaded => 3,
            FailReason::PendingFull => 4,
            FailReason::BusError => 5,
            FailReason::Shutdown => 6,
            FailReason::Overload => 7,
        }
    }
}

/// Non-fatal netlink errors the receive loop counts and survives (`nfguard_netlink_errors_total{reason}`).
pub const NETLINK_REASONS: [&str; 5] = ["enobufs", "enoent", "eintr", "enospc", "other"];

/// `nfguard_kernel_bypassed_packets_total{reason}`: packets the kernel accepted without asking us.
pub const BYPASS_REASONS: [&str; 2] = ["id_gap", "startup"];

const VERDICTS: [Verdict; 3] = [Verdict::Accept, Verdict::Drop, Verdict::Reject];

fn vi(v: Verdict) -> usize {
    match v {
        Verdict::Accept => 0,
        Verdict::Drop => 1,
        Verdict::Reject => 2,
    }
}

/// All counters of one worker.
#[derive(Debug, Default)]
pub struct Stats {
    pub queue: u16,
    packets: [AtomicU64; 3],
    bytes: [AtomicU64; 3],
    flows_decided: [AtomicU64; 3],
    pub held: AtomicU64,
    pub verdict_timeouts: AtomicU64,
    fail_open: [AtomicU64; 8],
    decode_errors: [AtomicU64; 4],
    netlink_errors: [AtomicU64; 5],
    bypassed: [AtomicU64; 2],
    pub flow_table_size: AtomicU64,
    pub flow_table_capacity: AtomicU64,
    pub evictions: AtomicU64,
    pub degraded_rejects: AtomicU64,
    pub midstream_flows: AtomicU64,
    pub recovered_flows: AtomicU64,
    pub offloaded_flows: AtomicU64,
    pub critical_accepts: AtomicU64,
    pub provisional_accepts: AtomicU64,
    /// Batch verdict messages sent, and the packets they answered.
    pub verdict_batches: AtomicU64,
    pub batched_verdicts: AtomicU64,
    pub stale_decisions: AtomicU64,
    pub policy_epoch: AtomicU64,
    /// Flows inserted into the table (the dashboard's "new flows/s").
    pub flows_new: AtomicU64,
    /// Flows that left the table undecided and were published with what is known.
    pub flows_undecided: AtomicU64,
    /// Undecided flows past the record rate limit: counted here and in a summary log line only.
    pub flows_unrecorded: AtomicU64,
}

fn bump(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

impl Stats {
    pub fn new(queue: u16) -> Stats {
        Stats {
            queue,
            ..Stats::default()
        }
    }

    /// One packet got verdict `v` (as the flow sees it: a repeat with pass bits is an accept).
    pub fn packet(&self, v: Verdict, bytes: u64) {
        let i = vi(v);
        if let (Some(p), Some(b)) = (self.packets.get(i), self.bytes.get(i)) {
            bump(p, 1);
            bump(b, bytes);
        }
    }

    pub fn flow_decided(&self, v: Verdict) {
        if let Some(c) = self.flows_decided.get(vi(v)) {
            bump(c, 1);
        }
    }

    pub fn fail_open(&self, r: FailReason) {
        if let Some(c) = self.fail_open.get(r.index()) {
            bump(c, 1);
        }
        if r == FailReason::Timeout {
            bump(&self.verdict_timeouts, 1);
        }
    }

    /// Packets given `default_verdict` for `r` so far.
    pub fn fail_open_count(&self, r: FailReason) -> u64 {
        self.fail_open
            .get(r.index())
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    pub fn decode_error(&self, e: DecodeError) {
        if let Some(c) = self.decode_errors.get(e.index()) {
            bump(c, 1);
        }
    }

    /// Counts a netlink error by errno.
    pub fn netlink_error(&self, errno: Option<i32>) {
        let i = match errno {
            Some(libc::ENOBUFS) => 0,
            Some(libc::ENOENT) => 1,
            Some(libc::EINTR) => 2,
            Some(libc::ENOSPC) => 3,
            _ => 4,
        };
        if let Some(c) = self.netlink_errors.get(i) {
            bump(c, 1);
        }
    }

    /// `reason`: 0 id gap, 1 start-up.
    pub fn bypassed(&self, reason: usize, n: u64) {
        if let Some(c) = self.bypassed.get(reason) {
            bump(c, n);
        }
    }

    pub fn get_bypassed(&self, reason: usize) -> u64 {
        self.bypassed
            .get(reason)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    pub fn get_decode_errors(&self) -> u64 {
        self.decode_errors
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }

    pub fn get_packets(&self, v: Verdict) -> u64 {
        self.packets
            .get(vi(v))
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Writes every counter into a snapshot.
    pub fn report(&self, b: &mut SnapshotBuilder) {
        let q = self.queue.to_string();
        let q = q.as_str();
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        for v in VERDICTS {
            let l = [("queue", q), ("verdict", v.as_str())];
            let i = vi(v);
            if let (Some(p), Some(by), Some(f)) = (
                self.packets.get(i),
                self.bytes.get(i),
                self.flows_decided.get(i),
            ) {
                b.counter("nfguard_packets_total", &l, get(p))
                    .counter("nfguard_bytes_total", &l, get(by))
                    .counter("nfguard_flows_decided_total", &l, get(f));
            }
        }
        let l = [("queue", q)];
        b.gauge("nfguard_held_packets", &l, get(&self.held) as f64)
            .counter(
                "nfguard_verdict_timeouts_total",
                &l,
                get(&self.verdict_timeouts),
            )
            .gauge(
                "nfguard_flow_table_size",
                &l,
                get(&self.flow_table_size) as f64,
            )
            .gauge(
                "nfguard_flow_table_capacity",
                &l,
                get(&self.flow_table_capacity) as f64,
            )
            .counter("nfguard_flow_evictions_total", &l, get(&self.evictions))
            .counter(
                "nfguard_degraded_rejects_total",
                &l,
                get(&self.degraded_rejects),
            )
            .counter(
                "nfguard_midstream_flows_total",
                &l,
                get(&self.midstream_flows),
            )
            .counter(
                "nfguard_recovered_flows_total",
                &l,
                get(&self.recovered_flows),
            )
            .counter(
                "nfguard_offloaded_flows_total",
                &l,
                get(&self.offloaded_flows),
            )
            .counter(
                "nfguard_critical_accepts_total",
                &l,
                get(&self.critical_accepts),
            )
            .counter(
                "nfguard_provisional_accepts_total",
                &l,
                get(&self.provisional_accepts),
            )
            .counter(
                "nfguard_verdict_batches_total",
                &l,
                get(&self.verdict_batches),
            )
            .counter(
                "nfguard_batched_verdicts_total",
                &l,
                get(&self.batched_verdicts),
            )
            .counter(
                "nfguard_stale_decisions_total",
                &l,
                get(&self.stale_decisions),
            )
            .gauge("nfguard_policy_epoch", &l, get(&self.policy_epoch) as f64)
            .counter("nfguard_flows_new_total", &l, get(&self.flows_new))
            .counter(
                "nfguard_flows_undecided_total",
                &l,
                get(&self.flows_undecided),
            )
            .counter(
                "nfguard_flows_unrecorded_total",
                &l,
                get(&self.flows_unrecorded),
            );
        for r in FAIL_REASONS {
            if let Some(c) = self.fail_open.get(r.index()) {
                b.counter(
                    "nfguard_fail_open_total",
                    &[("queue", q), ("reason", r.as_str())],
                    get(c),
                );
            }
        }
        for e in DECODE_ERRORS {
            if let Some(c) = self.decode_errors.get(e.index()) {
                b.counter(
                    "nfguard_decode_errors_total",
                    &[("queue", q), ("reason", e.as_str())],
                    get(c),
                );
            }
        }
        for (r, c) in NETLINK_REASONS.iter().zip(&self.netlink_errors) {
            b.counter(
                "nfguard_netlink_errors_total",
                &[("queue", q), ("reason", r)],
                get(c),
            );
        }
        for (r, c) in BYPASS_REASONS.iter().zip(&self.bypassed) {
            b.counter(
                "nfguard_kernel_bypassed_packets_total",
                &[("queue", q), ("reason", r)],
                get(c),
            );
        }
    }
}

/// Tracks NFQUEUE packet ids: the kernel numbers every packet it queues (`id_sequence`), also those it
/// then had to accept itself (queue full, socket buffer full with fail-open), so a gap is a bypass.
#[derive(Debug, Default, Clone, Copy)]
pub struct IdTracker {
    last: Option<u32>,
}

/// What one id tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IdGap {
    /// Ids skipped before the first packet (read and discarded while configuring, DESIGN §4).
    pub startup: u64,
    pub gap: u64,
}

impl IdTracker {
    pub fn see(&mut self, id: u32) -> IdGap {
        let out = match self.last {
            None => IdGap {
                startup: u64::from(id.saturating_sub(1)),
                gap: 0,
            },
            // Ids grow by one per queued packet; a smaller id is a wrap (or reordering) and not a gap.
            Some(last) if id > last => IdGap {
                startup: 0,
                gap: u64::from(id - last - 1),
            },
            Some(_) => IdGap::default(),
        };
        if self
            .last
            .is_none_or(|l| id > l || l.wrapping_sub(id) > u32::MAX / 2)
        {
            self.last = Some(id);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_gaps_are_counted() {
        let mut t = IdTracker::default();
        assert_eq!(t.see(1), IdGap::default());
        assert_eq!(t.see(2), IdGap::default());
        assert_eq!(t.see(7), IdGap { startup: 0, gap: 4 });
        // Reordering never counts twice.
        assert_eq!(t.see(6), IdGap::default());
        assert_eq!(t.see(8), IdGap::default());
        let mut t = IdTracker::default();
        assert_eq!(t.see(4), IdGap { startup: 3, gap: 0 });
        // Wrap-around after 2^32 packets is not a gap.
        let mut t = IdTracker {
            last: Some(u32::MAX),
        };
        assert_eq!(t.see(1), IdGap::default());
        assert_eq!(t.see(2), IdGap::default());
    }

    #[test]
    fn report_has_labelled_series() {
        let s = Stats::new(3);
        s.packet(Verdict::Drop, 100);
        s.fail_open(FailReason::Timeout);
        s.decode_error(DecodeError::BadTransport);
        let mut b = SnapshotBuilder::new();
        s.report(&mut b);
        let snap = b.finish("capture-q3", 3, 0);
        let find = |name: &str, label: (&str, &str)| {
            snap.metrics
                .iter()
                .find(|m| {
                    m.name == name
                        && m.labels
                            .iter()
                            .any(|l| l.name == label.0 && l.value == label.1)
                })
                .map(|m| m.value)
        };
        assert_eq!(
            find("nfguard_bytes_total", ("verdict", "drop")),
            Some(100.0)
        );
        assert_eq!(
            find("nfguard_fail_open_total", ("reason", "timeout")),
            Some(1.0)
        );
        assert_eq!(
            find("nfguard_verdict_timeouts_total", ("queue", "3")),
            Some(1.0)
        );
        assert_eq!(
            find("nfguard_decode_errors_total", ("reason", "bad_transport")),
            Some(1.0)
        );
    }
}
