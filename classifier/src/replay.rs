//! Offline replay for `nfguard replay`: reads a capture file, groups packets into bidirectional
//! flows (client = SYN sender, else the side with the higher, ephemeral port), runs every payload
//! packet through the [`Engine`], and reports one [`FlowSummary`] per flow in first-seen order.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use nfguard_proto::AppId;
use nfguard_proto::types::{IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP, l4_name};

use crate::capture_file::{self, CaptureError, Defrag, Records};
use crate::dissect::tls::ja4::Fingerprint;
use crate::engine::{Classification, Confidence, Engine, EngineConfig, FlowState, PacketView};
use crate::risks::Risks;

pub mod tunnel;

/// Flows tracked at once; past it new flows are counted, not tracked (a replay is offline, so
/// this only bounds memory on huge captures).
pub const MAX_FLOWS: usize = 1_000_000;
/// 6in4 / IPIP nesting followed at most inside one layer.
const MAX_TUNNEL_DEPTH: usize = 2;
/// IP layers accounted per captured packet: the outer one and up to two GRE/UDP tunnels inside.
const TUNNEL_LAYERS: usize = 3;

#[derive(Debug, Clone, Copy, Default)]
pub struct ReplayOptions {
    pub engine: Option<EngineConfig>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Format { path: String, source: CaptureError },
}

/// Totals of one replay.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayStats {
    pub packets: u64,
    pub non_ip: u64,
    pub flows: u64,
    pub fragments_reassembled: u64,
    /// The file ends inside a record: the flows so far were reported.
    pub truncated: bool,
    /// pcapng blocks skipped as unreadable (the packets after them were read).
    pub skipped_blocks: u64,
    /// Where the file first went wrong: (byte offset, what), for a skipped block or the truncation.
    pub first_problem: Option<(usize, &'static str)>,
    /// Packets of flows not tracked because [`MAX_FLOWS`] flows already were (counted, not
    /// classified; counting the flows themselves would need the memory the cap bounds).
    pub untracked_packets: u64,
}

/// One flow's result, as the flow JSON line of DESIGN §6 prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowSummary {
    pub l4: u8,
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub master: AppId,
    pub app: AppId,
    pub label: String,
    pub category: &'static str,
    pub confidence: Confidence,
    pub host: String,
    /// Flow risks (printed as `"risks":[...]` only when present).
    pub risks: Risks,
    /// JA4 and ECH of the ClientHello (printed as `"ja4":…,"ech":…` only for TLS and QUIC).
    pub hello: Option<Fingerprint>,
    pub packets: u64,
    pub bytes: u64,
}

impl FlowSummary {
    /// Builds a summary from a classification.
    pub fn new(
        l4: u8,
        client: SocketAddr,
        server: SocketAddr,
        c: &Classification,
        packets: u64,
        bytes: u64,
    ) -> Self {
        FlowSummary {
            l4,
            client,
            server,
            master: c.master,
            app: c.app,
            label: c.label(),
            category: c.category,
            confidence: c.confidence,
            host: c.host.clone(),
            risks: c.risks,
            hello: c.hello,
            packets,
            bytes,
        }
    }

    /// The DESIGN §6 JSON line (no trailing newline). nDPI's convention for the name fields: with
    /// one known protocol both `master` and `app` carry it (`"master":"DNS","app":"DNS"`).
    pub fn to_json(&self, verdict: Option<&str>, rule: Option<&str>) -> String {
        let (master, app) = match (self.master, self.app) {
            (m, a) if m == AppId::UNKNOWN => (a, a),
            (m, a) if a == AppId::UNKNOWN => (m, m),
            (m, a) => (m, a),
        };
        let mut s = String::with_capacity(256);
        let _ = write!(
            s,
            "{{\"l4\":{},\"src\":{},\"dst\":{},\"label\":{},\"master\":{},\"app\":{},\"app_id\":{},\"master_id\":{},\"category\":{},\"confidence\":{},\"host\":{}{}{},\"packets\":{},\"bytes\":{},\"verdict\":{},\"rule\":{}}}",
            json_str(&l4_name(self.l4)),
            json_str(&self.client.to_string()),
            json_str(&self.server.to_string()),
            json_str(&self.label),
            json_str(master.name()),
            json_str(app.name()),
            app.0,
            master.0,
            json_str(self.category),
            json_str(self.confidence.as_str()),
            json_str(&self.host),
            risks_json(self.risks),
            hello_json(self.hello),
            self.packets,
            self.bytes,
            verdict.map_or_else(|| "null".to_string(), json_str),
            rule.map_or_else(|| "null".to_string(), json_str),
        );
        s
    }
}

/// `,"ja4":"t13d…","ech":false` for a flow with a ClientHello, else nothing.
fn hello_json(h: Option<Fingerprint>) -> String {
    h.map_or_else(String::new, |h| {
        format!(",\"ja4\":{},\"ech\":{}", json_str(h.ja4()), h.ech)
    })
}

/// `,"risks":["ndpi_…",…]` when any risk is present, else nothing.
fn risks_json(r: Risks) -> String {
    if r.is_empty() {
        return String::new();
    }
    let names: Vec<String> = r.names().map(json_str).collect();
    format!(",\"risks\":[{}]", names.join(","))
}

/// A JSON string literal with the escapes RFC 8259 §7 requires.
fn json_str(v: &str) -> String {
    let mut out = String::with_capacity(v.len().saturating_add(2));
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

struct Flow {
    client: SocketAddr,
    server: SocketAddr,
    l4: u8,
    state: FlowState,
    result: Option<Classification>,
    packets: u64,
    bytes: u64,
    order: u64,
}

/// Replays the capture at `path`, calling `on_flow` once per flow at the end.
///
/// # Errors
/// [`ReplayError`] when the file cannot be read or is not a capture. A truncated tail is not an
/// error: the flows so far are reported and `ReplayStats::truncated` is set.
pub fn replay(
    path: &Path,
    opts: &ReplayOptions,
    on_flow: impl FnMut(&FlowSummary),
) -> Result<ReplayStats, ReplayError> {
    let data = std::fs::read(path).map_err(|source| ReplayError::Io {
        path: path.display().to_string(),
        source,
    })?;
    replay_bytes(&data, opts, on_flow).map_err(|source| ReplayError::Format {
        path: path.display().to_string(),
        source,
    })
}

/// [`replay`] over a capture already in memory.
///
/// # Errors
/// [`CaptureError`] when the bytes are not a capture.
pub fn replay_bytes(
    data: &[u8],
    opts: &ReplayOptions,
    mut on_flow: impl FnMut(&FlowSummary),
) -> Result<ReplayStats, CaptureError> {
    let mut engine = Engine::new(opts.engine.unwrap_or_default());
    let mut flows: HashMap<FlowKey, Flow> = HashMap::new();
    let mut order = 0u64;
    let mut start: Option<Instant> = None;
    let mut untracked = 0u64;
    let mut stats = walk_bytes(data, |p, now| {
        start.get_or_insert(now);
        if !account(&mut engine, &mut flows, &mut order, p, now) {
            untracked = untracked.saturating_add(1);
        }
    })?;
    stats.flows = order;
    stats.untracked_packets = untracked;
    let mut all: Vec<Flow> = flows.into_values().collect();
    all.sort_by_key(|f| f.order);
    let now = start.unwrap_or_else(Instant::now);
    for mut f in all {
        let c = match f.result.take() {
            Some(c) => c,
            None => {
                let pkt = PacketView {
                    l4: f.l4,
                    client: f.client,
                    server: f.server,
                    from_client: true,
                    payload: &[],
                    tcp_seq: 0,
                    tcp_syn: false,
                };
                engine.finish(&mut f.state, &pkt, now)
            }
        };
        on_flow(&FlowSummary::new(
            f.l4, f.client, f.server, &c, f.packets, f.bytes,
        ));
    }
    Ok(stats)
}

/// One transport-layer packet of a capture, after link layers, tunnels and IP reassembly.
#[derive(Debug, Clone, Copy)]
pub struct TransportPacket<'a> {
    /// The capture's record number (1-based; packets carried in a tunnel share their frame's).
    pub frame: u64,
    /// IP protocol number.
    pub l4: u8,
    /// Port 0 for protocols without ports.
    pub src: SocketAddr,
    pub dst: SocketAddr,
    /// TCP flags byte (0 for others).
    pub tcp_flags: u8,
    pub tcp_seq: u32,
    /// Transport payload (for ICMP and others: the whole L4 message).
    pub payload: &'a [u8],
    /// Total IP length on the wire.
    pub ip_len: usize,
}

impl TransportPacket<'_> {
    pub fn syn(&self) -> bool {
        self.tcp_flags & 0x02 != 0
    }
    pub fn ack(&self) -> bool {
        self.tcp_flags & 0x10 != 0
    }
}

/// Walks a capture: every transport packet, in file order, with the time it was captured mapped onto
/// a monotonic base (so TTLs follow capture time). `stats.flows` is left 0.
///
/// # Errors
/// [`CaptureError`] when the bytes are not a capture; a truncated tail sets `truncated` instead.
pub fn walk_bytes(
    data: &[u8],
    mut on_packet: impl FnMut(&TransportPacket<'_>, Instant),
) -> Result<ReplayStats, CaptureError> {
    let mut records = Records::new(data)?;
    let mut defrag = Defrag::default();
    let mut stats = ReplayStats::default();
    let base = Instant::now();
    let mut first_ts: Option<u64> = None;
    for rec in records.by_ref() {
        stats.packets = stats.packets.saturating_add(1);
        let t0 = *first_ts.get_or_insert(rec.ts_us);
        let now = base
            .checked_add(Duration::from_micros(rec.ts_us.saturating_sub(t0)))
            .unwrap_or(base);
        let Some(ip) = capture_file::ip_of_frame(rec.link_type, rec.data) else {
            stats.non_ip = stats.non_ip.saturating_add(1);
            continue;
        };
        // One reassembly buffer per tunnel layer, so an inner packet may borrow from its outer
        // layer's reassembled payload while the next layer reassembles into its own slot.
        let mut slots: [Option<Vec<u8>>; TUNNEL_LAYERS] = Default::default();
        let mut free: &mut [Option<Vec<u8>>] = &mut slots;
        let mut next: Option<&[u8]> = Some(ip);
        let mut outer = true;
        while let Some(ip) = next.take() {
            let Some((slot, rest)) = std::mem::take(&mut free).split_first_mut() else {
                break;
            };
            free = rest;
            let Some(mut v) = capture_file::parse_ip(ip) else {
                if outer {
                    stats.non_ip = stats.non_ip.saturating_add(1);
                }
                break;
            };
            for _ in 0..MAX_TUNNEL_DEPTH {
                // 6in4 (41) and IPIP (4): classify the inner packet instead, as nDPI does.
                if !(v.proto == 41 || v.proto == 4) || v.frag.is_some() {
                    break;
                }
                match capture_file::parse_ip(v.l4) {
                    Some(inner) => v = inner,
                    None => break,
                }
            }
            let l4_bytes: &[u8] = if v.frag.is_some() {
                match defrag.push(&v) {
                    Some(whole) => {
                        stats.fragments_reassembled = stats.fragments_reassembled.saturating_add(1);
                        slot.insert(whole).as_slice()
                    }
                    None => break,
                }
            } else {
                v.l4
            };
            outer = false;
            // GRE and UDP tunnels: the outer flow is kept (GRE, CAPWAP…) and the carried
            // packet is accounted to its own flow next.
            next = tunnel::inner_ip(v.proto, l4_bytes);
            let Some(t) = transport(v.proto, l4_bytes) else {
                continue;
            };
            let p = TransportPacket {
                frame: stats.packets,
                l4: v.proto,
                src: SocketAddr::new(v.src, t.sport),
                dst: SocketAddr::new(v.dst, t.dport),
                tcp_flags: t.flags,
                tcp_seq: t.seq,
                payload: t.payload,
                ip_len: v.ip_len,
            };
            on_packet(&p, now);
        }
    }
    stats.truncated = records.truncated;
    stats.skipped_blocks = records.skipped;
    stats.first_problem = records.first_problem;
    Ok(stats)
}

type FlowKey = (u8, SocketAddr, SocketAddr);

/// Accounts one transport packet to its flow, creating the flow on first sight, and runs it
/// through the engine while the flow is undecided (and DNS-like responses after). False when the
/// packet's flow is new and [`MAX_FLOWS`] flows are tracked already.
fn account(
    engine: &mut Engine,
    flows: &mut HashMap<FlowKey, Flow>,
    order: &mut u64,
    t: &TransportPacket<'_>,
    now: Instant,
) -> bool {
    let (src, dst) = (t.src, t.dst);
    let key = if (t.l4, src) < (t.l4, dst) {
        (t.l4, src, dst)
    } else {
        (t.l4, dst, src)
    };
    if !flows.contains_key(&key) {
        if flows.len() >= MAX_FLOWS {
            return false;
        }
        // Client: the SYN sender; else the side with the higher (ephemeral) port; else the sender.
        let src_is_client = if t.syn() && !t.ack() {
            true
        } else if t.syn() && t.ack() {
            false
        } else if src.port() != dst.port() {
            src.port() > dst.port()
        } else {
            true
        };
        let (client, server) = if src_is_client {
            (src, dst)
        } else {
            (dst, src)
        };
        let flow_order = *order;
        *order = order.saturating_add(1);
        flows.insert(
            key,
            Flow {
                client,
                server,
                l4: t.l4,
                state: FlowState::new(),
                result: None,
                packets: 0,
                bytes: 0,
                order: flow_order,
            },
        );
    }
    let Some(flow) = flows.get_mut(&key) else {
        return true;
    };
    flow.packets = flow.packets.saturating_add(1);
    flow.bytes = flow
        .bytes
        .saturating_add(u64::try_from(t.ip_len).unwrap_or(0));
    let from_client = src == flow.client;
    let pkt = PacketView {
        l4: flow.l4,
        client: flow.client,
        server: flow.server,
        from_client,
        payload: t.payload,
        tcp_seq: t.tcp_seq,
        tcp_syn: t.syn(),
    };
    let dns_like = flow
        .result
        .as_ref()
        .is_some_and(|r| r.master.0 == 5 || r.master.0 == 8 || r.master.0 == 154);
    if flow.result.is_none() || (dns_like && !from_client) {
        let c = engine.classify(&mut flow.state, &pkt, now);
        if flow.result.is_none() && c.state != crate::engine::State::NeedMore {
            flow.result = Some(c);
        }
    }
    true
}

struct Transport<'a> {
    sport: u16,
    dport: u16,
    seq: u32,
    flags: u8,
    payload: &'a [u8],
}

fn transport(proto: u8, b: &[u8]) -> Option<Transport<'_>> {
    let port = |i: usize| -> Option<u16> {
        Some(u16::from_be_bytes(
            b.get(i..i.checked_add(2)?)?.try_into().ok()?,
        ))
    };
    match proto {
        IPPROTO_TCP => {
            let off = usize::from(b.get(12)? >> 4).checked_mul(4)?;
            let flags = *b.get(13)?;
            Some(Transport {
                sport: port(0)?,
                dport: port(2)?,
                seq: u32::from_be_bytes(b.get(4..8)?.try_into().ok()?),
                flags,
                payload: b.get(off..).unwrap_or(&[]),
            })
        }
        IPPROTO_UDP => Some(Transport {
            sport: port(0)?,
            dport: port(2)?,
            seq: 0,
            flags: 0,
            payload: b.get(8..)?,
        }),
        IPPROTO_ICMP | IPPROTO_ICMPV6 => Some(Transport {
            sport: 0,
            dport: 0,
            seq: 0,
            flags: 0,
            payload: b,
        }),
        // Other protocols (IGMP, ESP, GRE…): one flow per address pair, port 0.
        _ => Some(Transport {
            sport: 0,
            dport: 0,
            seq: 0,
            flags: 0,
            payload: b,
        }),
    }
}

#[doc(hidden)]
pub fn fuzz_entry(data: &[u8]) {
    let _ = replay_bytes(data, &ReplayOptions::default(), |_| {});
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests;
