//! nfguard-capture: one NFQUEUE worker per queue (DESIGN §4). Decodes each queued packet, tracks its
//! flow, asks policy and classifier over the bus only while a flow is undecided, and answers every
//! packet with a verdict and a masked mark — inline and allocation-free once the flow is decided.
//!
//! Library first: `main.rs` only parses arguments and calls [`run`].

pub mod batch;
pub mod conntrack;
pub mod decode;
pub mod error;
pub mod flow_path;
pub mod flow_table;
pub mod ifnames;
pub mod pending;
pub mod queue_fd;
pub mod serve;
pub mod stats;
pub mod verdict;
pub mod worker;

use std::future::Future;
use std::sync::Arc;

use nfguard_proto::bus::Subscriber;
use nfguard_proto::config::Config;
use nfguard_proto::process::{endpoints, spawn_metrics};

pub use crate::error::CaptureError;
use crate::error::setup;
use crate::queue_fd::ReadyQueue;
use crate::stats::Stats;

/// Runs the worker for `queue` until `shutdown` resolves; then every held packet gets the default
/// verdict and the queue is unbound. Must run on a (current-thread) tokio runtime.
///
/// # Errors
/// A [`CaptureError`] when the queue cannot be opened, bound or configured (not root, another process
/// bound to it), or a bus endpoint cannot be bound.
pub async fn run(
    cfg: Config,
    queue: u16,
    shutdown: impl Future<Output = ()>,
) -> Result<(), CaptureError> {
    let _span = tracing::info_span!("capture", queue).entered();
    let stats = Arc::new(Stats::new(queue));
    let (done_tx, done_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut worker = worker::Worker::new(&cfg, queue, stats.clone(), done_tx).await?;

    // Open, bind and configure before any traffic (nfq discards packets read while it waits for a
    // config ACK: DESIGN §4, crates.md §1.6.1). `bind` resets the copy range, so it comes first.
    let c = &cfg.capture;
    let mut rq = ReadyQueue::open().map_err(setup(queue, "open"))?;
    rq.queue.bind(queue).map_err(|e| bind_error(queue, e))?;
    rq.queue
        .set_copy_range(queue, c.copy_range)
        .map_err(setup(queue, "set_copy_range"))?;
    rq.queue
        .set_queue_max_len(queue, c.queue_max_len)
        .map_err(setup(queue, "set_queue_max_len"))?;
    rq.queue
        .set_fail_open(queue, c.fail_open)
        .map_err(setup(queue, "set_fail_open"))?;
    rq.queue
        .set_recv_gso(queue, true)
        .map_err(setup(queue, "set_recv_gso"))?;
    // Report ENOBUFS instead of hiding it: the loop counts it and goes on.
    rq.queue
        .set_recv_enobufs(true)
        .map_err(setup(queue, "set_recv_enobufs"))?;
    let rcvbuf = queue_fd::set_receive_buffer(rq.fd(), c.socket_buffer.0)
        .map_err(setup(queue, "SO_RCVBUFFORCE"))?;
    rq.queue.set_nonblocking(true);
    worker.set_verdict_sender(rq.verdict_sender().map_err(setup(queue, "dup"))?);
    tracing::info!(
        queue,
        copy_range = c.copy_range,
        queue_max_len = c.queue_max_len,
        fail_open = c.fail_open,
        rcvbuf,
        offload = c.offload,
        "Bound NFQUEUE."
    );

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let metrics_stop = {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.changed().await;
        }
    };
    let policy = worker.policy().clone();
    let classifier = worker.classifier().clone();
    let events = worker.events();
    let policy_events = Subscriber::connect(&[cfg.endpoint(endpoints::POLICY_EVENTS)]);
    let sub_stats = policy_events.stats();
    let st = stats.clone();
    let _metrics = spawn_metrics(
        &cfg,
        &format!("capture-q{queue}"),
        u32::from(queue),
        move |b| {
            st.report(b);
            policy.stats().report(b, "policy");
            classifier.stats().report(b, "classifier");
            events.stats().report(b, "flows");
            sub_stats.report(b, "policy-events");
        },
        metrics_stop,
    )
    .await
    .map_err(CaptureError::Bus)?;

    drop(_span);
    let result = serve::serve(worker, rq, done_rx, policy_events, shutdown).await;
    let _ = stop_tx.send(true);
    result
}

/// The kernel answers EPERM both without CAP_NET_ADMIN and when another socket holds the queue;
/// the queue table (`/proc/net/netfilter/nfnetlink_queue`) tells the second apart and names the holder.
fn bind_error(queue: u16, e: std::io::Error) -> CaptureError {
    let holder = conntrack::bypass::read_ids()
        .into_iter()
        .find(|q| q.queue == queue && q.portid != 0);
    match holder {
        Some(q) if e.raw_os_error() == Some(1) => CaptureError::QueueTaken {
            queue,
            portid: q.portid,
        },
        _ => setup(queue, "bind")(e),
    }
}
