//! Shared gateway state: the bus clients (created once per process), the latest `MetricsSnapshot` of
//! every part, the bearer token, and the gateway's own counters.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nfguard_proto::bus::{BusStats, RpcClient, Subscriber};
use nfguard_proto::config::Config;
use nfguard_proto::metrics::SnapshotBuilder;
use nfguard_proto::pb;
use nfguard_proto::process::endpoints;

use crate::GatewayError;
use crate::prom::{self, KernelQueue};

/// A part whose heartbeat arrived within this window counts as up (the supervisor's 3 s).
pub const UP_WINDOW: Duration = Duration::from_secs(3);
/// The kernel's NFQUEUE table.
pub const NFNETLINK_QUEUE: &str = "/proc/net/netfilter/nfnetlink_queue";

/// The latest snapshot of one (part, queue) and when it arrived.
#[derive(Debug, Clone)]
pub struct Seen {
    pub snapshot: pb::MetricsSnapshot,
    pub at: Instant,
}

pub struct AppState {
    pub store: RpcClient<pb::StoreRequest, pb::StoreResponse>,
    pub policy: RpcClient<pb::PolicyRequest, pb::PolicyResponse>,
    /// std Mutex: held only to copy or replace a snapshot, never across an `.await`.
    pub latest: Mutex<HashMap<(String, u32), Seen>>,
    pub token: Option<String>,
    /// Sent with `PutPolicy`; the policy process refuses it without.
    pub bus_secret: Option<nfguard_proto::bus_secret::BusSecret>,
    /// `listen` is not loopback: reads need the token too.
    pub reads_need_token: bool,
    pub started: Instant,
    pub parts: Vec<String>,
    pub queues: Vec<u16>,
    pub nfqueue_path: PathBuf,
    pub sub_stats: Mutex<Option<Arc<BusStats>>>,
    /// Responses by status class: 2xx, 3xx, 4xx, 5xx.
    pub responses: [AtomicU64; 4],
    /// Host headers served (DNS rebinding).
    pub hosts: crate::guard::HostAllowList,
    /// Open connections and `[gateway] max_connections`.
    pub connections: Arc<crate::guard::Connections>,
    pub max_connections: usize,
    /// Connections answered 503 because `max_connections` were open.
    pub over_cap: AtomicU64,
    /// Requests answered 421 for a Host header not in the allow-list.
    pub bad_host: AtomicU64,
}

impl AppState {
    /// # Errors
    /// An unreadable or empty `token_file`.
    pub fn new(cfg: &Config, listen: SocketAddr) -> Result<Self, GatewayError> {
        let token = match &cfg.gateway.token_file {
            None => None,
            Some(p) => {
                let p = if p.is_absolute() {
                    p.clone()
                } else {
                    cfg.base_dir().join(p)
                };
                // Bounded and regular files only, as `nfguard check` read it.
                let t = nfguard_proto::config::read_bounded(&p).map_err(|message| {
                    GatewayError::TokenFile {
                        path: p.display().to_string(),
                        message,
                    }
                })?;
                let t = t.trim().to_string();
                if t.is_empty() {
                    return Err(GatewayError::EmptyToken(p.display().to_string()));
                }
                Some(t)
            }
        };
        let queues: Vec<u16> = cfg.capture.queues.iter().collect();
        let mut parts: Vec<String> = ["supervisor", "store", "policy", "classifier", "conntrack"]
            .iter()
            .map(|s| (*s).to_string())
            .collect();
        parts.extend(queues.iter().map(|q| format!("capture-q{q}")));
        Ok(AppState {
            store: RpcClient::connect(&cfg.endpoint(endpoints::STORE)),
            policy: RpcClient::connect(&cfg.endpoint(endpoints::POLICY)),
            latest: Mutex::new(HashMap::new()),
            token,
            bus_secret: cfg.bus_secret.clone(),
            reads_need_token: !listen.ip().is_loopback(),
            started: Instant::now(),
            parts,
            queues,
            nfqueue_path: PathBuf::from(NFNETLINK_QUEUE),
            sub_stats: Mutex::new(None),
            responses: Default::default(),
            hosts: crate::guard::HostAllowList::new(cfg, listen),
            connections: Arc::default(),
            max_connections: cfg.gateway.max_connections,
            over_cap: AtomicU64::new(0),
            bad_host: AtomicU64::new(0),
        })
    }

    pub fn snapshots(&self) -> Vec<Seen> {
        let map = self
            .latest
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut v: Vec<Seen> = map.values().cloned().collect();
        v.sort_by(|a, b| {
            (&a.snapshot.part, a.snapshot.queue).cmp(&(&b.snapshot.part, b.snapshot.queue))
        });
        v
    }

    fn record(&self, s: pb::MetricsSnapshot) {
        let mut map = self
            .latest
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.insert(
            (s.part.clone(), s.queue),
            Seen {
                snapshot: s,
                at: Instant::now(),
            },
        );
    }

    /// Parts whose heartbeat arrived within [`UP_WINDOW`].
    pub fn up(&self, part: &str) -> bool {
        let map = self
            .latest
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.values()
            .any(|s| s.snapshot.part == part && s.at.elapsed() <= UP_WINDOW)
    }

    pub fn kernel_queues(&self) -> Vec<KernelQueue> {
        std::fs::read_to_string(&self.nfqueue_path)
            .map(|t| prom::parse_nfnetlink_queue(&t))
            .unwrap_or_default()
    }

    pub fn count_response(&self, status: u16) {
        let i = match status {
            200..=299 => 0,
            300..=399 => 1,
            400..=499 => 2,
            _ => 3,
        };
        if let Some(c) = self.responses.get(i) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The gateway's own metrics: process liveness, kernel queue counters, HTTP and bus counters.
    pub fn own_metrics(&self, b: &mut SnapshotBuilder) {
        for part in &self.parts {
            b.gauge(
                "nfguard_process_up",
                &[("part", part)],
                if self.up(part) { 1.0 } else { 0.0 },
            );
        }
        b.gauge("nfguard_process_up", &[("part", "gateway")], 1.0);
        for q in self.kernel_queues() {
            let queue = q.queue.to_string();
            let l = [("queue", queue.as_str())];
            b.gauge("nfguard_kernel_queue_packets", &l, q.queue_total as f64)
                .counter("nfguard_kernel_queue_dropped_total", &l, q.queue_dropped)
                .counter(
                    "nfguard_kernel_queue_user_dropped_total",
                    &l,
                    q.user_dropped,
                );
        }
        for (i, class) in ["2xx", "3xx", "4xx", "5xx"].iter().enumerate() {
            let v = self
                .responses
                .get(i)
                .map_or(0, |c| c.load(Ordering::Relaxed));
            b.counter("nfguard_http_responses_total", &[("code", class)], v);
        }
        b.gauge(
            "nfguard_http_connections",
            &[],
            self.connections.count() as f64,
        )
        .counter(
            "nfguard_http_refused_total",
            &[("reason", "max_connections")],
            self.over_cap.load(Ordering::Relaxed),
        )
        .counter(
            "nfguard_http_refused_total",
            &[("reason", "host")],
            self.bad_host.load(Ordering::Relaxed),
        );
        self.store.stats().report(b, "store");
        self.policy.stats().report(b, "policy");
        if let Some(s) = self
            .sub_stats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
        {
            s.report(b, "metrics");
        }
    }

    /// The full `/metrics` page.
    pub fn render_metrics(&self) -> String {
        let mut b = SnapshotBuilder::new();
        self.own_metrics(&mut b);
        let own = b.finish("gateway", 0, self.started.elapsed().as_secs());
        let seen = self.snapshots();
        let mut all: Vec<prom::Source<'_>> = vec![prom::Source { snapshot: &own }];
        all.extend(
            seen.iter()
                .filter(|s| s.snapshot.part != "gateway")
                .map(|s| prom::Source {
                    snapshot: &s.snapshot,
                }),
        );
        render_with_own(&all)
    }
}

/// Renders the gateway's snapshot (first) and the others, dropping `nfguard_process_up` from others.
fn render_with_own(all: &[prom::Source<'_>]) -> String {
    let Some((own, others)) = all.split_first() else {
        return String::new();
    };
    let filtered: Vec<pb::MetricsSnapshot> = others
        .iter()
        .map(|s| {
            let mut snap = s.snapshot.clone();
            snap.metrics.retain(|m| m.name != "nfguard_process_up");
            snap
        })
        .collect();
    let mut srcs = vec![prom::Source {
        snapshot: own.snapshot,
    }];
    srcs.extend(filtered.iter().map(|s| prom::Source { snapshot: s }));
    prom::render(&srcs, &[])
}

/// Subscribes to every part's `metrics-<part>.sock` and keeps the latest snapshot of each.
pub fn spawn_collector(
    state: Arc<AppState>,
    cfg: &Config,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let eps: Vec<String> = state
        .parts
        .iter()
        .map(|p| cfg.endpoint(&endpoints::metrics(p)))
        .collect();
    let mut sub = Subscriber::connect(&eps);
    *state
        .sub_stats
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(sub.stats());
    tokio::spawn(async move {
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => return,
                m = sub.recv() => match m {
                    Ok(pb::Published { body: Some(pb::published::Body::Metrics(s)), .. }) => state.record(s),
                    Ok(_) => {}
                    Err(_) => return,
                },
            }
        }
    });
}
