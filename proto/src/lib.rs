//! nfguard's shared vocabulary: the bus messages (`pb`), newtypes that cross processes, the nDPI protocol
//! table, human units, the `nfguard.toml` configuration, and (feature `bus`) every ZeroMQ socket.

/// The secret that authorizes state-changing bus requests.
pub mod bus_secret;
pub mod config;
/// Host names as a server reads them: shared by the classifier's host list and the policy's rules.
pub mod host_name;
pub mod ids;
pub mod iface;
pub mod metrics;
pub mod port_table;
#[cfg(feature = "bus")]
pub mod process;
pub mod protocols;
pub mod types;
pub mod units;

/// Limits that several modules check.
pub mod limits {
    /// `sun_path` is 108 bytes with the NUL; `nfguard check` rejects longer ipc endpoints (DESIGN §3).
    pub const MAX_IPC_PATH: usize = 107 + "ipc://".len();
    /// Every process publishes a `MetricsSnapshot` (its heartbeat) this often.
    pub const HEARTBEAT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);
    /// Largest `nfguard.toml` or rule file read (a config is kilobytes; 10,000 rules about 1 MiB).
    pub const MAX_CONFIG_FILE_BYTES: u64 = 16 << 20;
}

#[cfg(feature = "bus")]
pub mod bus;

/// Protobuf messages generated from `proto/nfguard.proto` by prost.
#[allow(clippy::all, missing_docs)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/nfguard.rs"));
}

pub use types::{AppId, FlowKey, Mark, QueueNum, Verdict};
