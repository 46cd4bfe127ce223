//! CIP implicit (I/O) messaging over UDP (ODVA CIP Vol. 2 §2-6: a Common Packet Format item
//! list — a 16-bit little-endian item count, then items of type, length and data — between
//! ports 2222). nDPI `src/lib/protocols/cip.c`: both ports 2222, 12 to 63 bytes, an item count
//! below 256, and items that, walked while more than an item header is left, end with the
//! datagram.

use super::{Ctx, Dissector, Hit, Probe, at, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "cip",
    probe,
    tcp_ports: &[],
    udp_ports: &[CIP_IO_PORT],
    reassemble: false,
    emits: &[ids::CIP],
};

const CIP_IO_PORT: u16 = 2222;
const MIN_LEN: usize = 12;
const MAX_LEN: usize = 63;
/// Item type (2) and length (2).
const ITEM_HEADER: usize = 4;

fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.is_udp()
        || ctx.client_port != CIP_IO_PORT
        || ctx.server_port != CIP_IO_PORT
        || !(MIN_LEN..=MAX_LEN).contains(&data.len())
        || at(data, 1) != 0
    {
        return Probe::NoMatch;
    }
    let mut items = at(data, 0);
    let mut offset: usize = 2;
    while items > 0 && offset.saturating_add(ITEM_HEADER) < data.len() {
        let len = u16::from_le_bytes([
            at(data, offset.saturating_add(2)),
            at(data, offset.saturating_add(3)),
        ]);
        offset = offset
            .saturating_add(ITEM_HEADER)
            .saturating_add(usize::from(len));
        items = items.saturating_sub(1);
    }
    proto_if(offset == data.len(), ids::CIP)
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;

    /// A class 1 I/O datagram (CIP Vol. 2 §2-6.3): 2 items, Sequenced Address (0x8002, length
    /// 8: connection id, sequence) and Connected Data (0x00b1, length 6: sequence count, 4 bytes).
    const IO: [u8; 24] = [
        0x02, 0x00, 0x02, 0x80, 0x08, 0x00, 0x01, 0x00, 0x2b, 0xe0, 0x10, 0x00, 0x00, 0x00, 0xb1,
        0x00, 0x06, 0x00, 0x10, 0x00, 0xde, 0xad, 0xbe, 0xef,
    ];

    #[test]
    fn cip_io_datagram() {
        let ctx = Ctx::client(17, 2222, 2222);
        assert_eq!(probe(&ctx, &IO), Probe::Match(Hit::proto(ids::CIP)));
        // Every prefix: nDPI stops walking when no whole item header is left and does not ask
        // for the item count to be used up, so the prefix ending with the first item passes.
        for n in 0..IO.len() {
            assert_eq!(probe(&ctx, &IO[..n]).is_match(), n == 14, "{n}");
        }
    }

    #[test]
    fn not_cip() {
        // One port not 2222, an item count of 1, 256 items, a longer item.
        assert_eq!(probe(&Ctx::client(17, 40000, 2222), &IO), Probe::NoMatch);
        let ctx = Ctx::client(17, 2222, 2222);
        for (i, v) in [(0, 1), (1, 1), (16, 7)] {
            let mut p = IO;
            p[i] = v;
            assert_eq!(probe(&ctx, &p), Probe::NoMatch, "byte {i} = {v}");
        }
    }
}
