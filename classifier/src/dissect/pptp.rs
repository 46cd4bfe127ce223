//! PPTP control connections: RFC 2637 §2.1 (control message header: length, PPTP message type
//! 1 = control, magic cookie 0x1A2B3C4D, control message type 1–15). nDPI `src/lib/protocols/pptp.c`.

use super::{Ctx, Dissector, Hit, Probe, be16, be32, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "pptp",
    probe: pptp,
    tcp_ports: &[1723],
    udp_ports: &[],
    reassemble: false,
    emits: &[ids::PPTP],
};

/// Length, message type, cookie, control type, reserved (RFC 2637 §2.1).
const PPTP_HEADER: usize = 12;
const PPTP_CONTROL: u16 = 1;
const PPTP_MAGIC: u32 = 0x1a2b_3c4d;
/// Start-Control-Connection-Request (1) .. Set-Link-Info (15).
const PPTP_MAX_CONTROL_TYPE: u16 = 15;

fn pptp<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.is_tcp() || data.len() < PPTP_HEADER {
        return Probe::NoMatch;
    }
    let length_ok = be16(data, 0).is_some_and(|l| usize::from(l) >= PPTP_HEADER);
    let control = be16(data, 8).unwrap_or(0);
    proto_if(
        length_ok
            && be16(data, 2) == Some(PPTP_CONTROL)
            && be32(data, 4) == Some(PPTP_MAGIC)
            && (1..=PPTP_MAX_CONTROL_TYPE).contains(&control),
        ids::PPTP,
    )
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

    /// Start-Control-Connection-Request (RFC 2637 §2.1): length 156, control message, cookie,
    /// type 1, reserved, protocol version 1.0, framing and bearer capabilities, host and vendor.
    fn sccrq() -> Vec<u8> {
        let mut v = vec![
            0x00, 0x9c, 0x00, 0x01, 0x1a, 0x2b, 0x3c, 0x4d, 0x00, 0x01, 0, 0,
        ];
        v.extend_from_slice(&[0x01, 0x00, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0, 1]);
        v.extend_from_slice(b"local");
        v.resize(156, 0);
        v
    }

    #[test]
    fn pptp_control_connection_request() {
        let req = sccrq();
        for port in [1723, 8443] {
            let ctx = Ctx::client(6, 41366, port);
            assert!(matches!(pptp(&ctx, &req), Probe::Match(h) if h.master.name() == "PPTP"));
        }
    }

    #[test]
    fn not_pptp() {
        let ctx = Ctx::client(6, 41366, 1723);
        let mut bad = sccrq();
        bad[7] = 0x4e; // cookie
        assert_eq!(pptp(&ctx, &bad), Probe::NoMatch);
        let mut bad_type = sccrq();
        bad_type[9] = 16;
        assert_eq!(pptp(&ctx, &bad_type), Probe::NoMatch);
        assert_eq!(pptp(&ctx, b"GET / HTTP/1.1\r\nHost: a\r\n"), Probe::NoMatch);
    }
}
