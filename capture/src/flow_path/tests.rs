//! Every path of DESIGN §2 through the state machine, without root or sockets: packets are numbered
//! `u32`s, replies are handed in by the test, and each test checks the steps that come out.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nfguard_proto::config::CaptureConfig;
use nfguard_proto::pb;
use nfguard_proto::types::{IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP};
use nfguard_proto::{Mark, Verdict};
use proptest::prelude::*;

use super::*;
use crate::decode::Packet;
use crate::decode::tcp_flags::{ACK, PSH, SYN};
use crate::flow_table::Timeouts;
use crate::verdict::MarkConfig;

// === an allocation counter for this thread (the fast path must not allocate) ===

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// The only way to count allocations without a new dependency is a global allocator, whose trait is
// unsafe; this one forwards every call to the system allocator unchanged (test builds only).
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded unchanged; the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: `p` came from `System.alloc` with the same layout.
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

// === the rig ===

const TIMEOUT: Duration = Duration::from_millis(25);
const TICK: Duration = Duration::from_millis(100);

fn config(offload: bool) -> PathConfig {
    let c = CaptureConfig {
        offload,
        ..CaptureConfig::default()
    };
    PathConfig {
        queue: 3,
        boot_id: 77,
        marks: MarkConfig::from_config(&c),
        default_verdict: Verdict::Accept,
        midstream_verdict: Verdict::Accept,
        verdict_timeout: TIMEOUT,
        flow_table_size: 64,
        max_pending: 64,
        flow_update_interval: Duration::from_secs(60),
        timeouts: Timeouts::default(),
        midstream_dpi: false,
        overload: Overload::BypassNew,
    }
}

struct Rig {
    path: FlowPath<u32>,
    stats: Arc<Stats>,
    now: Instant,
    next: u32,
}

fn seen(src: &str, dst: &str, l4: u8, flags: u8, payload: bool) -> Seen {
    let s: SocketAddr = src.parse().unwrap();
    let d: SocketAddr = dst.parse().unwrap();
    Seen {
        head: Packet {
            src: s.ip(),
            dst: d.ip(),
            src_port: s.port(),
            dst_port: d.port(),
            l4,
            tcp_flags: flags,
            tcp_seq: 1000,
            icmp_type: 0,
            payload: &[],
        },
        has_payload: payload,
    }
}

const C: &str = "10.0.0.2:51000";
const S: &str = "10.0.1.2:443";

fn syn() -> Seen {
    seen(C, S, IPPROTO_TCP, SYN, false)
}
fn synack() -> Seen {
    seen(S, C, IPPROTO_TCP, SYN | ACK, false)
}
fn ack() -> Seen {
    seen(C, S, IPPROTO_TCP, ACK, false)
}
fn data() -> Seen {
    seen(C, S, IPPROTO_TCP, ACK | PSH, true)
}
fn reply_data() -> Seen {
    seen(S, C, IPPROTO_TCP, ACK | PSH, true)
}

fn decision(v: Verdict, offload: bool, epoch: u64) -> pb::Decision {
    let action = match v {
        Verdict::Accept => pb::Action::Accept,
        Verdict::Drop => pb::Action::Drop,
        Verdict::Reject => pb::Action::Reject,
    };
    pb::Decision {
        action: action as i32,
        verdict_bits: v.bits(),
        offload,
        rule: "r1".into(),
        epoch,
        ..pb::Decision::default()
    }
}

fn needs_dpi(epoch: u64) -> pb::Decision {
    pb::Decision {
        action: pb::Action::NeedsDpi as i32,
        verdict_bits: Verdict::Accept.bits(),
        epoch,
        ..pb::Decision::default()
    }
}

fn classified(state: pb::ClassifyState, app: u32, confidence: pb::Confidence) -> pb::ClassifyReply {
    pb::ClassifyReply {
        flow: None,
        state: state as i32,
        classification: Some(pb::Classification {
            master_id: 91,
            app_id: app,
            host: "www.example.com".into(),
            category: "Web".into(),
            confidence: confidence as i32,
            risks: Vec::new(),
            ja4: String::new(),
            ech: false,
        }),
    }
}

/// What came out, simplified for assertions.
#[derive(Debug)]
enum Out {
    Verdict {
        id: u32,
        nf: NfVerdict,
        mark: Option<u32>,
        verdict: Verdict,
        why: Why,
    },
    Policy(Token, Option<pb::Classification>),
    Classify(Token, ClassifyAsk),
    Start,
    /// A flow left the table, with its END event if one went out.
    Ended(Option<Box<pb::FlowEvent>>),
}

impl Rig {
    fn new(cfg: PathConfig) -> Rig {
        let stats = Arc::new(Stats::new(cfg.queue));
        let now = Instant::now();
        let mut path = FlowPath::new(cfg, stats.clone(), now, 1_700_000_000_000);
        path.on_policy_changed(1);
        Rig {
            path,
            stats,
            now,
            next: 1,
        }
    }

    fn packet_with_mark(&mut self, s: Seen, mark: u32) -> (u32, Vec<Out>) {
        let id = self.next;
        self.next += 1;
        let at = Arrival {
            now: self.now,
            len: 100,
            mark,
            indev: 2,
            outdev: 3,
        };
        self.path.on_packet(at, Ok(s), id);
        (id, self.steps())
    }

    fn packet(&mut self, s: Seen) -> (u32, Vec<Out>) {
        self.packet_with_mark(s, 0)
    }

    fn steps(&mut self) -> Vec<Out> {
        let mut out = Vec::new();
        while let Some(s) = self.path.poll_step() {
            out.push(match s {
                Step::Verdict(a) => Out::Verdict {
                    id: a.packet,
                    nf: a.applied.verdict,
                    mark: a.applied.mark,
                    verdict: a.verdict,
                    why: a.why,
                },
                Step::AskPolicy { token, ask, .. } => Out::Policy(token, ask.class),
                Step::AskClassifier { token, ask, .. } => Out::Classify(token, *ask),
                Step::Publish(_) => Out::Start,
                Step::Ended { event, .. } => Out::Ended(event),
            });
        }
        out
    }

    fn policy(&mut self, t: Token, d: pb::Decision) -> Vec<Out> {
        self.path.on_policy_reply(self.now, t, Ok(d));
        self.steps()
    }

    fn classifier(&mut self, t: Token, r: pb::ClassifyReply) -> Vec<Out> {
        self.path.on_classifier_reply(self.now, t, Ok(r));
        self.steps()
    }

    fn tick(&mut self, after: Duration) -> Vec<Out> {
        self.now += after;
        self.path.on_tick(self.now, 1_700_000_000_000);
        self.steps()
    }

    /// SYN, tuple-only decision `d`: returns the flow's steps for the SYN.
    fn decided_by_tuple(&mut self, d: pb::Decision) -> Vec<Out> {
        let (_, out) = self.packet(syn());
        let t = ask_policy(&out);
        self.policy(t, d)
    }

    /// SYN → needs DPI, then a payload packet classified DONE and decided `d`.
    fn decided_by_app(&mut self, d: pb::Decision) -> Vec<Out> {
        let (_, out) = self.packet(syn());
        let t = ask_policy(&out);
        let out = self.policy(t, needs_dpi(1));
        assert!(
            matches!(
                out[..],
                [Out::Verdict {
                    why: Why::Provisional,
                    ..
                }]
            ),
            "{out:?}"
        );
        let (_, out) = self.packet(data());
        let t = ask_classifier(&out);
        let out = self.classifier(
            t,
            classified(pb::ClassifyState::Done, 124, pb::Confidence::Dpi),
        );
        let t = ask_policy(&out);
        self.policy(t, d)
    }
}

fn ask_policy(out: &[Out]) -> Token {
    match out {
        [Out::Policy(t, _)] => *t,
        _ => panic!("expected one DecideRequest: {out:?}"),
    }
}

fn ask_classifier(out: &[Out]) -> Token {
    match out {
        [Out::Classify(t, _)] => *t,
        _ => panic!("expected one ClassifyRequest: {out:?}"),
    }
}

/// The single verdict in `out` (other steps, such as START, allowed).
fn verdict_of(out: &[Out]) -> (u32, NfVerdict, Option<u32>, Verdict, Why) {
    let v: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            Out::Verdict {
                id,
                nf,
                mark,
                verdict,
                why,
            } => Some((*id, *nf, *mark, *verdict, *why)),
            _ => None,
        })
        .collect();
    assert_eq!(v.len(), 1, "expected one verdict: {out:?}");
    v[0]
}

fn state_of(r: &Rig) -> FlowState {
    let (key, _) = Key::of(&syn().head);
    let slot = r.path.flows().lookup(&key).unwrap();
    r.path.flows().get(slot).unwrap().state()
}

// === the paths ===

#[test]
fn decided_flow_is_answered_inline_without_allocation() {
    let mut r = Rig::new(config(false));
    let out = r.decided_by_tuple(decision(Verdict::Accept, false, 1));
    assert_eq!(verdict_of(&out).4, Why::Decided);
    // Warm up the step queue, then count.
    let _ = r.packet(ack());
    let at = Arrival {
        now: r.now,
        len: 1500,
        mark: 0,
        indev: 2,
        outdev: 3,
    };
    let before = allocations();
    r.path.on_packet(at, Ok(ack()), 99);
    let step = r.path.poll_step();
    let after = allocations();
    assert_eq!(after - before, 0, "the decided fast path allocated");
    match step {
        Some(Step::Verdict(a)) => {
            assert_eq!(a.packet, 99);
            assert_eq!(a.why, Why::Cached);
            assert!(a.batchable);
            assert_eq!(a.applied.verdict, NfVerdict::Accept);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        r.path.poll_step().is_none(),
        "no bus request for a decided flow"
    );
}

#[test]
fn tuple_only_drop_blocks_the_syn() {
    let mut r = Rig::new(config(false));
    let (id, out) = r.packet(syn());
    assert!(
        matches!(out[..], [Out::Policy(_, None)]),
        "tuple only: {out:?}"
    );
    let out = r.policy(ask_policy(&out), decision(Verdict::Drop, false, 1));
    let (vid, nf, mark, v, why) = verdict_of(&out);
    assert_eq!(
        (vid, nf, v, why),
        (id, NfVerdict::Drop, Verdict::Drop, Why::Decided)
    );
    assert_eq!(mark.map(|m| m & 0x3), Some(2), "drop bits in the mark");
    // The retransmitted SYN: the cached drop, no bus.
    let (_, out) = r.packet(syn());
    let (_, nf, _, _, why) = verdict_of(&out);
    assert_eq!((nf, why), (NfVerdict::Drop, Why::Cached));
    assert_eq!(r.stats.get_packets(Verdict::Drop), 2);
}

#[test]
fn need_more_is_a_provisional_accept_at_once() {
    let mut r = Rig::new(config(false));
    let (_, out) = r.packet(syn());
    let out = r.policy(ask_policy(&out), needs_dpi(1));
    let (_, nf, mark, _, why) = verdict_of(&out);
    assert_eq!((nf, mark, why), (NfVerdict::Accept, None, Why::Provisional));
    assert_eq!(state_of(&r), FlowState::Classifying);
    // Packets without payload never wait on DPI.
    let (_, out) = r.packet(synack());
    assert_eq!(verdict_of(&out).4, Why::Provisional);
    let (id, out) = r.packet(data());
    let t = ask_classifier(&out);
    let out = r.classifier(
        t,
        classified(pb::ClassifyState::NeedMore, 0, pb::Confidence::Unknown),
    );
    let (vid, nf, mark, _, why) = verdict_of(&out);
    assert_eq!(
        (vid, nf, mark, why),
        (id, NfVerdict::Accept, None, Why::Provisional)
    );
    assert_eq!(state_of(&r), FlowState::Classifying);
}

#[test]
fn done_decides_on_the_completing_packet() {
    let mut r = Rig::new(config(false));
    let (_, out) = r.packet(syn());
    r.policy(ask_policy(&out), needs_dpi(1));
    let (id, out) = r.packet(data());
    let Out::Classify(t, ask) = &out[0] else {
        panic!("{out:?}")
    };
    assert!(ask.from_client);
    assert_eq!(ask.packet_index, 2, "the capture's packet count");
    let out = r.classifier(
        *t,
        classified(pb::ClassifyState::Done, 124, pb::Confidence::Dpi),
    );
    let [Out::Policy(t, Some(class))] = &out[..] else {
        panic!("{out:?}")
    };
    assert_eq!((class.app_id, class.master_id), (124, 91));
    assert_eq!(class.host, "www.example.com");
    let out = r.policy(*t, decision(Verdict::Reject, true, 1));
    let (vid, _, mark, v, why) = verdict_of(&out);
    assert_eq!((vid, v, why), (id, Verdict::Reject, Why::Decided));
    assert_eq!(
        mark.map(|m| Mark(m).field(0xffff_0000)),
        Some(124),
        "app id in the mark"
    );
    assert!(
        out.iter().any(|o| matches!(o, Out::Start)),
        "START at the decision"
    );
    assert!(matches!(state_of(&r), FlowState::Decided(c) if c.classified && c.app == 124));
}

#[test]
fn gave_up_decides_with_the_port_guess() {
    let mut r = Rig::new(config(false));
    let (_, out) = r.packet(syn());
    r.policy(ask_policy(&out), needs_dpi(1));
    let (_, out) = r.packet(data());
    let t = ask_classifier(&out);
    let out = r.classifier(
        t,
        classified(pb::ClassifyState::GaveUp, 7, pb::Confidence::Port),
    );
    let [Out::Policy(t, Some(class))] = &out[..] else {
        panic!("{out:?}")
    };
    assert_eq!(class.confidence, pb::Confidence::Port as i32);
    assert_eq!(class.app_id, 7);
    let out = r.policy(*t, decision(Verdict::Accept, false, 1));
    assert_eq!(verdict_of(&out).4, Why::Decided);
    assert!(state_of(&r).is_decided());
}

#[test]
fn timeout_gives_default_verdict_and_is_not_cached() {
    let mut cfg = config(false);
    cfg.default_verdict = Verdict::Drop;
    let mut r = Rig::new(cfg);
    let (id, out) = r.packet(syn());
    let _t = ask_policy(&out);
    // Before the deadline (plus grace) nothing is answered.
    assert!(r.tick(TIMEOUT).is_empty());
    let out = r.tick(TICK);
    let (vid, nf, mark, v, why) = verdict_of(&out);
    assert_eq!(
        (vid, nf, mark),
        (id, NfVerdict::Drop, None),
        "default verdict, unmarked"
    );
    assert_eq!((v, why), (Verdict::Drop, Why::Default(FailReason::Timeout)));
    assert_eq!(
        state_of(&r),
        FlowState::New { midstream: false },
        "not cached"
    );
    // A timeout means slow peers: new flows bypass them for a moment, then the next packet asks again.
    let (_, out) = r.packet(syn());
    assert_eq!(verdict_of(&out).4, Why::Default(FailReason::Overload));
    r.now += OVERLOAD_HOLD;
    let (_, out) = r.packet(syn());
    ask_policy(&out);
}

#[test]
fn a_late_reply_after_the_deadline_is_ignored() {
    let mut r = Rig::new(config(false));
    let (_, out) = r.packet(syn());
    let t = ask_policy(&out);
    let out = r.tick(TIMEOUT + TICK);
    assert_eq!(verdict_of(&out).4, Why::Default(FailReason::Timeout));
    assert!(r.policy(t, decision(Verdict::Drop, false, 1)).is_empty());
}

#[test]
fn open_breaker_gives_default_verdict_at_once() {
    let mut r = Rig::new(config(false));
    let (id, out) = r.packet(syn());
    let t = ask_policy(&out);
    r.path.on_policy_reply(r.now, t, Err(FailReason::PeerDown));
    let out = r.steps();
    let (vid, nf, _, _, why) = verdict_of(&out);
    assert_eq!(
        (vid, nf, why),
        (id, NfVerdict::Accept, Why::Default(FailReason::PeerDown))
    );
    assert!(!state_of(&r).is_decided(), "fail-open is never cached");
    // A failed decide with a classification: the next packet asks again with it.
    let mut r = Rig::new(config(false));
    let (_, out) = r.packet(syn());
    r.policy(ask_policy(&out), needs_dpi(1));
    let (_, out) = r.packet(data());
    let out = r.classifier(
        ask_classifier(&out),
        classified(pb::ClassifyState::Done, 124, pb::Confidence::Dpi),
    );
    let t = ask_policy(&out);
    // Meanwhile a packet is let through: the decide request is in flight.
    let (_, out) = r.packet(reply_data());
    assert_eq!(verdict_of(&out).4, Why::Provisional);
    r.path.on_policy_reply(r.now, t, Err(FailReason::Timeout));
    r.steps();
    let (_, out) = r.packet(data());
    assert!(
        matches!(&out[..], [Out::Policy(_, Some(c))] if c.app_id == 124),
        "{out:?}"
    );
}

#[test]
fn full_pending_table_gives_default_verdict() {
    let mut cfg = config(false);
    cfg.max_pending = 1;
    let mut r = Rig::new(cfg);
    let (_, out) = r.packet(syn());
    ask_policy(&out);
    let (id, out) = r.packet(seen("10.0.0.3:40000", S, IPPROTO_TCP, SYN, false));
    let (vid, _, _, _, why) = verdict_of(&out);
    assert_eq!((vid, why), (id, Why::Default(FailReason::PendingFull)));
}

#[test]
fn new_epoch_re_decides_cached_flows_without_dpi() {
    let mut r = Rig::new(config(false));
    r.decided_by_app(decision(Verdict::Accept, false, 1));
    r.path.on_policy_changed(2);
    let (id, out) = r.packet(data());
    let [Out::Policy(t, Some(class))] = &out[..] else {
        panic!("re-decided with the classification: {out:?}")
    };
    assert_eq!(class.app_id, 124);
    let out = r.policy(*t, decision(Verdict::Drop, false, 2));
    let (vid, _, _, v, why) = verdict_of(&out);
    assert_eq!((vid, v, why), (id, Verdict::Drop, Why::Decided));
    let (_, out) = r.packet(data());
    assert_eq!(verdict_of(&out).3, Verdict::Drop);
    // A tuple-decided flow is re-decided by its tuple.
    let mut r = Rig::new(config(false));
    r.decided_by_tuple(decision(Verdict::Accept, false, 1));
    r.path.on_policy_changed(2);
    let (_, out) = r.packet(ack());
    assert!(matches!(out[..], [Out::Policy(_, None)]), "{out:?}");
}

#[test]
fn a_decision_of_an_older_epoch_is_used_once_not_cached() {
    let mut r = Rig::new(config(false));
    r.path.on_policy_changed(5);
    let (id, out) = r.packet(syn());
    let out = r.policy(ask_policy(&out), decision(Verdict::Drop, false, 4));
    let (vid, _, _, v, _) = verdict_of(&out);
    assert_eq!((vid, v), (id, Verdict::Drop));
    assert!(!state_of(&r).is_decided());
    assert_eq!(r.stats.stale_decisions.load(Relaxed), 1);
}

#[test]
fn midstream_flow_keeps_midstream_verdict_across_epochs() {
    let mut cfg = config(false);
    cfg.midstream_verdict = Verdict::Drop;
    let mut r = Rig::new(cfg);
    let (id, out) = r.packet(ack());
    let (vid, nf, mark, v, why) = verdict_of(&out);
    assert_eq!(
        (vid, nf, mark, v, why),
        (id, NfVerdict::Drop, None, Verdict::Drop, Why::Midstream)
    );
    assert!(out.iter().any(|o| matches!(o, Out::Start)));
    r.path.on_policy_changed(2);
    let (_, out) = r.packet(data());
    let t = ask_policy(&out);
    // No tuple rule decides it: it keeps midstream_verdict, and no DPI starts.
    let out = r.policy(t, needs_dpi(2));
    assert_eq!(verdict_of(&out).4, Why::Midstream);
    assert!(matches!(state_of(&r), FlowState::Decided(c) if c.midstream));
    let (_, out) = r.packet(data());
    let (_, nf, _, _, why) = verdict_of(&out);
    assert_eq!((nf, why), (NfVerdict::Drop, Why::Cached));
}

#[test]
fn midstream_dpi_treats_a_flow_without_syn_as_new() {
    let mut cfg = config(false);
    cfg.midstream_dpi = true;
    let mut r = Rig::new(cfg);
    let (_, out) = r.packet(data());
    let out = r.policy(ask_policy(&out), needs_dpi(1));
    assert!(
        matches!(out[..], [Out::Classify(..)]),
        "DPI from the first payload: {out:?}"
    );
}

#[test]
fn midstream_flow_recovers_verdict_and_app_from_the_connmark() {
    let mut r = Rig::new(config(true));
    // What nfguard's chain restores: verdict drop (2), app 124 in the high half, a foreign bit.
    let mark = 0x007c_0102;
    let (id, out) = r.packet_with_mark(ack(), mark);
    let (vid, nf, m, v, why) = verdict_of(&out);
    assert_eq!(
        (vid, nf, m, v, why),
        (
            id,
            NfVerdict::Drop,
            Some(mark),
            Verdict::Drop,
            Why::Recovered
        )
    );
    assert!(matches!(state_of(&r), FlowState::Decided(c) if c.app == 124 && !c.offload));
    assert_eq!(r.stats.recovered_flows.load(Relaxed), 1);
    // App bits only (a new epoch cleared the verdict): decided again without DPI.
    let mut r = Rig::new(config(true));
    let (_, out) = r.packet_with_mark(ack(), 0x007c_0000);
    let [Out::Policy(_, Some(c))] = &out[..] else {
        panic!("{out:?}")
    };
    assert_eq!(
        (c.app_id, c.confidence),
        (124, pb::Confidence::Connmark as i32)
    );
}

#[test]
fn eviction_prefers_undecided_flows() {
    let mut cfg = config(false);
    cfg.flow_table_size = 2;
    let mut r = Rig::new(cfg);
    r.decided_by_tuple(decision(Verdict::Accept, false, 1));
    let undecided = seen("10.0.0.9:40000", S, IPPROTO_TCP, SYN, false);
    let (_, out) = r.packet(undecided);
    ask_policy(&out);
    let (_, out) = r.packet(seen("10.0.0.8:40000", S, IPPROTO_TCP, SYN, false));
    // The undecided flow went, on record as evicted; the decided one stays.
    assert!(
        matches!(&out[0], Out::Ended(Some(e)) if e.end_reason == "evicted" && e.verdict == "undecided"),
        "{out:?}"
    );
    assert!(state_of(&r).is_decided());
    let (key, _) = Key::of(&undecided.head);
    assert!(r.path.flows().lookup(&key).is_none());
}

#[test]
fn offload_repeats_with_bits_and_no_offload_accepts_with_mark() {
    for (offload_cfg, offload_rule, nf) in [
        (true, true, NfVerdict::Repeat),
        (true, false, NfVerdict::Accept),
        (false, true, NfVerdict::Accept),
    ] {
        let mut r = Rig::new(config(offload_cfg));
        let out = r.decided_by_tuple(decision(Verdict::Accept, offload_rule, 1));
        let (_, got, mark, _, _) = verdict_of(&out);
        assert_eq!(got, nf, "offload {offload_cfg}/{offload_rule}");
        assert_eq!(mark.map(|m| m & 0x3), Some(1), "pass bits");
        let (_, out) = r.packet(ack());
        assert_eq!(verdict_of(&out).1, nf, "cached");
    }
}

#[test]
fn reject_without_the_chain_is_a_counted_drop() {
    let mut r = Rig::new(config(false));
    let out = r.decided_by_tuple(decision(Verdict::Reject, true, 1));
    let (_, nf, _, v, _) = verdict_of(&out);
    assert_eq!((nf, v), (NfVerdict::Drop, Verdict::Reject));
    let (_, out) = r.packet(ack());
    assert_eq!(verdict_of(&out).1, NfVerdict::Drop);
    assert_eq!(r.stats.degraded_rejects.load(Relaxed), 2);
    let mut r = Rig::new(config(true));
    let out = r.decided_by_tuple(decision(Verdict::Reject, true, 1));
    assert_eq!(verdict_of(&out).1, NfVerdict::Repeat);
    assert_eq!(r.stats.degraded_rejects.load(Relaxed), 0);
}

#[test]
fn sigterm_releases_held_packets_and_answers_without_the_bus() {
    let mut r = Rig::new(config(false));
    r.decided_by_tuple(decision(Verdict::Drop, false, 1));
    let other = seen("10.0.0.3:40000", S, IPPROTO_TCP, SYN, false);
    let (held, out) = r.packet(other);
    ask_policy(&out);
    r.path.begin_stop();
    let out = r.steps();
    let (vid, _, _, _, why) = verdict_of(&out);
    assert_eq!((vid, why), (held, Why::Default(FailReason::Shutdown)));
    assert_eq!(r.path.held_len(), 0);
    // Undecided flows get the default at once, decided ones their verdict.
    let (_, out) = r.packet(other);
    assert_eq!(verdict_of(&out).4, Why::Default(FailReason::Shutdown));
    let (_, out) = r.packet(ack());
    assert_eq!(verdict_of(&out).3, Verdict::Drop);
    let (released, flows) = r.path.shutdown(r.now);
    assert_eq!((released, flows), (1, 2));
    let mut ends: Vec<_> = r
        .steps()
        .into_iter()
        .filter_map(|o| match o {
            Out::Ended(Some(e)) => Some((e.verdict, e.end_reason)),
            _ => None,
        })
        .collect();
    ends.sort();
    // The started flow's END, and the undecided one on record with why its packets passed.
    assert_eq!(
        ends,
        [
            ("drop".to_string(), "shutdown".to_string()),
            ("undecided".to_string(), "fail_open:shutdown".to_string())
        ]
    );
}

#[test]
fn icmp_is_classified_by_its_protocol_and_critical_icmpv6_passes() {
    let mut r = Rig::new(config(false));
    let (_, out) = r.packet(seen("10.0.0.2:0", "10.0.1.2:0", IPPROTO_ICMP, 0, true));
    let out = r.policy(ask_policy(&out), needs_dpi(1));
    let [Out::Policy(_, Some(c))] = &out[..] else {
        panic!("{out:?}")
    };
    assert_eq!(c.app_id, u32::from(ip_protocol_app(IPPROTO_ICMP)));
    assert_ne!(c.app_id, 0);
    let mut ns = seen(
        "[fe80::1]:0",
        "[fe80::2]:0",
        nfguard_proto::types::IPPROTO_ICMPV6,
        0,
        true,
    );
    ns.head.icmp_type = 135;
    let (_, out) = r.packet(ns);
    assert_eq!(verdict_of(&out).4, Why::Critical);
}

#[test]
fn ip_protocols_have_their_ndpi_names() {
    let name = |l4| nfguard_proto::AppId(ip_protocol_app(l4)).name();
    assert_eq!(
        [1, 58, 2, 50, 51, 47, 132].map(name),
        ["ICMP", "ICMPV6", "IGMP", "IPSec", "IPSec", "GRE", "Unknown"]
    );
}

#[test]
fn undecodable_packet_gets_default_verdict() {
    let mut r = Rig::new(config(false));
    let at = Arrival {
        now: r.now,
        len: 10,
        mark: 0,
        indev: 0,
        outdev: 0,
    };
    r.path.on_packet(at, Err(DecodeError::BadTransport), 5);
    let out = r.steps();
    assert_eq!(
        verdict_of(&out).4,
        Why::Undecodable(DecodeError::BadTransport)
    );
}

// === property: every held packet gets exactly one verdict, by its deadline plus one tick ===

#[derive(Debug, Clone)]
enum Op {
    Packet { flow: u8, kind: u8 },
    PolicyReply { pick: u8, what: u8 },
    ClassifierReply { pick: u8, what: u8 },
    Advance { ms: u8 },
    PolicyChanged,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..6, 0u8..5).prop_map(|(flow, kind)| Op::Packet { flow, kind }),
        3 => (any::<u8>(), 0u8..6).prop_map(|(pick, what)| Op::PolicyReply { pick, what }),
        3 => (any::<u8>(), 0u8..4).prop_map(|(pick, what)| Op::ClassifierReply { pick, what }),
        2 => (0u8..60).prop_map(|ms| Op::Advance { ms }),
        1 => Just(Op::PolicyChanged),
    ]
}

fn flow_packet(flow: u8, kind: u8) -> Seen {
    let c = format!("10.0.0.{}:{}", 2 + flow, 40000 + u16::from(flow));
    let s = "10.0.1.2:443";
    match kind {
        0 => seen(&c, s, IPPROTO_TCP, SYN, false),
        1 => seen(s, &c, IPPROTO_TCP, SYN | ACK, false),
        2 => seen(&c, s, IPPROTO_TCP, ACK | PSH, true),
        3 => seen(s, &c, IPPROTO_TCP, ACK | PSH, true),
        _ => seen(&c, "10.0.1.2:53", IPPROTO_UDP, 0, true),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn every_packet_gets_exactly_one_verdict_in_time(ops in proptest::collection::vec(op(), 1..120)) {
        let mut cfg = config(true);
        cfg.max_pending = 6;
        cfg.flow_table_size = 5;
        let mut r = Rig::new(cfg);
        let mut epoch = 1u64;
        // Per packet id: its deadline, and how many verdicts it got.
        let mut sent: std::collections::HashMap<u32, (Instant, u32)> = Default::default();
        let mut policy_asks: Vec<Token> = Vec::new();
        let mut class_asks: Vec<Token> = Vec::new();
        let mut last_tick = r.now;
        let record = |r: &mut Rig, out: Vec<Out>, sent: &mut std::collections::HashMap<u32, (Instant, u32)>,
                          pa: &mut Vec<Token>, ca: &mut Vec<Token>| {
            for o in out {
                match o {
                    Out::Verdict { id, .. } => {
                        let e = sent.get_mut(&id).expect("a verdict for a packet never sent");
                        e.1 += 1;
                        assert!(r.now <= e.0 + DEADLINE_GRACE + TICK, "packet {id} answered late");
                    }
                    Out::Policy(t, _) => pa.push(t),
                    Out::Classify(t, _) => ca.push(t),
                    _ => {}
                }
            }
        };
        for op in ops {
            match op {
                Op::Packet { flow, kind } => {
                    let id = r.next;
                    sent.insert(id, (r.now + TIMEOUT, 0));
                    let (_, out) = r.packet(flow_packet(flow, kind));
                    record(&mut r, out, &mut sent, &mut policy_asks, &mut class_asks);
                }
                Op::PolicyReply { pick, what } if !policy_asks.is_empty() => {
                    let t = policy_asks.swap_remove(usize::from(pick) % policy_asks.len());
                    let reply = match what {
                        0 => Ok(needs_dpi(epoch)),
                        1 => Ok(decision(Verdict::Accept, true, epoch)),
                        2 => Ok(decision(Verdict::Drop, false, epoch)),
                        3 => Ok(decision(Verdict::Reject, true, epoch.saturating_sub(1))),
                        4 => Err(FailReason::Timeout),
                        _ => Err(FailReason::PeerDown),
                    };
                    r.path.on_policy_reply(r.now, t, reply);
                    let out = r.steps();
                    record(&mut r, out, &mut sent, &mut policy_asks, &mut class_asks);
                }
                Op::ClassifierReply { pick, what } if !class_asks.is_empty() => {
                    let t = class_asks.swap_remove(usize::from(pick) % class_asks.len());
                    let reply = match what {
                        0 => Ok(classified(pb::ClassifyState::NeedMore, 0, pb::Confidence::Unknown)),
                        1 => Ok(classified(pb::ClassifyState::Done, 124, pb::Confidence::Dpi)),
                        2 => Ok(classified(pb::ClassifyState::GaveUp, 0, pb::Confidence::Port)),
                        _ => Err(FailReason::Overloaded),
                    };
                    r.path.on_classifier_reply(r.now, t, reply);
                    let out = r.steps();
                    record(&mut r, out, &mut sent, &mut policy_asks, &mut class_asks);
                }
                Op::Advance { ms } => {
                    // Ticks come every 100 ms exactly; time moves in smaller steps in between.
                    let target = r.now + Duration::from_millis(u64::from(ms));
                    while last_tick + TICK <= target {
                        last_tick += TICK;
                        r.now = last_tick;
                        let out = r.tick(Duration::ZERO);
                        record(&mut r, out, &mut sent, &mut policy_asks, &mut class_asks);
                    }
                    r.now = target;
                }
                Op::PolicyChanged => {
                    epoch += 1;
                    r.path.on_policy_changed(epoch);
                }
                _ => {}
            }
        }
        // Let every deadline pass (the last packet's is less than a tick away): whatever is still
        // held is answered by the ticks.
        for _ in 0..2 {
            last_tick += TICK;
            r.now = last_tick;
            let out = r.tick(Duration::ZERO);
            record(&mut r, out, &mut sent, &mut policy_asks, &mut class_asks);
        }
        for (id, (_, n)) in &sent {
            prop_assert_eq!(*n, 1, "packet {} got {} verdicts", id, n);
        }
        prop_assert_eq!(r.path.held_len(), 0);
    }
}

#[test]
fn a_step_is_small_to_move() {
    // The fast path moves one step through the queue per packet: the large, rare ones are boxed.
    assert!(
        std::mem::size_of::<Step<u64>>() <= 64,
        "{}",
        std::mem::size_of::<Step<u64>>()
    );
}

// === every flow on record ===

const UNIX0: u64 = 1_700_000_000_000;

/// Ticks every 100 ms for `secs` with a wall clock that moves with `now`; returns the END events.
fn expire_all(r: &mut Rig, t0: Instant, secs: u64) -> Vec<pb::FlowEvent> {
    let mut ends = Vec::new();
    for _ in 0..secs * 10 {
        r.now += TICK;
        let unix = UNIX0 + u64::try_from((r.now - t0).as_millis()).unwrap();
        r.path.on_tick(r.now, unix);
        for o in r.steps() {
            if let Out::Ended(Some(e)) = o {
                ends.push(*e);
            }
        }
    }
    ends
}

#[test]
fn one_packet_flows_are_recorded_when_they_expire() {
    let mut r = Rig::new(config(true));
    let t0 = r.now;
    // A UDP packet to DNS's port whose payload DPI cannot place, and a SYN nobody answers: both
    // are let through undecided and never get a START.
    let (_, out) = r.packet(seen("10.0.0.2:40000", "10.0.1.2:53", IPPROTO_UDP, 0, true));
    let out = r.policy(ask_policy(&out), needs_dpi(1));
    let out = r.classifier(
        ask_classifier(&out),
        classified(pb::ClassifyState::NeedMore, 0, pb::Confidence::Unknown),
    );
    assert_eq!(verdict_of(&out).4, Why::Provisional);
    let (_, out) = r.packet(syn());
    let out = r.policy(ask_policy(&out), needs_dpi(1));
    assert_eq!(verdict_of(&out).4, Why::Provisional);
    let mut ends = expire_all(&mut r, t0, 20);
    ends.sort_by_key(|e| e.label.clone());
    let summary: Vec<_> = ends
        .iter()
        .map(|e| (e.label.as_str(), e.verdict.as_str(), e.end_reason.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            ("DNS", "undecided", "undecided"),
            ("TLS", "undecided", "undecided")
        ]
    );
    for e in &ends {
        assert_eq!(e.kind, pb::FlowEventKind::FlowEventEnd as i32);
        assert_eq!((e.packets_c2s, e.bytes_c2s, e.packets_s2c), (1, 100, 0));
        let c = e.classification.as_ref().unwrap();
        assert_eq!(c.confidence, pb::Confidence::Port as i32);
        assert!(e.tuple.is_some() && e.flow.is_some());
        // First and last seen are the packet's time (to the second), not the expiry 15 s later.
        assert!(e.first_seen_unix_ms.abs_diff(UNIX0) < 1000, "{e:?}");
        assert!(
            e.last_seen_unix_ms >= e.first_seen_unix_ms && e.last_seen_unix_ms < UNIX0 + 1000,
            "{e:?}"
        );
    }
    assert_eq!(r.stats.flows_undecided.load(Relaxed), 2);
    assert_eq!(r.stats.flows_new.load(Relaxed), 2);
}

#[test]
fn a_flow_given_the_default_verdict_is_recorded_with_why() {
    let mut r = Rig::new(config(true));
    let t0 = r.now;
    let (_, out) = r.packet(seen("10.0.0.2:40000", "10.0.1.2:9", IPPROTO_UDP, 0, true));
    ask_policy(&out);
    assert_eq!(
        verdict_of(&r.tick(TIMEOUT + TICK)).4,
        Why::Default(FailReason::Timeout)
    );
    let ends = expire_all(&mut r, t0, 20);
    assert_eq!(ends.len(), 1, "{ends:?}");
    let e = &ends[0];
    assert_eq!(
        (e.label.as_str(), e.verdict.as_str(), e.end_reason.as_str()),
        ("Unknown", "undecided", "fail_open:timeout")
    );
}

#[test]
fn undecided_records_are_bounded_and_the_rest_counted() {
    let mut cfg = config(true);
    cfg.flow_table_size = 16;
    cfg.max_pending = 1;
    let mut r = Rig::new(cfg);
    // Each new flow evicts an undecided one once the table is full: one record each, up to the
    // per-second budget.
    let flows = MAX_UNDECIDED_RECORDS_PER_S as usize + 16 + 100;
    let mut recorded = 0;
    for i in 0..flows {
        let src = format!("10.{}.{}.{}:4000", i >> 16, (i >> 8) & 0xff, i & 0xff);
        let (_, out) = r.packet(seen(&src, "10.0.1.2:9", IPPROTO_UDP, 0, true));
        recorded += out
            .iter()
            .filter(|o| matches!(o, Out::Ended(Some(_))))
            .count();
    }
    let evicted = (flows - 16) as u64;
    assert_eq!(r.stats.flows_undecided.load(Relaxed), evicted);
    assert_eq!(recorded, MAX_UNDECIDED_RECORDS_PER_S as usize);
    assert_eq!(r.stats.flows_unrecorded.load(Relaxed), 100);
    // The budget comes back with time.
    r.tick(TICK);
    let (_, out) = r.packet(seen("10.99.0.1:4000", "10.0.1.2:9", IPPROTO_UDP, 0, true));
    assert!(
        out.iter().any(|o| matches!(o, Out::Ended(Some(_)))),
        "{out:?}"
    );
}

// === overload ===

#[test]
fn slow_peers_make_new_flows_bypass_and_decided_flows_keep_their_verdict() {
    for (overload, bypass) in [(Overload::BypassNew, true), (Overload::Ask, false)] {
        let mut cfg = config(false);
        cfg.overload = overload;
        let mut r = Rig::new(cfg);
        r.decided_by_tuple(decision(Verdict::Drop, false, 1));
        // A new flow whose decision takes 20 ms of its 25: the peers are slow.
        let other = seen("10.0.0.3:40000", S, IPPROTO_TCP, SYN, false);
        let (_, out) = r.packet(other);
        let t = ask_policy(&out);
        r.now += Duration::from_millis(20);
        assert_eq!(
            verdict_of(&r.policy(t, decision(Verdict::Accept, false, 1))).4,
            Why::Decided
        );
        let third = seen("10.0.0.4:40000", S, IPPROTO_TCP, SYN, false);
        let (id, out) = r.packet(third);
        if bypass {
            let (vid, nf, mark, v, why) = verdict_of(&out);
            assert_eq!(
                (vid, nf, mark, v, why),
                (
                    id,
                    NfVerdict::Accept,
                    None,
                    Verdict::Accept,
                    Why::Default(FailReason::Overload)
                )
            );
            assert!(out.iter().all(|o| !matches!(o, Out::Policy(..))));
        } else {
            ask_policy(&out);
        }
        // Decided flows keep their verdicts meanwhile.
        let (_, out) = r.packet(ack());
        assert_eq!(verdict_of(&out).3, Verdict::Drop);
        // After the hold a new flow probes the peers again.
        r.now += OVERLOAD_HOLD;
        let (_, out) = r.packet(seen("10.0.0.5:40000", S, IPPROTO_TCP, SYN, false));
        ask_policy(&out);
        let overloads = u64::from(bypass);
        assert_eq!(
            r.stats.fail_open_count(FailReason::Overload),
            overloads,
            "{overload:?}"
        );
    }
}
