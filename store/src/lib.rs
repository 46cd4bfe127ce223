//! nfguard-store: the only process that opens the flow database (DESIGN §3, §8).
//!
//! It subscribes to every capture's `flows-q<N>.sock` and the conntrack worker's `flows-ct.sock`, merges
//! START / UPDATE / END events into one record per flow (a conntrack END into the capture's record of
//! the same flow, `open.rs`) plus per-minute/hour/day aggregates, keeps closed records in compressed
//! blocks (`block.rs`) stored as files beside sled (`blockfile.rs`), closes offloaded records whose
//! kernel END never comes (`open.rs`, every [`SWEEP_INTERVAL`]), and writes
//! them in one atomic batch every `[store] flush_interval` (default 1 s — the most a kill -9 can lose),
//! followed by an fsync. It answers queries on `store.sock`, publishes LAN-host usage on `usage.sock`
//! after every flush and every [`USAGE_INTERVAL`], and deletes data older than `retention` in small
//! chunks so ingest never waits long. When a write fails (full disk) ingest pauses and keeps its batch,
//! queries go on reading the last durable state, and writing resumes by itself once space returns (see
//! `db.rs` and `reserve.rs`). With `[export] ipfix` set, every flushed batch also goes to the IPFIX
//! exporter (`export/`).

pub mod block;
pub mod blockfile;
pub mod buckets;
pub mod codec;
pub mod db;
pub mod export;
pub mod hot;
pub mod ingest;
pub mod open;
pub mod reserve;
pub mod retention;
pub mod schema;
mod service;
pub mod usage;

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nfguard_proto::bus::BusError;
use nfguard_proto::config::Config;

pub use db::{FlowStore, SledStore, StoreKnown};
pub use service::{answer, run};

/// Usage snapshots are published at least this often (and after every flush).
pub const USAGE_INTERVAL: Duration = Duration::from_secs(5);
/// How often retention runs.
pub const RETENTION_INTERVAL: Duration = Duration::from_secs(60);
/// How often offloaded records that wait for a kernel END are checked (`open::is_stale`).
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(5);
/// A batch this large is flushed before its interval ends, bounding memory and flush time.
pub const MAX_BATCH_EVENTS: u64 = 20_000;

/// Why the store stopped or a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the store database {path}: {source}")]
    Open { path: String, source: sled::Error },
    #[error(
        "the store database {path} has schema version {found}, newer than this nfguard-store supports ({supported}); run a newer nfguard-store or point [store] path at another directory"
    )]
    SchemaTooNew {
        path: String,
        found: u32,
        supported: u32,
    },
    #[error(
        "the store database {path} has schema version {found} ({layout}); this nfguard-store reads only version {supported} and does not migrate it: stop the store, move {path} aside (or delete it: its flow history is lost) and start again, or point [store] path at another directory"
    )]
    SchemaOld {
        path: String,
        found: u32,
        /// What that version stored differently.
        layout: &'static str,
        supported: u32,
    },
    #[error("bad query: {0}")]
    BadQuery(&'static str),
    #[error("the store database is being reopened after a write error")]
    Reopening,
    #[error("store writes are paused after a write error (disk full?) until space returns")]
    Paused,
    #[error("no space yet to resume writing the store database {path}: {source}")]
    NoSpace {
        path: String,
        source: std::io::Error,
    },
    #[error("store database: {0}")]
    Db(#[from] sled::Error),
    #[error("store block file {path}: {source}")]
    BlockFile {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error("cannot create the runtime directory {path}: {source}")]
    RuntimeDir {
        path: String,
        source: std::io::Error,
    },
    #[error("store worker thread failed: {0}")]
    Worker(String),
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `[store] path`, resolved against the config file's directory when relative.
pub fn db_path(cfg: &Config) -> PathBuf {
    if cfg.store.path.is_absolute() {
        cfg.store.path.clone()
    } else {
        cfg.base_dir().join(&cfg.store.path)
    }
}
