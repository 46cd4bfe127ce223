//! World of Warcraft: the connection banner and the login challenge.
//! nDPI `src/lib/protocols/world_of_warcraft.c`.

use super::{Ctx, Dissector, Hit, Probe, at, find, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "worldofwarcraft",
    probe: wow,
    tcp_ports: &[3724],
    udp_ports: &[],
    reassemble: false,
    emits: &[ids::WORLDOFWARCRAFT],
};

/// Both peers open with a 2-byte little-endian length and "WORLD OF WARCRAFT CONNECTION - SERVER
/// TO CLIENT" (or CLIENT TO SERVER), NUL-terminated.
const WOW_BANNER: &[u8] = b"WORLD OF WARCRAFT CONNECTION";
/// The login server's port, where the client's logon challenge carries the game name "WoW".
const WOW_LOGIN_PORT: u16 = 3724;

fn wow<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.is_tcp() || !ctx.stream_start {
        return Probe::NoMatch;
    }
    let le_len = usize::from(u16::from_le_bytes([at(data, 0), at(data, 1)]));
    let banner = data.get(2..).is_some_and(|b| b.starts_with(WOW_BANNER))
        && le_len.checked_add(2) == Some(data.len())
        && data.last() == Some(&0);
    // Logon challenge to 3724: 40–70 bytes with "WoW" at offset 4 or 5 (nDPI's window).
    let login = ctx.from_client
        && ctx.server_port == WOW_LOGIN_PORT
        && (41..70).contains(&data.len())
        && data.get(4..8).is_some_and(|w| find(w, b"WoW").is_some());
    proto_if(banner || login, ids::WORLDOFWARCRAFT)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    /// nDPI's wow.pcap: the client's banner on a realm connection to port 3724.
    const WOW_CLIENT: &[u8] = b"\x30\x00WORLD OF WARCRAFT CONNECTION - CLIENT TO SERVER\x00";

    #[test]
    fn wow_banner_both_directions() {
        let c = Ctx::client(6, 39329, 3724);
        assert!(
            matches!(wow(&c, WOW_CLIENT), Probe::Match(h) if h.master.name() == "WorldOfWarcraft")
        );
        let server = b"\x30\x00WORLD OF WARCRAFT CONNECTION - SERVER TO CLIENT\x00";
        let s = Ctx {
            from_client: false,
            ..c
        };
        assert!(wow(&s, server).is_match());
        // On another port too (realm servers move).
        assert!(wow(&Ctx::client(6, 40000, 8085), WOW_CLIENT).is_match());
        // A wrong length prefix, a cut banner, not at the stream start: no.
        let mut bad = WOW_CLIENT.to_vec();
        bad[0] = 0x31;
        assert_eq!(wow(&c, &bad), Probe::NoMatch);
        assert_eq!(wow(&c, &WOW_CLIENT[..20]), Probe::NoMatch);
        let mid = Ctx {
            stream_start: false,
            ..c
        };
        assert_eq!(wow(&mid, WOW_CLIENT), Probe::NoMatch);
    }

    #[test]
    fn wow_logon_challenge() {
        // AUTH_LOGON_CHALLENGE: cmd 0, error 8, size, then "WoW\0" and the client version.
        let mut m = vec![
            0x00, 0x08, 0x22, 0x00, b'W', b'o', b'W', 0x00, 3, 3, 5, 0x34, 0x30,
        ];
        m.resize(44, b'x');
        assert!(wow(&Ctx::client(6, 40000, 3724), &m).is_match());
        assert_eq!(wow(&Ctx::client(6, 40000, 3725), &m), Probe::NoMatch);
    }
}
