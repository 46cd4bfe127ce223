//! Hot aggregates: an in-memory copy of the day and hour buckets and of the last [`HOT_MINUTES`] of
//! minute buckets, kept equal to the database by the writer (under the store's write lock). Top-N over
//! a day with thousands of hosts sums ~50 000 entries: from memory that takes milliseconds, from sled
//! hundreds (measured: `examples/bench.rs`, "top hosts 24 h" 392 ms before this cache). The writer
//! also starts each bucket it rewrites from this copy instead of reading it back.

use std::collections::HashMap;

use crate::buckets::AggBucket;
use crate::schema::{AggValue, Dim, Level};

/// Minute buckets younger than this stay in memory.
pub const HOT_MINUTES: u64 = 3 * 3600;
/// Past this many entries the cache turns itself off and queries read the database: memory stays
/// bounded whatever the host cardinality (≈ 100 B per entry).
pub const HOT_MAX_ENTRIES: usize = 2_000_000;

#[derive(Debug, Default)]
pub struct Hot {
    pub enabled: bool,
    /// Minute buckets at or after this start are held.
    pub minute_floor: u64,
    pub buckets: HashMap<(Level, u64), AggBucket>,
    pub entries: usize,
}

impl Hot {
    pub fn new(now_s: u64) -> Self {
        Hot {
            enabled: true,
            minute_floor: Level::Minute.bucket(now_s.saturating_sub(HOT_MINUTES)),
            ..Default::default()
        }
    }

    /// True when every bucket of `level` from `first` on is in memory.
    pub fn holds(&self, level: Level, first: u64) -> bool {
        self.enabled && (level != Level::Minute || first >= self.minute_floor)
    }

    /// The stored bucket when it is held (empty if nothing was stored in it), `None` when only the
    /// database knows it.
    pub fn stored(&self, level: Level, bucket: u64) -> Option<AggBucket> {
        if !self.holds(level, bucket) {
            return None;
        }
        Some(
            self.buckets
                .get(&(level, bucket))
                .cloned()
                .unwrap_or_default(),
        )
    }

    /// Replaces a bucket with its stored value (ignored when not held).
    pub fn put(&mut self, level: Level, bucket: u64, b: AggBucket) {
        if !self.holds(level, bucket) {
            return;
        }
        self.entries += b.len();
        if let Some(old) = self.buckets.insert((level, bucket), b) {
            self.entries = self.entries.saturating_sub(old.len());
        }
        if self.entries > HOT_MAX_ENTRIES {
            tracing::warn!(
                entries = self.entries,
                "Hot aggregate cache too large; top-N now reads the database."
            );
            *self = Hot::default();
        }
    }

    /// Moves the minute window forward, dropping minute buckets that left it.
    pub fn advance(&mut self, now_s: u64) {
        let floor = Level::Minute.bucket(now_s.saturating_sub(HOT_MINUTES));
        if floor <= self.minute_floor {
            return;
        }
        self.minute_floor = floor;
        self.drop_where(|(l, b)| *l == Level::Minute && *b < floor);
    }

    /// Drops buckets of `level` starting before `end` (retention).
    pub fn expire(&mut self, level: Level, end: u64) {
        self.drop_where(|(l, b)| *l == level && *b < end);
    }

    fn drop_where(&mut self, f: impl Fn(&(Level, u64)) -> bool) {
        let mut removed = 0;
        self.buckets.retain(|id, m| {
            let keep = !f(id);
            if !keep {
                removed += m.len();
            }
            keep
        });
        self.entries = self.entries.saturating_sub(removed);
    }

    /// Adds `dim`'s entries of buckets `[first, end)` of `level` into `out`.
    pub fn sum_into(
        &self,
        dim: Dim,
        level: Level,
        first: u64,
        end: u64,
        out: &mut HashMap<Vec<u8>, AggValue>,
    ) {
        let mut b = first;
        while b < end {
            if let Some(m) = self.buckets.get(&(level, b)) {
                sum_dim(m, dim, out);
            }
            b = b.saturating_add(level.secs());
        }
    }
}

/// Adds `dim`'s entries of one bucket into `out`.
pub fn sum_dim(m: &AggBucket, dim: Dim, out: &mut HashMap<Vec<u8>, AggValue>) {
    for ((d, name), v) in m {
        if *d != dim as u8 {
            continue;
        }
        // Look up before inserting: cloning every key would allocate per entry.
        match out.get_mut(name) {
            Some(e) => e.add(v),
            None => {
                out.insert(name.clone(), *v);
            }
        }
    }
}
