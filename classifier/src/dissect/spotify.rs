//! Spotify: the LAN discovery broadcast (`SpotUdp` from UDP 57621 to 57621) and the TCP access
//! point greeting `00 04 00 00 .. .. 52 0e 50` (nDPI `src/lib/protocols/spotify.c`). nDPI's
//! address ranges in the same file are not used: payload only.

use nfguard_proto::AppId;

use super::{Ctx, Dissector, Hit, Probe, at, ids, starts};

pub const SPOTIFY: AppId = ids::SPOTIFY;
const LAN_PORT: u16 = 57621;
const TCP_GREETING_LEN: usize = 9;

pub const DISSECTOR: Dissector = Dissector {
    name: "spotify",
    probe,
    tcp_ports: &[4070],
    udp_ports: &[LAN_PORT],
    reassemble: false,
    emits: &[ids::SPOTIFY],
};

pub fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if ctx.is_udp() {
        if ctx.client_port != LAN_PORT || ctx.server_port != LAN_PORT {
            return Probe::NoMatch;
        }
        return match starts(data, b"SpotUdp") {
            Probe::Match(()) => Probe::Match(Hit::proto(SPOTIFY)),
            // A datagram is whole: a short one is not Spotify.
            _ => Probe::NoMatch,
        };
    }
    if !ctx.stream_start {
        return Probe::NoMatch;
    }
    let fixed = [
        (0, 0x00),
        (1, 0x04),
        (2, 0x00),
        (3, 0x00),
        (6, 0x52),
        (7, 0x0e),
        (8, 0x50),
    ];
    if fixed
        .iter()
        .any(|&(i, b)| i < data.len() && at(data, i) != b)
    {
        return Probe::NoMatch;
    }
    if data.len() < TCP_GREETING_LEN {
        return Probe::NeedMore;
    }
    Probe::Match(Hit::proto(SPOTIFY))
}

#[doc(hidden)]
pub fn fuzz_entry(data: &[u8]) {
    for ctx in [
        Ctx::client(17, LAN_PORT, LAN_PORT),
        Ctx::client(6, 40000, 4070),
    ] {
        let _ = probe(&ctx, data);
    }
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
    use crate::dissect::testutil::check_all_prefixes;

    #[test]
    fn lan_discovery_and_tcp_greeting() {
        let udp = Ctx::client(17, LAN_PORT, LAN_PORT);
        let msg = b"SpotUdp0\x80\x00\x01\x00\x01";
        assert!(probe(&udp, msg).is_match());
        assert_eq!(probe(&udp, b"SpotUd"), Probe::NoMatch);
        assert_eq!(probe(&Ctx::client(17, 5000, LAN_PORT), msg), Probe::NoMatch);
        let tcp = Ctx::client(6, 40000, 4070);
        let hello = [0, 4, 0, 0, 1, 0x2c, 0x52, 0x0e, 0x50, 2, 0x20];
        check_all_prefixes(&tcp, &hello, TCP_GREETING_LEN, probe, |h| {
            assert_eq!(h.app, SPOTIFY);
        });
        assert_eq!(probe(&tcp, &[0, 4, 0, 1]), Probe::NoMatch);
    }
}
