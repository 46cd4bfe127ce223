//! Discord voice over UDP: IP discovery and keep-alive (nDPI `src/lib/protocols/discord.c`;
//! Discord developer docs, "Voice Connections: IP Discovery").

use super::{Ctx, Dissector, Hit, Probe, be16, be32, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "discord",
    probe: discord,
    tcp_ports: &[],
    udp_ports: super::ANY,
    reassemble: false,
    emits: &[ids::DISCORD],
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

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

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
}
