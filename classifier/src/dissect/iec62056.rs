//! IEC 62056 DLMS/COSEM over HDLC frames on IP (IEC 62056-46: flag `0x7e`, frame format type 3
//! `0xa0`, …, a CRC-16/X.25 frame check sequence sent low byte first, flag `0x7e`). nDPI
//! `src/lib/protocols/iec62056.c`: over TCP or UDP, on any port, a payload longer than 8 bytes
//! (the SNRM request is 9) that is one such frame whose FCS, over everything between the opening
//! flag and the FCS, is right.

use super::{ANY, Ctx, Dissector, Hit, Probe, at, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "iec62056",
    probe,
    tcp_ports: &[4059],
    udp_ports: ANY,
    reassemble: false,
    emits: &[ids::IEC62056],
};

const FLAG: u8 = 0x7e;
const FORMAT_TYPE_3: u8 = 0xa0;
/// nDPI looks at nothing of 8 bytes or fewer.
const MIN_LEN: usize = 9;

fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !(ctx.is_tcp() || ctx.is_udp()) || data.len() < MIN_LEN {
        return Probe::NoMatch;
    }
    let fcs_at = data.len().saturating_sub(3);
    let fcs = data
        .get(fcs_at..fcs_at.saturating_add(2))
        .and_then(|b| b.try_into().ok())
        .map(u16::from_le_bytes);
    proto_if(
        at(data, 0) == FLAG
            && at(data, 1) == FORMAT_TYPE_3
            && data.last() == Some(&FLAG)
            && fcs.is_some()
            && data.get(1..fcs_at).map(crc16_x25) == fcs,
        ids::IEC62056,
    )
}

/// CRC-16/X.25 (reflected poly 0x1021, init and final xor 0xffff), the HDLC FCS of ISO 13239.
fn crc16_x25(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0xffff;
    for &b in bytes {
        crc ^= u16::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x8408
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
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;
    use crate::dissect::testutil::server;

    /// The SNRM request of the DLMS UA Green Book's HDLC examples: client 0x21 to server 0x03,
    /// control 0x93, HCS/FCS `0f 01`.
    const SNRM: [u8; 9] = [0x7e, 0xa0, 0x07, 0x03, 0x21, 0x93, 0x0f, 0x01, 0x7e];

    #[test]
    fn crc16_x25_check_value() {
        // The catalogue check value of CRC-16/X-25 over "123456789".
        assert_eq!(crc16_x25(b"123456789"), 0x906e);
    }

    #[test]
    fn dlms_snrm_over_tcp_and_udp() {
        assert_eq!(
            probe(&Ctx::client(6, 40000, 4059), &SNRM),
            Probe::Match(Hit::proto(ids::IEC62056))
        );
        assert!(probe(&server(17, 4059), &SNRM).is_match());
        for n in 0..SNRM.len() {
            assert_eq!(
                probe(&Ctx::client(6, 40000, 4059), &SNRM[..n]),
                Probe::NoMatch
            );
        }
    }

    #[test]
    fn not_iec62056() {
        let ctx = Ctx::client(6, 40000, 4059);
        // A flipped FCS bit, another frame format, no closing flag.
        for (i, v) in [(6, 0x0e), (1, 0xa8), (8, 0x7f)] {
            let mut p = SNRM;
            p[i] = v;
            assert_eq!(probe(&ctx, &p), Probe::NoMatch, "byte {i} = {v}");
        }
    }
}
