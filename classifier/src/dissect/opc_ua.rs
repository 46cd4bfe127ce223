//! OPC UA Connection Protocol (OPC 10000-6 §7.1.2: UA Connection Protocol message header). nDPI
//! `src/lib/protocols/opc-ua.c`: a TCP segment of at least 16 bytes, on any port, starting with a
//! message type `HEL`, `ACK`, `RHE`, `OPN`, `MSG`, `ERR` or `CLO` and the chunk type `F` (final).

use super::{Ctx, Dissector, Hit, Probe, ids, starts};

pub const DISSECTOR: Dissector = Dissector {
    name: "opc_ua",
    probe,
    tcp_ports: &[4840],
    udp_ports: &[],
    reassemble: false,
    emits: &[ids::OPC_UA],
};

/// nDPI: "shortest OPC UA packet I've ever seen".
const MIN_LEN: usize = 16;
const MESSAGE_TYPES: &[&[u8; 4]] = &[
    b"HELF", b"ACKF", b"RHEF", b"OPNF", b"MSGF", b"ERRF", b"CLOF",
];

fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.is_tcp() {
        return Probe::NoMatch;
    }
    let mut answer = Probe::NoMatch;
    for ty in MESSAGE_TYPES {
        match starts(data, *ty) {
            Probe::Match(()) if data.len() >= MIN_LEN => {
                return Probe::Match(Hit::proto(ids::OPC_UA));
            }
            Probe::NoMatch => {}
            _ if ctx.stream_start => answer = Probe::NeedMore,
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

    /// A Hello (OPC 10000-6 §7.1.2.3): `HELF`, message size (LE), protocol version 0, receive and
    /// send buffer 65535, max message size 0, max chunk count 0, endpoint URL as a UA String.
    fn hello() -> Vec<u8> {
        let url = b"opc.tcp://plc.example:4840";
        let mut body = Vec::new();
        for v in [0u32, 65535, 65535, 0, 0] {
            body.extend(v.to_le_bytes());
        }
        body.extend(u32::try_from(url.len()).unwrap().to_le_bytes());
        body.extend_from_slice(url);
        let mut p = b"HELF".to_vec();
        p.extend(u32::try_from(body.len() + 8).unwrap().to_le_bytes());
        p.extend(body);
        p
    }

    #[test]
    fn opc_ua_hello_and_acknowledge() {
        let ctx = Ctx::client(6, 40000, 4840);
        check_all_prefixes(&ctx, &hello(), MIN_LEN, probe, |h| {
            assert_eq!(h.master, ids::OPC_UA)
        });
        // Acknowledge (§7.1.2.4): `ACKF`, size 28, version and four limits; any port.
        let mut ack = b"ACKF".to_vec();
        ack.extend(28u32.to_le_bytes());
        ack.extend([0; 20]);
        assert!(probe(&server(6, 53530), &ack).is_match());
    }

    /// asyncua 2.1's client Hello and its server's Acknowledge, recorded on loopback
    /// (`testdata/README.md`).
    const ASYNCUA_HELLO: &[u8] = include_bytes!("../../testdata/opcua_hello_asyncua_lo.bin");
    const ASYNCUA_ACK: &[u8] = include_bytes!("../../testdata/opcua_ack_asyncua_lo.bin");

    #[test]
    fn opc_ua_recorded_asyncua() {
        check_all_prefixes(
            &Ctx::client(6, 40000, 48400),
            ASYNCUA_HELLO,
            MIN_LEN,
            probe,
            |h| assert_eq!(h.master, ids::OPC_UA),
        );
        assert!(probe(&server(6, 48401), ASYNCUA_ACK).is_match());
    }

    #[test]
    fn not_opc_ua() {
        let ctx = Ctx::client(6, 40000, 4840);
        let mut p = hello();
        // An intermediate chunk (`C`) of Hello, a lowercase type, too short, over UDP, mid-flow.
        p[3] = b'C';
        assert_eq!(probe(&ctx, &p), Probe::NoMatch);
        assert_eq!(probe(&ctx, b"helF0000000000000000"), Probe::NoMatch);
        let mid = Ctx {
            stream_start: false,
            ..ctx
        };
        assert_eq!(probe(&mid, &hello()[..15]), Probe::NoMatch);
        assert_eq!(
            probe(&Ctx::client(17, 40000, 4840), &hello()),
            Probe::NoMatch
        );
    }
}
