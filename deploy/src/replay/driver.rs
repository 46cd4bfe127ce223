//! The replay shell around the capture's [`FlowPath`]: each packet of a capture file goes through the
//! same state machine as a live queue's, and the machine's requests are answered in-process — a
//! `ClassifyRequest` by the classifier's [`Engine`], a `DecideRequest` by the [`Policy`] (or, without
//! one, by "classify everything, then accept"). Replies come back at once, so no deadline ever passes.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nfguard_capture::decode::Packet;
use nfguard_capture::flow_path::{Answer, Arrival, FlowPath, PathConfig, Seen, Step, Why};
use nfguard_capture::flow_table::{FlowState, Removed};
use nfguard_capture::stats::{FailReason, Stats};
use nfguard_classifier::FlowSummary;
use nfguard_classifier::engine::{self, Classification, Confidence, Engine, PacketView};
use nfguard_classifier::replay::TransportPacket;
use nfguard_policy::{ClassFacts, FlowFacts, Policy, Usage};
use nfguard_proto::config::{Config, Overload};
use nfguard_proto::pb;
use nfguard_proto::types::{IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP};
use nfguard_proto::{AppId, FlowKey, Verdict};

/// The flow path's timer period, in capture time (the live worker's tick).
const TICK: Duration = Duration::from_millis(100);
/// The policy epoch replay decides under.
const EPOCH: u64 = 1;
/// The smallest flow table replay makes.
const MIN_FLOW_TABLE: usize = 256;

/// One packet's verdict, for `--verdicts`.
#[derive(Debug, Clone, Copy)]
pub struct PacketVerdict {
    pub frame: u64,
    pub l4: u8,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub verdict: Verdict,
    /// What goes back to the kernel: `accept`, `drop` or `repeat`.
    pub nf: &'static str,
    pub why: Why,
}

/// One flow's line of the report.
pub struct FlowLine {
    pub order: u64,
    pub summary: FlowSummary,
    /// `None` without a policy.
    pub verdict: Option<String>,
    pub rule: Option<String>,
}

/// The classifier's side of one flow.
#[derive(Default)]
struct Dpi {
    state: engine::FlowState,
    result: Option<Classification>,
}

/// The policy's last final decision for a flow.
struct Decided {
    verdict: String,
    rule: Option<String>,
}

/// Packets the capture answers without a flow (ICMPv6 neighbour discovery): reported as flows so the
/// report lists all traffic, as nDPI does.
struct Untracked {
    order: u64,
    l4: u8,
    client: SocketAddr,
    server: SocketAddr,
    packets: u64,
    bytes: u64,
}

pub struct Driver<'p> {
    path: FlowPath<u64>,
    engine: Engine,
    policy: Option<&'p Policy>,
    usage: Usage,
    dpi: HashMap<u64, Dpi>,
    decided: HashMap<u64, Decided>,
    untracked: HashMap<(SocketAddr, SocketAddr), Untracked>,
    lines: Vec<FlowLine>,
    next_tick: Option<Instant>,
    /// Wall-clock milliseconds at the capture's start (policy time windows, flow events).
    unix_ms: u64,
    start: Option<Instant>,
}

impl<'p> Driver<'p> {
    /// `live_midstream`: TCP flows first seen without SYN get `midstream_verdict` as on a live
    /// queue; otherwise they are classified (a capture's start cuts into open connections).
    /// `max_packets` bounds the packets of the capture: the flow table needs no more slots than
    /// that (it is preallocated, and small files are the common case).
    pub fn new(
        policy: Option<&'p Policy>,
        unix_ms: u64,
        live_midstream: bool,
        max_packets: usize,
    ) -> Driver<'p> {
        let cfg = Config::default();
        let now = Instant::now();
        let live = PathConfig::from_config(&cfg, 0, 0);
        let path_cfg = PathConfig {
            midstream_dpi: !live_midstream,
            // Replies come in-process at once: nothing is ever slow, and verdicts stay reproducible.
            overload: Overload::Ask,
            flow_table_size: live.flow_table_size.min(max_packets.max(MIN_FLOW_TABLE)),
            ..live
        };
        let mut path = FlowPath::new(path_cfg, Arc::new(Stats::new(0)), now, unix_ms);
        path.on_policy_changed(EPOCH);
        Driver {
            path,
            engine: Engine::new(engine::EngineConfig::default()),
            policy,
            usage: Usage::empty(),
            dpi: HashMap::new(),
            decided: HashMap::new(),
            untracked: HashMap::new(),
            lines: Vec::new(),
            next_tick: None,
            unix_ms,
            start: None,
        }
    }

    fn unix_ms_at(&self, now: Instant) -> u64 {
        let since = self
            .start
            .map_or(Duration::ZERO, |s| now.saturating_duration_since(s));
        self.unix_ms
            .saturating_add(u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
    }

    /// Feeds one packet; `verdict` gets the verdict of every packet answered.
    pub fn packet(
        &mut self,
        t: &TransportPacket<'_>,
        now: Instant,
        verdict: &mut impl FnMut(PacketVerdict),
    ) {
        let start = *self.start.get_or_insert(now);
        let next = self.next_tick.get_or_insert(start + TICK);
        if now >= *next {
            // One tick per gap, however long: the sweep's budget is per tick, not per second.
            *next = now + TICK;
            self.path.on_tick(now, self.unix_ms_at(now));
            self.carry_out(t, now, verdict);
        }
        let head = Packet {
            src: t.src.ip(),
            dst: t.dst.ip(),
            src_port: t.src.port(),
            dst_port: t.dst.port(),
            l4: t.l4,
            tcp_flags: t.tcp_flags,
            tcp_seq: t.tcp_seq,
            icmp_type: if t.l4 == IPPROTO_ICMPV6 || t.l4 == 1 {
                t.payload.first().copied().unwrap_or(0)
            } else {
                0
            },
            payload: &[],
        };
        let seen = Seen {
            head,
            has_payload: !t.payload.is_empty(),
        };
        if head.is_critical_icmpv6() {
            self.count_untracked(t);
        }
        let at = Arrival {
            now,
            len: u64::try_from(t.ip_len).unwrap_or(u64::MAX),
            mark: 0,
            indev: 0,
            outdev: 0,
        };
        self.path.on_packet(at, Ok(seen), t.frame);
        self.carry_out(t, now, verdict);
    }

    fn count_untracked(&mut self, t: &TransportPacket<'_>) {
        let key = if t.src <= t.dst {
            (t.src, t.dst)
        } else {
            (t.dst, t.src)
        };
        let order = self.path.flows().next_flow_id();
        let u = self.untracked.entry(key).or_insert(Untracked {
            order,
            l4: t.l4,
            client: t.src,
            server: t.dst,
            packets: 0,
            bytes: 0,
        });
        u.packets = u.packets.saturating_add(1);
        u.bytes = u.bytes.saturating_add(u64::try_from(t.ip_len).unwrap_or(0));
    }

    /// Carries out the path's steps; `t` is the packet being fed (every request is for it: replies
    /// come back before the next packet).
    fn carry_out(
        &mut self,
        t: &TransportPacket<'_>,
        now: Instant,
        verdict: &mut impl FnMut(PacketVerdict),
    ) {
        while let Some(step) = self.path.poll_step() {
            match step {
                Step::Verdict(a) => verdict(packet_verdict(t, &a)),
                Step::AskPolicy { token, ask, .. } => {
                    let d = self.decide(
                        ask.flow.flow_id,
                        ask.key,
                        ask.class.as_ref(),
                        ask.time_unix_s,
                    );
                    self.path.on_policy_reply(now, token, Ok(d));
                }
                Step::AskClassifier { token, ask, .. } => {
                    let reply = if self.path.held(token) == Some(&t.frame) {
                        Ok(self.classify(ask.flow.flow_id, ask.key, ask.from_client, t, now))
                    } else {
                        Err(FailReason::BusError)
                    };
                    self.path.on_classifier_reply(now, token, reply);
                }
                Step::Publish(_) => {}
                Step::Ended { flow, .. } => self.ended(*flow, now),
            }
        }
    }

    /// The policy's answer, as the policy process would give it.
    fn decide(
        &mut self,
        flow_id: u64,
        key: FlowKey,
        class: Option<&pb::Classification>,
        time_unix_s: u64,
    ) -> pb::Decision {
        let Some(policy) = self.policy else {
            // No rule file: classify every flow, then accept.
            let action = if class.is_some() {
                pb::Action::Accept
            } else {
                pb::Action::NeedsDpi
            };
            return pb::Decision {
                action: action as i32,
                verdict_bits: Verdict::Accept.bits(),
                epoch: EPOCH,
                ..pb::Decision::default()
            };
        };
        let facts = FlowFacts {
            key,
            in_iface: "",
            out_iface: "",
            queue: 0,
            class: class.map(ClassFacts::from_pb),
        };
        let d = policy.decide(&facts, nfguard_policy::Now::utc(time_unix_s), &self.usage);
        if d.action != nfguard_policy::Action::NeedsDpi {
            self.decided.insert(flow_id, decided_of(&d));
        }
        d.to_pb(EPOCH)
    }

    /// The classifier's answer, as the classifier process would give it.
    fn classify(
        &mut self,
        flow_id: u64,
        key: FlowKey,
        from_client: bool,
        t: &TransportPacket<'_>,
        now: Instant,
    ) -> pb::ClassifyReply {
        let dpi = self.dpi.entry(flow_id).or_default();
        let pkt = PacketView {
            l4: key.l4,
            client: key.client,
            server: key.server,
            from_client,
            payload: t.payload,
            tcp_seq: t.tcp_seq,
            tcp_syn: t.syn(),
        };
        let c = self.engine.classify(&mut dpi.state, &pkt, now);
        let state = match c.state {
            engine::State::NeedMore => pb::ClassifyState::NeedMore,
            engine::State::Done => pb::ClassifyState::Done,
            engine::State::GaveUp => pb::ClassifyState::GaveUp,
        };
        let classification = (c.state != engine::State::NeedMore).then(|| c.to_pb());
        if c.state != engine::State::NeedMore && dpi.result.is_none() {
            dpi.result = Some(c);
        }
        pb::ClassifyReply {
            flow: None,
            state: state as i32,
            classification,
        }
    }

    /// A flow left the path's table: its report line.
    fn ended(&mut self, r: Removed, now: Instant) {
        let e = &r.entry;
        let key = r.key;
        let c = match self.dpi.remove(&e.flow_id) {
            Some(Dpi {
                result: Some(c), ..
            }) => c,
            Some(Dpi { mut state, .. }) => {
                // Still classifying when the flow ended: the engine's best answer (GAVE_UP).
                let pkt = PacketView {
                    l4: key.l4,
                    client: key.client,
                    server: key.server,
                    from_client: true,
                    payload: &[],
                    tcp_seq: 0,
                    tcp_syn: false,
                };
                self.engine.finish(&mut state, &pkt, now)
            }
            // No payload ever reached DPI (a handshake only, or decided by its tuple): the engine's
            // answer for a flow that ends unclassified (a port guess, or Unknown).
            None if key.l4 == IPPROTO_TCP || key.l4 == IPPROTO_UDP => {
                let pkt = PacketView {
                    l4: key.l4,
                    client: key.client,
                    server: key.server,
                    from_client: true,
                    payload: &[],
                    tcp_seq: 0,
                    tcp_syn: false,
                };
                self.engine.finish(&mut engine::FlowState::new(), &pkt, now)
            }
            None => classification_of_entry(&r),
        };
        let (verdict, rule) = match (self.policy, e.state()) {
            (None, _) => (None, None),
            (Some(_), FlowState::Decided(c)) if c.midstream => {
                (Some(c.verdict.as_str().to_string()), None)
            }
            (Some(policy), _) => match self.decided.remove(&e.flow_id) {
                Some(d) => (Some(d.verdict), d.rule),
                None => {
                    // Undecided at the end: what policy says once DPI gives up.
                    let class = c.to_pb();
                    let facts = FlowFacts {
                        key,
                        in_iface: "",
                        out_iface: "",
                        queue: 0,
                        class: Some(ClassFacts::from_pb(&class)),
                    };
                    let now = nfguard_policy::Now::utc(self.unix_ms_at(now) / 1000);
                    let d = decided_of(&policy.decide(&facts, now, &self.usage));
                    (Some(d.verdict), d.rule)
                }
            },
        };
        self.decided.remove(&e.flow_id);
        self.lines.push(FlowLine {
            order: e.flow_id,
            summary: FlowSummary::new(
                key.l4,
                key.client,
                key.server,
                &c,
                e.total_packets(),
                e.bytes[0].saturating_add(e.bytes[1]),
            ),
            verdict,
            rule,
        });
    }

    /// The end of the capture: every flow leaves the table; the report lines in first-seen order.
    pub fn finish(mut self, now: Instant) -> Vec<FlowLine> {
        self.path.shutdown(now);
        while let Some(step) = self.path.poll_step() {
            if let Step::Ended { flow, .. } = step {
                self.ended(*flow, now);
            }
        }
        let critical = self.policy.is_some().then(|| "accept".to_string());
        for u in std::mem::take(&mut self.untracked).into_values() {
            let icmpv6 = nfguard_proto::protocols::by_name("ICMPV6");
            let app = icmpv6.map_or(AppId::UNKNOWN, |p| p.id);
            let c = Classification {
                master: app,
                app,
                category: icmpv6.map_or("Unspecified", |p| p.category),
                confidence: Confidence::Dpi,
                state: engine::State::Done,
                ..Classification::default()
            };
            self.lines.push(FlowLine {
                order: u.order,
                summary: FlowSummary::new(u.l4, u.client, u.server, &c, u.packets, u.bytes),
                verdict: critical.clone(),
                rule: None,
            });
        }
        self.lines.sort_by_key(|l| l.order);
        self.lines
    }
}

fn packet_verdict(t: &TransportPacket<'_>, a: &Answer<u64>) -> PacketVerdict {
    use nfguard_capture::verdict::NfVerdict;
    PacketVerdict {
        frame: a.packet,
        l4: t.l4,
        src: t.src,
        dst: t.dst,
        verdict: a.verdict,
        nf: match a.applied.verdict {
            NfVerdict::Accept => "accept",
            NfVerdict::Drop => "drop",
            NfVerdict::Repeat => "repeat",
        },
        why: a.why,
    }
}

fn decided_of(d: &nfguard_policy::Decision) -> Decided {
    let verdict = if d.would_drop {
        format!("{} (monitor: would drop)", d.verdict)
    } else {
        d.verdict.to_string()
    };
    Decided {
        verdict,
        rule: d.rule.as_deref().map(str::to_string),
    }
}

/// What the path knows of a flow no DPI ran for (not TCP/UDP, recovered, mid-stream).
fn classification_of_entry(r: &Removed) -> Classification {
    let (app, master) = r.entry.state().app_ids();
    let app = AppId(app);
    // The engine's convention for a protocol known by itself (ICMP, GRE…): master and app alike.
    let master = if master == 0 { app } else { AppId(master) };
    let known = app != AppId::UNKNOWN || master != AppId::UNKNOWN;
    let category = nfguard_proto::protocols::by_id(app).map_or("Unspecified", |p| p.category);
    Classification {
        master,
        app,
        category,
        confidence: if known {
            Confidence::Dpi
        } else {
            Confidence::Unknown
        },
        state: engine::State::Done,
        ..Classification::default()
    }
}
