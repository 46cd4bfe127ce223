//! Aggregate buckets on disk: all of one bucket's sums (every dimension and name of one minute, hour or
//! day) in one lz4-compressed value, so a minute with 2 000 active hosts is one key, not 2 000. LAN-host
//! usage days use the same encoding under their own prefix (they outlive `retention`). Pure.

use std::collections::HashMap;

use crate::codec::{Reader, compress, decompress, put_bytes, put_varint};
use crate::schema::AggValue;

/// One bucket's sums: (dimension byte, name) → sums.
pub type AggBucket = HashMap<(u8, Vec<u8>), AggValue>;

/// Upper bound on entries read back from one bucket.
const MAX_ENTRIES: usize = 1 << 24;

/// Encodes a bucket (entries sorted, so equal buckets encode equally).
pub fn encode(b: &AggBucket) -> Vec<u8> {
    let mut entries: Vec<_> = b.iter().collect();
    entries.sort_by(|x, y| x.0.cmp(y.0));
    let mut raw = Vec::with_capacity(entries.len() * 24);
    put_varint(&mut raw, entries.len() as u64);
    for ((dim, name), v) in entries {
        raw.push(*dim);
        put_bytes(&mut raw, name);
        put_varint(&mut raw, v.flows);
        put_varint(&mut raw, v.bytes);
        put_varint(&mut raw, v.packets);
    }
    compress(&raw)
}

/// Decodes a value from [`encode`]; `None` if corrupt.
pub fn decode(b: &[u8]) -> Option<AggBucket> {
    let raw = decompress(b)?;
    let mut r = Reader::new(&raw);
    let n = r.len(MAX_ENTRIES)?;
    let mut out = AggBucket::with_capacity(n.min(1 << 16));
    for _ in 0..n {
        let dim = r.u8()?;
        let name = r.bytes()?.to_vec();
        let v = AggValue {
            flows: r.varint()?,
            bytes: r.varint()?,
            packets: r.varint()?,
        };
        out.insert((dim, name), v);
    }
    r.is_empty().then_some(out)
}

/// Adds every entry of `from` into `into`.
pub fn add_all(into: &mut AggBucket, from: &AggBucket) {
    for (k, v) in from {
        match into.get_mut(k) {
            Some(e) => e.add(v),
            None => {
                into.insert(k.clone(), *v);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn buckets_round_trip_and_reject_garbage() {
        let mut b = AggBucket::new();
        for i in 0..300u64 {
            b.insert(
                ((i % 5) as u8, format!("host{i}.example").into_bytes()),
                AggValue {
                    flows: i,
                    bytes: i << 33,
                    packets: u64::MAX - i,
                },
            );
        }
        let e = encode(&b);
        assert_eq!(decode(&e).unwrap(), b);
        assert_eq!(decode(&e[..e.len() / 2]), None);
        let mut sum = b.clone();
        add_all(&mut sum, &b);
        assert_eq!(sum[&(2, b"host7.example".to_vec())].flows, 14);
        assert_eq!(sum[&(0, b"host0.example".to_vec())].packets, u64::MAX);
    }
}
