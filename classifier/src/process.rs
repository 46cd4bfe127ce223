//! The classifier process (feature `process`): a ROUTER on `classifier.sock` answers
//! `ClassifyRequest`s with the engine. A bus-reader actor turns the socket into a stream
//! (`ctx.add_stream`) and forwards each request to the DPI actor with `try_send`; a full DPI
//! mailbox (`DPI_MAILBOX`) is an overload, counted and not answered (the capture's deadline
//! applies its default verdict). Flow state is keyed by (queue, boot id, flow id) and forgotten
//! after `classifier.flow_idle_timeout`. Metrics go out every second on `metrics-classifier.sock`.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use nfguard_proto::bus::{BusError, Incoming, Replier, RpcServer};
use nfguard_proto::config::Config;
use nfguard_proto::metrics::SnapshotBuilder;
use nfguard_proto::pb;
use nfguard_proto::process::{endpoints, spawn_metrics};
use nfguard_proto::types::ip_from_bytes;

use crate::engine::{Engine, EngineConfig, FlowState, PacketView, State};

/// Requests queued for the DPI actor before new ones count as overload.
pub const DPI_MAILBOX: usize = 1024;
/// How often idle flows are swept.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("bus: {0}")]
    Bus(#[from] BusError),
    #[error("{0}")]
    Confine(#[from] crate::seccomp::SeccompError),
}

/// Counters published in the metrics snapshot.
#[derive(Debug, Default)]
pub struct Counters {
    pub requests: AtomicU64,
    pub need_more: AtomicU64,
    pub done: AtomicU64,
    pub gave_up: AtomicU64,
    pub expired: AtomicU64,
    pub overloads: AtomicU64,
    pub malformed: AtomicU64,
    pub flows: AtomicU64,
    /// Classified flows by label; bounded by the protocol table's labels.
    pub by_label: Mutex<HashMap<String, u64>>,
}

impl Counters {
    fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Writes every counter into a snapshot.
    pub fn report(&self, b: &mut SnapshotBuilder) {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        b.counter("nfguard_classify_requests_total", &[], g(&self.requests));
        for (state, c) in [
            ("need_more", &self.need_more),
            ("done", &self.done),
            ("gave_up", &self.gave_up),
        ] {
            b.counter("nfguard_classify_replies_total", &[("state", state)], g(c));
        }
        b.counter(
            "nfguard_classify_dropped_total",
            &[("reason", "expired")],
            g(&self.expired),
        );
        b.counter(
            "nfguard_classify_dropped_total",
            &[("reason", "overload")],
            g(&self.overloads),
        );
        b.counter(
            "nfguard_classify_dropped_total",
            &[("reason", "malformed")],
            g(&self.malformed),
        );
        b.gauge("nfguard_classifier_flows", &[], g(&self.flows) as f64);
        // The lock is never held across an await: std Mutex is fine.
        if let Ok(m) = self.by_label.lock() {
            for (label, n) in m.iter() {
                b.counter("nfguard_flows_total", &[("app", label)], *n);
            }
        }
    }
}

type Request = Incoming<pb::ClassifyRequest>;

#[derive(Message)]
#[rtype(result = "()")]
struct Work(Request);

/// The DPI actor: owns the engine and every flow's state.
struct Dpi {
    engine: Engine,
    flows: HashMap<(u32, u64, u64), (FlowState, Instant)>,
    idle: Duration,
    replier: Replier<pb::ClassifyReply>,
    counters: Arc<Counters>,
    /// Capture clock (µs) ↔ our monotonic clock: the engine needs an `Instant`.
    epoch: Instant,
}

impl Actor for Dpi {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(DPI_MAILBOX);
        ctx.run_interval(SWEEP_INTERVAL, |act, _| {
            let now = Instant::now();
            let idle = act.idle;
            act.flows
                .retain(|_, (_, last)| now.duration_since(*last) < idle);
            act.counters
                .flows
                .store(act.flows.len() as u64, Ordering::Relaxed);
        });
    }
}

impl Handler<Work> for Dpi {
    type Result = ();

    fn handle(&mut self, Work(req): Work, _ctx: &mut Context<Self>) {
        if req.expired() {
            Counters::bump(&self.counters.expired);
            return;
        }
        let body = &req.body;
        let (Some(flow), Some(t)) = (body.flow.as_ref(), body.tuple.as_ref()) else {
            Counters::bump(&self.counters.malformed);
            return;
        };
        let (Some(cip), Some(sip), Ok(cport), Ok(sport), Ok(l4)) = (
            ip_from_bytes(&t.client_ip),
            ip_from_bytes(&t.server_ip),
            u16::try_from(t.client_port),
            u16::try_from(t.server_port),
            u8::try_from(t.l4),
        ) else {
            Counters::bump(&self.counters.malformed);
            return;
        };
        let now = Instant::now();
        let key = (flow.queue, flow.boot_id, flow.flow_id);
        let entry = self
            .flows
            .entry(key)
            .or_insert_with(|| (FlowState::new(), now));
        entry.1 = now;
        let pkt = PacketView {
            l4,
            client: SocketAddr::new(cip, cport),
            server: SocketAddr::new(sip, sport),
            from_client: body.from_client,
            payload: &body.payload,
            tcp_seq: body.tcp_seq,
            tcp_syn: body.tcp_flags & 0x02 != 0,
        };
        let at = self
            .epoch
            .checked_add(Duration::from_micros(body.time_us))
            .unwrap_or(now);
        // `classifier.max_dpi_packets` is the engine's alone (payload packets inspected); the
        // request's `packet_index` is the capture's own count and does not end DPI here.
        let c = self.engine.classify(&mut entry.0, &pkt, at.max(now));
        let state = match c.state {
            State::NeedMore => {
                Counters::bump(&self.counters.need_more);
                pb::ClassifyState::NeedMore
            }
            State::Done => {
                Counters::bump(&self.counters.done);
                pb::ClassifyState::Done
            }
            State::GaveUp => {
                Counters::bump(&self.counters.gave_up);
                pb::ClassifyState::GaveUp
            }
        };
        if c.state != State::NeedMore {
            self.flows.remove(&key);
            if let Ok(mut m) = self.counters.by_label.lock() {
                *m.entry(c.label()).or_insert(0) += 1;
            }
        }
        let reply = pb::ClassifyReply {
            flow: Some(*flow),
            state: state as i32,
            classification: Some(c.to_pb()),
        };
        self.replier.reply(&req.reply_to, req.id, &reply);
    }
}

/// The bus reader: a stream of requests in, `try_send` to the DPI actor.
struct Reader {
    dpi: Addr<Dpi>,
    counters: Arc<Counters>,
}

impl Actor for Reader {
    type Context = Context<Self>;
}

impl StreamHandler<Request> for Reader {
    fn handle(&mut self, req: Request, _ctx: &mut Context<Self>) {
        Counters::bump(&self.counters.requests);
        if self.dpi.try_send(Work(req)).is_err() {
            Counters::bump(&self.counters.overloads);
        }
    }
}

/// Runs the classifier until `shutdown` resolves. Must run inside an actix system
/// (`actix_rt::System::new().block_on(run(..))` or `#[actix_rt::test]`).
///
/// # Errors
/// [`ProcessError::Bus`] when an endpoint cannot be bound.
pub async fn run(
    cfg: Config,
    shutdown: impl Future<Output = ()>,
) -> Result<Arc<Counters>, ProcessError> {
    run_confined(cfg, shutdown, || Ok(())).await
}

/// [`run`], calling `confine` once every socket is bound and before the first request is served:
/// the binary installs its seccomp filter there ([`crate::seccomp`]).
///
/// # Errors
/// As [`run`], and [`ProcessError::Confine`] when `confine` fails.
pub async fn run_confined(
    cfg: Config,
    shutdown: impl Future<Output = ()>,
    confine: impl FnOnce() -> Result<(), crate::seccomp::SeccompError>,
) -> Result<Arc<Counters>, ProcessError> {
    let server = RpcServer::<pb::ClassifyRequest, pb::ClassifyReply>::bind(
        &cfg.endpoint(endpoints::CLASSIFIER),
    )
    .await?;
    let counters = Arc::new(Counters::default());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let metrics_counters = counters.clone();
    let mut rx = stop_rx.clone();
    let _metrics = spawn_metrics(
        &cfg,
        "classifier",
        0,
        move |b| metrics_counters.report(b),
        async move {
            let _ = rx.wait_for(|s| *s).await;
        },
    )
    .await?;
    let engine_cfg = EngineConfig {
        max_dpi_packets: u8::try_from(cfg.classifier.max_dpi_packets).unwrap_or(u8::MAX),
        ..EngineConfig::default()
    };
    let dpi = Dpi {
        engine: Engine::new(engine_cfg),
        flows: HashMap::new(),
        idle: cfg.classifier.flow_idle_timeout.0,
        replier: server.replier(),
        counters: counters.clone(),
        epoch: Instant::now(),
    }
    .start();
    confine()?;
    let stream = futures::stream::unfold(server, |mut s| async move {
        match s.recv().await {
            Ok(req) => Some((req, s)),
            Err(_) => None,
        }
    });
    let reader_counters = counters.clone();
    let reader = Reader::create(move |ctx| {
        ctx.add_stream(stream);
        Reader {
            dpi,
            counters: reader_counters,
        }
    });
    tracing::info!(endpoint = %cfg.endpoint(endpoints::CLASSIFIER), "Classifier started.");
    shutdown.await;
    let _ = stop_tx.send(true);
    drop(reader);
    tracing::info!("Classifier stopped.");
    Ok(counters)
}
