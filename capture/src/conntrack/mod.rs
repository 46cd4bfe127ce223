//! The conntrack worker (`nfguard-capture --conntrack`, DESIGN §1): the kernel side of offloaded flows,
//! over ctnetlink directly (wire format in [`ctnetlink`]).
//!
//! * On a newer policy epoch (`PolicyChanged` on `policy-events.sock`) it dumps the conntrack table and
//!   clears the verdict bits of every connmark that has some, keeping the app bits, so offloaded flows
//!   come back to a capture worker once and are re-decided without DPI (DESIGN §5).
//! * For offloaded flows (connmark with verdict bits) that end, it publishes a `FlowEvent` END with the
//!   kernel's byte and packet counters on `flows-ct.sock`. It sets `net.netfilter.nf_conntrack_acct=1`
//!   at start: entries created before that carry no counters.
//!
//! The parser of `conntrack -E -o extended` text lines stays for operators' captures of that output.

use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use netlink_sys::{Socket, protocols::NETLINK_NETFILTER};
use nfguard_proto::bus::{Publisher, Subscriber, new_boot_id};
use nfguard_proto::config::Config;
use nfguard_proto::pb;
use nfguard_proto::process::{endpoints, spawn_metrics};
use nfguard_proto::{FlowKey, Mark};

pub mod bypass;
pub mod ctnetlink;
use tokio::io::unix::AsyncFd;

use crate::CaptureError;
use ctnetlink::{CtEntry, Message};

/// Receive buffer of the event socket: a burst of DESTROY events (a table flush, a port scan expiring)
/// must not overflow it. Each event is ~250 bytes of netlink, so 4 MiB holds ~16k of them.
const EVENT_SOCKET_BUFFER: u64 = 4 << 20;
/// Largest datagram read at once: dumps come in `NLMSG_GOODSIZE` chunks (up to 32 KiB with a big
/// receive buffer, `netlink_dump`), events one per datagram.
const RECV_BUFFER: usize = 64 << 10;
/// Wait after a `PolicyChanged` before clearing: the capture workers get the same PUB message, and a
/// packet that comes back to a capture that has not seen the new epoch yet would get the old cached
/// verdict and be offloaded with it again.
const EPOCH_GRACE: Duration = Duration::from_millis(250);
/// How often the NFQUEUE rules' counters are compared with the queues' ids ([`bypass`]).
const BYPASS_POLL: Duration = Duration::from_secs(5);
/// Where the kernel's per-namespace accounting switch lives.
const ACCT_SYSCTL: &str = "/proc/sys/net/netfilter/nf_conntrack_acct";

/// Longest event line accepted; longer ones are skipped (a real line is ~300 bytes).
const MAX_LINE: usize = 4096;

/// One `[DESTROY]` event of `conntrack -E -o extended`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CtEnd {
    pub key: FlowKey,
    pub packets: [u64; 2],
    pub bytes: [u64; 2],
    pub mark: u32,
    /// The kernel's conntrack id (`CTA_ID`), 0 when unknown.
    pub id: u32,
}

/// Parses one event line, e.g.
/// `[DESTROY] ipv4 2 tcp 6 src=10.0.0.2 dst=10.0.1.2 sport=40000 dport=80 packets=6 bytes=400 src=10.0.1.2 dst=10.0.0.2 sport=80 dport=40000 packets=4 bytes=300 [ASSURED] mark=65537 use=1`.
/// The first tuple is the original direction (client → server). `None` for anything else.
pub fn parse_destroy(line: &str) -> Option<CtEnd> {
    if line.len() > MAX_LINE || !line.trim_start().starts_with("[DESTROY]") {
        return None;
    }
    let mut l4: Option<u8> = None;
    let mut prev_name = false;
    let (mut src, mut dst, mut sport, mut dport) = (None, None, 0u16, 0u16);
    let mut packets = [0u64; 2];
    let mut bytes = [0u64; 2];
    let (mut np, mut nb) = (0usize, 0usize);
    let mut mark = 0u32;
    for tok in line.split_whitespace() {
        match tok.split_once('=') {
            None => {
                // "tcp 6": the protocol number follows its name.
                if prev_name && l4.is_none() {
                    l4 = tok.parse().ok();
                }
                prev_name = matches!(
                    tok,
                    "tcp"
                        | "udp"
                        | "icmp"
                        | "icmpv6"
                        | "sctp"
                        | "udplite"
                        | "dccp"
                        | "gre"
                        | "unknown"
                );
            }
            Some((k, v)) => {
                prev_name = false;
                match k {
                    "src" if src.is_none() => src = v.parse::<IpAddr>().ok(),
                    "dst" if dst.is_none() => dst = v.parse::<IpAddr>().ok(),
                    "sport" if sport == 0 => sport = v.parse().unwrap_or(0),
                    "dport" if dport == 0 => dport = v.parse().unwrap_or(0),
                    "packets" => {
                        if let Some(p) = packets.get_mut(np) {
                            *p = v.parse().unwrap_or(0);
                        }
                        np = np.saturating_add(1);
                    }
                    "bytes" => {
                        if let Some(b) = bytes.get_mut(nb) {
                            *b = v.parse().unwrap_or(0);
                        }
                        nb = nb.saturating_add(1);
                    }
                    "mark" => mark = v.parse().unwrap_or(0),
                    _ => {}
                }
            }
        }
    }
    Some(CtEnd {
        key: FlowKey {
            client: std::net::SocketAddr::new(src?, sport),
            server: std::net::SocketAddr::new(dst?, dport),
            l4: l4?,
        },
        packets,
        bytes,
        mark,
        id: 0,
    })
}

impl CtEnd {
    /// A DESTROY event's entry, or `None` when it lacks the original tuple. Counters are 0 when the
    /// entry was created without accounting.
    pub fn from_entry(e: &CtEntry<'_>) -> Option<CtEnd> {
        let o = e.orig?;
        let (co, cr) = (
            e.counters_orig.unwrap_or_default(),
            e.counters_reply.unwrap_or_default(),
        );
        Some(CtEnd {
            key: FlowKey {
                client: std::net::SocketAddr::new(o.src, o.sport),
                server: std::net::SocketAddr::new(o.dst, o.dport),
                l4: o.l4,
            },
            packets: [co.packets, cr.packets],
            bytes: [co.bytes, cr.bytes],
            mark: e.mark,
            id: e.id.unwrap_or(0),
        })
    }
}

/// The END event for an offloaded flow, or `None` when nfguard never decided it (no verdict bits).
/// The flow id is the kernel's conntrack id, so the store keeps one record per connection.
pub fn end_event(
    e: &CtEnd,
    cfg: &nfguard_proto::config::CaptureConfig,
    boot_id: u64,
) -> Option<pb::FlowEvent> {
    let m = Mark(e.mark);
    let verdict = nfguard_proto::Verdict::from_bits(m.field(cfg.verdict_mask))?;
    let app = u16::try_from(m.field(cfg.app_mask)).unwrap_or(0);
    let now = nfguard_proto::bus::unix_micros(std::time::SystemTime::now()) / 1000;
    Some(pb::FlowEvent {
        kind: pb::FlowEventKind::FlowEventEnd as i32,
        flow: Some(pb::FlowRef {
            queue: u32::from(u16::MAX),
            boot_id,
            flow_id: u64::from(e.id),
        }),
        tuple: Some(e.key.to_tuple()),
        classification: Some(pb::Classification {
            app_id: u32::from(app),
            confidence: pb::Confidence::Connmark as i32,
            ..Default::default()
        }),
        label: nfguard_proto::protocols::label(nfguard_proto::AppId(0), nfguard_proto::AppId(app)),
        verdict: verdict.as_str().to_string(),
        rule: String::new(),
        packets_c2s: e.packets[0],
        bytes_c2s: e.bytes[0],
        packets_s2c: e.packets[1],
        bytes_s2c: e.bytes[1],
        first_seen_unix_ms: 0,
        last_seen_unix_ms: now,
        end_reason: "conntrack".into(),
        offloaded: true,
    })
}

/// Turns on conntrack accounting in this network namespace (entries created from now on count).
///
/// # Errors
/// When the sysctl cannot be written (no CAP_NET_ADMIN, no nf_conntrack).
pub fn enable_accounting() -> io::Result<()> {
    std::fs::write(ACCT_SYSCTL, b"1")
}

/// What one pass of [`clear_verdict_bits`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClearReport {
    /// Entries in the table.
    pub seen: u64,
    /// Entries whose verdict bits were cleared.
    pub cleared: u64,
    /// Entries gone between the dump and the update (ENOENT).
    pub gone: u64,
    /// Updates the kernel refused otherwise.
    pub failed: u64,
    /// The first refusal's errno, for the log.
    pub first_errno: i32,
}

fn bound_socket() -> io::Result<Socket> {
    let mut s = Socket::new(NETLINK_NETFILTER)?;
    s.bind_auto()?;
    Ok(s)
}

/// Reads datagrams until `seq` is answered by an ACK (or error) or a DONE; feeds every conntrack entry
/// to `each`. Blocking: the kernel answers every request.
fn read_until(
    s: &Socket,
    buf: &mut Vec<u8>,
    seq: u32,
    mut each: impl FnMut(&CtEntry<'_>),
) -> io::Result<i32> {
    loop {
        buf.clear();
        s.recv(buf, 0)?;
        for m in ctnetlink::messages(buf) {
            match m {
                Message::Conntrack(e) => each(&e),
                Message::Ack { seq: s2, errno } if s2 == seq => return Ok(errno),
                Message::Done { seq: s2 } if s2 == seq => return Ok(0),
                _ => {}
            }
        }
    }
}

/// Dumps the conntrack table (IPv4 and IPv6) and clears `mask` in every connmark that has bits of it
/// set, with an atomic masked update per entry (`(old & !mask) ^ 0`). Blocking; run it off the event
/// loop.
///
/// # Errors
/// When the netlink socket cannot be opened or the dump fails.
pub fn clear_verdict_bits(mask: u32) -> io::Result<ClearReport> {
    let s = bound_socket()?;
    let mut buf = Vec::with_capacity(RECV_BUFFER);
    let mut req = Vec::with_capacity(64);
    ctnetlink::dump_request(&mut req, 1);
    s.send(&req, 0)?;
    let mut report = ClearReport::default();
    // Requests are built while the dump is read (an entry borrows the datagram), sent once it is done:
    // a netlink socket serves one dump at a time.
    let mut updates: Vec<Vec<u8>> = Vec::new();
    let errno = read_until(&s, &mut buf, 1, |e| {
        report.seen = report.seen.saturating_add(1);
        if Mark(e.mark).field(mask) != 0 && !e.orig_raw.is_empty() {
            let mut r = Vec::with_capacity(96);
            ctnetlink::mark_update_request(&mut r, 0, e, 0, mask);
            updates.push(r);
        }
    })?;
    if errno != 0 {
        return Err(io::Error::from_raw_os_error(errno));
    }
    for (i, mut r) in updates.into_iter().enumerate() {
        // Sequence numbers from 2: 1 was the dump.
        let seq = u32::try_from(i).unwrap_or(u32::MAX - 2).saturating_add(2);
        if let Some(h) = r.get_mut(8..12) {
            h.copy_from_slice(&seq.to_ne_bytes());
        }
        s.send(&r, 0)?;
        match read_until(&s, &mut buf, seq, |_| {})? {
            0 => report.cleared = report.cleared.saturating_add(1),
            libc::ENOENT => report.gone = report.gone.saturating_add(1),
            e => {
                if report.failed == 0 {
                    report.first_errno = e;
                }
                report.failed = report.failed.saturating_add(1);
            }
        }
    }
    Ok(report)
}

/// The DESTROY event socket, non-blocking, registered with tokio.
fn event_socket() -> io::Result<AsyncFd<Socket>> {
    let s = bound_socket()?;
    s.add_membership(ctnetlink::GROUP_DESTROY)?;
    if let Err(e) = crate::queue_fd::set_receive_buffer(
        std::os::fd::AsRawFd::as_raw_fd(&s),
        EVENT_SOCKET_BUFFER,
    ) {
        tracing::warn!(error = %e, "Conntrack event socket keeps its default receive buffer.");
    }
    s.set_non_blocking(true)?;
    crate::queue_fd::register_netlink(s)
}

#[derive(Default)]
struct Counts {
    ended: AtomicU64,
    cleared: AtomicU64,
    clear_failed: AtomicU64,
    events_lost: AtomicU64,
}

/// Runs the conntrack worker until `shutdown`.
///
/// # Errors
/// When the bus endpoints cannot be bound or the ctnetlink event socket cannot be opened.
pub async fn run(
    cfg: Config,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), CaptureError> {
    let boot_id = new_boot_id();
    if let Err(e) = enable_accounting() {
        tracing::warn!(error = %e, "Cannot enable conntrack accounting; offloaded flows end with zero counters.");
    }
    let events = Arc::new(
        Publisher::bind(&cfg.endpoint(endpoints::FLOWS_CONNTRACK), boot_id)
            .await
            .map_err(CaptureError::Bus)?,
    );
    let counts = Arc::new(Counts::default());
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let (c2, ev2) = (counts.clone(), events.clone());
    let bypass = Arc::new(std::sync::Mutex::new(Vec::new()));
    let bypass_poll = tokio::spawn(poll_bypass(bypass.clone()));
    let bypass2 = bypass.clone();
    let _metrics = spawn_metrics(
        &cfg,
        "conntrack",
        0,
        move |b| {
            if let Ok(totals) = bypass2.lock() {
                for &(first, last, n) in totals.iter() {
                    b.counter(
                        "nfguard_kernel_bypassed_packets_total",
                        &[
                            ("queue", &bypass::range_label(first, last)),
                            ("reason", "rule_counter"),
                        ],
                        n,
                    );
                }
            }
            b.counter(
                "nfguard_conntrack_flows_ended_total",
                &[],
                c2.ended.load(Ordering::Relaxed),
            )
            .counter(
                "nfguard_conntrack_marks_cleared_total",
                &[],
                c2.cleared.load(Ordering::Relaxed),
            )
            .counter(
                "nfguard_conntrack_mark_updates_failed_total",
                &[],
                c2.clear_failed.load(Ordering::Relaxed),
            )
            .counter(
                "nfguard_conntrack_events_lost_total",
                &[],
                c2.events_lost.load(Ordering::Relaxed),
            );
            ev2.stats().report(b, "flows");
        },
        async move {
            let _ = stop_rx.changed().await;
        },
    )
    .await
    .map_err(CaptureError::Bus)?;
    let sock = event_socket().map_err(CaptureError::Queue)?;
    let mut buf: Vec<u8> = Vec::with_capacity(RECV_BUFFER);
    let mut sub = Subscriber::connect(&[cfg.endpoint(endpoints::POLICY_EVENTS)]);
    let mut epoch = 0u64;
    let mut sub_open = true;
    // One clear at a time; a change during it asks for another pass when it ends.
    let mut clearing: Option<tokio::task::JoinHandle<io::Result<ClearReport>>> = None;
    let mut again = false;
    let mask = cfg.capture.verdict_mask;
    tracing::info!("Conntrack worker started.");
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            ready = sock.readable() => {
                let Ok(mut guard) = ready else { break };
                loop {
                    buf.clear();
                    match guard.try_io(|s| s.get_ref().recv(&mut buf, 0)) {
                        Ok(Ok(_)) => {
                            for m in ctnetlink::messages(&buf) {
                                let Message::Conntrack(e) = m else { continue };
                                if !e.destroyed {
                                    continue;
                                }
                                if let Some(ev) = CtEnd::from_entry(&e).and_then(|c| end_event(&c, &cfg.capture, boot_id)) {
                                    counts.ended.fetch_add(1, Ordering::Relaxed);
                                    events.publish(pb::published::Body::FlowEvent(ev));
                                }
                            }
                        }
                        Ok(Err(e)) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                            // The kernel dropped events for us: counted, the loop goes on (DESIGN §4).
                            counts.events_lost.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(Err(e)) => {
                            tracing::warn!(error = %e, "Conntrack event socket read failed.");
                            break;
                        }
                        Err(_would_block) => break,
                    }
                }
            },
            res = async {
                match clearing.as_mut() {
                    Some(h) => h.await,
                    None => std::future::pending().await,
                }
            }, if clearing.is_some() => {
                clearing = None;
                match res {
                    Ok(Ok(r)) => {
                        counts.cleared.fetch_add(r.cleared, Ordering::Relaxed);
                        counts.clear_failed.fetch_add(r.failed, Ordering::Relaxed);
                        if r.failed > 0 {
                            tracing::warn!(epoch, failed = r.failed, errno = r.first_errno, "Kernel refused some connmark updates; those flows keep their old verdict until they end.");
                        }
                        tracing::info!(epoch, entries = r.seen, cleared = r.cleared, gone = r.gone, "Policy changed; cleared offloaded verdicts.");
                    }
                    Ok(Err(e)) => tracing::warn!(epoch, error = %e, "Conntrack dump failed; offloaded verdicts not cleared."),
                    Err(e) => tracing::warn!(error = %e, "Connmark clearing task failed."),
                }
                if std::mem::take(&mut again) {
                    clearing = Some(spawn_clear(mask));
                }
            },
            m = sub.recv(), if sub_open => match m {
                Ok(pb::Published { body: Some(pb::published::Body::PolicyChanged(c)), .. }) if c.epoch > epoch => {
                    // The first epoch seen is the current one; only a change invalidates kernel verdicts.
                    if epoch != 0 {
                        if clearing.is_some() {
                            again = true;
                        } else {
                            clearing = Some(spawn_clear(mask));
                        }
                    }
                    epoch = c.epoch;
                }
                Ok(_) => {}
                Err(_) => sub_open = false,
            },
        }
    }
    bypass_poll.abort();
    let _ = stop_tx.send(true);
    Ok(())
}

/// Every [`BYPASS_POLL`]: reads the NFQUEUE rules' counters and the queues' ids off the loop
/// (`iptables-save` takes milliseconds) and publishes the bypass totals into `out`.
async fn poll_bypass(out: Arc<std::sync::Mutex<Vec<(u16, u16, u64)>>>) {
    let mut meter = bypass::BypassMeter::default();
    let mut tick = tokio::time::interval(BYPASS_POLL);
    loop {
        tick.tick().await;
        match tokio::task::spawn_blocking(bypass::sample).await {
            Ok(Some(s)) => {
                meter.observe(&s.before, &s.rules, &s.after);
                if let Ok(mut o) = out.lock() {
                    *o = meter.totals();
                }
            }
            Ok(None) => {
                tracing::warn!(
                    "Cannot run iptables-save -c; packets the kernel lets past the queues unqueued are not counted."
                );
                return;
            }
            Err(_) => return,
        }
    }
}

fn spawn_clear(mask: u32) -> tokio::task::JoinHandle<io::Result<ClearReport>> {
    tokio::spawn(async move {
        tokio::time::sleep(EPOCH_GRACE).await;
        tokio::task::spawn_blocking(move || clear_verdict_bits(mask))
            .await
            .unwrap_or_else(|e| Err(io::Error::other(e)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = " [DESTROY] ipv4     2 tcp      6 src=10.0.0.2 dst=10.0.1.2 sport=40000 dport=80 packets=6 bytes=400 src=10.0.1.2 dst=10.0.0.2 sport=80 dport=40000 packets=4 bytes=3000 [ASSURED] mark=4587521 use=1";

    #[test]
    fn destroy_line_parses() {
        let e = parse_destroy(LINE).unwrap_or_else(|| panic!("no parse"));
        assert_eq!(
            e.key.client,
            "10.0.0.2:40000".parse().unwrap_or_else(|e| panic!("{e}"))
        );
        assert_eq!(e.key.server.port(), 80);
        assert_eq!(e.key.l4, 6);
        assert_eq!((e.packets, e.bytes), ([6, 4], [400, 3000]));
        assert_eq!(e.mark, 4_587_521);
    }

    #[test]
    fn v6_icmp_and_junk() {
        let l = "[DESTROY] ipv6 10 icmpv6 58 src=fd00::2 dst=fd00:1::2 type=128 code=0 id=7 packets=1 bytes=104 src=fd00:1::2 dst=fd00::2 type=129 code=0 id=7 packets=1 bytes=104 mark=0 use=1";
        let e = parse_destroy(l).unwrap_or_else(|| panic!("no parse"));
        assert_eq!(e.key.l4, 58);
        assert!(e.key.client.ip().is_ipv6());
        assert_eq!(parse_destroy("[NEW] tcp 6 src=1.2.3.4"), None);
        assert_eq!(parse_destroy("[DESTROY] garbage"), None);
        assert_eq!(parse_destroy(""), None);
    }

    #[test]
    fn only_decided_flows_make_end_events() {
        let cfg = nfguard_proto::config::CaptureConfig::default();
        let e = parse_destroy(LINE).unwrap_or_else(|| panic!("no parse"));
        // mark 4587521 = 0x46_0001: app 70, verdict 1 (pass).
        let ev = end_event(&e, &cfg, 1).unwrap_or_else(|| panic!("no event"));
        assert_eq!(ev.verdict, "accept");
        assert_eq!(ev.classification.map(|c| c.app_id), Some(70));
        assert_eq!(ev.bytes_s2c, 3000);
        let undecided = CtEnd {
            mark: 0x46_0000,
            ..e
        };
        assert!(end_event(&undecided, &cfg, 1).is_none());
    }
}
