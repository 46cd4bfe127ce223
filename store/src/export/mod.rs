//! Flow export over IPFIX (`[export] ipfix`, DESIGN §8): after every flush the store hands the
//! batch's records here ([`Exporter::offer`], the one call in the store's ingest), they become
//! unidirectional IPFIX records with delta counters (`records.rs`), and each collector's thread
//! encodes (`ipfix.rs`) and sends them (`sender.rs`).
//!
//! It runs in the store because the store is where a flow's record is complete (START / UPDATE / END
//! and the kernel's totals merged into one); a separate process would need all of that again. It
//! never slows ingest: conversion is a pass over records already in memory, each collector has a
//! bounded queue (`[export] queue` records) filled with `try_send`, and a full queue drops the
//! records and counts them per collector.

pub mod ipfix;
pub mod records;
mod sender;

#[cfg(test)]
pub mod decode;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;

use nfguard_proto::config::ExportConfig;
use nfguard_proto::metrics::SnapshotBuilder;

pub use ipfix::FlowRecord;
pub use records::Tracker;
pub use sender::CollectorStats;

use crate::ingest::PendingRecord;

/// Batches waiting per collector (one per flush; the record bound is `[export] queue`).
const QUEUE_BATCHES: usize = 1024;

struct Handle {
    tx: SyncSender<Arc<[FlowRecord]>>,
    queued: Arc<AtomicUsize>,
    stats: Arc<CollectorStats>,
    thread: JoinHandle<()>,
}

/// The exporter: delta tracking on the caller's thread, one sender thread per collector.
pub struct Exporter {
    tracker: Tracker,
    out: Vec<FlowRecord>,
    cap: usize,
    collectors: Vec<Handle>,
}

impl Exporter {
    /// Starts one thread per collector; `None` when `[export] ipfix` is empty.
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
        Ok(Some(Exporter {
            tracker: Tracker::default(),
            out: Vec::new(),
            cap: cfg.queue,
            collectors,
        }))
    }

    /// Queues the IPFIX records of a flushed batch for every collector (never waits).
    pub fn offer<'a>(&mut self, batch: impl IntoIterator<Item = &'a PendingRecord>, now_ms: u64) {
        self.out.clear();
        self.tracker.records(batch, now_ms, &mut self.out);
        if self.out.is_empty() {
            return;
        }
        let n = self.out.len();
        let records: Arc<[FlowRecord]> = self.out.drain(..).collect();
        for h in &self.collectors {
            let s = &h.stats;
            if h.queued.load(Ordering::Relaxed) + n > self.cap {
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

    /// The collectors' counters, for the metrics heartbeat.
    pub fn stats(&self) -> ExportStats {
        ExportStats(self.collectors.iter().map(|h| h.stats.clone()).collect())
    }

    /// Open flows whose exported counters are tracked.
    pub fn tracked(&self) -> usize {
        self.tracker.len()
    }

    /// Closes the queues and waits for the threads to send what they hold (each send is bounded by
    /// the sender's connect and write timeouts).
    pub fn stop(self) {
        for h in self.collectors {
            drop(h.tx);
            let _ = h.thread.join();
        }
    }
}

/// Shared view of every collector's counters.
#[derive(Clone, Default)]
pub struct ExportStats(Vec<Arc<CollectorStats>>);

impl ExportStats {
    pub fn report(&self, b: &mut SnapshotBuilder) {
        let g = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        for s in &self.0 {
            let l = [("collector", s.name.as_str())];
            b.counter("nfguard_export_records_sent_total", &l, g(&s.sent))
                .counter("nfguard_export_records_dropped_total", &l, g(&s.dropped))
                .counter("nfguard_export_messages_total", &l, g(&s.messages))
                .counter("nfguard_export_send_errors_total", &l, g(&s.send_errors))
                .counter("nfguard_export_connects_total", &l, g(&s.connects))
                .gauge("nfguard_export_collector_up", &l, g(&s.up) as f64);
        }
    }

    /// Per collector: (name, sent, dropped).
    pub fn totals(&self) -> Vec<(String, u64, u64)> {
        self.0
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
