//! What happens after a dissector's hit: the result is final, or the flow waits for one more
//! fact in a [`FollowUp`] — one named state per flow, each variant owned by its protocol's module,
//! which says how it advances: a DNS query waits for its answer (`dissect/dns.rs`), TLS without an
//! application for the server's certificate (`dissect/tls/certificate.rs`), plain mail/FTP for
//! STARTTLS (`dissect/mail/starttls.rs`), plain STUN for an application or DTLS
//! (`dissect/stun.rs`, `dissect/dtls.rs`). Also here: the refinements of a hit (DNS names in wire
//! form, Tor's SNI, `dissect/tor.rs`).

use std::time::Instant;

use nfguard_proto::AppId;
use nfguard_proto::host_name::match_name;
use nfguard_proto::types::IPPROTO_UDP;

use crate::classification::{Classification, PacketView, category_of};
use crate::dissect::mail::starttls;
use crate::dissect::tls::certificate;
use crate::dissect::{Ctx, Hit, Probe, dns, dtls, ids, stun, tor};
use crate::dns_cache::DnsCache;
use crate::host_text::host_text;
use crate::hosts::HostMatcher;
use crate::reassembly::{MAX_HANDSHAKE_BYTES, StreamStart};
use crate::risks;

/// Ids only a follow-up produces (for `supported_ids`).
pub const EMITS: &[AppId] = &[
    ids::MAIL_SMTPS,
    ids::MAIL_IMAPS,
    ids::MAIL_POPS,
    starttls::FTPS,
    dtls::DTLS,
    tor::TOR,
];

/// What a flow waits for before its tentative result becomes final.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowUp {
    /// A DNS query (`dns.rs`): the answer, or the give-up, decides.
    DnsAnswer,
    /// TLS over TCP with no application from the SNI (`tls/certificate.rs`): the server's first
    /// certificate may name it.
    Certificate,
    /// Plain mail/FTP after its banner (`mail/starttls.rs`): watched for an in-band TLS upgrade.
    StartTls(starttls::Watch),
    /// Plain STUN (`stun.rs`): more datagrams inspected for an application, or a DTLS handshake.
    Stun(stun::Extra),
}

/// A flow's follow-up and the result it would report now.
#[derive(Debug)]
pub struct Pending {
    pub wait: FollowUp,
    pub result: Box<Classification>,
}

/// A hit turned into a classification; `tentative` when a DNS query waits for its answer.
pub struct Decided {
    pub c: Classification,
    pub tentative: bool,
}

/// Applies the host matcher to a hit and builds the classification: a DNS name in wire form is
/// made dotted first, and a DNS response feeds the cache; an SNI of Tor's shape names Tor.
pub fn decide(
    hosts: &HostMatcher,
    cache: &mut DnsCache,
    ctx: &Ctx,
    hit: &Hit<'_>,
    pkt: &PacketView<'_>,
    now: Instant,
) -> Decided {
    let mut d = if hit.dns_labels {
        let mut name = [0u8; dns::MAX_NAME_LEN];
        let n = dns::labels_to_dotted(hit.host, &mut name).unwrap_or(0);
        let plain = Hit {
            host: name.get(..n).unwrap_or(&[]),
            dns_labels: false,
            ..*hit
        };
        let c = by_host(hosts, &plain);
        let response = dns::is_response(ctx, pkt.payload);
        if response {
            cache.learn(
                hosts,
                &Ctx::client(pkt.l4, pkt.client.port(), pkt.server.port()),
                pkt.payload,
                now,
            );
        }
        Decided {
            c,
            tentative: !response,
        }
    } else {
        Decided {
            c: by_host(hosts, hit),
            tentative: false,
        }
    };
    let c = &mut d.c;
    if c.master == ids::TLS && c.app == ids::TLS && tor::is_tor(c.host.as_bytes(), pkt.server.ip())
    {
        c.app = tor::TOR;
        c.category = category_of(tor::TOR, c.master);
    }
    d
}

/// The classification of a hit, its application replaced by a host-name match when it has none.
/// The host is matched as a server reads it (`nfguard_proto::host_name`), shown escaped
/// (`host_text.rs`), and a malformed server name is a risk. SSH's "host" is its banner and mDNS
/// names are free text (`Living Room._airplay._tcp.local`): neither is held to host-name bytes.
pub fn by_host(hosts: &HostMatcher, hit: &Hit<'_>) -> Classification {
    use crate::classification::{Confidence, State, finished};
    let name = match_name(hit.host).name;
    let host_app = (hit.app == hit.master && !name.is_empty())
        .then(|| hosts.lookup(name))
        .flatten();
    let mut c = match host_app {
        Some(h) => finished(hit.master, h.app, h.category, Confidence::Dpi, State::Done),
        None => finished(hit.master, hit.app, "", Confidence::Dpi, State::Done),
    }
    .with_host(host_text(hit.host));
    if !hit.host.is_empty() && hit.master != ids::SSH && hit.master != ids::MDNS {
        c.risks = risks::of_server_name(hit.host);
    }
    c
}

/// A decided hit: final (`Some`), or the start or advance of a follow-up (`None`). DNS queries
/// wait for the answer, TLS over TCP without a usable SNI for the certificate, plain mail/FTP for
/// STARTTLS, plain STUN for an application.
pub fn after_hit(pending: &mut Option<Pending>, d: Decided, l4: u8) -> Option<Classification> {
    let Decided { c, tentative } = d;
    if c.master == ids::STUN && l4 == IPPROTO_UDP {
        return after_stun(pending, c);
    }
    if let Some(Pending {
        wait: FollowUp::Stun(extra),
        ..
    }) = pending
    {
        // A STUN flow's later packets (media, DTLS) do not relabel it; they only count down.
        return if extra.count() {
            pending.take().map(|p| *p.result)
        } else {
            None
        };
    }
    if l4 == nfguard_proto::types::IPPROTO_TCP
        && !tentative
        && starttls::secure_of(c.master).is_some()
    {
        *pending = Some(wait(FollowUp::StartTls(starttls::Watch::new()), c));
        return None;
    }
    // Only an SNI-less hello waits for the certificate: with an SNI the policy can decide on the
    // ClientHello itself, before the server answers (a reject decided on a server packet would
    // reset the server and leave the client hanging).
    // An SNI that is an IP literal (FortiClient sends one) names nothing: treat it as absent.
    let no_usable_sni = c.host.is_empty() || c.host.parse::<std::net::IpAddr>().is_ok();
    let awaiting_cert = matches!(
        pending,
        Some(Pending {
            wait: FollowUp::Certificate,
            ..
        })
    );
    let tls_without_app =
        c.master == ids::TLS && c.app == ids::TLS && no_usable_sni && !awaiting_cert;
    if tentative || tls_without_app {
        let w = if tls_without_app {
            FollowUp::Certificate
        } else {
            FollowUp::DnsAnswer
        };
        *pending = Some(wait(w, c));
        return None;
    }
    Some(c)
}

/// STUN naming an application is final; plain STUN keeps being inspected for
/// `STUN_EXTRA_PACKETS` datagrams, then stands.
fn after_stun(pending: &mut Option<Pending>, c: Classification) -> Option<Classification> {
    if c.app != ids::STUN {
        *pending = None;
        return Some(c);
    }
    let last = match pending {
        None => {
            *pending = Some(wait(FollowUp::Stun(stun::Extra::new()), c));
            return None;
        }
        Some(Pending {
            wait: FollowUp::Stun(extra),
            ..
        }) => extra.count(),
        // Another follow-up's result stands.
        Some(_) => true,
    };
    if last {
        pending.take().map(|p| *p.result)
    } else {
        None
    }
}

/// A datagram of a STUN flow before the dissectors see it: a DTLS handshake is WebRTC keying its
/// media, which nDPI's stun.c labels DTLS (keeping an application STUN named).
pub fn before_datagram(pending: &mut Option<Pending>, data: &[u8]) -> Option<Classification> {
    if !matches!(
        pending,
        Some(Pending {
            wait: FollowUp::Stun(_),
            ..
        })
    ) || !dtls::is_handshake(data)
    {
        return None;
    }
    pending
        .take()
        .map(|p| relabel_master(*p.result, dtls::DTLS))
}

/// A datagram no dissector recognised: it still counts towards a STUN flow's extra packets.
pub fn unmatched_datagram(pending: &mut Option<Pending>) -> Option<Classification> {
    match pending {
        Some(Pending {
            wait: FollowUp::Stun(extra),
            ..
        }) => {
            if extra.count() {
                pending.take().map(|p| *p.result)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// A TCP packet of a flow whose follow-up reads TCP payload (certificate, STARTTLS): `Some` with
/// the answer once decided (`Some(None)` while it goes on); `None` when no such follow-up waits.
pub fn on_segment(
    pending: &mut Option<Pending>,
    server_stream: &mut StreamStart,
    hosts: &HostMatcher,
    pkt: &PacketView<'_>,
) -> Option<Option<Classification>> {
    let p = pending.as_mut()?;
    match &mut p.wait {
        FollowUp::Certificate => Some(certificate_step(pending, server_stream, hosts, pkt)),
        FollowUp::StartTls(watch) => {
            let plain = p.result.master;
            let upgraded = match watch.advance(plain, pkt.from_client, pkt.payload) {
                Some(v) => v,
                None => return Some(None),
            };
            let c = *pending.take()?.result;
            Some(Some(match starttls::secure_of(c.master) {
                Some(secure) if upgraded => relabel_master(c, secure),
                _ => c,
            }))
        }
        FollowUp::DnsAnswer | FollowUp::Stun(_) => None,
    }
}

/// Reassembles the server's stream start and matches its first certificate's names; without
/// a match the tentative TLS result stands.
fn certificate_step(
    pending: &mut Option<Pending>,
    server_stream: &mut StreamStart,
    hosts: &HostMatcher,
    pkt: &PacketView<'_>,
) -> Option<Classification> {
    if pkt.from_client {
        return None;
    }
    let offset = server_stream.offset(pkt.tcp_seq);
    let buf = server_stream.buffer();
    if offset < MAX_HANDSHAKE_BYTES {
        buf.insert(offset as u64, pkt.payload);
    }
    let found = match certificate::app_of_first_certificate(buf.contiguous(), |n| hosts.lookup(n)) {
        Probe::Match(found) => found,
        Probe::NeedMore | Probe::NoMatch => return None,
    };
    let mut c = *pending.take()?.result;
    if let Some(h) = found {
        c.app = h.app;
        c.category = if h.category.is_empty() {
            category_of(h.app, c.master)
        } else {
            h.category
        };
    }
    Some(c)
}

fn wait(wait: FollowUp, c: Classification) -> Pending {
    Pending {
        wait,
        result: Box::new(c),
    }
}

/// The same flow carried by `master` (an application that only named the old master follows).
fn relabel_master(mut c: Classification, master: AppId) -> Classification {
    if c.app == c.master {
        c.app = master;
    }
    c.master = master;
    c.category = category_of(c.app, c.master);
    c
}
