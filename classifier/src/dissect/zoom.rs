//! Zoom media over UDP (nDPI 4.11 `src/lib/protocols/zoom.c`, after the Princeton-Cabernet
//! zoom-analysis dissector). On ports 8801–8810 a datagram longer than the 8-byte "SFU
//! encapsulation" (type u8, sequence u16, unknown u32, direction u8) is Zoom when it starts
//! `01 00 03`, `01 00 02` (client's first packets), `02 00 03` or `02 00 02` (server's), or is SFU
//! type 5 carrying a "media encapsulation" (type u8, 2 × u32, sequence u16, timestamp u32 = 15
//! bytes) whose type puts RTP or RTCP at nDPI's offset: 13 screen share (RTP optional), 30
//! screen share, 15 audio, 16 video (RTP at 20/19/24), 33–35 RTCP (at 16). With RTP inside, nDPI
//! labels the flow `SRTP.Zoom`. On any port, a peer-to-peer call's first datagram is media type
//! 0x1f `1f 02 01`, a 24-byte header, a length-prefixed address string, a length-prefixed id and
//! four zero bytes that end the datagram exactly.
//!
//! Not taken: SFU types 3 and 4, which nDPI accepts only from the fourth packet on ("quite weak");
//! a stateless probe cannot count.

use nfguard_proto::AppId;

use super::{ANY, Ctx, Dissector, Hit, Probe, at, be32, ids};

pub const ZOOM: AppId = ids::ZOOM;
/// nDPI's master for Zoom media with RTP inside.
pub const SRTP: AppId = ids::SRTP;
const PORTS: std::ops::RangeInclusive<u16> = 8801..=8810;
const SFU_LEN: usize = 8;
const MEDIA_LEN: usize = 15;
const FIRST_PACKETS: [[u8; 3]; 4] = [[1, 0, 3], [1, 0, 2], [2, 0, 3], [2, 0, 2]];
const P2P: [u8; 3] = [0x1f, 0x02, 0x01];
const P2P_HEADER: usize = 24;
const P2P_MIN_LEN: usize = 37;

pub const DISSECTOR: Dissector = Dissector {
    name: "zoom",
    probe,
    tcp_ports: &[],
    udp_ports: ANY,
    reassemble: false,
    emits: &[ids::ZOOM, ids::SRTP],
};

pub fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.is_udp() {
        return Probe::NoMatch;
    }
    let zoom_port = PORTS.contains(&ctx.client_port) || PORTS.contains(&ctx.server_port);
    if zoom_port && data.len() > SFU_LEN {
        if FIRST_PACKETS.iter().any(|p| data.starts_with(p)) {
            return Probe::Match(Hit::proto(ZOOM));
        }
        if at(data, 0) == 5 && data.len() > SFU_LEN + MEDIA_LEN {
            return match data.get(SFU_LEN..).and_then(media) {
                Some(true) => Probe::Match(Hit {
                    master: SRTP,
                    ..Hit::proto(ZOOM)
                }),
                Some(false) => Probe::Match(Hit::proto(ZOOM)),
                None => Probe::NoMatch,
            };
        }
        return Probe::NoMatch;
    }
    if is_p2p_hello(data) {
        return Probe::Match(Hit::proto(ZOOM));
    }
    Probe::NoMatch
}

/// A Zoom media encapsulation: `Some(rtp_inside)` when its type and inner packet agree.
fn media(m: &[u8]) -> Option<bool> {
    if m.len() <= MEDIA_LEN {
        return None;
    }
    let inner = |off: usize| m.get(off..).filter(|r| !r.is_empty());
    match at(m, 0) {
        // Screen share: RTP is often absent at the start of the flow, nDPI accepts either way.
        13 => (m.len() > 27).then(|| inner(27).is_some_and(is_rtp)),
        30 => inner(20).filter(|r| is_rtp(r)).map(|_| true),
        15 => inner(19).filter(|r| is_rtp(r)).map(|_| true),
        16 => inner(24).filter(|r| is_rtp(r)).map(|_| true),
        33..=35 => inner(16).filter(|r| is_rtcp(r)).map(|_| false),
        _ => None,
    }
}

/// RTP version 2 with a payload type nDPI's `is_rtp_or_rtcp` calls RTP.
fn is_rtp(b: &[u8]) -> bool {
    let pt = at(b, 1) & 0x7f;
    b.len() >= 12
        && at(b, 0) >> 6 == 2
        && !(72..=76).contains(&pt)
        && (pt <= 34 || (96..=127).contains(&pt))
}

/// RTCP version 2 with a packet type in 192–213 (RFC 3550 §12.1 and later registrations).
fn is_rtcp(b: &[u8]) -> bool {
    b.len() >= 8 && at(b, 0) >> 6 == 2 && (192..=213).contains(&at(b, 1))
}

/// The peer-to-peer hello: type, header, address and id vectors, four zero bytes, nothing else.
fn is_p2p_hello(data: &[u8]) -> bool {
    let n = data.len();
    if n < P2P_MIN_LEN
        || !data.starts_with(&P2P)
        || data.get(n.saturating_sub(4)..) != Some(&[0; 4])
    {
        return false;
    }
    let Some(ip_len) = be32(data, P2P_HEADER).and_then(|l| usize::try_from(l).ok()) else {
        return false;
    };
    let Some(uuid_at) = P2P_HEADER
        .checked_add(4)
        .and_then(|x| x.checked_add(ip_len))
    else {
        return false;
    };
    if uuid_at.checked_add(4).is_none_or(|end| end >= n) {
        return false;
    }
    let Some(uuid_len) = be32(data, uuid_at).and_then(|l| usize::try_from(l).ok()) else {
        return false;
    };
    uuid_at
        .checked_add(4)
        .and_then(|x| x.checked_add(uuid_len))
        .and_then(|x| x.checked_add(4))
        == Some(n)
}

#[doc(hidden)]
pub fn fuzz_entry(data: &[u8]) {
    let _ = probe(&Ctx::client(17, 58327, 8801), data);
    let _ = probe(&Ctx::client(17, 50000, 50001), data);
    let _ = probe(&Ctx::client(6, 58327, 8801), data);
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::panic,
    clippy::cast_possible_truncation
)]
mod tests {
    use super::*;

    /// SFU type 5 + media type 15 (audio) + an RTP header (PT 112 dynamic, Opus as Zoom uses).
    fn sfu5_audio() -> Vec<u8> {
        let mut d = vec![0x05, 0x00, 0x2a, 0, 0, 0, 0, 0x04];
        d.extend_from_slice(&[15, 0, 0, 0, 1, 0, 0, 0, 2, 0x00, 0x07, 0, 0, 0x10, 0]);
        d.extend_from_slice(&[0, 0, 0, 0]); // up to offset 19 of the media header
        d.extend_from_slice(&[
            0x90, 0x70, 0x12, 0x34, 0, 0, 0x03, 0xc0, 0xde, 0xad, 0xbe, 0xef,
        ]);
        d.extend_from_slice(&[0x55; 40]);
        d
    }

    #[test]
    fn sfu_first_packets_and_media() {
        let ctx = Ctx::client(17, 58327, 8801);
        let mut first = vec![0x01, 0x00, 0x03, 0x00, 0x24, 0x00, 0x00, 0x00];
        first.extend_from_slice(&[0xab; 30]);
        assert_eq!(probe(&ctx, &first), Probe::Match(Hit::proto(ZOOM)));
        let server = Ctx {
            from_client: false,
            ..ctx
        };
        first[0] = 0x02;
        assert!(probe(&server, &first).is_match());
        let audio = sfu5_audio();
        let Probe::Match(h) = probe(&ctx, &audio) else {
            panic!("sfu5 audio")
        };
        assert_eq!((h.master, h.app), (SRTP, ZOOM));
    }

    #[test]
    fn not_zoom() {
        let ctx = Ctx::client(17, 58327, 8801);
        // Type 5 whose inner packet is not RTP.
        let mut audio = sfu5_audio();
        audio[8 + 19] = 0x00;
        assert_eq!(probe(&ctx, &audio), Probe::NoMatch);
        // The first-packet pattern off the Zoom ports, and too short on them.
        let first = [0x01, 0x00, 0x03, 0, 0, 0, 0, 0, 9, 9];
        assert_eq!(probe(&Ctx::client(17, 40000, 9000), &first), Probe::NoMatch);
        assert_eq!(probe(&ctx, &first[..8]), Probe::NoMatch);
        assert_eq!(probe(&Ctx::client(6, 40000, 8801), &first), Probe::NoMatch);
    }

    #[test]
    fn p2p_hello_lengths_must_add_up() {
        let ctx = Ctx::client(17, 50000, 50001);
        let mut d = vec![0x1f, 0x02, 0x01];
        d.resize(24, 0x11);
        let ip = b"192.168.1.178";
        d.extend_from_slice(&(ip.len() as u32).to_be_bytes());
        d.extend_from_slice(ip);
        let id = [0x42u8; 16];
        d.extend_from_slice(&(id.len() as u32).to_be_bytes());
        d.extend_from_slice(&id);
        d.extend_from_slice(&[0; 4]);
        assert!(probe(&ctx, &d).is_match());
        d.push(0);
        assert_eq!(probe(&ctx, &d), Probe::NoMatch);
        d.pop();
        d[27] = 0xff; // address length past the end
        assert_eq!(probe(&ctx, &d), Probe::NoMatch);
    }
}
