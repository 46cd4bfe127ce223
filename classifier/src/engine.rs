//! The DPI engine, a driver only: bytes and time in, a [`Classification`] out. Per flow it keeps a
//! small [`FlowState`]; it walks the registry (likely-by-port first, then all), hands the start of
//! each TCP direction to reassembly when a dissector asks, passes hits to their follow-up
//! (`follow_up.rs`), and gives up after `max_dpi_packets` payload packets in nDPI's order:
//! tentative result → DNS cache → port → IP list.
//!
//! `max_dpi_packets` is counted here and only here: payload packets inspected (SYNs and empty
//! segments do not count).
//!
//! Memory: `size_of::<FlowState>()` is 16 bytes; while classifying it owns one boxed
//! `Dpi` (measured by the `state_sizes` test, ≤ 512 B) plus reassembly buffers (≤ 2 × 8 KiB + 8 KiB
//! for QUIC) only while a handshake is being reassembled; after DONE/GAVE_UP it owns no heap.

use std::net::SocketAddr;
use std::time::Instant;

use nfguard_proto::AppId;
use nfguard_proto::types::{IPPROTO_TCP, IPPROTO_UDP};

pub use crate::classification::{
    Classification, Confidence, DEFAULT_MAX_DPI_PACKETS, EngineConfig, PacketView, State,
};
use crate::classification::{category_of, finished};
use crate::dissect::DISSECTORS;
use crate::dissect::dissector::{self, QuicState};
use crate::dissect::{Ctx, Hit, Probe, ids, tls};
use crate::dns_cache::DnsCache;
use crate::follow_up::{self, Decided, Pending};
use crate::hosts::HostMatcher;
use crate::ip_lists;
pub use crate::reassembly::MAX_HANDSHAKE_BYTES;
use crate::reassembly::StreamStart;
use crate::risks;
use crate::stun_cache::StunCache;
use nfguard_proto::port_table::PortTable;

/// Per-flow DPI state (see the module docs for its size).
#[derive(Debug, Default)]
pub struct FlowState {
    inner: Inner,
}

#[derive(Debug, Default)]
enum Inner {
    #[default]
    New,
    Classifying(Box<Dpi>),
    /// Decided: nothing kept but the verdict-relevant ids.
    Finished {
        master: AppId,
        app: AppId,
    },
}

/// What a flow keeps while being classified.
#[derive(Debug, Default)]
struct Dpi {
    /// Payload packets inspected (the one `max_dpi_packets` counter).
    packets: u8,
    /// Client and server stream starts.
    dirs: [StreamStart; 2],
    quic: QuicState,
    /// The follow-up the flow waits for, with the result it would report now.
    pending: Option<Pending>,
}

impl Dpi {
    fn dir(&mut self, from_client: bool) -> &mut StreamStart {
        let [c, s] = &mut self.dirs;
        if from_client { c } else { s }
    }
}

impl FlowState {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the flow is decided (DONE or GAVE_UP).
    pub fn is_finished(&self) -> bool {
        matches!(self.inner, Inner::Finished { .. })
    }

    /// Heap bytes this flow owns now (boxed state and reassembly buffers).
    pub fn heap_bytes(&self) -> usize {
        match &self.inner {
            Inner::Classifying(d) => {
                let bufs = d.dirs.iter().map(StreamStart::heap_bytes).sum::<usize>();
                let quic = d.quic.as_ref().map_or(0, |q| q.heap_len());
                std::mem::size_of::<Dpi>()
                    .saturating_add(bufs)
                    .saturating_add(quic)
            }
            _ => 0,
        }
    }
}

/// The DPI engine: dissectors, host matcher, DNS cache, port table. One per classifier actor.
pub struct Engine {
    hosts: HostMatcher,
    cache: DnsCache,
    ports: PortTable,
    max_dpi_packets: u8,
    /// Reused QUIC decryption buffer, so the per-packet path does not allocate.
    scratch: Vec<u8>,
    /// STUN applications learned per endpoint (`stun_cache.rs`).
    stun: StunCache,
}

enum Outcome<'a> {
    Match(Hit<'a>),
    NeedMore { reassemble: bool },
    NoMatch,
}

impl Engine {
    pub fn new(cfg: EngineConfig) -> Self {
        Engine {
            hosts: HostMatcher::new(),
            cache: DnsCache::new(cfg.dns_cache_capacity),
            ports: PortTable::new(),
            max_dpi_packets: cfg.max_dpi_packets.max(1),
            scratch: Vec::with_capacity(dissector::QUIC_MAX_DATAGRAM),
            stun: StunCache::default(),
        }
    }

    /// The DNS-answer cache (read-only, for metrics and tests).
    pub fn dns_cache(&self) -> &DnsCache {
        &self.cache
    }

    /// The host matcher.
    pub fn hosts(&self) -> &HostMatcher {
        &self.hosts
    }

    /// Classifies one packet of a flow. Call it for every packet that carries payload (and for
    /// ICMP messages) until the state is `Done` or `GaveUp`; later calls return the same ids
    /// (without host) at no cost. DNS flows stay `NeedMore` after the query until the answer
    /// arrives, so the answer reaches the DNS cache.
    pub fn classify(
        &mut self,
        flow: &mut FlowState,
        pkt: &PacketView<'_>,
        now: Instant,
    ) -> Classification {
        match &mut flow.inner {
            Inner::Finished { master, app } => {
                let (master, app) = (*master, *app);
                // Answers of already-decided DNS flows still feed the cache.
                if !pkt.from_client && matches!(master, ids::DNS | ids::MDNS | ids::LLMNR) {
                    let ctx = Ctx::client(pkt.l4, pkt.client.port(), pkt.server.port());
                    self.cache.learn(&self.hosts, &ctx, pkt.payload, now);
                }
                return Classification {
                    master,
                    app,
                    category: category_of(app, master),
                    state: State::Done,
                    confidence: Confidence::Dpi,
                    ..Classification::default()
                };
            }
            Inner::New => {
                if let Some(c) = dissector::l4_only(pkt.l4) {
                    flow.inner = Inner::Finished { master: c, app: c };
                    return finished(c, c, "", Confidence::Dpi, State::Done);
                }
                flow.inner = Inner::Classifying(Box::default());
            }
            Inner::Classifying(_) => {}
        }
        let Inner::Classifying(dpi) = &mut flow.inner else {
            return Classification::need_more();
        };
        if pkt.l4 == IPPROTO_TCP && pkt.tcp_syn && pkt.payload.is_empty() {
            dpi.dir(pkt.from_client).syn(pkt.tcp_seq);
            return Classification::need_more();
        }
        if pkt.payload.is_empty() {
            return Classification::need_more();
        }
        dpi.packets = dpi.packets.saturating_add(1);
        let out = match self.inspect(dpi, pkt, now) {
            Some(c) => c,
            None if dpi.packets >= self.max_dpi_packets => self.give_up(dpi, pkt, now),
            // Nothing matched this packet; a cached DNS answer classifies at once.
            None => match self.cache_guess(pkt, now) {
                Some(c) if dpi.packets == 1 && dpi.pending.is_none() => Classification {
                    state: State::Done,
                    ..c
                },
                _ => Classification::need_more(),
            },
        };
        let mut out = self.stun.apply(out, pkt);
        if out.state != State::NeedMore {
            flow.inner = Inner::Finished {
                master: out.master,
                app: out.app,
            };
            if out.host.is_empty()
                && let Some(e) = self.cache.get(&pkt.server.ip(), now)
            {
                out.host = e.name.to_string();
            }
        }
        out
    }

    /// The flow ended (or the capture file did) before a decision: the best answer available.
    pub fn finish(
        &mut self,
        flow: &mut FlowState,
        pkt: &PacketView<'_>,
        now: Instant,
    ) -> Classification {
        let out = match &mut flow.inner {
            Inner::Finished { master, app } => {
                return finished(*master, *app, "", Confidence::Dpi, State::Done);
            }
            Inner::New => match dissector::l4_only(pkt.l4) {
                Some(c) => finished(c, c, "", Confidence::Dpi, State::Done),
                None => self.give_up(&mut Dpi::default(), pkt, now),
            },
            Inner::Classifying(dpi) => self.give_up(dpi, pkt, now),
        };
        let out = self.stun.apply(out, pkt);
        flow.inner = Inner::Finished {
            master: out.master,
            app: out.app,
        };
        out
    }

    /// Runs the dissectors over this packet (and the reassembled stream start); `Some` when decided.
    fn inspect(
        &mut self,
        dpi: &mut Dpi,
        pkt: &PacketView<'_>,
        now: Instant,
    ) -> Option<Classification> {
        let mut ctx = Ctx {
            l4: pkt.l4,
            from_client: pkt.from_client,
            client_port: pkt.client.port(),
            server_port: pkt.server.port(),
            stream_start: true,
        };
        if pkt.l4 == IPPROTO_UDP {
            return self.inspect_datagram(dpi, &ctx, pkt, now);
        }
        if pkt.l4 != IPPROTO_TCP {
            return None;
        }
        let [_, server_stream] = &mut dpi.dirs;
        if let Some(answer) =
            follow_up::on_segment(&mut dpi.pending, server_stream, &self.hosts, pkt)
        {
            return answer;
        }
        let dir = dpi.dir(pkt.from_client);
        let offset = dir.offset(pkt.tcp_seq);
        let in_window = offset < MAX_HANDSHAKE_BYTES;
        if let Some(buf) = dir.active() {
            if in_window {
                buf.insert(offset as u64, pkt.payload);
            }
            let data = buf.contiguous();
            let full = data.len() >= MAX_HANDSHAKE_BYTES;
            match run_dissectors(&ctx, data) {
                Outcome::Match(hit) => {
                    // The hit borrows the buffer; decide before touching the state again.
                    let d = self.decide(&ctx, &hit, data, pkt, now);
                    return follow_up::after_hit(&mut dpi.pending, d, ctx.l4);
                }
                Outcome::NeedMore { .. } if !full => return None,
                _ => dpi.dir(pkt.from_client).stop(),
            }
            // The stream start is settled as NoMatch; still look at this packet alone below.
            ctx.stream_start = false;
        } else {
            ctx.stream_start = offset == 0;
        }
        let dir = dpi.dir(pkt.from_client);
        match run_dissectors(&ctx, pkt.payload) {
            Outcome::Match(hit) => {
                let d = self.decide(&ctx, &hit, pkt.payload, pkt, now);
                follow_up::after_hit(&mut dpi.pending, d, ctx.l4)
            }
            Outcome::NeedMore { reassemble: true } if ctx.stream_start => {
                dir.start(0, pkt.payload);
                None
            }
            // A segment ahead of the stream start: the start was lost or comes later (out of
            // order). Keep it so the start can be completed.
            _ if in_window && offset > 0 && !dir.is_stopped() && !dir.is_buffering() => {
                dir.start(offset, pkt.payload);
                None
            }
            _ => None,
        }
    }

    /// One UDP datagram: QUIC first (stateful, and the most common encrypted UDP protocol), then
    /// a STUN flow's DTLS check, then the registry.
    fn inspect_datagram(
        &mut self,
        dpi: &mut Dpi,
        ctx: &Ctx,
        pkt: &PacketView<'_>,
        now: Instant,
    ) -> Option<Classification> {
        match dissector::quic(ctx, pkt.payload, &mut dpi.quic, &mut self.scratch) {
            Probe::Match(q) => {
                let mut c = follow_up::by_host(&self.hosts, &Hit::with_host(ids::QUIC, q.sni));
                c.risks.insert(risks::of_classification(&c, ctx, &[]));
                c.hello = q.hello;
                return Some(c);
            }
            Probe::NeedMore => return None,
            Probe::NoMatch => {}
        }
        dpi.quic = None;
        if let Some(c) = follow_up::before_datagram(&mut dpi.pending, pkt.payload) {
            return Some(c);
        }
        match run_dissectors(ctx, pkt.payload) {
            Outcome::Match(hit) => {
                let d = self.decide(ctx, &hit, pkt.payload, pkt, now);
                follow_up::after_hit(&mut dpi.pending, d, ctx.l4)
            }
            _ => follow_up::unmatched_datagram(&mut dpi.pending),
        }
    }

    /// A hit as a classification (host matcher, DNS, Tor), with the risks of its payload.
    fn decide(
        &mut self,
        ctx: &Ctx,
        hit: &Hit<'_>,
        data: &[u8],
        pkt: &PacketView<'_>,
        now: Instant,
    ) -> Decided {
        let mut d = follow_up::decide(&self.hosts, &mut self.cache, ctx, hit, pkt, now);
        let payload_risks = risks::of_classification(&d.c, ctx, data);
        d.c.risks.insert(payload_risks);
        if ctx.is_tcp() {
            // Only a TLS record holding a whole ClientHello has one.
            d.c.hello = tls::ja4::of_record(data);
        }
        d
    }

    /// The application a DNS answer named for the server address (not a name of no known app).
    fn cache_guess(&self, pkt: &PacketView<'_>, now: Instant) -> Option<Classification> {
        let e = self
            .cache
            .get(&pkt.server.ip(), now)
            .filter(|e| e.app != AppId::UNKNOWN)?;
        let c = finished(
            AppId::UNKNOWN,
            e.app,
            e.category,
            Confidence::DpiCache,
            State::GaveUp,
        );
        Some(c.with_host(e.name.to_string()))
    }

    /// The answer when DPI is over without a match: tentative, else cache, else port, else the
    /// address lists, else Unknown (nDPI's giveup order).
    fn give_up(&self, dpi: &mut Dpi, pkt: &PacketView<'_>, now: Instant) -> Classification {
        if let Some(p) = dpi.pending.take() {
            return Classification {
                state: State::Done,
                ..*p.result
            };
        }
        if let Some(c) = self.cache_guess(pkt, now) {
            return c;
        }
        if let Some(id) = self.port_guess(pkt.l4, pkt.server.port(), pkt.client.port()) {
            return finished(id, id, "", Confidence::Port, State::GaveUp);
        }
        // nDPI's last guess: the server's (else the client's) address in its lists (`ip_lists.rs`).
        let listed =
            ip_lists::lookup(pkt.server.ip()).or_else(|| ip_lists::lookup(pkt.client.ip()));
        match listed {
            Some(id) => finished(AppId::UNKNOWN, id, "", Confidence::Ip, State::GaveUp),
            None => finished(
                AppId::UNKNOWN,
                AppId::UNKNOWN,
                "",
                Confidence::Unknown,
                State::GaveUp,
            ),
        }
    }

    /// The protocol registered for the server port (else the client port) in the nDPI table.
    pub fn port_guess(&self, l4: u8, server_port: u16, client_port: u16) -> Option<AppId> {
        self.ports.guess(l4, server_port, client_port)
    }
}

/// Runs every applicable stateless dissector: port-likely ones first, then the rest.
fn run_dissectors<'a>(ctx: &Ctx, data: &'a [u8]) -> Outcome<'a> {
    let mut need_more = false;
    let mut reassemble = false;
    for pass in [true, false] {
        for d in DISSECTORS
            .iter()
            .filter(|d| d.applies(ctx) && d.likely(ctx) == pass)
        {
            match (d.probe)(ctx, data) {
                Probe::Match(h) => return Outcome::Match(h),
                Probe::NeedMore => {
                    need_more = true;
                    reassemble |= d.reassemble;
                }
                Probe::NoMatch => {}
            }
        }
    }
    if need_more {
        Outcome::NeedMore { reassemble }
    } else {
        Outcome::NoMatch
    }
}

#[doc(hidden)]
pub fn fuzz_entry(data: &[u8]) {
    let mut e = Engine::new(EngineConfig::default());
    let now = Instant::now();
    for (l4, sp) in [
        (IPPROTO_TCP, 443),
        (IPPROTO_UDP, 443),
        (IPPROTO_UDP, 53),
        (IPPROTO_TCP, 80),
    ] {
        let mut f = FlowState::new();
        let pkt = PacketView {
            l4,
            client: SocketAddr::from(([10, 0, 0, 1], 40000)),
            server: SocketAddr::from(([10, 0, 0, 2], sp)),
            from_client: true,
            payload: data,
            tcp_seq: 1,
            tcp_syn: false,
        };
        let _ = e.classify(&mut f, &pkt, now);
        let _ = e.finish(&mut f, &pkt, now);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests;
