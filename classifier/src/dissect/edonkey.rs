//! eDonkey / eMule. nDPI `src/lib/protocols/edonkey.c` (after libprotoident) lists the first
//! bytes and lengths of eDonkey messages and takes a flow once a message of the list goes each
//! way. A stateless probe sees one packet, so it takes only the parts of that list that stand on
//! their own:
//!
//! - TCP: nDPI's `e3`/`c5` with bytes 2–3 zero is the eDonkey/eMule TCP header (protocol byte,
//!   little-endian u32 size, opcode: the eMule protocol specification §2.3). Here the size must
//!   also end the segment or reach the next header, which makes the five header bytes a signature.
//! - UDP: the entries with an exact datagram length (Kademlia `e4`/`e5` messages, `e3 96`,
//!   `e3 a2`, `c5 92`, `c5 93`, `c5 94` 38–70) and the four-byte `e4 01 00 00` / `e5 08|28 78 da`
//!   ones. The two-byte prefixes of any length (`e3 9a`, `c5 90`, `e5 43`…) are two bytes of
//!   signature on any port and are left out.

use super::{ANY, Ctx, Dissector, Hit, Probe, at, ids, le32, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "edonkey",
    probe,
    tcp_ports: ANY,
    udp_ports: ANY,
    reassemble: false,
    emits: &[ids::EDONKEY],
};

/// eDonkey, eMule extended and eMule packed protocol bytes (eMule spec §2.3).
const TCP_PROTOCOLS: [u8; 3] = [0xe3, 0xc5, 0xd4];
/// Protocol byte and size.
const HEADER_LEN: usize = 5;

/// nDPI's UDP entries with an exact length: (length, first byte, second byte).
const UDP_EXACT: [(usize, u8, u8); 28] = [
    (2, 0xc5, 0x92),
    (2, 0xc5, 0x93),
    (6, 0xe3, 0x96),
    (6, 0xe3, 0xa2),
    (27, 0xe4, 0x00),
    (529, 0xe4, 0x08),
    (523, 0xe4, 0x09),
    (35, 0xe4, 0x21),
    (19, 0xe4, 0x4b),
    (22, 0xe4, 0x19),
    (38, 0xe4, 0x19),
    (28, 0xe4, 0x19),
    (35, 0xe4, 0x20),
    (27, 0xe4, 0x18),
    (27, 0xe4, 0x10),
    (6, 0xe4, 0x58),
    (4, 0xe4, 0x50),
    (36, 0xe4, 0x52),
    (48, 0xe4, 0x40),
    (225, 0xe4, 0x43),
    (19, 0xe4, 0x48),
    (119, 0xe4, 0x29),
    (69, 0xe4, 0x29),
    (294, 0xe4, 0x29),
    (119, 0xe4, 0x28),
    (69, 0xe4, 0x28),
    (294, 0xe4, 0x28),
    (44, 0xe4, 0x28),
];
/// nDPI: `e4 28` also at 269 bytes, `e4 01 00 00` at 18.
const UDP_E428_EXTRA_LEN: usize = 269;
const UDP_E401_LEN: usize = 18;
/// nDPI: `c5 94` between 38 and 70 bytes.
const UDP_C594_LENS: std::ops::RangeInclusive<usize> = 38..=70;
/// nDPI: `e3 97` up to 34 bytes, 2 plus a multiple of 4.
const UDP_E397_MAX_LEN: usize = 34;

fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    let found = if ctx.is_tcp() {
        tcp_message(data)
    } else {
        ctx.is_udp() && udp_message(data)
    };
    proto_if(found, ids::EDONKEY)
}

/// A TCP header whose size ends the segment or is followed by another header.
fn tcp_message(data: &[u8]) -> bool {
    if !TCP_PROTOCOLS.contains(&at(data, 0)) || at(data, 2) != 0 || at(data, 3) != 0 {
        return false;
    }
    let Some(size) = le32(data, 1).and_then(|s| usize::try_from(s).ok()) else {
        return false;
    };
    let Some(end) = size.checked_add(HEADER_LEN) else {
        return false;
    };
    // nDPI's e3/c5 only (a packed d4 message must follow one of them).
    let first_ok = at(data, 0) != 0xd4;
    size > 0
        && first_ok
        && (end == data.len() || (end < data.len() && TCP_PROTOCOLS.contains(&at(data, end))))
}

fn udp_message(data: &[u8]) -> bool {
    let len = data.len();
    let (a, b) = (at(data, 0), at(data, 1));
    if len < 2 {
        return false;
    }
    UDP_EXACT
        .iter()
        .any(|&(l, x, y)| len == l && a == x && b == y)
        || (len == UDP_E428_EXTRA_LEN && a == 0xe4 && b == 0x28)
        || (len == UDP_E401_LEN && data.starts_with(&[0xe4, 0x01, 0x00, 0x00]))
        || (UDP_C594_LENS.contains(&len) && a == 0xc5 && b == 0x94)
        || (len <= UDP_E397_MAX_LEN
            && len.checked_sub(2).is_some_and(|n| n % 4 == 0)
            && a == 0xe3
            && b == 0x97)
        || (len >= 4 && a == 0xe5 && matches!(data.get(1..4), Some([0x08 | 0x28, 0x78, 0xda])))
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    const EDONKEY: Probe<Hit<'static>> = Probe::Match(Hit::proto(ids::EDONKEY));

    /// An eMule Hello (spec §6.1: opcode 0x01, hash size 16, user hash, client id, port, no tags)
    /// behind its header.
    fn hello() -> Vec<u8> {
        let mut body = vec![0x01, 0x10];
        body.extend([0xab; 16]);
        body.extend([10, 0, 0, 2]);
        body.extend(4662u16.to_le_bytes());
        body.extend(0u32.to_le_bytes());
        let mut p = vec![0xe3];
        p.extend((body.len() as u32).to_le_bytes());
        p.extend(body);
        p
    }

    #[test]
    fn tcp_header_and_size() {
        let c = Ctx::client(6, 40000, 4662);
        assert_eq!(probe(&c, &hello()), EDONKEY);
        // Two messages in one segment, the second an eMule extended one.
        let mut two = hello();
        two.extend([0xc5, 2, 0, 0, 0, 0x60, 0x00]);
        assert_eq!(probe(&c, &two), EDONKEY);
        // Cut, one byte long, followed by something else, size 0, a packed message first.
        let h = hello();
        for n in 0..h.len() {
            assert_eq!(probe(&c, &h[..n]), Probe::NoMatch, "{n}");
        }
        let mut long = hello();
        long.push(0x00);
        assert_eq!(probe(&c, &long), Probe::NoMatch);
        assert_eq!(probe(&c, &[0xe3, 0, 0, 0, 0]), Probe::NoMatch);
        let mut packed = hello();
        packed[0] = 0xd4;
        assert_eq!(probe(&c, &packed), Probe::NoMatch);
    }

    #[test]
    fn udp_entries() {
        let u = Ctx::client(17, 4672, 4672);
        // Kademlia 2 bootstrap request (e4 01 00 00, 18 bytes) and a hello (e4 11 any length is
        // not taken; e4 10 at 27 is).
        let mut boot = vec![0xe4, 0x01, 0x00, 0x00];
        boot.resize(UDP_E401_LEN, 0x11);
        assert_eq!(probe(&u, &boot), EDONKEY);
        let mut kad = vec![0xe4, 0x10];
        kad.resize(27, 0x22);
        assert_eq!(probe(&u, &kad), EDONKEY);
        kad.push(0);
        assert_eq!(probe(&u, &kad), Probe::NoMatch);
        assert_eq!(probe(&u, &[0xe3, 0x97, 1, 2, 3, 4]), EDONKEY);
        assert_eq!(probe(&u, &[0xe3, 0x97, 1, 2, 3]), Probe::NoMatch);
        assert_eq!(probe(&u, &[0xe5, 0x28, 0x78, 0xda, 0x01]), EDONKEY);
        // The two-byte prefixes nDPI accepts at any length are left out.
        assert_eq!(probe(&u, &[0xe3, 0x9a, 0, 0, 0, 0, 0, 0]), Probe::NoMatch);
        assert_eq!(probe(&u, &[0xc5, 0x92, 0]), Probe::NoMatch);
    }
}
