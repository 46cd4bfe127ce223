//! Game and gamer-chat protocols known by their first messages: World of Warcraft's connection
//! banner and login (nDPI `src/lib/protocols/world_of_warcraft.c`), Discord's voice IP discovery
//! and keep-alive (nDPI `discord.c`; Discord developer docs, "Voice Connections: IP Discovery"),
//! and the Xbox Live UDP header nDPI `xbox.c` keys on.

use super::{Ctx, Dissector, Hit, Probe, at, be16, be32, http::find, ids, proto_if};

// ---------------------------------------------------------------- World of Warcraft

pub const WOW_DISSECTOR: Dissector = Dissector {
    name: "worldofwarcraft",
    probe: wow,
    tcp_ports: &[3724],
    udp_ports: &[],
    reassemble: false,
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
    proto_if(banner || login, ids::WORLD_OF_WARCRAFT)
}

// ---------------------------------------------------------------- Discord voice (UDP)

pub const DISCORD_DISSECTOR: Dissector = Dissector {
    name: "discord",
    probe: discord,
    tcp_ports: &[],
    udp_ports: super::ANY,
    reassemble: false,
};

/// IP discovery: type 1 (request) or 2 (response), length 70, SSRC, a 64-byte NUL-padded address
/// and a port: 74 bytes in all.
const DISCORD_DISCOVERY_LEN: usize = 74;
const DISCORD_DISCOVERY_BODY: u16 = 70;
/// nDPI `discord.c`: an 8-byte datagram starting 0x1337cafe.
const DISCORD_KEEPALIVE: u32 = 0x1337_cafe;

fn discord<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.is_udp() {
        return Probe::NoMatch;
    }
    let discovery = data.len() == DISCORD_DISCOVERY_LEN
        && matches!(be16(data, 0), Some(1 | 2))
        && be16(data, 2) == Some(DISCORD_DISCOVERY_BODY)
        && data.get(8..72).is_some_and(discord_address);
    let keepalive = data.len() == 8 && be32(data, 0) == Some(DISCORD_KEEPALIVE);
    proto_if(discovery || keepalive, ids::DISCORD)
}

/// The address field: printable text (possibly empty in a request), then NULs to the end.
fn discord_address(field: &[u8]) -> bool {
    let text = field.iter().take_while(|&&b| b != 0).count();
    field
        .get(..text)
        .is_some_and(|t| t.iter().all(|b| b.is_ascii_graphic()))
        && field.get(text..).is_some_and(|z| z.iter().all(|&b| b == 0))
}

// ---------------------------------------------------------------- Xbox Live (UDP)

pub const XBOX_DISSECTOR: Dissector = Dissector {
    name: "xbox",
    probe: xbox,
    tcp_ports: &[],
    udp_ports: &[3074],
    reassemble: false,
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

#[doc(hidden)]
pub fn fuzz_entry(data: &[u8]) {
    for ctx in [
        Ctx::client(6, 39329, 3724),
        Ctx::client(17, 50000, 3074),
        Ctx::client(17, 50000, 50001),
    ] {
        let _ = wow(&ctx, data);
        let _ = discord(&ctx, data);
        let _ = xbox(&ctx, data);
    }
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

    /// The IP discovery request layout of Discord's developer documentation: type 0x1, length 70,
    /// SSRC, an empty address and port 0.
    fn discovery(kind: u16, addr: &[u8]) -> Vec<u8> {
        let mut v = kind.to_be_bytes().to_vec();
        v.extend_from_slice(&70u16.to_be_bytes());
        v.extend_from_slice(&0x0001_e240u32.to_be_bytes());
        let mut a = addr.to_vec();
        a.resize(64, 0);
        v.extend_from_slice(&a);
        v.extend_from_slice(&50004u16.to_be_bytes());
        v
    }

    #[test]
    fn discord_ip_discovery() {
        let u = Ctx::client(17, 50000, 50004);
        assert!(
            matches!(discord(&u, &discovery(1, b"")), Probe::Match(h) if h.master == ids::DISCORD)
        );
        assert!(discord(&u, &discovery(2, b"203.0.113.7")).is_match());
        assert!(discord(&u, b"\x13\x37\xca\xfe\x00\x00\x00\x01").is_match());
        // Wrong type, wrong length field, junk after the address NUL, one byte short.
        assert_eq!(discord(&u, &discovery(3, b"")), Probe::NoMatch);
        let mut bad = discovery(2, b"203.0.113.7");
        bad[3] = 71;
        assert_eq!(discord(&u, &bad), Probe::NoMatch);
        let mut bad = discovery(2, b"203.0.113.7");
        bad[40] = b'x';
        assert_eq!(discord(&u, &bad), Probe::NoMatch);
        assert_eq!(discord(&u, &discovery(1, b"")[..73]), Probe::NoMatch);
        assert_eq!(
            discord(&Ctx::client(6, 1, 2), &discovery(1, b"")),
            Probe::NoMatch
        );
    }

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
