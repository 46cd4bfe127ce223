//! The storage trait and its sled implementation (layout in `schema.rs`): open flows in memory and
//! under `o` keys, closed ones in compressed columnar blocks (`block.rs`), stored as files
//! (`blockfile.rs`) and found through in-memory block summaries, aggregates as small per-name keys
//! while a bucket is open and one compressed value once it is closed (`buckets.rs`), the recent ones
//! in memory (`hot.rs`). Every flush writes its new block files, then one atomic sled batch (the commit
//! point); retention deletes whole block files (and rewrites the one block a cutoff falls into, so it
//! stays exact). A block-file write error is handled like a sled write error (see below).
//!
//! Full disk (issue #8): after an I/O error sled 0.34 keeps a "global error" in that instance until it
//! is reopened: every later write fails, and so do reads that meet a node needing a split or merge
//! (`Tree::view_for_key` completes those cooperatively and they write to the log), about one range scan
//! in ten in our measurement. So a failed write reopens the database at once, on the space the reserve
//! (`reserve.rs`) frees, and queries read the last durable state through the fresh handle while writes
//! stay refused until [`FlowStore::recover`] finds room again.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

use nfguard_proto::pb;
use prost::Message;

use crate::StoreError;
use crate::block::{BLOCK_RECORDS, Block, Summary};
use crate::blockfile::BlockFiles;
use crate::buckets::{self, AggBucket};
use crate::hot::{Hot, sum_dim};
use crate::ingest::{Batch, Known};
use crate::open::{
    CLOSED_EARLY_MEMORY_MS, MatchKey, OpenSet, closes_early, decode_ids, encode_ids,
};
use crate::reserve::{RESUME_HEADROOM, Reserve};
use crate::schema::{
    AggValue, Dim, FlowId, Level, META_NEXT_BLOCK, META_RECORDS, META_SCHEMA, P_CLOSED_EARLY,
    P_OPEN, P_SUMMARY, RecordKey, SCHEMA_VERSION, TAIL_KEY, app_of, block_key, bucket_is_open,
    bucket_key, closed_early_key, cover, open_agg_key, open_agg_prefix, parse_block_key,
    parse_bucket_key, parse_closed_early_key, parse_open_agg_key, rule_name, usage_key,
};
use crate::usage::{self, UsageWindows};

/// Flows per page when the query gives no limit.
pub const DEFAULT_PAGE: u32 = 100;
/// Largest page a query may ask for.
pub const MAX_PAGE: u32 = 1000;
/// Blocks one flow query may decode; past it the page ends early with a cursor, so a query whose
/// filters match almost nothing costs bounded time instead of a full scan (≈ 130 000 records, the
/// schema-1 bound was 100 000 index entries).
pub const MAX_SCAN_BLOCKS: usize = 16;
/// Top-N windows at least this long (s) start at the whole hour (up to 59 minutes more than asked).
pub const LONG_WINDOW_S: u64 = 6 * 3600;
/// Top-N entries when the query gives no limit.
pub const DEFAULT_TOP: u32 = 10;
/// A tail older than this is sealed into a block even if it is short, so a quiet gateway's closed
/// flows reach a block within minutes.
pub const TAIL_MAX_AGE_MS: u64 = 10 * 60_000;
/// A tail whose stored chunks would pass this is sealed even if it is short: sled keeps up to 16 keys
/// in a leaf and writes a leaf over 128 KiB as a blob file, rewritten whenever a key in it changes
/// (`examples/steady.rs`: tail-chunk leaves of ~150 KiB made the blob directory grow 0.6 MiB a
/// window); this leaves room for the block summaries beside them.
pub const TAIL_MAX_BYTES: usize = 96 << 10;

/// What one retention pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Expired {
    pub records: u64,
    pub aggregates: u64,
    /// True when the pass stopped at its limit and older data remains.
    pub more: bool,
}

/// The store's storage operations. The store process is the only writer.
pub trait FlowStore: Send + Sync {
    /// The open record of a flow, by its bus identity.
    fn lookup(&self, id: &FlowId) -> Result<Option<(RecordKey, pb::FlowEvent)>, StoreError>;
    /// Ids of open capture records under a conntrack match key (`open.rs`).
    fn candidates(&self, _key: &MatchKey, _out: &mut Vec<FlowId>) {}
    /// True when a capture record of this flow was closed early (`open::closes_early`).
    fn closed_early(&self, _id: &FlowId) -> bool {
        false
    }
    /// Ids of open records the sweep should close at `now_ms` (`open::is_stale`).
    fn stale(&self, _now_ms: u64, _out: &mut Vec<FlowId>) {}
    /// Writes a batch atomically (open records, closed records and blocks, aggregate increments,
    /// record count).
    fn write(&self, batch: &Batch) -> Result<(), StoreError>;
    /// Makes everything written so far durable.
    fn sync(&self) -> Result<(), StoreError>;
    fn flows(&self, q: &pb::FlowQuery) -> Result<pb::FlowPage, StoreError>;
    fn top(&self, q: &pb::TopQuery, now_ms: u64) -> Result<pb::TopReply, StoreError>;
    fn totals(&self, q: &pb::TotalsQuery, now_ms: u64) -> Result<pb::TotalsReply, StoreError>;
    /// Bytes per LAN host for the UTC day, ISO week and calendar month containing `now_s`.
    fn usage(&self, now_s: u64) -> Result<pb::UsageSnapshot, StoreError>;
    /// Deletes records last seen before `cutoff_ms`, aggregate buckets that end by `cutoff_ms`, and
    /// LAN-host usage days that end by `usage_cutoff_s`; at most `max` records (or one block) a pass.
    fn expire(
        &self,
        cutoff_ms: u64,
        usage_cutoff_s: u64,
        max: usize,
    ) -> Result<Expired, StoreError>;
    fn records(&self) -> Result<u64, StoreError>;
    fn size_on_disk(&self) -> u64;
    /// After a failed write: make the store writable again if it can be (space has returned). Until it
    /// succeeds, writes fail with [`StoreError::Paused`]; queries keep working. Default: nothing.
    fn recover(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// A [`FlowStore`] as the ingest batch's view of stored records, conntrack matches included.
pub struct StoreKnown<'a>(pub &'a dyn FlowStore);

impl Known for StoreKnown<'_> {
    type Error = StoreError;
    fn record(&self, id: &FlowId) -> Result<Option<(RecordKey, pb::FlowEvent)>, StoreError> {
        self.0.lookup(id)
    }
    fn candidates(&self, key: &MatchKey, out: &mut Vec<FlowId>) {
        self.0.candidates(key, out);
    }
    fn closed_early(&self, id: &FlowId) -> bool {
        self.0.closed_early(id)
    }
    fn stale(&self, now_ms: u64, out: &mut Vec<FlowId>) {
        self.0.stale(now_ms, out);
    }
}

/// What memory mirrors of the database; equal to it after every write (reloaded by a reopen).
#[derive(Debug, Default)]
struct Mem {
    hot: Hot,
    open: OpenSet,
    /// Closed records not yet in a block (the `t` key), in closing order.
    tail: Vec<(RecordKey, pb::FlowEvent)>,
    /// Wall time (ms) the tail's oldest record arrived; 0 when empty or loaded at open.
    tail_since_ms: u64,
    /// Sequence numbers of the tail's stored chunks (`t` keys), and the next one.
    tail_chunks: Vec<u64>,
    /// Bytes of those chunks.
    tail_bytes: usize,
    next_tail_seq: u64,
    blocks: BTreeMap<u64, Summary>,
    next_block: u64,
    /// Buckets that have `n` keys (still open, or closed and not folded yet).
    open_buckets: BTreeSet<(Level, u64)>,
    /// Sequence number of the next `k` key (flows closed early).
    next_early_seq: u64,
}

/// [`FlowStore`] on one sled tree (see `schema` for the key layout).
pub struct SledStore {
    /// `None` while a reopen swaps it, and after a reopen that failed (until the next one succeeds).
    /// After an I/O error (ENOSPC) sled 0.34 fails every later write of that instance and some reads
    /// (its "global error" is reset only at open), so a failed write reopens it.
    db: RwLock<Option<sled::Db>>,
    /// Bumped by every reopen: a read that failed retries once if the handle changed under it.
    generation: AtomicU64,
    path: PathBuf,
    cache_capacity: u64,
    /// Always locked after `write_lock` when both are taken; never held across an `.await`.
    mem: Mutex<Mem>,
    /// The stored record count (`META_RECORDS`), kept by the writer so totals need no disk read.
    records: AtomicU64,
    /// False from a failed write until [`FlowStore::recover`] succeeds: writes are refused meanwhile,
    /// so nothing spends the space the reserve freed for the reopen and for reads.
    writable: AtomicBool,
    reserve: Reserve,
    files: BlockFiles,
    /// Serialises writes (ingest flush, retention) and every reopen (all on blocking threads; never
    /// held across an `.await`).
    write_lock: Mutex<()>,
}

impl SledStore {
    /// Opens (creating) the database and checks its schema version.
    ///
    /// # Errors
    /// [`StoreError::Open`] if sled cannot open it, [`StoreError::SchemaTooNew`] for a newer layout,
    /// [`StoreError::SchemaOld`] for schema 1 or 2, [`StoreError::BlockFile`] if the block directory
    /// cannot be created or cleaned.
    ///
    /// It also writes the reserve (see `reserve.rs`) when it is missing or too small; on a disk too full
    /// for it the store still opens, with a warning (a later write error may then leave queries without
    /// a database until space returns).
    pub fn open(path: &Path, cache_capacity: u64) -> Result<Self, StoreError> {
        let db = open_db(path, cache_capacity)?;
        let files = BlockFiles::open(path).map_err(|source| StoreError::BlockFile {
            path: path
                .join(crate::blockfile::BLOCKS_DIR)
                .display()
                .to_string(),
            source,
        })?;
        let mem = load_mem(&db, &files)?;
        let records = read_u64(&db, META_RECORDS)?;
        let reserve = Reserve::new(path);
        let want = crate::reserve::size_for(path);
        if reserve.len() < want
            && let Err(e) = reserve.fill(want, 0)
        {
            tracing::warn!(
                path = %path.display(),
                bytes = want,
                error = %e,
                "Cannot write the store's reserve file; a full disk may then stop queries too."
            );
        }
        Ok(SledStore {
            db: RwLock::new(Some(db)),
            generation: AtomicU64::new(0),
            path: path.to_path_buf(),
            cache_capacity,
            mem: Mutex::new(mem),
            records: AtomicU64::new(records),
            writable: AtomicBool::new(true),
            reserve,
            files,
            write_lock: Mutex::new(()),
        })
    }

    /// Blocks sealed so far and open records held (diagnostics for the examples).
    pub fn layout(&self) -> (usize, usize, usize) {
        let m = self.mem();
        (m.blocks.len(), m.tail.len(), m.open.len())
    }

    /// The open database (a cheap handle clone) and its generation, or [`StoreError::Reopening`] when
    /// there is none.
    fn handle(&self) -> Result<(sled::Db, u64), StoreError> {
        let slot = self
            .db
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let db = slot.clone().ok_or(StoreError::Reopening)?;
        Ok((db, self.generation.load(Ordering::Acquire)))
    }

    /// Runs a read through one handle. On a database error it waits for a writer that may be
    /// reopening (the write lock), and if the handle changed meanwhile reads once more through the new
    /// one: a read that raced a failed write still answers. `f` must not call `handle` itself (a second
    /// clone held across the wait would keep sled's file lock and stall the reopen).
    fn read<T>(&self, f: impl Fn(&sled::Db) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let (db, generation) = self.handle()?;
        let res = f(&db);
        drop(db);
        if !matches!(res, Err(StoreError::Db(_))) {
            return res;
        }
        drop(self.lock());
        match self.handle() {
            Ok((db, now)) if now != generation => f(&db),
            _ => res,
        }
    }

    /// Runs a write through one handle; the caller holds the write lock. A database error marks the
    /// store unwritable and reopens it on the reserve's space, so queries read the last durable state
    /// instead of a failed instance.
    fn mutate<T>(
        &self,
        f: impl FnOnce(&sled::Db) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if !self.writable.load(Ordering::Acquire) {
            return Err(StoreError::Paused);
        }
        let (db, _) = self.handle()?;
        let res = f(&db);
        drop(db);
        if let Err(e @ (StoreError::Db(_) | StoreError::BlockFile { .. })) = &res {
            self.writable.store(false, Ordering::Release);
            match self.reopen_locked(true) {
                Ok(()) => tracing::info!(
                    error = %e,
                    "Store database reopened after a write error; queries read its last durable state."
                ),
                Err(re) => tracing::error!(
                    error = %e,
                    reopen_error = %re,
                    "Store database could not be reopened after a write error; queries fail until space returns."
                ),
            }
        }
        res
    }

    /// Drops the handle and opens the database again (releasing the reserve first if asked, or when the
    /// open finds no space), then reloads what memory mirrors (hot aggregates, record count). Queries
    /// wait on the handle lock meanwhile and see no gap. The caller holds the write lock.
    fn reopen_locked(&self, release_reserve: bool) -> Result<(), StoreError> {
        let mut slot = self
            .db
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Our handle goes first; handles held by in-flight reads go within milliseconds (a read holds
        // one clone and drops it before waiting on anything), and with the last one sled releases its
        // file lock. Dropping a failed instance tries one flush, which fails at once on its global error.
        *slot = None;
        self.generation.fetch_add(1, Ordering::AcqRel);
        if release_reserve {
            self.reserve.release();
        }
        let mut last = StoreError::Reopening;
        for _ in 0..REOPEN_TRIES {
            match open_db(&self.path, self.cache_capacity) {
                Ok(db) => {
                    *self.mem() = load_mem(&db, &self.files)?;
                    self.records
                        .store(read_u64(&db, META_RECORDS)?, Ordering::Release);
                    *slot = Some(db);
                    self.generation.fetch_add(1, Ordering::AcqRel);
                    return Ok(());
                }
                Err(e) if is_no_space(&e) && !self.reserve.is_empty() => {
                    // Opening writes (a fresh snapshot): queries need a database more than writes
                    // need the reserve.
                    self.reserve.release();
                    last = e;
                    continue;
                }
                // Out of space with nothing left to free: retrying cannot help.
                Err(e) if is_no_space(&e) => return Err(e),
                // Most likely sled's file lock, still held by a read finishing with an old handle.
                Err(e) => last = e,
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Err(last)
    }

    /// Keys starting with `prefix` (a diagnostic: `examples/steady.rs` checks that retention leaves no
    /// index or aggregate keys behind). A full scan of that prefix.
    ///
    /// # Errors
    /// A database read error.
    pub fn count_prefix(&self, prefix: &[u8]) -> Result<u64, StoreError> {
        self.read(|db| {
            let mut n = 0u64;
            for kv in db.scan_prefix(prefix).keys() {
                kv?;
                n += 1;
            }
            Ok(n)
        })
    }

    fn mem(&self) -> std::sync::MutexGuard<'_, Mem> {
        // Writers update it only after their batch applied, so a panic leaves it consistent.
        self.mem
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn file_error(&self, source: std::io::Error) -> StoreError {
        StoreError::BlockFile {
            path: self.files.dir().display().to_string(),
            source,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        // A panic while holding it leaves no partial state (sled batches are atomic): recover the guard.
        self.write_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The body of [`FlowStore::write`]; the caller holds the write lock.
    fn write_with(&self, db: &sled::Db, batch: &Batch) -> Result<(), StoreError> {
        let now = crate::now_ms();
        let mut mem = self.mem();
        mem.hot.advance(now / 1000);
        let mut b = sled::Batch::default();
        let mut bodies: Vec<(u64, Vec<u8>)> = Vec::new();
        let mut closed = Vec::new();
        let mut early = Vec::new();
        let mut any_closed = false;
        for p in batch.records.values() {
            if p.closed {
                if p.was_open {
                    b.remove(&p.id.db_key()[..]);
                }
                if closes_early(&p.id, &p.flow) {
                    early.push(p.id);
                }
                closed.push((p.key, p.flow.clone()));
                any_closed = true;
            } else {
                b.insert(&p.id.db_key()[..], p.flow.encode_to_vec());
            }
        }
        let early_seq = mem.next_early_seq;
        if !early.is_empty() {
            b.insert(&closed_early_key(now, early_seq)[..], encode_ids(&early));
        }
        // Closed records join the tail, stored as one compressed `t` chunk per flush (append-only: a
        // tail rewritten whole every flush was a sled blob per flush, and one key per record wrote
        // every record twice uncompressed; both measured to grow the database); full blocks (and an old
        // tail) are sealed, and the tail's chunks are replaced by one of what is left.
        let had_tail = !mem.tail.is_empty();
        // Taken, not copied: an error from here on reopens the database, which reloads `mem`.
        let mut tail = std::mem::take(&mut mem.tail);
        let stored = tail.len();
        tail.extend(closed);
        let mut sealed = Vec::new();
        let mut next_block = mem.next_block;
        let aged = had_tail && now.saturating_sub(mem.tail_since_ms) >= TAIL_MAX_AGE_MS;
        while tail.len() >= BLOCK_RECORDS || (aged && !tail.is_empty()) {
            let rest = tail.split_off(tail.len().min(BLOCK_RECORDS));
            let chunk = std::mem::replace(&mut tail, rest);
            let (body, summary) = crate::block::encode(&chunk);
            bodies.push((next_block, body));
            b.insert(&block_key(P_SUMMARY, next_block)[..], summary.encode());
            sealed.push((next_block, summary));
            next_block += 1;
        }
        let mut tail_chunks = mem.tail_chunks.clone();
        let mut tail_seq = mem.next_tail_seq;
        let mut tail_bytes = mem.tail_bytes;
        let first_unstored = if sealed.is_empty() {
            stored
        } else {
            for seq in tail_chunks.drain(..) {
                b.remove(&tail_chunk_key(seq)[..]);
            }
            tail_bytes = 0;
            0
        };
        if let Some(unstored) = tail.get(first_unstored..).filter(|u| !u.is_empty()) {
            let body = crate::block::encode(unstored).0;
            if tail_bytes.saturating_add(body.len()) > TAIL_MAX_BYTES {
                // Sealed short rather than stored: a sled leaf of tail chunks past 128 KiB would be a
                // blob file rewritten every flush.
                for seq in tail_chunks.drain(..) {
                    b.remove(&tail_chunk_key(seq)[..]);
                }
                tail_bytes = 0;
                let (body, summary) = crate::block::encode(&tail);
                tail.clear();
                bodies.push((next_block, body));
                b.insert(&block_key(P_SUMMARY, next_block)[..], summary.encode());
                sealed.push((next_block, summary));
                next_block += 1;
            } else {
                tail_bytes = tail_bytes.saturating_add(body.len());
                b.insert(&tail_chunk_key(tail_seq)[..], body);
                tail_chunks.push(tail_seq);
                tail_seq += 1;
            }
        }
        let tail_changed = any_closed || !sealed.is_empty();
        b.insert(META_NEXT_BLOCK, &next_block.to_be_bytes()[..]);
        // Aggregates: an open bucket's touched names as small `n` keys, a closed bucket rewritten whole
        // (with its `n` keys folded in), starting from the hot copy when held.
        let now_s = now / 1000;
        let mut groups: HashMap<(Level, u64), AggBucket> = HashMap::new();
        for (key, per_level) in &batch.aggs {
            let Some((dim, name)) = key.split_first() else {
                continue;
            };
            for (level, (bucket, d)) in Level::ALL
                .iter()
                .zip(per_level)
                .flat_map(|(l, slots)| slots.iter().map(move |s| (l, s)))
            {
                groups
                    .entry((*level, *bucket))
                    .or_default()
                    .entry((*dim, name.to_vec()))
                    .or_default()
                    .add(d);
            }
        }
        for due in &mem.open_buckets {
            if !bucket_is_open(due.0, due.1, now_s) {
                groups.entry(*due).or_default();
            }
        }
        let mut hot_puts = Vec::new();
        let mut now_open = Vec::new();
        let mut folded = Vec::new();
        let client = Dim::Client as u8;
        for ((level, bucket), delta) in groups {
            let held = mem.hot.stored(level, bucket);
            if bucket_is_open(level, bucket, now_s) {
                for ((dim, name), d) in &delta {
                    let k = open_agg_key(level, bucket, *dim, name);
                    let mut v = match &held {
                        Some(h) if *dim != client => {
                            h.get(&(*dim, name.clone())).copied().unwrap_or_default()
                        }
                        _ => db
                            .get(&k)?
                            .and_then(|v| AggValue::decode(&v))
                            .unwrap_or_default(),
                    };
                    v.add(d);
                    b.insert(k, &v.encode()[..]);
                }
                if let Some(mut h) = held {
                    for ((dim, name), d) in delta {
                        if dim != client {
                            h.entry((dim, name)).or_default().add(&d);
                        }
                    }
                    hot_puts.push((level, bucket, h));
                }
                now_open.push((level, bucket));
                continue;
            }
            let from_hot = held.is_some();
            let mut agg = match held {
                Some(h) => h,
                None => read_bucket(db, &bucket_key(level, bucket))?,
            };
            let mut usage = if level == Level::Day {
                read_bucket(db, &usage_key(bucket))?
            } else {
                AggBucket::default()
            };
            for kv in db.scan_prefix(open_agg_prefix(level, bucket)) {
                let (k, v) = kv?;
                if let (Some((_, _, dim, name)), Some(v)) =
                    (parse_open_agg_key(&k), AggValue::decode(&v))
                {
                    if dim == client {
                        usage.entry((dim, name.to_vec())).or_default().add(&v);
                    } else if !from_hot {
                        agg.entry((dim, name.to_vec())).or_default().add(&v);
                    }
                }
                b.remove(k);
            }
            for ((dim, name), d) in delta {
                let into = if dim == client { &mut usage } else { &mut agg };
                into.entry((dim, name)).or_default().add(&d);
            }
            if !agg.is_empty() {
                b.insert(&bucket_key(level, bucket)[..], buckets::encode(&agg));
            }
            if !usage.is_empty() {
                b.insert(&usage_key(bucket)[..], buckets::encode(&usage));
            }
            hot_puts.push((level, bucket, agg));
            folded.push((level, bucket));
        }
        let count = self
            .records
            .load(Ordering::Acquire)
            .saturating_add(batch.new_records);
        b.insert(META_RECORDS, &count.to_be_bytes()[..]);
        // Files first: a file without its summary (a crash in between) is never read, and is removed
        // at the next open.
        self.files
            .write_all(bodies.iter().map(|(id, body)| (*id, body.as_slice())))
            .map_err(|e| self.file_error(e))?;
        db.apply_batch(b)?;
        // Applied: memory follows.
        self.records.store(count, Ordering::Release);
        if !early.is_empty() {
            mem.next_early_seq = early_seq + 1;
        }
        for id in early {
            mem.open.note_closed_early(id, now, now);
        }
        for p in batch.records.values() {
            if p.closed {
                mem.open.remove(&p.id);
            } else {
                mem.open.insert(p.id, p.flow.clone());
            }
        }
        if tail_changed {
            if tail.is_empty() {
                mem.tail_since_ms = 0;
            } else if !had_tail || !sealed.is_empty() {
                mem.tail_since_ms = now;
            }
            mem.tail_chunks = tail_chunks;
            mem.tail_bytes = tail_bytes;
            mem.next_tail_seq = tail_seq;
        }
        // Back in place also when unchanged: it was taken above (a flush that closed nothing once
        // dropped the tail from memory, and the next seal then deleted its stored chunks).
        mem.tail = tail;
        for (id, s) in sealed {
            mem.blocks.insert(id, s);
        }
        mem.next_block = next_block;
        for (level, bucket, m) in hot_puts {
            mem.hot.put(level, bucket, m);
        }
        mem.open_buckets.extend(now_open);
        for f in folded {
            mem.open_buckets.remove(&f);
        }
        Ok(())
    }

    /// The body of [`FlowStore::expire`]; the caller holds the write lock.
    fn expire_with(
        &self,
        db: &sled::Db,
        cutoff_ms: u64,
        usage_cutoff_s: u64,
        max: usize,
    ) -> Result<Expired, StoreError> {
        use crate::retention::is_expired;
        let mut mem = self.mem();
        let mut out = Expired::default();
        let mut b = sled::Batch::default();
        // Summaries go before their files (a crash in between leaves orphan files, removed at the next
        // open); a rewritten block's new file, under a new id, is written before its summary.
        let mut new_bodies: Vec<(u64, Vec<u8>)> = Vec::new();
        let mut next_block = mem.next_block;
        // `work` bounds a pass: one per open or tail record deleted, one per whole block deleted (two
        // key removals), the record count of a block rewritten around the cutoff.
        let mut removed = 0usize;
        let mut work = 0usize;
        let mut open_gone = Vec::new();
        for (id, f) in mem.open.iter() {
            if is_expired(f, cutoff_ms) {
                if work >= max {
                    out.more = true;
                    break;
                }
                open_gone.push(*id);
                b.remove(&id.db_key()[..]);
                removed += 1;
                work += 1;
            }
        }
        let mut tail = Vec::with_capacity(mem.tail.len());
        let mut tail_changed = false;
        for (k, f) in &mem.tail {
            if is_expired(f, cutoff_ms) && work < max {
                removed += 1;
                work += 1;
                tail_changed = true;
            } else {
                out.more |= is_expired(f, cutoff_ms);
                tail.push((*k, f.clone()));
            }
        }
        let mut tail_seq = mem.next_tail_seq;
        let mut tail_chunks = mem.tail_chunks.clone();
        let mut tail_bytes = mem.tail_bytes;
        if tail_changed {
            for seq in tail_chunks.drain(..) {
                b.remove(&tail_chunk_key(seq)[..]);
            }
            tail_bytes = 0;
            if !tail.is_empty() {
                let body = crate::block::encode(&tail).0;
                tail_bytes = body.len();
                b.insert(&tail_chunk_key(tail_seq)[..], body);
                tail_chunks.push(tail_seq);
                tail_seq += 1;
            }
        }
        // Whole blocks go; the block the cutoff falls into is rewritten with its survivors. Deleting
        // all expired blocks in one batch also keeps sled from rewriting the leaves that hold them once
        // per pass.
        let mut blocks_gone = Vec::new();
        let mut blocks_new = Vec::new();
        for (id, s) in &mem.blocks {
            if s.min_last_ms >= cutoff_ms {
                continue;
            }
            if work >= max {
                out.more = true;
                break;
            }
            let count = usize::try_from(s.count).unwrap_or(usize::MAX);
            let sk = block_key(P_SUMMARY, *id);
            if s.max_last_ms < cutoff_ms {
                b.remove(&sk[..]);
                blocks_gone.push(*id);
                removed = removed.saturating_add(count);
                work += 1;
                continue;
            }
            let survivors: Vec<(RecordKey, pb::FlowEvent)> = match self
                .files
                .read(*id)
                .map_err(|e| self.file_error(e))?
                .and_then(|v| Block::decode(&v))
            {
                Some(blk) => blk
                    .records()
                    .into_iter()
                    .filter(|(_, f)| !is_expired(f, cutoff_ms))
                    .collect(),
                None => Vec::new(),
            };
            removed = removed.saturating_add(count.saturating_sub(survivors.len()));
            work = work.saturating_add(count);
            b.remove(&sk[..]);
            blocks_gone.push(*id);
            if !survivors.is_empty() {
                let (body, summary) = crate::block::encode(&survivors);
                new_bodies.push((next_block, body));
                b.insert(&block_key(P_SUMMARY, next_block)[..], summary.encode());
                blocks_new.push((next_block, summary));
                next_block += 1;
            }
        }
        out.records = removed as u64;
        let cutoff_s = cutoff_ms / 1000;
        let mut aggs = 0usize;
        for level in Level::ALL {
            // A bucket goes once all of it is older than the cutoff.
            let end = (cutoff_s + 1).saturating_sub(level.secs());
            mem.hot.expire(level, end);
            for kv in db
                .range(bucket_key(level, 0)..bucket_key(level, end))
                .chain(db.range(open_agg_prefix(level, 0)..open_agg_prefix(level, end)))
            {
                if aggs >= max {
                    out.more = true;
                    break;
                }
                let (k, _) = kv?;
                b.remove(k);
                aggs += 1;
            }
        }
        let end = (usage_cutoff_s + 1).saturating_sub(Level::Day.secs());
        for kv in db.range(usage_key(0)..usage_key(end)) {
            if aggs >= max {
                out.more = true;
                break;
            }
            let (k, _) = kv?;
            b.remove(k);
            aggs += 1;
        }
        out.aggregates = aggs as u64;
        // Flows closed early are remembered for a fixed time after they closed (wall clock, as written).
        let forget = crate::now_ms().saturating_sub(CLOSED_EARLY_MEMORY_MS);
        for k in db
            .range(closed_early_key(0, 0)..closed_early_key(forget, 0))
            .keys()
        {
            b.remove(k?);
        }
        let count = self
            .records
            .load(Ordering::Acquire)
            .saturating_sub(out.records);
        b.insert(META_RECORDS, &count.to_be_bytes()[..]);
        b.insert(META_NEXT_BLOCK, &next_block.to_be_bytes()[..]);
        self.files
            .write_all(new_bodies.iter().map(|(id, body)| (*id, body.as_slice())))
            .map_err(|e| self.file_error(e))?;
        db.apply_batch(b)?;
        if let Err(e) = self.files.remove_all(blocks_gone.iter().copied()) {
            // Their summaries are gone: the next open removes what is left.
            tracing::warn!(error = %e, "Cannot delete an expired block file; retried at the next open.");
        }
        mem.next_block = next_block;
        self.records.store(count, Ordering::Release);
        for id in open_gone {
            mem.open.remove(&id);
        }
        if tail_changed {
            if tail.is_empty() {
                mem.tail_since_ms = 0;
            }
            mem.tail = tail;
            mem.tail_chunks = tail_chunks;
            mem.tail_bytes = tail_bytes;
            mem.next_tail_seq = tail_seq;
        }
        for id in blocks_gone {
            mem.blocks.remove(&id);
        }
        mem.open_buckets
            .retain(|(l, bk)| bk.saturating_add(l.secs()) > cutoff_s);
        for (id, s) in blocks_new {
            mem.blocks.insert(id, s);
        }
        Ok(out)
    }

    /// Sums aggregates of `dim` over `[since_s, until_s)`: hot buckets from memory, the rest from the
    /// database (a window within the hot range needs no handle at all).
    fn sum(
        &self,
        dim: Dim,
        since_s: u64,
        until_s: u64,
    ) -> Result<HashMap<Vec<u8>, AggValue>, StoreError> {
        let mut out: HashMap<Vec<u8>, AggValue> = HashMap::new();
        let mut cold = Vec::new();
        {
            let mem = self.mem();
            for (level, a, b) in cover(since_s, until_s) {
                if mem.hot.holds(level, a) {
                    mem.hot.sum_into(dim, level, a, b, &mut out);
                } else {
                    cold.push((level, a, b));
                }
            }
        }
        if cold.is_empty() {
            return Ok(out);
        }
        let cold = self.read(|db| {
            let mut part: HashMap<Vec<u8>, AggValue> = HashMap::new();
            for (level, a, b) in &cold {
                for kv in db.range(bucket_key(*level, *a)..bucket_key(*level, *b)) {
                    let (k, v) = kv?;
                    if parse_bucket_key(&k).is_none() {
                        continue;
                    }
                    if let Some(m) = buckets::decode(&v) {
                        sum_dim(&m, dim, &mut part);
                    }
                }
                for kv in db.range(open_agg_prefix(*level, *a)..open_agg_prefix(*level, *b)) {
                    let (k, v) = kv?;
                    if let (Some((_, _, d, name)), Some(v)) =
                        (parse_open_agg_key(&k), AggValue::decode(&v))
                        && d == dim as u8
                    {
                        part.entry(name.to_vec()).or_default().add(&v);
                    }
                }
            }
            Ok(part)
        })?;
        for (name, v) in cold {
            out.entry(name).or_default().add(&v);
        }
        Ok(out)
    }
}

/// Open attempts per reopen, 20 ms apart: in-flight reads must drop their handles first.
const REOPEN_TRIES: usize = 50;

fn read_u64(db: &sled::Db, key: &[u8]) -> Result<u64, StoreError> {
    Ok(db
        .get(key)?
        .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
        .map_or(0, u64::from_be_bytes))
}

/// Key of one chunk of the tail.
fn tail_chunk_key(seq: u64) -> [u8; 9] {
    block_key(crate::schema::P_TAIL, seq)
}

/// One stored bucket (empty when absent; a corrupt one is replaced, with a warning).
fn read_bucket(db: &sled::Db, key: &[u8]) -> Result<AggBucket, StoreError> {
    Ok(match db.get(key)? {
        Some(v) => buckets::decode(&v).unwrap_or_else(|| {
            tracing::warn!("Corrupt aggregate bucket in the store database; starting it over.");
            AggBucket::default()
        }),
        None => AggBucket::default(),
    })
}

/// Query filters, normalised once.
struct Filter<'a> {
    app: &'a str,
    host: &'a str,
    verdict: &'a str,
    rule: &'a str,
}

impl Filter<'_> {
    fn matches(&self, f: &pb::FlowEvent) -> bool {
        let host = f.classification.as_ref().map_or("", |c| c.host.as_str());
        (self.app.is_empty()
            || f.label.eq_ignore_ascii_case(self.app)
            || app_of(&f.label).eq_ignore_ascii_case(self.app))
            && (self.host.is_empty() || host.eq_ignore_ascii_case(self.host))
            && (self.verdict.is_empty() || f.verdict == self.verdict)
            && (self.rule.is_empty() || rule_name(&f.rule) == self.rule || f.rule == self.rule)
    }
}

fn since_until_s(since_ms: u64, until_ms: u64, now_ms: u64) -> (u64, u64) {
    if until_ms == 0 || until_ms >= now_ms {
        // Nothing is stored past now: a window ending now may end at the next midnight, so the current
        // hour and day are read as whole hot buckets instead of minute by minute.
        return (
            since_ms / 1000,
            Level::Day.bucket(now_ms / 1000) + Level::Day.secs(),
        );
    }
    (since_ms / 1000, until_ms.div_ceil(1000).saturating_add(1))
}

impl FlowStore for SledStore {
    fn lookup(&self, id: &FlowId) -> Result<Option<(RecordKey, pb::FlowEvent)>, StoreError> {
        Ok(self.mem().open.get(id))
    }

    fn candidates(&self, key: &MatchKey, out: &mut Vec<FlowId>) {
        self.mem().open.candidates(key, out);
    }

    fn closed_early(&self, id: &FlowId) -> bool {
        self.mem().open.closed_early(id)
    }

    fn stale(&self, now_ms: u64, out: &mut Vec<FlowId>) {
        self.mem().open.stale(now_ms, out);
    }

    fn write(&self, batch: &Batch) -> Result<(), StoreError> {
        let _guard = self.lock();
        self.mutate(|db| self.write_with(db, batch))
    }

    fn sync(&self) -> Result<(), StoreError> {
        let _guard = self.lock();
        self.mutate(|db| {
            db.flush()?;
            Ok(())
        })
    }

    fn flows(&self, q: &pb::FlowQuery) -> Result<pb::FlowPage, StoreError> {
        if !q.after_key.is_empty() && RecordKey::from_slice(&q.after_key).is_none() {
            // Ignoring a bad cursor would return the first page again: a client paging would loop.
            return Err(StoreError::BadQuery(
                "after_key is not a cursor from a previous page",
            ));
        }
        self.flows_page(q)
    }

    fn top(&self, q: &pb::TopQuery, now_ms: u64) -> Result<pb::TopReply, StoreError> {
        let dim = match pb::TopBy::try_from(q.by).unwrap_or(pb::TopBy::App) {
            pb::TopBy::App => Dim::App,
            pb::TopBy::Host => Dim::Host,
            pb::TopBy::Rule => Dim::Rule,
            pb::TopBy::Verdict => Dim::Verdict,
        };
        let (mut since, until) = since_until_s(q.since_unix_ms, q.until_unix_ms, now_ms);
        let asked_until = if q.until_unix_ms == 0 {
            now_ms
        } else {
            q.until_unix_ms
        } / 1000;
        if asked_until.saturating_sub(since) >= LONG_WINDOW_S {
            // Long windows start on the hour, so the old edge reads no minute buckets.
            since = Level::Hour.bucket(since);
        }
        let limit = match q.limit {
            0 => DEFAULT_TOP,
            n => n.min(MAX_PAGE),
        } as usize;
        let mut entries: Vec<pb::TopEntry> = self
            .sum(dim, since, until)?
            .into_iter()
            .map(|(name, v)| pb::TopEntry {
                key: String::from_utf8_lossy(&name).into_owned(),
                flows: v.flows,
                bytes: v.bytes,
                packets: v.packets,
            })
            .collect();
        entries.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.key.cmp(&b.key)));
        entries.truncate(limit);
        Ok(pb::TopReply { entries })
    }

    fn totals(&self, q: &pb::TotalsQuery, now_ms: u64) -> Result<pb::TotalsReply, StoreError> {
        let (since, until) = since_until_s(q.since_unix_ms, q.until_unix_ms, now_ms);
        let mut t = AggValue::default();
        for v in self.sum(Dim::Total, since, until)?.values() {
            t.add(v);
        }
        Ok(pb::TotalsReply {
            flows: t.flows,
            bytes: t.bytes,
            packets: t.packets,
            records_stored: self.records()?,
        })
    }

    fn usage(&self, now_s: u64) -> Result<pb::UsageSnapshot, StoreError> {
        self.read(|db| usage_in(db, now_s))
    }

    fn expire(
        &self,
        cutoff_ms: u64,
        usage_cutoff_s: u64,
        max: usize,
    ) -> Result<Expired, StoreError> {
        let _guard = self.lock();
        self.mutate(|db| self.expire_with(db, cutoff_ms, usage_cutoff_s, max))
    }

    fn recover(&self) -> Result<(), StoreError> {
        let _guard = self.lock();
        if self.writable.load(Ordering::Acquire) {
            return Ok(());
        }
        let no_space = |source| StoreError::NoSpace {
            path: self.path.display().to_string(),
            source,
        };
        // Space has returned once the reserve is whole again with room beyond it for the reopen below
        // (as much as the reserve) and for the first batches. Freed log tail alone (sled truncates it at
        // reopen) is not enough.
        let want = crate::reserve::size_for(&self.path);
        self.reserve
            .fill(want, want.saturating_add(RESUME_HEADROOM))
            .map_err(no_space)?;
        // The instance opened after the error may have failed a background write of its own since
        // (sled keeps that error until reopened): write through a fresh one.
        self.reopen_locked(false)?;
        if self.reserve.len() < want {
            // The reopen took the reserve's space after all.
            return Err(no_space(std::io::ErrorKind::StorageFull.into()));
        }
        self.writable.store(true, Ordering::Release);
        Ok(())
    }

    fn records(&self) -> Result<u64, StoreError> {
        Ok(self.records.load(Ordering::Acquire))
    }

    fn size_on_disk(&self) -> u64 {
        // sled's own size_on_disk fails when a snapshot file vanishes mid-walk (seen at 1 M records):
        // sum what can be read instead.
        dir_size(&self.path).saturating_sub(self.reserve.len())
    }
}

impl SledStore {
    /// One flow query: newest first below the cursor. Open and tail records come from memory; blocks
    /// whose summary may match are searched (`Block::newest_matching`) newest-last-key first until
    /// the page is full and no remaining block can hold a newer match (or [`MAX_SCAN_BLOCKS`] were
    /// read: then the page ends at the next block's newest key, with a cursor).
    fn flows_page(&self, q: &pb::FlowQuery) -> Result<pb::FlowPage, StoreError> {
        let limit = match q.limit {
            0 => DEFAULT_PAGE,
            n => n.min(MAX_PAGE),
        } as usize;
        let filter = Filter {
            app: q.app.trim(),
            host: q.host.trim(),
            verdict: q.verdict.trim(),
            rule: q.rule.trim(),
        };
        let lower = RecordKey::lowest_at(q.since_unix_ms);
        // Exclusive upper bound: the cursor, else the first key after `until`.
        let upper = match RecordKey::from_slice(&q.after_key) {
            Some(k) => Some(k),
            None if q.until_unix_ms == 0 || q.until_unix_ms == u64::MAX => None,
            None => Some(RecordKey::lowest_at(q.until_unix_ms.saturating_add(1))),
        };
        let in_range = |k: &RecordKey| *k >= lower && upper.is_none_or(|u| *k < u);
        let mut out: Vec<(RecordKey, pb::FlowEvent)> = Vec::new();
        let blocks: Vec<(u64, RecordKey)> = {
            let mem = self.mem();
            // Keys first, clones only of the page's records.
            let mut hits: Vec<(RecordKey, &pb::FlowEvent)> = mem
                .open
                .newest_below(upper)
                .take_while(|(k, _)| *k >= lower)
                .filter(|(_, f)| filter.matches(f))
                .take(limit)
                .chain(
                    mem.tail
                        .iter()
                        .map(|(k, f)| (*k, f))
                        .filter(|(k, f)| in_range(k) && filter.matches(f)),
                )
                .collect();
            if hits.len() > limit {
                hits.select_nth_unstable_by(limit, |a, b| b.0.cmp(&a.0));
                hits.truncate(limit);
            }
            out.extend(hits.into_iter().map(|(k, f)| (k, f.clone())));
            let mut v: Vec<(u64, RecordKey)> = mem
                .blocks
                .iter()
                .filter(|(_, s)| {
                    s.max_key >= lower
                        && upper.is_none_or(|u| s.min_key < u)
                        && s.may_match(filter.app, filter.host, filter.verdict, filter.rule)
                })
                .map(|(id, s)| (*id, s.max_key))
                .collect();
            v.sort_by_key(|b| std::cmp::Reverse(b.1));
            v
        };
        let settle = |out: &mut Vec<(RecordKey, pb::FlowEvent)>| {
            out.sort_by_key(|b| std::cmp::Reverse(b.0));
            out.truncate(limit);
        };
        settle(&mut out);
        let mut stopped_at = None;
        let mut decoded = 0usize;
        for (id, max_key) in blocks {
            if out.len() >= limit && out.last().is_some_and(|l| max_key < l.0) {
                break;
            }
            if decoded >= MAX_SCAN_BLOCKS {
                stopped_at = Some(max_key);
                break;
            }
            let Some(v) = self.files.read(id).map_err(|e| self.file_error(e))? else {
                continue;
            };
            let filters = [filter.app, filter.host, filter.verdict, filter.rule];
            let Some(found) = Block::newest_matching(&v, filters, in_range, limit) else {
                tracing::warn!(block = id, "Corrupt block in the store database; skipped.");
                continue;
            };
            decoded += 1;
            out.extend(found);
            settle(&mut out);
        }
        if let Some(bound) = stopped_at {
            // Keys up to the unread block's newest are not settled yet: the next page starts there.
            out.retain(|(k, _)| *k > bound);
        }
        let mut page = pb::FlowPage::default();
        if out.len() >= limit {
            page.next_key = out.last().map(|(k, _)| k.0.to_vec()).unwrap_or_default();
        } else if let Some(bound) = stopped_at {
            page.next_key = bound.successor().0.to_vec();
        }
        page.flows = out
            .into_iter()
            .map(|(k, f)| pb::FlowRecord {
                key: k.0.to_vec(),
                flow: Some(f),
            })
            .collect();
        Ok(page)
    }
}

/// LAN-host usage through one handle (see [`FlowStore::usage`]).
fn usage_in(db: &sled::Db, now_s: u64) -> Result<pb::UsageSnapshot, StoreError> {
    let w = UsageWindows::at(now_s);
    let mut hosts: HashMap<Vec<u8>, pb::HostUsage> = HashMap::new();
    let from = w.week_start.min(w.month_start);
    for kv in db.range(usage_key(from)..usage_key(w.day_start + 86_400)) {
        let (k, v) = kv?;
        let (Some(day), Some(m)) = (parse_block_key(&k), buckets::decode(&v)) else {
            continue;
        };
        for ((dim, name), v) in m {
            if dim != Dim::Client as u8 {
                continue;
            }
            let h = hosts.entry(name.clone()).or_insert_with(|| pb::HostUsage {
                ip: name,
                ..Default::default()
            });
            usage::add(h, &w, day, v.bytes);
        }
    }
    for kv in db
        .range(open_agg_prefix(Level::Day, from)..open_agg_prefix(Level::Day, w.day_start + 86_400))
    {
        let (k, v) = kv?;
        let (Some((_, day, dim, name)), Some(v)) = (parse_open_agg_key(&k), AggValue::decode(&v))
        else {
            continue;
        };
        if dim != Dim::Client as u8 {
            continue;
        }
        let h = hosts.entry(name.to_vec()).or_insert_with(|| pb::HostUsage {
            ip: name.to_vec(),
            ..Default::default()
        });
        usage::add(h, &w, day, v.bytes);
    }
    let mut hosts: Vec<pb::HostUsage> = hosts.into_values().collect();
    hosts.sort_by(|a, b| a.ip.cmp(&b.ip));
    Ok(pb::UsageSnapshot {
        time_unix_s: now_s,
        hosts,
    })
}

/// True for an error that says the file system is full.
fn is_no_space(e: &StoreError) -> bool {
    match e {
        StoreError::Open {
            source: sled::Error::Io(io),
            ..
        }
        | StoreError::Db(sled::Error::Io(io)) => io.kind() == std::io::ErrorKind::StorageFull,
        _ => false,
    }
}

/// Everything memory mirrors, read at open: hot aggregates (all hour and day buckets, minute buckets
/// of the hot window), open records, the tail, block summaries.
fn load_mem(db: &sled::Db, files: &BlockFiles) -> Result<Mem, StoreError> {
    let now_s = crate::now_ms() / 1000;
    let mut hot = Hot::new(now_s);
    for level in Level::ALL {
        let from = if level == Level::Minute {
            hot.minute_floor
        } else {
            0
        };
        for kv in db.range(bucket_key(level, from)..=bucket_key(level, u64::MAX)) {
            let (k, v) = kv?;
            if let (Some((l, bucket)), Some(m)) = (parse_bucket_key(&k), buckets::decode(&v)) {
                hot.put(l, bucket, m);
            }
        }
    }
    let mut open_buckets = BTreeSet::new();
    let mut open_sums: HashMap<(Level, u64), AggBucket> = HashMap::new();
    for kv in db.scan_prefix([crate::schema::P_OPEN_AGG]) {
        let (k, v) = kv?;
        let (Some((level, bucket, dim, name)), Some(v)) =
            (parse_open_agg_key(&k), AggValue::decode(&v))
        else {
            continue;
        };
        open_buckets.insert((level, bucket));
        if dim != Dim::Client as u8 && hot.holds(level, bucket) {
            open_sums
                .entry((level, bucket))
                .or_default()
                .entry((dim, name.to_vec()))
                .or_default()
                .add(&v);
        }
    }
    for ((level, bucket), m) in open_sums {
        let mut all = hot.stored(level, bucket).unwrap_or_default();
        buckets::add_all(&mut all, &m);
        hot.put(level, bucket, all);
    }
    let mut open = OpenSet::default();
    for kv in db.scan_prefix([P_OPEN]) {
        let (k, v) = kv?;
        let Ok(f) = pb::FlowEvent::decode(v.as_ref()) else {
            continue;
        };
        let Some(id) = FlowId::from_pb(f.flow.as_ref()) else {
            continue;
        };
        if k.as_ref() == &id.db_key()[..] {
            open.insert(id, f);
        }
    }
    let mut tail = Vec::new();
    let mut tail_chunks = Vec::new();
    let mut tail_bytes = 0usize;
    for kv in db.scan_prefix(TAIL_KEY) {
        let (k, v) = kv?;
        let Some(seq) = parse_block_key(&k) else {
            continue;
        };
        tail_bytes = tail_bytes.saturating_add(v.len());
        match Block::decode(&v) {
            Some(b) => tail.extend(b.records()),
            None => {
                tracing::warn!("Corrupt tail chunk in the store database; its records are lost.")
            }
        }
        tail_chunks.push(seq);
    }
    let next_tail_seq = tail_chunks.last().map_or(0, |s| s + 1);
    let mut blocks = BTreeMap::new();
    for kv in db.scan_prefix([P_SUMMARY]) {
        let (k, v) = kv?;
        if let (Some(id), Some(s)) = (parse_block_key(&k), Summary::decode(&v)) {
            blocks.insert(id, s);
        }
    }
    let next_block =
        read_u64(db, META_NEXT_BLOCK)?.max(blocks.keys().next_back().map_or(0, |id| id + 1));
    // Files written by a flush that failed before its summaries, or left by retention (see
    // `blockfile.rs`).
    let orphans = files
        .remove_orphans(|id| blocks.contains_key(&id))
        .map_err(|source| StoreError::BlockFile {
            path: files.dir().display().to_string(),
            source,
        })?;
    if orphans > 0 {
        tracing::info!(files = orphans, "Removed block files without a summary.");
    }
    // Flows closed early within the memory window, so a late capture event after a restart is still
    // recognised (`open.rs`).
    let now_ms = crate::now_ms();
    let mut next_early_seq = 0;
    for kv in db.scan_prefix([P_CLOSED_EARLY]) {
        let (k, v) = kv?;
        let Some((closed_ms, seq)) = parse_closed_early_key(&k) else {
            continue;
        };
        next_early_seq = next_early_seq.max(seq.saturating_add(1));
        if now_ms.saturating_sub(closed_ms) >= CLOSED_EARLY_MEMORY_MS {
            continue;
        }
        match decode_ids(&v) {
            Some(ids) => {
                for id in ids {
                    open.note_closed_early(id, closed_ms, now_ms);
                }
            }
            None => {
                tracing::warn!("Corrupt list of early-closed flows in the store database; skipped.")
            }
        }
    }
    Ok(Mem {
        hot,
        open,
        next_early_seq,
        tail_since_ms: if tail.is_empty() { 0 } else { crate::now_ms() },
        tail_chunks,
        tail_bytes,
        next_tail_seq,
        tail,
        blocks,
        next_block,
        open_buckets,
    })
}

/// Opens (creating) the database and checks its schema version.
fn open_db(path: &Path, cache_capacity: u64) -> Result<sled::Db, StoreError> {
    let db = sled::Config::new()
        .path(path)
        .cache_capacity(cache_capacity)
        .open()
        .map_err(|source| StoreError::Open {
            path: path.display().to_string(),
            source,
        })?;
    match db.get(META_SCHEMA)? {
        Some(v) => {
            let found = <[u8; 4]>::try_from(v.as_ref())
                .map(u32::from_be_bytes)
                .unwrap_or(u32::MAX);
            if found > SCHEMA_VERSION {
                return Err(StoreError::SchemaTooNew {
                    path: path.display().to_string(),
                    found,
                    supported: SCHEMA_VERSION,
                });
            }
            if found < SCHEMA_VERSION {
                return Err(StoreError::SchemaOld {
                    path: path.display().to_string(),
                    found,
                    layout: if found == 1 {
                        "one sled key per flow record, before closed records moved into blocks"
                    } else {
                        "closed-record blocks inside sled, before they moved to files"
                    },
                    supported: SCHEMA_VERSION,
                });
            }
        }
        None => {
            db.insert(META_SCHEMA, &SCHEMA_VERSION.to_be_bytes())?;
            db.flush()?;
        }
    }
    Ok(db)
}

/// Bytes of all files under `dir`, skipping entries that vanish while walking.
fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
