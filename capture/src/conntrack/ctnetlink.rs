//! ctnetlink wire format (NETLINK_NETFILTER, subsystem CTNETLINK): the few messages the conntrack worker
//! needs, encoded into a caller's buffer and decoded without copying.
//!
//! Numbers are from Linux `include/uapi/linux/netfilter/nfnetlink_conntrack.h`, `nfnetlink.h`,
//! `netlink.h`; the update semantics from `net/netfilter/nf_conntrack_netlink.c`
//! (`ctnetlink_change_mark`: `new = (old & ~CTA_MARK_MASK) ^ CTA_MARK`). Netlink headers are in host byte
//! order, ctnetlink attribute values in network byte order. Every read is bounds-checked: a datagram from
//! the kernel is trusted no more than a packet.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `struct nlmsghdr`: len u32, type u16, flags u16, seq u32, pid u32.
const NLMSG_HDRLEN: usize = 16;
/// `struct nfgenmsg`: family u8, version u8, res_id be16.
const NFGEN_LEN: usize = 4;
/// `struct nlattr`: len u16, type u16.
const NLA_HDRLEN: usize = 4;
/// Attribute type bits that are flags, not the type (`NLA_F_NESTED | NLA_F_NET_BYTEORDER`).
const NLA_TYPE_MASK: u16 = 0x3fff;
const NLA_F_NESTED: u16 = 0x8000;

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
/// `NLM_F_ROOT | NLM_F_MATCH`.
const NLM_F_DUMP: u16 = 0x300;

/// `NFNL_SUBSYS_CTNETLINK << 8`.
const SUBSYS_CTNETLINK: u16 = 1 << 8;
const IPCTNL_MSG_CT_NEW: u16 = 0;
const IPCTNL_MSG_CT_GET: u16 = 1;
const IPCTNL_MSG_CT_DELETE: u16 = 2;

/// Multicast group of DESTROY events (`NFNLGRP_CONNTRACK_DESTROY`).
pub const GROUP_DESTROY: u32 = 3;

// enum ctattr_type
const CTA_TUPLE_ORIG: u16 = 1;
const CTA_TUPLE_REPLY: u16 = 2;
const CTA_MARK: u16 = 8;
const CTA_COUNTERS_ORIG: u16 = 9;
const CTA_COUNTERS_REPLY: u16 = 10;
const CTA_ID: u16 = 12;
const CTA_ZONE: u16 = 18;
const CTA_MARK_MASK: u16 = 21;
// enum ctattr_tuple
const CTA_TUPLE_IP: u16 = 1;
const CTA_TUPLE_PROTO: u16 = 2;
// enum ctattr_ip
const CTA_IP_V4_SRC: u16 = 1;
const CTA_IP_V4_DST: u16 = 2;
const CTA_IP_V6_SRC: u16 = 3;
const CTA_IP_V6_DST: u16 = 4;
// enum ctattr_l4proto
const CTA_PROTO_NUM: u16 = 1;
const CTA_PROTO_SRC_PORT: u16 = 2;
const CTA_PROTO_DST_PORT: u16 = 3;
// enum ctattr_counters
const CTA_COUNTERS_PACKETS: u16 = 1;
const CTA_COUNTERS_BYTES: u16 = 2;
const CTA_COUNTERS32_PACKETS: u16 = 3;
const CTA_COUNTERS32_BYTES: u16 = 4;

/// How deep tuples nest (orig → ip/proto → leaf); anything deeper is not conntrack.
const MAX_ATTRS: usize = 64;

/// One direction of a connection as conntrack keys it. Ports are 0 for protocols without them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CtTuple {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub l4: u8,
    pub sport: u16,
    pub dport: u16,
}

/// Packet and byte counters of one direction (`CTA_COUNTERS_*`, present with `nf_conntrack_acct=1`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub packets: u64,
    pub bytes: u64,
}

/// What a conntrack message says about one entry. Borrows the datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CtEntry<'a> {
    /// `true` for `IPCTNL_MSG_CT_DELETE` (a DESTROY event), `false` for NEW (dump rows, NEW/UPDATE events).
    pub destroyed: bool,
    /// `AF_INET` or `AF_INET6` from the nfgenmsg header.
    pub family: u8,
    pub orig: Option<CtTuple>,
    pub reply: Option<CtTuple>,
    pub mark: u32,
    pub id: Option<u32>,
    pub counters_orig: Option<Counters>,
    pub counters_reply: Option<Counters>,
    /// The `CTA_TUPLE_ORIG` payload as the kernel sent it, echoed back to address this entry in an update.
    pub orig_raw: &'a [u8],
    /// The `CTA_ZONE` payload, if any (an entry in a non-default zone is only found with it).
    pub zone_raw: Option<&'a [u8]>,
}

/// One netlink message of a datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message<'a> {
    Conntrack(CtEntry<'a>),
    /// `NLMSG_ERROR`: `errno` 0 is an ACK; otherwise the negated kernel error (positive here).
    Ack {
        seq: u32,
        errno: i32,
    },
    /// End of a dump.
    Done {
        seq: u32,
    },
    /// Anything else (other subsystems, truncated or malformed messages): skipped.
    Other,
}

fn u16_ne(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_ne_bytes(s.try_into().ok()?))
}

fn u32_ne(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_ne_bytes(s.try_into().ok()?))
}

fn be_u16(v: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes(v.get(..2)?.try_into().ok()?))
}

fn be_u32(v: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(v.get(..4)?.try_into().ok()?))
}

fn be_u64(v: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(v.get(..8)?.try_into().ok()?))
}

/// 4-byte alignment of netlink messages and attributes (`NLMSG_ALIGN`, `NLA_ALIGN`).
fn align4(n: usize) -> Option<usize> {
    n.checked_add(3).map(|v| v & !3)
}

/// Iterates `(type, payload)` over a run of attributes; stops at the first malformed one.
struct Attrs<'a> {
    buf: &'a [u8],
    left: usize,
}

fn attrs(buf: &[u8]) -> Attrs<'_> {
    Attrs {
        buf,
        left: MAX_ATTRS,
    }
}

impl<'a> Iterator for Attrs<'a> {
    type Item = (u16, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        self.left = self.left.checked_sub(1)?;
        let len = usize::from(u16_ne(self.buf, 0)?);
        let ty = u16_ne(self.buf, 2)? & NLA_TYPE_MASK;
        let payload = self.buf.get(NLA_HDRLEN..len)?;
        self.buf = self.buf.get(align4(len)?..).unwrap_or(&[]);
        Some((ty, payload))
    }
}

fn parse_tuple(buf: &[u8]) -> Option<CtTuple> {
    let (mut src, mut dst) = (None, None);
    let (mut l4, mut sport, mut dport) = (None, 0u16, 0u16);
    for (ty, v) in attrs(buf) {
        match ty {
            CTA_TUPLE_IP => {
                for (ty, a) in attrs(v) {
                    match ty {
                        CTA_IP_V4_SRC => src = Some(IpAddr::V4(Ipv4Addr::from(be_u32(a)?))),
                        CTA_IP_V4_DST => dst = Some(IpAddr::V4(Ipv4Addr::from(be_u32(a)?))),
                        CTA_IP_V6_SRC => {
                            let o: [u8; 16] = a.get(..16)?.try_into().ok()?;
                            src = Some(IpAddr::V6(Ipv6Addr::from(o)));
                        }
                        CTA_IP_V6_DST => {
                            let o: [u8; 16] = a.get(..16)?.try_into().ok()?;
                            dst = Some(IpAddr::V6(Ipv6Addr::from(o)));
                        }
                        _ => {}
                    }
                }
            }
            CTA_TUPLE_PROTO => {
                for (ty, a) in attrs(v) {
                    match ty {
                        CTA_PROTO_NUM => l4 = a.first().copied(),
                        CTA_PROTO_SRC_PORT => sport = be_u16(a)?,
                        CTA_PROTO_DST_PORT => dport = be_u16(a)?,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Some(CtTuple {
        src: src?,
        dst: dst?,
        l4: l4?,
        sport,
        dport,
    })
}

fn parse_counters(buf: &[u8]) -> Counters {
    let mut c = Counters::default();
    for (ty, v) in attrs(buf) {
        match ty {
            CTA_COUNTERS_PACKETS => c.packets = be_u64(v).unwrap_or(0),
            CTA_COUNTERS_BYTES => c.bytes = be_u64(v).unwrap_or(0),
            CTA_COUNTERS32_PACKETS => c.packets = be_u32(v).map_or(0, u64::from),
            CTA_COUNTERS32_BYTES => c.bytes = be_u32(v).map_or(0, u64::from),
            _ => {}
        }
    }
    c
}

fn parse_entry(destroyed: bool, body: &[u8]) -> Option<CtEntry<'_>> {
    let family = *body.first()?;
    let mut e = CtEntry {
        destroyed,
        family,
        orig: None,
        reply: None,
        mark: 0,
        id: None,
        counters_orig: None,
        counters_reply: None,
        orig_raw: &[],
        zone_raw: None,
    };
    for (ty, v) in attrs(body.get(NFGEN_LEN..)?) {
        match ty {
            CTA_TUPLE_ORIG => {
                e.orig = parse_tuple(v);
                e.orig_raw = v;
            }
            CTA_TUPLE_REPLY => e.reply = parse_tuple(v),
            CTA_MARK => e.mark = be_u32(v).unwrap_or(0),
            CTA_ID => e.id = be_u32(v),
            CTA_ZONE => e.zone_raw = Some(v),
            CTA_COUNTERS_ORIG => e.counters_orig = Some(parse_counters(v)),
            CTA_COUNTERS_REPLY => e.counters_reply = Some(parse_counters(v)),
            _ => {}
        }
    }
    Some(e)
}

/// The netlink messages of one received datagram, in order. A truncated tail ends the iteration.
pub fn messages(buf: &[u8]) -> impl Iterator<Item = Message<'_>> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        let len = usize::try_from(u32_ne(rest, 0)?).ok()?;
        if len < NLMSG_HDRLEN {
            return None;
        }
        let msg = rest.get(..len)?;
        rest = rest.get(align4(len)?..).unwrap_or(&[]);
        let ty = u16_ne(msg, 4)?;
        let seq = u32_ne(msg, 8)?;
        let body = msg.get(NLMSG_HDRLEN..)?;
        Some(match ty {
            NLMSG_ERROR => {
                // struct nlmsgerr: int error; then the request's header.
                let err = u32_ne(body, 0).map_or(0, |v| i32::from_ne_bytes(v.to_ne_bytes()));
                Message::Ack {
                    seq,
                    errno: err.checked_neg().unwrap_or(i32::MAX),
                }
            }
            NLMSG_DONE => Message::Done { seq },
            t if t == SUBSYS_CTNETLINK | IPCTNL_MSG_CT_NEW => {
                parse_entry(false, body).map_or(Message::Other, Message::Conntrack)
            }
            t if t == SUBSYS_CTNETLINK | IPCTNL_MSG_CT_DELETE => {
                parse_entry(true, body).map_or(Message::Other, Message::Conntrack)
            }
            _ => Message::Other,
        })
    })
}

// === encoding ===

fn put_header(buf: &mut Vec<u8>, ty: u16, flags: u16, seq: u32, family: u8) -> usize {
    let start = buf.len();
    buf.extend_from_slice(&0u32.to_ne_bytes()); // length, patched by `finish`
    buf.extend_from_slice(&ty.to_ne_bytes());
    buf.extend_from_slice(&flags.to_ne_bytes());
    buf.extend_from_slice(&seq.to_ne_bytes());
    buf.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills in ours
    // nfgenmsg: family, NFNETLINK_V0, res_id 0.
    buf.extend_from_slice(&[family, 0, 0, 0]);
    start
}

fn put_attr(buf: &mut Vec<u8>, ty: u16, value: &[u8]) {
    let len = NLA_HDRLEN.saturating_add(value.len());
    buf.extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_ne_bytes());
    buf.extend_from_slice(&ty.to_ne_bytes());
    buf.extend_from_slice(value);
    buf.resize(align4(buf.len()).unwrap_or(buf.len()), 0);
}

fn finish(buf: &mut [u8], start: usize) {
    let len = u32::try_from(buf.len().saturating_sub(start)).unwrap_or(u32::MAX);
    if let Some(h) = buf.get_mut(start..start.saturating_add(4)) {
        h.copy_from_slice(&len.to_ne_bytes());
    }
}

/// Appends a request to dump the whole conntrack table, IPv4 and IPv6 (`AF_UNSPEC`).
pub fn dump_request(buf: &mut Vec<u8>, seq: u32) {
    let start = put_header(
        buf,
        SUBSYS_CTNETLINK | IPCTNL_MSG_CT_GET,
        NLM_F_REQUEST | NLM_F_DUMP,
        seq,
        0,
    );
    finish(buf, start);
}

/// Appends an update of `entry`'s connmark to `(old & !mask) ^ value`, atomically in the kernel, acked.
/// Addresses the entry by its original tuple (and zone) as the kernel sent them: only CTA_MARK and
/// CTA_MARK_MASK change (NAT or helper attributes in an update are refused with EOPNOTSUPP, which is why
/// `conntrack -U`, echoing the whole entry back, fails on NATed flows).
pub fn mark_update_request(
    buf: &mut Vec<u8>,
    seq: u32,
    entry: &CtEntry<'_>,
    value: u32,
    mask: u32,
) {
    let start = put_header(
        buf,
        SUBSYS_CTNETLINK | IPCTNL_MSG_CT_NEW,
        NLM_F_REQUEST | NLM_F_ACK,
        seq,
        entry.family,
    );
    put_attr(buf, CTA_TUPLE_ORIG | NLA_F_NESTED, entry.orig_raw);
    if let Some(z) = entry.zone_raw {
        put_attr(buf, CTA_ZONE, z);
    }
    put_attr(buf, CTA_MARK, &value.to_be_bytes());
    put_attr(buf, CTA_MARK_MASK, &mask.to_be_bytes());
    finish(buf, start);
}

/// Fuzz entry point: decode a datagram as the worker does; must never panic.
#[doc(hidden)]
pub fn fuzz_entry(data: &[u8]) {
    for m in messages(data) {
        if let Message::Conntrack(e) = m {
            let mut out = Vec::new();
            mark_update_request(&mut out, 1, &e, 0, 3);
            let _ = messages(&out).count();
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::panic,
    reason = "tests"
)]
mod tests {
    use super::*;

    fn nested(ty: u16, parts: &[Vec<u8>]) -> Vec<u8> {
        let mut v = Vec::new();
        put_attr(&mut v, ty | NLA_F_NESTED, &parts.concat());
        v
    }

    fn attr(ty: u16, value: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        put_attr(&mut v, ty, value);
        v
    }

    fn tuple(ty: u16, src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> Vec<u8> {
        nested(
            ty,
            &[
                nested(
                    CTA_TUPLE_IP,
                    &[attr(CTA_IP_V4_SRC, &src), attr(CTA_IP_V4_DST, &dst)],
                ),
                nested(
                    CTA_TUPLE_PROTO,
                    &[
                        attr(CTA_PROTO_NUM, &[6]),
                        attr(CTA_PROTO_SRC_PORT, &sport.to_be_bytes()),
                        attr(CTA_PROTO_DST_PORT, &dport.to_be_bytes()),
                    ],
                ),
            ],
        )
    }

    /// A DESTROY event as the kernel builds it (`ctnetlink_conntrack_event`): tuples, counters, mark.
    fn destroy_event() -> Vec<u8> {
        let mut buf = Vec::new();
        let start = put_header(&mut buf, SUBSYS_CTNETLINK | IPCTNL_MSG_CT_DELETE, 0, 0, 2);
        buf.extend(tuple(
            CTA_TUPLE_ORIG,
            [10, 0, 0, 2],
            [10, 0, 1, 2],
            40000,
            80,
        ));
        buf.extend(tuple(
            CTA_TUPLE_REPLY,
            [10, 0, 1, 2],
            [10, 0, 1, 1],
            80,
            40000,
        ));
        buf.extend(nested(
            CTA_COUNTERS_ORIG,
            &[
                attr(CTA_COUNTERS_PACKETS, &6u64.to_be_bytes()),
                attr(CTA_COUNTERS_BYTES, &400u64.to_be_bytes()),
            ],
        ));
        buf.extend(nested(
            CTA_COUNTERS_REPLY,
            &[
                attr(CTA_COUNTERS_PACKETS, &7000u64.to_be_bytes()),
                attr(CTA_COUNTERS_BYTES, &10_485_760u64.to_be_bytes()),
            ],
        ));
        buf.extend(attr(CTA_MARK, &0x46_0001u32.to_be_bytes()));
        buf.extend(attr(CTA_ID, &77u32.to_be_bytes()));
        finish(&mut buf, start);
        buf
    }

    #[test]
    fn destroy_event_decodes() {
        let buf = destroy_event();
        let all: Vec<_> = messages(&buf).collect();
        assert_eq!(all.len(), 1);
        let Message::Conntrack(e) = &all[0] else {
            panic!("not conntrack: {all:?}")
        };
        assert!(e.destroyed);
        let o = e.orig.unwrap();
        assert_eq!(o.src, IpAddr::from([10, 0, 0, 2]));
        assert_eq!((o.l4, o.sport, o.dport), (6, 40000, 80));
        // The reply tuple shows the SNAT address, the original one the client's.
        assert_eq!(e.reply.unwrap().dst, IpAddr::from([10, 0, 1, 1]));
        assert_eq!(e.mark, 0x46_0001);
        assert_eq!(e.id, Some(77));
        assert_eq!(e.counters_reply.unwrap().bytes, 10_485_760);
        assert_eq!(e.counters_orig.unwrap().packets, 6);
    }

    #[test]
    fn update_echoes_the_original_tuple_and_sets_the_mask() {
        let buf = destroy_event();
        let Some(Message::Conntrack(e)) = messages(&buf).next() else {
            panic!("no entry")
        };
        let mut out = Vec::new();
        mark_update_request(&mut out, 9, &e, 0, 0x3);
        assert_eq!(u32_ne(&out, 0), Some(out.len() as u32));
        assert_eq!(u16_ne(&out, 4), Some(SUBSYS_CTNETLINK | IPCTNL_MSG_CT_NEW));
        assert_eq!(u16_ne(&out, 6), Some(NLM_F_REQUEST | NLM_F_ACK));
        assert_eq!(u32_ne(&out, 8), Some(9));
        assert_eq!(out[16], 2, "AF_INET");
        let got: Vec<_> = attrs(&out[NLMSG_HDRLEN + NFGEN_LEN..]).collect();
        assert_eq!(got.len(), 3);
        assert_eq!(parse_tuple(got[0].1), e.orig);
        assert_eq!(got[1], (CTA_MARK, &[0u8, 0, 0, 0][..]));
        assert_eq!(got[2], (CTA_MARK_MASK, &[0u8, 0, 0, 3][..]));
    }

    #[test]
    fn acks_done_and_several_messages_per_datagram() {
        let mut buf = destroy_event();
        // NLMSG_ERROR with error -2 (ENOENT), then NLMSG_DONE.
        let start = buf.len();
        buf.extend_from_slice(&36u32.to_ne_bytes());
        buf.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        buf.extend_from_slice(&0u16.to_ne_bytes());
        buf.extend_from_slice(&5u32.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes());
        buf.extend_from_slice(&(-2i32).to_ne_bytes());
        buf.extend_from_slice(&[0u8; 16]);
        assert_eq!(buf.len() - start, 36);
        buf.extend_from_slice(&16u32.to_ne_bytes());
        buf.extend_from_slice(&NLMSG_DONE.to_ne_bytes());
        buf.extend_from_slice(&0u16.to_ne_bytes());
        buf.extend_from_slice(&6u32.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes());
        let all: Vec<_> = messages(&buf).collect();
        assert_eq!(all.len(), 3);
        assert_eq!(all[1], Message::Ack { seq: 5, errno: 2 });
        assert_eq!(all[2], Message::Done { seq: 6 });
    }

    #[test]
    fn every_truncation_is_harmless() {
        let buf = destroy_event();
        for n in 0..buf.len() {
            fuzz_entry(&buf[..n]);
            // A cut message is never reported as a conntrack entry with the full length's claims.
            assert!(
                messages(&buf[..n]).all(|m| !matches!(m, Message::Conntrack(_))),
                "prefix {n}"
            );
        }
        // Lengths that lie: zero, huge, shorter than a header.
        let mut bad = buf.clone();
        bad[0..4].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert_eq!(messages(&bad).count(), 0);
        bad[0..4].copy_from_slice(&3u32.to_ne_bytes());
        assert_eq!(messages(&bad).count(), 0);
        let mut attr_lie = buf.clone();
        attr_lie[20..22].copy_from_slice(&0xfff0u16.to_ne_bytes());
        fuzz_entry(&attr_lie);
    }

    proptest::proptest! {
        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            fuzz_entry(&data);
        }
    }
}
