//! RTPS (OMG DDSI-RTPS 2.5 §9.4.4: the message header is the protocol id `RTPS`, version
//! major/minor, vendor id and the 12-byte GUID prefix). nDPI `src/lib/protocols/rtps.c`: a UDP
//! datagram of at least 16 bytes, on any port, starting `RTPS` or `RTPX` with version 2.0–2.5.

use super::{ANY, Ctx, Dissector, Hit, Probe, at, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "rtps",
    probe,
    tcp_ports: &[],
    udp_ports: ANY,
    reassemble: false,
    emits: &[ids::RTPS],
};

const MIN_LEN: usize = 16;
const MAJOR: u8 = 2;
/// The last minor version nDPI knows (DDSI-RTPS 2.5).
const LAST_MINOR: u8 = 5;

fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    proto_if(
        ctx.is_udp()
            && data.len() >= MIN_LEN
            && (data.starts_with(b"RTPS") || data.starts_with(b"RTPX"))
            && at(data, 4) == MAJOR
            && at(data, 5) <= LAST_MINOR,
        ids::RTPS,
    )
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;
    use crate::dissect::testutil::server;

    /// An SPDP participant announcement's start (§9.4.4 header, vendor 01.0f eProsima, a GUID
    /// prefix, then an INFO_TS submessage).
    fn spdp() -> Vec<u8> {
        let mut p = b"RTPS\x02\x03\x01\x0f".to_vec();
        p.extend([
            0x01, 0x0f, 0x5a, 0x2b, 0x10, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
        ]);
        p.extend([0x09, 0x01, 0x08, 0x00, 1, 2, 3, 4, 5, 6, 7, 8]);
        p
    }

    #[test]
    fn rtps_participant_announcement() {
        let p = spdp();
        assert_eq!(
            probe(&Ctx::client(17, 40000, 7400), &p),
            Probe::Match(Hit::proto(ids::RTPS))
        );
        let mut x = p.clone();
        x[3] = b'X';
        assert!(probe(&server(17, 7411), &x).is_match());
        for n in 0..=p.len() {
            assert_eq!(
                probe(&Ctx::client(17, 40000, 7400), &p[..n]).is_match(),
                n >= MIN_LEN
            );
        }
    }

    #[test]
    fn not_rtps() {
        let ctx = Ctx::client(17, 40000, 7400);
        // Version 2.6, version 1.5, another magic, over TCP.
        for (i, v) in [(5, 6), (4, 1), (0, b'S')] {
            let mut p = spdp();
            p[i] = v;
            assert_eq!(probe(&ctx, &p), Probe::NoMatch, "byte {i} = {v}");
        }
        assert_eq!(probe(&Ctx::client(6, 40000, 7400), &spdp()), Probe::NoMatch);
    }
}
