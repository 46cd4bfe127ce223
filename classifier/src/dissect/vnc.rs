//! VNC: the RFB `ProtocolVersion` line (RFC 6143 §7.1.1, `RFB xxx.yyy\n`, 12 bytes).
//! nDPI `src/lib/protocols/vnc.c`.

use super::{Ctx, Dissector, Hit, Probe, ids};

pub const DISSECTOR: Dissector = Dissector {
    name: "vnc",
    probe: vnc,
    tcp_ports: &[5900, 5901, 5800],
    udp_ports: &[],
    reassemble: false,
    emits: &[ids::VNC],
};

/// RFC 6143 §7.1.1: "RFB 003.008\n", 12 bytes, sent first by the server and echoed by the client.
const RFB_LEN: usize = 12;
const RFB_SHAPE: &[u8; RFB_LEN] = b"RFB 000.000\n";

fn vnc<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.stream_start {
        return Probe::NoMatch;
    }
    // Each shape byte is literal except the digits ('0' in the shape stands for any digit).
    let fits = RFB_SHAPE.iter().zip(data).all(|(&s, &b)| {
        if s == b'0' {
            b.is_ascii_digit()
        } else {
            s == b
        }
    });
    match (fits, data.len() >= RFB_LEN) {
        (false, _) => Probe::NoMatch,
        (true, false) => Probe::NeedMore,
        (true, true) => Probe::Match(Hit::proto(ids::VNC)),
    }
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
    use crate::dissect::testutil::check_all_prefixes;

    #[test]
    fn vnc_protocol_version_all_prefixes() {
        let server = Ctx {
            from_client: false,
            ..Ctx::client(6, 59791, 5900)
        };
        for v in [&b"RFB 003.008\n"[..], b"RFB 004.001\n", b"RFB 003.889\n"] {
            check_all_prefixes(&server, v, RFB_LEN, vnc, |h| {
                assert_eq!(h.master.name(), "VNC")
            });
        }
        assert_eq!(vnc(&server, b"RFB 3.8\n\0\0\0\0"), Probe::NoMatch);
        assert_eq!(vnc(&server, b"SSH-2.0-OpenSSH\r\n"), Probe::NoMatch);
    }
}
