//! SOME/IP (AUTOSAR PRS_SOMEIPProtocol §4.1.2: message id, length of the rest, request id,
//! protocol version 1, interface version, message type, return code). nDPI
//! `src/lib/protocols/someip.c`: over TCP or UDP, at least the 16-byte header, a length that makes
//! up the payload, version 1, a defined message type and a return code below 0x40; then either a
//! Magic Cookie (message id `ffff0000` or `ffff8000`: length 8, request id `deadbeef`, interface 1,
//! type Request-No-Return, E_OK) on any port, or any message sent to port 30491 or 30501 (or
//! UDP 30490, service discovery).

use super::{Ctx, Dissector, Hit, Probe, at, be32, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "someip",
    probe,
    tcp_ports: &[30491, 30501],
    udp_ports: &[30491, 30501, SD_PORT],
    reassemble: false,
    emits: &[ids::SOMEIP],
};

const HEADER: usize = 16;
const VERSION: u8 = 1;
const MESSAGE_TYPES: [u8; 10] = [0x00, 0x01, 0x02, 0x40, 0x41, 0x42, 0x80, 0x81, 0xc0, 0xc1];
const FIRST_ILLEGAL_RETURN_CODE: u8 = 0x40;
const MAGIC_COOKIES: [u32; 2] = [0xffff_0000, 0xffff_8000];
const COOKIE_REQUEST_ID: u32 = 0xdead_beef;
const COOKIE_LENGTH: u32 = 8;
const REQUEST_NO_RETURN: u8 = 0x01;
const SD_PORT: u16 = 30490;

fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    let length = be32(data, 4);
    let header_ok = (ctx.is_tcp() || ctx.is_udp())
        && data.len() >= HEADER
        && length.and_then(|n| usize::try_from(n).ok()?.checked_add(8)) == Some(data.len())
        && at(data, 12) == VERSION
        && MESSAGE_TYPES.contains(&at(data, 14))
        && at(data, 15) < FIRST_ILLEGAL_RETURN_CODE;
    if !header_ok {
        return Probe::NoMatch;
    }
    if be32(data, 0).is_some_and(|id| MAGIC_COOKIES.contains(&id)) {
        return proto_if(
            length == Some(COOKIE_LENGTH)
                && be32(data, 8) == Some(COOKIE_REQUEST_ID)
                && at(data, 13) == 1
                && at(data, 14) == REQUEST_NO_RETURN
                && at(data, 15) == 0,
            ids::SOMEIP,
        );
    }
    let dest = if ctx.from_client {
        ctx.server_port
    } else {
        ctx.client_port
    };
    proto_if(
        matches!(dest, 30491 | 30501) || (ctx.is_udp() && dest == SD_PORT),
        ids::SOMEIP,
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

    /// The client Magic Cookie (PRS_SOMEIPProtocol §4.2.1.5): message id ffff0000, length 8,
    /// request id deadbeef, version 1, interface 1, Request-No-Return, E_OK.
    const COOKIE: [u8; 16] = [
        0xff, 0xff, 0x00, 0x00, 0, 0, 0, 8, 0xde, 0xad, 0xbe, 0xef, 1, 1, 1, 0,
    ];

    /// A request to service 0x1234 method 0x0001 with a 4-byte payload.
    fn request() -> Vec<u8> {
        let mut p = vec![
            0x12, 0x34, 0x00, 0x01, 0, 0, 0, 12, 0x00, 0x01, 0x00, 0x07, 1, 1, 0, 0,
        ];
        p.extend([1, 2, 3, 4]);
        p
    }

    #[test]
    fn someip_magic_cookie_anywhere_and_request_on_its_port() {
        assert_eq!(
            probe(&Ctx::client(6, 40000, 50000), &COOKIE),
            Probe::Match(Hit::proto(ids::SOMEIP))
        );
        assert!(probe(&Ctx::client(17, 40000, 30501), &request()).is_match());
        assert!(probe(&Ctx::client(17, 30490, 30490), &request()).is_match());
        // The response, sent to the client's port 30491.
        let mut resp = request();
        resp[14] = 0x80;
        assert!(
            probe(
                &Ctx {
                    client_port: 30491,
                    ..server(6, 40001)
                },
                &resp
            )
            .is_match()
        );
        for n in 0..COOKIE.len() {
            assert_eq!(
                probe(&Ctx::client(6, 40000, 50000), &COOKIE[..n]),
                Probe::NoMatch
            );
        }
    }

    #[test]
    fn not_someip() {
        // A request off the SOME/IP ports, SD's port over TCP, a bad cookie, version 2, type 3,
        // return code 0x40, a length one off.
        assert_eq!(
            probe(&Ctx::client(17, 40000, 50000), &request()),
            Probe::NoMatch
        );
        assert_eq!(
            probe(&Ctx::client(6, 40000, 30490), &request()),
            Probe::NoMatch
        );
        let mut cookie = COOKIE;
        cookie[11] = 0xee;
        assert_eq!(
            probe(&Ctx::client(6, 40000, 30501), &cookie),
            Probe::NoMatch
        );
        let ctx = Ctx::client(17, 40000, 30501);
        for (i, v) in [(12, 2), (14, 3), (15, 0x40), (7, 13)] {
            let mut p = request();
            p[i] = v;
            assert_eq!(probe(&ctx, &p), Probe::NoMatch, "byte {i} = {v}");
        }
    }
}
