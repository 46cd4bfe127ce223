//! Genshin Impact over UDP. nDPI `src/lib/protocols/genshin_impact.c`: a flow's first datagram,
//! at least 20 bytes, with the words `000000ff`, `00000000` at 0 and 4 and `499602d2`,
//! `ffffffff` at 12 and 16 (the game's connect handshake; bytes 8–11 are free). Those 16 fixed
//! bytes are the proof here; a stateless probe cannot tell the first datagram from a later one.

use super::{Ctx, Dissector, Hit, Probe, be32, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "genshin_impact",
    probe,
    tcp_ports: &[],
    udp_ports: &[22102],
    reassemble: false,
    emits: &[ids::GENSHIN_IMPACT],
};

/// nDPI: the handshake datagram is at least this long.
const MIN_LEN: usize = 20;
/// (offset, word) pairs of the handshake.
const WORDS: [(usize, u32); 4] = [
    (0, 0x0000_00ff),
    (4, 0),
    (12, 0x4996_02d2),
    (16, 0xffff_ffff),
];

fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    let found = ctx.is_udp()
        && data.len() >= MIN_LEN
        && WORDS.iter().all(|&(off, w)| be32(data, off) == Some(w));
    proto_if(found, ids::GENSHIN_IMPACT)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    /// Built from nDPI genshin_impact.c's four words, any bytes 8–11.
    fn handshake() -> Vec<u8> {
        let mut p = vec![0, 0, 0, 0xff, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78];
        p.extend(0x4996_02d2u32.to_be_bytes());
        p.extend([0xff; 4]);
        p
    }

    #[test]
    fn handshake_words() {
        let c = Ctx::client(17, 50000, 22102);
        assert_eq!(
            probe(&c, &handshake()),
            Probe::Match(Hit::proto(ids::GENSHIN_IMPACT))
        );
        let mut longer = handshake();
        longer.extend([0; 8]);
        assert!(probe(&Ctx::client(17, 50000, 47123), &longer).is_match());
        // Every shorter prefix, each word altered, TCP.
        for n in 0..MIN_LEN {
            assert_eq!(probe(&c, &handshake()[..n]), Probe::NoMatch, "{n}");
        }
        for i in [3, 7, 15, 19] {
            let mut p = handshake();
            p[i] ^= 1;
            assert_eq!(probe(&c, &p), Probe::NoMatch, "byte {i}");
        }
        assert_eq!(
            probe(&Ctx::client(6, 50000, 22102), &handshake()),
            Probe::NoMatch
        );
    }
}
