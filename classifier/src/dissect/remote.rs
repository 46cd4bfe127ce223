//! Remote-access protocols recognised by their first message: RDP (TPKT + X.224 Connection
//! Request/Confirm on TCP, the RDPEUDP SYN on UDP), VNC (the RFB `ProtocolVersion` line) and Telnet
//! (IAC option negotiation at the stream start).
//!
//! Facts: nDPI `src/lib/protocols/rdp.c` (TPKT version, length, X.224 CR code 0xE0, zero
//! references and class), RFC 1006 §6 (TPKT), ITU-T X.224 §13.3 (CR/CC TPDU), [MS-RDPBCGR]
//! §2.2.1.1–2.2.1.2 (routing cookie `Cookie: mstshash=`, `RDP_NEG_REQ`/`RDP_NEG_RSP`),
//! [MS-RDPEUDP] §2.2.2.1/§2.2.3.5 (SYN datagram: `snSourceAck` −1, `RDPUDP_FLAG_SYN`, MTUs
//! 1132–1232); nDPI `vnc.c` and RFC 6143 §7.1.1 (`RFB xxx.yyy\n`, 12 bytes); nDPI `telnet.c`
//! `search_iac` and RFC 854/855 (IAC = 0xFF, WILL/WONT/DO/DONT 0xFB–0xFE + option, SB … IAC SE).

use super::{Ctx, Dissector, Hit, Probe, at, be16, be32, ids, proto_if};

// ---------------------------------------------------------------- RDP

pub const RDP_DISSECTOR: Dissector = Dissector {
    name: "rdp",
    probe: rdp,
    tcp_ports: &[3389],
    udp_ports: &[3389],
    // A Connection Request split over segments (only after a consistent TPKT + X.224 header).
    reassemble: true,
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

// ---------------------------------------------------------------- VNC

pub const VNC_DISSECTOR: Dissector = Dissector {
    name: "vnc",
    probe: vnc,
    tcp_ports: &[5900, 5901, 5800],
    udp_ports: &[],
    reassemble: false,
};

/// RFC 6143 §7.1.1: "RFB 003.008\n", 12 bytes, sent first by the server and echoed by the client.
const RFB_LEN: usize = 12;
const RFB_SHAPE: &[u8; RFB_LEN] = b"RFB 000.000\n";

fn vnc<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.stream_start {
        return Probe::NoMatch;
    }
    // Each shape byte is literal except the digits ('0' in the shape stands for any digit).
    let fits = RFB_SHAPE.iter().zip(data).all(|(&s, &b)| {
        if s == b'0' {
            b.is_ascii_digit()
        } else {
            s == b
        }
    });
    match (fits, data.len() >= RFB_LEN) {
        (false, _) => Probe::NoMatch,
        (true, false) => Probe::NeedMore,
        (true, true) => Probe::Match(Hit::proto(ids::VNC)),
    }
}

// ---------------------------------------------------------------- Telnet

pub const TELNET_DISSECTOR: Dissector = Dissector {
    name: "telnet",
    probe: telnet,
    tcp_ports: &[23],
    udp_ports: &[],
    reassemble: false,
};

const IAC: u8 = 0xff;
const SB: u8 = 0xfa;
const SE: u8 = 0xf0;
/// The first command must open a negotiation: SB or WILL/WONT/DO/DONT (nDPI `search_iac`:
/// command above 0xF9, not 0xFF).
const FIRST_CMD: std::ops::RangeInclusive<u8> = 0xfa..=0xfe;
/// Options nDPI accepts in the first negotiation (`payload[2] < 0x28`, the IANA telnet options
/// up to 39); later options may be anything.
const MAX_FIRST_OPTION: u8 = 0x27;
/// Bytes of the segment scanned for well-formed commands (nDPI scans the whole packet; the first
/// few commands decide just as well and keep the probe bounded).
const MAX_SCAN: usize = 64;
/// Away from port 23 one negotiation could be chance: ask for this many commands.
const MIN_COMMANDS_OFF_PORT: usize = 2;

fn telnet<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.stream_start {
        return Probe::NoMatch;
    }
    let first_ok = data.first().is_none_or(|&b| b == IAC)
        && data.get(1).is_none_or(|c| FIRST_CMD.contains(c))
        && data.get(2).is_none_or(|&o| o <= MAX_FIRST_OPTION);
    if !first_ok {
        return Probe::NoMatch;
    }
    if data.len() < 3 {
        return Probe::NeedMore;
    }
    let Some(commands) = count_commands(data.get(..MAX_SCAN.min(data.len())).unwrap_or(&[])) else {
        return Probe::NoMatch;
    };
    let needed = if ctx.has_port(23) {
        1
    } else {
        MIN_COMMANDS_OFF_PORT
    };
    proto_if(commands >= needed, ids::TELNET)
}

/// Counts the IAC commands in `buf`, `None` when an IAC is followed by something that is not a
/// command (RFC 854: 0xF0–0xFE, or 0xFF for an escaped data byte).
fn count_commands(buf: &[u8]) -> Option<usize> {
    let mut i = 0usize;
    let mut n = 0usize;
    let mut in_sb = false;
    while let Some(&b) = buf.get(i) {
        i = i.checked_add(1)?;
        if b != IAC {
            continue;
        }
        let Some(&cmd) = buf.get(i) else { break };
        i = i.checked_add(1)?;
        match cmd {
            IAC => {}
            SE if in_sb => {
                in_sb = false;
                n = n.checked_add(1)?;
            }
            SB if !in_sb => {
                in_sb = true;
                i = i.checked_add(1)?; // the option
            }
            0xfb..=0xfe if !in_sb => {
                n = n.checked_add(1)?;
                i = i.checked_add(1)?;
            }
            0xf1..=0xf9 if !in_sb => n = n.checked_add(1)?,
            _ => return None,
        }
    }
    Some(n)
}

#[doc(hidden)]
pub fn fuzz_entry(data: &[u8]) {
    for ctx in [
        Ctx::client(6, 50000, 3389),
        Ctx::client(17, 50000, 3389),
        Ctx::client(6, 50000, 23),
        Ctx::client(6, 50000, 5900),
    ] {
        let _ = rdp(&ctx, data);
        let _ = vnc(&ctx, data);
        let _ = telnet(&ctx, data);
    }
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

    #[test]
    fn vnc_protocol_version_all_prefixes() {
        let server = Ctx {
            from_client: false,
            ..Ctx::client(6, 59791, 5900)
        };
        for v in [&b"RFB 003.008\n"[..], b"RFB 004.001\n", b"RFB 003.889\n"] {
            check_all_prefixes(&server, v, RFB_LEN, vnc, |h| {
                assert_eq!(h.master.name(), "VNC")
            });
        }
        assert_eq!(vnc(&server, b"RFB 3.8\n\0\0\0\0"), Probe::NoMatch);
        assert_eq!(vnc(&server, b"SSH-2.0-OpenSSH\r\n"), Probe::NoMatch);
    }

    /// The first segment a Linux `telnet` client sends (DO SUPPRESS-GO-AHEAD, WILL TERMINAL-TYPE,
    /// WILL NAWS, WILL TSPEED, WILL LFLOW, WILL LINEMODE, WILL NEW-ENVIRON, DO STATUS,
    /// WILL XDISPLOC: RFC 858, 1091, 1073, 1079, 1372, 1184, 1572, 859, 1096).
    const TELNET_CLIENT: &[u8] = &[
        0xff, 0xfd, 0x03, 0xff, 0xfb, 0x18, 0xff, 0xfb, 0x1f, 0xff, 0xfb, 0x20, 0xff, 0xfb, 0x21,
        0xff, 0xfb, 0x22, 0xff, 0xfb, 0x27, 0xff, 0xfd, 0x05, 0xff, 0xfb, 0x23,
    ];

    #[test]
    fn telnet_negotiation_all_prefixes() {
        let ctx = Ctx::client(6, 1550, 23);
        check_all_prefixes(&ctx, TELNET_CLIENT, 3, telnet, |h| {
            assert_eq!(h.master, ids::TELNET)
        });
        // Off port 23 one command is not enough, two are.
        let off = Ctx::client(6, 1550, 2323);
        assert_eq!(telnet(&off, &TELNET_CLIENT[..3]), Probe::NoMatch);
        assert!(telnet(&off, &TELNET_CLIENT[..6]).is_match());
        // A subnegotiation (NAWS 80x32) counts once it is closed by IAC SE.
        let sb = [
            0xff, 0xfa, 0x1f, 0x00, 0x50, 0x00, 0x20, 0xff, 0xf0, 0xff, 0xfd, 0x03,
        ];
        assert!(telnet(&off, &sb).is_match());
    }

    #[test]
    fn telnet_rejects_other_binary_starts() {
        let ctx = Ctx::client(6, 1550, 23);
        assert_eq!(
            telnet(&ctx, b"\xff\xff\xff\xff\x54\x53\x6f"),
            Probe::NoMatch
        );
        assert_eq!(telnet(&ctx, b"\xff\xfb\x80"), Probe::NoMatch);
        assert_eq!(telnet(&ctx, b"\xff\xfd\x03\xff\x10"), Probe::NoMatch);
        assert_eq!(telnet(&ctx, b"login: "), Probe::NoMatch);
    }
}
