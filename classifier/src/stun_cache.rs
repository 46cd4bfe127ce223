//! Applications learned from STUN, keyed by endpoint (address and port). A STUN/TURN session
//! reuses the client's socket for every server it talks to (binding to a public STUN server,
//! allocation at the app's TURN server, media to the peer), but only some of those flows carry an
//! attribute or realm naming the application. nDPI keeps the same cache (`stun_cache`, keys from
//! `get_stun_lru_key()` in `src/lib/protocols/stun.c`) and labels the other flows of the socket
//! from it with confidence "DPI (cache)".
//!
//! Bounded: at most `CAPACITY` endpoints; the map is allocated once, and when full it is cleared
//! (sessions are short; a miss only costs the application name, never the STUN label).

use std::collections::HashMap;
use std::net::SocketAddr;

use nfguard_proto::AppId;

use crate::classification::{Classification, Confidence, PacketView, State, category_of};
use crate::dissect::ids;

/// Payload packets a plain-STUN flow is still inspected for an application (nDPI's default
/// `stun.max_packets_extra_dissection` is of this order; the realm comes in the server's
/// 401 answer, the second or fourth message).
pub const STUN_EXTRA_PACKETS: u8 = 6;
/// Endpoints remembered at most.
pub const CAPACITY: usize = 1024;

/// Endpoint → application learned from a STUN message.
#[derive(Debug)]
pub struct StunCache {
    map: HashMap<SocketAddr, AppId>,
}

impl Default for StunCache {
    fn default() -> Self {
        StunCache {
            map: HashMap::with_capacity(CAPACITY),
        }
    }
}

impl StunCache {
    /// Remembers that `endpoint`'s STUN traffic belongs to `app`.
    pub fn learn(&mut self, endpoint: SocketAddr, app: AppId) {
        if self.map.len() >= CAPACITY && !self.map.contains_key(&endpoint) {
            self.map.clear();
        }
        self.map.insert(endpoint, app);
    }

    /// The application learned for either endpoint of a flow (the first one's wins).
    pub fn lookup(&self, a: SocketAddr, b: SocketAddr) -> Option<AppId> {
        self.map.get(&a).or_else(|| self.map.get(&b)).copied()
    }

    /// Endpoints remembered now.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// A decided STUN flow: an application teaches the cache the client's endpoint; plain STUN
    /// and RTP take an application learned for either endpoint (`stun_cache.rs`).
    pub fn apply(&mut self, out: Classification, pkt: &PacketView<'_>) -> Classification {
        // RTP media of a STUN-negotiated call (nDPI's rtp.c consults the same cache).
        let rtp = out.master == ids::RTP || out.app == ids::RTP;
        if !(out.master == ids::STUN || rtp) || out.state == State::NeedMore {
            return out;
        }
        if !rtp && out.app != ids::STUN {
            self.learn(pkt.client, out.app);
            return out;
        }
        match self.lookup(pkt.client, pkt.server) {
            Some(app) => {
                let master = if rtp { ids::RTP } else { out.master };
                Classification {
                    master,
                    app,
                    category: category_of(app, master),
                    confidence: Confidence::DpiCache,
                    ..out
                }
            }
            None => out,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn learns_looks_up_either_endpoint_and_stays_bounded() {
        let mut c = StunCache::default();
        let a: SocketAddr = "192.168.1.2:40000".parse().unwrap();
        let b: SocketAddr = "198.51.100.1:3478".parse().unwrap();
        assert_eq!(c.lookup(a, b), None);
        c.learn(a, AppId(269));
        assert_eq!(c.lookup(b, a), Some(AppId(269)));
        assert_eq!(c.lookup(a, b), Some(AppId(269)));
        for port in 0..u16::try_from(CAPACITY * 2).unwrap() {
            c.learn(SocketAddr::from(([10, 0, 0, 1], port)), AppId(1));
            assert!(c.len() <= CAPACITY);
        }
        assert!(!c.is_empty());
    }
}
