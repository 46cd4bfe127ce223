//! Small protocols recognised by a fixed prefix or header shape, each a few lines: SSDP, NetBIOS
//! name service, syslog, SNMP, mail banners (SMTP/POP3/IMAP), MySQL, PostgreSQL, RTSP, MQTT, TFTP,
//! SIP, OpenVPN, WireGuard. Header facts are from each protocol's RFC or spec, named per probe.

use nfguard_proto::AppId;

use super::{Ctx, Dissector, Hit, Probe, at, be16, be32, http::find, ids};

const fn d(
    name: &'static str,
    probe: for<'a> fn(&Ctx, &'a [u8]) -> Probe<Hit<'a>>,
    tcp_ports: &'static [u16],
    udp_ports: &'static [u16],
) -> Dissector {
    Dissector {
        name,
        probe,
        tcp_ports,
        udp_ports,
        reassemble: false,
    }
}

fn hit(id: AppId) -> Probe<Hit<'static>> {
    Probe::Match(Hit::proto(id))
}

/// `Match(id)` when `data` starts with any of `prefixes`.
fn prefixed(data: &[u8], prefixes: &[&[u8]], id: AppId) -> Probe<Hit<'static>> {
    if prefixes.iter().any(|p| data.starts_with(p)) {
        hit(id)
    } else {
        Probe::NoMatch
    }
}

// ---------------------------------------------------------------- SSDP (UPnP 1.1 §1.3, UDP 1900)

pub const SSDP: Dissector = d("ssdp", ssdp, &[], &[1900]);

fn ssdp<'a>(_ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    prefixed(
        data,
        &[
            b"M-SEARCH * HTTP/1.1",
            b"NOTIFY * HTTP/1.1",
            b"HTTP/1.1 200 OK\r\n",
        ],
        ids::SSDP,
    )
    .and_port(_ctx, 1900, data.starts_with(b"HTTP/"))
}

impl<T> Probe<T> {
    /// A match that needs the port too (`needs_port`) is dropped when neither port is `port`.
    fn and_port(self, ctx: &Ctx, port: u16, needs_port: bool) -> Probe<T> {
        match self {
            Probe::Match(_) if needs_port && !ctx.has_port(port) => Probe::NoMatch,
            p => p,
        }
    }
}

// ---------------------------------------------------------------- NetBIOS (RFC 1002 §4.2, UDP 137/138)

pub const NETBIOS_NS: Dissector = d("netbios", netbios, &[139], &[137, 138]);
const SMBV1: AppId = AppId(16);
/// RFC 1002 §4.4.2: 14-byte header, then source and destination names of 34 bytes each.
const SMB_IN_DATAGRAM: usize = 82;

fn netbios<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if ctx.has_port(137) {
        // Name service: DNS-like header, question name of 32 encoded bytes ('A'..'P' nibbles).
        let qd = be16(data, 4).unwrap_or(0);
        let name_len = at(data, 12);
        if (qd == 1 || qd == 0) && name_len == 32 {
            let name = data.get(13..45).unwrap_or(&[]);
            if name.len() == 32 && name.iter().all(|b| (b'A'..=b'P').contains(b)) {
                return hit(ids::NETBIOS);
            }
        }
    }
    if ctx.has_port(138) {
        // Datagram service (RFC 1002 §4.4.1): msg type 0x10..=0x16, source port 138.
        if (0x10..=0x16).contains(&at(data, 0)) && be16(data, 8) == Some(138) {
            // The user data after the 14-byte header and two 34-byte encoded names is an SMB1
            // mailslot message (browser announcements): nDPI labels it `NetBIOS.SMBv1`
            // (`src/lib/protocols/netbios.c`, `ndpi_int_netbios_add_connection` sub-protocol).
            if data.get(SMB_IN_DATAGRAM..SMB_IN_DATAGRAM.saturating_add(4)) == Some(b"\xffSMB") {
                return Probe::Match(Hit {
                    master: ids::NETBIOS,
                    app: SMBV1,
                    host: &[],
                    dns_labels: false,
                });
            }
            return hit(ids::NETBIOS);
        }
    }
    if ctx.has_port(139) && ctx.is_tcp() {
        // Session service: SESSION REQUEST (0x81) or a SESSION MESSAGE (0x00) carrying SMB.
        let t = at(data, 0);
        if t == 0x81 || (t == 0 && data.get(4..8) == Some(b"\xffSMB")) {
            return hit(ids::NETBIOS);
        }
    }
    Probe::NoMatch
}

// ---------------------------------------------------------------- Syslog (RFC 5424 §6, RFC 3164 §4.1.1)

pub const SYSLOG: Dissector = d("syslog", syslog, &[], &[514]);

fn syslog<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.has_port(514) || at(data, 0) != b'<' {
        return Probe::NoMatch;
    }
    // PRI is 1–3 digits then '>', value ≤ 191.
    let digits = data
        .iter()
        .skip(1)
        .take(4)
        .take_while(|b| b.is_ascii_digit())
        .count();
    if (1..=3).contains(&digits) && at(data, digits.saturating_add(1)) == b'>' {
        hit(ids::SYSLOG)
    } else {
        Probe::NoMatch
    }
}

// ---------------------------------------------------------------- SNMP (RFC 3416, BER, UDP 161/162)

pub const SNMP: Dissector = d("snmp", snmp, &[], &[161, 162]);

fn snmp<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !(ctx.has_port(161) || ctx.has_port(162)) || at(data, 0) != 0x30 {
        return Probe::NoMatch;
    }
    // SEQUENCE length (short or long form), then INTEGER version 0 (v1), 1 (v2c) or 3 (v3).
    let len_octets = match at(data, 1) {
        l if l < 0x80 => 1usize,
        0x81 => 2,
        0x82 => 3,
        _ => return Probe::NoMatch,
    };
    let v = 1usize.saturating_add(len_octets);
    if at(data, v) == 0x02
        && at(data, v.saturating_add(1)) == 1
        && matches!(at(data, v.saturating_add(2)), 0 | 1 | 3)
    {
        hit(ids::SNMP)
    } else {
        Probe::NoMatch
    }
}

// ---------------------------------------------------------------- mail banners (RFC 5321 §4.2, RFC 1939 §4, RFC 9051 §7.1)

pub const MAIL_BANNERS: Dissector = d("mail", mail, &[25, 587, 110, 143, 21, 23], &[]);

fn mail<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.stream_start {
        return Probe::NoMatch;
    }
    if ctx.from_client {
        return prefixed(data, &[b"EHLO ", b"HELO "], ids::SMTP)
            .or(|| {
                prefixed(data, &[b"USER ", b"CAPA\r\n"], ids::FTP_CONTROL).and_port(ctx, 21, true)
            })
            .or(|| {
                prefixed(data, &[b"USER ", b"CAPA\r\n", b"AUTH "], ids::POP3)
                    .and_port(ctx, 110, true)
            });
    }
    if data.starts_with(b"220") && (at(data, 3) == b' ' || at(data, 3) == b'-') {
        let smtp = find(data, b"SMTP").is_some() || find(data, b"ESMTP").is_some();
        let ftp = find(data, b"FTP").is_some() || ctx.has_port(21);
        return if smtp {
            hit(ids::SMTP)
        } else if ftp {
            hit(ids::FTP_CONTROL)
        } else if ctx.has_port(25) || ctx.has_port(587) {
            hit(ids::SMTP)
        } else {
            Probe::NoMatch
        };
    }
    prefixed(data, &[b"+OK"], ids::POP3).or(|| prefixed(data, &[b"* OK"], ids::IMAP))
}

impl<T> Probe<T> {
    fn or(self, f: impl FnOnce() -> Probe<T>) -> Probe<T> {
        match self {
            Probe::Match(_) => self,
            _ => f(),
        }
    }
}

// ---------------------------------------------------------------- MySQL (client/server protocol, HandshakeV10)

pub const MYSQL: Dissector = d("mysql", mysql, &[3306], &[]);

fn mysql<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.stream_start || ctx.from_client {
        return Probe::NoMatch;
    }
    // 3-byte length, sequence 0, protocol version 10, NUL-terminated server version "5.x"/"8.x".
    let len = u32::from_le_bytes([at(data, 0), at(data, 1), at(data, 2), 0]);
    if at(data, 3) == 0
        && at(data, 4) == 10
        && usize::try_from(len).ok().and_then(|l| l.checked_add(4)) == Some(data.len())
        && at(data, 5).is_ascii_digit()
        && at(data, 6) == b'.'
    {
        hit(ids::MYSQL)
    } else {
        Probe::NoMatch
    }
}

// ---------------------------------------------------------------- PostgreSQL (frontend/backend protocol §55.2)

pub const POSTGRESQL: Dissector = d("postgresql", postgresql, &[5432], &[]);

fn postgresql<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.stream_start || !ctx.from_client {
        return Probe::NoMatch;
    }
    // StartupMessage (protocol 3.0) or SSLRequest (80877103), length covering the message.
    let len = be32(data, 0).and_then(|l| usize::try_from(l).ok());
    let code = be32(data, 4);
    if len == Some(data.len()) && matches!(code, Some(0x0003_0000 | 80_877_103 | 80_877_104)) {
        hit(ids::POSTGRESQL)
    } else {
        Probe::NoMatch
    }
}

// ---------------------------------------------------------------- RTSP (RFC 2326 §6)

pub const RTSP: Dissector = d("rtsp", rtsp, &[554, 8554], &[]);

fn rtsp<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.stream_start {
        return Probe::NoMatch;
    }
    if data.starts_with(b"RTSP/1.0 ") {
        return hit(ids::RTSP);
    }
    let line = data.split(|&b| b == b'\n').next().unwrap_or(&[]);
    if find(line, b" rtsp://").is_some() && find(line, b"RTSP/1.0").is_some() {
        hit(ids::RTSP)
    } else {
        Probe::NoMatch
    }
}

// ---------------------------------------------------------------- MQTT (MQTT 3.1.1 §3.1)

pub const MQTT: Dissector = d("mqtt", mqtt, &[1883, 8883], &[]);

fn mqtt<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.stream_start || at(data, 0) != 0x10 {
        return Probe::NoMatch;
    }
    // CONNECT: remaining length (1–4 bytes), then protocol name "MQTT" (4) or "MQIsdp" (3.1).
    let n = data
        .iter()
        .skip(1)
        .take(4)
        .take_while(|b| **b & 0x80 != 0)
        .count();
    let p = n.saturating_add(2);
    let name = data.get(p..).unwrap_or(&[]);
    if name.starts_with(b"\x00\x04MQTT") || name.starts_with(b"\x00\x06MQIsdp") {
        hit(ids::MQTT)
    } else {
        Probe::NoMatch
    }
}

// ---------------------------------------------------------------- TFTP (RFC 1350 §5)

pub const TFTP: Dissector = d("tftp", tftp, &[], &[69]);

fn tftp<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    match be16(data, 0) {
        // RRQ/WRQ: filename NUL mode NUL.
        Some(1 | 2) if ctx.has_port(69) => {
            let rest = data.get(2..).unwrap_or(&[]);
            let lower: [u8; 8] = {
                let mut m = [0u8; 8];
                if let Some(z) = rest.iter().position(|&b| b == 0)
                    && let Some(mode) = rest.get(z.saturating_add(1)..)
                {
                    for (d, s) in m.iter_mut().zip(mode) {
                        *d = s.to_ascii_lowercase();
                    }
                }
                m
            };
            if lower.starts_with(b"octet\0")
                || lower.starts_with(b"netascii")
                || lower.starts_with(b"mail\0")
            {
                hit(ids::TFTP)
            } else {
                Probe::NoMatch
            }
        }
        _ => Probe::NoMatch,
    }
}

// ---------------------------------------------------------------- SIP (RFC 3261 §7)

pub const SIP: Dissector = d("sip", sip, &[5060, 5061], &[5060, 5061]);

fn sip<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.stream_start {
        return Probe::NoMatch;
    }
    if data.starts_with(b"SIP/2.0 ") {
        return hit(ids::SIP);
    }
    let line = data.split(|&b| b == b'\n').next().unwrap_or(&[]);
    if find(line, b" sip:").is_some() && find(line, b"SIP/2.0").is_some() {
        hit(ids::SIP)
    } else {
        Probe::NoMatch
    }
}

// ---------------------------------------------------------------- OpenVPN (openvpn ssl.h opcodes)

pub const OPENVPN: Dissector = d("openvpn", openvpn, &[1194], &[1194]);

fn openvpn<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.has_port(1194) || !ctx.stream_start {
        return Probe::NoMatch;
    }
    // TCP adds a 2-byte length. Opcode in the top 5 bits: P_CONTROL_HARD_RESET_CLIENT_V2 (7) or V3 (10).
    let (op_at, len_ok) = if ctx.is_tcp() {
        (
            2,
            be16(data, 0)
                .map(usize::from)
                .and_then(|l| l.checked_add(2))
                == Some(data.len()),
        )
    } else {
        (0, true)
    };
    let op = at(data, op_at) >> 3;
    if len_ok && ctx.from_client && matches!(op, 7 | 10) && data.len() >= op_at.saturating_add(14) {
        hit(ids::OPENVPN)
    } else {
        Probe::NoMatch
    }
}

// ---------------------------------------------------------------- WireGuard (whitepaper §5.4)

pub const WIREGUARD: Dissector = d("wireguard", wireguard, &[], &[51820, 0]);

fn wireguard<'a>(_ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    // Type byte then three reserved zero bytes; initiation is 148 bytes, response 92, cookie 64.
    if data.get(1..4) != Some(&[0, 0, 0]) {
        return Probe::NoMatch;
    }
    match (at(data, 0), data.len()) {
        (1, 148) | (2, 92) | (3, 64) => hit(ids::WIREGUARD),
        _ => Probe::NoMatch,
    }
}

#[doc(hidden)]
pub fn fuzz_entry(data: &[u8]) {
    for ctx in [
        Ctx::client(6, 40000, 25),
        Ctx::client(17, 40000, 137),
        Ctx::client(17, 40000, 69),
    ] {
        for dis in [
            &SSDP,
            &NETBIOS_NS,
            &SYSLOG,
            &SNMP,
            &MAIL_BANNERS,
            &MYSQL,
            &POSTGRESQL,
            &RTSP,
            &MQTT,
            &TFTP,
            &SIP,
            &OPENVPN,
            &WIREGUARD,
        ] {
            let _ = (dis.probe)(&ctx, data);
        }
    }
}

#[cfg(test)]
// Tests may index: a failure is the point.
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn server(l4: u8, port: u16) -> Ctx {
        Ctx {
            from_client: false,
            ..Ctx::client(l4, 40000, port)
        }
    }

    #[test]
    fn each_small_protocol() {
        let u = |p| Ctx::client(17, 40000, p);
        let t = |p| Ctx::client(6, 40000, p);
        assert_eq!(
            ssdp(
                &u(1900),
                b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n"
            ),
            hit(ids::SSDP)
        );
        assert_eq!(
            syslog(&u(514), b"<34>Oct 11 22:14:15 host su: x"),
            hit(ids::SYSLOG)
        );
        assert_eq!(syslog(&u(514), b"<34 x"), Probe::NoMatch);
        assert_eq!(
            snmp(&u(161), &[0x30, 0x26, 0x02, 0x01, 0x01, 0x04, 0x06]),
            hit(ids::SNMP)
        );
        assert_eq!(
            mail(&server(6, 25), b"220 mx.example ESMTP Postfix\r\n"),
            hit(ids::SMTP)
        );
        assert_eq!(mail(&server(6, 110), b"+OK POP3 ready\r\n"), hit(ids::POP3));
        assert_eq!(mail(&server(6, 143), b"* OK IMAP4rev1\r\n"), hit(ids::IMAP));
        assert_eq!(
            postgresql(&t(5432), &[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]),
            hit(ids::POSTGRESQL)
        );
        assert_eq!(
            rtsp(&t(554), b"OPTIONS rtsp://cam/ RTSP/1.0\r\n"),
            hit(ids::RTSP)
        );
        assert_eq!(
            mqtt(&t(1883), b"\x10\x12\x00\x04MQTT\x04\x02\x00\x3c"),
            hit(ids::MQTT)
        );
        assert_eq!(
            tftp(&u(69), b"\x00\x01file.bin\x00octet\x00"),
            hit(ids::TFTP)
        );
        assert_eq!(
            sip(&u(5060), b"REGISTER sip:example.com SIP/2.0\r\n"),
            hit(ids::SIP)
        );
        let mut wg = vec![1u8, 0, 0, 0];
        wg.resize(148, 7);
        assert_eq!(wireguard(&u(51820), &wg), hit(ids::WIREGUARD));
        assert_eq!(wireguard(&u(51820), &wg[..147]), Probe::NoMatch);
        let mut nb = vec![0x12, 0x34, 0x01, 0x10, 0, 1, 0, 0, 0, 0, 0, 0, 32];
        nb.extend_from_slice(b"EOGFGLGPCACACACACACACACACACACAAA");
        nb.push(0);
        assert_eq!(netbios(&u(137), &nb), hit(ids::NETBIOS));
        // Datagram service: DIRECT_GROUP from port 138, then an SMB1 browser announcement.
        let mut dgm = vec![0x11, 0x02, 0x12, 0x34, 192, 168, 1, 5, 0, 138, 0, 0, 0, 0];
        dgm.resize(SMB_IN_DATAGRAM, b'A');
        dgm.extend_from_slice(b"\xffSMB\x25");
        let smb = netbios(&u(138), &dgm);
        assert!(matches!(smb, Probe::Match(h) if h.master == ids::NETBIOS && h.app == SMBV1));
        dgm[SMB_IN_DATAGRAM] = 0;
        assert_eq!(netbios(&u(138), &dgm), hit(ids::NETBIOS));
        // HandshakeV10: length 15 (LE), sequence 0, protocol 10, "8.0.36\0", 7 more bytes.
        let my = b"\x0f\x00\x00\x00\x0a8.0.36\x00abcdefg";
        assert_eq!(mysql(&server(6, 3306), my), hit(ids::MYSQL));
    }
}

// ---------------------------------------------------------------- WhatsApp (nDPI 4.11-dev `src/lib/protocols/whatsapp.c`)

/// The start of the Noise-pipe prologue WhatsApp clients send first: the "ED" edge-routing header
/// (version 0x0001, a 3-byte routing-data length 4 or 2, then routing data starting 0x08) that
/// precedes "WA" and the Noise version. nDPI matches these 8 bytes (`WA_SEQ_NEW`, `WA_SEQ_OLD`).
const WHATSAPP_EDGE: [&[u8]; 2] = [b"ED\x00\x01\x00\x00\x04\x08", b"ED\x00\x01\x00\x00\x02\x08"];
/// The pre-Noise protocol's "WA" 1.5 header (`WA_SEQ_VERY_OLD`).
const WHATSAPP_OLD: &[u8] = b"WA\x01\x05";

pub const WHATSAPP: Dissector = Dissector {
    name: "whatsapp",
    probe: whatsapp,
    tcp_ports: &[443, 5222, 5223],
    udp_ports: &[],
    reassemble: true,
};

fn whatsapp<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.stream_start || !ctx.from_client {
        return Probe::NoMatch;
    }
    let mut need_more = false;
    for seq in WHATSAPP_EDGE {
        match super::starts(data, seq) {
            Probe::Match(()) => return hit(AppId(142)),
            Probe::NeedMore => need_more = true,
            Probe::NoMatch => {}
        }
    }
    if need_more {
        return Probe::NeedMore;
    }
    prefixed(data, &[WHATSAPP_OLD], AppId(142))
}

#[cfg(test)]
mod whatsapp_tests {
    use super::*;

    #[test]
    fn whatsapp_prologue_all_prefixes() {
        // A 2023 Android client on port 5222: "ED" header with 4 bytes of routing data, then
        // "WA" 5.2 and the first Noise handshake frame's length.
        let data = b"ED\x00\x01\x00\x00\x04\x08\x09\x08\x05WA\x05\x02\x00\x04\xe7";
        for ctx in [Ctx::client(6, 40000, 443), Ctx::client(6, 37482, 5222)] {
            crate::dissect::testutil::check_all_prefixes(&ctx, data, 8, whatsapp, |h| {
                assert_eq!(h.app.name(), "WhatsApp")
            });
        }
        // The older 2-byte routing data variant.
        let old = b"ED\x00\x01\x00\x00\x02\x08\x00WA\x02\x00";
        assert!(whatsapp(&Ctx::client(6, 40000, 443), old).is_match());
    }

    #[test]
    fn whatsapp_rejects_other_edge_headers() {
        let ctx = Ctx::client(6, 40000, 443);
        assert_eq!(
            whatsapp(&ctx, b"ED\x00\x01\x00\x00\x05\x08"),
            Probe::NoMatch
        );
        assert_eq!(whatsapp(&ctx, b"\x16\x03\x01\x02\x00"), Probe::NoMatch);
        let mid = Ctx {
            stream_start: false,
            ..ctx
        };
        assert_eq!(
            whatsapp(&mid, b"ED\x00\x01\x00\x00\x04\x08"),
            Probe::NoMatch
        );
    }
}
