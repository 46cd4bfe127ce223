//! The on-disk layout: one sled tree whose keys start with a kind byte, so that one `apply_batch` per
//! flush is atomic across records, blocks, aggregates and counters (sled batches are atomic per tree
//! only). Pure encoding functions; nothing here touches the database.
//!
//! | prefix | key | value |
//! | --- | --- | --- |
//! | `m` | `m` + name | meta: `schema` (u32 BE), `records` (u64 BE), `nextblock` (u64 BE) |
//! | `o` | `o` + queue + boot id + flow id | an open flow's record, `pb::FlowEvent` (rewritten as it changes) |
//! | `t` | `t` + chunk seq (u64 BE) | the tail: closed records not yet in a block, one chunk per flush, as block bodies |
//! | `s` | `s` + block id | that block's [`crate::block::Summary`] |
//! | `a` | `a` + level + bucket start s (u64 BE) | every dimension's aggregates of one closed bucket (`buckets.rs`) |
//! | `u` | `u` + day start s | LAN-host usage of one closed day (`buckets.rs`) |
//! | `n` | `n` + level + bucket start s + dim + name | one aggregate of a bucket still open, [`AggValue`] |
//!
//! | `k` | `k` + close time ms (u64 BE) + seq (u64 BE) | capture flows closed before the capture's own END (by a kernel END or the sweep), one list per flush (`open.rs`), kept [`crate::open::CLOSED_EARLY_MEMORY_MS`] |
//!
//! Sealed blocks of closed records (`block.rs`) are files beside the database (`blockfile.rs`, where the
//! measurements that moved them out of sled are); their summary `s` is the commit point of a block
//! (written after its file, deleted before it). A bucket is written as small per-name `n` keys while
//! flushes still change it and folded into one compressed `a` value once it is [`AGG_CLOSE_GRACE_S`]
//! past its end: sled rewrites a whole leaf when any of its keys changes, and a leaf over 128 KiB as a
//! blob file (measured: a leaf of blocks beside the record counter grew `examples/steady.rs` by 35 MiB
//! a window).
//!
//! Older layouts are refused at open with a message saying how to start over (their flow data is not
//! migrated): schema 1 had one key per record plus index keys and one key per aggregate, schema 2 kept
//! the block bodies in a sled tree of their own.

use std::net::IpAddr;

use nfguard_proto::pb;

/// Bump on any change of this layout; a database written by another version is refused.
pub const SCHEMA_VERSION: u32 = 3;

pub const P_META: u8 = b'm';
pub const P_OPEN: u8 = b'o';
pub const P_TAIL: u8 = b't';
pub const P_SUMMARY: u8 = b's';
pub const P_AGG: u8 = b'a';
pub const P_USAGE: u8 = b'u';
pub const P_OPEN_AGG: u8 = b'n';
pub const P_CLOSED_EARLY: u8 = b'k';
/// A bucket is closed (folded into its `a` value) this long after its end: flushes of the last
/// moments' events have landed by then (an event is at most one `flush_interval` old when written).
pub const AGG_CLOSE_GRACE_S: u64 = 120;

pub const META_SCHEMA: &[u8] = b"mschema";
pub const META_RECORDS: &[u8] = b"mrecords";
pub const META_NEXT_BLOCK: &[u8] = b"mnextblock";
pub const TAIL_KEY: &[u8] = b"t";

/// Aggregate names (hosts) are cut here, as the schema-1 index did.
pub const MAX_NAME: usize = 255;

/// Aggregate name for the empty rule (the policy's `default`).
pub const DEFAULT_RULE: &str = "(default)";
/// Aggregate name for a flow without a label.
pub const UNKNOWN_APP: &str = "Unknown";

/// A flow record's key: ordered by first-seen time, so "newest first" is a reverse range scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordKey(pub [u8; RecordKey::LEN]);

/// The bus identity of a flow (DESIGN §3): START, UPDATE and END of one flow share it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowId {
    pub queue: u32,
    pub boot_id: u64,
    pub flow_id: u64,
}

/// Secondary-index dimensions and aggregate dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Dim {
    /// Label (`TLS.YouTube`) and, in the index, also its app part (`YouTube`); lower-cased in the index.
    App = 1,
    /// SNI / Host / DNS name; lower-cased in the index.
    Host = 2,
    Verdict = 3,
    Rule = 4,
    /// Aggregates only: everything, name empty.
    Total = 5,
    /// Aggregates only, day level: the LAN host (flow's client IP, raw bytes) for usage snapshots.
    Client = 6,
}

/// Aggregate bucket sizes. Queries cover a window with the coarsest buckets that fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Level {
    Minute = 1,
    Hour = 2,
    Day = 3,
}

/// Per-bucket sums.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AggValue {
    pub flows: u64,
    pub bytes: u64,
    pub packets: u64,
}

// === impl RecordKey ===

impl RecordKey {
    pub const LEN: usize = 28;

    pub fn new(first_seen_ms: u64, id: &FlowId) -> Self {
        let mut k = [0u8; Self::LEN];
        k[..8].copy_from_slice(&first_seen_ms.to_be_bytes());
        k[8..12].copy_from_slice(&id.queue.to_be_bytes());
        k[12..20].copy_from_slice(&id.boot_id.to_be_bytes());
        k[20..].copy_from_slice(&id.flow_id.to_be_bytes());
        RecordKey(k)
    }

    /// The key from a client's cursor or a stored value; `None` unless exactly [`Self::LEN`] bytes.
    pub fn from_slice(b: &[u8]) -> Option<Self> {
        <[u8; Self::LEN]>::try_from(b).ok().map(RecordKey)
    }

    pub fn first_seen_ms(&self) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.0[..8]);
        u64::from_be_bytes(b)
    }

    /// The smallest key with this first-seen time (range bound).
    pub fn lowest_at(first_seen_ms: u64) -> Self {
        let mut k = [0u8; Self::LEN];
        k[..8].copy_from_slice(&first_seen_ms.to_be_bytes());
        RecordKey(k)
    }

    /// The flow identity inside the key.
    pub fn flow_id(&self) -> FlowId {
        let u = |r: std::ops::Range<usize>| {
            self.0
                .get(r)
                .and_then(|s| <[u8; 8]>::try_from(s).ok())
                .map_or(0, u64::from_be_bytes)
        };
        FlowId {
            queue: self
                .0
                .get(8..12)
                .and_then(|s| <[u8; 4]>::try_from(s).ok())
                .map_or(0, u32::from_be_bytes),
            boot_id: u(12..20),
            flow_id: u(20..28),
        }
    }

    /// The next key in order (saturating at the largest): an exclusive bound that admits `self`.
    pub fn successor(&self) -> Self {
        let mut k = self.0;
        for b in k.iter_mut().rev() {
            if *b == 0xff {
                *b = 0;
            } else {
                *b += 1;
                return RecordKey(k);
            }
        }
        *self
    }
}

// === impl FlowId ===

impl FlowId {
    /// `None` when the event carries no flow reference: such an event is malformed.
    pub fn from_pb(f: Option<&pb::FlowRef>) -> Option<Self> {
        let f = f?;
        Some(FlowId {
            queue: f.queue,
            boot_id: f.boot_id,
            flow_id: f.flow_id,
        })
    }

    /// Key of the flow's open record.
    pub fn db_key(&self) -> [u8; 21] {
        let mut k = [0u8; 21];
        k[0] = P_OPEN;
        k[1..5].copy_from_slice(&self.queue.to_be_bytes());
        k[5..13].copy_from_slice(&self.boot_id.to_be_bytes());
        k[13..].copy_from_slice(&self.flow_id.to_be_bytes());
        k
    }
}

// === impl Level ===

impl Level {
    pub const ALL: [Level; 3] = [Level::Minute, Level::Hour, Level::Day];

    pub fn from_u8(b: u8) -> Option<Level> {
        Level::ALL.into_iter().find(|l| *l as u8 == b)
    }

    pub fn secs(self) -> u64 {
        match self {
            Level::Minute => 60,
            Level::Hour => 3600,
            Level::Day => 86_400,
        }
    }

    pub fn bucket(self, t_s: u64) -> u64 {
        t_s - t_s % self.secs()
    }
}

// === impl AggValue ===

impl AggValue {
    pub fn encode(&self) -> [u8; 24] {
        let mut b = [0u8; 24];
        b[..8].copy_from_slice(&self.flows.to_be_bytes());
        b[8..16].copy_from_slice(&self.bytes.to_be_bytes());
        b[16..].copy_from_slice(&self.packets.to_be_bytes());
        b
    }

    /// `None` for a value of the wrong length (a corrupt entry is skipped, not a panic).
    pub fn decode(b: &[u8]) -> Option<Self> {
        let f = |r: std::ops::Range<usize>| -> Option<u64> {
            Some(u64::from_be_bytes(b.get(r)?.try_into().ok()?))
        };
        (b.len() == 24).then_some(())?;
        Some(AggValue {
            flows: f(0..8)?,
            bytes: f(8..16)?,
            packets: f(16..24)?,
        })
    }

    pub fn add(&mut self, o: &AggValue) {
        self.flows = self.flows.saturating_add(o.flows);
        self.bytes = self.bytes.saturating_add(o.bytes);
        self.packets = self.packets.saturating_add(o.packets);
    }
}

// ------------------------------------------------------------------ names

fn cut(v: &[u8]) -> &[u8] {
    v.get(..MAX_NAME).unwrap_or(v)
}

/// The app part of a label: `TLS.YouTube` → `YouTube`; a label without a dot is its own app.
pub fn app_of(label: &str) -> &str {
    label.rsplit_once('.').map_or(label, |(_, app)| app)
}

/// How the empty (default) rule is named in indexes, aggregates and queries.
pub fn rule_name(rule: &str) -> &str {
    if rule.is_empty() { DEFAULT_RULE } else { rule }
}

// ------------------------------------------------------------------ aggregate keys

/// Database key of one aggregate bucket (all dimensions but `Client`).
pub fn bucket_key(level: Level, bucket_s: u64) -> [u8; 10] {
    let mut k = [0u8; 10];
    k[0] = P_AGG;
    k[1] = level as u8;
    k[2..].copy_from_slice(&bucket_s.to_be_bytes());
    k
}

/// (level, bucket start) of a [`bucket_key`].
pub fn parse_bucket_key(k: &[u8]) -> Option<(Level, u64)> {
    (k.len() == 10 && k.first() == Some(&P_AGG)).then_some(())?;
    let level = Level::from_u8(*k.get(1)?)?;
    Some((level, u64::from_be_bytes(k.get(2..10)?.try_into().ok()?)))
}

/// Key of one aggregate of a bucket still open.
pub fn open_agg_key(level: Level, bucket_s: u64, dim: u8, name: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(11 + name.len());
    k.extend_from_slice(&open_agg_prefix(level, bucket_s));
    k.push(dim);
    k.extend_from_slice(name);
    k
}

/// The prefix of every open aggregate of one bucket.
pub fn open_agg_prefix(level: Level, bucket_s: u64) -> [u8; 10] {
    let mut k = bucket_key(level, bucket_s);
    k[0] = P_OPEN_AGG;
    k
}

/// (level, bucket start, dim byte, name) of an [`open_agg_key`].
pub fn parse_open_agg_key(k: &[u8]) -> Option<(Level, u64, u8, &[u8])> {
    (k.first() == Some(&P_OPEN_AGG)).then_some(())?;
    let level = Level::from_u8(*k.get(1)?)?;
    let bucket = u64::from_be_bytes(k.get(2..10)?.try_into().ok()?);
    Some((level, bucket, *k.get(10)?, k.get(11..)?))
}

/// True while flushes may still change a bucket (see [`AGG_CLOSE_GRACE_S`]).
pub fn bucket_is_open(level: Level, bucket_s: u64, now_s: u64) -> bool {
    bucket_s
        .saturating_add(level.secs())
        .saturating_add(AGG_CLOSE_GRACE_S)
        > now_s
}

/// Database key of one day of LAN-host usage.
pub fn usage_key(day_s: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = P_USAGE;
    k[1..].copy_from_slice(&day_s.to_be_bytes());
    k
}

/// Database key of a sealed block or of its summary.
pub fn block_key(prefix: u8, id: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = prefix;
    k[1..].copy_from_slice(&id.to_be_bytes());
    k
}

/// Key of the flows closed early by one flush (`k` rows).
pub fn closed_early_key(closed_ms: u64, seq: u64) -> [u8; 17] {
    let mut k = [0u8; 17];
    k[0] = P_CLOSED_EARLY;
    k[1..9].copy_from_slice(&closed_ms.to_be_bytes());
    k[9..].copy_from_slice(&seq.to_be_bytes());
    k
}

/// (close time ms, seq) of a [`closed_early_key`].
pub fn parse_closed_early_key(k: &[u8]) -> Option<(u64, u64)> {
    (k.len() == 17 && k.first() == Some(&P_CLOSED_EARLY)).then_some(())?;
    Some((
        u64::from_be_bytes(k.get(1..9)?.try_into().ok()?),
        u64::from_be_bytes(k.get(9..17)?.try_into().ok()?),
    ))
}

/// The id in a [`block_key`] (of a summary, a tail chunk or a usage day).
pub fn parse_block_key(k: &[u8]) -> Option<u64> {
    (k.len() == 9).then_some(())?;
    Some(u64::from_be_bytes(k.get(1..9)?.try_into().ok()?))
}

/// The aggregate names one flow contributes to, per dimension.
pub fn agg_names(ev: &pb::FlowEvent) -> Vec<(Dim, &[u8])> {
    let mut out = Vec::with_capacity(6);
    let label = if ev.label.is_empty() {
        UNKNOWN_APP
    } else {
        &ev.label
    };
    out.push((Dim::App, label.as_bytes()));
    if let Some(host) = ev.classification.as_ref().map(|c| &c.host)
        && !host.is_empty()
    {
        out.push((Dim::Host, cut(host.as_bytes())));
    }
    if !ev.verdict.is_empty() {
        out.push((Dim::Verdict, ev.verdict.as_bytes()));
    }
    out.push((Dim::Rule, rule_name(&ev.rule).as_bytes()));
    out.push((Dim::Total, &[][..]));
    // The client's address as stored: 4 or 16 bytes (`nfguard_proto::types::ip_bytes`).
    if let Some(t) = &ev.tuple
        && matches!(t.client_ip.len(), 4 | 16)
    {
        out.push((Dim::Client, t.client_ip.as_slice()));
    }
    out
}

/// The LAN host's address from a `Client` aggregate name.
pub fn client_ip(name: &[u8]) -> Option<IpAddr> {
    nfguard_proto::types::ip_from_bytes(name)
}

/// Covers `[since_s, until_s)` (widened to whole minutes) with day, hour and minute bucket ranges:
/// `(level, first bucket, end)`, so a week's query reads 7 day buckets instead of 10 080 minute ones.
pub fn cover(since_s: u64, until_s: u64) -> Vec<(Level, u64, u64)> {
    fn go(s: u64, e: u64, levels: &[Level], out: &mut Vec<(Level, u64, u64)>) {
        let Some((l, rest)) = levels.split_first() else {
            return;
        };
        let n = l.secs();
        let a = s.div_ceil(n).saturating_mul(n);
        let b = e - e % n;
        if a < b {
            go(s, a, rest, out);
            out.push((*l, a, b));
            go(b, e, rest, out);
        } else {
            go(s, e, rest, out);
        }
    }
    let s = since_s - since_s % 60;
    let e = until_s.div_ceil(60).saturating_mul(60);
    let mut out = Vec::new();
    if s < e {
        go(s, e, &[Level::Day, Level::Hour, Level::Minute], &mut out);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn record_key_orders_by_time() {
        let id = FlowId {
            queue: 9,
            boot_id: u64::MAX,
            flow_id: u64::MAX,
        };
        let a = RecordKey::new(1000, &id);
        let b = RecordKey::new(
            1001,
            &FlowId {
                queue: 0,
                boot_id: 0,
                flow_id: 0,
            },
        );
        assert!(a < b);
        assert_eq!(a.first_seen_ms(), 1000);
        assert_eq!(RecordKey::from_slice(&a.0), Some(a));
        assert_eq!(RecordKey::from_slice(&a.0[1..]), None);
    }

    #[test]
    fn cover_tiles_the_window_exactly() {
        for (s, e) in [
            (0u64, 86_400u64 * 3),
            (59, 61),
            (3_599, 90_061),
            (86_399, 86_401),
            (1_700_000_123, 1_700_604_923),
            (100, 100),
        ] {
            let c = cover(s, e);
            let mut at = s - s % 60;
            for (l, a, b) in &c {
                assert_eq!(*a, at, "gap in {c:?}");
                assert_eq!(a % l.secs(), 0);
                assert_eq!(b % l.secs(), 0);
                at = *b;
            }
            if s < e {
                assert_eq!(at, e.div_ceil(60) * 60);
            }
            assert!(c.len() <= 5, "{c:?}");
        }
    }

    #[test]
    fn agg_value_round_trip() {
        let v = AggValue {
            flows: 1,
            bytes: u64::MAX,
            packets: 3,
        };
        assert_eq!(AggValue::decode(&v.encode()), Some(v));
        assert_eq!(AggValue::decode(&[0; 23]), None);
    }

    #[test]
    fn successor_and_flow_id() {
        let id = FlowId {
            queue: 3,
            boot_id: 4,
            flow_id: u64::MAX,
        };
        let k = RecordKey::new(77, &id);
        assert_eq!(k.flow_id(), id);
        let n = k.successor();
        assert!(n > k);
        assert_eq!(n.flow_id().boot_id, 5);
        assert_eq!(
            RecordKey([0xff; RecordKey::LEN]).successor(),
            RecordKey([0xff; RecordKey::LEN])
        );
        assert_eq!(
            parse_bucket_key(&bucket_key(Level::Hour, 7200)),
            Some((Level::Hour, 7200))
        );
        assert_eq!(parse_block_key(&block_key(P_SUMMARY, 9)), Some(9));
        assert_eq!(
            parse_closed_early_key(&closed_early_key(7, u64::MAX)),
            Some((7, u64::MAX))
        );
    }
}
