//! AJP13 (Apache JServ Protocol 1.3, Tomcat's "AJPv13" reference: a packet is a 2-byte magic —
//! `0x1234` web server to container, `AB` container to web server —, a 2-byte length, then the
//! prefix code). nDPI `src/lib/protocols/ajp.c`: a TCP segment, on any port, with a nonzero
//! length and, toward the container, Forward Request (2), Shutdown (7), Ping (8) or CPing (10);
//! back, Send Body Chunk (3), Send Headers (4), End Response (5), Get Body Chunk (6) or CPong (9).

use super::{ANY, Ctx, Dissector, Hit, Probe, at, be16, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "ajp",
    probe,
    tcp_ports: ANY,
    udp_ports: &[],
    reassemble: false,
    emits: &[ids::AJP],
};

/// Magic, length, prefix code.
const HEADER: usize = 5;
const TO_CONTAINER: u16 = 0x1234;
const FROM_CONTAINER: u16 = 0x4142;
const REQUEST_CODES: [u8; 4] = [2, 7, 8, 10];
const RESPONSE_CODES: [u8; 5] = [3, 4, 5, 6, 9];

fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    let code = at(data, 4);
    let known = match be16(data, 0) {
        Some(TO_CONTAINER) => REQUEST_CODES.contains(&code),
        Some(FROM_CONTAINER) => RESPONSE_CODES.contains(&code),
        _ => false,
    };
    proto_if(
        ctx.is_tcp() && data.len() >= HEADER && be16(data, 2).is_some_and(|n| n > 0) && known,
        ids::AJP,
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

    /// CPing (AJPv13 reference, "Request Packet Structure": `12 34`, length 1, code 10) and the
    /// CPong answer (`AB`, length 1, code 9).
    const CPING: [u8; 5] = [0x12, 0x34, 0x00, 0x01, 0x0a];
    const CPONG: [u8; 5] = [b'A', b'B', 0x00, 0x01, 0x09];

    #[test]
    fn ajp_cping_cpong_and_forward_request() {
        assert_eq!(
            probe(&Ctx::client(6, 40000, 8009), &CPING),
            Probe::Match(Hit::proto(ids::AJP))
        );
        assert!(probe(&server(6, 8009), &CPONG).is_match());
        // Forward Request (2), method GET (2), protocol "HTTP/1.1"…
        let fwd = b"\x12\x34\x00\x20\x02\x02\x00\x08HTTP/1.1\x00\x00\x01/\x00";
        assert!(probe(&Ctx::client(6, 40000, 18009), fwd).is_match());
        for n in 0..CPING.len() {
            assert_eq!(
                probe(&Ctx::client(6, 40000, 8009), &CPING[..n]),
                Probe::NoMatch
            );
        }
    }

    #[test]
    fn not_ajp() {
        let ctx = Ctx::client(6, 40000, 8009);
        // A response code toward the container, a request code back, length 0, over UDP.
        assert_eq!(probe(&ctx, &[0x12, 0x34, 0, 1, 9]), Probe::NoMatch);
        assert_eq!(probe(&ctx, &[b'A', b'B', 0, 1, 10]), Probe::NoMatch);
        assert_eq!(probe(&ctx, &[0x12, 0x34, 0, 0, 10]), Probe::NoMatch);
        assert_eq!(probe(&Ctx::client(17, 40000, 8009), &CPING), Probe::NoMatch);
        assert_eq!(probe(&ctx, b"ABOUT\r\n"), Probe::NoMatch);
    }
}
