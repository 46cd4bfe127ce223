//! CORBA inter-ORB protocols (OMG CORBA 3.x Part 2 §9 GIOP message header: magic `GIOP`, version,
//! flags, type, size). nDPI `src/lib/protocols/corba.c`: a TCP segment of at least 24 bytes
//! starting `GIOP` or `ZIOP` (zipped GIOP), or a UDP datagram of more than 32 bytes starting `MIOP`
//! (unreliable multicast), on any port.

use super::{ANY, Ctx, Dissector, Hit, Probe, ids, starts};

pub const DISSECTOR: Dissector = Dissector {
    name: "corba",
    probe,
    tcp_ports: ANY,
    udp_ports: ANY,
    reassemble: false,
    emits: &[ids::CORBA],
};

const TCP_MIN_LEN: usize = 24;
/// nDPI takes MIOP datagrams longer than this.
const UDP_MIN_LEN: usize = 33;

fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    let (magics, min): (&[&[u8; 4]], usize) = if ctx.is_tcp() {
        (&[b"GIOP", b"ZIOP"], TCP_MIN_LEN)
    } else if ctx.is_udp() {
        (&[b"MIOP"], UDP_MIN_LEN)
    } else {
        return Probe::NoMatch;
    };
    let mut answer = Probe::NoMatch;
    for magic in magics {
        match starts(data, *magic) {
            Probe::Match(()) if data.len() >= min => return Probe::Match(Hit::proto(ids::CORBA)),
            Probe::NoMatch => {}
            _ if ctx.is_tcp() && ctx.stream_start => answer = Probe::NeedMore,
            _ => {}
        }
    }
    answer
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;
    use crate::dissect::testutil::{check_all_prefixes, server};

    /// A GIOP 1.2 LocateRequest (type 3, OMG GIOP §9.4.5): header `GIOP 1 2`, flags 0 (big
    /// endian), size 16; request id 7, addressing disposition KeyAddr (0), object key "NS\0\0".
    const LOCATE: &[u8] = b"GIOP\x01\x02\x00\x03\x00\x00\x00\x10\x00\x00\x00\x07\x00\x00\x00\x00\x00\x00\x00\x04NS\x00\x00";

    #[test]
    fn giop_locate_request_and_miop() {
        check_all_prefixes(
            &Ctx::client(6, 40000, 2809),
            LOCATE,
            TCP_MIN_LEN,
            probe,
            |h| assert_eq!(h.master, ids::CORBA),
        );
        let mut ziop = LOCATE.to_vec();
        ziop[0] = b'Z';
        assert!(probe(&server(6, 2809), &ziop).is_match());
        // MIOP packet header (OMG MIOP §29.5): magic, version 1.0, flags, packet length, number.
        let mut miop = b"MIOP\x10\x00\x00\x28".to_vec();
        miop.extend([0x5a; 32]);
        assert!(probe(&Ctx::client(17, 40000, 5555), &miop).is_match());
    }

    #[test]
    fn not_corba() {
        let ctx = Ctx::client(6, 40000, 2809);
        assert_eq!(probe(&ctx, &LOCATE[..23]), Probe::NeedMore);
        let mid = Ctx {
            stream_start: false,
            ..ctx
        };
        assert_eq!(probe(&mid, &LOCATE[..23]), Probe::NoMatch);
        // MIOP over TCP, GIOP over UDP, a MIOP datagram of 32 bytes.
        let mut miop = LOCATE.to_vec();
        miop[0] = b'M';
        assert_eq!(probe(&ctx, &miop), Probe::NoMatch);
        let udp = Ctx::client(17, 40000, 5555);
        assert_eq!(probe(&udp, LOCATE), Probe::NoMatch);
        let mut short = b"MIOP".to_vec();
        short.extend([0; 28]);
        assert_eq!(probe(&udp, &short), Probe::NoMatch);
    }
}
