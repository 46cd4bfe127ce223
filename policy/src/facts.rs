//! What a decision is made from: the flow's tuple, interfaces and queue ([`FlowFacts`]), its
//! classification once DPI has one ([`ClassFacts`]), and the LAN hosts' byte counts ([`Usage`]).
//! Everything borrows the request, so building facts allocates nothing.

use std::collections::HashMap;
use std::net::IpAddr;

use nfguard_proto::pb;
use nfguard_proto::types::{AppId, FlowKey, IPPROTO_ICMPV6};
use nfguard_proto::units::QuotaPeriod;

/// One flow as the policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct FlowFacts<'a> {
    /// Client (SYN sender) and server as seen in FORWARD. For ICMP and ICMPv6 the capture puts the
    /// message type in `server.port()` (0 when unknown): neighbour discovery is recognised by it.
    pub key: FlowKey,
    /// Input interface (`""` when unknown).
    pub in_iface: &'a str,
    /// Output interface (`""` when unknown).
    pub out_iface: &'a str,
    /// NFQUEUE number the flow arrived on.
    pub queue: u16,
    /// `None` on a new flow's tuple-only request.
    pub class: Option<ClassFacts<'a>>,
}

/// A flow's classification.
#[derive(Debug, Clone, Copy)]
pub struct ClassFacts<'a> {
    pub master: AppId,
    pub app: AppId,
    /// nDPI spelling (`"Media"`).
    pub category: &'a str,
    /// SNI, HTTP Host or DNS name.
    pub host: Option<&'a str>,
    /// nDPI flow risks (`"ndpi_clear_text_credentials"`…).
    pub risks: &'a [String],
    /// JA4 of the TLS or QUIC ClientHello (`"t13d1516h2_8daaf6152771_02713d6af862"`).
    pub ja4: Option<&'a str>,
    /// The ClientHello carried an Encrypted ClientHello extension.
    pub ech: bool,
}

/// Why a `DecideRequest` could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FactsError {
    #[error("missing tuple")]
    MissingTuple,
    #[error("malformed tuple (address length or port out of range)")]
    BadTuple,
}

impl<'a> FlowFacts<'a> {
    /// Reads a bus request; the classification's ids above `u16::MAX` become `Unknown`.
    ///
    /// # Errors
    /// [`FactsError`] when the tuple is absent or malformed.
    pub fn from_pb(req: &'a pb::DecideRequest) -> Result<FlowFacts<'a>, FactsError> {
        let tuple = req.tuple.as_ref().ok_or(FactsError::MissingTuple)?;
        let key = FlowKey::from_tuple(tuple).ok_or(FactsError::BadTuple)?;
        let queue = req
            .flow
            .as_ref()
            .map_or(0, |f| u16::try_from(f.queue).unwrap_or(u16::MAX));
        Ok(FlowFacts {
            key,
            in_iface: &req.in_iface,
            out_iface: &req.out_iface,
            queue,
            class: req.classification.as_ref().map(ClassFacts::from_pb),
        })
    }

    /// ICMPv6 router/neighbour solicitation/advertisement or redirect (types 133–137, RFC 4861 §4).
    pub(crate) fn is_neighbour_discovery(&self) -> bool {
        self.key.l4 == IPPROTO_ICMPV6 && (133..=137).contains(&self.key.server.port())
    }
}

impl<'a> ClassFacts<'a> {
    pub fn from_pb(c: &'a pb::Classification) -> ClassFacts<'a> {
        let id = |n: u32| AppId(u16::try_from(n).unwrap_or(0));
        ClassFacts {
            master: id(c.master_id),
            app: id(c.app_id),
            category: &c.category,
            host: (!c.host.is_empty()).then_some(c.host.as_str()),
            risks: &c.risks,
            ja4: (!c.ja4.is_empty()).then_some(c.ja4.as_str()),
            ech: c.ech,
        }
    }
}

/// Bytes per LAN host in the current day, week and month: the store's `UsageSnapshot`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    hosts: HashMap<IpAddr, [u64; 3]>,
}

impl Usage {
    /// No usage known: every quota is under its limit.
    pub fn empty() -> Usage {
        Usage::default()
    }

    /// From the store's snapshot; hosts with a malformed address are skipped.
    pub fn from_pb(s: &pb::UsageSnapshot) -> Usage {
        let hosts = s
            .hosts
            .iter()
            .filter_map(|h| {
                let ip = nfguard_proto::types::ip_from_bytes(&h.ip)?;
                Some((ip, [h.day_bytes, h.week_bytes, h.month_bytes]))
            })
            .collect();
        Usage { hosts }
    }

    /// Sets one host's counters (tests, replay).
    pub fn set(&mut self, ip: IpAddr, day: u64, week: u64, month: u64) {
        self.hosts.insert(ip, [day, week, month]);
    }

    /// Bytes `ip` used in the current `period`.
    pub fn bytes(&self, ip: IpAddr, period: QuotaPeriod) -> u64 {
        let Some(h) = self.hosts.get(&ip) else {
            return 0;
        };
        let [day, week, month] = *h;
        match period {
            QuotaPeriod::Day => day,
            QuotaPeriod::Week => week,
            QuotaPeriod::Month => month,
        }
    }
}
