//! TeamViewer (nDPI `src/lib/protocols/teamviewer.c`) on its port 5938: over TCP a segment of more
//! than 2 bytes starting `17 24` (the client's hello) or, over UDP, a datagram of more than 13 bytes
//! with byte 0 = 0 (a counter that starts at 0) and bytes 11–12 = `17 24`. nDPI also accepts those
//! headers on other ports after four of them in one flow; a stateless probe does not count, and
//! the address-list fallback (`ip_lists.rs`) names TeamViewer's own servers.

use nfguard_proto::AppId;

use super::{Ctx, Dissector, Hit, Probe, at, ids, proto_if, starts};

pub const TEAMVIEWER: AppId = ids::TEAMVIEWER;
const PORT: u16 = 5938;
const MAGIC: [u8; 2] = [0x17, 0x24];
const TCP_MIN_LEN: usize = 3;
const UDP_MIN_LEN: usize = 14;

pub const DISSECTOR: Dissector = Dissector {
    name: "teamviewer",
    probe,
    tcp_ports: &[PORT],
    udp_ports: &[PORT],
    reassemble: false,
    emits: &[ids::TEAMVIEWER],
};

pub fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.has_port(PORT) {
        return Probe::NoMatch;
    }
    if ctx.is_tcp() {
        if !ctx.stream_start {
            return Probe::NoMatch;
        }
        return match starts(data, &MAGIC) {
            Probe::Match(()) if data.len() >= TCP_MIN_LEN => Probe::Match(Hit::proto(TEAMVIEWER)),
            Probe::Match(()) | Probe::NeedMore => Probe::NeedMore,
            Probe::NoMatch => Probe::NoMatch,
        };
    }
    let ok = ctx.is_udp()
        && data.len() >= UDP_MIN_LEN
        && at(data, 0) == 0
        && at(data, 11) == MAGIC[0]
        && at(data, 12) == MAGIC[1];
    proto_if(ok, TEAMVIEWER)
}

#[doc(hidden)]
pub fn fuzz_entry(data: &[u8]) {
    let _ = probe(&Ctx::client(6, 35732, PORT), data);
    let _ = probe(&Ctx::client(17, 34417, PORT), data);
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;
    use crate::dissect::testutil::check_all_prefixes;

    /// A segment of the shape nDPI's teamviewer.c accepts: `17 24`, then any bytes.
    const HELLO: &[u8] = &[0x17, 0x24, 0x0a, 0x20, 0x00, 0x00, 0x00, 0x12, 0x34];

    #[test]
    fn tcp_hello_and_udp_header() {
        let check = |h: &Hit<'_>| assert_eq!(h.app, TEAMVIEWER);
        check_all_prefixes(&Ctx::client(6, 35732, PORT), HELLO, 3, probe, check);
        let mut udp = [0u8; 20];
        udp[11] = 0x17;
        udp[12] = 0x24;
        assert!(probe(&Ctx::client(17, 34417, PORT), &udp).is_match());
    }

    #[test]
    fn not_teamviewer() {
        assert_eq!(probe(&Ctx::client(6, 35732, 443), HELLO), Probe::NoMatch);
        assert_eq!(
            probe(&Ctx::client(6, 35732, PORT), b"\x16\x03\x01"),
            Probe::NoMatch
        );
        let mut udp = [0u8; 20];
        udp[11] = 0x17;
        udp[12] = 0x24;
        udp[0] = 1;
        assert_eq!(probe(&Ctx::client(17, 34417, PORT), &udp), Probe::NoMatch);
        assert_eq!(
            probe(&Ctx::client(17, 34417, PORT), &[0u8; 13]),
            Probe::NoMatch
        );
    }
}
