//! Bitcoin peers (nDPI `src/lib/protocols/bitcoin.c`; message header of the Bitcoin P2P protocol:
//! 4-byte network magic, 12-byte NUL-padded ASCII command, u32 length, u32 checksum): a TCP stream
//! starting with the magic of mainnet `f9 be b4 d9`, testnet `fa bf b5 da`, testnet3 `0b 11 09 07`,
//! signet `0a 03 cf 40` or Namecoin `f9 be b4 fe`. nDPI takes the magic alone on port 8333;
//! elsewhere (18333 testnet, or any port) we also want the command to be a well-formed NUL-padded
//! lower-case name, so four random bytes are not enough.

use nfguard_proto::AppId;

use super::{Ctx, Dissector, Hit, Probe, ids};

pub const BITCOIN: AppId = ids::BITCOIN;
const MAGICS: [[u8; 4]; 5] = [
    [0xf9, 0xbe, 0xb4, 0xd9],
    [0xfa, 0xbf, 0xb5, 0xda],
    [0x0b, 0x11, 0x09, 0x07],
    [0x0a, 0x03, 0xcf, 0x40],
    [0xf9, 0xbe, 0xb4, 0xfe],
];
const BITCOIN_PORT: u16 = 8333;
/// Magic (4) + command (12).
const HEADER_CHECKED: usize = 16;
pub const DISSECTOR: Dissector = Dissector {
    name: "bitcoin",
    probe: probe_bitcoin,
    tcp_ports: &[BITCOIN_PORT, 18333],
    udp_ports: &[],
    reassemble: false,
    emits: &[ids::BITCOIN],
};

pub fn probe_bitcoin<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.is_tcp() || !ctx.stream_start {
        return Probe::NoMatch;
    }
    let head = data.get(..4.min(data.len())).unwrap_or(&[]);
    if !MAGICS.iter().any(|m| m.starts_with(head)) {
        return Probe::NoMatch;
    }
    if data.len() < 4 {
        return Probe::NeedMore;
    }
    if ctx.has_port(BITCOIN_PORT) {
        return Probe::Match(Hit::proto(BITCOIN));
    }
    let command = data.get(4..HEADER_CHECKED.min(data.len())).unwrap_or(&[]);
    if !command_ok(command) {
        return Probe::NoMatch;
    }
    if data.len() < HEADER_CHECKED {
        Probe::NeedMore
    } else {
        Probe::Match(Hit::proto(BITCOIN))
    }
}

/// A (prefix of a) command: 1–12 lower-case letters, then only NUL padding.
fn command_ok(c: &[u8]) -> bool {
    let name = c.iter().take_while(|&&b| b != 0).count();
    let padded = c.iter().skip(name).all(|&b| b == 0);
    let letters = c.iter().take(name).all(u8::is_ascii_lowercase);
    // A NUL before any letter is no command.
    letters && padded && (name > 0 || c.is_empty())
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::panic
)]
mod tests {
    use super::*;
    use crate::dissect::testutil::check_all_prefixes;

    /// The start of a mainnet `version` message as Bitcoin Core sends it (header, then protocol
    /// version 70015 and services), the layout of the Bitcoin protocol documentation.
    const VERSION: &[u8] = &[
        0xf9, 0xbe, 0xb4, 0xd9, b'v', b'e', b'r', b's', b'i', b'o', b'n', 0, 0, 0, 0, 0, 0x66, 0,
        0, 0, 0x8e, 0x2c, 0x1b, 0x5f, 0x7f, 0x11, 0x01, 0x00, 0x09, 0x04, 0, 0, 0, 0, 0, 0,
    ];

    #[test]
    fn bitcoin_version_on_and_off_its_port() {
        let check = |h: &Hit<'_>| assert_eq!(h.app, BITCOIN);
        check_all_prefixes(
            &Ctx::client(6, 55348, 8333),
            VERSION,
            4,
            probe_bitcoin,
            check,
        );
        check_all_prefixes(
            &Ctx::client(6, 55348, 9999),
            VERSION,
            16,
            probe_bitcoin,
            check,
        );
    }

    #[test]
    fn not_bitcoin() {
        let ctx = Ctx::client(6, 55348, 9999);
        let mut bad = VERSION.to_vec();
        bad[5] = b'E'; // upper case: no Bitcoin command
        assert_eq!(probe_bitcoin(&ctx, &bad), Probe::NoMatch);
        bad[5] = 0; // a NUL inside the name
        assert_eq!(probe_bitcoin(&ctx, &bad), Probe::NoMatch);
        assert_eq!(probe_bitcoin(&ctx, b"GET / HTTP/1.1\r\n"), Probe::NoMatch);
        assert_eq!(
            probe_bitcoin(&Ctx::client(17, 1, 8333), VERSION),
            Probe::NoMatch
        );
    }
}
