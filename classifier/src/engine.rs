//! The DPI engine: bytes and time in, a [`Classification`] out. Per flow it keeps a small
//! [`FlowState`]; it runs the dissectors (likely-by-port first, then all), reassembles the start of
//! each TCP direction and QUIC CRYPTO frames up to `MAX_HANDSHAKE_BYTES` when a dissector asks,
//! matches host names, feeds and reads the DNS-answer cache, gives up after `max_dpi_packets`
//! payload packets, and guesses by port only after payload inspection found nothing.
//!
//! Memory: `size_of::<FlowState>()` is 16 bytes; while classifying it owns one boxed
//! `Dpi` (measured by the `state_sizes` test, ≤ 512 B) plus reassembly buffers (≤ 2 × 8 KiB + 8 KiB
//! for QUIC) only while a handshake is being reassembled; after DONE/GAVE_UP it owns no heap.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use nfguard_proto::types::{IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP};
use nfguard_proto::{AppId, protocols};

use crate::dissect::{
    self, Ctx, DISSECTORS, Hit, Probe, dns, dtls, ids, quic, starttls, tls_cert, tls_cert_names,
    tor,
};
use crate::dns_cache::DnsCache;
use crate::hosts::HostMatcher;
use crate::ip_lists;
use crate::risks::{self, Risks};
use crate::stun_cache::{STUN_EXTRA_PACKETS, StunCache};

/// Bytes of a TCP direction or QUIC CRYPTO stream reassembled at most (DESIGN §6).
pub const MAX_HANDSHAKE_BYTES: usize = quic::MAX_HANDSHAKE_BYTES;
/// nDPI's default number of packets inspected per flow.
pub const DEFAULT_MAX_DPI_PACKETS: u8 = 32;
const IPPROTO_IGMP: u8 = 2;
/// Payload packets after a mail/FTP banner watched for the TLS upgrade: greeting, EHLO and its
/// reply, STARTTLS and its reply fit in five; a few more allow split replies. `max_dpi_packets`
/// bounds it too (give-up reports the plain protocol).
const MAIL_UPGRADE_PACKETS: u8 = 8;

/// How the application was found (the flow JSON's `confidence`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Confidence {
    #[default]
    Unknown,
    /// From this flow's payload.
    Dpi,
    /// From an earlier DNS answer for the server address.
    DpiCache,
    /// From the server port alone.
    Port,
    /// From an address list.
    Ip,
}

impl Confidence {
    /// The spelling of DESIGN §6: `dpi`, `dpi_cache`, `port`, `ip`, `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::Unknown => "unknown",
            Confidence::Dpi => "dpi",
            Confidence::DpiCache => "dpi_cache",
            Confidence::Port => "port",
            Confidence::Ip => "ip",
        }
    }
}

/// Where a flow's classification stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum State {
    /// Keep sending payload packets.
    #[default]
    NeedMore,
    /// Classified; no more packets needed.
    Done,
    /// `max_dpi_packets` reached (or the flow ended) without a payload match: the answer is a
    /// tentative result, a cache or port guess, or Unknown.
    GaveUp,
}

/// The engine's answer for one packet.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Classification {
    /// The carrying protocol (`TLS`, `DNS`, `HTTP`…); Unknown (0) when none.
    pub master: AppId,
    /// The application (`YouTube`); equals `master` when only the protocol is known.
    pub app: AppId,
    /// nDPI's category name; `Unspecified` when unknown.
    pub category: &'static str,
    /// SNI, HTTP Host, DNS query name or SSH banner; empty when none.
    pub host: String,
    pub confidence: Confidence,
    pub state: State,
    /// Flow risks seen in the deciding packet (`risks.rs`); empty on later calls.
    pub risks: Risks,
}

impl Classification {
    fn need_more() -> Self {
        Classification {
            category: "Unspecified",
            ..Classification::default()
        }
    }

    /// `master.app` as nDPI prints it (`TLS.YouTube`, `DNS`, `Unknown`).
    pub fn label(&self) -> String {
        protocols::label(self.master, self.app)
    }
}

/// One packet as the engine sees it.
#[derive(Debug, Clone, Copy)]
pub struct PacketView<'a> {
    /// IP protocol number.
    pub l4: u8,
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub from_client: bool,
    /// Transport payload (for ICMP: the ICMP message).
    pub payload: &'a [u8],
    /// TCP sequence number of the first payload byte (or of the SYN).
    pub tcp_seq: u32,
    /// TCP SYN flag.
    pub tcp_syn: bool,
}

/// Engine settings.
#[derive(Debug, Clone, Copy)]
pub struct EngineConfig {
    /// Payload packets inspected per flow before GAVE_UP (config `classifier.max_dpi_packets`).
    pub max_dpi_packets: u8,
    /// DNS-answer cache entries.
    pub dns_cache_capacity: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            max_dpi_packets: DEFAULT_MAX_DPI_PACKETS,
            dns_cache_capacity: crate::dns_cache::DEFAULT_CAPACITY,
        }
    }
}

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
    packets: u8,
    dirs: [Dir; 2],
    quic: Option<Box<quic::CryptoStream>>,
    /// A result good enough to report if nothing better comes (a DNS query awaiting its answer).
    tentative: Option<Box<Classification>>,
    /// TLS with no application from the SNI: `tentative` holds it while the server's certificate
    /// names are awaited (nDPI matches them too, `tls_cert.rs`).
    await_cert: bool,
    /// STUN without an application yet: payload packets still inspected for one (nDPI's extra
    /// dissection, `stun.c`); 0 when not waiting.
    stun_left: u8,
    /// SMTP/IMAP/POP3/FTP after its banner: payload packets still watched for an in-band TLS
    /// upgrade (`starttls.rs`); 0 when not watching.
    mail_left: u8,
    /// The client sent the upgrade command; the server's reply decides.
    mail_starttls: bool,
}

/// One TCP direction's stream position and, while reassembling, its buffer.
#[derive(Debug, Default)]
struct Dir {
    /// Sequence number of the stream's first byte (SYN + 1, else the first payload seen).
    base: Option<u32>,
    asm: Option<Box<quic::CryptoStream>>,
    /// Reassembly stopped (bound reached or nothing asked for more).
    asm_done: bool,
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
                let bufs: usize = d
                    .dirs
                    .iter()
                    .filter_map(|dir| dir.asm.as_ref())
                    .chain(d.quic.as_ref())
                    .map(|a| a.capacity_bytes())
                    .sum();
                std::mem::size_of::<Dpi>().saturating_add(bufs)
            }
            _ => 0,
        }
    }
}

/// The DPI engine: dissectors, host matcher, DNS cache, port table. One per classifier actor.
pub struct Engine {
    hosts: HostMatcher,
    cache: DnsCache,
    ports: HashMap<(u8, u16), AppId>,
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
        let mut ports = HashMap::new();
        // First protocol by id wins a shared port; ids below 7 (mail) and DNS sort first anyway.
        for p in protocols::all() {
            for &port in p.tcp_ports {
                ports.entry((IPPROTO_TCP, port)).or_insert(p.id);
            }
            for &port in p.udp_ports {
                ports.entry((IPPROTO_UDP, port)).or_insert(p.id);
            }
        }
        Engine {
            hosts: HostMatcher::new(),
            cache: DnsCache::new(cfg.dns_cache_capacity),
            ports,
            max_dpi_packets: cfg.max_dpi_packets.max(1),
            scratch: Vec::with_capacity(quic::MAX_DATAGRAM),
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
                if !pkt.from_client && is_dns_family(master) {
                    self.learn_dns(pkt, now);
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
                if let Some(c) = l4_only(pkt.l4) {
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
            let d = dir_mut(dpi, pkt.from_client);
            d.base = Some(pkt.tcp_seq.wrapping_add(1));
            return Classification::need_more();
        }
        if pkt.payload.is_empty() {
            return Classification::need_more();
        }
        dpi.packets = dpi.packets.saturating_add(1);
        let result = self.inspect(dpi, pkt, now);
        let out = match result {
            Some(c) => c,
            None if dpi.packets >= self.max_dpi_packets => self.give_up(dpi, pkt, now),
            None => {
                // Nothing matched this packet; a cached DNS answer classifies at once.
                if let Some(c) = self
                    .cache_guess(pkt, now)
                    .filter(|_| dpi.packets == 1 && dpi.tentative.is_none())
                {
                    Classification {
                        state: State::Done,
                        ..c
                    }
                } else {
                    Classification::need_more()
                }
            }
        };
        let out = self.stun_app(out, pkt);
        if out.state != State::NeedMore {
            flow.inner = Inner::Finished {
                master: out.master,
                app: out.app,
            };
        }
        out
    }

    /// A decided STUN flow: an application teaches the cache the client's endpoint; plain STUN
    /// and RTP take an application learned for either endpoint (`stun_cache.rs`).
    fn stun_app(&mut self, out: Classification, pkt: &PacketView<'_>) -> Classification {
        // RTP media of a STUN-negotiated call (nDPI's rtp.c consults the same cache).
        let rtp = out.master == ids::RTP || out.app == ids::RTP;
        if !(out.master == ids::STUN || rtp) || out.state == State::NeedMore {
            return out;
        }
        if rtp {
            return match self.stun.lookup(pkt.client, pkt.server) {
                Some(app) => Classification {
                    master: ids::RTP,
                    app,
                    category: category_of(app, ids::RTP),
                    confidence: Confidence::DpiCache,
                    ..out
                },
                None => out,
            };
        }
        if out.app != ids::STUN {
            self.stun.learn(pkt.client, out.app);
            return out;
        }
        match self.stun.lookup(pkt.client, pkt.server) {
            Some(app) => Classification {
                app,
                category: category_of(app, out.master),
                confidence: Confidence::DpiCache,
                ..out
            },
            None => out,
        }
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
                let (master, app) = (*master, *app);
                return finished(master, app, "", Confidence::Dpi, State::Done);
            }
            Inner::New => {
                if let Some(c) = l4_only(pkt.l4) {
                    finished(c, c, "", Confidence::Dpi, State::Done)
                } else {
                    let mut d = Dpi::default();
                    self.give_up(&mut d, pkt, now)
                }
            }
            Inner::Classifying(dpi) => self.give_up(dpi, pkt, now),
        };
        let out = self.stun_app(out, pkt);
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
            // QUIC first on UDP: it is stateful and the most common encrypted UDP protocol.
            let q = quic::probe(&ctx, pkt.payload, &mut dpi.quic, &mut self.scratch);
            match q {
                Probe::Match(h) => {
                    let hit = Hit {
                        master: ids::QUIC,
                        app: ids::QUIC,
                        host: h.sni,
                        dns_labels: false,
                    };
                    let mut c = self.decide(&hit, now);
                    c.risks = assess_risks(&c, &ctx, &[]);
                    return Some(c);
                }
                Probe::NeedMore => return None,
                Probe::NoMatch => {}
            }
            dpi.quic = None;
            if dpi.stun_left > 0 && dtls::is_handshake(pkt.payload) {
                // A DTLS handshake on a STUN flow: WebRTC keying its media, which nDPI's stun.c
                // labels DTLS (keeping an application STUN named).
                dpi.stun_left = 0;
                return dpi.tentative.take().map(|t| {
                    let mut c = *t;
                    if c.app == c.master {
                        c.app = dtls::DTLS;
                    }
                    c.master = dtls::DTLS;
                    c.category = category_of(c.app, c.master);
                    c
                });
            }
            return match run_dissectors(&ctx, pkt.payload) {
                Outcome::Match(hit) => self.on_hit(dpi, &ctx, &hit, pkt, now),
                _ if dpi.stun_left > 0 => {
                    // Unrecognised datagrams of a STUN flow still count towards its extra packets.
                    dpi.stun_left = dpi.stun_left.saturating_sub(1);
                    if dpi.stun_left == 0 {
                        dpi.tentative.take().map(|t| *t)
                    } else {
                        None
                    }
                }
                _ => None,
            };
        }
        if pkt.l4 != IPPROTO_TCP {
            return None;
        }
        if dpi.await_cert {
            return self.certificate(dpi, pkt);
        }
        if dpi.mail_left > 0 {
            return mail_upgrade(dpi, pkt);
        }
        let from_client = pkt.from_client;
        let dir = dir_mut(dpi, from_client);
        let base = *dir.base.get_or_insert(pkt.tcp_seq);
        let offset = usize::try_from(pkt.tcp_seq.wrapping_sub(base)).unwrap_or(usize::MAX);
        let in_window = offset < MAX_HANDSHAKE_BYTES;
        if let (Some(asm), false) = (dir.asm.as_mut(), dir.asm_done) {
            if in_window {
                asm.insert(offset as u64, pkt.payload);
            }
            let data = asm.contiguous();
            let full = data.len() >= MAX_HANDSHAKE_BYTES;
            match run_dissectors(&ctx, data) {
                Outcome::Match(hit) => {
                    // The hit borrows the buffer; decide before touching the state again.
                    let c = self.decide_borrowed(&ctx, &hit, data, pkt, now);
                    return self.after_hit(dpi, c, ctx.l4);
                }
                Outcome::NeedMore { .. } if !full => return None,
                _ => {
                    let dir = dir_mut(dpi, from_client);
                    dir.asm = None;
                    dir.asm_done = true;
                }
            }
            // The stream start is settled as NoMatch; still look at this packet alone below.
            ctx.stream_start = false;
        } else {
            ctx.stream_start = offset == 0;
        }
        match run_dissectors(&ctx, pkt.payload) {
            Outcome::Match(hit) => self.on_hit(dpi, &ctx, &hit, pkt, now),
            Outcome::NeedMore { reassemble: true } if ctx.stream_start => {
                let dir = dir_mut(dpi, from_client);
                if !dir.asm_done {
                    let mut asm = Box::<quic::CryptoStream>::default();
                    asm.insert(0, pkt.payload);
                    dir.asm = Some(asm);
                }
                None
            }
            _ if in_window
                && offset > 0
                && !dir_mut(dpi, from_client).asm_done
                && dir_mut(dpi, from_client).asm.is_none() =>
            {
                // A segment ahead of the stream start: the start was lost or comes later
                // (out of order). Keep it so the start can be completed.
                let dir = dir_mut(dpi, from_client);
                let mut asm = Box::<quic::CryptoStream>::default();
                asm.insert(offset as u64, pkt.payload);
                dir.asm = Some(asm);
                None
            }
            _ => None,
        }
    }

    fn on_hit(
        &mut self,
        dpi: &mut Dpi,
        ctx: &Ctx,
        hit: &Hit<'_>,
        pkt: &PacketView<'_>,
        now: Instant,
    ) -> Option<Classification> {
        let c = self.decide_borrowed(ctx, hit, pkt.payload, pkt, now);
        self.after_hit(dpi, c, ctx.l4)
    }

    /// DNS queries become tentative (the answer is awaited), and so does TLS over TCP without an
    /// SNI (the certificate may name the application); anything else is final.
    fn after_hit(
        &mut self,
        dpi: &mut Dpi,
        c: (Classification, bool),
        l4: u8,
    ) -> Option<Classification> {
        let (c, tentative) = c;
        if c.master == ids::STUN && l4 == IPPROTO_UDP {
            return self.after_stun(dpi, c);
        }
        if dpi.stun_left > 0 {
            // A STUN flow's later packets (media, DTLS) do not relabel it; they only count down.
            dpi.stun_left = dpi.stun_left.saturating_sub(1);
            if dpi.stun_left == 0 {
                return dpi.tentative.take().map(|t| *t);
            }
            return None;
        }
        if l4 == IPPROTO_TCP && !tentative && starttls::secure_of(c.master).is_some() {
            // Plain-text mail or FTP: watch the next few packets for STARTTLS / AUTH TLS.
            dpi.mail_left = MAIL_UPGRADE_PACKETS;
            dpi.mail_starttls = false;
            dpi.tentative = Some(Box::new(c));
            return None;
        }
        // Only an SNI-less hello waits for the certificate: with an SNI the policy can decide on the
        // ClientHello itself, before the server answers (a reject decided on a server packet would
        // reset the server and leave the client hanging).
        // An SNI that is an IP literal (FortiClient sends one) names nothing: treat it as absent.
        let no_usable_sni = c.host.is_empty() || c.host.parse::<std::net::IpAddr>().is_ok();
        let tls_without_app =
            c.master == ids::TLS && c.app == ids::TLS && no_usable_sni && !dpi.await_cert;
        if tentative || tls_without_app {
            dpi.await_cert = tls_without_app;
            dpi.tentative = Some(Box::new(c));
            return None;
        }
        Some(c)
    }

    /// STUN naming an application is final and teaches the cache the client's address; plain STUN
    /// keeps being inspected for `STUN_EXTRA_PACKETS` packets (the realm or a vendor attribute
    /// often comes in a later message), then takes the cache's application for either endpoint.
    fn after_stun(&mut self, dpi: &mut Dpi, c: Classification) -> Option<Classification> {
        if c.app != ids::STUN {
            dpi.stun_left = 0;
            dpi.tentative = None;
            return Some(c);
        }
        if dpi.tentative.is_none() {
            dpi.stun_left = STUN_EXTRA_PACKETS;
            dpi.tentative = Some(Box::new(c));
            return None;
        }
        dpi.stun_left = dpi.stun_left.saturating_sub(1);
        if dpi.stun_left == 0 {
            return dpi.tentative.take().map(|t| *t);
        }
        None
    }

    /// Waits for the server's first certificate (reassembling the server stream start) and
    /// matches its subjectAltName dNSNames; without one the tentative TLS result stands.
    fn certificate(&mut self, dpi: &mut Dpi, pkt: &PacketView<'_>) -> Option<Classification> {
        if pkt.from_client {
            return None;
        }
        let dir = dir_mut(dpi, false);
        let base = *dir.base.get_or_insert(pkt.tcp_seq);
        let offset = usize::try_from(pkt.tcp_seq.wrapping_sub(base)).unwrap_or(usize::MAX);
        let asm = dir.asm.get_or_insert_with(Box::default);
        if offset < MAX_HANDSHAKE_BYTES {
            asm.insert(offset as u64, pkt.payload);
        }
        let data = asm.contiguous();
        // The subject first, as nDPI's tls.c walks the certificate (subject DN, then extensions).
        let found = match tls_cert::first_certificate(data) {
            Probe::Match(cert) => tls_cert::subject(cert)
                .and_then(tls_cert_names::app_of_subject)
                .map(|app| crate::hosts::HostApp { app, category: "" })
                .or_else(|| {
                    tls_cert::subject_alt_names(cert).and_then(|names| {
                        tls_cert::dns_names(names).find_map(|name| self.hosts.lookup(name))
                    })
                }),
            Probe::NeedMore if data.len() < MAX_HANDSHAKE_BYTES => return None,
            _ => None,
        };
        let mut c = *dpi.tentative.take()?;
        if let Some(h) = found {
            c.app = h.app;
            c.category = if h.category.is_empty() {
                category_of(h.app, c.master)
            } else {
                h.category
            };
        }
        Some(c)
    }

    /// Turns a hit into a classification; for DNS also learns answers. The bool says "tentative".
    fn decide_borrowed(
        &mut self,
        ctx: &Ctx,
        hit: &Hit<'_>,
        data: &[u8],
        pkt: &PacketView<'_>,
        now: Instant,
    ) -> (Classification, bool) {
        let (mut c, tentative) = self.decide_hit(ctx, hit, pkt, now);
        if c.master == ids::TLS && c.app == ids::TLS && is_tor(&c.host, pkt) {
            c.app = tor::TOR;
            c.category = category_of(tor::TOR, c.master);
        }
        c.risks = assess_risks(&c, ctx, data);
        (c, tentative)
    }

    fn decide_hit(
        &mut self,
        ctx: &Ctx,
        hit: &Hit<'_>,
        pkt: &PacketView<'_>,
        now: Instant,
    ) -> (Classification, bool) {
        if hit.dns_labels {
            let mut name = [0u8; dns::MAX_NAME_LEN];
            let n = dns::labels_to_dotted(hit.host, &mut name).unwrap_or(0);
            let text = name.get(..n).unwrap_or(&[]);
            let plain = Hit {
                host: text,
                dns_labels: false,
                ..*hit
            };
            let c = self.decide(&plain, now);
            let is_response = dns::message(ctx, pkt.payload)
                .and_then(dns::parse)
                .is_some_and(|m| m.is_response);
            if is_response {
                self.learn_dns(pkt, now);
                return (c, false);
            }
            return (c, true);
        }
        (self.decide(hit, now), false)
    }

    /// Applies the host matcher and builds the final classification.
    fn decide(&self, hit: &Hit<'_>, _now: Instant) -> Classification {
        let host_app = if hit.app == hit.master && !hit.host.is_empty() {
            self.hosts.lookup(hit.host)
        } else {
            None
        };
        let host = String::from_utf8_lossy(hit.host).into_owned();
        match host_app {
            Some(h) => finished(hit.master, h.app, h.category, Confidence::Dpi, State::Done)
                .with_host(host),
            None => finished(hit.master, hit.app, "", Confidence::Dpi, State::Done).with_host(host),
        }
    }

    /// Feeds a DNS response's A/AAAA answers into the cache, keyed by its question name.
    fn learn_dns(&mut self, pkt: &PacketView<'_>, now: Instant) {
        let ctx = Ctx::client(pkt.l4, pkt.client.port(), pkt.server.port());
        let Some(msg) = dns::message(&ctx, pkt.payload) else {
            return;
        };
        let Some(m) = dns::parse(msg) else {
            return;
        };
        if !m.is_response || m.qname.is_empty() {
            return;
        }
        let mut name = [0u8; dns::MAX_NAME_LEN];
        let Some(n) = dns::labels_to_dotted(m.qname, &mut name) else {
            return;
        };
        let name = name.get(..n).unwrap_or(&[]);
        let Some(app) = self.hosts.lookup(name) else {
            // Only names that identify an application are worth a cache slot.
            return;
        };
        let text = String::from_utf8_lossy(name);
        let cache = &mut self.cache;
        let _ = dns::for_each_address(msg, |ip, ttl| {
            cache.insert(ip, &text, app.app, app.category, ttl, now);
        });
    }

    fn cache_guess(&self, pkt: &PacketView<'_>, now: Instant) -> Option<Classification> {
        let e = self.cache.get(&pkt.server.ip(), now)?;
        Some(
            finished(
                AppId::UNKNOWN,
                e.app,
                e.category,
                Confidence::DpiCache,
                State::GaveUp,
            )
            .with_host(e.name.to_string()),
        )
    }

    /// The answer when DPI is over without a match: tentative, else cache, else port, else the
    /// address lists, else Unknown (nDPI's giveup order).
    fn give_up(&self, dpi: &mut Dpi, pkt: &PacketView<'_>, now: Instant) -> Classification {
        if let Some(t) = dpi.tentative.take() {
            return Classification {
                state: State::Done,
                ..*t
            };
        }
        if let Some(c) = self.cache_guess(pkt, now) {
            return c;
        }
        if let Some(id) = self.port_guess(pkt.l4, pkt.server.port(), pkt.client.port()) {
            return finished(id, id, "", Confidence::Port, State::GaveUp);
        }
        // nDPI's last guess: the server's (else the client's) address in its lists (`ip_lists.rs`).
        if let Some(id) =
            ip_lists::lookup(pkt.server.ip()).or_else(|| ip_lists::lookup(pkt.client.ip()))
        {
            return finished(AppId::UNKNOWN, id, "", Confidence::Ip, State::GaveUp);
        }
        finished(
            AppId::UNKNOWN,
            AppId::UNKNOWN,
            "",
            Confidence::Unknown,
            State::GaveUp,
        )
    }

    /// The protocol registered for the server port (else the client port) in the nDPI table.
    pub fn port_guess(&self, l4: u8, server_port: u16, client_port: u16) -> Option<AppId> {
        self.ports
            .get(&(l4, server_port))
            .or_else(|| self.ports.get(&(l4, client_port)))
            .copied()
    }
}

/// A TLS SNI of Tor's random shape (`dissect/tor.rs`); a readable one only to a listed Tor node.
fn is_tor(host: &str, pkt: &PacketView<'_>) -> bool {
    match tor::classify(host.as_bytes()) {
        tor::TorSni::Random => true,
        tor::TorSni::Shape => ip_lists::lookup(pkt.server.ip()) == Some(tor::TOR),
        tor::TorSni::No => false,
    }
}

/// One packet of a mail/FTP flow being watched for an in-band TLS upgrade (`starttls.rs`): the
/// secure protocol once the server accepts the client's STARTTLS / STLS / AUTH TLS (or a TLS
/// handshake record shows up), the plain one on a clear-text command, a refusal, or when the
/// watch runs out; `None` while the exchange goes on.
fn mail_upgrade(dpi: &mut Dpi, pkt: &PacketView<'_>) -> Option<Classification> {
    let plain = dpi.tentative.as_ref()?.master;
    dpi.mail_left = dpi.mail_left.saturating_sub(1);
    let data = pkt.payload;
    let tls_record = data.first() == Some(&0x16) && data.get(1) == Some(&3);
    let verdict = if tls_record {
        Some(true)
    } else if pkt.from_client {
        match starttls::command(plain, data) {
            starttls::Command::StartTls => {
                dpi.mail_starttls = true;
                None
            }
            starttls::Command::Neutral => None,
            starttls::Command::Plain => Some(false),
        }
    } else if dpi.mail_starttls {
        starttls::reply(plain, data)
    } else {
        None
    };
    let upgraded = match verdict {
        Some(v) => v,
        None if dpi.mail_left == 0 => false,
        None => return None,
    };
    dpi.mail_left = 0;
    let mut c = *dpi.tentative.take()?;
    if let (true, Some(secure)) = (upgraded, starttls::secure_of(c.master)) {
        if c.app == c.master {
            c.app = secure;
        }
        c.master = secure;
        c.category = category_of(c.app, c.master);
    }
    Some(c)
}

fn dir_mut(dpi: &mut Dpi, from_client: bool) -> &mut Dir {
    let [c, s] = &mut dpi.dirs;
    if from_client { c } else { s }
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

/// Protocols known from the IP header alone.
fn l4_only(l4: u8) -> Option<AppId> {
    match l4 {
        IPPROTO_ICMP => Some(ids::ICMP),
        IPPROTO_ICMPV6 => Some(ids::ICMPV6),
        IPPROTO_IGMP => Some(ids::IGMP),
        // ESP and AH: IPsec (nDPI id 79).
        50 | 51 => Some(AppId(79)),
        // GRE (nDPI id 80).
        47 => Some(AppId(80)),
        _ => None,
    }
}

fn is_dns_family(id: AppId) -> bool {
    id == ids::DNS || id == ids::MDNS || id == ids::LLMNR
}

/// The flow risks of a classification made from `data` (the deciding packet's payload).
fn assess_risks(c: &Classification, ctx: &Ctx, data: &[u8]) -> Risks {
    risks::assess(&risks::Facts {
        l4: ctx.l4,
        master: c.master,
        app: c.app,
        server_port: ctx.server_port,
        client_port: ctx.client_port,
        host: c.host.as_bytes(),
        host_known: c.app != c.master,
        data,
        from_client: ctx.from_client,
    })
}

/// The category: the host entry's when given, else the app's, else the master's.
fn category_of(app: AppId, master: AppId) -> &'static str {
    let id = if app == AppId::UNKNOWN { master } else { app };
    protocols::by_id(id).map_or("Unspecified", |p| p.category)
}

fn finished(
    master: AppId,
    app: AppId,
    category: &'static str,
    confidence: Confidence,
    state: State,
) -> Classification {
    Classification {
        master,
        app,
        category: if category.is_empty() {
            category_of(app, master)
        } else {
            category
        },
        host: String::new(),
        confidence,
        state,
        risks: Risks::NONE,
    }
}

impl Classification {
    fn with_host(mut self, host: String) -> Self {
        self.host = host;
        self
    }
}

impl quic::CryptoStream {
    /// Heap bytes held by the buffer.
    pub fn capacity_bytes(&self) -> usize {
        self.heap_len()
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
    let _ = dissect::DISSECTORS.len();
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests;
