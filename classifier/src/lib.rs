//! nfguard-classifier: the DPI engine as a pure library (bytes and time in, classification out),
//! one dissector per protocol under `dissect/`, the host matcher and DNS-answer cache, a pcap /
//! pcapng reader with the offline replay used by `nfguard replay`, and (feature `process`) the
//! classifier process on the bus.

pub mod capture_file;
pub mod classification;
pub mod dissect;
pub mod dns_cache;
pub mod engine;
mod follow_up;
pub mod host_text;
pub mod hosts;
mod hosts_data;
pub mod ip_lists;
mod ip_lists_data;
pub mod reassembly;
pub mod replay;
pub mod risks;
pub mod stun_cache;
pub mod supported;

#[cfg(feature = "process")]
pub mod process;
/// The classifier process's seccomp allow-list (feature `process`).
#[cfg(feature = "process")]
pub mod seccomp;

pub use engine::{Classification, Confidence, Engine, EngineConfig, FlowState, PacketView, State};
pub use replay::{FlowSummary, ReplayError, ReplayOptions, ReplayStats, replay};
pub use supported::supported_ids;
