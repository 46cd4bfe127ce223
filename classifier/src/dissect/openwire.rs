//! OpenWire (Apache ActiveMQ's native wire format): every command is a 4-byte big-endian size
//! then the command type; a connection opens with WIREFORMAT_INFO (type 1), whose magic is
//! `ActiveMQ`. nDPI `src/lib/protocols/openwire.c`: a TCP segment of more than 22 bytes, on any
//! port, whose size field is the segment's length minus 4, type 1 and the magic.

use super::{Ctx, Dissector, Hit, Probe, at, be32, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "openwire",
    probe,
    tcp_ports: &[61616],
    udp_ports: &[],
    reassemble: false,
    emits: &[ids::OPENWIRE],
};

/// nDPI looks at nothing of 22 bytes or fewer.
const MIN_LEN: usize = 23;
const WIREFORMAT_INFO: u8 = 1;
const MAGIC: &[u8] = b"ActiveMQ";

fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    let size = be32(data, 0).and_then(|n| usize::try_from(n).ok());
    proto_if(
        ctx.is_tcp()
            && data.len() >= MIN_LEN
            && size.and_then(|n| n.checked_add(4)) == Some(data.len())
            && at(data, 4) == WIREFORMAT_INFO
            && data.get(5..13) == Some(MAGIC),
        ids::OPENWIRE,
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

    /// WIREFORMAT_INFO as ActiveMQ's `WireFormatInfo` marshals it: size, type 1, magic, version
    /// 12, then a marshalled-properties length and bytes.
    fn wireformat_info() -> Vec<u8> {
        let mut body = vec![WIREFORMAT_INFO];
        body.extend_from_slice(MAGIC);
        body.extend(12u32.to_be_bytes());
        body.push(1);
        body.extend(16u32.to_be_bytes());
        body.extend(*b"\0\0\0\x01\0\x0bTcpNoDelay");
        let mut p = u32::try_from(body.len()).unwrap().to_be_bytes().to_vec();
        p.extend(body);
        p
    }

    #[test]
    fn openwire_wireformat_info_both_ways() {
        let p = wireformat_info();
        assert_eq!(
            probe(&Ctx::client(6, 40000, 61616), &p),
            Probe::Match(Hit::proto(ids::OPENWIRE))
        );
        assert!(probe(&server(6, 50505), &p).is_match());
        // Every prefix is refused: the size field names the whole command.
        for n in 0..p.len() {
            assert_eq!(
                probe(&Ctx::client(6, 40000, 61616), &p[..n]),
                Probe::NoMatch,
                "{n}"
            );
        }
    }

    #[test]
    fn not_openwire() {
        let ctx = Ctx::client(6, 40000, 61616);
        for (i, v) in [(4, 2), (5, b'a'), (3, 0)] {
            let mut p = wireformat_info();
            p[i] = v;
            assert_eq!(probe(&ctx, &p), Probe::NoMatch, "byte {i} = {v}");
        }
        assert_eq!(
            probe(&Ctx::client(17, 40000, 61616), &wireformat_info()),
            Probe::NoMatch
        );
    }
}
