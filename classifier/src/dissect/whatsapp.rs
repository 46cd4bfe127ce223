//! WhatsApp (nDPI 4.11-dev `src/lib/protocols/whatsapp.c`): the Noise-pipes prologue
//! `ED 00 01` / `WA` that opens a chat connection.

use super::{Ctx, Dissector, Hit, Probe, hit, ids, prefixed};

/// The start of the Noise-pipe prologue WhatsApp clients send first: the "ED" edge-routing header
/// (version 0x0001, a 3-byte routing-data length 4 or 2, then routing data starting 0x08) that
/// precedes "WA" and the Noise version. nDPI matches these 8 bytes (`WA_SEQ_NEW`, `WA_SEQ_OLD`).
const WHATSAPP_EDGE: [&[u8]; 2] = [b"ED\x00\x01\x00\x00\x04\x08", b"ED\x00\x01\x00\x00\x02\x08"];
/// The pre-Noise protocol's "WA" 1.5 header (`WA_SEQ_VERY_OLD`).
const WHATSAPP_OLD: &[u8] = b"WA\x01\x05";

pub const DISSECTOR: Dissector = Dissector {
    name: "whatsapp",
    probe: whatsapp,
    tcp_ports: &[443, 5222, 5223],
    udp_ports: &[],
    reassemble: true,
    emits: &[ids::WHATSAPP],
};

fn whatsapp<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.stream_start || !ctx.from_client {
        return Probe::NoMatch;
    }
    let mut need_more = false;
    for seq in WHATSAPP_EDGE {
        match super::starts(data, seq) {
            Probe::Match(()) => return hit(ids::WHATSAPP),
            Probe::NeedMore => need_more = true,
            Probe::NoMatch => {}
        }
    }
    if need_more {
        return Probe::NeedMore;
    }
    prefixed(data, &[WHATSAPP_OLD], ids::WHATSAPP)
}

#[cfg(test)]
// Tests may index: a failure is the point.
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn whatsapp_prologue_all_prefixes() {
        // A 2023 Android client on port 5222: "ED" header with 4 bytes of routing data, then
        // "WA" 5.2 and the first Noise handshake frame's length.
        let data = b"ED\x00\x01\x00\x00\x04\x08\x09\x08\x05WA\x05\x02\x00\x04\xe7";
        for ctx in [Ctx::client(6, 40000, 443), Ctx::client(6, 37482, 5222)] {
            crate::dissect::testutil::check_all_prefixes(&ctx, data, 8, whatsapp, |h| {
                assert_eq!(h.app.name(), "WhatsApp")
            });
        }
        // The older 2-byte routing data variant.
        let old = b"ED\x00\x01\x00\x00\x02\x08\x00WA\x02\x00";
        assert!(whatsapp(&Ctx::client(6, 40000, 443), old).is_match());
    }

    #[test]
    fn whatsapp_rejects_other_edge_headers() {
        let ctx = Ctx::client(6, 40000, 443);
        assert_eq!(
            whatsapp(&ctx, b"ED\x00\x01\x00\x00\x05\x08"),
            Probe::NoMatch
        );
        assert_eq!(whatsapp(&ctx, b"\x16\x03\x01\x02\x00"), Probe::NoMatch);
        let mid = Ctx {
            stream_start: false,
            ..ctx
        };
        assert_eq!(
            whatsapp(&mid, b"ED\x00\x01\x00\x00\x04\x08"),
            Probe::NoMatch
        );
    }
}
