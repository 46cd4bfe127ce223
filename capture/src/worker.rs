//! One NFQUEUE worker: the receive loop and every verdict path of DESIGN §2.
//!
//! A single task on a current-thread runtime owns the queue, the flow table and the held packets. Bus
//! requests run as small spawned tasks that report back through a channel, so the loop never waits on
//! the bus; a held packet gets its verdict the moment its reply (or its deadline) arrives.

use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nfguard_proto::bus::{BusError, Publisher, RpcClient, Subscriber};
use nfguard_proto::config::Config;
use nfguard_proto::pb;
use nfguard_proto::process::endpoints;
use nfguard_proto::types::{IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP};
use nfguard_proto::{AppId, FlowKey, Verdict};
use tokio::sync::mpsc;

use crate::CaptureError;
use crate::batch::{self, VerdictBatch};
use crate::decode::decode;
use crate::flow_table::{
    Entry, FlowExtra, FlowState, FlowTable, Key, Removed, Timeouts, source_is_client,
};
use crate::pending::{Pending, Token};
use crate::queue_fd::{ReadyQueue, VerdictSender};
use crate::stats::{FailReason, IdTracker, Stats};
use crate::verdict::{self, Applied, FlowDecision, MarkConfig, NfVerdict};

/// Packets handled per wake-up before completions, timers and the bus tasks get a turn. Small: under a
/// flood each hop of a bus request waits for one turn, and with 256 a new flow's requests outlived
/// their 25 ms deadline (the flow then never got decided); the batch size bounds it too.
const RECV_BUDGET: usize = batch::MAX_PACKETS as usize;
/// Timer period for expiring held packets and sweeping the flow table.
const TICK: Duration = Duration::from_millis(100);
/// Grace after a held packet's deadline before the safety net answers it (the bus call times out first).
const DEADLINE_GRACE: Duration = Duration::from_millis(5);
/// The whole flow table is swept once per this many ticks (50 × 100 ms = 5 s).
const SWEEP_TICKS: usize = 50;

type PolicyClient = RpcClient<pb::PolicyRequest, pb::PolicyResponse>;
type ClassifierClient = RpcClient<pb::ClassifyRequest, pb::ClassifyReply>;

/// A packet waiting for a bus reply.
struct Held {
    msg: nfq::Message,
    slot: u32,
    flow_id: u64,
    len: u64,
    from_client: bool,
}

enum Reply {
    Policy {
        result: Result<pb::PolicyResponse, BusError>,
        with_class: bool,
    },
    Classify(Result<pb::ClassifyReply, BusError>),
}

pub struct Completion {
    token: Token,
    reply: Reply,
}

/// Worker state apart from the queue socket (kept separate so the socket's readiness future and the
/// handlers can borrow disjoint things).
pub struct Worker {
    queue: u16,
    cfg: Config,
    marks: MarkConfig,
    flows: FlowTable,
    pending: Pending<Held>,
    pub stats: Arc<Stats>,
    policy: PolicyClient,
    classifier: ClassifierClient,
    events: Arc<Publisher>,
    done_tx: mpsc::UnboundedSender<Completion>,
    ids: IdTracker,
    boot_id: u64,
    epoch: u64,
    /// The first epoch this worker learnt: flows stamped 0 before it (recovered or mid-stream at
    /// start-up) are only stale once the epoch moves past it.
    first_epoch: u64,
    /// SIGTERM received: packets are answered without the bus until the queue is quiet.
    stopping: bool,
    /// Held packets released by [`Worker::begin_stop`].
    released: usize,
    started: Instant,
    ticks: usize,
    ifnames: HashMap<u32, String>,
    /// Batch verdicts for the fast path; single verdicts until a sender is set.
    batch: VerdictBatch,
    sender: Option<VerdictSender>,
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn fail_reason(e: &BusError) -> FailReason {
    match e {
        BusError::Timeout => FailReason::Timeout,
        BusError::PeerDown => FailReason::PeerDown,
        BusError::NotConnected(_) => FailReason::NotConnected,
        BusError::Overloaded => FailReason::Overloaded,
        _ => FailReason::BusError,
    }
}

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

/// Sends a verdict; a failure is counted and never stops the loop (late errors come back from `recv`).
fn send(q: &mut nfq::Queue, stats: &Stats, mut msg: nfq::Message, a: Applied) {
    if let Some(m) = a.mark {
        msg.set_nfmark(m);
    }
    msg.set_verdict(a.verdict.to_nfq());
    if let Err(e) = q.verdict(msg) {
        stats.netlink_error(e.raw_os_error());
    }
}

impl Worker {
    /// Connects the bus clients and binds the flow-event publisher.
    ///
    /// # Errors
    /// When `flows-q<N>.sock` cannot be bound.
    pub async fn new(
        cfg: Config,
        queue: u16,
        stats: Arc<Stats>,
        done_tx: mpsc::UnboundedSender<Completion>,
    ) -> Result<Worker, CaptureError> {
        let c = &cfg.capture;
        let boot_id = nfguard_proto::bus::new_boot_id();
        let events = Arc::new(
            Publisher::bind(&cfg.endpoint(&endpoints::flows_queue(queue)), boot_id)
                .await
                .map_err(CaptureError::Bus)?,
        );
        let flows = FlowTable::new(c.flow_table_size, Timeouts::default());
        stats.flow_table_capacity.store(
            flows.capacity() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        Ok(Worker {
            queue,
            marks: MarkConfig::from_config(c),
            flows,
            pending: Pending::new(c.max_pending),
            stats,
            policy: RpcClient::connect(&cfg.endpoint(endpoints::POLICY)),
            classifier: RpcClient::connect(&cfg.endpoint(endpoints::CLASSIFIER)),
            events,
            done_tx,
            ids: IdTracker::default(),
            boot_id,
            epoch: 0,
            first_epoch: 0,
            stopping: false,
            released: 0,
            started: Instant::now(),
            ticks: 0,
            ifnames: HashMap::new(),
            batch: VerdictBatch::new(queue),
            sender: None,
            cfg,
        })
    }

    fn flow_ref(&self, flow_id: u64) -> pb::FlowRef {
        pb::FlowRef {
            queue: u32::from(self.queue),
            boot_id: self.boot_id,
            flow_id,
        }
    }

    fn timeout(&self) -> Duration {
        self.cfg.capture.verdict_timeout.0
    }

    fn default_applied(&self) -> Applied {
        verdict::default_verdict(self.cfg.capture.default_verdict)
    }

    /// Answers a packet with the default verdict and counts why.
    fn fail(&self, q: &mut nfq::Queue, msg: nfq::Message, len: u64, reason: FailReason) {
        self.stats.fail_open(reason);
        self.stats.packet(self.cfg.capture.default_verdict, len);
        send(q, &self.stats, msg, self.default_applied());
    }

    fn provisional(&self, q: &mut nfq::Queue, msg: nfq::Message, len: u64) {
        self.stats
            .provisional_accepts
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.stats.packet(Verdict::Accept, len);
        send(q, &self.stats, msg, verdict::PROVISIONAL);
    }

    fn held_gauge(&self) {
        self.stats.held.store(
            self.pending.len() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// Receives and handles up to [`RECV_BUDGET`] packets. Returns true when more may be waiting.
    pub fn drain(&mut self, q: &mut nfq::Queue) -> bool {
        for _ in 0..RECV_BUDGET {
            match q.recv() {
                Ok(msg) => self.on_packet(q, msg),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.flush_batch();
                    return false;
                }
                Err(e) => {
                    // ENOBUFS (socket buffer overflowed: the id gaps count the packets), a late
                    // verdict's ENOENT, EINTR, ENOSPC: count and go on (DESIGN §4).
                    self.stats.netlink_error(e.raw_os_error());
                    tracing::trace!(queue = self.queue, error = %e, "Netlink receive error.");
                }
            }
        }
        self.flush_batch();
        true
    }

    /// Uses `sender` for batch verdicts (a duplicate of the queue's socket).
    pub fn set_verdict_sender(&mut self, sender: VerdictSender) {
        self.sender = Some(sender);
    }

    /// A decided flow's packet: joins the open batch when nothing is held (a batch verdict covers every
    /// queued id up to its own), else gets its verdict at once.
    fn send_decided(&mut self, q: &mut nfq::Queue, msg: nfq::Message, a: Applied) {
        if self.sender.is_none() || !self.pending.is_empty() {
            self.flush_batch();
            send(q, &self.stats, msg, a);
            return;
        }
        if let Some(m) = self.batch.add(msg.get_packet_id(), a.verdict, a.mark) {
            self.send_batch(&m);
        }
    }

    /// Sends the open batch, if any. Called before a packet is held and before the loop waits.
    fn flush_batch(&mut self) {
        if let Some(m) = self.batch.take() {
            self.send_batch(&m);
        }
    }

    fn send_batch(&self, m: &batch::Encoded) {
        let Some(sender) = &self.sender else { return };
        // A failed send would leave the whole run queued in the kernel: try once more.
        let result = sender
            .send(m.as_bytes())
            .or_else(|_| sender.send(m.as_bytes()));
        match result {
            Ok(()) => {
                self.stats
                    .verdict_batches
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.stats
                    .batched_verdicts
                    .fetch_add(u64::from(m.packets), std::sync::atomic::Ordering::Relaxed);
            }
            Err(e) => self.stats.netlink_error(e.raw_os_error()),
        }
    }

    fn on_packet(&mut self, q: &mut nfq::Queue, msg: nfq::Message) {
        let gap = self.ids.see(msg.get_packet_id());
        if gap.gap > 0 {
            self.stats.bypassed(0, gap.gap);
        }
        if gap.startup > 0 {
            self.stats.bypassed(1, gap.startup);
        }
        let len = u64::try_from(msg.get_original_len()).unwrap_or(u64::MAX);
        let now = Instant::now();
        let p = match decode(msg.get_payload()) {
            Ok(p) => p,
            Err(e) => {
                self.stats.decode_error(e);
                self.stats.packet(self.cfg.capture.default_verdict, len);
                let a = self.default_applied();
                send(q, &self.stats, msg, a);
                return;
            }
        };
        if p.is_critical_icmpv6() {
            self.stats
                .critical_accepts
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.stats.packet(Verdict::Accept, len);
            send(q, &self.stats, msg, verdict::PROVISIONAL);
            return;
        }
        let (key, src_lo) = Key::of(&p);
        let client_if_new = source_is_client(&p) == src_lo;
        let (l4, is_syn, fin_or_rst, has_payload) =
            (p.l4, p.is_syn(), p.is_fin_or_rst(), !p.payload.is_empty());
        let (slot, fresh) = match self.flows.lookup(&key) {
            Some(s) => (s, false),
            None => {
                let (s, evicted) = self.flows.insert(key, client_if_new, now);
                if let Some(r) = evicted {
                    self.stats
                        .evictions
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    self.flow_end(&r, "evicted");
                }
                self.stats.flow_table_size.store(
                    self.flows.len() as u64,
                    std::sync::atomic::Ordering::Relaxed,
                );
                (s, true)
            }
        };
        self.flows.touch(slot, now);
        let Some(e) = self.flows.get_mut(slot) else {
            // Only when the table has no slot at all (capacity 0 is rejected by config).
            self.fail(q, msg, len, FailReason::PendingFull);
            return;
        };
        let from_client = e.from_client(src_lo);
        e.count(from_client, len);
        if fin_or_rst {
            e.set_closing();
        }
        let flow_id = e.flow_id;
        let held = Held {
            msg,
            slot,
            flow_id,
            len,
            from_client,
        };
        if self.stopping && (fresh || e.state != FlowState::Decided) {
            self.fail(q, held.msg, held.len, FailReason::Shutdown);
            return;
        }
        if fresh {
            self.on_new_flow(q, held, l4 == IPPROTO_TCP && !is_syn);
            return;
        }
        match e.state {
            FlowState::Decided => {
                let old_epoch = if e.epoch == 0 {
                    self.epoch > self.first_epoch
                } else {
                    e.epoch < epoch_stamp(self.epoch)
                };
                let stale = !self.stopping
                    && (old_epoch
                        || e.extra.as_ref().is_some_and(|x| {
                            x.valid_until_unix_s != 0 && x.valid_until_unix_s <= unix_ms() / 1000
                        }));
                if stale {
                    // A newer policy: decide again with what we know (no new DPI).
                    let class = e.known_app().then(|| classification_of(e));
                    e.set_state(if class.is_some() {
                        FlowState::Deciding
                    } else {
                        FlowState::New
                    });
                    e.set_in_flight(true);
                    self.request_decide(q, held, class, now + self.timeout());
                    return;
                }
                // The fast path: no bus, no allocation.
                let d = decision_of(e);
                let a = verdict::apply(&self.marks, held.msg.get_nfmark(), &d);
                if a.degraded_reject {
                    self.stats
                        .degraded_rejects
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                self.stats.packet(d.verdict, len);
                self.send_decided(q, held.msg, a);
            }
            FlowState::New => {
                self.request_decide(q, held, None, now + self.timeout());
            }
            FlowState::Classifying => {
                if !has_payload {
                    self.provisional(q, held.msg, len);
                } else if u32::from(e.dpi_packets) >= self.cfg.classifier.max_dpi_packets {
                    // The classifier should have given up by now; do it here (DESIGN §2 max_dpi_packets).
                    e.set_known_app(true);
                    e.set_state(FlowState::Deciding);
                    e.set_in_flight(true);
                    let class = classification_of(e);
                    self.request_decide(q, held, Some(class), now + self.timeout());
                } else {
                    self.request_classify(q, held, now + self.timeout());
                }
            }
            FlowState::Deciding => {
                if e.in_flight() {
                    self.provisional(q, held.msg, len);
                } else {
                    e.set_in_flight(true);
                    let class = classification_of(e);
                    self.request_decide(q, held, Some(class), now + self.timeout());
                }
            }
            FlowState::Free => self.fail(q, held.msg, len, FailReason::BusError),
        }
    }

    /// The first packet of a flow: recover from a restored connmark, treat a TCP flow without SYN as
    /// mid-stream, or ask policy with the tuple only.
    fn on_new_flow(&mut self, q: &mut nfq::Queue, held: Held, midstream: bool) {
        let now = Instant::now();
        let mark = held.msg.get_nfmark();
        let rec = verdict::recover(&self.marks, mark);
        let Some(e) = self.flows.get_mut(held.slot) else {
            self.fail(q, held.msg, held.len, FailReason::BusError);
            return;
        };
        if let Some(app) = rec.app {
            e.app = app;
            e.set_known_app(true);
        }
        if let Some(v) = rec.verdict {
            // nfguard decided this connection before (capture restart, table eviction): keep it.
            self.stats
                .recovered_flows
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            e.verdict_bits = u8::try_from(v.bits()).unwrap_or(0);
            e.epoch = epoch_stamp(self.epoch);
            e.set_offload(false);
            e.set_state(FlowState::Decided);
            let d = decision_of(e);
            self.publish_start(held.slot, held.flow_id);
            self.stats.packet(v, held.len);
            send(
                q,
                &self.stats,
                held.msg,
                verdict::apply(&self.marks, 0, &d).with_mark_of(mark),
            );
            return;
        }
        if rec.app.is_some() {
            // App known from the connmark, verdict cleared by a new policy epoch: decide without DPI.
            self.stats
                .recovered_flows
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            e.set_state(FlowState::Deciding);
            e.set_in_flight(true);
            let mut class = classification_of(e);
            class.confidence = pb::Confidence::Connmark as i32;
            self.request_decide(q, held, Some(class), now + self.timeout());
            return;
        }
        if midstream {
            self.stats
                .midstream_flows
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.decide_midstream(q, held);
            return;
        }
        e.set_in_flight(true);
        self.request_decide(q, held, None, now + self.timeout());
    }

    /// A flow seen mid-stream with nothing to recover: `midstream_verdict`, cached (DPI cannot start
    /// mid-stream). Also where a re-decided mid-stream flow lands when no tuple rule decides it.
    fn decide_midstream(&mut self, q: &mut nfq::Queue, held: Held) {
        let v = self.cfg.capture.midstream_verdict;
        if let Some(e) = self.flows.get_flow_mut(held.slot, held.flow_id) {
            e.set_midstream();
            e.verdict_bits = u8::try_from(v.bits()).unwrap_or(0);
            e.epoch = epoch_stamp(self.epoch);
            e.set_offload(false);
            e.set_state(FlowState::Decided);
        }
        self.publish_start(held.slot, held.flow_id);
        self.stats.packet(v, held.len);
        send(q, &self.stats, held.msg, verdict::default_verdict(v));
    }

    /// The flow's START event, once: at its decision by policy, or when it was recovered from its
    /// connmark or given `midstream_verdict` (so the store sees those flows and their END too).
    fn publish_start(&mut self, slot: u32, flow_id: u64) {
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
            self.queue,
            self.boot_id,
            "",
        );
        self.events.publish(pb::published::Body::FlowEvent(ev));
    }

    fn iface(&mut self, index: u32) -> String {
        if index == 0 {
            return String::new();
        }
        if let Some(n) = self.ifnames.get(&index) {
            return n.clone();
        }
        // /sys/class/net/<name>/ifindex of this network namespace; read at decision time only.
        if let Ok(dir) = std::fs::read_dir("/sys/class/net") {
            for d in dir.flatten() {
                let path = d.path().join("ifindex");
                if let Some(i) = std::fs::read_to_string(path)
                    .ok()
                    .and_then(|s| s.trim().parse::<u32>().ok())
                {
                    self.ifnames
                        .insert(i, d.file_name().to_string_lossy().into_owned());
                }
            }
        }
        self.ifnames.get(&index).cloned().unwrap_or_default()
    }

    fn hold(&mut self, q: &mut nfq::Queue, held: Held, deadline: Instant) -> Option<Token> {
        // The batch's ids are below this packet's; once it is held no batch may be open.
        self.flush_batch();
        match self.pending.insert(held, deadline) {
            Ok(t) => {
                self.held_gauge();
                Some(t)
            }
            Err(held) => {
                self.clear_in_flight(held.slot, held.flow_id);
                self.fail(q, held.msg, held.len, FailReason::PendingFull);
                None
            }
        }
    }

    fn clear_in_flight(&mut self, slot: u32, flow_id: u64) {
        if let Some(e) = self.flows.get_flow_mut(slot, flow_id) {
            e.set_in_flight(false);
        }
    }

    fn request_decide(
        &mut self,
        q: &mut nfq::Queue,
        held: Held,
        class: Option<pb::Classification>,
        deadline: Instant,
    ) {
        let Some(e) = self.flows.get_flow_mut(held.slot, held.flow_id) else {
            self.fail(q, held.msg, held.len, FailReason::BusError);
            return;
        };
        let key = e.flow_key();
        // in/out interfaces as the packet crossed FORWARD; for a server→client packet swap them so
        // the request always describes the client's side as "in".
        let (mut ind, mut outd) = (held.msg.get_indev(), held.msg.get_outdev());
        if !held.from_client {
            std::mem::swap(&mut ind, &mut outd);
        }
        let with_class = class.is_some();
        let req = pb::PolicyRequest {
            body: Some(pb::policy_request::Body::Decide(pb::DecideRequest {
                flow: Some(self.flow_ref(held.flow_id)),
                tuple: Some(key.to_tuple()),
                in_iface: self.iface(ind),
                out_iface: self.iface(outd),
                classification: class,
                time_unix_s: unix_ms() / 1000,
            })),
        };
        let Some(token) = self.hold(q, held, deadline) else {
            return;
        };
        let client = self.policy.clone();
        self.spawn_call(client, req, token, deadline, move |result| Reply::Policy {
            result,
            with_class,
        });
    }

    fn request_classify(&mut self, q: &mut nfq::Queue, held: Held, deadline: Instant) {
        let Some(e) = self.flows.get_flow_mut(held.slot, held.flow_id) else {
            self.fail(q, held.msg, held.len, FailReason::BusError);
            return;
        };
        // Decoded again (tens of ns) rather than carried: the packet borrows the message's buffer.
        let Ok(p) = decode(held.msg.get_payload()) else {
            self.fail(q, held.msg, held.len, FailReason::BusError);
            return;
        };
        e.dpi_packets = e.dpi_packets.saturating_add(1);
        let req = pb::ClassifyRequest {
            flow: Some(pb::FlowRef {
                queue: u32::from(self.queue),
                boot_id: self.boot_id,
                flow_id: held.flow_id,
            }),
            tuple: Some(e.flow_key().to_tuple()),
            from_client: held.from_client,
            time_us: u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX),
            tcp_flags: u32::from(p.tcp_flags),
            tcp_seq: p.tcp_seq,
            payload: p.payload.to_vec(),
            packet_index: u32::try_from(e.total_packets()).unwrap_or(u32::MAX),
        };
        let Some(token) = self.hold(q, held, deadline) else {
            return;
        };
        let client = self.classifier.clone();
        self.spawn_call(client, req, token, deadline, Reply::Classify);
    }

    /// Sends `req` off the packet loop; the reply (or its error) comes back on the completion channel,
    /// wrapped by `reply`, for the held packet `token`.
    fn spawn_call<Req, Rep>(
        &self,
        client: RpcClient<Req, Rep>,
        req: Req,
        token: Token,
        deadline: Instant,
        reply: impl FnOnce(Result<Rep, BusError>) -> Reply + Send + 'static,
    ) where
        Req: prost::Message + Send + 'static,
        Rep: prost::Message + Default + Send + 'static,
    {
        let tx = self.done_tx.clone();
        let timeout = deadline.saturating_duration_since(Instant::now());
        tokio::spawn(async move {
            let result = client.call(&req, timeout).await;
            let _ = tx.send(Completion {
                token,
                reply: reply(result),
            });
        });
    }

    /// A bus reply (or error) for a held packet.
    pub fn complete(&mut self, q: &mut nfq::Queue, c: Completion) {
        let deadline = self.pending.deadline(c.token);
        let Some(held) = self.pending.take(c.token) else {
            // Already answered by the safety net.
            return;
        };
        self.held_gauge();
        let deadline = deadline.unwrap_or_else(Instant::now);
        match c.reply {
            Reply::Policy { result: Err(e), .. } | Reply::Classify(Err(e)) => {
                tracing::trace!(queue = self.queue, error = %e, "Bus request failed; default verdict.");
                self.clear_in_flight(held.slot, held.flow_id);
                self.fail(q, held.msg, held.len, fail_reason(&e));
            }
            Reply::Policy {
                result: Ok(resp),
                with_class,
            } => match resp.body {
                Some(pb::policy_response::Body::Decision(d)) => {
                    self.on_decision(q, held, d, with_class, deadline)
                }
                _ => {
                    self.clear_in_flight(held.slot, held.flow_id);
                    self.fail(q, held.msg, held.len, FailReason::BusError);
                }
            },
            Reply::Classify(Ok(r)) => self.on_classified(q, held, r, deadline),
        }
    }

    fn on_decision(
        &mut self,
        q: &mut nfq::Queue,
        held: Held,
        d: pb::Decision,
        with_class: bool,
        deadline: Instant,
    ) {
        let Some(e) = self.flows.get_flow_mut(held.slot, held.flow_id) else {
            // The flow was evicted meanwhile: the decision still applies to its packet, uncached.
            let v = action_verdict(&d);
            self.stats.packet(v, held.len);
            let fd = FlowDecision {
                verdict: v,
                shaper: d.shaper,
                user_mark: d.mark & self.marks.user_mask,
                offload: false,
                app: 0,
            };
            let a = verdict::apply(&self.marks, held.msg.get_nfmark(), &fd);
            send(q, &self.stats, held.msg, a);
            return;
        };
        e.set_in_flight(false);
        if d.action == pb::Action::NeedsDpi as i32 && e.midstream() {
            // Re-decided after a policy change: no rule decides it by its tuple.
            self.decide_midstream(q, held);
            return;
        }
        if d.action == pb::Action::NeedsDpi as i32 {
            if with_class {
                // Policy must decide once it has the classification; treat as a bus fault.
                self.fail(q, held.msg, held.len, FailReason::BusError);
                return;
            }
            let l4 = e.flow_key().l4;
            if l4 != IPPROTO_TCP && l4 != IPPROTO_UDP {
                // No DPI for ICMP and other protocols: the protocol number is the classification.
                let app = match l4 {
                    IPPROTO_ICMP => nfguard_proto::protocols::by_name("ICMP").map_or(0, |p| p.id.0),
                    IPPROTO_ICMPV6 => {
                        nfguard_proto::protocols::by_name("ICMPV6").map_or(0, |p| p.id.0)
                    }
                    _ => 0,
                };
                e.app = app;
                e.set_known_app(true);
                e.set_state(FlowState::Deciding);
                e.set_in_flight(true);
                let mut class = classification_of(e);
                class.confidence = pb::Confidence::Dpi as i32;
                self.request_decide(q, held, Some(class), deadline);
                return;
            }
            e.set_state(FlowState::Classifying);
            // The held packet itself may carry the first payload (UDP, or TCP data mid-handshake).
            let has_payload = decode(held.msg.get_payload()).is_ok_and(|p| !p.payload.is_empty());
            if has_payload {
                self.request_classify(q, held, deadline);
            } else {
                self.provisional(q, held.msg, held.len);
            }
            return;
        }
        let v = action_verdict(&d);
        let fd = FlowDecision {
            verdict: v,
            shaper: d.shaper,
            user_mark: d.mark & self.marks.user_mask,
            offload: d.offload,
            app: e.app,
        };
        if d.epoch >= self.epoch {
            // `learn_epoch` inline: `e` borrows the flow table.
            if self.first_epoch == 0 {
                self.first_epoch = d.epoch;
            }
            self.epoch = d.epoch;
            self.stats
                .policy_epoch
                .store(self.epoch, std::sync::atomic::Ordering::Relaxed);
            e.verdict_bits = u8::try_from(v.bits()).unwrap_or(0);
            e.shaper = u8::try_from(d.shaper).unwrap_or(u8::MAX);
            e.user_mark = fd.user_mark;
            e.set_offload(d.offload);
            e.epoch = epoch_stamp(d.epoch);
            let extra = e.extra.get_or_insert_with(Box::default);
            extra.rule.clone_from(&d.rule);
            extra.valid_until_unix_s = d.valid_until_unix_s;
            e.set_state(FlowState::Decided);
            self.stats.flow_decided(v);
            if d.offload && self.marks.offload {
                self.stats
                    .offloaded_flows
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            tracing::debug!(queue = self.queue, flow = e.flow_id, verdict = %v, rule = %d.rule, app = e.app, "Flow decided.");
            self.publish_start(held.slot, held.flow_id);
        } else {
            // Decided under an older policy: good for this packet only (DESIGN brief §7).
            self.stats
                .stale_decisions
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let a = verdict::apply(&self.marks, held.msg.get_nfmark(), &fd);
        if a.degraded_reject {
            self.stats
                .degraded_rejects
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        self.stats.packet(v, held.len);
        send(q, &self.stats, held.msg, a);
    }

    fn on_classified(
        &mut self,
        q: &mut nfq::Queue,
        held: Held,
        r: pb::ClassifyReply,
        deadline: Instant,
    ) {
        let Some(e) = self.flows.get_flow_mut(held.slot, held.flow_id) else {
            self.provisional(q, held.msg, held.len);
            return;
        };
        let state = pb::ClassifyState::try_from(r.state).unwrap_or(pb::ClassifyState::NeedMore);
        if state == pb::ClassifyState::NeedMore || e.state != FlowState::Classifying {
            // Nothing waits on DPI: release at once (DESIGN §2).
            self.provisional(q, held.msg, held.len);
            return;
        }
        let class = r.classification.unwrap_or_default();
        e.app = u16::try_from(class.app_id).unwrap_or(0);
        e.master = u16::try_from(class.master_id).unwrap_or(0);
        e.set_known_app(true);
        let extra = e.extra.get_or_insert_with(Box::default);
        extra.host.clone_from(&class.host);
        extra.category.clone_from(&class.category);
        extra.confidence = class.confidence;
        tracing::debug!(queue = self.queue, flow = e.flow_id, app = e.app, master = e.master, host = %class.host, "Flow classified.");
        e.set_state(FlowState::Deciding);
        e.set_in_flight(true);
        self.request_decide(q, held, Some(class), deadline);
    }

    /// Timer: answer held packets past their deadline, expire idle flows, emit UPDATE events.
    pub fn on_tick(&mut self, q: &mut nfq::Queue) {
        let now = Instant::now();
        let mut late = Vec::new();
        self.pending
            .expire(now.checked_sub(DEADLINE_GRACE).unwrap_or(now), |h| {
                late.push(h)
            });
        for h in late {
            self.clear_in_flight(h.slot, h.flow_id);
            self.fail(q, h.msg, h.len, FailReason::Timeout);
        }
        self.held_gauge();
        let budget = self.flows.capacity().div_ceil(SWEEP_TICKS);
        let mut ended = Vec::new();
        let mut updates = Vec::new();
        let (queue, boot) = (self.queue, self.boot_id);
        self.flows.sweep(
            now,
            budget,
            self.cfg.capture.flow_update_interval.0,
            |r| ended.push(r),
            |e| {
                updates.push(flow_event(
                    e,
                    pb::FlowEventKind::FlowEventUpdate,
                    queue,
                    boot,
                    "",
                ))
            },
        );
        for r in &ended {
            self.flow_end(r, "idle");
        }
        for ev in updates {
            self.events.publish(pb::published::Body::FlowEvent(ev));
        }
        self.ticks = self.ticks.wrapping_add(1);
        self.stats.flow_table_size.store(
            self.flows.len() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        self.stats
            .evictions
            .store(self.flows.evictions, std::sync::atomic::Ordering::Relaxed);
    }

    fn flow_end(&self, r: &Removed, reason: &str) {
        if r.entry.started() {
            let ev = flow_event(
                &r.entry,
                pb::FlowEventKind::FlowEventEnd,
                self.queue,
                self.boot_id,
                reason,
            );
            self.events.publish(pb::published::Body::FlowEvent(ev));
        }
    }

    /// A `PolicyChanged` message: a newer epoch invalidates cached decisions (lazily, per flow).
    pub fn on_policy_changed(&mut self, epoch: u64) {
        if self.epoch == 0 {
            // Not a change: the worker learns the epoch it started under.
            self.learn_epoch(epoch);
            return;
        }
        if epoch > self.epoch {
            tracing::info!(
                queue = self.queue,
                old = self.epoch,
                new = epoch,
                "Policy changed; cached decisions will be renewed."
            );
            self.learn_epoch(epoch);
        }
    }

    fn learn_epoch(&mut self, epoch: u64) {
        if self.first_epoch == 0 {
            self.first_epoch = epoch;
        }
        self.epoch = epoch;
        self.stats
            .policy_epoch
            .store(epoch, std::sync::atomic::Ordering::Relaxed);
    }

    /// SIGTERM, first step: every held packet gets the default verdict now, and from here on packets
    /// are answered without the bus (decided flows by their verdict, others by the default) so the
    /// replies to released packets are not lost to the unbind.
    pub fn begin_stop(&mut self, q: &mut nfq::Queue) {
        self.stopping = true;
        self.flush_batch();
        let mut held = Vec::new();
        self.pending.drain(|h| held.push(h));
        self.released = held.len();
        for h in held {
            self.fail(q, h.msg, h.len, FailReason::Shutdown);
        }
        self.held_gauge();
    }

    /// SIGTERM, last step (the queue is quiet): every started flow gets an END event.
    pub fn shutdown(&mut self, q: &mut nfq::Queue) {
        if !self.stopping {
            self.begin_stop(q);
        }
        self.flush_batch();
        let n = self.released;
        let mut ended = Vec::new();
        self.flows.drain(|r| ended.push(r));
        for r in &ended {
            self.flow_end(r, "shutdown");
        }
        tracing::info!(
            queue = self.queue,
            released = n,
            flows = ended.len(),
            "Worker stopped; held packets released."
        );
    }

    pub fn policy(&self) -> &PolicyClient {
        &self.policy
    }

    pub fn classifier(&self) -> &ClassifierClient {
        &self.classifier
    }

    pub fn events(&self) -> Arc<Publisher> {
        self.events.clone()
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

/// An epoch as the flow table stores it (its low 32 bits).
fn epoch_stamp(epoch: u64) -> u32 {
    u32::try_from(epoch & u64::from(u32::MAX)).unwrap_or(0)
}

fn decision_of(e: &Entry) -> FlowDecision {
    FlowDecision {
        verdict: Verdict::from_bits(u32::from(e.verdict_bits)).unwrap_or(Verdict::Accept),
        shaper: u32::from(e.shaper),
        user_mark: e.user_mark,
        offload: e.offload(),
        app: e.app,
    }
}

fn classification_of(e: &Entry) -> pb::Classification {
    let (host, category, confidence) = e
        .extra
        .as_ref()
        .map_or((String::new(), String::new(), 0), |x| {
            (x.host.clone(), x.category.clone(), x.confidence)
        });
    let category = if category.is_empty() {
        nfguard_proto::protocols::by_id(AppId(e.app))
            .map(|p| p.category.to_string())
            .unwrap_or_default()
    } else {
        category
    };
    pb::Classification {
        master_id: u32::from(e.master),
        app_id: u32::from(e.app),
        host,
        category,
        confidence,
        risks: Vec::new(),
    }
}

fn verdict_name(e: &Entry) -> &'static str {
    match Verdict::from_bits(u32::from(e.verdict_bits)) {
        Some(v) if e.shaper != 0 && v == Verdict::Accept => "shape",
        Some(v) => v.as_str(),
        None => "",
    }
}

fn flow_event(
    e: &Entry,
    kind: pb::FlowEventKind,
    queue: u16,
    boot_id: u64,
    end_reason: &str,
) -> pb::FlowEvent {
    let key: FlowKey = e.flow_key();
    let x = e
        .extra
        .as_deref()
        .cloned()
        .unwrap_or_else(FlowExtra::default);
    let now = unix_ms();
    pb::FlowEvent {
        kind: kind as i32,
        flow: Some(pb::FlowRef {
            queue: u32::from(queue),
            boot_id,
            flow_id: e.flow_id,
        }),
        tuple: Some(key.to_tuple()),
        classification: Some(classification_of(e)),
        label: nfguard_proto::protocols::label(AppId(e.master), AppId(e.app)),
        verdict: verdict_name(e).to_string(),
        rule: x.rule,
        packets_c2s: u64::from(e.packets[0]),
        bytes_c2s: e.bytes[0],
        packets_s2c: u64::from(e.packets[1]),
        bytes_s2c: e.bytes[1],
        first_seen_unix_ms: if x.first_seen_unix_ms != 0 {
            x.first_seen_unix_ms
        } else {
            now
        },
        last_seen_unix_ms: now,
        end_reason: end_reason.to_string(),
        offloaded: e.offload(),
    }
}

/// At SIGTERM: the queue counts as quiet after this long without a packet…
const STOP_QUIET: Duration = Duration::from_millis(20);
/// …and the worker unbinds after this long at most, even under steady traffic.
const STOP_DRAIN_MAX: Duration = Duration::from_millis(250);

/// The receive loop until `shutdown` resolves.
pub async fn serve(
    mut worker: Worker,
    mut rq: ReadyQueue,
    mut done_rx: mpsc::UnboundedReceiver<Completion>,
    mut policy_events: Subscriber,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), CaptureError> {
    tokio::pin!(shutdown);
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut more = true;
    let mut events_open = true;
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            Some(c) = done_rx.recv() => {
                worker.complete(&mut rq.queue, c);
                continue;
            }
            _ = tick.tick() => {
                worker.on_tick(&mut rq.queue);
                continue;
            }
            r = rq.wait_readable(), if !more => {
                r.map_err(CaptureError::Queue)?;
                more = true;
            }
            ev = policy_events.recv(), if events_open => {
                match ev {
                    Ok(pb::Published { body: Some(pb::published::Body::PolicyChanged(c)), .. }) => {
                        worker.on_policy_changed(c.epoch);
                    }
                    Ok(_) => {}
                    Err(_) => events_open = false,
                }
                continue;
            }
            // Yield between batches: on a current-thread runtime a loop that never awaits a pending
            // future starves every other task — the bus clients (policy requests then time out and
            // trip the breaker) and the heartbeat (the supervisor then kills a busy worker).
            () = tokio::task::yield_now(), if more => {}
        }
        if more {
            more = worker.drain(&mut rq.queue);
        }
    }
    // Release what is held, then keep answering until the queue has been quiet for a moment: the
    // replies to released packets (a SYN's SYN-ACK) are already on their way, and whatever is still
    // queued at the unbind is dropped by the kernel.
    worker.begin_stop(&mut rq.queue);
    let until = Instant::now() + STOP_DRAIN_MAX;
    while Instant::now() < until {
        while worker.drain(&mut rq.queue) && Instant::now() < until {}
        match tokio::time::timeout(STOP_QUIET, rq.wait_readable()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(_) => break,
        }
    }
    worker.drain(&mut rq.queue);
    worker.shutdown(&mut rq.queue);
    if let Err(e) = rq.queue.unbind(worker.queue) {
        tracing::warn!(queue = worker.queue, error = %e, "Unbinding the queue failed.");
    }
    // Let the publisher's writer task flush the END events.
    tokio::time::sleep(Duration::from_millis(100)).await;
    Ok(())
}
