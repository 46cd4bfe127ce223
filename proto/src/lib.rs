//! nfguard's shared vocabulary: the bus messages (`pb`), newtypes that cross processes, the nDPI protocol
//! table, human units, the `nfguard.toml` configuration, and (feature `bus`) every ZeroMQ socket.

pub mod config;
pub mod ids;
pub mod metrics;
#[cfg(feature = "bus")]
pub mod process;
pub mod protocols;
pub mod types;
pub mod units;

/// Limits that several modules check.
pub mod limits {
    /// `sun_path` is 108 bytes with the NUL; `nfguard check` rejects longer ipc endpoints (DESIGN §3).
    pub const MAX_IPC_PATH: usize = 107 + "ipc://".len();
}

#[cfg(feature = "bus")]
pub mod bus;

/// Protobuf messages generated from `proto/nfguard.proto` by prost.
#[allow(clippy::all, missing_docs)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/nfguard.rs"));
}

pub use types::{AppId, FlowKey, Mark, QueueNum, Verdict};
