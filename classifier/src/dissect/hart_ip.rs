//! HART-IP (FieldComm Group HCF_SPEC-085: an 8-byte header — version, message type, message id,
//! status, sequence number, byte count — then the body). nDPI `src/lib/protocols/hart-ip.c`:
//! over TCP or UDP, on any port, version 1 or 2 and a byte count equal to the payload's length;
//! nDPI refuses only a message type outside request/response/publish/NAK whose id is also past
//! Read Audit Log (5).

use super::{ANY, Ctx, Dissector, Hit, Probe, at, be16, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "hart_ip",
    probe,
    tcp_ports: &[5094],
    udp_ports: ANY,
    reassemble: false,
    emits: &[ids::HART_IP],
};

const HEADER: usize = 8;
/// Request 0, response 1, publish 2; NAK 15.
const LAST_TYPE: u8 = 2;
const NAK: u8 = 15;
const LAST_ID: u8 = 5;

fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    let ty = at(data, 1) & 0x0f;
    let unknown = ty > LAST_TYPE && ty != NAK && at(data, 2) > LAST_ID;
    proto_if(
        (ctx.is_tcp() || ctx.is_udp())
            && data.len() >= HEADER
            && matches!(at(data, 0), 1 | 2)
            && !unknown
            && be16(data, 6).map(usize::from) == Some(data.len()),
        ids::HART_IP,
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

    /// Session Initiate request (HCF_SPEC-085 §10.2.1): version 1, type 0, id 0, status 0,
    /// sequence 1, byte count 13; body: master type 1, inactivity close timer 30000 ms.
    const INITIATE: [u8; 13] = [1, 0, 0, 0, 0, 1, 0, 13, 1, 0, 0, 0x75, 0x30];

    #[test]
    fn hart_ip_session_initiate_and_reply() {
        assert_eq!(
            probe(&Ctx::client(17, 40000, 5094), &INITIATE),
            Probe::Match(Hit::proto(ids::HART_IP))
        );
        let mut reply = INITIATE;
        reply[1] = 1;
        assert!(probe(&server(6, 5094), &reply).is_match());
        for n in 0..INITIATE.len() {
            assert_eq!(
                probe(&Ctx::client(17, 40000, 5094), &INITIATE[..n]),
                Probe::NoMatch
            );
        }
    }

    #[test]
    fn not_hart_ip() {
        let ctx = Ctx::client(17, 40000, 5094);
        // Version 3, an unknown type with an unknown id, a byte count one off.
        let mut v3 = INITIATE;
        v3[0] = 3;
        assert_eq!(probe(&ctx, &v3), Probe::NoMatch);
        let mut unknown = INITIATE;
        unknown[1] = 3;
        unknown[2] = 6;
        assert_eq!(probe(&ctx, &unknown), Probe::NoMatch);
        let mut count = INITIATE;
        count[7] = 12;
        assert_eq!(probe(&ctx, &count), Probe::NoMatch);
    }
}
