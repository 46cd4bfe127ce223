//! The on-disk layout: one sled tree whose keys start with a kind byte, so that one `apply_batch` per
//! flush is atomic across records, index entries, aggregates and counters (sled batches are atomic per
//! tree only). Pure encoding functions; nothing here touches the database.
//!
//! | prefix | key | value |
//! | --- | --- | --- |
//! | `m` | `m` + name | meta: `schema` (u32 BE), `records` (u64 BE) |
//! | `r` | `r` + [`RecordKey`] (first seen ms, queue, boot id, flow id) | `pb::FlowEvent`, merged |
//! | `f` | `f` + queue + boot id + flow id | [`RecordKey`] of that flow |
//! | `i` | `i` + dim + len(value) + value + [`RecordKey`] | empty: secondary index |
//! | `a` | `a` + dim + level + bucket start s (u64 BE) + name | [`AggValue`] |

use std::net::IpAddr;

use nfguard_proto::pb;

/// Bump on any change of this layout; a database written by a newer version is refused.
pub const SCHEMA_VERSION: u32 = 1;

pub const P_META: u8 = b'm';
pub const P_RECORD: u8 = b'r';
pub const P_REF: u8 = b'f';
pub const P_INDEX: u8 = b'i';
pub const P_AGG: u8 = b'a';

pub const META_SCHEMA: &[u8] = b"mschema";
pub const META_RECORDS: &[u8] = b"mrecords";

/// Index values are cut here (the length travels in one byte); lookups verify against the record.
pub const MAX_INDEX_VALUE: usize = 255;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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

    pub fn db_key(&self) -> [u8; Self::LEN + 1] {
        let mut k = [0u8; Self::LEN + 1];
        k[0] = P_RECORD;
        k[1..].copy_from_slice(&self.0);
        k
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

    pub fn db_key(&self) -> [u8; 21] {
        let mut k = [0u8; 21];
        k[0] = P_REF;
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

// ------------------------------------------------------------------ index keys

fn cut(v: &[u8]) -> &[u8] {
    v.get(..MAX_INDEX_VALUE).unwrap_or(v)
}

/// `i` + dim + len + value: every entry of one value, ordered by record key.
pub fn index_prefix(dim: Dim, value: &[u8]) -> Vec<u8> {
    let v = cut(value);
    let mut k = Vec::with_capacity(3 + v.len() + RecordKey::LEN);
    k.push(P_INDEX);
    k.push(dim as u8);
    k.push(u8::try_from(v.len()).unwrap_or(u8::MAX));
    k.extend_from_slice(v);
    k
}

pub fn index_key(dim: Dim, value: &[u8], rk: &RecordKey) -> Vec<u8> {
    let mut k = index_prefix(dim, value);
    k.extend_from_slice(&rk.0);
    k
}

/// The app part of a label: `TLS.YouTube` → `YouTube`; a label without a dot is its own app.
pub fn app_of(label: &str) -> &str {
    label.rsplit_once('.').map_or(label, |(_, app)| app)
}

/// The index entries a record needs: (dimension, value). Empty values are not indexed.
pub fn index_values(ev: &pb::FlowEvent) -> Vec<(Dim, Vec<u8>)> {
    let mut out = Vec::with_capacity(5);
    if !ev.label.is_empty() {
        let label = ev.label.to_ascii_lowercase();
        let app = app_of(&label).to_string();
        if app != label {
            out.push((Dim::App, app.into_bytes()));
        }
        out.push((Dim::App, label.into_bytes()));
    }
    if let Some(host) = ev.classification.as_ref().map(|c| &c.host)
        && !host.is_empty()
    {
        out.push((Dim::Host, host.to_ascii_lowercase().into_bytes()));
    }
    if !ev.verdict.is_empty() {
        out.push((Dim::Verdict, ev.verdict.as_bytes().to_vec()));
    }
    out.push((Dim::Rule, rule_name(&ev.rule).as_bytes().to_vec()));
    out
}

/// How the empty (default) rule is named in indexes, aggregates and queries.
pub fn rule_name(rule: &str) -> &str {
    if rule.is_empty() { DEFAULT_RULE } else { rule }
}

// ------------------------------------------------------------------ aggregate keys

pub fn agg_key(dim: Dim, level: Level, bucket_s: u64, name: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(11 + name.len());
    k.extend_from_slice(&[P_AGG, dim as u8, level as u8]);
    k.extend_from_slice(&bucket_s.to_be_bytes());
    k.extend_from_slice(name);
    k
}

/// (bucket start, name) of an aggregate key, `None` if it is too short.
pub fn split_agg_key(k: &[u8]) -> Option<(u64, &[u8])> {
    let bucket = u64::from_be_bytes(k.get(3..11)?.try_into().ok()?);
    Some((bucket, k.get(11..)?))
}

/// (dim byte, level byte, bucket start, name) of an aggregate key.
pub fn parse_agg_key(k: &[u8]) -> Option<(u8, u8, u64, &[u8])> {
    let (bucket, name) = split_agg_key(k)?;
    Some((*k.get(1)?, *k.get(2)?, bucket, name))
}

/// The aggregate names one flow contributes to, per dimension.
pub fn agg_names(ev: &pb::FlowEvent) -> Vec<(Dim, Vec<u8>)> {
    let mut out = Vec::with_capacity(6);
    let label = if ev.label.is_empty() {
        UNKNOWN_APP
    } else {
        &ev.label
    };
    out.push((Dim::App, label.as_bytes().to_vec()));
    if let Some(host) = ev.classification.as_ref().map(|c| &c.host)
        && !host.is_empty()
    {
        out.push((Dim::Host, cut(host.as_bytes()).to_vec()));
    }
    if !ev.verdict.is_empty() {
        out.push((Dim::Verdict, ev.verdict.as_bytes().to_vec()));
    }
    out.push((Dim::Rule, rule_name(&ev.rule).as_bytes().to_vec()));
    out.push((Dim::Total, Vec::new()));
    if let Some(ip) = ev
        .tuple
        .as_ref()
        .and_then(|t| nfguard_proto::types::ip_from_bytes(&t.client_ip))
    {
        out.push((Dim::Client, nfguard_proto::types::ip_bytes(ip)));
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
    fn index_values_cover_label_and_app() {
        let ev = pb::FlowEvent {
            label: "TLS.YouTube".into(),
            verdict: "accept".into(),
            ..Default::default()
        };
        let v = index_values(&ev);
        assert!(v.contains(&(Dim::App, b"youtube".to_vec())));
        assert!(v.contains(&(Dim::App, b"tls.youtube".to_vec())));
        assert!(v.contains(&(Dim::Rule, DEFAULT_RULE.as_bytes().to_vec())));
    }
}
