//! Cassandra CQL native protocol (`native_protocol_v4.spec` §2: version — 0x0N request, 0x8N
//! response —, flags, stream, opcode, a 4-byte big-endian body length). nDPI
//! `src/lib/protocols/cassandra.c`: a TCP segment of at least the 9-byte header with version 1–4
//! in either direction, no flag in the high nibble, a defined opcode and a body length of at most
//! 256 MiB that covers the rest of the segment. nDPI reads the length little-endian; the spec's
//! big-endian is used here, and only on ports 7000/9042: the header is ~4 bytes of signature,
//! and MS-TDS replies (type 4) and mid-flow binary segments look like it (nDPI's little-endian
//! read is what keeps it from claiming them).

use super::{Ctx, Dissector, Hit, Probe, at, be32, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "cassandra",
    probe,
    tcp_ports: &[9042, 7000],
    udp_ports: &[],
    reassemble: false,
    emits: &[ids::CASSANDRA],
};

const HEADER: usize = 9;
/// nDPI's bound on a body (the spec's default `native_transport_max_frame_size`).
const MAX_BODY: u32 = 256 * 1024 * 1024;
/// STARTUP … AUTH_SUCCESS; 0x04 (CREDENTIALS, v1 only) is not among nDPI's.
const OPCODES: &[u8] = &[
    0x00, 0x01, 0x02, 0x03, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10,
];

fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.is_tcp() || !DISSECTOR.likely(ctx) {
        return Probe::NoMatch;
    }
    let version = at(data, 0) & 0x7f;
    let rest = data.len().saturating_sub(HEADER);
    let body_ok =
        be32(data, 5).is_some_and(|n| n <= MAX_BODY && usize::try_from(n).is_ok_and(|n| n >= rest));
    proto_if(
        data.len() >= HEADER
            && (1..=4).contains(&version)
            && at(data, 1) & 0xf0 == 0
            && OPCODES.contains(&at(data, 4))
            && body_ok,
        ids::CASSANDRA,
    )
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;
    use crate::dissect::testutil::server;

    /// STARTUP (spec §4.1.1): v4 request, flags 0, stream 1, opcode 1, a string map
    /// {"CQL_VERSION": "3.0.0"}.
    fn startup() -> Vec<u8> {
        let mut body = 1u16.to_be_bytes().to_vec();
        for s in [&b"CQL_VERSION"[..], b"3.0.0"] {
            body.extend(u16::try_from(s.len()).unwrap().to_be_bytes());
            body.extend_from_slice(s);
        }
        let mut p = vec![0x04, 0x00, 0x00, 0x01, 0x01];
        p.extend(u32::try_from(body.len()).unwrap().to_be_bytes());
        p.extend(body);
        p
    }

    #[test]
    fn cassandra_startup_and_ready() {
        let p = startup();
        assert_eq!(
            probe(&Ctx::client(6, 40000, 9042), &p),
            Probe::Match(Hit::proto(ids::CASSANDRA))
        );
        // A first segment cut anywhere after the header still has a body length covering it.
        for n in 0..p.len() {
            let cut = probe(&Ctx::client(6, 40000, 9042), &p[..n]);
            assert_eq!(cut.is_match(), n >= HEADER, "{n}");
        }
        // READY (opcode 2), empty body, from the server.
        assert!(probe(&server(6, 9042), &[0x84, 0, 0, 1, 2, 0, 0, 0, 0]).is_match());
    }

    #[test]
    fn not_cassandra() {
        let ctx = Ctx::client(6, 40000, 9042);
        // Version 5, a high flag, opcode 4, a body shorter than the segment, over 256 MiB.
        for (i, v) in [(0, 5), (1, 0x10), (4, 4), (8, 1), (5, 0x11)] {
            let mut p = startup();
            p[i] = v;
            assert_eq!(probe(&ctx, &p), Probe::NoMatch, "byte {i} = {v}");
        }
        assert_eq!(probe(&ctx, &startup()[..8]), Probe::NoMatch);
        assert_eq!(
            probe(&Ctx::client(6, 40000, 19042), &startup()),
            Probe::NoMatch
        );
        // An MS-TDS tabular result (type 4, status 1, length, SPID 0) from a server on 1433.
        let tds = [
            4, 1, 0, 0x25, 0, 0, 1, 0, 0xaa, 0, 0x1b, 0, 6, 1, 0, 0x20, 0, 1,
        ];
        assert_eq!(probe(&server(6, 1433), &tds), Probe::NoMatch);
    }
}
