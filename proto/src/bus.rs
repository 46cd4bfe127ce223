//! The message bus: every ZeroMQ socket nfguard opens is made here (DESIGN §3).
//!
//! * [`RpcClient`] (DEALER) / [`RpcServer`] (ROUTER): request/reply with request ids and absolute deadlines.
//!   Frames: `[header(16 B: request id, deadline µs since the epoch), protobuf body]`.
//! * [`Publisher`] (PUB) / [`Subscriber`] (SUB): [`pb::Published`] messages carrying (boot id, sequence);
//!   subscribers count gaps.
//!
//! zeromq 0.7's limits shape this module: a DEALER never reconnects after the bound side restarts (the
//! client recreates it), sending with no peer is an error, there is no HWM or timeout option (every wait
//! here has a timeout, every queue is bounded, overflow is counted, never blocking), and a killed process
//! leaves its ipc file behind ([`prepare_ipc`]).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use prost::Message;
use tokio::sync::{mpsc, oneshot};
use zeromq::{Socket, SocketRecv, SocketSend, ZmqMessage};

use crate::metrics::{Histogram, LATENCY_BOUNDS, SnapshotBuilder};
use crate::pb;

/// Requests a client may have in flight; beyond it, calls fail at once with [`BusError::Overloaded`].
pub const MAX_IN_FLIGHT: usize = 8192;
/// Messages queued between a caller and a socket's I/O task.
pub const SOCKET_QUEUE: usize = 4096;
/// A peer that timed out this many times in a row, answering nothing meanwhile, is "down" (DESIGN
/// §2). A request that times out after the peer answered a later-or-equal one is the cost of a busy
/// peer, not a sign of a dead one, and does not count.
pub const BREAKER_TIMEOUTS: u32 = 3;
/// How long a down peer is skipped before it is tried again.
pub const BREAKER_OPEN: Duration = Duration::from_secs(1);
/// One connection attempt of a DEALER or SUB.
const CONNECT_ATTEMPT: Duration = Duration::from_millis(250);
/// Pause between connection attempts.
const RECONNECT_PAUSE: Duration = Duration::from_millis(100);
const HEADER_LEN: usize = 16;
/// How long a caller waits past its deadline for the I/O task's own expiry of the request.
const EXPIRY_GRACE: Duration = Duration::from_millis(5);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusError {
    #[error("no reply before the deadline")]
    Timeout,
    #[error("peer is down (circuit open after {BREAKER_TIMEOUTS} timeouts)")]
    PeerDown,
    #[error("not connected to {0}")]
    NotConnected(String),
    #[error("too many requests in flight")]
    Overloaded,
    #[error("malformed message: {0}")]
    Malformed(&'static str),
    #[error("another live process is bound to {0}")]
    AddressInUse(String),
    #[error("bus endpoint {endpoint}: {message}")]
    Endpoint { endpoint: String, message: String },
    #[error("bus socket closed")]
    Closed,
}

/// Counters every bus user reports in its `MetricsSnapshot`.
#[derive(Debug)]
pub struct BusStats {
    pub sent: AtomicU64,
    pub received: AtomicU64,
    pub timeouts: AtomicU64,
    pub late_replies: AtomicU64,
    pub overflows: AtomicU64,
    pub send_errors: AtomicU64,
    pub reconnects: AtomicU64,
    pub breaker_trips: AtomicU64,
    pub malformed: AtomicU64,
    /// PUB messages a subscriber never saw (sequence gaps).
    pub lost: AtomicU64,
    pub latency: Histogram,
}

impl Default for BusStats {
    fn default() -> Self {
        BusStats {
            sent: AtomicU64::new(0),
            received: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
            late_replies: AtomicU64::new(0),
            overflows: AtomicU64::new(0),
            send_errors: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            breaker_trips: AtomicU64::new(0),
            malformed: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            latency: Histogram::new(LATENCY_BOUNDS),
        }
    }
}

impl BusStats {
    fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds this socket's counters to a snapshot, labelled with `peer` (e.g. `"policy"`).
    pub fn report(&self, b: &mut SnapshotBuilder, peer: &str) {
        let l = [("peer", peer)];
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        b.counter("nfguard_bus_messages_sent_total", &l, get(&self.sent))
            .counter(
                "nfguard_bus_messages_received_total",
                &l,
                get(&self.received),
            )
            .counter("nfguard_bus_timeouts_total", &l, get(&self.timeouts))
            .counter(
                "nfguard_bus_late_replies_total",
                &l,
                get(&self.late_replies),
            )
            .counter("nfguard_bus_overflows_total", &l, get(&self.overflows))
            .counter("nfguard_bus_send_errors_total", &l, get(&self.send_errors))
            .counter("nfguard_bus_reconnects_total", &l, get(&self.reconnects))
            .counter(
                "nfguard_bus_breaker_trips_total",
                &l,
                get(&self.breaker_trips),
            )
            .counter("nfguard_bus_malformed_total", &l, get(&self.malformed));
        b.counter(
            "nfguard_bus_messages_lost_total",
            &[("topic", peer)],
            get(&self.lost),
        );
        if self.latency_recorded() {
            b.histogram("nfguard_bus_request_seconds", &l, &self.latency);
        }
    }

    fn latency_recorded(&self) -> bool {
        self.sent.load(Ordering::Relaxed) > 0 && self.received.load(Ordering::Relaxed) > 0
    }
}

/// Microseconds since the Unix epoch.
pub fn unix_micros(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// A random id for this process's lifetime (publisher boot id, capture boot id).
pub fn new_boot_id() -> u64 {
    rand::random::<u64>() | 1
}

// ------------------------------------------------------------------ ipc files

/// Creates `dir` (and parents) with mode 0700; an existing `dir` must already be a directory of this
/// process's user that no one else may enter — it is never changed (`runtime_dir = "/tmp"` must not
/// make /tmp private, nor a directory of another user ours).
///
/// # Errors
/// The I/O error, or `PermissionDenied` naming what is wrong with an existing `dir`.
pub fn ensure_runtime_dir(dir: &Path) -> io::Result<()> {
    ensure_runtime_dir_for(dir, effective_uid(), None)
}

/// [`ensure_runtime_dir`] for the processes of another user (`nfguard run` as root for its
/// children): a missing `dir` is created mode 0700 and given to `owner` (uid, gid) — its missing
/// parents are created searchable — and an existing one must already belong to `uid`.
///
/// # Errors
/// As [`ensure_runtime_dir`].
pub fn ensure_runtime_dir_for(
    dir: &Path,
    uid: Option<u32>,
    owner: Option<(u32, u32)>,
) -> io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    let refuse = |why: String| {
        io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{why}; runtime_dir must be a directory of nfguard's own (it is created mode 0700 when missing, an existing one is never changed)"
            ),
        )
    };
    let meta = match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            match owner {
                // Parents searchable, so `owner` can reach the directory it is given.
                Some(_) => {
                    if let Some(p) = dir.parent() {
                        std::fs::create_dir_all(p)?;
                    }
                }
                None => std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)?,
            }
            match std::fs::DirBuilder::new().mode(0o700).create(dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && owner.is_none() => {}
                Err(e) => return Err(e),
            }
            // Created now (by us or a sibling process racing us): set the mode the umask may have cut.
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
            if let Some((u, g)) = owner {
                // lchown: the directory was just created by us; never follow a link.
                std::os::unix::fs::lchown(dir, Some(u), Some(g))?;
            }
            return Ok(());
        }
        Err(e) => return Err(e),
        Ok(m) => m,
    };
    if !meta.is_dir() {
        return Err(refuse(format!(
            "{} is not a directory (symlinks are not followed)",
            dir.display()
        )));
    }
    if let Some(uid) = uid
        && meta.uid() != uid
    {
        return Err(refuse(format!(
            "{} is owned by uid {}, not by nfguard's processes' uid {uid}",
            dir.display(),
            meta.uid()
        )));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(refuse(format!(
            "{} is mode {mode:04o}, open to other users",
            dir.display()
        )));
    }
    Ok(())
}

/// This process's effective uid, from `/proc/self/status` (`Uid: real effective saved fs`).
fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn ipc_path(endpoint: &str) -> Option<PathBuf> {
    endpoint.strip_prefix("ipc://").map(PathBuf::from)
}

/// Before binding an `ipc://` endpoint: a file left by a killed process is removed (connect → ECONNREFUSED);
/// a live process answering on it is an error. Other transports pass through.
///
/// # Errors
/// [`BusError::AddressInUse`] when a live peer answers, [`BusError::Endpoint`] for a path over 107 bytes.
pub fn prepare_ipc(endpoint: &str) -> Result<(), BusError> {
    let Some(path) = ipc_path(endpoint) else {
        return Ok(());
    };
    if path.as_os_str().len() > 107 {
        return Err(BusError::Endpoint {
            endpoint: endpoint.into(),
            message: "ipc path longer than 107 bytes".into(),
        });
    }
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
        && !dir.exists()
    {
        ensure_runtime_dir(dir).map_err(|e| BusError::Endpoint {
            endpoint: endpoint.into(),
            message: e.to_string(),
        })?;
    }
    match std::os::unix::net::UnixStream::connect(&path) {
        Ok(_) => Err(BusError::AddressInUse(endpoint.into())),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            tracing::info!(path = %path.display(), "Removing stale ipc socket.");
            std::fs::remove_file(&path).map_err(|e| BusError::Endpoint {
                endpoint: endpoint.into(),
                message: e.to_string(),
            })
        }
        Err(_) => Ok(()),
    }
}

fn endpoint_error(endpoint: &str, e: impl std::fmt::Display) -> BusError {
    BusError::Endpoint {
        endpoint: endpoint.to_string(),
        message: e.to_string(),
    }
}

fn header(id: u64, deadline_us: u64) -> Bytes {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(&id.to_be_bytes());
    h[8..].copy_from_slice(&deadline_us.to_be_bytes());
    Bytes::copy_from_slice(&h)
}

fn parse_header(b: &[u8]) -> Option<(u64, u64)> {
    let id = u64::from_be_bytes(b.get(..8)?.try_into().ok()?);
    let deadline = u64::from_be_bytes(b.get(8..HEADER_LEN)?.try_into().ok()?);
    (b.len() == HEADER_LEN).then_some((id, deadline))
}

fn zmq_message(frames: Vec<Bytes>) -> Result<ZmqMessage, BusError> {
    ZmqMessage::try_from(frames).map_err(|_| BusError::Malformed("empty message"))
}

// ------------------------------------------------------------------ request/reply client

struct Outgoing {
    id: u64,
    deadline: Instant,
    frames: [Bytes; 2],
    reply: oneshot::Sender<Result<Bytes, BusError>>,
}

struct ClientShared {
    endpoint: String,
    stats: BusStats,
    next_id: AtomicU64,
    /// While `Instant` (as µs since `epoch`) is in the future, the peer counts as down.
    down_until_us: AtomicU64,
    consecutive_timeouts: AtomicU64,
    connected: std::sync::atomic::AtomicBool,
    epoch: Instant,
}

/// A DEALER that sends `Req` and awaits `Rep`, recreating its socket when the server restarts.
pub struct RpcClient<Req, Rep> {
    tx: mpsc::Sender<Outgoing>,
    shared: Arc<ClientShared>,
    _types: PhantomData<fn(Req) -> Rep>,
}

impl<Req, Rep> Clone for RpcClient<Req, Rep> {
    fn clone(&self) -> Self {
        RpcClient {
            tx: self.tx.clone(),
            shared: self.shared.clone(),
            _types: PhantomData,
        }
    }
}

impl<Req: Message, Rep: Message + Default> RpcClient<Req, Rep> {
    /// Starts the client's I/O task (it connects in the background and keeps reconnecting).
    /// Must be called inside a tokio runtime.
    pub fn connect(endpoint: &str) -> Self {
        let (tx, rx) = mpsc::channel(SOCKET_QUEUE);
        let shared = Arc::new(ClientShared {
            endpoint: endpoint.to_string(),
            stats: BusStats::default(),
            next_id: AtomicU64::new(1),
            down_until_us: AtomicU64::new(0),
            consecutive_timeouts: AtomicU64::new(0),
            connected: std::sync::atomic::AtomicBool::new(false),
            epoch: Instant::now(),
        });
        tokio::spawn(client_task(shared.clone(), rx));
        RpcClient {
            tx,
            shared,
            _types: PhantomData,
        }
    }

    /// Sends `req` and waits for its reply until `timeout` from now.
    ///
    /// # Errors
    /// [`BusError::Timeout`] past the deadline (the late reply, if any, is counted and dropped),
    /// [`BusError::PeerDown`] while the breaker is open, [`BusError::NotConnected`],
    /// [`BusError::Overloaded`] when the queue is full, [`BusError::Malformed`] for an undecodable reply.
    pub async fn call(&self, req: &Req, timeout: Duration) -> Result<Rep, BusError> {
        let started = Instant::now();
        let deadline = started + timeout;
        let rx = self.start(req, deadline)?;
        // The I/O task expires the request at `deadline` and counts it for the breaker; waiting a
        // little longer here lets its answer arrive first, so the breaker state is current when the
        // caller sees the timeout. This bound only guards against a stalled I/O task.
        let body = match tokio::time::timeout_at((deadline + EXPIRY_GRACE).into(), rx).await {
            Ok(Ok(r)) => r?,
            Ok(Err(_)) => return Err(BusError::Closed),
            Err(_) => return Err(BusError::Timeout),
        };
        self.shared.stats.latency.record(started.elapsed());
        Rep::decode(body).map_err(|_| {
            BusStats::bump(&self.shared.stats.malformed);
            BusError::Malformed("undecodable reply")
        })
    }

    fn start(
        &self,
        req: &Req,
        deadline: Instant,
    ) -> Result<oneshot::Receiver<Result<Bytes, BusError>>, BusError> {
        let s = &self.shared;
        let now_us = u64::try_from(s.epoch.elapsed().as_micros()).unwrap_or(u64::MAX);
        if now_us < s.down_until_us.load(Ordering::Relaxed) {
            return Err(BusError::PeerDown);
        }
        if !s.connected.load(Ordering::Relaxed) {
            return Err(BusError::NotConnected(s.endpoint.clone()));
        }
        let id = s.next_id.fetch_add(1, Ordering::Relaxed);
        let deadline_unix = unix_micros(SystemTime::now())
            + u64::try_from(
                deadline
                    .saturating_duration_since(Instant::now())
                    .as_micros(),
            )
            .unwrap_or(0);
        let (reply, rx) = oneshot::channel();
        let out = Outgoing {
            id,
            deadline,
            frames: [header(id, deadline_unix), Bytes::from(req.encode_to_vec())],
            reply,
        };
        self.tx.try_send(out).map_err(|_| {
            BusStats::bump(&s.stats.overflows);
            BusError::Overloaded
        })?;
        Ok(rx)
    }

    /// True while the I/O task holds a connected socket.
    pub fn is_connected(&self) -> bool {
        self.shared.connected.load(Ordering::Relaxed)
    }

    pub fn stats(&self) -> &BusStats {
        &self.shared.stats
    }

    pub fn endpoint(&self) -> &str {
        &self.shared.endpoint
    }
}

struct Pending {
    sent: Instant,
    reply: oneshot::Sender<Result<Bytes, BusError>>,
}

async fn client_task(shared: Arc<ClientShared>, mut rx: mpsc::Receiver<Outgoing>) {
    let mut first = true;
    loop {
        if rx.is_closed() {
            return;
        }
        let mut socket = zeromq::DealerSocket::new();
        let mut monitor = socket.monitor();
        match tokio::time::timeout(CONNECT_ATTEMPT, socket.connect(&shared.endpoint)).await {
            Ok(Ok(())) => {}
            _ => {
                // Requests queued while disconnected fail now rather than at their deadline.
                while let Ok(out) = rx.try_recv() {
                    let _ = out
                        .reply
                        .send(Err(BusError::NotConnected(shared.endpoint.clone())));
                }
                tokio::select! {
                    () = tokio::time::sleep(RECONNECT_PAUSE) => continue,
                    () = closed(&rx) => return,
                }
            }
        }
        if !first {
            BusStats::bump(&shared.stats.reconnects);
            tracing::info!(endpoint = %shared.endpoint, "Bus client reconnected.");
        }
        first = false;
        shared.connected.store(true, Ordering::Relaxed);
        shared.consecutive_timeouts.store(0, Ordering::Relaxed);
        let (mut send, mut recv) = socket.split();
        let mut pending: HashMap<u64, Pending> = HashMap::new();
        // Deadlines of sent requests, soonest first; answered ones are skipped when they come up.
        let mut deadlines: BinaryHeap<Reverse<(Instant, u64)>> = BinaryHeap::new();
        // When the peer last answered anything.
        let mut last_reply: Option<Instant> = None;
        let reason = loop {
            let next_deadline = deadlines.peek().map(|Reverse((d, _))| *d);
            tokio::select! {
                out = rx.recv() => {
                    let Some(out) = out else { return };
                    if pending.len() >= MAX_IN_FLIGHT {
                        BusStats::bump(&shared.stats.overflows);
                        let _ = out.reply.send(Err(BusError::Overloaded));
                        continue;
                    }
                    let msg = match zmq_message(out.frames.to_vec()) {
                        Ok(m) => m,
                        Err(e) => { let _ = out.reply.send(Err(e)); continue; }
                    };
                    match tokio::time::timeout_at(out.deadline.into(), send.send(msg)).await {
                        Ok(Ok(())) => {
                            BusStats::bump(&shared.stats.sent);
                            deadlines.push(Reverse((out.deadline, out.id)));
                            pending.insert(out.id, Pending { sent: Instant::now(), reply: out.reply });
                        }
                        Ok(Err(e)) => {
                            BusStats::bump(&shared.stats.send_errors);
                            let _ = out.reply.send(Err(BusError::NotConnected(shared.endpoint.clone())));
                            break format!("send failed: {e}");
                        }
                        Err(_) => {
                            BusStats::bump(&shared.stats.timeouts);
                            let _ = out.reply.send(Err(BusError::Timeout));
                            break "send blocked past its deadline".to_string();
                        }
                    }
                }
                msg = recv.recv() => {
                    let msg = match msg { Ok(m) => m, Err(e) => break format!("receive failed: {e}") };
                    let frames = msg.into_vec();
                    let (Some(h), Some(body), 2) = (frames.first(), frames.get(1), frames.len()) else {
                        BusStats::bump(&shared.stats.malformed);
                        continue;
                    };
                    let Some((id, _)) = parse_header(h) else {
                        BusStats::bump(&shared.stats.malformed);
                        continue;
                    };
                    match pending.remove(&id) {
                        Some(p) => {
                            BusStats::bump(&shared.stats.received);
                            last_reply = Some(Instant::now());
                            shared.consecutive_timeouts.store(0, Ordering::Relaxed);
                            let _ = p.reply.send(Ok(body.clone()));
                        }
                        None => BusStats::bump(&shared.stats.late_replies),
                    }
                }
                () = sleep_until_opt(next_deadline) => {
                    let now = Instant::now();
                    while let Some(&Reverse((d, id))) = deadlines.peek() {
                        if d > now {
                            break;
                        }
                        deadlines.pop();
                        let Some(p) = pending.remove(&id) else { continue };
                        BusStats::bump(&shared.stats.timeouts);
                        let _ = p.reply.send(Err(BusError::Timeout));
                        if last_reply.is_some_and(|r| r >= p.sent) {
                            // Answered since this was sent: busy, not down.
                            continue;
                        }
                        let n = shared.consecutive_timeouts.fetch_add(1, Ordering::Relaxed) + 1;
                        if n == u64::from(BREAKER_TIMEOUTS) {
                            BusStats::bump(&shared.stats.breaker_trips);
                            let until = shared.epoch.elapsed() + BREAKER_OPEN;
                            shared.down_until_us.store(u64::try_from(until.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
                            tracing::warn!(endpoint = %shared.endpoint, "Bus peer timed out {BREAKER_TIMEOUTS} times in a row; treating it as down for 1s.");
                        }
                    }
                    if shared.consecutive_timeouts.load(Ordering::Relaxed) >= u64::from(BREAKER_TIMEOUTS) {
                        // A restarted server never gets our old connection back: recreate the socket.
                        shared.consecutive_timeouts.store(0, Ordering::Relaxed);
                        break "peer stopped answering".to_string();
                    }
                }
                ev = futures::StreamExt::next(&mut monitor) => {
                    if let Some(zeromq::SocketEvent::Disconnected(_)) = ev {
                        break "peer disconnected".to_string();
                    }
                }
            }
        };
        shared.connected.store(false, Ordering::Relaxed);
        tracing::debug!(endpoint = %shared.endpoint, reason = %reason, "Bus client recreating its socket.");
        for (_, p) in pending.drain() {
            let _ = p
                .reply
                .send(Err(BusError::NotConnected(shared.endpoint.clone())));
        }
    }
}

async fn closed<T>(rx: &mpsc::Receiver<T>) {
    // The receiver learns of closing only by polling; a slow poll is fine for shutdown.
    while !rx.is_closed() {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn sleep_until_opt(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => futures::future::pending().await,
    }
}

// ------------------------------------------------------------------ request/reply server

/// Where a reply goes: the ROUTER identity of the requesting DEALER.
#[derive(Debug, Clone)]
pub struct ReplyTo(Bytes);

/// One request received by an [`RpcServer`].
#[derive(Debug)]
pub struct Incoming<Req> {
    pub id: u64,
    /// Absolute deadline, µs since the Unix epoch (0: none).
    pub deadline_unix_us: u64,
    pub body: Req,
    pub reply_to: ReplyTo,
}

impl<Req> Incoming<Req> {
    /// True once the requester has stopped waiting: the work would be wasted.
    pub fn expired(&self) -> bool {
        self.deadline_unix_us != 0 && unix_micros(SystemTime::now()) > self.deadline_unix_us
    }
}

/// A ROUTER bound to an endpoint, receiving `Req` and answering `Rep`.
pub struct RpcServer<Req, Rep> {
    recv: zeromq::RouterRecvHalf,
    replier: Replier<Rep>,
    stats: Arc<BusStats>,
    _types: PhantomData<fn() -> Req>,
}

/// Sends replies for an [`RpcServer`]; cheap to clone into actors.
pub struct Replier<Rep> {
    tx: mpsc::Sender<ZmqMessage>,
    stats: Arc<BusStats>,
    _types: PhantomData<fn(Rep)>,
}

impl<Rep> Clone for Replier<Rep> {
    fn clone(&self) -> Self {
        Replier {
            tx: self.tx.clone(),
            stats: self.stats.clone(),
            _types: PhantomData,
        }
    }
}

impl<Req: Message + Default, Rep: Message> RpcServer<Req, Rep> {
    /// Binds `endpoint` (after [`prepare_ipc`]) and starts the reply writer task.
    ///
    /// # Errors
    /// [`BusError::AddressInUse`] if a live process holds it, [`BusError::Endpoint`] if binding fails.
    pub async fn bind(endpoint: &str) -> Result<Self, BusError> {
        prepare_ipc(endpoint)?;
        let mut socket = zeromq::RouterSocket::new();
        socket
            .bind(endpoint)
            .await
            .map_err(|e| endpoint_error(endpoint, e))?;
        let (mut send, recv) = socket.split();
        let stats = Arc::new(BusStats::default());
        let (tx, mut rx) = mpsc::channel::<ZmqMessage>(SOCKET_QUEUE);
        let st = stats.clone();
        tokio::spawn(async move {
            while let Some(m) = rx.recv().await {
                // A vanished peer makes this fail: the reply is late by definition.
                match tokio::time::timeout(Duration::from_millis(100), send.send(m)).await {
                    Ok(Ok(())) => BusStats::bump(&st.sent),
                    _ => BusStats::bump(&st.send_errors),
                }
            }
        });
        Ok(RpcServer {
            recv,
            replier: Replier {
                tx,
                stats: stats.clone(),
                _types: PhantomData,
            },
            stats,
            _types: PhantomData,
        })
    }

    /// The next well-formed request; malformed ones are counted and skipped.
    ///
    /// # Errors
    /// [`BusError::Closed`] when the socket is gone.
    pub async fn recv(&mut self) -> Result<Incoming<Req>, BusError> {
        loop {
            let msg = self.recv.recv().await.map_err(|_| BusError::Closed)?;
            let frames = msg.into_vec();
            let (Some(identity), Some(h), Some(body), 3) =
                (frames.first(), frames.get(1), frames.get(2), frames.len())
            else {
                BusStats::bump(&self.stats.malformed);
                continue;
            };
            let (Some((id, deadline_unix_us)), Ok(body)) =
                (parse_header(h), Req::decode(body.clone()))
            else {
                BusStats::bump(&self.stats.malformed);
                continue;
            };
            BusStats::bump(&self.stats.received);
            return Ok(Incoming {
                id,
                deadline_unix_us,
                body,
                reply_to: ReplyTo(identity.clone()),
            });
        }
    }

    pub fn replier(&self) -> Replier<Rep> {
        self.replier.clone()
    }

    pub fn stats(&self) -> Arc<BusStats> {
        self.stats.clone()
    }
}

impl<Rep: Message> Replier<Rep> {
    /// Queues the reply to request `id`; never blocks (a full queue is counted as overflow).
    pub fn reply(&self, to: &ReplyTo, id: u64, rep: &Rep) {
        let frames = vec![
            to.0.clone(),
            header(id, 0),
            Bytes::from(rep.encode_to_vec()),
        ];
        let Ok(m) = zmq_message(frames) else { return };
        if self.tx.try_send(m).is_err() {
            BusStats::bump(&self.stats.overflows);
        }
    }
}

// ------------------------------------------------------------------ publish/subscribe

/// A PUB socket. Messages go through a bounded queue; overflow is counted, never waited on.
pub struct Publisher {
    tx: mpsc::Sender<Bytes>,
    boot_id: u64,
    seq: AtomicU64,
    stats: Arc<BusStats>,
}

impl Publisher {
    /// Binds `endpoint` (after [`prepare_ipc`]) and starts the writer task.
    ///
    /// # Errors
    /// As [`RpcServer::bind`].
    pub async fn bind(endpoint: &str, boot_id: u64) -> Result<Self, BusError> {
        prepare_ipc(endpoint)?;
        let mut socket = zeromq::PubSocket::new();
        socket
            .bind(endpoint)
            .await
            .map_err(|e| endpoint_error(endpoint, e))?;
        let stats = Arc::new(BusStats::default());
        let (tx, mut rx) = mpsc::channel::<Bytes>(SOCKET_QUEUE);
        let st = stats.clone();
        tokio::spawn(async move {
            while let Some(b) = rx.recv().await {
                match socket.send(ZmqMessage::from(b)).await {
                    Ok(()) => BusStats::bump(&st.sent),
                    Err(_) => BusStats::bump(&st.send_errors),
                }
            }
        });
        Ok(Publisher {
            tx,
            boot_id,
            seq: AtomicU64::new(0),
            stats,
        })
    }

    /// Publishes one message with the next sequence number. Returns false (and counts) on overflow.
    pub fn publish(&self, body: pb::published::Body) -> bool {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let msg = pb::Published {
            boot_id: self.boot_id,
            seq,
            body: Some(body),
        };
        if self.tx.try_send(Bytes::from(msg.encode_to_vec())).is_err() {
            BusStats::bump(&self.stats.overflows);
            return false;
        }
        true
    }

    pub fn boot_id(&self) -> u64 {
        self.boot_id
    }

    pub fn stats(&self) -> Arc<BusStats> {
        self.stats.clone()
    }
}

/// SUB sockets to one or more publishers, merged into one stream; counts sequence gaps per publisher.
pub struct Subscriber {
    rx: mpsc::Receiver<pb::Published>,
    last_seq: HashMap<u64, u64>,
    stats: Arc<BusStats>,
}

impl Subscriber {
    /// Connects to every endpoint in the background (a publisher not yet up is retried; zeromq's SUB
    /// reconnects by itself once connected).
    pub fn connect(endpoints: &[String]) -> Self {
        let (tx, rx) = mpsc::channel(SOCKET_QUEUE);
        let stats = Arc::new(BusStats::default());
        for ep in endpoints {
            tokio::spawn(sub_task(ep.clone(), tx.clone(), stats.clone()));
        }
        Subscriber {
            rx,
            last_seq: HashMap::new(),
            stats,
        }
    }

    /// The next message from any publisher.
    ///
    /// # Errors
    /// [`BusError::Closed`] when every subscription task has ended.
    pub async fn recv(&mut self) -> Result<pb::Published, BusError> {
        let m = self.rx.recv().await.ok_or(BusError::Closed)?;
        let last = self.last_seq.insert(m.boot_id, m.seq);
        if let Some(last) = last
            && m.seq > last + 1
        {
            self.stats
                .lost
                .fetch_add(m.seq - last - 1, Ordering::Relaxed);
        }
        BusStats::bump(&self.stats.received);
        Ok(m)
    }

    pub fn stats(&self) -> Arc<BusStats> {
        self.stats.clone()
    }
}

async fn sub_task(endpoint: String, tx: mpsc::Sender<pb::Published>, stats: Arc<BusStats>) {
    let mut socket = loop {
        let mut s = zeromq::SubSocket::new();
        if let Ok(Ok(())) = tokio::time::timeout(CONNECT_ATTEMPT, s.connect(&endpoint)).await
            && s.subscribe("").await.is_ok()
        {
            break s;
        }
        if tx.is_closed() {
            return;
        }
        tokio::time::sleep(RECONNECT_PAUSE).await;
    };
    loop {
        let Ok(msg) = socket.recv().await else {
            tokio::time::sleep(RECONNECT_PAUSE).await;
            continue;
        };
        let decoded = msg
            .get(0)
            .filter(|_| msg.len() == 1)
            .and_then(|b| pb::Published::decode(b.clone()).ok());
        let Some(m) = decoded else {
            BusStats::bump(&stats.malformed);
            continue;
        };
        match tx.try_send(m) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => BusStats::bump(&stats.overflows),
            Err(mpsc::error::TrySendError::Closed(_)) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip() {
        let h = header(42, 7);
        assert_eq!(parse_header(&h), Some((42, 7)));
        assert_eq!(parse_header(&h[..15]), None);
    }

    #[test]
    #[allow(clippy::unwrap_used)]
    fn runtime_dir_is_created_private_and_an_open_one_is_refused_unchanged() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        let tmp = tempfile::tempdir().unwrap();
        let fresh = tmp.path().join("a/run");
        ensure_runtime_dir(&fresh).unwrap();
        assert_eq!(mode(&fresh), 0o700);
        ensure_runtime_dir(&fresh).unwrap();

        // A shared directory such as /tmp: refused, and its mode left as it was.
        let shared = tmp.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let e = ensure_runtime_dir(&shared).unwrap_err();
        assert!(e.to_string().contains("mode 1777"), "{e}");
        assert_eq!(mode(&shared), 0o1777);

        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&fresh, &link).unwrap();
        let e = ensure_runtime_dir(&link).unwrap_err();
        assert!(e.to_string().contains("not a directory"), "{e}");

        let file = tmp.path().join("file");
        std::fs::write(&file, "").unwrap();
        assert!(ensure_runtime_dir(&file).is_err());
    }

    #[test]
    #[allow(clippy::unwrap_used)]
    fn a_runtime_dir_of_another_user_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        if effective_uid() != Some(0) {
            eprintln!("skipped: needs root to give a directory away");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let theirs = tmp.path().join("theirs");
        std::fs::create_dir(&theirs).unwrap();
        std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::chown(&theirs, Some(65_534), Some(65_534)).unwrap();
        let e = ensure_runtime_dir(&theirs).unwrap_err();
        assert!(e.to_string().contains("owned by uid 65534"), "{e}");
    }
}
