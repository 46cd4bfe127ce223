//! NATS client protocol (docs.nats.io "Client Protocol": text operations ending in CRLF). nDPI
//! `src/lib/protocols/nats.c`: a TCP segment of more than 4 bytes, on any port, starting with one
//! of the operations `INFO {`, `CONNECT {`, `PUB `, `SUB `, `UNSUB `, `MSG `, `PING`, `PONG` and
//! holding a CRLF.

use super::{ANY, Ctx, Dissector, Hit, Probe, find, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "nats",
    probe,
    tcp_ports: ANY,
    udp_ports: &[],
    reassemble: false,
    emits: &[ids::NATS],
};

const MIN_LEN: usize = 5;
const OPERATIONS: &[&[u8]] = &[
    b"INFO {",
    b"CONNECT {",
    b"PUB ",
    b"SUB ",
    b"UNSUB ",
    b"MSG ",
    b"PING",
    b"PONG",
];

fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    proto_if(
        ctx.is_tcp()
            && data.len() >= MIN_LEN
            && OPERATIONS.iter().any(|op| data.starts_with(op))
            && find(data, b"\r\n").is_some(),
        ids::NATS,
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

    /// The server's greeting and the client's CONNECT (NATS client protocol, INFO and CONNECT).
    const INFO: &[u8] = b"INFO {\"server_id\":\"NCXJ\",\"version\":\"2.10.4\",\"proto\":1,\"max_payload\":1048576}\r\n";
    const CONNECT: &[u8] = b"CONNECT {\"verbose\":false,\"pedantic\":false,\"lang\":\"go\",\"version\":\"1.31.0\",\"protocol\":1}\r\nPING\r\n";

    #[test]
    fn nats_info_and_connect() {
        assert_eq!(
            probe(&server(6, 4222), INFO),
            Probe::Match(Hit::proto(ids::NATS))
        );
        assert!(probe(&Ctx::client(6, 40000, 4222), CONNECT).is_match());
        assert!(probe(&Ctx::client(6, 40000, 4222), b"PUB foo 5\r\nhello\r\n").is_match());
        // Every prefix: no CRLF yet, nothing.
        for n in 0..INFO.len() - 1 {
            assert_eq!(probe(&server(6, 4222), &INFO[..n]), Probe::NoMatch, "{n}");
        }
    }

    #[test]
    fn not_nats() {
        let ctx = Ctx::client(6, 40000, 4222);
        // No CRLF, another verb, INFO without its JSON, over UDP.
        assert_eq!(probe(&ctx, b"PUB foo 5"), Probe::NoMatch);
        assert_eq!(probe(&ctx, b"POST / HTTP/1.1\r\n"), Probe::NoMatch);
        assert_eq!(probe(&ctx, b"INFO server\r\n"), Probe::NoMatch);
        assert_eq!(probe(&Ctx::client(17, 40000, 4222), INFO), Probe::NoMatch);
    }
}
