//! League of Legends: Wild Rift over UDP. nDPI `src/lib/protocols/lol_wild_rift.c`: a 22-byte
//! datagram whose first word is `0102c841` and last word `41304231`, on any port. (nDPI's other
//! path, a 69-byte `04000000` datagram followed later by a 359-byte `10000000` one, pairs two
//! packets and is left out: a stateless probe sees one.)

use super::{ANY, Ctx, Dissector, Hit, Probe, be32, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "lol_wild_rift",
    probe,
    tcp_ports: &[],
    udp_ports: ANY,
    reassemble: false,
    emits: &[ids::LOLWILDRIFT],
};

const LEN: usize = 22;
const FIRST: u32 = 0x0102_c841;
const LAST: u32 = 0x4130_4231;
/// Offset of the last word of a `LEN`-byte datagram.
const LAST_AT: usize = LEN - 4;

fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    let found = ctx.is_udp()
        && data.len() == LEN
        && be32(data, 0) == Some(FIRST)
        && be32(data, LAST_AT) == Some(LAST);
    proto_if(found, ids::LOLWILDRIFT)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    /// Built from nDPI lol_wild_rift.c: the two words around 14 free bytes.
    fn datagram() -> Vec<u8> {
        let mut p = FIRST.to_be_bytes().to_vec();
        p.extend([0x5a; 14]);
        p.extend(LAST.to_be_bytes());
        p
    }

    #[test]
    fn first_and_last_word() {
        let c = Ctx::client(17, 50000, 47123);
        assert_eq!(
            probe(&c, &datagram()),
            Probe::Match(Hit::proto(ids::LOLWILDRIFT))
        );
        // Every prefix, one byte more, either word altered, TCP.
        for n in 0..LEN {
            assert_eq!(probe(&c, &datagram()[..n]), Probe::NoMatch, "{n}");
        }
        let mut p = datagram();
        p.push(0);
        assert_eq!(probe(&c, &p), Probe::NoMatch);
        for i in [0, LEN - 1] {
            let mut p = datagram();
            p[i] ^= 1;
            assert_eq!(probe(&c, &p), Probe::NoMatch, "byte {i}");
        }
        assert_eq!(
            probe(&Ctx::client(6, 50000, 47123), &datagram()),
            Probe::NoMatch
        );
    }
}
