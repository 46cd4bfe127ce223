//! The packet path of DESIGN §2 as a pure state machine, in the quinn-proto style: a decoded packet,
//! the time and the bus replies go in; verdicts, held packets, requests and flow events come out as
//! [`Step`]s for the caller to carry out. No nfq, sockets, clock or tokio in here: the NFQUEUE worker
//! drives it with live packets and the bus, `nfguard replay` with a capture file and the classifier
//! and policy libraries in-process, so both give the same verdicts.
//!
//! Contract: every packet handed in comes back exactly once, in a [`Step::Verdict`] — at once, on its
//! reply, or (held past its deadline) from [`FlowPath::on_tick`] with `default_verdict`.

mod event;
mod io;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use nfguard_proto::config::Overload;
use nfguard_proto::pb;
use nfguard_proto::port_table::PortTable;
use nfguard_proto::types::{IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP};
use nfguard_proto::{AppId, Verdict};

use crate::decode::DecodeError;
use crate::flow_table::{Cached, Entry, FlowState, FlowTable, Key, Removed, source_is_client};
use crate::pending::{Pending, Token};
use crate::stats::{FailReason, Stats};
use crate::verdict::{self, Applied, FlowDecision, NfVerdict};

pub use event::{classification_of, flow_event};
pub use io::{Answer, Arrival, ClassifyAsk, DecideAsk, PathConfig, Seen, Step, Why};

/// Grace after a held packet's deadline before [`FlowPath::on_tick`] answers it (the bus call times
/// out first, so its own error arrives before this safety net fires).
pub const DEADLINE_GRACE: Duration = Duration::from_millis(5);
/// The whole flow table is swept once per this many ticks (50 × 100 ms = 5 s).
const SWEEP_TICKS: usize = 50;
/// Undecided flows recorded per second per queue (their END is their only event). The store ingests
/// ≥ 100 k records/s (store examples, issue #21's target) shared by the default two queues; past it
/// flows are counted in `nfguard_flows_unrecorded_total` and a summary line each second.
pub const MAX_UNDECIDED_RECORDS_PER_S: u32 = 50_000;
/// How long new flows bypass the bus (`overload = "bypass-new"`) after a held packet waited more
/// than half of `verdict_timeout`: the next new flow after it probes the peers again.
pub const OVERLOAD_HOLD: Duration = Duration::from_millis(50);

/// A packet waiting for a reply.
struct Held<H> {
    packet: H,
    slot: u32,
    flow_id: u64,
    len: u64,
    mark: u32,
    indev: u32,
    outdev: u32,
    from_client: bool,
    has_payload: bool,
    /// The request in flight carries a classification.
    with_class: bool,
}

/// What moves a flow's state: a packet, or a reply for one of its held packets.
enum Input {
    /// The first packet of a flow just inserted; `midstream`: TCP without SYN.
    First {
        midstream: bool,
    },
    /// A packet of a known flow.
    Packet,
    Decision(pb::Decision),
    Classified(pb::ClassifyReply),
}

/// The per-queue packet path: flow table, held packets, policy epoch.
pub struct FlowPath<H> {
    cfg: PathConfig,
    flows: FlowTable,
    pending: Pending<Held<H>>,
    stats: Arc<Stats>,
    steps: VecDeque<Step<H>>,
    epoch: u64,
    /// The first epoch learnt: flows stamped 0 before it (recovered or mid-stream at start-up) are
    /// only stale once the epoch moves past it.
    first_epoch: u64,
    /// SIGTERM: packets are answered without the bus.
    stopping: bool,
    released: usize,
    started: Instant,
    /// The wall clock at a monotonic instant (set at start and every tick): unix time without a clock.
    wall: (Instant, u64),
    /// The label guess of a flow that ends undecided.
    ports: PortTable,
    /// New flows bypass the bus until then (`overload = "bypass-new"`).
    busy_until: Option<Instant>,
    /// Undecided-flow records left this second, and the flows past it since the last summary.
    record_budget: u32,
    unrecorded: u64,
    last_summary: Instant,
}

/// The verdict of a decision's action (`verdict_bits` first).
fn action_verdict(d: &pb::Decision) -> Verdict {
    if let Some(v) = Verdict::from_bits(d.verdict_bits) {
        return v;
    }
    match pb::Action::try_from(d.action) {
        Ok(pb::Action::Drop) => Verdict::Drop,
        Ok(pb::Action::Reject) => Verdict::Reject,
        _ => Verdict::Accept,
    }
}

/// An epoch as the flow table stores it (its low 32 bits).
fn epoch_stamp(epoch: u64) -> u32 {
    u32::try_from(epoch & u64::from(u32::MAX)).unwrap_or(0)
}

/// The app of a flow that gets no DPI (not TCP or UDP): its IP protocol, with the nDPI ids the
/// classifier's engine gives them (81 ICMP, 102 ICMPV6, 82 IGMP, 79 IPSec for ESP and AH, 80 GRE),
/// else 0 (Unknown).
fn ip_protocol_app(l4: u8) -> u16 {
    match l4 {
        IPPROTO_ICMP => 81,
        IPPROTO_ICMPV6 => 102,
        2 => 82,
        50 | 51 => 79,
        47 => 80,
        _ => 0,
    }
}

impl<H> FlowPath<H> {
    /// A path started at `now`, when the wall clock read `unix_ms`.
    pub fn new(cfg: PathConfig, stats: Arc<Stats>, now: Instant, unix_ms: u64) -> FlowPath<H> {
        let flows = FlowTable::new(cfg.flow_table_size, cfg.timeouts);
        stats
            .flow_table_capacity
            .store(flows.capacity() as u64, Relaxed);
        FlowPath {
            pending: Pending::new(cfg.max_pending),
            flows,
            stats,
            steps: VecDeque::with_capacity(64),
            epoch: 0,
            first_epoch: 0,
            stopping: false,
            released: 0,
            started: now,
            wall: (now, unix_ms),
            ports: PortTable::new(),
            busy_until: None,
            record_budget: MAX_UNDECIDED_RECORDS_PER_S,
            unrecorded: 0,
            last_summary: now,
            cfg,
        }
    }

    /// The next step to carry out.
    pub fn poll_step(&mut self) -> Option<Step<H>> {
        self.steps.pop_front()
    }

    /// The packet held under `token` (the caller reads its payload for a `ClassifyRequest`).
    pub fn held(&self, token: Token) -> Option<&H> {
        self.pending.get(token).map(|h| &h.packet)
    }

    pub fn held_len(&self) -> usize {
        self.pending.len()
    }

    pub fn flows(&self) -> &FlowTable {
        &self.flows
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    fn unix_ms(&self, now: Instant) -> u64 {
        let (at, ms) = self.wall;
        match now.checked_duration_since(at) {
            Some(d) => ms.saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            None => ms.saturating_sub(
                u64::try_from(at.duration_since(now).as_millis()).unwrap_or(u64::MAX),
            ),
        }
    }

    fn flow_ref(&self, flow_id: u64) -> pb::FlowRef {
        pb::FlowRef {
            queue: u32::from(self.cfg.queue),
            boot_id: self.cfg.boot_id,
            flow_id,
        }
    }

    // === inputs ===

    /// One packet from the queue: `seen` is its decode (or why it does not decode).
    pub fn on_packet(&mut self, at: Arrival, seen: Result<Seen, DecodeError>, packet: H) {
        let now = at.now;
        let seen = match seen {
            Ok(s) => s,
            Err(e) => {
                self.stats.decode_error(e);
                let v = self.cfg.default_verdict;
                self.answer_unbatched(
                    packet,
                    verdict::default_verdict(v),
                    v,
                    Why::Undecodable(e),
                    at.len,
                );
                return;
            }
        };
        let p = &seen.head;
        if p.is_critical_icmpv6() {
            self.stats.critical_accepts.fetch_add(1, Relaxed);
            self.answer_unbatched(
                packet,
                verdict::PROVISIONAL,
                Verdict::Accept,
                Why::Critical,
                at.len,
            );
            return;
        }
        let (key, src_lo) = Key::of(p);
        let (slot, fresh) = match self.flows.lookup(&key) {
            Some(s) => (s, false),
            None => {
                let client_is_lo = source_is_client(p) == src_lo;
                let (s, evicted) = self.flows.insert(key, client_is_lo, now);
                if let Some(r) = evicted {
                    self.stats.evictions.fetch_add(1, Relaxed);
                    self.ended(r, "evicted", now);
                }
                self.stats
                    .flow_table_size
                    .store(self.flows.len() as u64, Relaxed);
                self.stats.flows_new.fetch_add(1, Relaxed);
                (s, true)
            }
        };
        self.flows.touch(slot, now);
        let Some(e) = self.flows.get_mut(slot) else {
            // Only when the table has no slot at all (capacity 0 is rejected by config).
            self.fail_packet(packet, at.len, FailReason::PendingFull);
            return;
        };
        let from_client = e.from_client(src_lo);
        e.count(from_client, at.len);
        if p.is_fin_or_rst() {
            e.set_closing();
        }
        let held = Held {
            packet,
            slot,
            flow_id: e.flow_id,
            len: at.len,
            mark: at.mark,
            indev: at.indev,
            outdev: at.outdev,
            from_client,
            has_payload: seen.has_payload,
            with_class: false,
        };
        if self.stopping && (fresh || !e.state().is_decided()) {
            self.fail(held, FailReason::Shutdown);
            return;
        }
        let input = if fresh {
            Input::First {
                midstream: p.l4 == IPPROTO_TCP && !p.is_syn() && !self.cfg.midstream_dpi,
            }
        } else {
            Input::Packet
        };
        self.advance(held, input, now, now + self.cfg.verdict_timeout);
    }

    /// The policy's reply (or why there is none) for the packet held under `token`. A reply for a
    /// packet already answered (by its deadline) is ignored.
    pub fn on_policy_reply(
        &mut self,
        now: Instant,
        token: Token,
        reply: Result<pb::Decision, FailReason>,
    ) {
        self.on_reply(now, token, reply.map(Input::Decision));
    }

    /// The classifier's reply (or why there is none) for the packet held under `token`.
    pub fn on_classifier_reply(
        &mut self,
        now: Instant,
        token: Token,
        reply: Result<pb::ClassifyReply, FailReason>,
    ) {
        self.on_reply(now, token, reply.map(Input::Classified));
    }

    /// A peer's reply for the packet held under `token`, within that packet's own deadline.
    fn on_reply(&mut self, now: Instant, token: Token, reply: Result<Input, FailReason>) {
        let deadline = self.pending.deadline(token).unwrap_or(now);
        let Some(held) = self.release(token) else {
            return;
        };
        // The packet's wait so far (its deadline is its arrival + verdict_timeout).
        let arrived = deadline
            .checked_sub(self.cfg.verdict_timeout)
            .unwrap_or(deadline);
        if now.saturating_duration_since(arrived) * 2 > self.cfg.verdict_timeout {
            self.busy(now);
        }
        match reply {
            Ok(input) => self.advance(held, input, now, deadline),
            Err(reason) => self.fail_held(held, reason),
        }
    }

    /// Timer (every 100 ms): answers held packets past their deadline, expires idle flows, emits
    /// UPDATE events. `unix_ms` is the wall clock at `now`.
    pub fn on_tick(&mut self, now: Instant, unix_ms: u64) {
        self.wall = (now, unix_ms);
        let mut late = Vec::new();
        self.pending
            .expire(now.checked_sub(DEADLINE_GRACE).unwrap_or(now), |h| {
                late.push(h);
            });
        if !late.is_empty() {
            self.busy(now);
        }
        for h in late {
            self.fail_held(h, FailReason::Timeout);
        }
        self.record_budget = self
            .record_budget
            .saturating_add(MAX_UNDECIDED_RECORDS_PER_S / 10)
            .min(MAX_UNDECIDED_RECORDS_PER_S);
        self.held_gauge();
        let budget = self.flows.capacity().div_ceil(SWEEP_TICKS);
        let mut ended = Vec::new();
        let mut updates = Vec::new();
        let (queue, boot) = (self.cfg.queue, self.cfg.boot_id);
        self.flows.sweep(
            now,
            budget,
            self.cfg.flow_update_interval,
            |r| ended.push(r),
            |e| {
                updates.push(flow_event(
                    e,
                    pb::FlowEventKind::FlowEventUpdate,
                    queue,
                    boot,
                    "",
                    unix_ms,
                ));
            },
        );
        for r in ended {
            self.ended(r, "idle", now);
        }
        self.steps
            .extend(updates.into_iter().map(|e| Step::Publish(Box::new(e))));
        self.stats
            .flow_table_size
            .store(self.flows.len() as u64, Relaxed);
        self.stats.evictions.store(self.flows.evictions, Relaxed);
        if self.unrecorded > 0 && now.duration_since(self.last_summary) >= Duration::from_secs(1) {
            tracing::warn!(
                queue = self.cfg.queue,
                flows = self.unrecorded,
                per_second = MAX_UNDECIDED_RECORDS_PER_S,
                "Undecided flows past the record rate were counted, not recorded."
            );
            self.unrecorded = 0;
            self.last_summary = now;
        }
    }

    /// A `PolicyChanged` message: a newer epoch invalidates cached decisions (lazily, per flow).
    pub fn on_policy_changed(&mut self, epoch: u64) {
        if self.epoch == 0 {
            // Not a change: the worker learns the epoch it started under.
            self.learn_epoch(epoch);
        } else if epoch > self.epoch {
            tracing::info!(
                queue = self.cfg.queue,
                old = self.epoch,
                new = epoch,
                "Policy changed; cached decisions will be renewed."
            );
            self.learn_epoch(epoch);
        }
    }

    /// SIGTERM, first step: every held packet gets the default verdict now, and from here on packets
    /// are answered without the bus (decided flows by their verdict, others by the default).
    pub fn begin_stop(&mut self) {
        self.stopping = true;
        let mut held = Vec::new();
        self.pending.drain(|h| held.push(h));
        self.released = held.len();
        for h in held {
            self.fail_held(h, FailReason::Shutdown);
        }
        self.held_gauge();
    }

    /// SIGTERM, last step: every flow leaves the table. Returns (held packets released, flows).
    pub fn shutdown(&mut self, now: Instant) -> (usize, usize) {
        if !self.stopping {
            self.begin_stop();
        }
        let mut ended = Vec::new();
        self.flows.drain(|r| ended.push(r));
        let n = ended.len();
        for r in ended {
            self.ended(r, "shutdown", now);
        }
        (self.released, n)
    }

    // === the transitions ===

    /// Moves the held packet's flow on by `input`: the one transition `match` of DESIGN §2.
    /// `deadline` bounds every request made for this packet.
    fn advance(&mut self, held: Held<H>, input: Input, now: Instant, deadline: Instant) {
        let Some(e) = self.flows.get_flow(held.slot, held.flow_id) else {
            self.flow_gone(held, input);
            return;
        };
        let state = e.state();
        let l4 = e.l4();
        match (state, input) {
            // The first packet: recover from a restored connmark, give a TCP flow without SYN
            // `midstream_verdict`, or ask policy with the tuple only.
            (_, Input::First { midstream }) => self.first_packet(held, midstream, now, deadline),
            // A cached decision under an older policy (or past its time window): decide again with
            // what is known, no new DPI.
            (FlowState::Decided(c), Input::Packet) if self.is_stale(&c, held.slot, now) => {
                let (app, master) = (c.app, c.master);
                if c.classified {
                    self.set_state(
                        held.slot,
                        FlowState::Deciding {
                            asking: true,
                            app,
                            master,
                        },
                    );
                    let class = self.class_of(held.slot);
                    self.ask_policy(held, class, now, deadline);
                } else {
                    let midstream = c.midstream;
                    self.set_state(held.slot, FlowState::New { midstream });
                    self.ask_policy(held, None, now, deadline);
                }
            }
            // The fast path: no bus, no allocation.
            (FlowState::Decided(c), Input::Packet) => {
                let d = decision_of(&c);
                let a = verdict::apply(&self.cfg.marks, held.mark, &d);
                self.count_degraded(a);
                self.answer(held.packet, a, d.verdict, Why::Cached, held.len);
            }
            // Undecided by its tuple so far (an earlier request failed, or is still in flight): ask,
            // unless the peers are slow and new flows bypass them.
            (FlowState::New { .. }, Input::Packet) if self.past_capacity(now) => {
                self.fail(held, FailReason::Overload);
            }
            (FlowState::New { .. }, Input::Packet) => self.ask_policy(held, None, now, deadline),
            // Nothing waits on DPI: a packet without payload passes at once.
            (FlowState::Classifying, Input::Packet) if !held.has_payload => self.provisional(held),
            (FlowState::Classifying, Input::Packet) => self.ask_classifier(held, now, deadline),
            (FlowState::Deciding { asking: true, .. }, Input::Packet) => self.provisional(held),
            // The last decide request failed: ask again with the classification.
            (
                FlowState::Deciding {
                    asking: false,
                    app,
                    master,
                },
                Input::Packet,
            ) => {
                self.set_state(
                    held.slot,
                    FlowState::Deciding {
                        asking: true,
                        app,
                        master,
                    },
                );
                let class = self.class_of(held.slot);
                self.ask_policy(held, class, now, deadline);
            }
            (FlowState::Free, _) => self.fail(held, FailReason::BusError),
            (_, Input::Decision(d)) if d.action == pb::Action::NeedsDpi as i32 => {
                self.needs_dpi(held, state, l4, now, deadline);
            }
            (_, Input::Decision(d)) => self.decided(held, state, &d, now),
            // DONE / GAVE_UP: decide with the classification, on the same deadline.
            (FlowState::Classifying, Input::Classified(r))
                if pb::ClassifyState::try_from(r.state)
                    .is_ok_and(|s| s != pb::ClassifyState::NeedMore) =>
            {
                self.classified(held, r, now, deadline);
            }
            // NEED_MORE (or an answer the flow no longer waits for): release the packet at once.
            (_, Input::Classified(_)) => self.provisional(held),
        }
    }

    fn first_packet(&mut self, held: Held<H>, midstream: bool, now: Instant, deadline: Instant) {
        let rec = verdict::recover(&self.cfg.marks, held.mark);
        if let Some(v) = rec.verdict {
            // nfguard decided this connection before (capture restart, table eviction): keep it.
            self.stats.recovered_flows.fetch_add(1, Relaxed);
            let c = Cached {
                verdict: v,
                shaper: 0,
                offload: false,
                classified: rec.app.is_some(),
                midstream: false,
                app: rec.app.unwrap_or(0),
                master: 0,
                user_mark: 0,
                epoch: epoch_stamp(self.epoch),
            };
            self.set_state(held.slot, FlowState::Decided(c));
            self.publish_start(held.slot, held.flow_id, now);
            let a = verdict::apply(&self.cfg.marks, 0, &decision_of(&c)).with_mark_of(held.mark);
            self.answer_unbatched(held.packet, a, v, Why::Recovered, held.len);
        } else if let Some(app) = rec.app {
            // App known from the connmark, verdict cleared by a new policy epoch: decide without DPI.
            self.stats.recovered_flows.fetch_add(1, Relaxed);
            self.set_state(
                held.slot,
                FlowState::Deciding {
                    asking: true,
                    app,
                    master: 0,
                },
            );
            let mut class = self.class_of(held.slot);
            if let Some(c) = &mut class {
                c.confidence = pb::Confidence::Connmark as i32;
            }
            self.ask_policy(held, class, now, deadline);
        } else if midstream {
            self.stats.midstream_flows.fetch_add(1, Relaxed);
            self.decide_midstream(held, now);
        } else if self.past_capacity(now) {
            // `overload = "bypass-new"`: a new flow past capacity is not asked about at all.
            self.fail(held, FailReason::Overload);
        } else {
            self.ask_policy(held, None, now, deadline);
        }
    }

    /// The peers are slow (a held packet waited past half its timeout, or timed out): new flows
    /// bypass them for [`OVERLOAD_HOLD`].
    fn busy(&mut self, now: Instant) {
        if self.cfg.overload == Overload::BypassNew {
            self.busy_until = Some(now + OVERLOAD_HOLD);
        }
    }

    fn past_capacity(&self, now: Instant) -> bool {
        self.busy_until.is_some_and(|t| now < t)
    }

    /// Policy needs the app. Flows without DPI (not TCP/UDP) are classified by their IP protocol;
    /// mid-stream flows keep `midstream_verdict`; others start DPI with this packet's payload.
    fn needs_dpi(
        &mut self,
        held: Held<H>,
        state: FlowState,
        l4: u8,
        now: Instant,
        deadline: Instant,
    ) {
        let midstream = match state {
            FlowState::New { midstream } => midstream,
            FlowState::Decided(c) => c.midstream,
            _ => false,
        };
        if midstream {
            // Re-decided after a policy change: no rule decides it by its tuple.
            self.decide_midstream(held, now);
        } else if held.with_class {
            // Policy must decide once it has the classification; treat as a bus fault.
            self.fail_held(held, FailReason::BusError);
        } else if l4 != IPPROTO_TCP && l4 != IPPROTO_UDP {
            let app = ip_protocol_app(l4);
            self.set_state(
                held.slot,
                FlowState::Deciding {
                    asking: true,
                    app,
                    master: 0,
                },
            );
            let mut class = self.class_of(held.slot);
            if let Some(c) = &mut class {
                c.confidence = pb::Confidence::Dpi as i32;
            }
            self.ask_policy(held, class, now, deadline);
        } else {
            self.set_state(held.slot, FlowState::Classifying);
            // The held packet itself may carry the first payload (UDP, or TCP data mid-handshake).
            if held.has_payload {
                self.ask_classifier(held, now, deadline);
            } else {
                self.provisional(held);
            }
        }
    }

    /// A final decision: cached unless it is from an older epoch; this packet gets it either way.
    fn decided(&mut self, held: Held<H>, state: FlowState, d: &pb::Decision, now: Instant) {
        let v = action_verdict(d);
        let (app, master) = state.app_ids();
        let fd = FlowDecision {
            verdict: v,
            shaper: d.shaper,
            user_mark: d.mark & self.cfg.marks.user_mask,
            offload: d.offload,
            app,
        };
        if d.epoch >= self.epoch {
            self.learn_epoch(d.epoch);
            let (classified, midstream) = match state {
                FlowState::Deciding { .. } => (true, false),
                FlowState::Decided(c) => (c.classified, c.midstream),
                FlowState::New { midstream } => (false, midstream),
                _ => (false, false),
            };
            let c = Cached {
                verdict: v,
                shaper: u8::try_from(d.shaper).unwrap_or(u8::MAX),
                offload: d.offload,
                classified,
                midstream,
                app,
                master,
                user_mark: fd.user_mark,
                epoch: epoch_stamp(d.epoch),
            };
            self.set_state(held.slot, FlowState::Decided(c));
            if let Some(e) = self.flows.get_mut(held.slot) {
                let x = e.extra.get_or_insert_with(Box::default);
                x.rule.clone_from(&d.rule);
                x.valid_until_unix_s = d.valid_until_unix_s;
            }
            self.stats.flow_decided(v);
            if d.offload && self.cfg.marks.offload {
                self.stats.offloaded_flows.fetch_add(1, Relaxed);
            }
            tracing::debug!(queue = self.cfg.queue, flow = held.flow_id, verdict = %v, rule = %d.rule, app, "Flow decided.");
            self.publish_start(held.slot, held.flow_id, now);
        } else {
            // Decided under an older policy: good for this packet only.
            self.stats.stale_decisions.fetch_add(1, Relaxed);
            if let FlowState::Deciding { app, master, .. } = state {
                self.set_state(
                    held.slot,
                    FlowState::Deciding {
                        asking: false,
                        app,
                        master,
                    },
                );
            }
        }
        let a = verdict::apply(&self.cfg.marks, held.mark, &fd);
        self.count_degraded(a);
        self.answer_unbatched(held.packet, a, v, Why::Decided, held.len);
    }

    /// DONE / GAVE_UP: keep the classification and ask policy with it.
    fn classified(&mut self, held: Held<H>, r: pb::ClassifyReply, now: Instant, deadline: Instant) {
        let class = r.classification.unwrap_or_default();
        let app = u16::try_from(class.app_id).unwrap_or(0);
        let master = u16::try_from(class.master_id).unwrap_or(0);
        if let Some(e) = self.flows.get_mut(held.slot) {
            let x = e.extra.get_or_insert_with(Box::default);
            x.host.clone_from(&class.host);
            x.category.clone_from(&class.category);
            x.confidence = class.confidence;
        }
        tracing::debug!(queue = self.cfg.queue, flow = held.flow_id, app, master, host = %class.host, "Flow classified.");
        self.set_state(
            held.slot,
            FlowState::Deciding {
                asking: true,
                app,
                master,
            },
        );
        self.ask_policy(held, Some(class), now, deadline);
    }

    /// A flow seen mid-stream with nothing to recover: `midstream_verdict`, cached (DPI cannot start
    /// mid-stream). Also where a re-decided mid-stream flow lands when no tuple rule decides it.
    fn decide_midstream(&mut self, held: Held<H>, now: Instant) {
        let v = self.cfg.midstream_verdict;
        let (app, master) = self
            .flows
            .get(held.slot)
            .map_or((0, 0), |e| e.state().app_ids());
        let c = Cached {
            verdict: v,
            shaper: 0,
            offload: false,
            classified: false,
            midstream: true,
            app,
            master,
            user_mark: 0,
            epoch: epoch_stamp(self.epoch),
        };
        self.set_state(held.slot, FlowState::Decided(c));
        self.publish_start(held.slot, held.flow_id, now);
        self.answer_unbatched(
            held.packet,
            verdict::default_verdict(v),
            v,
            Why::Midstream,
            held.len,
        );
    }

    /// A reply for a flow evicted meanwhile: a decision still applies to its packet, uncached.
    fn flow_gone(&mut self, held: Held<H>, input: Input) {
        match input {
            Input::Decision(d) if d.action != pb::Action::NeedsDpi as i32 => {
                let v = action_verdict(&d);
                let fd = FlowDecision {
                    verdict: v,
                    shaper: d.shaper,
                    user_mark: d.mark & self.cfg.marks.user_mask,
                    offload: false,
                    app: 0,
                };
                let a = verdict::apply(&self.cfg.marks, held.mark, &fd);
                self.answer_unbatched(held.packet, a, v, Why::Decided, held.len);
            }
            Input::Classified(_) => self.provisional(held),
            _ => self.fail(held, FailReason::BusError),
        }
    }

    fn is_stale(&self, c: &Cached, slot: u32, now: Instant) -> bool {
        if self.stopping {
            return false;
        }
        let old_epoch = if c.epoch == 0 {
            self.epoch > self.first_epoch
        } else {
            c.epoch < epoch_stamp(self.epoch)
        };
        old_epoch
            || self
                .flows
                .get(slot)
                .and_then(|e| e.extra.as_ref())
                .is_some_and(|x| {
                    x.valid_until_unix_s != 0 && x.valid_until_unix_s <= self.unix_ms(now) / 1000
                })
    }

    fn learn_epoch(&mut self, epoch: u64) {
        if self.first_epoch == 0 {
            self.first_epoch = epoch;
        }
        self.epoch = epoch;
        self.stats.policy_epoch.store(epoch, Relaxed);
    }

    /// Moves a flow to `new`, tracing the transition (STYLE §5).
    fn set_state(&mut self, slot: u32, new: FlowState) {
        if let Some(e) = self.flows.get_mut(slot) {
            e.set_state(new);
        }
    }

    fn class_of(&self, slot: u32) -> Option<pb::Classification> {
        self.flows.get(slot).map(classification_of)
    }

    // === requests ===

    fn ask_policy(
        &mut self,
        mut held: Held<H>,
        class: Option<pb::Classification>,
        now: Instant,
        deadline: Instant,
    ) {
        let Some(e) = self.flows.get_flow(held.slot, held.flow_id) else {
            self.fail(held, FailReason::BusError);
            return;
        };
        // in/out interfaces as the packet crossed FORWARD; for a server→client packet swap them so
        // the request always describes the client's side as "in".
        let (indev, outdev) = if held.from_client {
            (held.indev, held.outdev)
        } else {
            (held.outdev, held.indev)
        };
        let ask = DecideAsk {
            flow: self.flow_ref(held.flow_id),
            key: e.flow_key(),
            indev,
            outdev,
            class,
            time_unix_s: self.unix_ms(now) / 1000,
        };
        held.with_class = ask.class.is_some();
        if let Some(token) = self.hold(held, deadline) {
            self.steps.push_back(Step::AskPolicy {
                token,
                deadline,
                ask: Box::new(ask),
            });
        }
    }

    fn ask_classifier(&mut self, held: Held<H>, now: Instant, deadline: Instant) {
        let Some(e) = self.flows.get_flow(held.slot, held.flow_id) else {
            self.fail(held, FailReason::BusError);
            return;
        };
        let ask = ClassifyAsk {
            flow: self.flow_ref(held.flow_id),
            key: e.flow_key(),
            from_client: held.from_client,
            time_us: u64::try_from(now.saturating_duration_since(self.started).as_micros())
                .unwrap_or(u64::MAX),
            packet_index: u32::try_from(e.total_packets()).unwrap_or(u32::MAX),
        };
        if let Some(token) = self.hold(held, deadline) {
            self.steps.push_back(Step::AskClassifier {
                token,
                deadline,
                ask: Box::new(ask),
            });
        }
    }

    fn hold(&mut self, held: Held<H>, deadline: Instant) -> Option<Token> {
        match self.pending.insert(held, deadline) {
            Ok(t) => {
                self.held_gauge();
                Some(t)
            }
            Err(held) => {
                self.fail_held(held, FailReason::PendingFull);
                None
            }
        }
    }

    fn release(&mut self, token: Token) -> Option<Held<H>> {
        let held = self.pending.take(token)?;
        self.held_gauge();
        Some(held)
    }

    // === answers ===

    /// A held packet that gets no answer: its flow may ask again with the next packet.
    fn fail_held(&mut self, held: Held<H>, reason: FailReason) {
        if let Some(e) = self.flows.get_flow(held.slot, held.flow_id)
            && let FlowState::Deciding {
                asking: true,
                app,
                master,
            } = e.state()
        {
            self.set_state(
                held.slot,
                FlowState::Deciding {
                    asking: false,
                    app,
                    master,
                },
            );
        }
        self.fail(held, reason);
    }

    fn fail(&mut self, held: Held<H>, reason: FailReason) {
        if let Some(e) = self.flows.get_flow_mut(held.slot, held.flow_id) {
            e.set_failed(reason);
        }
        self.fail_packet(held.packet, held.len, reason);
    }

    /// The default verdict, counted by why: never marked, cached or offloaded.
    fn fail_packet(&mut self, packet: H, len: u64, reason: FailReason) {
        self.stats.fail_open(reason);
        let v = self.cfg.default_verdict;
        self.answer_unbatched(
            packet,
            verdict::default_verdict(v),
            v,
            Why::Default(reason),
            len,
        );
    }

    fn provisional(&mut self, held: Held<H>) {
        self.stats.provisional_accepts.fetch_add(1, Relaxed);
        self.answer_unbatched(
            held.packet,
            verdict::PROVISIONAL,
            Verdict::Accept,
            Why::Provisional,
            held.len,
        );
    }

    fn count_degraded(&self, a: Applied) {
        if a.degraded_reject {
            self.stats.degraded_rejects.fetch_add(1, Relaxed);
        }
    }

    /// A verdict that may join a batch when nothing is held (the decided fast path).
    fn answer(&mut self, packet: H, applied: Applied, verdict: Verdict, why: Why, len: u64) {
        self.stats.packet(verdict, len);
        let batchable = self.pending.is_empty();
        self.steps.push_back(Step::Verdict(Answer {
            packet,
            applied,
            verdict,
            why,
            batchable,
        }));
    }

    fn answer_unbatched(
        &mut self,
        packet: H,
        applied: Applied,
        verdict: Verdict,
        why: Why,
        len: u64,
    ) {
        self.stats.packet(verdict, len);
        self.steps.push_back(Step::Verdict(Answer {
            packet,
            applied,
            verdict,
            why,
            batchable: false,
        }));
    }

    // === flow events ===

    /// The flow's START event, once: at its decision by policy, or when it was recovered from its
    /// connmark or given `midstream_verdict` (so the store sees those flows and their END too).
    fn publish_start(&mut self, slot: u32, flow_id: u64, now: Instant) {
        let unix_ms = self.unix_ms(now);
        let (queue, boot) = (self.cfg.queue, self.cfg.boot_id);
        let Some(e) = self.flows.get_flow_mut(slot, flow_id) else {
            return;
        };
        if e.started() {
            return;
        }
        e.set_started();
        let ev = flow_event(
            e,
            pb::FlowEventKind::FlowEventStart,
            queue,
            boot,
            "",
            unix_ms,
        );
        self.steps.push_back(Step::Publish(Box::new(ev)));
    }

    fn ended(&mut self, r: Removed, reason: &'static str, now: Instant) {
        let event = if r.entry.started() {
            Some(Box::new(flow_event(
                &r.entry,
                pb::FlowEventKind::FlowEventEnd,
                self.cfg.queue,
                self.cfg.boot_id,
                reason,
                self.unix_ms(now),
            )))
        } else {
            self.undecided_record(&r.entry, reason)
        };
        self.steps.push_back(Step::Ended {
            flow: Box::new(r),
            reason,
            event,
        });
    }

    /// The END event of a flow that leaves the table without a START (never decided: one-packet
    /// flows, unanswered SYNs, fail-open, eviction): what is known, verdict `undecided`, and why it
    /// ended so as `end_reason` (`evicted`, `fail_open:<reason>` of its last packet, or
    /// `undecided`). Within [`MAX_UNDECIDED_RECORDS_PER_S`]; past it counted only.
    fn undecided_record(&mut self, e: &Entry, reason: &'static str) -> Option<Box<pb::FlowEvent>> {
        self.stats.flows_undecided.fetch_add(1, Relaxed);
        if self.record_budget == 0 {
            self.stats.flows_unrecorded.fetch_add(1, Relaxed);
            self.unrecorded += 1;
            return None;
        }
        self.record_budget -= 1;
        let why = match (reason, e.failed()) {
            ("evicted", _) => "evicted",
            (_, Some(f)) => f.end_reason(),
            _ => "undecided",
        };
        let (first, last) = self.flows.seen_at(e);
        let mut ev = flow_event(
            e,
            pb::FlowEventKind::FlowEventEnd,
            self.cfg.queue,
            self.cfg.boot_id,
            why,
            self.unix_ms(last),
        );
        ev.first_seen_unix_ms = self.unix_ms(first);
        ev.verdict = "undecided".to_string();
        let key = e.flow_key();
        let known = e.state().app_ids() != (0, 0);
        if let (false, Some(class)) = (known, ev.classification.as_mut())
            && let Some(app) = self
                .ports
                .guess(key.l4, key.server.port(), key.client.port())
        {
            class.app_id = u32::from(app.0);
            class.confidence = pb::Confidence::Port as i32;
            class.category = nfguard_proto::protocols::by_id(app)
                .map(|p| p.category.to_string())
                .unwrap_or_default();
            ev.label = nfguard_proto::protocols::label(AppId::UNKNOWN, app);
        }
        Some(Box::new(ev))
    }

    fn held_gauge(&self) {
        self.stats.held.store(self.pending.len() as u64, Relaxed);
    }
}

fn decision_of(c: &Cached) -> FlowDecision {
    FlowDecision {
        verdict: c.verdict,
        shaper: u32::from(c.shaper),
        user_mark: c.user_mark,
        offload: c.offload,
        app: c.app,
    }
}

impl Applied {
    /// Keeps the packet's own mark (already carrying nfguard's fields) instead of a recomputed one.
    fn with_mark_of(mut self, mark: u32) -> Applied {
        self.mark = Some(mark);
        if self.verdict == NfVerdict::Repeat {
            self.verdict = NfVerdict::Accept;
        }
        self
    }
}
