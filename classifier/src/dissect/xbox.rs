//! Xbox Live over UDP: the header pairs nDPI `src/lib/protocols/xbox.c` keys on.

use super::{Ctx, Dissector, Hit, Probe, be32, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "xbox",
    probe: xbox,
    tcp_ports: &[],
    udp_ports: &[3074],
    reassemble: false,
    emits: &[ids::XBOX],
};

/// nDPI `xbox.c`: four zero bytes, then (byte 4, byte 6) one of these pairs with 0x58 at byte 5
/// and three zero bytes from byte 7.
const XBOX_PAIRS: [(u8, u8); 5] = [
    (0x0c, 0x76),
    (0x02, 0x18),
    (0x0b, 0x80),
    (0x03, 0x40),
    (0x06, 0x4e),
];

fn xbox<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.is_udp() || data.len() <= 12 {
        return Probe::NoMatch;
    }
    let header = be32(data, 0) == Some(0)
        && data.get(5) == Some(&0x58)
        && data.get(7..10) == Some(&[0, 0, 0]);
    let pair = (
        data.get(4).copied().unwrap_or(0),
        data.get(6).copied().unwrap_or(0),
    );
    proto_if(header && XBOX_PAIRS.contains(&pair), ids::XBOX)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    #[test]
    fn xbox_header_pairs() {
        // nDPI xbox.c's pattern (no public capture at hand): 0x00000000, 0x0c 0x58 0x76, zeros.
        let mut m = vec![0, 0, 0, 0, 0x0c, 0x58, 0x76, 0, 0, 0];
        m.resize(20, 0x11);
        let u = Ctx::client(17, 3074, 3074);
        assert!(matches!(xbox(&u, &m), Probe::Match(h) if h.master == ids::XBOX));
        m[6] = 0x77;
        assert_eq!(xbox(&u, &m), Probe::NoMatch);
        m[6] = 0x76;
        assert_eq!(xbox(&u, &m[..12]), Probe::NoMatch);
        m[0] = 1;
        assert_eq!(xbox(&u, &m), Probe::NoMatch);
    }
}
