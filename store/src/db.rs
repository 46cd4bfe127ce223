//! The storage trait and its sled implementation: atomic batch writes, secondary-index flow queries
//! (newest first, cursor-paginated), top-N and totals from bucketed aggregates, usage sums, retention.
//!
//! Full disk (issue #8): after an I/O error sled 0.34 keeps a "global error" in that instance until it
//! is reopened: every later write fails, and so do reads that meet a node needing a split or merge
//! (`Tree::view_for_key` completes those cooperatively and they write to the log), about one range scan
//! in ten in our measurement. So a failed write reopens the database at once, on the space the reserve
//! (`reserve.rs`) frees, and queries read the last durable state through the fresh handle while writes
//! stay refused until [`FlowStore::recover`] finds room again.

use std::collections::HashMap;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

use nfguard_proto::pb;
use prost::Message;

use crate::StoreError;
use crate::hot::Hot;
use crate::ingest::Batch;
use crate::reserve::{RESUME_HEADROOM, Reserve};
use crate::schema::{
    AggValue, Dim, FlowId, Level, META_RECORDS, META_SCHEMA, P_RECORD, RecordKey, SCHEMA_VERSION,
    agg_key, app_of, cover, index_key, index_prefix, index_values, parse_agg_key, rule_name,
    split_agg_key,
};
use crate::usage::{self, UsageWindows};

/// Flows per page when the query gives no limit.
pub const DEFAULT_PAGE: u32 = 100;
/// Largest page a query may ask for.
pub const MAX_PAGE: u32 = 1000;
/// Entries one flow query may examine; past it the page ends early with a cursor, so a query whose
/// filters match almost nothing costs bounded time instead of a full scan.
pub const MAX_SCAN: usize = 100_000;
/// Top-N windows at least this long (s) start at the whole hour (up to 59 minutes more than asked).
pub const LONG_WINDOW_S: u64 = 6 * 3600;
/// Top-N entries when the query gives no limit.
pub const DEFAULT_TOP: u32 = 10;

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
    /// The stored record of a flow, by its bus identity.
    fn lookup(&self, id: &FlowId) -> Result<Option<(RecordKey, pb::FlowEvent)>, StoreError>;
    /// Writes a batch atomically (records, index changes, aggregate increments, record count).
    fn write(&self, batch: &Batch) -> Result<(), StoreError>;
    /// Makes everything written so far durable.
    fn sync(&self) -> Result<(), StoreError>;
    fn flows(&self, q: &pb::FlowQuery) -> Result<pb::FlowPage, StoreError>;
    fn top(&self, q: &pb::TopQuery, now_ms: u64) -> Result<pb::TopReply, StoreError>;
    fn totals(&self, q: &pb::TotalsQuery, now_ms: u64) -> Result<pb::TotalsReply, StoreError>;
    /// Bytes per LAN host for the UTC day, ISO week and calendar month containing `now_s`.
    fn usage(&self, now_s: u64) -> Result<pb::UsageSnapshot, StoreError>;
    /// Deletes records last seen before `cutoff_ms` (with their index entries), aggregate buckets that
    /// end by `cutoff_ms`, and LAN-host usage buckets that end by `usage_cutoff_s`; at most `max` records.
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
    hot: Mutex<Hot>,
    /// The stored record count (`META_RECORDS`), kept by the writer so totals need no disk read.
    records: AtomicU64,
    /// False from a failed write until [`FlowStore::recover`] succeeds: writes are refused meanwhile,
    /// so nothing spends the space the reserve freed for the reopen and for reads.
    writable: AtomicBool,
    reserve: Reserve,
    /// Serialises read-modify-write of aggregates and the record count between the ingest flush and
    /// retention, and every reopen (all on blocking threads; never held across an `.await`).
    write_lock: Mutex<()>,
}

impl SledStore {
    /// Opens (creating) the database and checks its schema version.
    ///
    /// # Errors
    /// [`StoreError::Open`] if sled cannot open it, [`StoreError::SchemaTooNew`] for a newer layout.
    ///
    /// It also writes the reserve (see `reserve.rs`) when it is missing or too small; on a disk too full
    /// for it the store still opens, with a warning (a later write error may then leave queries without
    /// a database until space returns).
    pub fn open(path: &Path, cache_capacity: u64) -> Result<Self, StoreError> {
        let db = open_db(path, cache_capacity)?;
        let hot = load_hot(&db, crate::now_ms() / 1000)?;
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
            hot: Mutex::new(hot),
            records: AtomicU64::new(records),
            writable: AtomicBool::new(true),
            reserve,
            write_lock: Mutex::new(()),
        })
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
        if let Err(StoreError::Db(e)) = &res {
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
                    *self.hot() = load_hot(&db, crate::now_ms() / 1000)?;
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

    fn hot(&self) -> std::sync::MutexGuard<'_, Hot> {
        self.hot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        // A panic while holding it leaves no partial state (sled batches are atomic): recover the guard.
        self.write_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The body of [`FlowStore::write`]; the caller holds the write lock.
    fn write_with(&self, db: &sled::Db, batch: &Batch) -> Result<(), StoreError> {
        let mut b = sled::Batch::default();
        for p in batch.records.values() {
            let new_index = index_values(&p.flow);
            let old_index = p.stored_index.as_deref().unwrap_or(&[]);
            for (d, v) in old_index {
                if !new_index.iter().any(|(nd, nv)| nd == d && nv == v) {
                    b.remove(index_key(*d, v, &p.key));
                }
            }
            for (d, v) in &new_index {
                if !old_index.iter().any(|(od, ov)| od == d && ov == v) {
                    b.insert(index_key(*d, v, &p.key), &[] as &[u8]);
                }
            }
            b.insert(&p.key.db_key()[..], p.flow.encode_to_vec());
            if p.stored_index.is_none() {
                b.insert(&p.id.db_key()[..], &p.key.0[..]);
            }
        }
        // The hot cache mirrors the stored value of every bucket it holds (updated below, after the batch
        // applied; reloaded from disk by a reopen after a failed one), so only the other aggregates are
        // read back. Iterating the unchanged map twice visits it in the same order.
        let known: Vec<Option<AggValue>> = {
            let mut hot = self.hot();
            hot.advance(crate::now_ms() / 1000);
            batch
                .aggs
                .keys()
                .map(|k| {
                    let (dim, level, bucket, name) = parse_agg_key(k)?;
                    hot.stored(dim, level, bucket, name)
                })
                .collect()
        };
        for ((k, d), known) in batch.aggs.iter().zip(known) {
            let mut v = match known {
                Some(v) => v,
                None => db
                    .get(k)?
                    .and_then(|v| AggValue::decode(&v))
                    .unwrap_or_default(),
            };
            v.add(d);
            b.insert(k.as_slice(), &v.encode()[..]);
        }
        let count = read_u64(db, META_RECORDS)?.saturating_add(batch.new_records);
        b.insert(META_RECORDS, &count.to_be_bytes()[..]);
        db.apply_batch(b)?;
        self.records.store(count, Ordering::Release);
        let mut hot = self.hot();
        hot.advance(crate::now_ms() / 1000);
        for (k, d) in &batch.aggs {
            if let Some((dim, level, bucket, name)) = parse_agg_key(k) {
                hot.add(dim, level, bucket, name, d);
            }
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
        let mut out = Expired::default();
        let mut b = sled::Batch::default();
        let mut removed = 0u64;
        let lo = vec![P_RECORD];
        let hi = RecordKey::lowest_at(cutoff_ms).db_key().to_vec();
        for kv in db.range(lo..hi) {
            if removed as usize >= max {
                out.more = true;
                break;
            }
            let (k, v) = kv?;
            let Some(key) = k.get(1..).and_then(RecordKey::from_slice) else {
                b.remove(k);
                continue;
            };
            let flow = pb::FlowEvent::decode(v.as_ref()).ok();
            if let Some(f) = &flow {
                if !crate::retention::is_expired(f, cutoff_ms) {
                    continue;
                }
                for (d, val) in index_values(f) {
                    b.remove(index_key(d, &val, &key));
                }
                if let Some(id) = FlowId::from_pb(f.flow.as_ref()) {
                    b.remove(&id.db_key()[..]);
                }
            }
            b.remove(k);
            removed += 1;
        }
        out.records = removed;
        let cutoff_s = cutoff_ms / 1000;
        for dim in [
            Dim::App,
            Dim::Host,
            Dim::Verdict,
            Dim::Rule,
            Dim::Total,
            Dim::Client,
        ] {
            let cut = if dim == Dim::Client {
                usage_cutoff_s
            } else {
                cutoff_s
            };
            for level in Level::ALL {
                // A bucket goes once all of it is older than the cutoff.
                let end = (cut + 1).saturating_sub(level.secs());
                self.hot().expire(dim as u8, level as u8, end);
                for kv in db.range(agg_key(dim, level, 0, b"")..agg_key(dim, level, end, b"")) {
                    if out.aggregates as usize >= max {
                        out.more = true;
                        break;
                    }
                    let (k, _) = kv?;
                    b.remove(k);
                    out.aggregates += 1;
                }
            }
        }
        let count = read_u64(db, META_RECORDS)?.saturating_sub(removed);
        b.insert(META_RECORDS, &count.to_be_bytes()[..]);
        db.apply_batch(b)?;
        self.records.store(count, Ordering::Release);
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
            let hot = self.hot();
            for (level, a, b) in cover(since_s, until_s) {
                if hot.holds(level, a) {
                    hot.sum_into(dim, level, a, b, &mut out);
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
                for kv in db.range(agg_key(dim, *level, *a, b"")..agg_key(dim, *level, *b, b"")) {
                    let (k, v) = kv?;
                    let (Some((_, name)), Some(v)) = (split_agg_key(&k), AggValue::decode(&v))
                    else {
                        continue;
                    };
                    part.entry(name.to_vec()).or_default().add(&v);
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

fn record(db: &sled::Db, key: &RecordKey) -> Result<Option<pb::FlowEvent>, StoreError> {
    Ok(db
        .get(key.db_key())?
        .and_then(|v| pb::FlowEvent::decode(v.as_ref()).ok()))
}

fn read_u64(db: &sled::Db, key: &[u8]) -> Result<u64, StoreError> {
    Ok(db
        .get(key)?
        .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
        .map_or(0, u64::from_be_bytes))
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

    /// The index to walk: the filter likely to match fewest records first.
    fn index(&self) -> Option<(Dim, Vec<u8>)> {
        if !self.host.is_empty() {
            Some((Dim::Host, self.host.to_ascii_lowercase().into_bytes()))
        } else if !self.rule.is_empty() {
            Some((Dim::Rule, self.rule.as_bytes().to_vec()))
        } else if !self.app.is_empty() {
            Some((Dim::App, self.app.to_ascii_lowercase().into_bytes()))
        } else if !self.verdict.is_empty() {
            Some((Dim::Verdict, self.verdict.as_bytes().to_vec()))
        } else {
            None
        }
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
        self.read(|db| {
            let Some(k) = db.get(id.db_key())? else {
                return Ok(None);
            };
            let Some(key) = RecordKey::from_slice(&k) else {
                return Ok(None);
            };
            Ok(record(db, &key)?.map(|f| (key, f)))
        })
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
        self.read(|db| flows_in(db, q))
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

    fn records(&self) -> Result<u64, StoreError> {
        Ok(self.records.load(Ordering::Acquire))
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

    fn size_on_disk(&self) -> u64 {
        // sled's own size_on_disk fails when a snapshot file vanishes mid-walk (seen at 1 M records):
        // sum what can be read instead.
        dir_size(&self.path).saturating_sub(self.reserve.len())
    }
}

/// One flow query through one handle (see [`FlowStore::flows`]); the cursor is already validated.
fn flows_in(db: &sled::Db, q: &pb::FlowQuery) -> Result<pb::FlowPage, StoreError> {
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
    let mut page = pb::FlowPage::default();
    let mut scanned = 0usize;
    let mut last_key = None;
    let push = |key: RecordKey, flow: pb::FlowEvent, page: &mut pb::FlowPage| {
        page.flows.push(pb::FlowRecord {
            key: key.0.to_vec(),
            flow: Some(flow),
        });
    };
    match filter.index() {
        Some((dim, value)) => {
            let prefix = index_prefix(dim, &value);
            let lo = [prefix.as_slice(), &lower.0].concat();
            let hi = match upper {
                Some(u) => Bound::Excluded([prefix.as_slice(), &u.0].concat()),
                None => Bound::Excluded([prefix.as_slice(), &[0xff; RecordKey::LEN + 1]].concat()),
            };
            for kv in db.range((Bound::Included(lo), hi)).rev() {
                let (k, _) = kv?;
                let Some(key) = k.get(prefix.len()..).and_then(RecordKey::from_slice) else {
                    continue;
                };
                scanned += 1;
                last_key = Some(key);
                if let Some(flow) = record(db, &key)?
                    && filter.matches(&flow)
                {
                    push(key, flow, &mut page);
                }
                if page.flows.len() >= limit || scanned >= MAX_SCAN {
                    break;
                }
            }
        }
        None => {
            let lo = Bound::Included(lower.db_key().to_vec());
            let hi = match upper {
                Some(u) => Bound::Excluded(u.db_key().to_vec()),
                None => Bound::Excluded(vec![P_RECORD + 1]),
            };
            for kv in db.range((lo, hi)).rev() {
                let (k, v) = kv?;
                let Some(key) = k.get(1..).and_then(RecordKey::from_slice) else {
                    continue;
                };
                scanned += 1;
                last_key = Some(key);
                if let Ok(flow) = pb::FlowEvent::decode(v.as_ref()) {
                    push(key, flow, &mut page);
                }
                if page.flows.len() >= limit {
                    break;
                }
            }
        }
    }
    if page.flows.len() >= limit || scanned >= MAX_SCAN {
        page.next_key = last_key.map(|k| k.0.to_vec()).unwrap_or_default();
    }
    Ok(page)
}

/// LAN-host usage through one handle (see [`FlowStore::usage`]).
fn usage_in(db: &sled::Db, now_s: u64) -> Result<pb::UsageSnapshot, StoreError> {
    let w = UsageWindows::at(now_s);
    let mut hosts: HashMap<Vec<u8>, pb::HostUsage> = HashMap::new();
    let from = w.week_start.min(w.month_start);
    for kv in db.range(
        agg_key(Dim::Client, Level::Day, from, b"")
            ..agg_key(Dim::Client, Level::Day, w.day_start + 86_400, b""),
    ) {
        let (k, v) = kv?;
        let (Some((bucket, name)), Some(v)) = (split_agg_key(&k), AggValue::decode(&v)) else {
            continue;
        };
        let h = hosts.entry(name.to_vec()).or_insert_with(|| pb::HostUsage {
            ip: name.to_vec(),
            ..Default::default()
        });
        usage::add(h, &w, bucket, v.bytes);
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

/// Reads the hot aggregates (all hour and day buckets, minute buckets of the hot window) at open.
fn load_hot(db: &sled::Db, now_s: u64) -> Result<Hot, StoreError> {
    let mut hot = Hot::new(now_s);
    for dim in [Dim::App, Dim::Host, Dim::Verdict, Dim::Rule, Dim::Total] {
        for level in Level::ALL {
            let from = if level == Level::Minute {
                hot.minute_floor
            } else {
                0
            };
            for kv in db.range(agg_key(dim, level, from, b"")..agg_key(dim, level, u64::MAX, b"")) {
                let (k, v) = kv?;
                if let (Some((d, l, bucket, name)), Some(v)) =
                    (parse_agg_key(&k), AggValue::decode(&v))
                {
                    hot.add(d, l, bucket, name, &v);
                }
            }
        }
    }
    Ok(hot)
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
