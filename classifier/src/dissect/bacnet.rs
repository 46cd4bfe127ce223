//! BACnet/IP (ASHRAE 135 Annex J, BACnet Virtual Link Control). nDPI
//! `src/lib/protocols/bacnet.c`: a UDP datagram, on any port, starting with the BVLC header: type
//! `0x81` (BACnet/IP), a function up to `0x0b` (Secure-BVLL, the last Annex J defines) and a
//! 16-bit length equal to the datagram's.

use super::{ANY, Ctx, Dissector, Hit, Probe, at, be16, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "bacnet",
    probe,
    tcp_ports: &[],
    udp_ports: ANY,
    reassemble: false,
    emits: &[ids::BACNET],
};

const BVLC_TYPE_BACNET_IP: u8 = 0x81;
const BVLC_LAST_FUNCTION: u8 = 0x0b;
/// type, function, length.
const BVLC_HEADER: usize = 4;

fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    proto_if(
        ctx.is_udp()
            && data.len() >= BVLC_HEADER
            && at(data, 0) == BVLC_TYPE_BACNET_IP
            && at(data, 1) <= BVLC_LAST_FUNCTION
            && be16(data, 2).map(usize::from) == Some(data.len()),
        ids::BACNET,
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

    /// A Who-Is broadcast (Annex J.2.1: BVLC 0x81, Original-Broadcast-NPDU 0x0b, length 12; NPDU
    /// version 1, control 0x20 with DNET 0xffff, hop count 255; APDU unconfirmed Who-Is 0x10 0x08).
    const WHO_IS: [u8; 12] = [
        0x81, 0x0b, 0x00, 0x0c, 0x01, 0x20, 0xff, 0xff, 0x00, 0xff, 0x10, 0x08,
    ];

    #[test]
    fn bacnet_who_is_on_its_port_and_another() {
        for port in [47808, 50000] {
            assert_eq!(
                probe(&Ctx::client(17, 47808, port), &WHO_IS),
                Probe::Match(Hit::proto(ids::BACNET))
            );
        }
        // Original-Unicast-NPDU (0x0a) with a 2-byte NPDU.
        assert!(probe(&Ctx::client(17, 47808, 47808), &[0x81, 0x0a, 0, 6, 1, 0]).is_match());
    }

    #[test]
    fn not_bacnet() {
        // Every proper prefix: the BVLC length names the whole datagram.
        for n in 0..WHO_IS.len() {
            let c = Ctx::client(17, 47808, 47808);
            assert_eq!(probe(&c, &WHO_IS[..n]), Probe::NoMatch, "{n}");
        }
        let ctx = Ctx::client(17, 47808, 47808);
        // Function 0x0c, BVLC type 0x82, a length one short, cut, and over TCP.
        for (i, v) in [(1, 0x0c), (0, 0x82), (3, 0x0b)] {
            let mut p = WHO_IS;
            p[i] = v;
            assert_eq!(probe(&ctx, &p), Probe::NoMatch, "byte {i} = {v}");
        }
        assert_eq!(probe(&ctx, &WHO_IS[..11]), Probe::NoMatch);
        assert_eq!(probe(&ctx, &WHO_IS[..3]), Probe::NoMatch);
        assert_eq!(
            probe(&Ctx::client(6, 47808, 47808), &WHO_IS),
            Probe::NoMatch
        );
    }
}
