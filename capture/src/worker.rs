//! One NFQUEUE worker: the I/O shell around [`FlowPath`]. It receives and decodes packets, feeds them
//! to the path, and carries out the path's steps — netlink verdicts (batched on the fast path), bus
//! requests with deadlines, flow events.
//!
//! A single task on a current-thread runtime owns the queue and the path. Bus requests run as small
//! spawned tasks that report back through a channel, so the loop never waits on the bus.

use std::io;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use nfguard_proto::bus::{BusError, Publisher, RpcClient};
use nfguard_proto::config::Config;
use nfguard_proto::pb;
use nfguard_proto::process::endpoints;
use tokio::sync::mpsc;

use crate::CaptureError;
use crate::batch::{self, VerdictBatch};
use crate::decode::decode;
use crate::flow_path::{Answer, Arrival, FlowPath, PathConfig, Seen, Step};
use crate::ifnames::IfNames;
use crate::pending::Token;
use crate::queue_fd::VerdictSender;
use crate::stats::{FailReason, IdTracker, Stats};

/// Packets handled per wake-up before completions, timers and the bus tasks get a turn. Small: under a
/// flood each hop of a bus request waits for one turn, and with 256 a new flow's requests outlived
/// their 25 ms deadline (the flow then never got decided); the batch size bounds it too.
const RECV_BUDGET: usize = batch::MAX_PACKETS as usize;

type PolicyClient = RpcClient<pb::PolicyRequest, pb::PolicyResponse>;
type ClassifierClient = RpcClient<pb::ClassifyRequest, pb::ClassifyReply>;

enum Reply {
    Policy(Result<pb::PolicyResponse, BusError>),
    Classify(Result<pb::ClassifyReply, BusError>),
}

/// A bus reply (or its error) for the packet held under `token`.
pub struct Completion {
    token: Token,
    reply: Reply,
}

/// The worker's state apart from the queue socket (kept separate so the socket's readiness future and
/// the handlers can borrow disjoint things).
pub struct Worker {
    pub(crate) queue: u16,
    path: FlowPath<nfq::Message>,
    pub stats: Arc<Stats>,
    policy: PolicyClient,
    classifier: ClassifierClient,
    events: Arc<Publisher>,
    done_tx: mpsc::UnboundedSender<Completion>,
    ids: IdTracker,
    ifnames: IfNames,
    /// Batch verdicts for the fast path; single verdicts until a sender is set.
    batch: VerdictBatch,
    sender: Option<VerdictSender>,
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Worker {
    /// Connects the bus clients and binds the flow-event publisher.
    ///
    /// # Errors
    /// When `flows-q<N>.sock` cannot be bound.
    pub async fn new(
        cfg: &Config,
        queue: u16,
        stats: Arc<Stats>,
        done_tx: mpsc::UnboundedSender<Completion>,
    ) -> Result<Worker, CaptureError> {
        let boot_id = nfguard_proto::bus::new_boot_id();
        let events = Arc::new(
            Publisher::bind(&cfg.endpoint(&endpoints::flows_queue(queue)), boot_id)
                .await
                .map_err(CaptureError::Bus)?,
        );
        let path_cfg = PathConfig::from_config(cfg, queue, boot_id);
        Ok(Worker {
            queue,
            path: FlowPath::new(path_cfg, stats.clone(), Instant::now(), unix_ms()),
            stats,
            policy: RpcClient::connect(&cfg.endpoint(endpoints::POLICY)),
            classifier: RpcClient::connect(&cfg.endpoint(endpoints::CLASSIFIER)),
            events,
            done_tx,
            ids: IdTracker::default(),
            ifnames: IfNames::default(),
            batch: VerdictBatch::new(queue),
            sender: None,
        })
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

    fn on_packet(&mut self, q: &mut nfq::Queue, msg: nfq::Message) {
        let gap = self.ids.see(msg.get_packet_id());
        if gap.gap > 0 {
            self.stats.bypassed(0, gap.gap);
        }
        if gap.startup > 0 {
            self.stats.bypassed(1, gap.startup);
        }
        let at = Arrival {
            now: Instant::now(),
            len: u64::try_from(msg.get_original_len()).unwrap_or(u64::MAX),
            mark: msg.get_nfmark(),
            indev: msg.get_indev(),
            outdev: msg.get_outdev(),
        };
        let seen = decode(msg.get_payload()).map(|p| Seen::of(&p));
        self.path.on_packet(at, seen, msg);
        self.carry_out(q);
    }

    /// Carries out every step the path has queued.
    fn carry_out(&mut self, q: &mut nfq::Queue) {
        while let Some(step) = self.path.poll_step() {
            match step {
                Step::Verdict(a) => self.send_verdict(q, a),
                Step::AskPolicy {
                    token,
                    deadline,
                    ask,
                } => {
                    // The batch's ids are below the held packet's; once it is held no batch may be open.
                    self.flush_batch();
                    let (i, o) = (self.ifnames.name(ask.indev), self.ifnames.name(ask.outdev));
                    let req = pb::PolicyRequest {
                        body: Some(pb::policy_request::Body::Decide(ask.to_pb(i, o))),
                    };
                    let client = self.policy.clone();
                    self.spawn_call(client, req, token, deadline, Reply::Policy);
                }
                Step::AskClassifier {
                    token,
                    deadline,
                    ask,
                } => {
                    self.flush_batch();
                    // Decoded again (tens of ns) rather than carried: the packet borrows the
                    // message's buffer.
                    let p = self
                        .path
                        .held(token)
                        .and_then(|m| decode(m.get_payload()).ok());
                    let Some(p) = p else {
                        self.path.on_classifier_reply(
                            Instant::now(),
                            token,
                            Err(FailReason::BusError),
                        );
                        continue;
                    };
                    let req = ask.to_pb(&p);
                    let client = self.classifier.clone();
                    self.spawn_call(client, req, token, deadline, Reply::Classify);
                }
                Step::Publish(ev) => {
                    self.events.publish(pb::published::Body::FlowEvent(*ev));
                }
                Step::Ended { event, .. } => {
                    if let Some(ev) = event {
                        self.events.publish(pb::published::Body::FlowEvent(*ev));
                    }
                }
            }
        }
    }

    /// A verdict: joins the open batch when the path allows it, else goes out at once.
    fn send_verdict(&mut self, q: &mut nfq::Queue, a: Answer<nfq::Message>) {
        if a.batchable && self.sender.is_some() {
            if let Some(m) =
                self.batch
                    .add(a.packet.get_packet_id(), a.applied.verdict, a.applied.mark)
            {
                self.send_batch(&m);
            }
            return;
        }
        // No flush needed: while anything is held the batch is empty (flushed at the hold).
        let mut msg = a.packet;
        if let Some(m) = a.applied.mark {
            msg.set_nfmark(m);
        }
        msg.set_verdict(a.applied.verdict.to_nfq());
        // A failure is counted and never stops the loop (late errors come back from `recv`).
        if let Err(e) = q.verdict(msg) {
            self.stats.netlink_error(e.raw_os_error());
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
                let relaxed = std::sync::atomic::Ordering::Relaxed;
                self.stats.verdict_batches.fetch_add(1, relaxed);
                self.stats
                    .batched_verdicts
                    .fetch_add(u64::from(m.packets), relaxed);
            }
            Err(e) => self.stats.netlink_error(e.raw_os_error()),
        }
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
        let now = Instant::now();
        let failed = |e: BusError| {
            tracing::trace!(error = %e, "Bus request failed; default verdict.");
            FailReason::of_bus(&e)
        };
        match c.reply {
            Reply::Policy(r) => {
                let r = r.map_err(failed).and_then(|resp| match resp.body {
                    Some(pb::policy_response::Body::Decision(d)) => Ok(d),
                    _ => Err(FailReason::BusError),
                });
                self.path.on_policy_reply(now, c.token, r);
            }
            Reply::Classify(r) => {
                self.path
                    .on_classifier_reply(now, c.token, r.map_err(failed));
            }
        }
        self.carry_out(q);
    }

    /// Timer: answer held packets past their deadline, expire idle flows, emit UPDATE events.
    pub fn on_tick(&mut self, q: &mut nfq::Queue) {
        self.path.on_tick(Instant::now(), unix_ms());
        self.carry_out(q);
    }

    pub fn on_policy_changed(&mut self, epoch: u64) {
        self.path.on_policy_changed(epoch);
    }

    /// SIGTERM, first step: every held packet gets the default verdict now; from here on packets
    /// are answered without the bus, so the replies to released packets are not lost to the unbind.
    pub fn begin_stop(&mut self, q: &mut nfq::Queue) {
        self.flush_batch();
        self.path.begin_stop();
        self.carry_out(q);
    }

    /// SIGTERM, last step (the queue is quiet): every started flow gets an END event.
    pub fn shutdown(&mut self, q: &mut nfq::Queue) {
        self.flush_batch();
        let (released, flows) = self.path.shutdown(Instant::now());
        self.carry_out(q);
        self.flush_batch();
        tracing::info!(
            queue = self.queue,
            released,
            flows,
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
