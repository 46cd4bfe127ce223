//! DNS-answer cache: server address → (name, application) learned from A/AAAA answers, so the
//! first packets of a later flow to that address can be classified (`confidence = DpiCache`), and
//! a flow that names no host itself (no SNI, no Host header) carries the name DNS gave its server
//! (policy host lists match it). Names of no known application are kept with app Unknown.
//! Bounded (`capacity` entries, oldest-expiring evicted first) and TTL-aware (clamped to
//! `MIN_TTL..=MAX_TTL`). Time comes in as a parameter: the library has no clock.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use nfguard_proto::AppId;

use crate::dissect::{Ctx, dns};
use crate::hosts::HostMatcher;

/// Entries kept by default: a busy home network resolves a few thousand names an hour.
pub const DEFAULT_CAPACITY: usize = 4096;
/// Short TTLs (CDNs use 20–60 s) still deserve a few minutes: the flow usually starts within it.
pub const MIN_TTL: Duration = Duration::from_secs(60);
/// Never trust an answer for more than a day (resolvers cap TTLs the same way).
pub const MAX_TTL: Duration = Duration::from_secs(86_400);

#[derive(Debug, Clone)]
pub struct CacheEntry {
    pub name: Box<str>,
    pub app: AppId,
    pub category: &'static str,
    pub expires: Instant,
}

/// The bounded cache.
#[derive(Debug)]
pub struct DnsCache {
    map: HashMap<IpAddr, CacheEntry>,
    capacity: usize,
}

impl DnsCache {
    pub fn new(capacity: usize) -> Self {
        DnsCache {
            map: HashMap::with_capacity(capacity.min(1024)),
            capacity: capacity.max(1),
        }
    }

    /// Records that `name` (application `app`) resolved to `ip` for `ttl` seconds.
    pub fn insert(
        &mut self,
        ip: IpAddr,
        name: &str,
        app: AppId,
        category: &'static str,
        ttl: u32,
        now: Instant,
    ) {
        let ttl = Duration::from_secs(u64::from(ttl)).clamp(MIN_TTL, MAX_TTL);
        let expires = now.checked_add(ttl).unwrap_or(now);
        if let Some(e) = self.map.get_mut(&ip) {
            if &*e.name != name {
                e.name = name.into();
            }
            e.app = app;
            e.category = category;
            e.expires = expires;
            return;
        }
        if self.map.len() >= self.capacity {
            self.evict(now);
        }
        self.map.insert(
            ip,
            CacheEntry {
                name: name.into(),
                app,
                category,
                expires,
            },
        );
    }

    /// The live entry for `ip`, if any.
    pub fn get(&self, ip: &IpAddr, now: Instant) -> Option<&CacheEntry> {
        self.map.get(ip).filter(|e| e.expires > now)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Feeds a DNS response's A/AAAA answers in, keyed by its question name, with the application
    /// `hosts` knows it for (Unknown when none).
    pub fn learn(&mut self, hosts: &HostMatcher, ctx: &Ctx, payload: &[u8], now: Instant) {
        let Some(msg) = dns::message(ctx, payload) else {
            return;
        };
        let Some(m) = dns::parse(msg) else {
            return;
        };
        if !m.is_response || m.qname.is_empty() {
            return;
        }
        let mut name = [0u8; dns::MAX_NAME_LEN];
        let Some(n) = dns::labels_to_dotted(m.qname, &mut name) else {
            return;
        };
        let name = name.get(..n).unwrap_or(&[]);
        let (app, category) = hosts
            .lookup(name)
            .map_or((AppId::UNKNOWN, ""), |a| (a.app, a.category));
        let text = String::from_utf8_lossy(name);
        let _ = dns::for_each_address(msg, |ip, ttl| {
            self.insert(ip, &text, app, category, ttl, now);
        });
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Drops expired entries; if none expired, the one expiring soonest.
    fn evict(&mut self, now: Instant) {
        let before = self.map.len();
        self.map.retain(|_, e| e.expires > now);
        if self.map.len() < before {
            return;
        }
        if let Some(ip) = self
            .map
            .iter()
            .min_by_key(|(_, e)| e.expires)
            .map(|(ip, _)| *ip)
        {
            self.map.remove(&ip);
        }
    }
}

impl Default for DnsCache {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_and_bound() {
        let t0 = Instant::now();
        let mut c = DnsCache::new(2);
        let a: IpAddr = "192.0.2.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let b: IpAddr = "192.0.2.2".parse().unwrap_or(a);
        let d: IpAddr = "192.0.2.3".parse().unwrap_or(a);
        c.insert(a, "a.example", AppId(126), "Web", 300, t0);
        c.insert(b, "b.example", AppId(124), "Media", 3600, t0);
        assert_eq!(c.get(&a, t0).map(|e| e.app), Some(AppId(126)));
        // Expired after its TTL.
        assert!(c.get(&a, t0 + Duration::from_secs(301)).is_none());
        // Full: the soonest-expiring entry (a) goes.
        c.insert(d, "d.example", AppId(119), "SocialNetwork", 600, t0);
        assert_eq!(c.len(), 2);
        assert!(c.get(&a, t0).is_none());
        assert!(c.get(&b, t0).is_some() && c.get(&d, t0).is_some());
        // A tiny TTL is clamped up to MIN_TTL.
        c.insert(d, "d.example", AppId(119), "SocialNetwork", 1, t0);
        assert!(c.get(&d, t0 + Duration::from_secs(30)).is_some());
    }
}
