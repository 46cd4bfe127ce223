//! PTP version 2 (IEEE 1588-2008 §13.3: the 34-byte common header — messageType in the low
//! nibble of byte 0, versionPTP 2 in byte 1 — on UDP ports 319 for event and 320 for general
//! messages, Annex D). nDPI `src/lib/protocols/ptpv2.c`: a datagram longer than the header
//! between two 319s or two 320s, a message type below 15 and byte 1 exactly 2.

use super::{Ctx, Dissector, Hit, Probe, at, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "ptpv2",
    probe,
    tcp_ports: &[],
    udp_ports: &[EVENT_PORT, GENERAL_PORT],
    reassemble: false,
    emits: &[ids::PTPV2],
};

const EVENT_PORT: u16 = 319;
const GENERAL_PORT: u16 = 320;
const HEADER: usize = 34;
const VERSION: u8 = 2;

fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    let ports =
        ctx.client_port == ctx.server_port && matches!(ctx.server_port, EVENT_PORT | GENERAL_PORT);
    proto_if(
        ctx.is_udp()
            && ports
            && data.len() > HEADER
            && at(data, 0) & 0x0f < 0x0f
            && at(data, 1) == VERSION,
        ids::PTPV2,
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

    /// A Sync message (§13.6): type 0, version 2, length 44, domain 0, flags two-step, the
    /// clock identity, port 1, sequence 7, control 0, log interval 0, the origin timestamp.
    fn sync() -> Vec<u8> {
        let mut p = vec![0x00, 0x02, 0x00, 0x2c, 0x00, 0x00, 0x02, 0x00];
        p.extend([0; 8]); // correction field
        p.extend([0; 4]);
        p.extend([0x00, 0x1b, 0x19, 0xff, 0xfe, 0x00, 0x00, 0x01, 0x00, 0x01]);
        p.extend([0x00, 0x07, 0x00, 0x00]);
        p.extend([0; 10]);
        p
    }

    #[test]
    fn ptp_sync_and_announce() {
        let p = sync();
        assert_eq!(p.len(), 44);
        assert_eq!(
            probe(&Ctx::client(17, 319, 319), &p),
            Probe::Match(Hit::proto(ids::PTPV2))
        );
        let mut announce = p.clone();
        announce[0] = 0x0b;
        assert!(probe(&Ctx::client(17, 320, 320), &announce).is_match());
        for n in 0..=HEADER {
            assert_eq!(probe(&Ctx::client(17, 319, 319), &p[..n]), Probe::NoMatch);
        }
    }

    #[test]
    fn not_ptp() {
        let p = sync();
        // Mixed ports, a high client port, version 1, type 15, PTPv2.1's minor version nibble.
        assert_eq!(probe(&Ctx::client(17, 319, 320), &p), Probe::NoMatch);
        assert_eq!(probe(&Ctx::client(17, 40000, 319), &p), Probe::NoMatch);
        for (i, v) in [(1, 1), (0, 0x0f), (1, 0x12)] {
            let mut q = p.clone();
            q[i] = v;
            assert_eq!(
                probe(&Ctx::client(17, 319, 319), &q),
                Probe::NoMatch,
                "byte {i} = {v}"
            );
        }
    }
}
