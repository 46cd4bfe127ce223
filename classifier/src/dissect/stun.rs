//! STUN (RFC 5389 §6, RFC 3489 §11.1): a 20-byte header whose length covers the attributes exactly.
//! Application hints follow nDPI's `src/lib/protocols/stun.c` (4.2): WhatsApp's 0x4000–0x4002
//! attributes and message type 0x0800, realms naming Google/Facebook/Signal, Skype/Teams
//! attributes 0x8054/0x8070/0x8006…, Zoom's 0x0103.

use nfguard_proto::AppId;

use super::{Ctx, Dissector, Hit, Probe, Reader, be16, be32, find, ids};

const HEADER_LEN: usize = 20;
/// RFC 5389 §6.
const MAGIC_COOKIE: u32 = 0x2112_a442;
/// Attributes read per message (a binding request carries fewer than ten).
const MAX_ATTRIBUTES: usize = 32;
const ATTR_REALM: u16 = 0x0014;
/// Microsoft's [MS-TURN] attributes (IANA STUN attribute registry): only Skype for Business and
/// Teams media relays send them; nDPI `stun.c` names such flows Skype_TeamsCall.
const MS_VERSION: u16 = 0x8008;
/// nDPI `stun.c`: WhatsApp calls use message types 0x0800–0x0802 of their own, and attributes
/// 0x4000–0x4004 and 0x4007; Zoom uses 0x0101 and 0x0103.
const WHATSAPP_TYPES: [u16; 3] = [0x0800, 0x0801, 0x0802];
const MS_SEQUENCE_NUMBER: u16 = 0x8050;
const MS_SERVICE_QUALITY: u16 = 0x8055;

const WHATSAPP_CALL: AppId = ids::WHATSAPP_CALL;
const FACEBOOK_VOIP: AppId = ids::FACEBOOK_VOIP;
const GOOGLE_CALL: AppId = ids::GOOGLE_CALL;
const SIGNAL_VOIP: AppId = ids::SIGNAL_VOIP;
const SKYPE_TEAMS_CALL: AppId = ids::SKYPE_TEAMS_CALL;
const ZOOM: AppId = ids::ZOOM;

pub const DISSECTOR: Dissector = Dissector {
    name: "stun",
    probe,
    tcp_ports: &[3478],
    udp_ports: &[3478, 3479, 5349, 19302, 3480, 3481],
    reassemble: false,
    emits: &[
        ids::WHATSAPP_CALL,
        ids::FACEBOOK_VOIP,
        ids::GOOGLE_CALL,
        ids::SIGNAL_VOIP,
        ids::SKYPE_TEAMS_CALL,
        ids::ZOOM,
        ids::STUN,
    ],
};

pub fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    // STUN over TCP is framed the same (RFC 5389 §7.2.2); only UDP datagrams and stream starts.
    if !ctx.stream_start {
        return Probe::NoMatch;
    }
    // Over TCP, MS-ICE2 (Skype for Business, Teams) and RFC 4571 put a 2-byte length before each
    // message; nDPI `stun.c` skips it when the length agrees with the STUN header that follows.
    if ctx.is_tcp()
        && be32(data, 6) == Some(MAGIC_COOKIE)
        && be16(data, 4).and_then(|l| usize::from(l).checked_add(HEADER_LEN))
            == be16(data, 0).map(usize::from)
        && let Some(inner) = data.get(2..)
    {
        return message(ctx, inner);
    }
    message(ctx, data)
}

/// One STUN message at the start of `data`.
fn message<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    let (Some(msg_type), Some(msg_len), Some(cookie)) =
        (be16(data, 0), be16(data, 2), be32(data, 4))
    else {
        return if ctx.is_tcp() && data.len() < HEADER_LEN {
            Probe::NeedMore
        } else {
            Probe::NoMatch
        };
    };
    let msg_len = usize::from(msg_len);
    // The two top bits of the type are zero; lengths are multiples of 4 (RFC 5389 §6).
    if msg_type & 0xc000 != 0 || msg_len % 4 != 0 {
        return Probe::NoMatch;
    }
    let Some(total) = msg_len.checked_add(HEADER_LEN) else {
        return Probe::NoMatch;
    };
    if data.len() < total {
        return if ctx.is_tcp() {
            Probe::NeedMore
        } else {
            Probe::NoMatch
        };
    }
    if data.len() != total && ctx.is_udp() {
        return Probe::NoMatch;
    }
    // Without the cookie (RFC 3489), require a known method/class to limit false positives.
    let method = msg_type & 0x3eef;
    if cookie != MAGIC_COOKIE
        && !(method <= 0x000b && msg_len > 0)
        && !WHATSAPP_TYPES.contains(&msg_type)
    {
        return Probe::NoMatch;
    }
    if WHATSAPP_TYPES.contains(&msg_type) {
        return Probe::Match(app_hit(WHATSAPP_CALL, &[]));
    }
    if method > 0x000b {
        return Probe::NoMatch;
    }
    let mut r = Reader::new(data.get(HEADER_LEN..total).unwrap_or(&[]));
    for _ in 0..MAX_ATTRIBUTES {
        let (Some(ty), Some(len)) = (r.u16(), r.u16()) else {
            break;
        };
        let len = usize::from(len);
        let value = r.rest().get(..len).unwrap_or(r.rest());
        let app = match ty {
            0x0101 | 0x0103 => Some(ZOOM),
            0x4000..=0x4004 | 0x4007 => Some(WHATSAPP_CALL),
            ATTR_REALM => realm_app(value),
            MS_VERSION | MS_SEQUENCE_NUMBER | MS_SERVICE_QUALITY => Some(SKYPE_TEAMS_CALL),
            0x8054 | 0x8070 | 0x24df | 0x3802 | 0x8036 | 0x8095 | 0x8006 => Some(SKYPE_TEAMS_CALL),
            0xff03 => Some(GOOGLE_CALL),
            _ => None,
        };
        if let Some(app) = app {
            let host = if ty == ATTR_REALM { value } else { &[] };
            return Probe::Match(app_hit(app, host));
        }
        // Attributes are padded to 4 bytes.
        let padded = len.checked_add(3).map_or(usize::MAX, |l| l & !3);
        if r.skip(padded).is_none() {
            break;
        }
    }
    Probe::Match(Hit::proto(ids::STUN))
}

fn realm_app(realm: &[u8]) -> Option<AppId> {
    if find(realm, b"google.com").is_some() {
        Some(GOOGLE_CALL)
    } else if find(realm, b"signal.org").is_some() || find(realm, b"whispersystems.org").is_some() {
        Some(SIGNAL_VOIP)
    } else if find(realm, b"facebook").is_some() {
        Some(FACEBOOK_VOIP)
    } else {
        None
    }
}

fn app_hit(app: AppId, host: &[u8]) -> Hit<'_> {
    Hit {
        master: ids::STUN,
        app,
        host,
        dns_labels: false,
    }
}

#[doc(hidden)]
pub fn fuzz_entry(data: &[u8]) {
    let _ = probe(&Ctx::client(17, 40000, 3478), data);
    let _ = probe(&Ctx::client(6, 40000, 3478), data);
}

/// The follow-up of plain STUN (the engine's `FollowUp::Stun`): datagrams still inspected for an
/// application, since the realm or a vendor attribute often comes in a later message (nDPI's
/// extra dissection, `stun.c`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extra {
    left: u8,
}

impl Extra {
    pub const fn new() -> Self {
        Extra {
            left: crate::stun_cache::STUN_EXTRA_PACKETS,
        }
    }

    /// Counts one more datagram; true when it was the last one inspected.
    pub fn count(&mut self) -> bool {
        self.left = self.left.saturating_sub(1);
        self.left == 0
    }
}

impl Default for Extra {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
// Tests may index, unwrap and panic: a failure is the point.
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use crate::dissect::testutil::check_all_prefixes;

    /// RFC 5769 §2.1 sample request (SOFTWARE, PRIORITY, ICE-CONTROLLED, USERNAME,
    /// MESSAGE-INTEGRITY, FINGERPRINT).
    const RFC5769_REQUEST: &[u8] = &[
        0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6,
        0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x10, 0x53, 0x54, 0x55, 0x4e, 0x20, 0x74,
        0x65, 0x73, 0x74, 0x20, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74, 0x00, 0x24, 0x00, 0x04, 0x6e,
        0x00, 0x01, 0xff, 0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36,
        0x00, 0x06, 0x00, 0x09, 0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68, 0x36, 0x76, 0x59, 0x20, 0x20,
        0x20, 0x00, 0x08, 0x00, 0x14, 0x9a, 0xea, 0xa7, 0x0c, 0xbf, 0xd8, 0xcb, 0x56, 0x78, 0x1e,
        0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49, 0xc1, 0xb5, 0x71, 0xa2, 0x80, 0x28, 0x00, 0x04, 0xe5,
        0x7a, 0x3b, 0xcf,
    ];

    #[test]
    fn rfc5769_request_over_tcp_all_prefixes() {
        let ctx = Ctx::client(6, 40000, 3478);
        check_all_prefixes(&ctx, RFC5769_REQUEST, RFC5769_REQUEST.len(), probe, |h| {
            assert_eq!((h.master, h.app), (ids::STUN, ids::STUN))
        });
        let udp = Ctx::client(17, 40000, 3478);
        assert!(probe(&udp, RFC5769_REQUEST).is_match());
        // A truncated datagram is not STUN.
        assert_eq!(probe(&udp, &RFC5769_REQUEST[..40]), Probe::NoMatch);
    }

    #[test]
    fn whatsapp_attribute() {
        let mut m = RFC5769_REQUEST[..20].to_vec();
        m[3] = 8;
        m.extend_from_slice(&[0x40, 0x00, 0x00, 0x04, 1, 2, 3, 4]);
        let Probe::Match(h) = probe(&Ctx::client(17, 1, 3478), &m) else {
            panic!()
        };
        assert_eq!(h.app, WHATSAPP_CALL);
        for attr in [0x4004u16, 0x4007] {
            m[20..22].copy_from_slice(&attr.to_be_bytes());
            let Probe::Match(h) = probe(&Ctx::client(17, 1, 3478), &m) else {
                panic!()
            };
            assert_eq!(h.app, WHATSAPP_CALL);
        }
        // 0x4005 is not one of them.
        m[20..22].copy_from_slice(&0x4005u16.to_be_bytes());
        let Probe::Match(h) = probe(&Ctx::client(17, 1, 3478), &m) else {
            panic!()
        };
        assert_eq!(h.app, ids::STUN);
        // WhatsApp's own message type 0x0801, without the magic cookie.
        let mut t = vec![0x08, 0x01, 0x00, 0x04, 0, 0, 0, 0];
        t.extend_from_slice(&[9; 12]);
        t.extend_from_slice(&[0, 0, 0, 0]);
        let Probe::Match(h) = probe(&Ctx::client(17, 1, 3478), &t) else {
            panic!()
        };
        assert_eq!(h.app, WHATSAPP_CALL);
    }

    /// nDPI's stun.pcap: a Skype for Business client's first TCP segment, an MS-ICE2 binding
    /// request behind a 2-byte length (0x0068): USERNAME, PRIORITY, ICE-CONTROLLING,
    /// MS-CANDIDATE-IDENTIFIER (0x8054), MS-IMPLEMENTATION-VERSION (0x8070) 3, MESSAGE-INTEGRITY,
    /// FINGERPRINT.
    const MS_ICE_TCP: &[u8] = &[
        0x00, 0x68, 0x00, 0x01, 0x00, 0x54, 0x21, 0x12, 0xa4, 0x42, 0xf3, 0x43, 0x94, 0x53, 0xb6,
        0x98, 0xfb, 0x29, 0x50, 0xbb, 0x06, 0xed, 0x00, 0x06, 0x00, 0x09, 0x2f, 0x70, 0x49, 0x30,
        0x3a, 0x54, 0x6f, 0x45, 0x64, 0x00, 0x00, 0x00, 0x00, 0x24, 0x00, 0x04, 0x6e, 0x6b, 0xfc,
        0xff, 0x80, 0x29, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0xc2, 0xd1, 0x80, 0x54,
        0x00, 0x01, 0x32, 0x00, 0x00, 0x00, 0x80, 0x70, 0x00, 0x04, 0x00, 0x00, 0x00, 0x03, 0x00,
        0x08, 0x00, 0x14, 0xfe, 0x92, 0x87, 0x6a, 0xd4, 0x6d, 0x7b, 0x79, 0x7d, 0x42, 0xeb, 0x8d,
        0x79, 0xa8, 0x05, 0xfa, 0xf3, 0x1d, 0x72, 0xd1, 0x80, 0x28, 0x00, 0x04, 0x02, 0x00, 0xfc,
        0x47,
    ];

    #[test]
    fn ms_ice_over_tcp_with_length_prefix() {
        let ctx = Ctx::client(6, 41588, 42000);
        let Probe::Match(h) = probe(&ctx, MS_ICE_TCP) else {
            panic!("not STUN")
        };
        assert_eq!((h.master, h.app), (ids::STUN, SKYPE_TEAMS_CALL));
        // A prefix length that disagrees with the STUN length is not taken as framing.
        let mut bad = MS_ICE_TCP.to_vec();
        bad[1] = 0x69;
        assert_eq!(probe(&ctx, &bad), Probe::NoMatch);
        // Over UDP there is no framing.
        assert_eq!(probe(&Ctx::client(17, 1, 3478), MS_ICE_TCP), Probe::NoMatch);
    }

    #[test]
    fn ms_turn_attributes() {
        // An allocate request (0x0003) carrying MS-VERSION 6, as [MS-TURN] §2.2.2.1 lays it out.
        for attr in [MS_VERSION, MS_SEQUENCE_NUMBER, MS_SERVICE_QUALITY] {
            let mut m = vec![0x00, 0x03, 0x00, 0x08, 0x21, 0x12, 0xa4, 0x42];
            m.extend_from_slice(&[7; 12]);
            m.extend_from_slice(&attr.to_be_bytes());
            m.extend_from_slice(&[0x00, 0x04, 0x00, 0x00, 0x00, 0x06]);
            let Probe::Match(h) = probe(&Ctx::client(17, 50000, 3478), &m) else {
                panic!("{attr:04x}")
            };
            assert_eq!(h.app, SKYPE_TEAMS_CALL, "{attr:04x}");
        }
        // SOFTWARE (0x8022) names nothing.
        let mut m = vec![0x00, 0x01, 0x00, 0x08, 0x21, 0x12, 0xa4, 0x42];
        m.extend_from_slice(&[7; 12]);
        m.extend_from_slice(&[0x80, 0x22, 0x00, 0x04, b'a', b'b', b'c', b'd']);
        let Probe::Match(h) = probe(&Ctx::client(17, 50000, 3478), &m) else {
            panic!()
        };
        assert_eq!(h.app, ids::STUN);
    }
}
