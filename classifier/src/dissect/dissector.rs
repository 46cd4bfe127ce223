//! What the registry ([`super::DISSECTORS`]) is made of and what is derived from it: the
//! [`Dissector`] entry (probe, usual ports, emitted ids), the IP-protocol table, the QUIC hook
//! (the one stateful dissector), the supported ids and the fuzz entry points.

use nfguard_proto::AppId;

use super::*;

/// A stateless dissector: the probe plus the ports it is tried first on.
pub struct Dissector {
    pub name: &'static str,
    pub probe: for<'a> fn(&Ctx, &'a [u8]) -> Probe<Hit<'a>>,
    pub tcp_ports: &'static [u16],
    pub udp_ports: &'static [u16],
    /// Whether the engine should reassemble the TCP stream start when this dissector says `NeedMore`.
    pub reassemble: bool,
    /// Every id a match may carry as master or app (before host matching): what makes the
    /// protocol count as supported (`supported_ids`).
    pub emits: &'static [AppId],
}

impl Dissector {
    /// Whether this dissector's usual port is one of the packet's.
    pub fn likely(&self, ctx: &Ctx) -> bool {
        let ports = if ctx.is_tcp() {
            self.tcp_ports
        } else if ctx.is_udp() {
            self.udp_ports
        } else {
            return false;
        };
        ports.iter().any(|p| ctx.has_port(*p))
    }

    /// Whether this dissector applies to the packet's L4 at all.
    pub fn applies(&self, ctx: &Ctx) -> bool {
        (ctx.is_tcp() && !self.tcp_ports.is_empty()) || (ctx.is_udp() && !self.udp_ports.is_empty())
    }
}

/// Any port (the dissector applies to the transport but has no usual port).
pub const ANY: &[u16] = &[0];

/// A QUIC flow's CRYPTO-stream reassembly (QUIC is the one stateful dissector).
pub type QuicState = Option<Box<crate::reassembly::StreamBuf>>;
/// Largest UDP datagram QUIC decrypts (the engine's reusable scratch buffer).
pub const QUIC_MAX_DATAGRAM: usize = quic::MAX_DATAGRAM;

/// QUIC (`quic/`): the SNI of a client Initial, decrypted into `scratch`, reassembled across
/// datagrams in `state`.
pub fn quic<'a>(
    ctx: &Ctx,
    data: &'a [u8],
    state: &'a mut QuicState,
    scratch: &'a mut Vec<u8>,
) -> Probe<quic::QuicHit<'a>> {
    quic::probe(ctx, data, state, scratch)
}

/// Every id the registry can emit from payload: the dissectors', QUIC's, the follow-ups' and the
/// IP-protocol table's (unsorted, with repeats).
pub fn emitted_ids() -> impl Iterator<Item = AppId> {
    DISSECTORS
        .iter()
        .flat_map(|d| d.emits.iter().copied())
        .chain(quic::EMITS.iter().copied())
        .chain(crate::follow_up::EMITS.iter().copied())
        .chain(L4_ONLY.iter().map(|&(_, id)| id))
}

/// Protocols known from the IP header alone: (IP protocol number, id).
pub const L4_ONLY: &[(u8, AppId)] = &[
    (nfguard_proto::types::IPPROTO_ICMP, ids::IP_ICMP),
    (nfguard_proto::types::IPPROTO_ICMPV6, ids::IP_ICMPV6),
    (IPPROTO_IGMP, ids::IP_IGMP),
    // ESP and AH: IPsec.
    (IPPROTO_ESP, ids::IPSEC),
    (IPPROTO_AH, ids::IPSEC),
    (IPPROTO_GRE, ids::IP_GRE),
];
const IPPROTO_IGMP: u8 = 2;
const IPPROTO_GRE: u8 = 47;
const IPPROTO_ESP: u8 = 50;
const IPPROTO_AH: u8 = 51;

/// The protocol of an IP protocol number that needs no payload inspection.
pub fn l4_only(l4: u8) -> Option<AppId> {
    L4_ONLY.iter().find(|&&(p, _)| p == l4).map(|&(_, id)| id)
}

/// Contexts a fuzzed payload is probed in: both transports, both directions, at the stream start
/// or not, on the dissector's first usual port and on an unrelated one.
fn fuzz_contexts(d: &Dissector) -> impl Iterator<Item = Ctx> + '_ {
    let tcp = d
        .tcp_ports
        .first()
        .map(|&p| (nfguard_proto::types::IPPROTO_TCP, p));
    let udp = d
        .udp_ports
        .first()
        .map(|&p| (nfguard_proto::types::IPPROTO_UDP, p));
    tcp.into_iter().chain(udp).flat_map(|(l4, port)| {
        [port, 40001].into_iter().flat_map(move |server_port| {
            [(true, true), (false, true), (true, false), (false, false)].map(
                move |(from_client, stream_start)| Ctx {
                    l4,
                    from_client,
                    client_port: 50000,
                    server_port,
                    stream_start,
                },
            )
        })
    })
}

/// Runs every registered probe over `data` (the seed replay in `tests/fuzz_seeds.rs`).
#[doc(hidden)]
pub fn fuzz_entry(data: &[u8]) {
    for d in DISSECTORS {
        fuzz_one(d, data);
    }
}

/// The `dissectors` fuzz target: the first byte picks a registered probe, the rest is the payload.
#[doc(hidden)]
pub fn fuzz_pick(data: &[u8]) {
    let Some((&pick, payload)) = data.split_first() else {
        return;
    };
    let index = usize::from(pick).checked_rem(DISSECTORS.len()).unwrap_or(0);
    if let Some(d) = DISSECTORS.get(index) {
        fuzz_one(d, payload);
    }
}

fn fuzz_one(d: &Dissector, data: &[u8]) {
    for ctx in fuzz_contexts(d) {
        let _ = (d.probe)(&ctx, data);
    }
}
