//! Open flows: records that have not ended, held in memory (and under `o` keys on disk) until they do,
//! indexed by their tuple so a conntrack END finds the capture's record of the same flow.
//!
//! Matching (DESIGN §8, one record per flow): the capture hooks FORWARD in mangle, so its tuple is
//! post-DNAT and pre-SNAT; the conntrack END carries the kernel's *original* tuple, which is pre-NAT.
//! SNAT changes neither side's view of the client (it happens after FORWARD, and the original tuple is
//! the client's), DNAT changes the server address. So an END matches, in this order: the exact tuple,
//! the exact tuple reversed (a UDP flow whose capture "client" is the kernel's reply side), then the
//! client side alone (address, port, protocol: a DNAT'd flow). Among candidates the oldest capture
//! record that has no kernel END yet and started before the END wins: with port reuse the kernel ends
//! connections in the order they existed; after a capture restart the first record (with host and
//! rule) gets the totals. A record the sweep ended for want of a kernel END stays here, shown as
//! ended, for [`SWEPT_LINGER_MS`], so a kernel END that comes late still merges into it.

use std::collections::{BTreeMap, HashMap};

use nfguard_proto::pb;

use crate::codec::{Reader, compress, decompress, put_varint};
use crate::schema::{FlowId, RecordKey};

/// The conntrack worker's `FlowRef.queue` (capture `conntrack.rs`: `u16::MAX`).
pub const CONNTRACK_QUEUE: u32 = u16::MAX as u32;
/// `end_reason` of a conntrack END; a record carrying it has the kernel's final totals.
pub const KERNEL_END: &str = "conntrack";
/// `end_reason` of an offloaded record the sweep closed because no kernel END came (no conntrack
/// worker, or its event was lost): it keeps the counters the capture saw.
pub const NO_KERNEL_END: &str = "no-kernel-end";

/// How long an offloaded capture record waits for the kernel's END after its last event before the
/// sweep closes it ([`NO_KERNEL_END`]): the capture's idle timeout for the flow's protocol
/// (`capture/src/flow_table.rs`, `Timeouts::default`; not configurable, so mirrored here). A live flow
/// the capture still tracks gets an UPDATE every `flow_update_interval` (≤ these), so only a flow the
/// capture gave up on, or whose capture died, waits this long without events; the kernel ends an idle
/// offloaded flow within about the same time (nf_conntrack's UDP stream timeout is 120 s, a closed TCP
/// connection's 120 s), so a kernel END that comes later is rare.
pub fn kernel_end_wait_ms(f: &pb::FlowEvent) -> u64 {
    match f.tuple.as_ref().map(|t| t.l4) {
        Some(6) => 3_600_000,
        Some(17) => 120_000,
        _ => 30_000,
    }
}

/// How long a record the sweep ended ([`NO_KERNEL_END`]) stays open, shown as ended, so that a kernel
/// END that comes later still merges into it instead of becoming a second record: as long as the
/// flow's id is remembered once closed ([`CLOSED_EARLY_MEMORY_MS`]).
pub const SWEPT_LINGER_MS: u64 = CLOSED_EARLY_MEMORY_MS;

/// True for a capture record the sweep ended that still waits for a late kernel END.
pub fn is_swept(id: &FlowId, f: &pb::FlowEvent) -> bool {
    awaits_kernel(id, f) && f.end_reason == NO_KERNEL_END
}

/// True for an offloaded capture record still waiting for the kernel's END whose last event is at
/// least its [`kernel_end_wait_ms`] before `now_ms` (the sweep ends it), or, once ended so, another
/// [`SWEPT_LINGER_MS`] (the sweep closes it).
pub fn is_stale(id: &FlowId, f: &pb::FlowEvent, now_ms: u64) -> bool {
    let last = f.last_seen_unix_ms.max(f.first_seen_unix_ms);
    let linger = if is_swept(id, f) { SWEPT_LINGER_MS } else { 0 };
    awaits_kernel(id, f)
        && now_ms.saturating_sub(last) >= kernel_end_wait_ms(f).saturating_add(linger)
}

/// True when a closing record's flow id must be remembered ([`CLOSED_EARLY_MEMORY_MS`]): a capture
/// record closed by a kernel END or by the sweep, whose capture may still send events for it.
pub fn closes_early(id: &FlowId, f: &pb::FlowEvent) -> bool {
    is_capture(id) && (f.end_reason == KERNEL_END || f.end_reason == NO_KERNEL_END)
}

/// The stored form of a list of flow ids (schema `k` values).
pub fn encode_ids(ids: &[FlowId]) -> Vec<u8> {
    let mut raw = Vec::with_capacity(ids.len() * 12 + 4);
    put_varint(&mut raw, ids.len() as u64);
    for id in ids {
        put_varint(&mut raw, u64::from(id.queue));
        put_varint(&mut raw, id.boot_id);
        put_varint(&mut raw, id.flow_id);
    }
    compress(&raw)
}

/// Ids from [`encode_ids`]; `None` if corrupt.
pub fn decode_ids(b: &[u8]) -> Option<Vec<FlowId>> {
    let raw = decompress(b)?;
    let mut r = Reader::new(&raw);
    let n = r.len(MAX_IDS)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(FlowId {
            queue: u32::try_from(r.varint()?).ok()?,
            boot_id: r.varint()?,
            flow_id: r.varint()?,
        });
    }
    r.is_empty().then_some(out)
}

/// Upper bound on ids read back from one list (one flush closes at most `MAX_BATCH_EVENTS`).
const MAX_IDS: usize = 1 << 20;

/// A lookup key for conntrack matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchKey {
    /// Client address and port, server address and port, protocol (addresses as IPv6, v4-mapped).
    Exact([u8; 37]),
    /// Client address and port, protocol.
    Client([u8; 19]),
}

fn ip16(b: &[u8]) -> Option<[u8; 16]> {
    match b.len() {
        4 => {
            let mut o = [0u8; 16];
            o[10] = 0xff;
            o[11] = 0xff;
            o[12..].copy_from_slice(b);
            Some(o)
        }
        16 => b.try_into().ok(),
        _ => None,
    }
}

fn port(p: u32) -> [u8; 2] {
    u16::try_from(p).unwrap_or(u16::MAX).to_be_bytes()
}

/// The exact key of a tuple, optionally with its sides swapped.
pub fn exact_key(t: &pb::Tuple, reversed: bool) -> Option<MatchKey> {
    let (a, ap, b, bp) = if reversed {
        (&t.server_ip, t.server_port, &t.client_ip, t.client_port)
    } else {
        (&t.client_ip, t.client_port, &t.server_ip, t.server_port)
    };
    let mut k = [0u8; 37];
    k[..16].copy_from_slice(&ip16(a)?);
    k[16..18].copy_from_slice(&port(ap));
    k[18..34].copy_from_slice(&ip16(b)?);
    k[34..36].copy_from_slice(&port(bp));
    k[36] = u8::try_from(t.l4).unwrap_or(u8::MAX);
    Some(MatchKey::Exact(k))
}

/// The client-side key of a tuple.
pub fn client_key(t: &pb::Tuple) -> Option<MatchKey> {
    let mut k = [0u8; 19];
    k[..16].copy_from_slice(&ip16(&t.client_ip)?);
    k[16..18].copy_from_slice(&port(t.client_port));
    k[18] = u8::try_from(t.l4).unwrap_or(u8::MAX);
    Some(MatchKey::Client(k))
}

/// The keys under which a capture record is found: exact and client side.
pub fn keys_of(f: &pb::FlowEvent) -> Vec<MatchKey> {
    let Some(t) = &f.tuple else {
        return Vec::new();
    };
    [exact_key(t, false), client_key(t)]
        .into_iter()
        .flatten()
        .collect()
}

/// True for a record a capture worker made (not the conntrack worker).
pub fn is_capture(id: &FlowId) -> bool {
    id.queue != CONNTRACK_QUEUE
}

/// True when a capture record's offloaded flow ended at the capture but the kernel has not said so
/// yet: it stays open so the conntrack END can still merge into it.
pub fn awaits_kernel(id: &FlowId, f: &pb::FlowEvent) -> bool {
    is_capture(id) && f.offloaded && f.end_reason != KERNEL_END
}

/// The open records and their match index.
#[derive(Debug, Default)]
pub struct OpenSet {
    recs: HashMap<FlowId, pb::FlowEvent>,
    /// Record keys in order, so a page of newest flows reads only what it returns.
    order: BTreeMap<RecordKey, FlowId>,
    index: HashMap<MatchKey, Vec<FlowId>>,
    /// Capture records closed by a kernel END or the sweep ([`closes_early`]), with the time they
    /// closed (ms): later capture events of the same flow (its idle or shutdown END) are dropped
    /// instead of starting a second record. Stored too (schema `k`), so this holds after a restart.
    closed_early: HashMap<FlowId, u64>,
}

/// How long a flow closed early is remembered: longer than the capture's longest idle timeout
/// (`flow_table.rs`, 1 h for established TCP), after which its END has come.
pub const CLOSED_EARLY_MEMORY_MS: u64 = 2 * 3_600_000;

impl OpenSet {
    pub fn len(&self) -> usize {
        self.recs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.recs.is_empty()
    }

    pub fn get(&self, id: &FlowId) -> Option<(RecordKey, pb::FlowEvent)> {
        self.recs
            .get(id)
            .map(|f| (RecordKey::new(f.first_seen_unix_ms, id), f.clone()))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&FlowId, &pb::FlowEvent)> {
        self.recs.iter()
    }

    /// Records with keys below `upper` (all when `None`), newest first.
    pub fn newest_below(
        &self,
        upper: Option<RecordKey>,
    ) -> impl Iterator<Item = (RecordKey, &pb::FlowEvent)> {
        let range = match upper {
            Some(u) => self.order.range(..u),
            None => self.order.range(..),
        };
        range
            .rev()
            .filter_map(|(k, id)| Some((*k, self.recs.get(id)?)))
    }

    pub fn insert(&mut self, id: FlowId, f: pb::FlowEvent) {
        self.remove(&id);
        if is_capture(&id) {
            for k in keys_of(&f) {
                self.index.entry(k).or_default().push(id);
            }
        }
        self.order
            .insert(RecordKey::new(f.first_seen_unix_ms, &id), id);
        self.recs.insert(id, f);
    }

    pub fn remove(&mut self, id: &FlowId) -> Option<pb::FlowEvent> {
        let f = self.recs.remove(id)?;
        self.order.remove(&RecordKey::new(f.first_seen_unix_ms, id));
        for k in keys_of(&f) {
            if let Some(v) = self.index.get_mut(&k) {
                v.retain(|x| x != id);
                if v.is_empty() {
                    self.index.remove(&k);
                }
            }
        }
        Some(f)
    }

    pub fn candidates(&self, k: &MatchKey, out: &mut Vec<FlowId>) {
        if let Some(v) = self.index.get(k) {
            out.extend_from_slice(v);
        }
    }

    /// Remembers a flow closed early at `closed_ms`.
    pub fn note_closed_early(&mut self, id: FlowId, closed_ms: u64, now_ms: u64) {
        self.closed_early.insert(id, closed_ms);
        if self.closed_early.len().is_multiple_of(4096) {
            self.closed_early
                .retain(|_, t| now_ms.saturating_sub(*t) < CLOSED_EARLY_MEMORY_MS);
        }
    }

    pub fn closed_early(&self, id: &FlowId) -> bool {
        self.closed_early.contains_key(id)
    }

    /// Ids of the records [`is_stale`] at `now_ms`.
    pub fn stale(&self, now_ms: u64, out: &mut Vec<FlowId>) {
        out.extend(
            self.recs
                .iter()
                .filter_map(|(id, f)| is_stale(id, f, now_ms).then_some(*id)),
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn keys_normalise_v4_and_reverse() {
        let t = pb::Tuple {
            client_ip: vec![10, 0, 0, 2],
            server_ip: vec![10, 0, 1, 2],
            client_port: 4000,
            server_port: 53,
            l4: 17,
        };
        let r = pb::Tuple {
            client_ip: t.server_ip.clone(),
            server_ip: t.client_ip.clone(),
            client_port: 53,
            server_port: 4000,
            l4: 17,
        };
        assert_eq!(exact_key(&t, true), exact_key(&r, false));
        assert_ne!(exact_key(&t, false), exact_key(&r, false));
        let mut dnat = t.clone();
        dnat.server_ip = vec![192, 168, 1, 9];
        assert_eq!(client_key(&t), client_key(&dnat));
        assert!(exact_key(&pb::Tuple::default(), false).is_none());
    }

    #[test]
    fn index_follows_insert_and_remove() {
        let mut s = OpenSet::default();
        let id = FlowId {
            queue: 0,
            boot_id: 1,
            flow_id: 2,
        };
        let f = pb::FlowEvent {
            tuple: Some(pb::Tuple {
                client_ip: vec![1, 2, 3, 4],
                server_ip: vec![5, 6, 7, 8],
                client_port: 1,
                server_port: 2,
                l4: 6,
            }),
            ..Default::default()
        };
        let k = exact_key(f.tuple.as_ref().unwrap(), false).unwrap();
        s.insert(id, f.clone());
        s.insert(id, f);
        let mut out = Vec::new();
        s.candidates(&k, &mut out);
        assert_eq!(out, vec![id]);
        s.remove(&id);
        out.clear();
        s.candidates(&k, &mut out);
        assert!(out.is_empty() && s.is_empty());
    }
}
