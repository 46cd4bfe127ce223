//! Why a worker could not start or had to stop.

use nfguard_proto::bus::BusError;

/// A worker's fatal error (a packet's trouble is never one: it gets a verdict and a counter).
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("NFQUEUE {queue}: {step}: {source}")]
    Setup {
        queue: u16,
        step: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "queue {queue} is already bound by another process (netlink port {portid}); stop it, or serve another queue"
    )]
    QueueTaken { queue: u16, portid: u32 },
    #[error("NFQUEUE socket: {0}")]
    Queue(#[source] std::io::Error),
    #[error("bus: {0}")]
    Bus(#[source] BusError),
}

/// Wraps a set-up step's I/O error with the queue and the step's name.
pub fn setup(queue: u16, step: &'static str) -> impl FnOnce(std::io::Error) -> CaptureError {
    move |source| CaptureError::Setup {
        queue,
        step,
        source,
    }
}
