//! Among Us over UDP. nDPI `src/lib/protocols/among_us.c`: a datagram longer than 9 bytes
//! starting `08 00 01 00 80 d9 02 03` (the game's Hazel handshake: Hello, nonce 1, then the
//! client's version word), on any port; the table's port 22023 only orders the probes.

use super::{Ctx, Dissector, Hit, Probe, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "among_us",
    probe,
    tcp_ports: &[],
    udp_ports: &[22023],
    reassemble: false,
    emits: &[ids::AMONG_US],
};

const HANDSHAKE: &[u8] = &[0x08, 0x00, 0x01, 0x00, 0x80, 0xd9, 0x02, 0x03];
/// nDPI: only datagrams longer than 9 bytes.
const MIN_LEN: usize = 10;

fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    proto_if(
        ctx.is_udp() && data.len() >= MIN_LEN && data.starts_with(HANDSHAKE),
        ids::AMONG_US,
    )
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    #[test]
    fn handshake_on_any_port() {
        // Built from nDPI among_us.c's two words, then a player name.
        let mut p = HANDSHAKE.to_vec();
        p.extend(b"\x00\x05Crew1");
        for port in [22023, 47123] {
            let c = Ctx::client(17, 50000, port);
            assert_eq!(probe(&c, &p), Probe::Match(Hit::proto(ids::AMONG_US)));
        }
        // Every shorter prefix, a changed word, TCP.
        let c = Ctx::client(17, 50000, 22023);
        for n in 0..MIN_LEN {
            assert_eq!(probe(&c, &p[..n]), Probe::NoMatch, "{n}");
        }
        p[5] = 0xda;
        assert_eq!(probe(&c, &p), Probe::NoMatch);
        assert_eq!(
            probe(&Ctx::client(6, 50000, 22023), HANDSHAKE),
            Probe::NoMatch
        );
    }
}
