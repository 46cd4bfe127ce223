//! Flow export over IPFIX (`[export] ipfix`, DESIGN §8): after every flush the store hands the
//! batch's records here ([`Exporter::offer`], the one call in the store's ingest); they become
//! unidirectional IPFIX records with delta counters (`records.rs`), and each collector's thread
//! encodes (`ipfix.rs`) and sends them (`sender.rs`).
//!
//! It runs in the store because the store is where a flow's record is complete (START / UPDATE / END
//! and the kernel's totals merged into one); a separate process would need all of that again. It
//! never slows ingest: the flushed batch's records move (no copy) to a converter thread through a
//! bounded queue, each collector has a bounded queue (`[export] queue` records) filled with
//! `try_send`, and a full queue drops the records and counts them per collector.

pub mod ipfix;
pub mod records;
mod sender;

#[cfg(test)]
pub mod decode;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;

use nfguard_proto::config::ExportConfig;
use nfguard_proto::metrics::SnapshotBuilder;

pub use ipfix::FlowRecord;
pub use records::Tracker;
pub use sender::CollectorStats;

use crate::ingest::PendingRecord;
use crate::schema::FlowId;

/// Batches waiting per collector (one per flush; the record bound is `[export] queue`).
const QUEUE_BATCHES: usize = 1024;
/// Flushed batches waiting for conversion. The converter handles ~10× the store's ingest rate
/// (`examples/bench.rs --export`), so this fills only if it is starved of CPU.
const CONVERT_BATCHES: usize = 8;

type Records = HashMap<FlowId, PendingRecord>;

struct Handle {
    tx: SyncSender<Arc<[FlowRecord]>>,
    queued: Arc<AtomicUsize>,
    stats: Arc<CollectorStats>,
    thread: JoinHandle<()>,
}

/// The exporter: a converter thread (delta tracking, fan-out) and one sender thread per collector.
pub struct Exporter {
    tx: SyncSender<(Records, u64)>,
    converter: JoinHandle<()>,
    stats: ExportStats,
}

impl Exporter {
    /// Starts the threads; `None` when `[export] ipfix` is empty.
    ///
    /// # Errors
    /// When a thread cannot be spawned.
    pub fn start(cfg: &ExportConfig) -> std::io::Result<Option<Exporter>> {
        if cfg.ipfix.is_empty() {
            return Ok(None);
        }
        let mut collectors = Vec::new();
        for (i, c) in cfg.ipfix.iter().enumerate() {
            let (tx, rx) = sync_channel(QUEUE_BATCHES);
            let queued = Arc::new(AtomicUsize::new(0));
            let stats = Arc::new(CollectorStats::new(c.to_string()));
            let s = sender::Sender {
                collector: *c,
                domain: cfg.observation_domain,
                max_message: cfg.max_message,
                template_refresh: cfg.template_refresh.0,
                rx,
                queued: queued.clone(),
                stats: stats.clone(),
            };
            let thread = std::thread::Builder::new()
                .name(format!("ipfix-{i}"))
                .spawn(move || s.run())?;
            tracing::info!(collector = %c, "IPFIX export started.");
            collectors.push(Handle {
                tx,
                queued,
                stats,
                thread,
            });
        }
        let stats = ExportStats {
            collectors: collectors.iter().map(|h| h.stats.clone()).collect(),
            batches_dropped: Arc::new(AtomicU64::new(0)),
        };
        let (tx, rx) = sync_channel::<(Records, u64)>(CONVERT_BATCHES);
        let cap = cfg.queue;
        let converter = std::thread::Builder::new()
            .name("ipfix-convert".into())
            .spawn(move || {
                let mut tracker = Tracker::default();
                let mut out = Vec::new();
                for (records, now_ms) in rx {
                    tracker.records(records.values(), now_ms, &mut out);
                    fan_out(&collectors, cap, &mut out);
                }
                for h in collectors {
                    drop(h.tx);
                    let _ = h.thread.join();
                }
            })?;
        Ok(Some(Exporter {
            tx,
            converter,
            stats,
        }))
    }

    /// Hands a flushed batch's records to the exporter (never waits: a full queue drops the batch
    /// and counts it).
    pub fn offer(&mut self, records: Records, now_ms: u64) {
        if records.is_empty() {
            return;
        }
        if self.tx.try_send((records, now_ms)).is_err() {
            self.stats.batches_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The collectors' counters, for the metrics heartbeat.
    pub fn stats(&self) -> ExportStats {
        self.stats.clone()
    }

    /// Closes the queues and waits for the threads to send what they hold (each send is bounded by
    /// the sender's connect and write timeouts).
    pub fn stop(self) {
        drop(self.tx);
        let _ = self.converter.join();
    }
}

/// Queues `out` for every collector whose queue has room; counts it as dropped for the others.
fn fan_out(collectors: &[Handle], cap: usize, out: &mut Vec<FlowRecord>) {
    if out.is_empty() {
        return;
    }
    let n = out.len();
    let records: Arc<[FlowRecord]> = out.drain(..).collect();
    for h in collectors {
        let s = &h.stats;
        if h.queued.load(Ordering::Relaxed) + n > cap {
            s.dropped.fetch_add(n as u64, Ordering::Relaxed);
            continue;
        }
        h.queued.fetch_add(n, Ordering::Relaxed);
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
            h.tx.try_send(records.clone())
        {
            h.queued.fetch_sub(n, Ordering::Relaxed);
            s.dropped.fetch_add(n as u64, Ordering::Relaxed);
        }
    }
}

/// Shared view of the exporter's counters.
#[derive(Clone, Default)]
pub struct ExportStats {
    collectors: Vec<Arc<CollectorStats>>,
    /// Flushed batches the converter had no room for (none of their records reached any collector).
    batches_dropped: Arc<AtomicU64>,
}

impl ExportStats {
    pub fn report(&self, b: &mut SnapshotBuilder) {
        let g = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        b.counter(
            "nfguard_export_batches_dropped_total",
            &[],
            g(&self.batches_dropped),
        );
        for s in &self.collectors {
            let l = [("collector", s.name.as_str())];
            b.counter("nfguard_export_records_sent_total", &l, g(&s.sent))
                .counter("nfguard_export_records_dropped_total", &l, g(&s.dropped))
                .counter("nfguard_export_messages_total", &l, g(&s.messages))
                .counter("nfguard_export_send_errors_total", &l, g(&s.send_errors))
                .counter("nfguard_export_connects_total", &l, g(&s.connects))
                .gauge("nfguard_export_collector_up", &l, g(&s.up) as f64);
        }
    }

    /// Flushed batches dropped before conversion.
    pub fn batches_dropped(&self) -> u64 {
        self.batches_dropped.load(Ordering::Relaxed)
    }

    /// Per collector: (name, sent, dropped).
    pub fn totals(&self) -> Vec<(String, u64, u64)> {
        self.collectors
            .iter()
            .map(|s| {
                (
                    s.name.clone(),
                    s.sent.load(Ordering::Relaxed),
                    s.dropped.load(Ordering::Relaxed),
                )
            })
            .collect()
    }
}
