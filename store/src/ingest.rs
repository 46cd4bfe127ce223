//! Turning `FlowEvent`s into one write batch: START / UPDATE / END of a flow merge into one record
//! (counters are cumulative, so the record keeps the largest seen and aggregates get the increase), and
//! per-bucket aggregate deltas accumulate in memory until the flush writes them all at once.

use std::collections::HashMap;

use nfguard_proto::pb;

use crate::open::{
    KERNEL_END, MatchKey, NO_KERNEL_END, awaits_kernel, client_key, exact_key, is_capture,
    is_stale, is_swept, keys_of,
};
use crate::schema::{AggValue, Dim, FlowId, Level, RecordKey, agg_names};

/// A capture record may start this much after the conntrack END that matches it (two clocks of one
/// host, read by two processes).
const MATCH_SLACK_MS: u64 = 2_000;

/// Why an event was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    NotAFlowEvent,
    NoFlowRef,
    BadTuple,
}

/// One record as the batch will write it.
#[derive(Debug, Clone)]
pub struct PendingRecord {
    pub key: RecordKey,
    pub id: FlowId,
    /// The store holds it as an open record (its `o` key is rewritten or, once closed, removed).
    pub was_open: bool,
    /// It ended: it leaves the open set for the tail and, later, a block.
    pub closed: bool,
    pub flow: pb::FlowEvent,
}

/// What the batch asks the store about records it does not hold.
pub trait Known {
    type Error;
    /// The open record of a flow.
    fn record(&self, id: &FlowId) -> Result<Option<(RecordKey, pb::FlowEvent)>, Self::Error>;
    /// Ids of open capture records found under `key`.
    fn candidates(&self, _key: &MatchKey, _out: &mut Vec<FlowId>) {}
    /// True when a capture record of this flow was closed early (`open::closes_early`).
    fn closed_early(&self, _id: &FlowId) -> bool {
        false
    }
    /// Ids of open records the sweep should close at `now_ms` (`open::is_stale`).
    fn stale(&self, _now_ms: u64, _out: &mut Vec<FlowId>) {}
}

/// [`Known`] from a lookup function alone: no conntrack matches against stored records.
struct ByLookup<F>(F);

impl<F, E> Known for ByLookup<F>
where
    F: Fn(&FlowId) -> Result<Option<(RecordKey, pb::FlowEvent)>, E>,
{
    type Error = E;
    fn record(&self, id: &FlowId) -> Result<Option<(RecordKey, pb::FlowEvent)>, E> {
        (self.0)(id)
    }
}

/// See [`Batch::aggs`].
pub type Deltas = HashMap<Vec<u8>, [Vec<(u64, AggValue)>; 3]>;

/// Everything one flush writes.
#[derive(Debug, Default)]
pub struct Batch {
    pub records: HashMap<FlowId, PendingRecord>,
    /// Aggregate increases: dimension byte and name → per level ([`Level::ALL`] order) the buckets
    /// touched (start s, increase): a name is hashed once per event, its buckets searched in a short
    /// list.
    pub aggs: Deltas,
    /// Records created by this batch (the stored record count grows by this much).
    pub new_records: u64,
    pub events: u64,
    /// Oldest event time in the batch, ms (for the ingest-lag gauge).
    pub oldest_event_ms: Option<u64>,
    /// Conntrack ENDs merged into a capture record, and late capture events dropped after one.
    pub kernel_merged: u64,
    pub late_dropped: u64,
    /// Offloaded records closed by [`Batch::sweep`] without a kernel END.
    pub swept: u64,
    /// Match index of this batch's capture records (the store's covers the rest).
    index: HashMap<MatchKey, Vec<FlowId>>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.events == 0
    }

    /// Merges one event. `stored` finds a flow's open record in the store when this batch has none;
    /// conntrack ENDs match only this batch's records (see [`Batch::add_known`]).
    ///
    /// # Errors
    /// [`Malformed`] for an event without flow reference or with a tuple of the wrong shape; it changes
    /// nothing.
    pub fn add<E>(
        &mut self,
        ev: pb::FlowEvent,
        now_ms: u64,
        stored: impl Fn(&FlowId) -> Result<Option<(RecordKey, pb::FlowEvent)>, E>,
    ) -> Result<Result<(), Malformed>, E> {
        self.add_known(ev, now_ms, ByLookup(stored))
    }

    /// [`Batch::add`] with a full view of the store ([`crate::StoreKnown`]): a conntrack END also
    /// finds the open capture records of the same flow there.
    ///
    /// # Errors
    /// As [`Batch::add`].
    pub fn add_known<K: Known>(
        &mut self,
        ev: pb::FlowEvent,
        now_ms: u64,
        known: K,
    ) -> Result<Result<(), Malformed>, K::Error> {
        let Some(ev_id) = FlowId::from_pb(ev.flow.as_ref()) else {
            return Ok(Err(Malformed::NoFlowRef));
        };
        if let Some(t) = &ev.tuple
            && nfguard_proto::FlowKey::from_tuple(t).is_none()
        {
            return Ok(Err(Malformed::BadTuple));
        }
        let event_ms = if ev.last_seen_unix_ms != 0 {
            ev.last_seen_unix_ms
        } else {
            now_ms
        };
        self.events += 1;
        self.oldest_event_ms = Some(self.oldest_event_ms.map_or(event_ms, |o| o.min(event_ms)));
        // A conntrack END goes to the capture's record of the same flow when there is one.
        let matched = if is_capture(&ev_id) {
            None
        } else {
            self.find_match(&ev, event_ms, &known)?
        };
        let (id, reversed) = matched.unwrap_or((ev_id, false));
        let old = match self.records.remove(&id) {
            Some(p) => Some(p),
            None => known.record(&id)?.map(|(key, flow)| PendingRecord {
                key,
                id,
                was_open: true,
                closed: false,
                flow,
            }),
        };
        if old.is_none() && is_capture(&id) && known.closed_early(&id) {
            // The kernel's END already closed this flow's record with its final totals.
            self.late_dropped += 1;
            return Ok(Ok(()));
        }
        let (merged, delta) = match old {
            Some(p)
                if matched.is_none()
                    && is_capture(&p.id)
                    && (p.flow.end_reason == KERNEL_END || is_swept(&p.id, &p.flow)) =>
            {
                // Same: a capture event after the kernel END of this batch, or after the sweep ended
                // the record (its capture gave up on the flow).
                self.late_dropped += 1;
                self.records.insert(id, p);
                return Ok(Ok(()));
            }
            Some(mut p) => {
                let before = counters(&p.flow);
                if matched.is_some() {
                    merge_kernel_end(&mut p.flow, ev, reversed);
                    self.kernel_merged += 1;
                } else {
                    merge(&mut p.flow, ev);
                }
                hold_for_kernel(&p.id, &mut p.flow);
                let after = counters(&p.flow);
                let delta = AggValue {
                    flows: 0,
                    bytes: after.bytes.saturating_sub(before.bytes),
                    packets: after.packets.saturating_sub(before.packets),
                };
                (p, delta)
            }
            None => {
                let mut flow = ev;
                if flow.first_seen_unix_ms == 0 {
                    flow.first_seen_unix_ms = event_ms;
                }
                flow.last_seen_unix_ms = flow.last_seen_unix_ms.max(flow.first_seen_unix_ms);
                hold_for_kernel(&id, &mut flow);
                let mut delta = counters(&flow);
                delta.flows = 1;
                let key = RecordKey::new(flow.first_seen_unix_ms, &id);
                self.new_records += 1;
                if is_capture(&id) {
                    for k in keys_of(&flow) {
                        self.index.entry(k).or_default().push(id);
                    }
                }
                (
                    PendingRecord {
                        key,
                        id,
                        was_open: false,
                        closed: false,
                        flow,
                    },
                    delta,
                )
            }
        };
        // A new flow counts in the bucket it started in; bytes count when they were reported.
        let started = AggValue {
            flows: delta.flows.min(1),
            ..Default::default()
        };
        let reported = AggValue { flows: 0, ..delta };
        self.add_agg(
            &merged.flow,
            [
                (merged.flow.first_seen_unix_ms, started),
                (event_ms, reported),
            ],
        );
        self.put(merged);
        Ok(Ok(()))
    }

    /// Ends the offloaded records that waited too long for the kernel's END (`open::is_stale`):
    /// they end with the counters the capture saw and [`NO_KERNEL_END`], and stay open for
    /// [`crate::open::SWEPT_LINGER_MS`] so a late kernel END still merges into them; a later sweep closes them.
    /// Aggregates are unchanged (nothing new was counted). Returns how many it ended.
    ///
    /// # Errors
    /// A failed lookup in the store.
    pub fn sweep<K: Known>(&mut self, now_ms: u64, known: K) -> Result<u64, K::Error> {
        let mut ids = Vec::new();
        known.stale(now_ms, &mut ids);
        ids.extend(self.records.values().filter(|p| !p.closed).map(|p| p.id));
        let mut n = 0;
        for id in ids {
            let p = match self.records.remove(&id) {
                Some(p) => p,
                None => match known.record(&id)? {
                    Some((key, flow)) => PendingRecord {
                        key,
                        id,
                        was_open: true,
                        closed: false,
                        flow,
                    },
                    None => continue,
                },
            };
            let mut p = p;
            if !p.closed && !is_swept(&p.id, &p.flow) && is_stale(&p.id, &p.flow, now_ms) {
                p.flow.kind = pb::FlowEventKind::FlowEventEnd as i32;
                p.flow.end_reason = NO_KERNEL_END.into();
                n += 1;
                self.events += 1;
            }
            if !p.closed && is_swept(&p.id, &p.flow) && is_stale(&p.id, &p.flow, now_ms) {
                // Lingered long enough: closed for good (no longer matched by kernel ENDs).
                p.closed = true;
                self.events += 1;
                self.records.insert(p.id, p);
                continue;
            }
            self.put(p);
        }
        self.swept += n;
        Ok(n)
    }

    /// Puts a record into the batch, marking it closed when it ended (the flush then moves it from the
    /// open set to the tail, `db.rs` `write_with`), unless the sweep ended it and it lingers for a
    /// late kernel END ([`Batch::sweep`] closes those).
    fn put(&mut self, mut p: PendingRecord) {
        p.closed =
            p.flow.kind == pb::FlowEventKind::FlowEventEnd as i32 && !is_swept(&p.id, &p.flow);
        self.records.insert(p.id, p);
    }

    /// The capture record a conntrack END belongs to (see `open.rs` for the order), and whether its
    /// sides are swapped relative to the END's.
    fn find_match<K: Known>(
        &self,
        ev: &pb::FlowEvent,
        event_ms: u64,
        known: &K,
    ) -> Result<Option<(FlowId, bool)>, K::Error> {
        let Some(t) = &ev.tuple else {
            return Ok(None);
        };
        let tiers = [
            (exact_key(t, false), false),
            (exact_key(t, true), true),
            (client_key(t), false),
        ];
        let mut ids = Vec::new();
        for (key, reversed) in tiers {
            let Some(key) = key else { continue };
            ids.clear();
            known.candidates(&key, &mut ids);
            if let Some(v) = self.index.get(&key) {
                ids.extend_from_slice(v);
            }
            let mut best: Option<(u64, bool, FlowId)> = None;
            for id in &ids {
                let flow = match self.records.get(id) {
                    Some(p) if p.closed => continue,
                    Some(p) => p.flow.clone(),
                    None => match known.record(id)? {
                        Some((_, f)) => f,
                        None => continue,
                    },
                };
                if flow.end_reason == KERNEL_END
                    || flow.first_seen_unix_ms > event_ms.saturating_add(MATCH_SLACK_MS)
                {
                    continue;
                }
                // Oldest first; among equals an offloaded record.
                let rank = (flow.first_seen_unix_ms, !flow.offloaded, *id);
                if best.is_none_or(|b| (rank.0, rank.1) < (b.0, b.1)) {
                    best = Some(rank);
                }
            }
            if let Some((_, _, id)) = best {
                return Ok(Some((id, reversed)));
            }
        }
        Ok(None)
    }

    /// Adds increases at times (ms) to every aggregate of the flow; zero ones are skipped.
    fn add_agg(&mut self, flow: &pb::FlowEvent, adds: [(u64, AggValue); 2]) {
        if adds.iter().all(|(_, v)| *v == AggValue::default()) {
            return;
        }
        let mut key = Vec::with_capacity(64);
        for (dim, name) in agg_names(flow) {
            // LAN-host usage is read per day only (UsageSnapshot), so finer buckets would be waste.
            let levels: &[Level] = if dim == Dim::Client {
                &[Level::Day]
            } else {
                &Level::ALL
            };
            key.clear();
            key.push(dim as u8);
            key.extend_from_slice(name);
            // One hash when the name is there already (the common case), two when it is new.
            match self.aggs.get_mut(key.as_slice()) {
                Some(per_level) => add_to_buckets(per_level, levels, &adds),
                None => add_to_buckets(self.aggs.entry(key.clone()).or_default(), levels, &adds),
            }
        }
    }
}

/// Adds increases at times (ms) to one name's buckets of `levels`.
fn add_to_buckets(
    per_level: &mut [Vec<(u64, AggValue)>; 3],
    levels: &[Level],
    adds: &[(u64, AggValue); 2],
) {
    for (l, slots) in Level::ALL.iter().zip(per_level.iter_mut()) {
        if !levels.contains(l) {
            continue;
        }
        for (t_ms, v) in adds {
            if *v == AggValue::default() {
                continue;
            }
            let bucket = l.bucket(t_ms / 1000);
            // Events come roughly in time order: the bucket is most often the last one.
            match slots.iter_mut().rev().find(|s| s.0 == bucket) {
                Some(s) => s.1.add(v),
                None => slots.push((bucket, *v)),
            }
        }
    }
}

/// An offloaded capture record whose capture END came first stays active until the kernel's END.
fn hold_for_kernel(id: &FlowId, f: &mut pb::FlowEvent) {
    if awaits_kernel(id, f) && f.kind == pb::FlowEventKind::FlowEventEnd as i32 {
        f.kind = pb::FlowEventKind::FlowEventUpdate as i32;
    }
}

/// Merges a conntrack END into the capture's record of the flow: the kernel's totals (per direction,
/// swapped when the capture saw the sides the other way round) and end time; app, host, rule and
/// verdict stay the capture's (the END's come from the connmark's few bits).
pub fn merge_kernel_end(rec: &mut pb::FlowEvent, ev: pb::FlowEvent, reversed: bool) {
    let (p_c2s, b_c2s, p_s2c, b_s2c) = if reversed {
        (ev.packets_s2c, ev.bytes_s2c, ev.packets_c2s, ev.bytes_c2s)
    } else {
        (ev.packets_c2s, ev.bytes_c2s, ev.packets_s2c, ev.bytes_s2c)
    };
    rec.packets_c2s = rec.packets_c2s.max(p_c2s);
    rec.bytes_c2s = rec.bytes_c2s.max(b_c2s);
    rec.packets_s2c = rec.packets_s2c.max(p_s2c);
    rec.bytes_s2c = rec.bytes_s2c.max(b_s2c);
    rec.last_seen_unix_ms = rec.last_seen_unix_ms.max(ev.last_seen_unix_ms);
    if rec.label.is_empty() {
        rec.label = ev.label;
    }
    if rec.verdict.is_empty() {
        rec.verdict = ev.verdict;
    }
    rec.kind = pb::FlowEventKind::FlowEventEnd as i32;
    rec.end_reason = KERNEL_END.into();
    rec.offloaded = true;
}

/// A record's cumulative bytes and packets, both directions.
pub fn counters(f: &pb::FlowEvent) -> AggValue {
    AggValue {
        flows: 1,
        bytes: f.bytes_c2s.saturating_add(f.bytes_s2c),
        packets: f.packets_c2s.saturating_add(f.packets_s2c),
    }
}

/// Merges a later event into a record: identity fields from whichever has them, counters as maxima
/// (they are cumulative; an END from conntrack carries the kernel's totals for an offloaded flow).
pub fn merge(rec: &mut pb::FlowEvent, ev: pb::FlowEvent) {
    rec.kind = rec.kind.max(ev.kind);
    if ev.tuple.is_some() {
        rec.tuple = ev.tuple;
    }
    if ev.classification.is_some() {
        rec.classification = ev.classification;
    }
    for (r, e) in [
        (&mut rec.label, ev.label),
        (&mut rec.verdict, ev.verdict),
        (&mut rec.rule, ev.rule),
        (&mut rec.end_reason, ev.end_reason),
    ] {
        if !e.is_empty() {
            *r = e;
        }
    }
    rec.packets_c2s = rec.packets_c2s.max(ev.packets_c2s);
    rec.bytes_c2s = rec.bytes_c2s.max(ev.bytes_c2s);
    rec.packets_s2c = rec.packets_s2c.max(ev.packets_s2c);
    rec.bytes_s2c = rec.bytes_s2c.max(ev.bytes_s2c);
    rec.last_seen_unix_ms = rec.last_seen_unix_ms.max(ev.last_seen_unix_ms);
    rec.offloaded |= ev.offloaded;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ev(kind: pb::FlowEventKind, bytes: u64, last: u64) -> pb::FlowEvent {
        pb::FlowEvent {
            kind: kind as i32,
            flow: Some(pb::FlowRef {
                queue: 1,
                boot_id: 2,
                flow_id: 3,
            }),
            label: "TLS.YouTube".into(),
            verdict: "accept".into(),
            bytes_c2s: bytes,
            packets_c2s: bytes / 100,
            first_seen_unix_ms: 60_000,
            last_seen_unix_ms: last,
            ..Default::default()
        }
    }

    fn none(_: &FlowId) -> Result<Option<(RecordKey, pb::FlowEvent)>, ()> {
        Ok(None)
    }

    fn tuple(c: [u8; 4], cp: u32, s: [u8; 4], sp: u32) -> Option<pb::Tuple> {
        Some(pb::Tuple {
            client_ip: c.to_vec(),
            server_ip: s.to_vec(),
            client_port: cp,
            server_port: sp,
            l4: 6,
        })
    }

    fn capture(flow_id: u64, first: u64, t: Option<pb::Tuple>) -> pb::FlowEvent {
        pb::FlowEvent {
            kind: pb::FlowEventKind::FlowEventStart as i32,
            flow: Some(pb::FlowRef {
                queue: 0,
                boot_id: 5,
                flow_id,
            }),
            tuple: t,
            classification: Some(pb::Classification {
                host: "files.example.test".into(),
                ..Default::default()
            }),
            label: "HTTP".into(),
            verdict: "accept".into(),
            rule: "files".into(),
            bytes_c2s: 200,
            bytes_s2c: 113,
            packets_c2s: 2,
            packets_s2c: 1,
            first_seen_unix_ms: first,
            last_seen_unix_ms: first,
            offloaded: true,
            ..Default::default()
        }
    }

    fn kernel_end(ct_id: u64, at: u64, t: Option<pb::Tuple>) -> pb::FlowEvent {
        pb::FlowEvent {
            kind: pb::FlowEventKind::FlowEventEnd as i32,
            flow: Some(pb::FlowRef {
                queue: crate::open::CONNTRACK_QUEUE,
                boot_id: 9,
                flow_id: ct_id,
            }),
            tuple: t,
            label: "HTTP".into(),
            verdict: "accept".into(),
            bytes_c2s: 500,
            bytes_s2c: 10_000_000,
            packets_c2s: 300,
            packets_s2c: 7000,
            last_seen_unix_ms: at,
            end_reason: KERNEL_END.into(),
            offloaded: true,
            ..Default::default()
        }
    }

    fn app_bytes(b: &Batch, app: &str) -> u64 {
        let key = [&[Dim::App as u8][..], app.as_bytes()].concat();
        b.aggs
            .get(&key)
            .map_or(0, |l| l[2].iter().map(|s| s.1.bytes).sum())
    }

    #[test]
    fn kernel_end_merges_into_the_capture_record() {
        let t = tuple([10, 0, 0, 2], 40_000, [10, 0, 1, 2], 80);
        let mut b = Batch::default();
        b.add(capture(1, 1_000, t.clone()), 0, none)
            .unwrap()
            .unwrap();
        // The capture's idle END of an offloaded flow does not end it.
        let mut idle = capture(1, 1_000, t.clone());
        idle.kind = pb::FlowEventKind::FlowEventEnd as i32;
        idle.end_reason = "idle".into();
        b.add(idle, 0, none).unwrap().unwrap();
        let r = b.records.values().next().unwrap();
        assert_eq!(r.flow.kind, pb::FlowEventKind::FlowEventUpdate as i32);
        assert!(!r.closed);
        b.add(kernel_end(77, 9_000, t.clone()), 0, none)
            .unwrap()
            .unwrap();
        assert_eq!(b.records.len(), 1);
        assert_eq!(b.new_records, 1);
        assert_eq!(b.kernel_merged, 1);
        let r = b.records.values().next().unwrap();
        assert!(r.closed);
        assert_eq!(r.flow.bytes_c2s + r.flow.bytes_s2c, 10_000_500);
        assert_eq!(r.flow.rule, "files");
        assert_eq!(
            r.flow.classification.as_ref().unwrap().host,
            "files.example.test"
        );
        assert_eq!(r.flow.end_reason, KERNEL_END);
        assert_eq!(r.flow.kind, pb::FlowEventKind::FlowEventEnd as i32);
        assert_eq!(app_bytes(&b, "HTTP"), 10_000_500);
        // The capture's shutdown END afterwards changes nothing.
        let mut late = capture(1, 1_000, t);
        late.kind = pb::FlowEventKind::FlowEventEnd as i32;
        late.end_reason = "shutdown".into();
        b.add(late, 0, none).unwrap().unwrap();
        assert_eq!(
            b.records.values().next().unwrap().flow.end_reason,
            KERNEL_END
        );
        assert_eq!(b.late_dropped, 1);
    }

    #[test]
    fn dnat_reversed_and_unmatched_ends() {
        let mut b = Batch::default();
        // Capture saw 10.0.0.2:40000 -> 10.0.1.2:80 after DNAT from 203.0.113.5:80.
        b.add(
            capture(1, 1_000, tuple([10, 0, 0, 2], 40_000, [10, 0, 1, 2], 80)),
            0,
            none,
        )
        .unwrap()
        .unwrap();
        b.add(
            kernel_end(5, 2_000, tuple([10, 0, 0, 2], 40_000, [203, 0, 113, 5], 80)),
            0,
            none,
        )
        .unwrap()
        .unwrap();
        assert_eq!(b.records.len(), 1);
        // A capture whose client is the kernel's reply side: counters swap.
        b.add(
            capture(2, 1_000, tuple([10, 0, 0, 3], 5353, [10, 0, 1, 3], 6000)),
            0,
            none,
        )
        .unwrap()
        .unwrap();
        b.add(
            kernel_end(6, 2_000, tuple([10, 0, 1, 3], 6000, [10, 0, 0, 3], 5353)),
            0,
            none,
        )
        .unwrap()
        .unwrap();
        let r = &b.records[&FlowId {
            queue: 0,
            boot_id: 5,
            flow_id: 2,
        }];
        assert_eq!((r.flow.bytes_c2s, r.flow.bytes_s2c), (10_000_000, 500));
        // Nothing to match: its own record, as before.
        b.add(
            kernel_end(7, 2_000, tuple([10, 9, 9, 9], 1, [10, 0, 1, 3], 2)),
            0,
            none,
        )
        .unwrap()
        .unwrap();
        assert_eq!(b.records.len(), 3);
        assert_eq!(b.kernel_merged, 2);
    }

    #[test]
    fn port_reuse_goes_to_the_oldest_unended_record() {
        let t = tuple([10, 0, 0, 2], 40_000, [10, 0, 1, 2], 80);
        let mut b = Batch::default();
        b.add(capture(1, 1_000, t.clone()), 0, none)
            .unwrap()
            .unwrap();
        b.add(capture(2, 5_000, t.clone()), 0, none)
            .unwrap()
            .unwrap();
        b.add(kernel_end(8, 4_000, t.clone()), 0, none)
            .unwrap()
            .unwrap();
        b.add(kernel_end(9, 9_000, t.clone()), 0, none)
            .unwrap()
            .unwrap();
        let f = |i| {
            &b.records[&FlowId {
                queue: 0,
                boot_id: 5,
                flow_id: i,
            }]
                .flow
        };
        assert_eq!(f(1).end_reason, KERNEL_END);
        assert_eq!(f(2).end_reason, KERNEL_END);
        assert_eq!(b.records.len(), 2);
        // A record that started after the END (beyond the slack) is not its flow.
        let mut b = Batch::default();
        b.add(capture(3, 50_000, t.clone()), 0, none)
            .unwrap()
            .unwrap();
        b.add(kernel_end(10, 40_000, t), 0, none).unwrap().unwrap();
        assert_eq!(b.records.len(), 2);
    }

    #[test]
    fn start_update_end_make_one_record_and_deltas() {
        let mut b = Batch::default();
        b.add(ev(pb::FlowEventKind::FlowEventStart, 1000, 60_000), 0, none)
            .unwrap()
            .unwrap();
        b.add(
            ev(pb::FlowEventKind::FlowEventUpdate, 5000, 120_000),
            0,
            none,
        )
        .unwrap()
        .unwrap();
        b.add(ev(pb::FlowEventKind::FlowEventEnd, 4000, 130_000), 0, none)
            .unwrap()
            .unwrap();
        assert_eq!(b.records.len(), 1);
        assert_eq!(b.new_records, 1);
        let r = b.records.values().next().unwrap();
        assert_eq!(r.flow.bytes_c2s, 5000);
        assert_eq!(r.flow.kind, pb::FlowEventKind::FlowEventEnd as i32);
        let total = |bucket: u64| {
            b.aggs
                .get(&[Dim::Total as u8][..])
                .and_then(|l| l[0].iter().find(|s| s.0 == bucket))
                .map(|s| s.1)
                .unwrap_or_default()
        };
        assert_eq!(
            total(60),
            AggValue {
                flows: 1,
                bytes: 1000,
                packets: 10
            }
        );
        assert_eq!(total(120).bytes, 4000);
        assert_eq!(total(60).bytes + total(120).bytes, 5000);
    }

    #[test]
    fn no_flow_ref_is_malformed() {
        let mut b = Batch::default();
        let mut e = ev(pb::FlowEventKind::FlowEventStart, 1, 1);
        e.flow = None;
        assert_eq!(b.add(e, 0, none).unwrap(), Err(Malformed::NoFlowRef));
        let mut e = ev(pb::FlowEventKind::FlowEventStart, 1, 1);
        e.tuple = Some(pb::Tuple {
            client_ip: vec![1, 2, 3],
            ..Default::default()
        });
        assert_eq!(b.add(e, 0, none).unwrap(), Err(Malformed::BadTuple));
        assert!(b.is_empty());
    }
}
