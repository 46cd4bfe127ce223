//! Omron FINS (Factory Interface Network Service; Omron W421 §6 FINS/TCP and §5 FINS header).
//! nDPI `src/lib/protocols/fins.c`, on any port: over TCP a segment of at least the 20-byte
//! FINS/TCP header starting `FINS`; over UDP a datagram longer than the 10-byte FINS header with
//! ICF 0x80, 0xc0 or 0xc1, reserved 0, gateway count 2, network addresses up to 0x7f, and
//! destination and source unit addresses 0 (CPU), 0xfe, 0xe1 or 0x10–0x1f (CPU bus units).

use super::{ANY, Ctx, Dissector, Hit, Probe, at, ids, proto_if, starts};

pub const DISSECTOR: Dissector = Dissector {
    name: "fins",
    probe,
    tcp_ports: &[9600],
    udp_ports: ANY,
    reassemble: false,
    emits: &[ids::FINS],
};

const TCP_HEADER: usize = 20;
const UDP_HEADER: usize = 10;
const TCP_MAGIC: &[u8] = b"FINS";
/// Command with response required, response without, response with.
const ICFS: [u8; 3] = [0x80, 0xc0, 0xc1];
const GATEWAY_COUNT: u8 = 2;
const MAX_NETWORK: u8 = 0x7f;

fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if ctx.is_tcp() {
        return match starts(data, TCP_MAGIC) {
            Probe::Match(()) if data.len() >= TCP_HEADER => Probe::Match(Hit::proto(ids::FINS)),
            Probe::NoMatch => Probe::NoMatch,
            _ if ctx.stream_start => Probe::NeedMore,
            _ => Probe::NoMatch,
        };
    }
    proto_if(
        ctx.is_udp()
            && data.len() > UDP_HEADER
            && ICFS.contains(&at(data, 0))
            && at(data, 1) == 0
            && at(data, 2) == GATEWAY_COUNT
            && at(data, 3) <= MAX_NETWORK
            && at(data, 6) <= MAX_NETWORK
            && unit(at(data, 5))
            && unit(at(data, 8)),
        ids::FINS,
    )
}

/// The unit addresses nDPI accepts: CPU unit, 0xfe (own unit), 0xe1 (inner board), CPU bus units.
fn unit(a: u8) -> bool {
    matches!(a, 0x00 | 0xfe | 0xe1 | 0x10..=0x1f)
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;
    use crate::dissect::testutil::{check_all_prefixes, server};

    /// Memory Area Read (0101) of DM 100, 1 word, over UDP (W421 §5.1 header then command).
    const READ_DM: [u8; 18] = [
        0x80, 0x00, 0x02, 0x00, 0x01, 0x00, 0x00, 0x0a, 0x00, 0x11, 0x01, 0x01, 0x82, 0x00, 0x64,
        0x00, 0x00, 0x01,
    ];

    #[test]
    fn fins_udp_read_and_tcp_node_address() {
        assert_eq!(
            probe(&Ctx::client(17, 9600, 9600), &READ_DM),
            Probe::Match(Hit::proto(ids::FINS))
        );
        let mut resp = READ_DM;
        resp[0] = 0xc0;
        assert!(probe(&server(17, 9600), &resp).is_match());
        // FINS/TCP node address data send (W421 §7.3): magic, length 12, command 0, error 0, 0.
        let mut nads = b"FINS".to_vec();
        nads.extend([0, 0, 0, 0x0c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        check_all_prefixes(
            &Ctx::client(6, 40000, 9600),
            &nads,
            TCP_HEADER,
            probe,
            |h| assert_eq!(h.master, ids::FINS),
        );
    }

    #[test]
    fn not_fins() {
        let ctx = Ctx::client(17, 9600, 9600);
        // ICF 0x40, reserved 1, 3 gateways, network 0x80, unit 0x20 (dest / source), no data.
        for (i, v) in [(0, 0x40), (1, 1), (2, 3), (3, 0x80), (5, 0x20), (8, 0x20)] {
            let mut p = READ_DM;
            p[i] = v;
            assert_eq!(probe(&ctx, &p), Probe::NoMatch, "byte {i} = {v}");
        }
        assert_eq!(probe(&ctx, &READ_DM[..10]), Probe::NoMatch);
        assert_eq!(
            probe(&Ctx::client(6, 40000, 9600), &READ_DM),
            Probe::NoMatch
        );
    }
}
