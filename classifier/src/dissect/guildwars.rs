//! Guild Wars over TCP. nDPI `src/lib/protocols/guildwars.c`: one of three client messages by
//! exact length and fixed fields, in any segment on any port:
//! 64 bytes with `05 0c` at 1 and `@2&P` at 50; 16 bytes with `04 0c` at 1, `a6 72` at 4, `01` at
//! 8 and `04` at 12; 21 bytes with `01 00` at 0, `f1 00 10 00` at 5 and `01` at 9.

use super::{ANY, Ctx, Dissector, Hit, Probe, at, be16, be32, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "guildwars",
    probe,
    tcp_ports: ANY,
    udp_ports: &[],
    reassemble: false,
    emits: &[ids::GUILDWARS],
};

fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    let found = ctx.is_tcp()
        && match data.len() {
            64 => be16(data, 1) == Some(0x050c) && data.get(50..54) == Some(b"@2&P"),
            16 => {
                be16(data, 1) == Some(0x040c)
                    && be16(data, 4) == Some(0xa672)
                    && at(data, 8) == 0x01
                    && at(data, 12) == 0x04
            }
            21 => {
                be16(data, 0) == Some(0x0100)
                    && be32(data, 5) == Some(0xf100_1000)
                    && at(data, 9) == 0x01
            }
            _ => false,
        };
    proto_if(found, ids::GUILDWARS)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    const GW: Probe<Hit<'static>> = Probe::Match(Hit::proto(ids::GUILDWARS));

    #[test]
    fn three_messages() {
        // Built from nDPI guildwars.c's fields; the other bytes are arbitrary.
        let c = Ctx::client(6, 50000, 6112);
        let mut a = vec![0x11; 64];
        a[1..3].copy_from_slice(&[0x05, 0x0c]);
        a[50..54].copy_from_slice(b"@2&P");
        assert_eq!(probe(&c, &a), GW);
        let mut b = vec![0u8; 16];
        b[1..3].copy_from_slice(&[0x04, 0x0c]);
        b[4..6].copy_from_slice(&[0xa6, 0x72]);
        b[8] = 1;
        b[12] = 4;
        assert_eq!(probe(&c, &b), GW);
        let mut d = vec![0u8; 21];
        d[0..2].copy_from_slice(&[0x01, 0x00]);
        d[5..9].copy_from_slice(&[0xf1, 0x00, 0x10, 0x00]);
        d[9] = 1;
        assert_eq!(probe(&c, &d), GW);
        // Any other length, an altered field, UDP.
        for m in [&a, &b, &d] {
            for n in 0..m.len() {
                assert_eq!(probe(&c, &m[..n]), Probe::NoMatch, "{n}");
            }
        }
        a[52] = b'x';
        assert_eq!(probe(&c, &a), Probe::NoMatch);
        b[12] = 5;
        assert_eq!(probe(&c, &b), Probe::NoMatch);
        assert_eq!(probe(&Ctx::client(17, 50000, 6112), &d), Probe::NoMatch);
    }
}
