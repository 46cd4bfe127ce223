//! SOCKS4/4a/5 proxy handshakes: nDPI `src/lib/protocols/socks45.c` (SOCKS4 request
//! `04 01|02 … 00`, SOCKS5 greeting `05 01 00`), the SOCKS4 protocol note and RFC 1928 §3
//! (version 5, NMETHODS, METHODS: 0 no auth, 1 GSSAPI, 2 user/password, 3–0x7F IANA, 0x80–0xFE private).

use super::{Ctx, Dissector, Hit, Probe, at, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "socks",
    probe: socks,
    tcp_ports: &[1080],
    udp_ports: &[],
    reassemble: false,
    emits: &[ids::SOCKS],
};

/// SOCKS4: version, command, port (2), address (4), user id, NUL.
const SOCKS4_MIN: usize = 9;
/// User id (and SOCKS4a host name) bytes looked at before the NUL.
const SOCKS4_MAX_TAIL: usize = 255;
/// RFC 1928: NMETHODS is 1..=255; real clients offer a handful.
const SOCKS5_MAX_METHODS: u8 = 9;

fn socks<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.stream_start || !ctx.from_client || !ctx.is_tcp() {
        return Probe::NoMatch;
    }
    let ok = match at(data, 0) {
        4 => socks4(data),
        5 => socks5(data),
        _ => false,
    };
    proto_if(ok, ids::SOCKS)
}

fn socks4(data: &[u8]) -> bool {
    // CONNECT (1) or BIND (2), the request ends with the user id's NUL (nDPI's test) and the
    // user id is text; SOCKS4a puts 0.0.0.x (x ≠ 0) as address and a host name after it.
    let tail = data.get(8..).unwrap_or(&[]);
    let text = |s: &[u8]| s.iter().all(|b| b.is_ascii_graphic());
    matches!(at(data, 1), 1 | 2)
        && data.len() >= SOCKS4_MIN
        && tail.len() <= SOCKS4_MAX_TAIL
        && data.last() == Some(&0)
        && tail.split(|&b| b == 0).take(2).all(text)
}

fn socks5(data: &[u8]) -> bool {
    // VER, NMETHODS, METHODS: the whole greeting and nothing else.
    let n = at(data, 1);
    let methods = data.get(2..).unwrap_or(&[]);
    (1..=SOCKS5_MAX_METHODS).contains(&n)
        && methods.len() == usize::from(n)
        && methods
            .iter()
            .all(|&m| m <= 3 || (0x80..=0xfe).contains(&m))
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;

    #[test]
    fn socks_requests() {
        let ctx = Ctx::client(6, 1637, 21477);
        // RFC 1928 greeting offering "no authentication", and one offering user/password too.
        assert!(matches!(socks(&ctx, &[5, 1, 0]), Probe::Match(h) if h.master.name() == "SOCKS"));
        assert!(socks(&ctx, &[5, 2, 0, 2]).is_match());
        // SOCKS4 CONNECT to 93.184.216.34:80 as user "bob"; SOCKS4a to "example.com".
        assert!(socks(&ctx, b"\x04\x01\x00\x50\x5d\xb8\xd8\x22bob\x00").is_match());
        assert!(socks(&ctx, b"\x04\x01\x00\x50\x00\x00\x00\x01\x00example.com\x00").is_match());
    }

    #[test]
    fn not_socks() {
        let ctx = Ctx::client(6, 1637, 1080);
        assert_eq!(socks(&ctx, &[5, 2, 0]), Probe::NoMatch); // 2 methods announced, 1 sent
        assert_eq!(socks(&ctx, &[5, 1, 0x50]), Probe::NoMatch);
        assert_eq!(
            socks(&ctx, b"\x04\x01\x00\x50\x5d\xb8\xd8\x22bob"),
            Probe::NoMatch
        );
        assert_eq!(socks(&ctx, b"GET / HTTP/1.1\r\n"), Probe::NoMatch);
        let server = Ctx {
            from_client: false,
            ..ctx
        };
        assert_eq!(socks(&server, &[5, 1, 0]), Probe::NoMatch);
    }
}
