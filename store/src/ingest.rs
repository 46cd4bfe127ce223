//! Turning `FlowEvent`s into one write batch: START / UPDATE / END of a flow merge into one record
//! (counters are cumulative, so the record keeps the largest seen and aggregates get the increase), and
//! per-bucket aggregate deltas accumulate in memory until the flush writes them all at once.

use std::collections::HashMap;

use nfguard_proto::pb;

use crate::schema::{AggValue, Dim, FlowId, Level, RecordKey, agg_key, agg_names, index_values};

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
    /// Index entries of the stored version (removed if the new version indexes differently); `None` for a
    /// record not yet stored.
    pub stored_index: Option<Vec<(Dim, Vec<u8>)>>,
    pub flow: pb::FlowEvent,
}

/// Everything one flush writes.
#[derive(Debug, Default)]
pub struct Batch {
    pub records: HashMap<FlowId, PendingRecord>,
    /// Aggregate key → increase.
    pub aggs: HashMap<Vec<u8>, AggValue>,
    /// Records created by this batch (the stored record count grows by this much).
    pub new_records: u64,
    pub events: u64,
    /// Oldest event time in the batch, ms (for the ingest-lag gauge).
    pub oldest_event_ms: Option<u64>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.events == 0
    }

    /// Merges one event. `stored` finds a flow's record in the database when this batch has none.
    ///
    /// # Errors
    /// [`Malformed`] for an event without flow reference or with a tuple of the wrong shape; it changes
    /// nothing.
    pub fn add<E>(
        &mut self,
        ev: pb::FlowEvent,
        now_ms: u64,
        stored: impl FnOnce(&FlowId) -> Result<Option<(RecordKey, pb::FlowEvent)>, E>,
    ) -> Result<Result<(), Malformed>, E> {
        let Some(id) = FlowId::from_pb(ev.flow.as_ref()) else {
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
        let (old, is_new) = match self.records.remove(&id) {
            Some(p) => (Some(p), false),
            None => match stored(&id)? {
                Some((key, flow)) => (
                    Some(PendingRecord {
                        key,
                        id,
                        stored_index: Some(index_values(&flow)),
                        flow,
                    }),
                    false,
                ),
                None => (None, true),
            },
        };
        let (merged, delta) = match old {
            Some(mut p) => {
                let before = counters(&p.flow);
                merge(&mut p.flow, ev);
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
                let mut delta = counters(&flow);
                delta.flows = 1;
                let key = RecordKey::new(flow.first_seen_unix_ms, &id);
                (
                    PendingRecord {
                        key,
                        id,
                        stored_index: None,
                        flow,
                    },
                    delta,
                )
            }
        };
        if is_new {
            self.new_records += 1;
        }
        // A new flow counts in the bucket it started in; bytes count when they were reported.
        if delta.flows > 0 {
            self.add_agg(
                &merged.flow,
                merged.flow.first_seen_unix_ms,
                &AggValue {
                    flows: 1,
                    ..Default::default()
                },
            );
        }
        if delta.bytes > 0 || delta.packets > 0 {
            self.add_agg(&merged.flow, event_ms, &AggValue { flows: 0, ..delta });
        }
        self.records.insert(id, merged);
        self.events += 1;
        self.oldest_event_ms = Some(self.oldest_event_ms.map_or(event_ms, |o| o.min(event_ms)));
        Ok(Ok(()))
    }

    fn add_agg(&mut self, flow: &pb::FlowEvent, t_ms: u64, v: &AggValue) {
        let t_s = t_ms / 1000;
        for (dim, name) in agg_names(flow) {
            // LAN-host usage is read per day only (UsageSnapshot), so finer buckets would be waste.
            let levels: &[Level] = if dim == Dim::Client {
                &[Level::Day]
            } else {
                &Level::ALL
            };
            for l in levels {
                self.aggs
                    .entry(agg_key(dim, *l, l.bucket(t_s), &name))
                    .or_default()
                    .add(v);
            }
        }
    }
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
                .get(&agg_key(Dim::Total, Level::Minute, bucket, b""))
                .copied()
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
