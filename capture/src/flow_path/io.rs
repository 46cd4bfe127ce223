//! What goes into the flow path and what comes out of it: the configuration it needs, a packet's
//! arrival facts and decoded headers, and the [`Step`]s the caller carries out.

use std::time::{Duration, Instant};

use nfguard_proto::config::{Config, Overload};
use nfguard_proto::pb;
use nfguard_proto::{FlowKey, Verdict};

use crate::decode::{DecodeError, Packet};
use crate::flow_table::{Removed, Timeouts};
use crate::pending::Token;
use crate::stats::FailReason;
use crate::verdict::{Applied, MarkConfig};

/// What the path needs from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct PathConfig {
    pub queue: u16,
    /// This worker instance's id, in every request and flow event.
    pub boot_id: u64,
    pub marks: MarkConfig,
    pub default_verdict: Verdict,
    pub midstream_verdict: Verdict,
    /// How long a held packet waits for its replies (`verdict_timeout`).
    pub verdict_timeout: Duration,
    pub flow_table_size: usize,
    pub max_pending: usize,
    pub flow_update_interval: Duration,
    pub timeouts: Timeouts,
    /// Treat a TCP flow first seen without SYN as a new one (tuple, then DPI from its first
    /// payload) instead of giving it `midstream_verdict`. For capture files, whose start cuts into
    /// open connections a running firewall would have seen from their SYN; live queues: false.
    pub midstream_dpi: bool,
    /// `[capture] overload`: new flows while the peers are slow.
    pub overload: Overload,
}

impl PathConfig {
    pub fn from_config(cfg: &Config, queue: u16, boot_id: u64) -> PathConfig {
        let c = &cfg.capture;
        PathConfig {
            queue,
            boot_id,
            marks: MarkConfig::from_config(c),
            default_verdict: c.default_verdict,
            midstream_verdict: c.midstream_verdict,
            verdict_timeout: c.verdict_timeout.0,
            flow_table_size: c.flow_table_size,
            max_pending: c.max_pending,
            flow_update_interval: c.flow_update_interval.0,
            timeouts: Timeouts::default(),
            midstream_dpi: false,
            overload: c.overload,
        }
    }
}

/// What the queue said about a packet besides its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    pub now: Instant,
    /// Original length (a GSO message stands for many wire packets).
    pub len: u64,
    pub mark: u32,
    /// Interface indexes (0 unknown).
    pub indev: u32,
    pub outdev: u32,
}

/// A decoded packet without its payload bytes, which stay in the caller's packet (`H`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    pub head: Packet<'static>,
    pub has_payload: bool,
}

impl Seen {
    pub fn of(p: &Packet<'_>) -> Seen {
        Seen {
            head: Packet {
                src: p.src,
                dst: p.dst,
                src_port: p.src_port,
                dst_port: p.dst_port,
                l4: p.l4,
                tcp_flags: p.tcp_flags,
                tcp_seq: p.tcp_seq,
                icmp_type: p.icmp_type,
                payload: &[],
            },
            has_payload: !p.payload.is_empty(),
        }
    }
}

/// Why a packet got its verdict (`nfguard replay --verdicts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// The flow's cached decision (the fast path).
    Cached,
    /// The decision that arrived for this packet.
    Decided,
    /// Accepted while the flow is undecided (nothing waits on DPI).
    Provisional,
    /// `midstream_verdict`: the flow was first seen mid-stream with nothing to recover.
    Midstream,
    /// The verdict restored from the connmark.
    Recovered,
    /// ICMPv6 neighbour discovery, never blocked.
    Critical,
    /// `default_verdict` because no answer could be had.
    Default(FailReason),
    /// `default_verdict` for a packet that does not decode.
    Undecodable(DecodeError),
}

impl Why {
    pub fn as_str(self) -> &'static str {
        match self {
            Why::Cached => "cached",
            Why::Decided => "decided",
            Why::Provisional => "provisional",
            Why::Midstream => "midstream",
            Why::Recovered => "recovered",
            Why::Critical => "critical",
            Why::Default(_) => "default",
            Why::Undecodable(_) => "undecodable",
        }
    }
}

/// A verdict for one packet.
#[derive(Debug)]
pub struct Answer<H> {
    pub packet: H,
    /// The NFQUEUE verdict and mark to send.
    pub applied: Applied,
    /// The verdict as the flow sees it (counted in `nfguard_packets_total{verdict}`).
    pub verdict: Verdict,
    pub why: Why,
    /// Nothing is held: the verdict may join a batch (a batch verdict covers every lower id).
    pub batchable: bool,
}

/// A `DecideRequest` to send for a held packet.
#[derive(Debug, Clone, PartialEq)]
pub struct DecideAsk {
    pub flow: pb::FlowRef,
    pub key: FlowKey,
    /// Interface indexes, the client's side as "in".
    pub indev: u32,
    pub outdev: u32,
    /// `None`: the tuple-only request of a new flow.
    pub class: Option<pb::Classification>,
    pub time_unix_s: u64,
}

impl DecideAsk {
    /// The wire form, with the interfaces' names.
    pub fn to_pb(self, in_iface: String, out_iface: String) -> pb::DecideRequest {
        pb::DecideRequest {
            flow: Some(self.flow),
            tuple: Some(self.key.to_tuple()),
            in_iface,
            out_iface,
            classification: self.class,
            time_unix_s: self.time_unix_s,
        }
    }
}

/// A `ClassifyRequest` to send for a held packet (its payload is in the held packet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassifyAsk {
    pub flow: pb::FlowRef,
    pub key: FlowKey,
    pub from_client: bool,
    /// Microseconds since the path started.
    pub time_us: u64,
    /// Packets of the flow so far, this one included.
    pub packet_index: u32,
}

impl ClassifyAsk {
    /// The wire form, with the held packet's TCP fields and a copy of its payload.
    pub fn to_pb(&self, p: &Packet<'_>) -> pb::ClassifyRequest {
        pb::ClassifyRequest {
            flow: Some(self.flow),
            tuple: Some(self.key.to_tuple()),
            from_client: self.from_client,
            time_us: self.time_us,
            tcp_flags: u32::from(p.tcp_flags),
            tcp_seq: p.tcp_seq,
            payload: p.payload.to_vec(),
            packet_index: self.packet_index,
        }
    }
}

/// Something for the caller to do. The rare, large steps are boxed so that moving the common one (a
/// verdict) through the queue stays cheap.
#[derive(Debug)]
pub enum Step<H> {
    Verdict(Answer<H>),
    /// Ask policy; answer with [`FlowPath::on_policy_reply`] (the packet is held until then, or
    /// until its deadline).
    AskPolicy {
        token: Token,
        deadline: Instant,
        ask: Box<DecideAsk>,
    },
    /// Ask the classifier; answer with [`FlowPath::on_classifier_reply`].
    AskClassifier {
        token: Token,
        deadline: Instant,
        ask: Box<ClassifyAsk>,
    },
    /// A START or UPDATE flow event to publish.
    Publish(Box<pb::FlowEvent>),
    /// A flow left the table (`reason`: evicted, idle, shutdown); `event` is its END event: after
    /// its START, or (undecided, within the record rate) the only event of the flow.
    Ended {
        flow: Box<Removed>,
        reason: &'static str,
        event: Option<Box<pb::FlowEvent>>,
    },
}
