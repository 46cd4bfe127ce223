//! PROFINET IO's acyclic services (IEC 61158-6-10: connect, read, write over connectionless
//! DCE/RPC, with object UUIDs `DEA00000-6C97-11D1-8271-…`). nDPI
//! `src/lib/protocols/profinet_io.c`: a datagram already DCE/RPC, longer than 43 bytes, whose
//! object UUID (bytes 8–23) begins with that time_low, time_mid and time_hi_and_version, read in
//! the byte order `drep` names. The DCE/RPC dissector (`dcerpc.rs`) asks [`is_profinet_io`]
//! on each connectionless match.

use super::{be16, be32};

/// nDPI looks at nothing of 43 bytes or fewer (the connectionless header is 80 anyway).
const MIN_LEN: usize = 44;
const OBJECT_UUID_AT: usize = 8;
const TIME_LOW: u32 = 0xdea0_0000;
const TIME_MID: u16 = 0x6c97;
const TIME_HI_AND_VERSION: u16 = 0x11d1;

/// Whether the connectionless DCE/RPC datagram `data` addresses a PROFINET IO object.
pub(crate) fn is_profinet_io(data: &[u8]) -> bool {
    let little = data.get(4).is_some_and(|&drep| drep >> 4 != 0);
    let u32_at = |i| be32(data, i).map(|v| if little { v.swap_bytes() } else { v });
    let u16_at = |i| be16(data, i).map(|v| if little { v.swap_bytes() } else { v });
    data.len() >= MIN_LEN
        && u32_at(OBJECT_UUID_AT) == Some(TIME_LOW)
        && u16_at(OBJECT_UUID_AT + 4) == Some(TIME_MID)
        && u16_at(OBJECT_UUID_AT + 6) == Some(TIME_HI_AND_VERSION)
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::super::{Ctx, Probe, dcerpc, ids};
    use super::*;

    /// A PNIO Connect request as a connectionless DCE/RPC request (C706 §12.5.1): object UUID
    /// DEA00000-6C97-11D1-8271-00010003002a (IEC 61158-6-10 instance/device/vendor), interface
    /// DEA00001-6C97-11D1-8271-00A02442DF7D (PNIO device), opnum 0, in `drep`'s byte order.
    fn pnio_connect(little: bool) -> Vec<u8> {
        let uuid = |a: u32, b: u16, c: u16, tail: [u8; 8]| {
            let mut u = Vec::new();
            if little {
                u.extend(a.to_le_bytes());
                u.extend(b.to_le_bytes());
                u.extend(c.to_le_bytes());
            } else {
                u.extend(a.to_be_bytes());
                u.extend(b.to_be_bytes());
                u.extend(c.to_be_bytes());
            }
            u.extend(tail);
            u
        };
        let drep = if little { 0x10 } else { 0x00 };
        let mut p = vec![4, 0, 0x20, 0, drep, 0, 0, 0];
        p.extend(uuid(
            TIME_LOW,
            TIME_MID,
            TIME_HI_AND_VERSION,
            [0x82, 0x71, 0, 1, 0, 3, 0, 0x2a],
        ));
        p.extend(uuid(
            0xdea0_0001,
            TIME_MID,
            TIME_HI_AND_VERSION,
            [0x82, 0x71, 0, 0xa0, 0x24, 0x42, 0xdf, 0x7d],
        ));
        p.extend([0x33; 16]); // activity
        p.extend([0; 4]); // server boot
        p.extend([1, 0, 0, 0]); // interface version 1
        p.extend([0, 0, 0, 0]); // sequence number
        p.extend([0, 0, 0xff, 0xff, 0xff, 0xff]); // opnum 0 (Connect), hints
        let body = 20u16;
        p.extend(if little {
            body.to_le_bytes()
        } else {
            body.to_be_bytes()
        });
        p.extend([0, 0, 0, 0]);
        p.extend([0; 20]);
        p
    }

    #[test]
    fn pnio_connect_both_byte_orders_through_dcerpc() {
        for little in [true, false] {
            let p = pnio_connect(little);
            assert!(is_profinet_io(&p), "little {little}");
            match dcerpc::probe(&Ctx::client(17, 49153, 34964), &p) {
                Probe::Match(h) => {
                    assert_eq!((h.master, h.app), (ids::DCERPC, ids::PROFINET_IO))
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn other_objects_are_plain_dcerpc() {
        let mut p = pnio_connect(true);
        p[8] = 1; // time_low 0xdea00001
        assert!(!is_profinet_io(&p));
        match dcerpc::probe(&Ctx::client(17, 49153, 34964), &p) {
            Probe::Match(h) => assert_eq!(h.app, ids::DCERPC),
            other => panic!("{other:?}"),
        }
        // The right UUID in the wrong byte order for its drep.
        let mut swapped = pnio_connect(false);
        swapped[4] = 0x10;
        assert!(!is_profinet_io(&swapped));
        assert!(!is_profinet_io(&pnio_connect(true)[..43]));
    }
}
