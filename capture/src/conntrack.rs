//! The conntrack worker (`nfguard-capture --conntrack`, DESIGN §1): the kernel side of offloaded flows.
//!
//! * On a newer policy epoch (`PolicyChanged` on `policy-events.sock`) it clears the verdict bits of
//!   every connmark, keeping the app bits, so offloaded flows come back to a capture worker once and
//!   are re-decided without DPI (DESIGN §5).
//! * For offloaded flows (connmark with verdict bits) that end, it publishes a `FlowEvent` END with the
//!   kernel's byte and packet counters on `flows-ct.sock` (needs `net.netfilter.nf_conntrack_acct=1`).
//!
//! This first version drives conntrack-tools' `conntrack` command (events as text, `-U` for marks)
//! instead of ctnetlink directly; the line parser below is pure and bounded.

use std::net::IpAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use nfguard_proto::bus::{Publisher, Subscriber, new_boot_id};
use nfguard_proto::config::Config;
use nfguard_proto::pb;
use nfguard_proto::process::{endpoints, spawn_metrics};
use nfguard_proto::{FlowKey, Mark};
use tokio::io::AsyncBufReadExt;

use crate::CaptureError;

/// Longest event line accepted; longer ones are skipped (a real line is ~300 bytes).
const MAX_LINE: usize = 4096;

/// One `[DESTROY]` event of `conntrack -E -o extended`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CtEnd {
    pub key: FlowKey,
    pub packets: [u64; 2],
    pub bytes: [u64; 2],
    pub mark: u32,
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
    })
}

/// The END event for an offloaded flow, or `None` when nfguard never decided it (no verdict bits).
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
            flow_id: 0,
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

/// Clears the verdict bits of every connmark (`conntrack -U --mark 0/MASK` zeroes the masked bits and
/// XORs 0 in), for IPv4 and IPv6.
async fn clear_verdict_bits(mask: u32) -> usize {
    let mut updated = 0;
    for family in ["ipv4", "ipv6"] {
        let out = tokio::process::Command::new("conntrack")
            .args(["-U", "-f", family, "--mark", &format!("0/{mask:#x}")])
            .stdin(Stdio::null())
            .output()
            .await;
        if let Some(o) = out.as_ref().ok().filter(|o| !o.status.success()) {
            // Seen on kernels whose ctnetlink refuses updates ("Operation not supported"):
            // offloaded flows then keep their old verdict until they end.
            tracing::warn!(family, stderr = %String::from_utf8_lossy(&o.stderr).trim(), "conntrack -U failed; offloaded verdicts not cleared.");
        }
        if let Ok(o) = out {
            // "conntrack v1.4.7 (conntrack-tools): N flow entries have been updated."
            let text = String::from_utf8_lossy(&o.stderr);
            updated += text
                .split_whitespace()
                .zip(text.split_whitespace().skip(1))
                .find(|(_, w)| *w == "flow")
                .and_then(|(n, _)| n.parse::<usize>().ok())
                .unwrap_or(0);
        }
    }
    updated
}

/// Runs the conntrack worker until `shutdown`.
///
/// # Errors
/// When the bus endpoints cannot be bound or `conntrack -E` cannot be started.
pub async fn run(
    cfg: Config,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), CaptureError> {
    let boot_id = new_boot_id();
    let events = Arc::new(
        Publisher::bind(&cfg.endpoint(endpoints::FLOWS_CONNTRACK), boot_id)
            .await
            .map_err(CaptureError::Bus)?,
    );
    let ended = Arc::new(AtomicU64::new(0));
    let cleared = Arc::new(AtomicU64::new(0));
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let (e2, c2, ev2) = (ended.clone(), cleared.clone(), events.clone());
    let _metrics = spawn_metrics(
        &cfg,
        "conntrack",
        0,
        move |b| {
            b.counter(
                "nfguard_conntrack_flows_ended_total",
                &[],
                e2.load(Ordering::Relaxed),
            )
            .counter(
                "nfguard_conntrack_marks_cleared_total",
                &[],
                c2.load(Ordering::Relaxed),
            );
            ev2.stats().report(b, "flows");
        },
        async move {
            let _ = stop_rx.changed().await;
        },
    )
    .await
    .map_err(CaptureError::Bus)?;
    let mut child = tokio::process::Command::new("conntrack")
        .args(["-E", "-e", "DESTROY", "-o", "extended"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(CaptureError::Queue)?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| CaptureError::Queue(std::io::Error::other("no stdout")))?;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let mut sub = Subscriber::connect(&[cfg.endpoint(endpoints::POLICY_EVENTS)]);
    let mut epoch = 0u64;
    let mut sub_open = true;
    tracing::info!("Conntrack worker started.");
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            line = lines.next_line() => match line {
                Ok(Some(l)) => {
                    if let Some(ev) = parse_destroy(&l).and_then(|e| end_event(&e, &cfg.capture, boot_id)) {
                        ended.fetch_add(1, Ordering::Relaxed);
                        events.publish(pb::published::Body::FlowEvent(ev));
                    }
                }
                Ok(None) | Err(_) => {
                    tracing::error!("conntrack -E ended; offloaded flows' counters are no longer reported.");
                    break;
                }
            },
            m = sub.recv(), if sub_open => match m {
                Ok(pb::Published { body: Some(pb::published::Body::PolicyChanged(c)), .. }) if c.epoch > epoch => {
                    // The first epoch seen is the current one; only a change invalidates kernel verdicts.
                    if epoch != 0 {
                        let n = clear_verdict_bits(cfg.capture.verdict_mask).await;
                        cleared.fetch_add(n as u64, Ordering::Relaxed);
                        tracing::info!(epoch = c.epoch, flows = n, "Policy changed; cleared offloaded verdicts.");
                    }
                    epoch = c.epoch;
                }
                Ok(_) => {}
                Err(_) => sub_open = false,
            },
        }
    }
    let _ = stop_tx.send(true);
    let _ = child.kill().await;
    Ok(())
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
