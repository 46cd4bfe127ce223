//! EtherNet/IP encapsulation (ODVA CIP Vol. 2 §2-3: a 24-byte header — command, length, session
//! handle, status, sender context, options — then `length` bytes). nDPI
//! `src/lib/protocols/ethernet_ip.c`: a TCP segment on port 44818 whose little-endian length
//! field plus the 24-byte header is the segment's length.

use super::{Ctx, Dissector, Hit, Probe, ids};

pub const DISSECTOR: Dissector = Dissector {
    name: "ethernet_ip",
    probe,
    tcp_ports: &[44818],
    udp_ports: &[],
    reassemble: false,
    emits: &[ids::ETHERNET_IP],
};

const HEADER: usize = 24;

fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    // A length field is all the signature there is: only on the registered port, as nDPI.
    if !ctx.is_tcp() || !DISSECTOR.likely(ctx) {
        return Probe::NoMatch;
    }
    let Some(len) = data
        .get(2..4)
        .and_then(|b| b.try_into().ok())
        .map(u16::from_le_bytes)
    else {
        return need_more(ctx);
    };
    let total = usize::from(len).saturating_add(HEADER);
    if total == data.len() {
        Probe::Match(Hit::proto(ids::ETHERNET_IP))
    } else if total > data.len() {
        need_more(ctx)
    } else {
        Probe::NoMatch
    }
}

fn need_more<'a>(ctx: &Ctx) -> Probe<Hit<'a>> {
    if ctx.stream_start {
        Probe::NeedMore
    } else {
        Probe::NoMatch
    }
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

    /// RegisterSession (CIP Vol. 2 §2-4.4): command 0x0065, length 4, session 0, status 0,
    /// context, options 0; data: protocol version 1, option flags 0.
    fn register_session() -> Vec<u8> {
        let mut p = vec![0x65, 0x00, 0x04, 0x00];
        p.extend([0; 4]);
        p.extend([0; 4]);
        p.extend(*b"nfguard\0");
        p.extend([0; 4]);
        p.extend([0x01, 0x00, 0x00, 0x00]);
        p
    }

    #[test]
    fn enip_register_session_and_list_identity() {
        let ctx = Ctx::client(6, 40000, 44818);
        let p = register_session();
        check_all_prefixes(&ctx, &p, p.len(), probe, |h| {
            assert_eq!(h.master, ids::ETHERNET_IP)
        });
        // ListIdentity (0x0063) has no data: the bare header.
        let mut li = p[..HEADER].to_vec();
        li[0] = 0x63;
        li[2] = 0;
        assert!(probe(&server(6, 44818), &li).is_match());
    }

    #[test]
    fn not_enip() {
        let p = register_session();
        let ctx = Ctx::client(6, 40000, 44818);
        let mut long = p.clone();
        long.push(0);
        assert_eq!(probe(&ctx, &long), Probe::NoMatch);
        assert_eq!(probe(&Ctx::client(6, 40000, 44819), &p), Probe::NoMatch);
        assert_eq!(probe(&Ctx::client(17, 40000, 44818), &p), Probe::NoMatch);
        let mid = Ctx {
            stream_start: false,
            ..ctx
        };
        assert_eq!(probe(&mid, &p[..20]), Probe::NoMatch);
    }
}
