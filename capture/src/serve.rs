//! The worker's receive loop (DESIGN §4): packets, bus completions, the 100 ms timer and policy
//! events in one `select!` on a current-thread runtime, then the SIGTERM sequence — release what is
//! held, keep answering until the queue is quiet, unbind.

use std::time::{Duration, Instant};

use nfguard_proto::bus::Subscriber;
use nfguard_proto::pb;
use tokio::sync::mpsc;

use crate::CaptureError;
use crate::queue_fd::ReadyQueue;
use crate::worker::{Completion, Worker};

/// Timer period for expiring held packets and sweeping the flow table.
const TICK: Duration = Duration::from_millis(100);
/// At SIGTERM: the queue counts as quiet after this long without a packet…
const STOP_QUIET: Duration = Duration::from_millis(20);
/// …and the worker unbinds after this long at most, even under steady traffic.
const STOP_DRAIN_MAX: Duration = Duration::from_millis(250);

/// The receive loop until `shutdown` resolves.
pub async fn serve(
    mut worker: Worker,
    mut rq: ReadyQueue,
    mut done_rx: mpsc::UnboundedReceiver<Completion>,
    mut policy_events: Subscriber,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), CaptureError> {
    tokio::pin!(shutdown);
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut more = true;
    let mut events_open = true;
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            Some(c) = done_rx.recv() => {
                worker.complete(&mut rq.queue, c);
                continue;
            }
            _ = tick.tick() => {
                worker.on_tick(&mut rq.queue);
                continue;
            }
            r = rq.wait_readable(), if !more => {
                r.map_err(CaptureError::Queue)?;
                more = true;
            }
            ev = policy_events.recv(), if events_open => {
                match ev {
                    Ok(pb::Published { body: Some(pb::published::Body::PolicyChanged(c)), .. }) => {
                        worker.on_policy_changed(c.epoch);
                    }
                    Ok(_) => {}
                    Err(_) => events_open = false,
                }
                continue;
            }
            // Yield between batches: on a current-thread runtime a loop that never awaits a pending
            // future starves every other task — the bus clients (policy requests then time out and
            // trip the breaker) and the heartbeat (the supervisor then kills a busy worker).
            () = tokio::task::yield_now(), if more => {}
        }
        if more {
            more = worker.drain(&mut rq.queue);
        }
    }
    // Release what is held, then keep answering until the queue has been quiet for a moment: the
    // replies to released packets (a SYN's SYN-ACK) are already on their way, and whatever is still
    // queued at the unbind is dropped by the kernel.
    worker.begin_stop(&mut rq.queue);
    let until = Instant::now() + STOP_DRAIN_MAX;
    while Instant::now() < until {
        while worker.drain(&mut rq.queue) && Instant::now() < until {}
        match tokio::time::timeout(STOP_QUIET, rq.wait_readable()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(_) => break,
        }
    }
    worker.drain(&mut rq.queue);
    worker.shutdown(&mut rq.queue);
    if let Err(e) = rq.queue.unbind(worker.queue) {
        tracing::warn!(queue = worker.queue, error = %e, "Unbinding the queue failed.");
    }
    // Let the publisher's writer task flush the END events.
    tokio::time::sleep(Duration::from_millis(100)).await;
    Ok(())
}
