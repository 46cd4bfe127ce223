//! TeamSpeak. nDPI `src/lib/protocols/teamspeak.c`: a UDP datagram of at least 20 bytes starting
//! with the Init1 MAC `TS3INIT1` (TeamSpeak 3's handshake packets carry that fixed MAC in both
//! directions, ReSpeak's TS3 protocol notes), or a TCP segment of at least 20 bytes starting
//! `f4 be 0N 00` for N in 1..=3 (TeamSpeak 2's connection packet, soliloque-server wiki), on any
//! port.

use super::{ANY, Ctx, Dissector, Hit, Probe, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "teamspeak",
    probe,
    tcp_ports: ANY,
    udp_ports: ANY,
    reassemble: false,
    emits: &[ids::TEAMSPEAK],
};

/// nDPI `teamspeak.c` looks at nothing shorter.
const MIN_LEN: usize = 20;
const TS3_INIT_MAC: &[u8] = b"TS3INIT1";

fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if ctx.is_udp() {
        return proto_if(
            data.len() >= MIN_LEN && data.starts_with(TS3_INIT_MAC),
            ids::TEAMSPEAK,
        );
    }
    if !ctx.is_tcp() || !ts2_head(data) {
        return Probe::NoMatch;
    }
    match data.len() {
        n if n >= MIN_LEN => Probe::Match(Hit::proto(ids::TEAMSPEAK)),
        // A cut first segment of what may be the connection packet.
        _ if ctx.stream_start => Probe::NeedMore,
        _ => Probe::NoMatch,
    }
}

/// The first four bytes, as far as `data` has them, are `f4 be 0N 00` with N in 1..=3.
fn ts2_head(data: &[u8]) -> bool {
    data.iter().take(4).enumerate().all(|(i, &b)| match i {
        0 => b == 0xf4,
        1 => b == 0xbe,
        2 => (1..=3).contains(&b),
        _ => b == 0,
    })
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;
    use crate::dissect::testutil::{check_all_prefixes, server};

    /// TS3 client Init1 step 0, built from the TS3 protocol notes: MAC `TS3INIT1`, packet id 101,
    /// client id 0, type 0x88 (Init1, unencrypted), then version, step 0, time, random, 8 zeros.
    fn init0() -> Vec<u8> {
        let mut p = b"TS3INIT1\x00\x65\x00\x00\x88".to_vec();
        p.extend([
            0x06, 0x3b, 0xec, 0xe9, 0x00, 0x5f, 0x10, 0x20, 0x30, 1, 2, 3, 4,
        ]);
        p.extend([0; 8]);
        p
    }

    #[test]
    fn ts3_init1_both_directions() {
        let c = Ctx::client(17, 50123, 9987);
        assert_eq!(
            probe(&c, &init0()),
            Probe::Match(Hit::proto(ids::TEAMSPEAK))
        );
        // Server step 1: MAC, packet id 101, type 0x88, 0x01, 16 random, the client's 4 reversed.
        let mut s1 = b"TS3INIT1\x00\x65\x88\x01".to_vec();
        s1.extend([0x5a; 20]);
        assert!(probe(&server(17, 9987), &s1).is_match());
    }

    #[test]
    fn ts2_tcp_connection_packet() {
        let c = Ctx::client(6, 40000, 51234);
        let mut p = vec![0xf4, 0xbe, 0x03, 0x00];
        p.extend([0x11; 24]);
        check_all_prefixes(&c, &p, MIN_LEN, probe, |h| {
            assert_eq!(h.master, ids::TEAMSPEAK)
        });
    }

    #[test]
    fn not_teamspeak() {
        let u = Ctx::client(17, 50123, 9987);
        // Too short (nDPI's 20-byte floor), another MAC, the TS3 MAC over TCP.
        assert_eq!(probe(&u, &init0()[..19]), Probe::NoMatch);
        let mut other = init0();
        other[7] = b'2';
        assert_eq!(probe(&u, &other), Probe::NoMatch);
        assert_eq!(
            probe(&Ctx::client(6, 40000, 9987), &init0()),
            Probe::NoMatch
        );
        // TS2 with type 0 or 4, or a nonzero fourth byte.
        let t = Ctx::client(6, 40000, 51234);
        for head in [[0xf4, 0xbe, 0, 0], [0xf4, 0xbe, 4, 0], [0xf4, 0xbe, 1, 1]] {
            let mut p = head.to_vec();
            p.extend([0x11; 24]);
            assert_eq!(probe(&t, &p), Probe::NoMatch, "{head:02x?}");
        }
    }
}
