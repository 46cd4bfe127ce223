//! Call of Duty: Mobile over UDP. nDPI `src/lib/protocols/cod_mobile.c`: a 12-byte datagram to
//! or from port 7500 with `ping` at offset 8, or a datagram longer than 350 bytes starting `0xce`
//! that contains `LOC_PREFAB_LOADOUTNAME_1` (the game's loadout names), on any port.

use super::{ANY, Ctx, Dissector, Hit, Probe, at, find, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "cod_mobile",
    probe,
    tcp_ports: &[],
    udp_ports: ANY,
    reassemble: false,
    emits: &[ids::COD_MOBILE],
};

const PING_PORT: u16 = 7500;
const PING_LEN: usize = 12;
const PING: &[u8] = b"ping";
const PING_AT: usize = 8;
/// nDPI: the loadout datagram is longer than 350 bytes.
const LOADOUT_MIN_LEN: usize = 351;
const LOADOUT_FIRST: u8 = 0xce;
const LOADOUT: &[u8] = b"LOC_PREFAB_LOADOUTNAME_1";

fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.is_udp() {
        return Probe::NoMatch;
    }
    let ping =
        data.len() == PING_LEN && ctx.has_port(PING_PORT) && data.get(PING_AT..) == Some(PING);
    let loadout = data.len() >= LOADOUT_MIN_LEN
        && at(data, 0) == LOADOUT_FIRST
        && find(data, LOADOUT).is_some();
    proto_if(ping || loadout, ids::COD_MOBILE)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    const COD: Probe<Hit<'static>> = Probe::Match(Hit::proto(ids::COD_MOBILE));

    #[test]
    fn ping_on_its_port_only() {
        // Built from nDPI cod_mobile.c: eight bytes, then "ping".
        let p = b"\x00\x01\x02\x03\x04\x05\x06\x07ping";
        assert_eq!(probe(&Ctx::client(17, 50000, PING_PORT), p), COD);
        assert_eq!(probe(&Ctx::client(17, 50000, 47123), p), Probe::NoMatch);
        assert_eq!(
            probe(&Ctx::client(17, 50000, PING_PORT), &p[..11]),
            Probe::NoMatch
        );
        assert_eq!(probe(&Ctx::client(6, 50000, PING_PORT), p), Probe::NoMatch);
    }

    #[test]
    fn loadout_datagram() {
        let mut p = vec![LOADOUT_FIRST; 100];
        p.extend(LOADOUT);
        p.resize(LOADOUT_MIN_LEN, 0x41);
        let c = Ctx::client(17, 50000, 47123);
        assert_eq!(probe(&c, &p), COD);
        // Shorter, another first byte, or without the name.
        assert_eq!(probe(&c, &p[..LOADOUT_MIN_LEN - 1]), Probe::NoMatch);
        let mut q = p.clone();
        q[0] = 0xcf;
        assert_eq!(probe(&c, &q), Probe::NoMatch);
        let mut q = p.clone();
        q[100] = b'X';
        assert_eq!(probe(&c, &q), Probe::NoMatch);
    }
}
