//! Hot aggregates: an in-memory copy of the day and hour buckets and of the last [`HOT_MINUTES`] of
//! minute buckets, kept equal to the database by the writer (under the store's write lock). Top-N over
//! a day with thousands of hosts sums ~50 000 entries: from memory that takes milliseconds, from sled
//! hundreds (measured: `examples/bench.rs`, "top hosts 24 h" 392 ms before this cache).

use std::collections::HashMap;

use crate::schema::{AggValue, Dim, Level};

/// Minute buckets younger than this stay in memory.
pub const HOT_MINUTES: u64 = 3 * 3600;
/// Past this many entries the cache turns itself off and queries read the database: memory stays
/// bounded whatever the host cardinality (≈ 100 B per entry).
pub const HOT_MAX_ENTRIES: usize = 2_000_000;

pub type BucketId = (u8, u8, u64);

#[derive(Debug, Default)]
pub struct Hot {
    pub enabled: bool,
    /// Minute buckets at or after this start are held.
    pub minute_floor: u64,
    pub buckets: HashMap<BucketId, HashMap<Vec<u8>, AggValue>>,
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

    /// The stored value of one aggregate when its bucket is held (zero if the bucket has no such name),
    /// `None` when only the database knows it. The writer adds a batch's increments to this instead of
    /// reading every aggregate back from sled (that read was 12 % of ingest time in `examples/bench.rs`).
    pub fn stored(&self, dim: u8, level: u8, bucket: u64, name: &[u8]) -> Option<AggValue> {
        if dim == Dim::Client as u8 || !self.holds(Level::from_u8(level)?, bucket) {
            return None;
        }
        Some(
            self.buckets
                .get(&(dim, level, bucket))
                .and_then(|m| m.get(name))
                .copied()
                .unwrap_or_default(),
        )
    }

    pub fn add(&mut self, dim: u8, level: u8, bucket: u64, name: &[u8], v: &AggValue) {
        if !self.enabled || dim == Dim::Client as u8 {
            return;
        }
        if level == Level::Minute as u8 && bucket < self.minute_floor {
            return;
        }
        let m = self.buckets.entry((dim, level, bucket)).or_default();
        match m.get_mut(name) {
            Some(e) => e.add(v),
            None => {
                m.insert(name.to_vec(), *v);
                self.entries += 1;
            }
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
        self.drop_where(|(_, l, b)| *l == Level::Minute as u8 && *b < floor);
    }

    /// Drops buckets of `dim`/`level` starting before `end` (retention).
    pub fn expire(&mut self, dim: u8, level: u8, end: u64) {
        self.drop_where(|(d, l, b)| *d == dim && *l == level && *b < end);
    }

    fn drop_where(&mut self, f: impl Fn(&BucketId) -> bool) {
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

    /// Adds buckets `[first, end)` of `dim`/`level` into `out`.
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
            if let Some(m) = self.buckets.get(&(dim as u8, level as u8, b)) {
                for (name, v) in m {
                    // Look up before inserting: cloning every key would allocate per entry.
                    match out.get_mut(name) {
                        Some(e) => e.add(v),
                        None => {
                            out.insert(name.clone(), *v);
                        }
                    }
                }
            }
            b = b.saturating_add(level.secs());
        }
    }
}
