//! RDP: TPKT + X.224 Connection Request/Confirm on TCP, the RDPEUDP SYN on UDP.
//! Facts: nDPI `src/lib/protocols/rdp.c` (TPKT version, length, X.224 CR code 0xE0, zero
//! references and class), RFC 1006 §6 (TPKT), ITU-T X.224 §13.3 (CR/CC TPDU), [MS-RDPBCGR]
//! §2.2.1.1–2.2.1.2 (routing cookie `Cookie: mstshash=`, `RDP_NEG_REQ`/`RDP_NEG_RSP`),
//! [MS-RDPEUDP] §2.2.2.1/§2.2.3.5 (SYN datagram: `snSourceAck` −1, `RDPUDP_FLAG_SYN`, MTUs
//! 1132–1232).

use super::{Ctx, Dissector, Hit, Probe, at, be16, be32, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "rdp",
    probe: rdp,
    tcp_ports: &[3389],
    udp_ports: &[3389],
    // A Connection Request split over segments (only after a consistent TPKT + X.224 header).
    reassemble: true,
    emits: &[ids::TLS, ids::RDP],
};

/// TPKT header (4) + X.224 CR/CC fixed part (7): RFC 1006 §6, X.224 §13.3.1.
const TPKT_X224_LEN: usize = 11;
/// X.224 TPDU codes: Connection Request, Connection Confirm.
const X224_CR: u8 = 0xe0;
const X224_CC: u8 = 0xd0;
/// [MS-RDPBCGR] §2.2.1.1: the routing token or cookie the client may send after the CR header.
const COOKIE: &[u8] = b"Cookie: ";
/// [MS-RDPBCGR] §2.2.1.1.1/§2.2.1.2.1/§2.2.1.2.2: `RDP_NEG_REQ` (1), `RDP_NEG_RSP` (2),
/// `RDP_NEG_FAILURE` (3), each 8 bytes long.
const NEG_LEN: u16 = 8;
/// [MS-RDPBCGR] §2.2.1.1.1 `requestedProtocols` flag: TLS 1.0/1.1/1.2 security.
const PROTOCOL_SSL: u32 = 0x0000_0001;
/// [MS-RDPEUDP] §3.1.5.1.1: the SYN and SYN+ACK datagrams are padded to at least the MTU, and the
/// MTU fields lie in 1132..=1232.
const RDPEUDP_MIN_MTU: u16 = 1132;
const RDPEUDP_MAX_MTU: u16 = 1232;
const RDPUDP_FLAG_SYN: u16 = 0x0001;

fn rdp<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if ctx.is_udp() {
        return rdp_udp(data);
    }
    if !ctx.stream_start {
        return Probe::NoMatch;
    }
    // TPKT: version 3, reserved 0, then the big-endian length of the whole TPKT.
    let version_ok = data.first().is_none_or(|&v| v == 3);
    let reserved_ok = data.get(1).is_none_or(|&r| r == 0);
    if !(version_ok && reserved_ok) {
        return Probe::NoMatch;
    }
    if data.len() < TPKT_X224_LEN {
        return Probe::NeedMore;
    }
    let Some(tpkt_len) = be16(data, 2).map(usize::from) else {
        return Probe::NoMatch;
    };
    // X.224 length indicator counts the TPDU header after itself; a CR carries nothing else.
    let li = usize::from(at(data, 4));
    if tpkt_len < TPKT_X224_LEN || li.checked_add(5) != Some(tpkt_len) {
        return Probe::NoMatch;
    }
    let code = at(data, 5);
    // Class 0 with no options (X.224 §13.3.4 g).
    if at(data, 10) != 0 {
        return Probe::NoMatch;
    }
    // The whole CR/CC is small (a cookie line and 8 bytes of negotiation): wait for all of it.
    let Some(var) = data.get(TPKT_X224_LEN..tpkt_len) else {
        return Probe::NeedMore;
    };
    let ok = match code {
        // The client names no destination reference yet (X.224 §13.3.4 b).
        X224_CR if be16(data, 6) == Some(0) => {
            var.is_empty() || var.starts_with(COOKIE) || neg(var, 1)
        }
        X224_CC => var.is_empty() || neg(var, 2) || neg(var, 3),
        _ => false,
    };
    if !ok {
        return Probe::NoMatch;
    }
    // A client asking for TLS security (PROTOCOL_SSL, [MS-RDPBCGR] §2.2.1.1.1) goes on with a TLS
    // handshake; nDPI `rdp.c` then runs its TLS dissector on the flow and names it `TLS.RDP`.
    if code == X224_CR && requested_protocols(var).is_some_and(|p| p & PROTOCOL_SSL != 0) {
        return Probe::Match(Hit {
            master: ids::TLS,
            app: ids::RDP,
            host: &[],
            dns_labels: false,
        });
    }
    Probe::Match(Hit::proto(ids::RDP))
}

/// `requestedProtocols` of the `RDP_NEG_REQ` that follows the optional cookie line (CR LF ended).
fn requested_protocols(var: &[u8]) -> Option<u32> {
    let neg_req = if var.starts_with(COOKIE) {
        let eol = var.windows(2).position(|w| w == b"\r\n")?;
        var.get(eol.checked_add(2)?..)?
    } else {
        var
    };
    if !neg(neg_req, 1) {
        return None;
    }
    let p = neg_req.get(4..8)?;
    Some(u32::from_le_bytes(p.try_into().ok()?))
}

/// An `RDP_NEG_*` structure of type `t` (type, flags, little-endian length 8).
fn neg(var: &[u8], t: u8) -> bool {
    at(var, 0) == t && var.len() >= 4 && u16::from_le_bytes([at(var, 2), at(var, 3)]) == NEG_LEN
}

/// [MS-RDPEUDP] SYN / SYN+ACK: `RDPUDP_FEC_HEADER` (snSourceAck −1, receive window, flags with
/// SYN) then `RDPUDP_SYNDATA_PAYLOAD` (initial sequence number, up- and downstream MTU).
fn rdp_udp<'a>(data: &'a [u8]) -> Probe<Hit<'a>> {
    let mtu = |i| be16(data, i).is_some_and(|m| (RDPEUDP_MIN_MTU..=RDPEUDP_MAX_MTU).contains(&m));
    let syn = be16(data, 6).is_some_and(|f| f & RDPUDP_FLAG_SYN != 0);
    proto_if(
        data.len() >= usize::from(RDPEUDP_MIN_MTU)
            && be32(data, 0) == Some(u32::MAX)
            && syn
            && mtu(12)
            && mtu(14),
        ids::RDP,
    )
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

    /// An X.224 Connection Request with an `RDP_NEG_REQ` asking for TLS | CredSSP | RDSTLS, laid
    /// out as [MS-RDPBCGR] §2.2.1.1 describes (the shape Windows clients send).
    const RDP_CR_NEG: &[u8] = &[
        0x03, 0x00, 0x00, 0x13, // TPKT v3, length 19
        0x0e, 0xe0, 0x00, 0x00, 0x00, 0x00, 0x00, // LI 14, CR, dst-ref 0, src-ref 0, class 0
        0x01, 0x00, 0x08, 0x00, 0x0b, 0x00, 0x00, 0x00, // RDP_NEG_REQ, protocols 0x0b
    ];

    /// [MS-RDPBCGR] §4.1.1 example: CR with the routing cookie "Cookie: mstshash=eltons\r\n" and
    /// an `RDP_NEG_REQ` for standard RDP security.
    fn rdp_cr_cookie() -> Vec<u8> {
        let mut v = vec![0x03, 0x00, 0x00, 0x2c, 0x27, 0xe0, 0, 0, 0, 0, 0];
        v.extend_from_slice(b"Cookie: mstshash=eltons\r\n");
        v.extend_from_slice(&[0x01, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00]);
        assert_eq!(v.len(), 0x2c);
        v
    }

    #[test]
    fn rdp_connection_request_all_prefixes() {
        let ctx = Ctx::client(6, 52494, 3389);
        // TLS requested: the rest of the flow is a TLS handshake, labelled TLS.RDP.
        check_all_prefixes(&ctx, RDP_CR_NEG, RDP_CR_NEG.len(), rdp, |h| {
            assert_eq!((h.master.name(), h.app.name()), ("TLS", "RDP"))
        });
        let cookie = rdp_cr_cookie();
        check_all_prefixes(&ctx, &cookie, cookie.len(), rdp, |h| {
            assert_eq!((h.master, h.app), (ids::RDP, ids::RDP))
        });
        // The same cookie asking for TLS | CredSSP (protocols 0x03) after the cookie line.
        let mut tls = cookie.clone();
        let n = tls.len();
        tls[n - 4] = 0x03;
        let h = rdp(&ctx, &tls);
        assert!(matches!(h, Probe::Match(h) if h.master == ids::TLS && h.app == ids::RDP));
        // No RDP_NEG_REQ at all: plain RDP.
        let bare = [0x03, 0x00, 0x00, 0x0b, 0x06, 0xe0, 0, 0, 0, 0, 0];
        assert!(matches!(rdp(&ctx, &bare), Probe::Match(h) if h.master == ids::RDP));
        // The server's Connection Confirm with RDP_NEG_RSP (TLS selected), §4.1.2.
        let cc = [
            0x03, 0x00, 0x00, 0x13, 0x0e, 0xd0, 0x00, 0x00, 0x12, 0x34, 0x00, 0x02, 0x1f, 0x08,
            0x00, 0x02, 0x00, 0x00, 0x00,
        ];
        let server = Ctx {
            from_client: false,
            ..ctx
        };
        assert!(rdp(&server, &cc).is_match());
    }

    #[test]
    fn rdp_rejects_other_tpkt_users() {
        let ctx = Ctx::client(6, 40000, 102);
        // S7comm's COTP Connection Request carries TSAP parameters, not an RDP cookie.
        let s7 = [
            0x03, 0x00, 0x00, 0x16, 0x11, 0xe0, 0x00, 0x00, 0x00, 0x01, 0x00, 0xc1, 0x02, 0x01,
            0x00, 0xc2, 0x02, 0x01, 0x02, 0xc0, 0x01, 0x0a,
        ];
        assert_eq!(rdp(&ctx, &s7), Probe::NoMatch);
        let mut bad_len = RDP_CR_NEG.to_vec();
        bad_len[3] = 0x14;
        assert_eq!(rdp(&ctx, &bad_len), Probe::NoMatch);
        assert_eq!(rdp(&ctx, b"\x16\x03\x01\x00\xa8\x01"), Probe::NoMatch);
        assert_eq!(rdp(&ctx, b"GET / HTTP/1.1\r\n"), Probe::NoMatch);
    }

    #[test]
    fn rdp_udp_syn() {
        let mut syn = vec![0xff, 0xff, 0xff, 0xff, 0x00, 0x40, 0x00, 0x01];
        syn.extend_from_slice(&[0x12, 0x34, 0x56, 0x78, 0x04, 0xc8, 0x04, 0xc8]);
        syn.resize(1232, 0);
        let ctx = Ctx::client(17, 50000, 3389);
        assert!(rdp(&ctx, &syn).is_match());
        // Too short to be a SYN; a DNS query is not one.
        assert_eq!(rdp(&ctx, &syn[..1000]), Probe::NoMatch);
        syn[13] = 0x00; // upstream MTU 0x0400 = 1024 < 1132
        assert_eq!(rdp(&ctx, &syn), Probe::NoMatch);
    }
}
