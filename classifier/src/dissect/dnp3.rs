//! DNP3: IEEE 1815 §9.2 (link header 0x05 0x64, length ≥ 5, control, destination, source,
//! CRC-16 poly 0x3D65). nDPI `src/lib/protocols/dnp3.c`.

use super::{Ctx, Dissector, Hit, Probe, at, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "dnp3",
    probe: dnp3,
    tcp_ports: &[20000],
    udp_ports: &[20000],
    reassemble: false,
    emits: &[ids::DNP3],
};

/// Link header: start (2), length, control, destination (2), source (2), CRC (2).
const DNP3_HEADER: usize = 10;
/// The length counts control, addresses and user data (without CRCs): at least 5.
const DNP3_MIN_LEN: u8 = 5;
/// IEEE 1815 Annex E: CRC-16-DNP, polynomial 0x3D65 bit-reversed, result complemented.
const DNP3_CRC_POLY: u16 = 0xa6bc;

fn dnp3<'a>(_ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    match super::starts(data, b"\x05\x64") {
        Probe::Match(()) => {}
        Probe::NeedMore => return Probe::NeedMore,
        Probe::NoMatch => return Probe::NoMatch,
    }
    let Some(header) = data.get(..DNP3_HEADER) else {
        return Probe::NeedMore;
    };
    let body = header.get(..8).unwrap_or(&[]);
    let stored = u16::from_le_bytes([at(header, 8), at(header, 9)]);
    proto_if(
        at(header, 2) >= DNP3_MIN_LEN && dnp3_crc(body) == stored,
        ids::DNP3,
    )
}

fn dnp3_crc(bytes: &[u8]) -> u16 {
    let mut crc = 0u16;
    for &b in bytes {
        crc ^= u16::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ DNP3_CRC_POLY
            } else {
                crc >> 1
            };
        }
    }
    !crc
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

    /// DNP3 REQUEST LINK STATUS from master 1 to outstation 1024 (IEEE 1815 §9.2.4.1.3: length 5,
    /// control 0xC9), with its header CRC.
    const DNP3_LINK_STATUS: &[u8] = &[0x05, 0x64, 0x05, 0xc9, 0x01, 0x00, 0x00, 0x04, 0xa6, 0x57];

    #[test]
    fn dnp3_link_header_all_prefixes() {
        let ctx = Ctx::client(6, 2789, 20000);
        check_all_prefixes(&ctx, DNP3_LINK_STATUS, DNP3_HEADER, dnp3, |h| {
            assert_eq!(h.master.name(), "DNP3")
        });
        let mut bad = DNP3_LINK_STATUS.to_vec();
        bad[8] ^= 1;
        assert_eq!(dnp3(&ctx, &bad), Probe::NoMatch);
        assert_eq!(dnp3(&ctx, b"\x16\x03\x01"), Probe::NoMatch);
    }
}
