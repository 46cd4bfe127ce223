//! RTP (RFC 3550 §5.1) over UDP, as nDPI's `src/lib/protocols/rtp.c` recognises it from one
//! datagram: at least the 12-byte fixed header, first byte 0x80 or 0xA0 (version 2, no CSRCs,
//! with or without padding), a payload type that is a static audio/video one (≤ 34) or dynamic
//! (96–127) and not in 72–76 (where RTCP packet types 200–204 land once the marker bit is
//! masked, RFC 5761 §4), a destination port above 1023, and never port 30303 (Ethereum's
//! discovery looks alike). Tried after every other dissector: it is the weakest signature.

use nfguard_proto::AppId;

use super::{Ctx, Dissector, Hit, Probe, ids, proto_if};

const RTP: AppId = ids::RTP;
const HEADER_LEN: usize = 12;
const ETHEREUM_PORT: u16 = 30303;

pub const DISSECTOR: Dissector = Dissector {
    name: "rtp",
    probe,
    tcp_ports: &[],
    // No usual port: the media ports come from SIP/SDP.
    udp_ports: super::ANY,
    reassemble: false,
    emits: &[ids::RTP],
};

pub fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    let dest = if ctx.from_client {
        ctx.server_port
    } else {
        ctx.client_port
    };
    if !ctx.is_udp() || ctx.has_port(ETHEREUM_PORT) || dest <= 1023 || data.len() < HEADER_LEN {
        return Probe::NoMatch;
    }
    let (Some(&first), Some(&second)) = (data.first(), data.get(1)) else {
        return Probe::NoMatch;
    };
    let payload_type = second & 0x7f;
    let valid_type = !(72..=76).contains(&payload_type)
        && (payload_type <= 34 || (96..=127).contains(&payload_type));
    proto_if((first == 0x80 || first == 0xa0) && valid_type, RTP)
}

#[doc(hidden)]
pub fn fuzz_entry(data: &[u8]) {
    let _ = probe(&Ctx::client(17, 40000, 16384), data);
    let _ = probe(&Ctx::client(6, 40000, 16384), data);
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    /// A G.711 µ-law packet header (PT 0, seq 1, ts 160, SSRC) plus 4 payload bytes.
    const PCMU: &[u8] = &[
        0x80, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0xa0, 0x12, 0x34, 0x56, 0x78, 0xff, 0xff, 0xff,
        0xff,
    ];

    #[test]
    fn audio_packet_matches_and_near_misses_do_not() {
        let ctx = Ctx::client(17, 40000, 16384);
        assert_eq!(probe(&ctx, PCMU), Probe::Match(Hit::proto(RTP)));
        // Every proper prefix shorter than the fixed header: not RTP (UDP datagrams are whole).
        for n in 0..HEADER_LEN {
            assert_eq!(probe(&ctx, &PCMU[..n]), Probe::NoMatch, "{n}");
        }
        let mut rtcp = PCMU.to_vec();
        rtcp[1] = 200; // RTCP sender report: PT 72 after masking
        assert_eq!(probe(&ctx, &rtcp), Probe::NoMatch);
        let mut v1 = PCMU.to_vec();
        v1[0] = 0x40;
        assert_eq!(probe(&ctx, &v1), Probe::NoMatch);
        let mut dynamic = PCMU.to_vec();
        dynamic[1] = 0x80 | 111; // marker + Opus's usual dynamic type
        assert!(probe(&ctx, &dynamic).is_match());
        // Well-known destination ports, Ethereum's port and TCP are excluded.
        assert_eq!(probe(&Ctx::client(17, 40000, 53), PCMU), Probe::NoMatch);
        assert_eq!(probe(&Ctx::client(17, 30303, 40000), PCMU), Probe::NoMatch);
        assert_eq!(probe(&Ctx::client(6, 40000, 16384), PCMU), Probe::NoMatch);
    }
}
