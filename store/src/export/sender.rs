//! One collector's thread: takes batches of records from its bounded queue, encodes them and sends
//! the messages over UDP (templates re-sent every `template_refresh`) or TCP (templates once per
//! connection; a lost connection is retried with backoff). Whatever cannot be sent is counted as
//! dropped; nothing here can make the store wait.

use std::io::Write;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use nfguard_proto::config::{Collector, Transport};

use super::ipfix::{Encoder, FlowRecord};

/// First TCP retry delay, doubled per failure up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A collector that takes longer to accept a connection or a message is treated as down: the
/// thread must come back to its queue (and to shutdown) in bounded time.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const WRITE_TIMEOUT: Duration = Duration::from_secs(1);
/// Longest wait for a batch while nothing else is due (shutdown is seen at once: the queue closes).
const IDLE_WAIT: Duration = Duration::from_secs(1);

/// Counters of one collector.
#[derive(Debug)]
pub struct CollectorStats {
    /// The collector as configured (`udp://192.0.2.10:4739`): the metrics' `collector` label.
    pub name: String,
    pub sent: AtomicU64,
    pub dropped: AtomicU64,
    pub messages: AtomicU64,
    pub send_errors: AtomicU64,
    pub connects: AtomicU64,
    /// 1 while a TCP connection is up (UDP: always 1 once the socket exists).
    pub up: AtomicU64,
}

impl CollectorStats {
    pub fn new(name: String) -> Self {
        let z = || AtomicU64::new(0);
        CollectorStats {
            name,
            sent: z(),
            dropped: z(),
            messages: z(),
            send_errors: z(),
            connects: z(),
            up: z(),
        }
    }
}

/// What a sender thread needs.
pub struct Sender {
    pub collector: Collector,
    pub domain: u32,
    pub max_message: u16,
    pub template_refresh: Duration,
    pub rx: Receiver<Arc<[FlowRecord]>>,
    /// Records waiting in `rx` (the queue bound is in records, not batches).
    pub queued: Arc<AtomicUsize>,
    pub stats: Arc<CollectorStats>,
}

/// Application names for the options records.
fn app_names() -> impl Iterator<Item = (u16, &'static str)> {
    nfguard_proto::protocols::all().map(|p| (p.id.0, p.name))
}

fn now_s() -> u32 {
    u32::try_from(crate::now_ms() / 1000).unwrap_or(u32::MAX)
}

impl Sender {
    /// Runs until the queue's sending side is dropped.
    pub fn run(self) {
        match self.collector.transport {
            Transport::Udp => self.run_udp(),
            Transport::Tcp => self.run_tcp(),
        }
    }

    fn done(&self, batch: &[FlowRecord]) {
        self.queued.fetch_sub(batch.len(), Ordering::Relaxed);
    }

    fn run_udp(self) {
        let addr = self.collector.addr;
        let local: SocketAddr = if addr.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let sock = match UdpSocket::bind(local).and_then(|s| s.connect(addr).map(|()| s)) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(collector = %self.stats.name, error = %e, "IPFIX export socket failed; records to this collector are dropped.");
                for batch in &self.rx {
                    self.stats
                        .dropped
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                    self.done(&batch);
                }
                return;
            }
        };
        self.stats.up.store(1, Ordering::Relaxed);
        let mut enc = Encoder::new(self.domain, self.max_message);
        let mut next_templates = Instant::now();
        let stats = &self.stats;
        let mut emit = |msg: &[u8], records: u32| match sock.send(msg) {
            Ok(_) => {
                stats.messages.fetch_add(1, Ordering::Relaxed);
                stats.sent.fetch_add(u64::from(records), Ordering::Relaxed);
            }
            Err(_) => {
                // ECONNREFUSED from an earlier ICMP port unreachable, ENOBUFS, no route: the
                // collector is not there right now; UDP has nothing to retry.
                stats.send_errors.fetch_add(1, Ordering::Relaxed);
                stats
                    .dropped
                    .fetch_add(u64::from(records), Ordering::Relaxed);
            }
        };
        loop {
            let wait = next_templates.saturating_duration_since(Instant::now());
            let batch = match self.rx.recv_timeout(wait.min(IDLE_WAIT)) {
                Ok(b) => Some(b),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            enc.set_time(now_s());
            if Instant::now() >= next_templates {
                // Options records count as data records in the sequence, not in `sent`.
                enc.templates(app_names(), &mut |m, _| emit(m, 0));
                next_templates = Instant::now() + self.template_refresh;
            }
            if let Some(batch) = batch {
                for r in batch.iter() {
                    enc.record(r, &mut emit);
                }
                enc.flush(&mut emit);
                self.done(&batch);
            }
        }
    }

    fn run_tcp(self) {
        let stats = &self.stats;
        let mut conn: Option<(TcpStream, Encoder)> = None;
        let mut backoff = FIRST_BACKOFF;
        let mut next_try = Instant::now();
        loop {
            if conn.is_none() && Instant::now() >= next_try {
                match self.connect() {
                    Ok(c) => {
                        stats.connects.fetch_add(1, Ordering::Relaxed);
                        stats.up.store(1, Ordering::Relaxed);
                        backoff = FIRST_BACKOFF;
                        conn = Some(c);
                    }
                    Err(e) => {
                        tracing::debug!(collector = %stats.name, error = %e, retry_ms = backoff.as_millis() as u64, "IPFIX collector unreachable.");
                        next_try = Instant::now() + backoff;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                }
            }
            let wait = if conn.is_some() {
                IDLE_WAIT
            } else {
                next_try.saturating_duration_since(Instant::now())
            };
            let batch = match self.rx.recv_timeout(wait.min(IDLE_WAIT)) {
                Ok(b) => b,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            match conn.as_mut() {
                None => {
                    stats
                        .dropped
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                }
                Some((stream, enc)) => {
                    enc.set_time(now_s());
                    let mut broken = false;
                    let mut emit = |msg: &[u8], records: u32| {
                        if !broken && stream.write_all(msg).is_ok() {
                            stats.messages.fetch_add(1, Ordering::Relaxed);
                            stats.sent.fetch_add(u64::from(records), Ordering::Relaxed);
                        } else {
                            if !broken {
                                stats.send_errors.fetch_add(1, Ordering::Relaxed);
                            }
                            broken = true;
                            stats
                                .dropped
                                .fetch_add(u64::from(records), Ordering::Relaxed);
                        }
                    };
                    for r in batch.iter() {
                        enc.record(r, &mut emit);
                    }
                    enc.flush(&mut emit);
                    if broken {
                        // A message cut in the middle breaks the stream's framing: start a new session.
                        tracing::warn!(collector = %stats.name, "IPFIX collector connection lost; reconnecting with backoff.");
                        conn = None;
                        stats.up.store(0, Ordering::Relaxed);
                        next_try = Instant::now() + backoff;
                    }
                }
            }
            self.done(&batch);
        }
    }

    /// A new Transport Session: connection, a fresh sequence, templates first.
    fn connect(&self) -> std::io::Result<(TcpStream, Encoder)> {
        let mut stream = TcpStream::connect_timeout(&self.collector.addr, CONNECT_TIMEOUT)?;
        stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
        stream.set_nodelay(true)?;
        let mut enc = Encoder::new(self.domain, self.max_message);
        enc.set_time(now_s());
        let mut res = Ok(());
        enc.templates(app_names(), &mut |m, _| {
            if res.is_ok() {
                res = stream.write_all(m);
            }
        });
        res?;
        Ok((stream, enc))
    }
}
