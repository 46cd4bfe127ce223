//! IEEE C37.118.2 synchrophasor frames (§6.2: SYNC `0xaa` with the frame type in bits 6–4,
//! FRAMESIZE, …, and a CRC-CCITT CHK over everything before it). nDPI
//! `src/lib/protocols/ieee-c37118.c`: over TCP or UDP, on any port, at least 17 bytes, SYNC
//! `0xaa`, a frame type up to 5, FRAMESIZE equal to the payload's length and a right CHK.

use super::{ANY, Ctx, Dissector, Hit, Probe, at, be16, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "ieee_c37118",
    probe,
    tcp_ports: &[4712],
    udp_ports: ANY,
    reassemble: false,
    emits: &[ids::IEEE_C37118],
};

/// nDPI's minimum (a command frame is 18).
const MIN_LEN: usize = 17;
const SYNC: u8 = 0xaa;
/// Data, header, configuration 1–3, command.
const MAX_FRAME_TYPE: u8 = 5;

fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    let chk_at = data.len().saturating_sub(2);
    proto_if(
        (ctx.is_tcp() || ctx.is_udp())
            && data.len() >= MIN_LEN
            && at(data, 0) == SYNC
            && at(data, 1) >> 4 <= MAX_FRAME_TYPE
            && be16(data, 2).map(usize::from) == Some(data.len())
            && data.get(..chk_at).map(crc16_ccitt_false) == be16(data, chk_at),
        ids::IEEE_C37118,
    )
}

/// CRC-16/CCITT-FALSE (poly 0x1021, init 0xffff, no reflection, no final xor): C37.118.2 §6.2 CHK.
fn crc16_ccitt_false(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0xffff;
    for &b in bytes {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
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

    /// A command frame (§6.4, type 4): SYNC `aa 41`, FRAMESIZE 18, IDCODE 7, SOC, FRACSEC,
    /// CMD 2 (turn on transmission), CHK.
    fn turn_on() -> Vec<u8> {
        let mut p = vec![0xaa, 0x41, 0x00, 0x12, 0x00, 0x07];
        p.extend(0x6553_f100u32.to_be_bytes());
        p.extend(0u32.to_be_bytes());
        p.extend(2u16.to_be_bytes());
        let chk = crc16_ccitt_false(&p);
        p.extend(chk.to_be_bytes());
        p
    }

    #[test]
    fn crc_check_value() {
        // The catalogue check value of CRC-16/CCITT-FALSE over "123456789".
        assert_eq!(crc16_ccitt_false(b"123456789"), 0x29b1);
    }

    #[test]
    fn c37118_command_frame() {
        let p = turn_on();
        assert_eq!(
            probe(&Ctx::client(6, 40000, 4712), &p),
            Probe::Match(Hit::proto(ids::IEEE_C37118))
        );
        assert!(probe(&server(17, 4713), &p).is_match());
        for n in 0..p.len() {
            assert_eq!(probe(&Ctx::client(6, 40000, 4712), &p[..n]), Probe::NoMatch);
        }
    }

    #[test]
    fn not_c37118() {
        let ctx = Ctx::client(6, 40000, 4712);
        // Frame type 6, a wrong FRAMESIZE, a flipped CHK bit.
        for (i, v) in [(1, 0x61), (3, 0x11), (17, 0)] {
            let mut p = turn_on();
            p[i] = v;
            assert_eq!(probe(&ctx, &p), Probe::NoMatch, "byte {i} = {v}");
        }
    }
}
