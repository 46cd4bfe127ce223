//! From the store's merged flow records to IPFIX records: what each direction gained since its last
//! export (delta counters, RFC 7011 / IANA `octetDeltaCount`), an interim record while a flow lives
//! and a final one when it ends. Pure: records and time in, [`FlowRecord`]s out.
//!
//! Each flow is exported as two unidirectional records (client → server, server → client, marked by
//! `biflowDirection`) rather than one RFC 5103 biflow record: nfdump, pmacct, GoFlow2 and Akvorado
//! all sum plain `octetDeltaCount` records, while `reverseOctetDeltaCount` (PEN 29305) is dropped by
//! several of them, and the byte totals are what a collector must get right.

use std::collections::HashMap;
use std::net::IpAddr;

use nfguard_proto::pb;

use super::ipfix::{FlowRecord, direction, end_reason, firewall_event};
use crate::ingest::PendingRecord;
use crate::open::KERNEL_END;
use crate::schema::FlowId;

/// A flow not updated for this long is forgotten (its capture died without an END); an UPDATE
/// after that starts from its current counters, so nothing is counted twice.
pub const FORGET_AFTER_MS: u64 = 3_600_000;
/// How often forgotten flows are looked for.
const PURGE_EVERY_MS: u64 = 60_000;

/// nDPI's HTTP id: its host goes to `HTTP_HOST`, every other host to `SSL_SERVER_NAME`.
const NDPI_HTTP: u32 = 7;

/// What was exported of one open flow so far.
#[derive(Debug, Clone, Copy, Default)]
struct Sent {
    packets_c2s: u64,
    bytes_c2s: u64,
    packets_s2c: u64,
    bytes_s2c: u64,
    seen_ms: u64,
}

/// The exported counters of every open flow.
#[derive(Debug, Default)]
pub struct Tracker {
    sent: HashMap<FlowId, Sent>,
    last_purge_ms: u64,
    /// Records without a usable tuple (never exported).
    pub skipped: u64,
}

impl Tracker {
    /// Open flows tracked.
    pub fn len(&self) -> usize {
        self.sent.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sent.is_empty()
    }

    /// The IPFIX records of a flushed batch's records, appended to `out`.
    ///
    /// A flow's START alone exports nothing (its first packets count in the first interim record); a
    /// record the store already held but this tracker never saw (the store restarted) starts from its
    /// current counters: what the previous process exported is not exported again.
    pub fn records<'a>(
        &mut self,
        batch: impl IntoIterator<Item = &'a PendingRecord>,
        now_ms: u64,
        out: &mut Vec<FlowRecord>,
    ) {
        for p in batch {
            self.record(p, now_ms, out);
        }
        if now_ms.saturating_sub(self.last_purge_ms) >= PURGE_EVERY_MS {
            self.last_purge_ms = now_ms;
            let cutoff = now_ms.saturating_sub(FORGET_AFTER_MS);
            self.sent.retain(|_, s| s.seen_ms >= cutoff);
        }
    }

    fn record(&mut self, p: &PendingRecord, now_ms: u64, out: &mut Vec<FlowRecord>) {
        let f = &p.flow;
        let Some(base) = base(f) else {
            self.skipped += 1;
            return;
        };
        let start = f.kind == pb::FlowEventKind::FlowEventStart as i32 && !p.closed;
        let known = self.sent.get(&p.id).copied();
        let mut before = match known {
            Some(s) => s,
            None if p.was_open => Sent {
                // Restarted store: the previous process exported up to here.
                packets_c2s: f.packets_c2s,
                bytes_c2s: f.bytes_c2s,
                packets_s2c: f.packets_s2c,
                bytes_s2c: f.bytes_s2c,
                seen_ms: now_ms,
            },
            None => Sent::default(),
        };
        before.seen_ms = now_ms;
        if start || (known.is_none() && p.was_open && !p.closed) {
            self.sent.insert(p.id, before);
            return;
        }
        let dp_c2s = f.packets_c2s.saturating_sub(before.packets_c2s);
        let db_c2s = f.bytes_c2s.saturating_sub(before.bytes_c2s);
        let dp_s2c = f.packets_s2c.saturating_sub(before.packets_s2c);
        let db_s2c = f.bytes_s2c.saturating_sub(before.bytes_s2c);
        let denied = matches!(f.verdict.as_str(), "drop" | "reject");
        let (reason, event) = if p.closed {
            let r = match f.end_reason.as_str() {
                "idle" => end_reason::IDLE_TIMEOUT,
                "evicted" => end_reason::LACK_OF_RESOURCES,
                "shutdown" => end_reason::FORCED_END,
                KERNEL_END => end_reason::END_OF_FLOW,
                _ => end_reason::END_OF_FLOW,
            };
            (r, firewall_event::DELETED)
        } else {
            (end_reason::ACTIVE_TIMEOUT, firewall_event::UPDATE)
        };
        let event = if denied {
            firewall_event::DENIED
        } else {
            event
        };
        if dp_c2s > 0 || db_c2s > 0 || p.closed {
            out.push(base.direction(true, db_c2s, dp_c2s, reason, event));
        }
        if dp_s2c > 0 || db_s2c > 0 || (p.closed && f.packets_s2c > 0) {
            out.push(base.direction(false, db_s2c, dp_s2c, reason, event));
        }
        if p.closed {
            self.sent.remove(&p.id);
        } else {
            self.sent.insert(
                p.id,
                Sent {
                    packets_c2s: f.packets_c2s.max(before.packets_c2s),
                    bytes_c2s: f.bytes_c2s.max(before.bytes_c2s),
                    packets_s2c: f.packets_s2c.max(before.packets_s2c),
                    bytes_s2c: f.bytes_s2c.max(before.bytes_s2c),
                    seen_ms: now_ms,
                },
            );
        }
    }
}

/// The client → server record of a flow with zero counters; `None` without a valid tuple.
fn base(f: &pb::FlowEvent) -> Option<FlowRecord> {
    let t = f.tuple.as_ref()?;
    let ip = |b: &[u8]| -> Option<IpAddr> {
        match b.len() {
            4 => Some(IpAddr::from(<[u8; 4]>::try_from(b).ok()?)),
            16 => Some(IpAddr::from(<[u8; 16]>::try_from(b).ok()?)),
            _ => None,
        }
    };
    let (client, server) = (ip(&t.client_ip)?, ip(&t.server_ip)?);
    if client.is_ipv4() != server.is_ipv4() {
        return None;
    }
    let (app_id, master_id, host) = match &f.classification {
        Some(c) => (c.app_id, c.master_id, c.host.as_str()),
        None => (0, 0, ""),
    };
    let mut id = if app_id != 0 { app_id } else { master_id };
    if id == 0 {
        // A kernel END with no capture record: its label came from the connmark's app bits.
        let app = f.label.rsplit('.').next().unwrap_or("");
        id = nfguard_proto::protocols::by_name(app).map_or(0, |p| u32::from(p.id.0));
    }
    let label = if f.label.is_empty() {
        crate::schema::UNKNOWN_APP
    } else {
        f.label.as_str()
    };
    let http = master_id == NDPI_HTTP || (master_id == 0 && app_id == NDPI_HTTP);
    Some(FlowRecord {
        src: client,
        dst: server,
        src_port: u16::try_from(t.client_port).unwrap_or(0),
        dst_port: u16::try_from(t.server_port).unwrap_or(0),
        protocol: u8::try_from(t.l4).unwrap_or(0),
        octets: 0,
        packets: 0,
        start_ms: f.first_seen_unix_ms,
        end_ms: f.last_seen_unix_ms.max(f.first_seen_unix_ms),
        end_reason: 0,
        firewall_event: 0,
        direction: direction::INITIATOR,
        app_id: u16::try_from(id).unwrap_or(0),
        label: super::ipfix::truncate(label, super::ipfix::MAX_LABEL).to_string(),
        http_host: if http {
            host.to_string()
        } else {
            String::new()
        },
        server_name: if http {
            String::new()
        } else {
            host.to_string()
        },
        rule: f.rule.clone(),
    })
}

impl FlowRecord {
    /// This flow's record of one direction with its deltas.
    fn direction(&self, c2s: bool, octets: u64, packets: u64, reason: u8, event: u8) -> FlowRecord {
        let mut r = self.clone();
        if !c2s {
            std::mem::swap(&mut r.src, &mut r.dst);
            std::mem::swap(&mut r.src_port, &mut r.dst_port);
            r.direction = direction::REVERSE_INITIATOR;
        }
        r.octets = octets;
        r.packets = packets;
        r.end_reason = reason;
        r.firewall_event = event;
        r
    }
}
