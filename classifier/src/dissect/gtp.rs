//! GTP, the 3GPP tunnelling protocols (TS 29.060 §6 GTPv1, TS 29.274 §5 GTPv2-C, TS 32.295 §6
//! GTP'), by their header on their ports. nDPI `src/lib/protocols/gtp.c`, master GTP:
//! - GTP-U (UDP 2152): version 1, protocol type 1, the length (bytes 2–3, what follows the
//!   8-byte mandatory header) within the datagram;
//! - GTP-C (UDP 2123): version 1 with the length exactly the rest after 8 bytes, at least 4 when
//!   an optional field flag (E, S, PN) is set, and a message type in 1..=129; or version 2 with
//!   the length exactly the rest after 4 bytes;
//! - GTP' (UDP 3386): protocol type 0, the spare bits 111, the length within the datagram after
//!   6 bytes, and a message type in 1..=7, 240 or 241.

use super::{Ctx, Dissector, Hit, Probe, at, be16, ids};

pub const DISSECTOR: Dissector = Dissector {
    name: "gtp",
    probe,
    tcp_ports: &[],
    udp_ports: &[GTP_U_PORT, GTP_C_PORT, GTP_PRIME_PORT],
    reassemble: false,
    emits: &[ids::GTP, ids::GTP_U, ids::GTP_C, ids::GTP_PRIME],
};

const GTP_U_PORT: u16 = 2152;
const GTP_C_PORT: u16 = 2123;
const GTP_PRIME_PORT: u16 = 3386;
/// Flags, message type and length: what every GTP header starts with.
const COMMON_HEADER: usize = 4;
/// The mandatory GTPv1 header (with the TEID) and GTP' header (with the sequence number).
const V1_HEADER: usize = 8;
const PRIME_HEADER: usize = 6;

pub fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.is_udp() || data.len() <= COMMON_HEADER {
        return Probe::NoMatch;
    }
    let flags = at(data, 0);
    let (version, pt) = (flags >> 5, (flags >> 4) & 1);
    let msg_type = at(data, 1);
    let Some(len) = be16(data, 2).map(usize::from) else {
        return Probe::NoMatch;
    };
    let rest_after = |header: usize| data.len().checked_sub(header);
    let app = if ctx.has_port(GTP_U_PORT)
        && version == 1
        && pt == 1
        && rest_after(V1_HEADER).is_some_and(|r| len <= r)
    {
        ids::GTP_U
    } else if ctx.has_port(GTP_C_PORT)
        && ((version == 1
            && rest_after(V1_HEADER) == Some(len)
            && (flags & 0x07 == 0 || len >= 4)
            && (1..=129).contains(&msg_type))
            || (version == 2 && rest_after(COMMON_HEADER) == Some(len)))
    {
        ids::GTP_C
    } else if ctx.has_port(GTP_PRIME_PORT)
        && pt == 0
        && (flags & 0x0e) >> 1 == 0x7
        && rest_after(PRIME_HEADER).is_some_and(|r| len <= r)
        && ((1..=7).contains(&msg_type) || msg_type == 240 || msg_type == 241)
    {
        ids::GTP_PRIME
    } else {
        return Probe::NoMatch;
    };
    Probe::Match(Hit {
        master: ids::GTP,
        app,
        host: &[],
        dns_labels: false,
    })
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use crate::dissect::testutil::server;

    fn app(ctx: &Ctx, data: &[u8]) -> Option<nfguard_proto::AppId> {
        match probe(ctx, data) {
            Probe::Match(h) => {
                assert_eq!(h.master, ids::GTP);
                Some(h.app)
            }
            Probe::NoMatch => None,
            Probe::NeedMore => panic!("a datagram is whole"),
        }
    }

    /// TS 29.274 §7.1.1 Echo Request: flags 0x40 (v2, no TEID), type 1, length 9, sequence 1,
    /// spare, Recovery IE (type 3, length 1, instance 0, restart counter 5).
    const V2_ECHO: &[u8] = &[0x40, 1, 0, 9, 0, 0, 1, 0, 3, 0, 1, 0, 5];
    /// TS 29.060 §7.2.1 Echo Request: flags 0x32 (v1, PT 1, S), type 1, length 4, TEID 0,
    /// sequence 7, N-PDU 0, next extension 0.
    const V1C_ECHO: &[u8] = &[0x32, 1, 0, 4, 0, 0, 0, 0, 0, 7, 0, 0];
    /// TS 32.295 §6.1 Echo Request: version 2, PT 0, spare 111, type 1, length 0, sequence 3.
    const PRIME_ECHO: &[u8] = &[0x4e, 1, 0, 0, 0, 3];

    /// A GTP-U G-PDU (TS 29.281 §5.1: flags 0x30, type 255, TEID) around a 20-byte IPv4 header.
    fn g_pdu() -> Vec<u8> {
        let mut p = vec![0x30, 0xff, 0, 20, 0x12, 0x34, 0x56, 0x78];
        p.extend([
            0x45, 0, 0, 20, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ]);
        p
    }

    #[test]
    fn each_gtp_on_its_port_either_direction() {
        for (port, data, id) in [
            (2152, g_pdu(), ids::GTP_U),
            (2123, V2_ECHO.to_vec(), ids::GTP_C),
            (2123, V1C_ECHO.to_vec(), ids::GTP_C),
            (3386, PRIME_ECHO.to_vec(), ids::GTP_PRIME),
        ] {
            assert_eq!(
                app(&Ctx::client(17, 40000, port), &data),
                Some(id),
                "{port}"
            );
            assert_eq!(app(&server(17, port), &data), Some(id), "{port}");
            // Not on another port, nor over TCP.
            assert_eq!(app(&Ctx::client(17, 40000, 47123), &data), None, "{port}");
            assert_eq!(app(&Ctx::client(6, 40000, port), &data), None, "{port}");
        }
        // GTP-U's length may leave trailing bytes; GTP-C's must be exact.
        let mut padded = g_pdu();
        padded.extend([0; 4]);
        assert_eq!(app(&Ctx::client(17, 1, 2152), &padded), Some(ids::GTP_U));
        let mut v2 = V2_ECHO.to_vec();
        v2.push(0);
        assert_eq!(app(&Ctx::client(17, 1, 2123), &v2), None);
    }

    #[test]
    fn shapes_it_refuses() {
        let c = Ctx::client(17, 40000, 2123);
        // GTPv1-C: type 0 or above 129; an optional-field flag with a length under 4.
        let mut t = V1C_ECHO.to_vec();
        t[1] = 0;
        assert_eq!(app(&c, &t), None);
        t[1] = 130;
        assert_eq!(app(&c, &t), None);
        let short = [0x32, 1, 0, 2, 0, 0, 0, 0, 0, 7];
        assert_eq!(app(&c, &short), None);
        // GTP-U with PT 0 (GTP') or version 2; a length past the datagram.
        let u = Ctx::client(17, 40000, 2152);
        let mut pdu = g_pdu();
        pdu[0] = 0x20;
        assert_eq!(app(&u, &pdu), None);
        pdu[0] = 0x50;
        assert_eq!(app(&u, &pdu), None);
        let mut long = g_pdu();
        long[3] = 21;
        assert_eq!(app(&u, &long), None);
        // GTP' without its spare bits or with an unknown type.
        let p = Ctx::client(17, 40000, 3386);
        assert_eq!(app(&p, &[0x40, 1, 0, 0, 0, 3]), None);
        assert_eq!(app(&p, &[0x4e, 8, 0, 0, 0, 3]), None);
        // Every prefix of the header is too short or contradicts its length.
        for n in 0..V2_ECHO.len() {
            assert_eq!(app(&c, &V2_ECHO[..n]), None, "{n}");
        }
    }
}
