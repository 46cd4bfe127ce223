//! The store process's tasks: ingest (subscribe, batch, flush, publish usage), queries on `store.sock`,
//! retention, and the metrics heartbeat. Storage work runs on blocking threads; the runtime never waits
//! on the disk.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nfguard_proto::bus::{Publisher, RpcServer, Subscriber, ensure_runtime_dir, new_boot_id};
use nfguard_proto::config::Config;
use nfguard_proto::metrics::{Histogram, SnapshotBuilder};
use nfguard_proto::pb;
use nfguard_proto::process::{endpoints, spawn_metrics};
use tokio::sync::watch;

use crate::export::Exporter;
use crate::ingest::{Batch, Malformed};
use crate::retention::{EXPIRE_CHUNK, cutoffs};
use crate::{
    FlowStore, MAX_BATCH_EVENTS, RETENTION_INTERVAL, SWEEP_INTERVAL, SledStore, StoreError,
    USAGE_INTERVAL, db_path, now_ms,
};

/// Least time between two reopen attempts while writes fail.
const RECOVER_PAUSE: Duration = Duration::from_secs(1);
/// Flush durations: 1 ms … 10 s.
static FLUSH_BOUNDS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Counters the heartbeat reports.
struct StoreStats {
    events: AtomicU64,
    records_written: AtomicU64,
    batches: AtomicU64,
    write_errors: AtomicU64,
    malformed_no_ref: AtomicU64,
    malformed_tuple: AtomicU64,
    malformed_body: AtomicU64,
    ingest_lag_ms: AtomicU64,
    paused: AtomicU64,
    db_size: AtomicU64,
    records: AtomicU64,
    expired: AtomicU64,
    /// Conntrack ENDs merged into a capture's record, and capture events dropped after one.
    kernel_merged: AtomicU64,
    late_dropped: AtomicU64,
    /// Offloaded records the sweep closed without a kernel END.
    swept: AtomicU64,
    flush: Histogram,
}

impl StoreStats {
    fn new() -> Self {
        let z = || AtomicU64::new(0);
        StoreStats {
            events: z(),
            records_written: z(),
            batches: z(),
            write_errors: z(),
            malformed_no_ref: z(),
            malformed_tuple: z(),
            malformed_body: z(),
            ingest_lag_ms: z(),
            paused: z(),
            db_size: z(),
            records: z(),
            expired: z(),
            kernel_merged: z(),
            late_dropped: z(),
            swept: z(),
            flush: Histogram::new(FLUSH_BOUNDS),
        }
    }

    fn report(&self, b: &mut SnapshotBuilder) {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        b.counter("nfguard_store_events_total", &[], g(&self.events))
            .counter(
                "nfguard_store_records_written_total",
                &[],
                g(&self.records_written),
            )
            .counter("nfguard_store_batches_total", &[], g(&self.batches))
            .counter(
                "nfguard_store_write_errors_total",
                &[],
                g(&self.write_errors),
            )
            .counter(
                "nfguard_store_malformed_total",
                &[("reason", "no_flow_ref")],
                g(&self.malformed_no_ref),
            )
            .counter(
                "nfguard_store_malformed_total",
                &[("reason", "bad_tuple")],
                g(&self.malformed_tuple),
            )
            .counter(
                "nfguard_store_malformed_total",
                &[("reason", "not_a_flow_event")],
                g(&self.malformed_body),
            )
            .counter("nfguard_store_expired_records_total", &[], g(&self.expired))
            .counter(
                "nfguard_store_kernel_ends_merged_total",
                &[],
                g(&self.kernel_merged),
            )
            .counter(
                "nfguard_store_late_events_dropped_total",
                &[],
                g(&self.late_dropped),
            )
            .counter("nfguard_store_no_kernel_end_total", &[], g(&self.swept))
            .gauge(
                "nfguard_store_ingest_lag_seconds",
                &[],
                g(&self.ingest_lag_ms) as f64 / 1000.0,
            )
            .gauge("nfguard_store_ingest_paused", &[], g(&self.paused) as f64)
            .gauge("nfguard_store_db_size_bytes", &[], g(&self.db_size) as f64)
            .gauge("nfguard_store_records", &[], g(&self.records) as f64)
            .histogram("nfguard_store_flush_seconds", &[], &self.flush);
    }

    fn malformed(&self, m: Malformed) {
        let c = match m {
            Malformed::NoFlowRef => &self.malformed_no_ref,
            Malformed::BadTuple => &self.malformed_tuple,
            Malformed::NotAFlowEvent => &self.malformed_body,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// Answers one query. Storage errors become `StoreResponse.error`.
pub fn answer(store: &dyn FlowStore, req: pb::StoreRequest, now_ms: u64) -> pb::StoreResponse {
    use pb::store_request::Body as Q;
    use pb::store_response::Body as R;
    let body = match req.body {
        Some(Q::Flows(q)) => store.flows(&q).map(R::Flows),
        Some(Q::Top(q)) => store.top(&q, now_ms).map(R::Top),
        Some(Q::Totals(q)) => store.totals(&q, now_ms).map(R::Totals),
        None => Err(StoreError::BadQuery("empty request")),
    };
    match body {
        Ok(b) => pb::StoreResponse {
            body: Some(b),
            error_kind: pb::StoreErrorKind::Unspecified as i32,
        },
        Err(e) => pb::StoreResponse {
            error_kind: error_kind(&e) as i32,
            body: Some(R::Error(e.to_string())),
        },
    }
}

/// The kind a query error travels with (`StoreResponse.error_kind`).
pub fn error_kind(e: &StoreError) -> pb::StoreErrorKind {
    match e {
        StoreError::BadQuery(_) => pb::StoreErrorKind::BadQuery,
        StoreError::Reopening | StoreError::Paused | StoreError::NoSpace { .. } => {
            pb::StoreErrorKind::Unavailable
        }
        _ => pb::StoreErrorKind::Internal,
    }
}

/// Runs the store until `shutdown` resolves, then flushes what it holds and returns.
///
/// # Errors
/// When the database cannot be opened (or has a newer schema) or a bus endpoint cannot be bound.
pub async fn run(
    cfg: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StoreError> {
    ensure_runtime_dir(&cfg.runtime_dir).map_err(|source| StoreError::RuntimeDir {
        path: cfg.runtime_dir.display().to_string(),
        source,
    })?;
    let path = db_path(&cfg);
    let cache = cfg.store.cache_capacity.0;
    let store: Arc<dyn FlowStore> =
        Arc::new(blocking(move || SledStore::open(&path, cache)).await?);
    let server =
        RpcServer::<pb::StoreRequest, pb::StoreResponse>::bind(&cfg.endpoint(endpoints::STORE))
            .await?;
    let usage_pub = Publisher::bind(&cfg.endpoint(endpoints::USAGE), new_boot_id()).await?;
    let mut flow_eps: Vec<String> = cfg
        .capture
        .queues
        .iter()
        .map(|q| cfg.endpoint(&endpoints::flows_queue(q)))
        .collect();
    flow_eps.push(cfg.endpoint(endpoints::FLOWS_CONNTRACK));
    let sub = Subscriber::connect(&flow_eps);
    let export = Exporter::start(&cfg.export).map_err(|e| StoreError::Worker(e.to_string()))?;
    let export_stats = export.as_ref().map(Exporter::stats).unwrap_or_default();

    let stats = Arc::new(StoreStats::new());
    stats.records.store(store.records()?, Ordering::Relaxed);
    stats.db_size.store(store.size_on_disk(), Ordering::Relaxed);
    let (stop_tx, stop_rx) = watch::channel(false);
    let collect = {
        let (stats, sub_stats, rpc_stats, usage_stats) = (
            stats.clone(),
            sub.stats(),
            server.stats(),
            usage_pub.stats(),
        );
        move |b: &mut SnapshotBuilder| {
            stats.report(b);
            sub_stats.report(b, "flows");
            rpc_stats.report(b, "store");
            usage_stats.report(b, "usage");
            export_stats.report(b);
        }
    };
    spawn_metrics(&cfg, "store", 0, collect, stopped(stop_rx.clone())).await?;
    let queries = tokio::spawn(serve_queries(
        server,
        store.clone(),
        stopped(stop_rx.clone()),
    ));
    let retention = tokio::spawn(retain(
        store.clone(),
        cfg.store.retention.0,
        stats.clone(),
        stopped(stop_rx.clone()),
    ));
    tracing::info!(
        path = %db_path(&cfg).display(),
        records = stats.records.load(Ordering::Relaxed),
        flush_interval_ms = cfg.store.flush_interval.0.as_millis() as u64,
        "Store started."
    );
    let mut ingest = Ingest {
        path: db_path(&cfg),
        store,
        stats,
        usage: usage_pub,
        batch: Batch::default(),
        paused: false,
        last_recover: None,
        export,
    };
    ingest.run(sub, cfg.store.flush_interval.0, shutdown).await;
    if let Some(e) = ingest.export.take() {
        let _ = tokio::task::spawn_blocking(move || e.stop()).await;
    }
    let _ = stop_tx.send(true);
    let _ = queries.await;
    let _ = retention.await;
    tracing::info!("Store stopped.");
    Ok(())
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Worker(e.to_string()))?
}

struct Ingest {
    /// The database directory, named in every write error (OPERATIONS.md: "an error … naming the path").
    path: std::path::PathBuf,
    store: Arc<dyn FlowStore>,
    stats: Arc<StoreStats>,
    usage: Publisher,
    batch: Batch,
    /// The last write failed (full disk…): stop reading the bus until a retry succeeds.
    paused: bool,
    last_recover: Option<Instant>,
    /// `[export] ipfix`: gets every flushed batch.
    export: Option<Exporter>,
}

impl Ingest {
    async fn run(
        &mut self,
        mut sub: Subscriber,
        flush_every: Duration,
        shutdown: impl Future<Output = ()>,
    ) {
        let mut flush_tick = tokio::time::interval(flush_every.max(Duration::from_millis(10)));
        flush_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut usage_tick = tokio::time::interval(USAGE_INTERVAL);
        let mut sweep_tick = tokio::time::interval(SWEEP_INTERVAL);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                m = sub.recv(), if !self.paused => match m {
                    Ok(m) => {
                        self.add(m);
                        if self.batch.events >= MAX_BATCH_EVENTS {
                            self.flush().await;
                        }
                    }
                    Err(_) => break,
                },
                _ = flush_tick.tick() => self.flush().await,
                _ = usage_tick.tick() => self.publish_usage().await,
                _ = sweep_tick.tick(), if !self.paused => self.sweep(),
            }
        }
        // Shutdown: what arrived is written before exit.
        self.flush().await;
    }

    fn add(&mut self, m: pb::Published) {
        let Some(pb::published::Body::FlowEvent(ev)) = m.body else {
            self.stats.malformed(Malformed::NotAFlowEvent);
            return;
        };
        let store = &self.store;
        match self
            .batch
            .add_known(ev, now_ms(), crate::StoreKnown(&**store))
        {
            Ok(Ok(())) => {
                self.stats.events.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Err(m)) => self.stats.malformed(m),
            Err(e) => {
                // A failed read loses this one event's merge; the next event of the flow retries it.
                tracing::warn!(error = %e, "Store lookup failed; event dropped.");
                self.stats.write_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Closes offloaded records that waited too long for the kernel's END; the next flush writes them.
    fn sweep(&mut self) {
        let store = &self.store;
        if let Err(e) = self.batch.sweep(now_ms(), crate::StoreKnown(&**store)) {
            tracing::warn!(error = %e, "Store sweep lookup failed; retried at the next sweep.");
        }
    }

    async fn flush(&mut self) {
        if self.batch.is_empty() && !self.paused {
            return;
        }
        if self.paused {
            // The store refuses writes after an I/O error until `recover` finds space again: ask at most
            // once a second.
            if self
                .last_recover
                .is_some_and(|t| t.elapsed() < RECOVER_PAUSE)
            {
                return;
            }
            self.last_recover = Some(Instant::now());
            let store = self.store.clone();
            if let Err(e) = blocking(move || store.recover()).await {
                // Once a second while the disk is full: the pause itself was logged as an error.
                tracing::debug!(error = %e, "Store still cannot write; ingest stays paused.");
                return;
            }
            if self.batch.is_empty() {
                self.resume();
                return;
            }
        }
        let batch = std::mem::take(&mut self.batch);
        let store = self.store.clone();
        let started = Instant::now();
        let res = tokio::task::spawn_blocking(move || {
            let r = store.write(&batch);
            let synced = r.as_ref().ok().map(|()| store.sync());
            (batch, r, synced, store.size_on_disk(), store.records())
        })
        .await;
        let Ok((batch, written, synced, size, records)) = res else {
            tracing::error!("Store flush thread panicked; batch lost.");
            return;
        };
        match written {
            Ok(()) => {
                let s = &self.stats;
                s.flush.record(started.elapsed());
                s.batches.fetch_add(1, Ordering::Relaxed);
                s.records_written
                    .fetch_add(batch.records.len() as u64, Ordering::Relaxed);
                s.kernel_merged
                    .fetch_add(batch.kernel_merged, Ordering::Relaxed);
                s.late_dropped
                    .fetch_add(batch.late_dropped, Ordering::Relaxed);
                s.swept.fetch_add(batch.swept, Ordering::Relaxed);
                s.ingest_lag_ms.store(
                    batch
                        .oldest_event_ms
                        .map_or(0, |t| now_ms().saturating_sub(t)),
                    Ordering::Relaxed,
                );
                s.db_size.store(size, Ordering::Relaxed);
                if let Ok(r) = records {
                    s.records.store(r, Ordering::Relaxed);
                }
                if let Some(Err(e)) = synced {
                    // The batch is visible but may not be on disk; the store must be reopened to write again.
                    tracing::error!(path = %self.path.display(), error = %e, "Store fsync failed; ingest paused (the last batch may be lost).");
                    s.write_errors.fetch_add(1, Ordering::Relaxed);
                    self.paused = true;
                    s.paused.store(1, Ordering::Relaxed);
                } else if self.paused {
                    self.resume();
                }
                if let Some(x) = self.export.as_mut() {
                    x.offer(batch.records, now_ms());
                }
                self.publish_usage().await;
            }
            Err(e) => {
                self.stats.write_errors.fetch_add(1, Ordering::Relaxed);
                if !self.paused {
                    tracing::error!(
                        path = %self.path.display(),
                        error = %e,
                        events = batch.events,
                        "Store write failed; ingest paused until a retry succeeds (queries keep working)."
                    );
                }
                self.paused = true;
                self.stats.paused.store(1, Ordering::Relaxed);
                // Nothing was read from the bus since the batch was taken: it goes back whole.
                self.batch = batch;
            }
        }
    }

    fn resume(&mut self) {
        tracing::info!("Store writes succeed again; ingest resumed.");
        self.paused = false;
        self.last_recover = None;
        self.stats.paused.store(0, Ordering::Relaxed);
    }

    async fn publish_usage(&self) {
        let store = self.store.clone();
        let now_s = now_ms() / 1000;
        match blocking(move || store.usage(now_s)).await {
            Ok(u) => {
                self.usage.publish(pb::published::Body::Usage(u));
            }
            Err(e) => tracing::warn!(error = %e, "Usage snapshot failed."),
        }
    }
}

async fn serve_queries(
    mut server: RpcServer<pb::StoreRequest, pb::StoreResponse>,
    store: Arc<dyn FlowStore>,
    stop: impl Future<Output = ()>,
) {
    let replier = server.replier();
    tokio::pin!(stop);
    loop {
        let inc = tokio::select! {
            () = &mut stop => return,
            r = server.recv() => match r {
                Ok(i) => i,
                Err(_) => return,
            },
        };
        if inc.expired() {
            continue;
        }
        let st = store.clone();
        let body = inc.body;
        let Ok(rep) = tokio::task::spawn_blocking(move || answer(&*st, body, now_ms())).await
        else {
            continue;
        };
        replier.reply(&inc.reply_to, inc.id, &rep);
    }
}

async fn retain(
    store: Arc<dyn FlowStore>,
    retention: Duration,
    stats: Arc<StoreStats>,
    stop: impl Future<Output = ()>,
) {
    let mut tick = tokio::time::interval(RETENTION_INTERVAL);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return,
            _ = tick.tick() => {}
        }
        let (cutoff_ms, usage_cutoff_s) = cutoffs(now_ms(), retention);
        loop {
            let st = store.clone();
            match blocking(move || st.expire(cutoff_ms, usage_cutoff_s, EXPIRE_CHUNK)).await {
                Ok(e) => {
                    stats.expired.fetch_add(e.records, Ordering::Relaxed);
                    if e.records > 0 || e.aggregates > 0 {
                        tracing::debug!(
                            records = e.records,
                            aggregates = e.aggregates,
                            "Retention deleted old data."
                        );
                    }
                    if !e.more {
                        break;
                    }
                }
                // Deleting writes too: while ingest is paused for space, retention waits with it.
                Err(StoreError::Paused) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "Retention pass failed.");
                    break;
                }
            }
            // Let ingest take the write lock between chunks.
            tokio::task::yield_now().await;
        }
    }
}
