//! Activision (Call of Duty) over UDP. nDPI `src/lib/protocols/activision.c`: the first datagram
//! of a direction, at least 29 bytes, starts `0c 02` (one side) or `0d 02` (the other) and holds
//! `c0 a8` at offset 17 and `00 15 02 0c` at offset 19; that one datagram decides. (nDPI's other
//! path, five packets whose first bytes alternate `0x29`/`0x28`, counts packets across the flow
//! and is left out: a stateless probe cannot count.) nDPI's direction is its address order, not who spoke
//! first, so either opening is taken from either side.

use super::{ANY, Ctx, Dissector, Hit, Probe, be16, be32, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "activision",
    probe,
    tcp_ports: &[],
    udp_ports: ANY,
    reassemble: false,
    emits: &[ids::ACTIVISION],
};

/// nDPI: a first datagram shorter than this is not Activision.
const MIN_LEN: usize = 29;
const OPENINGS: [u16; 2] = [0x0c02, 0x0d02];
const MARK_A: u16 = 0xc0a8;
const MARK_B: u32 = 0x0015_020c;

fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    let found = ctx.is_udp()
        && data.len() >= MIN_LEN
        && be16(data, 0).is_some_and(|o| OPENINGS.contains(&o))
        && be16(data, 17) == Some(MARK_A)
        && be32(data, 19) == Some(MARK_B);
    proto_if(found, ids::ACTIVISION)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;
    use crate::dissect::testutil::server;

    /// A first datagram built from nDPI `activision.c`'s conditions (no capture at hand).
    fn opening(first: u16) -> Vec<u8> {
        let mut p = first.to_be_bytes().to_vec();
        p.resize(17, 0x3c);
        p.extend(MARK_A.to_be_bytes());
        p.extend(MARK_B.to_be_bytes());
        p.resize(40, 0x77);
        p
    }

    #[test]
    fn both_openings() {
        let c = Ctx::client(17, 3074, 3074);
        assert_eq!(
            probe(&c, &opening(0x0c02)),
            Probe::Match(Hit::proto(ids::ACTIVISION))
        );
        assert!(probe(&server(17, 3074), &opening(0x0d02)).is_match());
        assert!(probe(&c, &opening(0x0c02)[..MIN_LEN]).is_match());
    }

    #[test]
    fn not_activision() {
        let c = Ctx::client(17, 3074, 3074);
        let p = opening(0x0c02);
        // Every shorter prefix, another opening, either mark altered, TCP.
        for n in 0..MIN_LEN {
            assert_eq!(probe(&c, &p[..n]), Probe::NoMatch, "{n}");
        }
        assert_eq!(probe(&c, &opening(0x0e02)), Probe::NoMatch);
        for i in [17, 22] {
            let mut q = p.clone();
            q[i] ^= 1;
            assert_eq!(probe(&c, &q), Probe::NoMatch, "byte {i}");
        }
        assert_eq!(probe(&Ctx::client(6, 3074, 3074), &p), Probe::NoMatch);
    }
}
