//! DCE/RPC (The Open Group C706 ch. 12, MS-RPCE §2.2.2): a connection-oriented PDU on TCP or a
//! connectionless one on UDP, from either side, on any port. nDPI `src/lib/protocols/dcerpc.c`:
//! - connection-oriented: version 5, packet type below 16, and the PDU's `frag_length` (bytes
//!   8–9) equal to the segment, at least 64 bytes; a PDU spread over segments (or followed by
//!   another) is reassembled and checked the same, with the upper `pfc_flags` bits clear;
//! - connectionless: an 80-byte header with version 4, packet type at most 10 (cancel_ack), the
//!   reserved `flags2` bits and `drep` bits clear, a known floating-point format, and the body
//!   length (bytes 74–75) making up the rest of the datagram.
//!
//! A connectionless datagram to a PROFINET IO object is `DCERPC.PROFINET_IO` (`profinet_io.rs`).
//!
//! Lengths are read in the byte order `drep` names (C706 §14.2.5: 0x10 little endian, else
//! big endian).

use super::{Ctx, Dissector, Hit, Probe, at, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "dcerpc",
    probe,
    tcp_ports: &[135],
    udp_ports: &[135],
    reassemble: true,
    emits: &[ids::DCERPC, ids::PROFINET_IO],
};

/// C706 §12.6.3.1: the common connection-oriented header.
const CO_HEADER: usize = 16;
/// nDPI's minimum size of a connection-oriented PDU it takes.
const CO_MIN_PDU: usize = 64;
const CO_VERSION: u8 = 5;
/// Packet types 0 (request) … 15 (orphaned), C706 §12.6.4.
const CO_TYPES: u8 = 16;
/// `pfc_flags` bits nDPI's reassembly path requires clear (conc_mpx, did_not_execute, maybe,
/// object_uuid).
const CO_UPPER_FLAGS: u8 = 0xf0;

/// C706 §12.5.1: the connectionless header, with the body length at 74.
const CL_HEADER: usize = 80;
const CL_LEN_AT: usize = 74;
const CL_VERSION: u8 = 4;
/// Packet types 0 (request) … 10 (cancel_ack), C706 §12.5.3.
const CL_MAX_TYPE: u8 = 10;
/// Reserved bits of `flags2` (only cancel_pending and one reserved bit are defined).
const CL_FLAGS2_RESERVED: u8 = 0xfc;
/// `drep[0]`: integer representation (0x10) and character set (0x01) are the only bits.
const DREP_RESERVED: u8 = 0xee;
const DREP_LITTLE_ENDIAN: u8 = 0x10;
/// `drep[1]`: IEEE, VAX, Cray, IBM.
const MAX_FLOAT_FORMAT: u8 = 3;

pub fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if ctx.is_udp() {
        match connectionless(data) {
            true if super::profinet_io::is_profinet_io(data) => Probe::Match(Hit {
                app: ids::PROFINET_IO,
                ..Hit::proto(ids::DCERPC)
            }),
            found => proto_if(found, ids::DCERPC),
        }
    } else if ctx.is_tcp() {
        connection_oriented(ctx, data)
    } else {
        Probe::NoMatch
    }
}

/// A 16-bit field at `i` in the byte order of `drep[0]`.
fn drep16(data: &[u8], i: usize, drep: u8) -> Option<u16> {
    let b = data.get(i..i.checked_add(2)?)?;
    let pair = [*b.first()?, *b.get(1)?];
    Some(if drep & DREP_LITTLE_ENDIAN != 0 {
        u16::from_le_bytes(pair)
    } else {
        u16::from_be_bytes(pair)
    })
}

fn connection_oriented<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    match data.first() {
        None if ctx.stream_start => return Probe::NeedMore,
        Some(&CO_VERSION) => {}
        _ => return Probe::NoMatch,
    }
    let Some(frag_len) = drep16(data, 8, at(data, 4)) else {
        return if ctx.stream_start && plausible_start(data) {
            Probe::NeedMore
        } else {
            Probe::NoMatch
        };
    };
    let frag_len = usize::from(frag_len);
    if at(data, 2) >= CO_TYPES || frag_len < CO_HEADER {
        return Probe::NoMatch;
    }
    if data.len() < frag_len {
        return if ctx.stream_start && at(data, 3) & CO_UPPER_FLAGS == 0 {
            Probe::NeedMore
        } else {
            Probe::NoMatch
        };
    }
    let whole = data.len() == frag_len;
    proto_if(
        frag_len >= CO_MIN_PDU && (whole || at(data, 3) & CO_UPPER_FLAGS == 0),
        ids::DCERPC,
    )
}

/// The first bytes of a connection-oriented header so far: type and flags as nDPI's
/// reassembly requires them.
fn plausible_start(data: &[u8]) -> bool {
    data.get(2).is_none_or(|&t| t < CO_TYPES)
        && data.get(3).is_none_or(|&f| f & CO_UPPER_FLAGS == 0)
}

fn connectionless(data: &[u8]) -> bool {
    let drep = at(data, 4);
    data.len() >= CL_HEADER
        && at(data, 0) == CL_VERSION
        && at(data, 1) <= CL_MAX_TYPE
        && at(data, 3) & CL_FLAGS2_RESERVED == 0
        && drep & DREP_RESERVED == 0
        && at(data, 5) <= MAX_FLOAT_FORMAT
        && drep16(data, CL_LEN_AT, drep).and_then(|body| usize::from(body).checked_add(CL_HEADER))
            == Some(data.len())
}

#[doc(hidden)]
pub fn fuzz_entry(data: &[u8]) {
    let _ = probe(&Ctx::client(6, 40000, 135), data);
    let _ = probe(&Ctx::client(17, 40000, 135), data);
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
    use crate::dissect::testutil::{check_all_prefixes, server};

    /// EPM's interface (MS-RPCE §2.2.1.2.1, e1af8308-5d1f-11c9-91a4-08002b14a0fa v3.0) and the
    /// NDR transfer syntax (8a885d04-1ceb-11c9-9fe8-08002b104860 v2), little-endian wire form.
    const EPM_UUID: [u8; 16] = [
        0x08, 0x83, 0xaf, 0xe1, 0x1f, 0x5d, 0xc9, 0x11, 0x91, 0xa4, 0x08, 0x00, 0x2b, 0x14, 0xa0,
        0xfa,
    ];
    const NDR_UUID: [u8; 16] = [
        0x04, 0x5d, 0x88, 0x8a, 0xeb, 0x1c, 0xc9, 0x11, 0x9f, 0xe8, 0x08, 0x00, 0x2b, 0x10, 0x48,
        0x60,
    ];

    /// A connection-oriented PDU (C706 §12.6.3.1) of type `ptype`, flags first+last fragment,
    /// drep `drep`, with `body` after the 16-byte header.
    fn co_pdu(ptype: u8, drep: u8, body: &[u8]) -> Vec<u8> {
        let len = u16::try_from(CO_HEADER + body.len()).unwrap();
        let len = if drep & DREP_LITTLE_ENDIAN != 0 {
            len.to_le_bytes()
        } else {
            len.to_be_bytes()
        };
        let mut p = vec![
            5, 0, ptype, 0x03, drep, 0, 0, 0, len[0], len[1], 0, 0, 1, 0, 0, 0,
        ];
        p.extend_from_slice(body);
        p
    }

    /// rpc_bind (C706 §12.6.4.3) for EPM with one NDR context: 72 bytes.
    fn bind() -> Vec<u8> {
        let mut b = vec![0xb8, 0x10, 0xb8, 0x10, 0, 0, 0, 0]; // max xmit/recv 4280, group 0
        b.extend([1, 0, 0, 0]); // one context element
        b.extend([0, 0, 1, 0]); // context id 0, one transfer syntax
        b.extend(EPM_UUID);
        b.extend([3, 0, 0, 0]);
        b.extend(NDR_UUID);
        b.extend([2, 0, 0, 0]);
        co_pdu(11, 0x10, &b)
    }

    /// rpc_bind_ack (C706 §12.6.4.4): secondary address "135", NDR accepted and the bind-time
    /// feature negotiation answer (MS-RPCE §3.3.1.5.3) Windows adds: 84 bytes.
    fn bind_ack() -> Vec<u8> {
        let mut b = vec![0xb8, 0x10, 0xb8, 0x10, 0x12, 0x34, 0, 0];
        b.extend([4, 0]);
        b.extend(b"135\0");
        b.extend([0, 0]); // align to 4
        b.extend([2, 0, 0, 0]); // two results
        b.extend([0, 0, 0, 0]); // acceptance
        b.extend(NDR_UUID);
        b.extend([2, 0, 0, 0]);
        b.extend([3, 0, 3, 0]); // negotiate_ack, features 3
        b.extend([0; 20]);
        co_pdu(12, 0x10, &b)
    }

    /// A connectionless request (C706 §12.5.1) with a `body_len`-byte body.
    fn cl_request(drep: u8, body_len: u16) -> Vec<u8> {
        let mut p = vec![4, 0, 0x08, 0, drep, 0, 0, 0]; // idempotent flag
        p.extend([0; 16]); // object
        p.extend(EPM_UUID); // interface
        p.extend([0x5a; 16]); // activity
        p.extend([0; 4]); // server boot
        p.extend([3, 0, 0, 0]); // interface version
        p.extend([1, 0, 0, 0]); // sequence number
        p.extend([2, 0, 0xff, 0xff]); // opnum, interface hint
        p.extend([0xff, 0xff]); // activity hint
        let len = if drep & DREP_LITTLE_ENDIAN != 0 {
            body_len.to_le_bytes()
        } else {
            body_len.to_be_bytes()
        };
        p.extend(len);
        p.extend([0, 0, 0, 0]); // fragment number, auth proto, serial low
        assert_eq!(p.len(), CL_HEADER);
        p.extend((0..body_len).map(|i| i as u8));
        p
    }

    /// Recorded on loopback (`testdata/README.md`): impacket 0.13's `DCERPC_v5.bind` to EPM over
    /// `ncacn_ip_tcp`.
    const IMPACKET_BIND: &[u8] = include_bytes!("../../testdata/dcerpc_bind_impacket_lo.bin");

    #[test]
    fn impacket_bind_every_prefix() {
        // The spec-built bind is byte for byte what impacket sends.
        assert_eq!(IMPACKET_BIND, &bind()[..]);
        check_all_prefixes(
            &Ctx::client(6, 40000, 18136),
            IMPACKET_BIND,
            IMPACKET_BIND.len(),
            probe,
            |h| assert_eq!(h.master, ids::DCERPC),
        );
    }

    #[test]
    fn bind_and_bind_ack_every_prefix() {
        let client = Ctx::client(6, 40000, 135);
        for (ctx, pdu) in [(client, bind()), (server(6, 135), bind_ack())] {
            check_all_prefixes(&ctx, &pdu, pdu.len(), probe, |h| {
                assert_eq!(h.master, ids::DCERPC);
            });
        }
    }

    #[test]
    fn any_port_either_byte_order_and_mid_flow() {
        // nDPI's dcerpc.c has no port condition: MS-RPC's dynamic ports are the usual case.
        let c = Ctx::client(6, 40000, 49667);
        assert!(probe(&c, &bind()).is_match());
        let mut be = bind();
        be[4] = 0;
        be[8..10].copy_from_slice(&72u16.to_be_bytes());
        assert!(probe(&c, &be).is_match());
        // A request PDU seen mid-flow, whole in its segment.
        let mid = Ctx {
            stream_start: false,
            ..c
        };
        let request = co_pdu(0, 0x10, &[0; 80]);
        assert!(probe(&mid, &request).is_match());
        // Two PDUs in one segment: the first decides.
        let mut two = bind();
        two.extend(bind());
        assert!(probe(&c, &two).is_match());
    }

    #[test]
    fn connection_oriented_shapes_it_refuses() {
        let c = Ctx::client(6, 40000, 135);
        // Under 64 bytes (an auth3 or a short fault), as nDPI.
        assert_eq!(probe(&c, &co_pdu(0, 0x10, &[0; 40])), Probe::NoMatch);
        // Version 4 on TCP, type 16+, a length below the header.
        let mut v4 = bind();
        v4[0] = 4;
        assert_eq!(probe(&c, &v4), Probe::NoMatch);
        let mut t = bind();
        t[2] = 16;
        assert_eq!(probe(&c, &t), Probe::NoMatch);
        let mut short = bind();
        short[8] = 8;
        assert_eq!(probe(&c, &short), Probe::NoMatch);
        // A length that is not the segment's, mid-flow (no reassembly there).
        let mid = Ctx {
            stream_start: false,
            ..c
        };
        let b = bind();
        assert_eq!(probe(&mid, &b[..60]), Probe::NoMatch);
        // A PDU not whole in the segment with the upper pfc_flags bits set (nDPI's reassembly).
        let mut maybe = bind();
        maybe[3] |= 0x40;
        assert_eq!(probe(&c, &maybe[..40]), Probe::NoMatch);
        assert!(probe(&c, &maybe).is_match(), "whole: nDPI's direct check");
    }

    #[test]
    fn connectionless_requests() {
        let udp = Ctx::client(17, 40000, 135);
        for drep in [0x10, 0x00] {
            for body in [0, 24, 300] {
                let p = cl_request(drep, body);
                assert!(probe(&udp, &p).is_match(), "{drep:#x} {body}");
                // The reply direction, any port.
                assert!(probe(&server(17, 34567), &p).is_match());
            }
        }
        let good = cl_request(0x10, 24);
        for (i, v) in [(0, 5), (1, 11), (3, 0x04), (4, 0x12), (5, 4)] {
            let mut bad = good.clone();
            bad[i] = v;
            assert_eq!(probe(&udp, &bad), Probe::NoMatch, "byte {i} = {v:#x}");
        }
        // The body length must make up the datagram.
        assert_eq!(probe(&udp, &good[..good.len() - 1]), Probe::NoMatch);
        let mut longer = good.clone();
        longer.push(0);
        assert_eq!(probe(&udp, &longer), Probe::NoMatch);
        for n in 0..good.len() {
            assert_eq!(probe(&udp, &good[..n]), Probe::NoMatch, "{n}");
        }
        // A connection-oriented PDU in a datagram is not connectionless.
        assert_eq!(probe(&udp, &bind()), Probe::NoMatch);
    }
}
