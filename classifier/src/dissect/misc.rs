//! Small protocols recognised by a fixed prefix or header shape, each a few lines: SSDP, NetBIOS
//! name service, syslog, SNMP, mail banners (SMTP/POP3/IMAP), MySQL, PostgreSQL, RTSP, MQTT, TFTP,
//! SIP, OpenVPN, WireGuard. Header facts are from each protocol's RFC or spec, named per probe.

use nfguard_proto::AppId;

use super::{Ctx, Dissector, Hit, Probe, at, be16, be32, http::find, ids, proto_if};

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
    proto_if(prefixes.iter().any(|p| data.starts_with(p)), id)
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
        // Datagram service (RFC 1002 §4.4.1): msg type 0x10..=0x16, then source port 138 or a
        // DGM_LENGTH equal to the bytes after the 14-byte header (some stacks send source port 0;
        // nDPI `netbios.c` checks the length).
        let len_ok = be16(data, 10).map(usize::from) == Some(data.len().saturating_sub(14));
        if (0x10..=0x16).contains(&at(data, 0)) && (be16(data, 8) == Some(138) || len_ok) {
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
    proto_if(
        (1..=3).contains(&digits) && at(data, digits.saturating_add(1)) == b'>',
        ids::SYSLOG,
    )
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
    proto_if(
        at(data, v) == 0x02
            && at(data, v.saturating_add(1)) == 1
            && matches!(at(data, v.saturating_add(2)), 0 | 1 | 3),
        ids::SNMP,
    )
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
            // smtp.c keeps the greeting's host name as the flow's host.
            match super::starttls::smtp_greeting_host(data) {
                Some(host) => Probe::Match(Hit::with_host(ids::SMTP, host)),
                None => hit(ids::SMTP),
            }
        } else if ftp {
            hit(ids::FTP_CONTROL)
        } else {
            proto_if(ctx.has_port(25) || ctx.has_port(587), ids::SMTP)
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
    proto_if(
        at(data, 3) == 0
            && at(data, 4) == 10
            && usize::try_from(len).ok().and_then(|l| l.checked_add(4)) == Some(data.len())
            && at(data, 5).is_ascii_digit()
            && at(data, 6) == b'.',
        ids::MYSQL,
    )
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
    proto_if(
        len == Some(data.len()) && matches!(code, Some(0x0003_0000 | 80_877_103 | 80_877_104)),
        ids::POSTGRESQL,
    )
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
    proto_if(
        find(line, b" rtsp://").is_some() && find(line, b"RTSP/1.0").is_some(),
        ids::RTSP,
    )
}

// ---------------------------------------------------------------- MQTT (MQTT 3.1.1 §3.1)

pub const MQTT: Dissector = d("mqtt", mqtt, &[1883, 8883], &[]);

/// MQTT 3.1.1 §2.2.1 control packet types.
const MQTT_PUBLISH: u8 = 3;
const MQTT_SUBSCRIBE: u8 = 8;
const MQTT_SUBACK: u8 = 9;
const MQTT_UNSUBSCRIBE: u8 = 10;
/// nDPI `mqtt.c` only looks at packets whose remaining length fits the one-byte form.
const MQTT_MAX_PACKET: usize = 2 + 127;

fn mqtt<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if ctx.stream_start && at(data, 0) == 0x10 {
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
            return hit(ids::MQTT);
        }
    }
    // Any later control packet on its own, as nDPI `src/lib/protocols/mqtt.c` accepts mid-flow
    // (a broker connection is often captured long after CONNECT): one segment holding exactly one
    // packet with a one-byte remaining length, the type's fixed flags (MQTT 3.1.1 §2.2.2) and its
    // fixed size or minimum size (§3.2–§3.14). Most of those are one or two bytes of signature (a
    // PINGREQ is `c0 00`), so off the MQTT ports only a PUBLISH, whose topic name is checked too,
    // is taken: anything else would steal other protocols' flows.
    if !ctx.is_tcp() || data.len() > MQTT_MAX_PACKET || data.len() < 2 {
        return Probe::NoMatch;
    }
    if usize::from(at(data, 1)).checked_add(2) != Some(data.len()) {
        return Probe::NoMatch;
    }
    let (kind, flags) = (at(data, 0) >> 4, at(data, 0) & 0x0f);
    if kind != MQTT_PUBLISH && !MQTT.likely(ctx) {
        return Probe::NoMatch;
    }
    let ok = match kind {
        // CONNACK, PUBACK, PUBREC, PUBCOMP, UNSUBACK: flags 0, two bytes of variable header.
        2 | 4 | 5 | 7 | 11 => flags == 0 && data.len() == 4,
        // PUBREL: flags 0b0010.
        6 => flags == 2 && data.len() == 4,
        // PINGREQ, PINGRESP, DISCONNECT: flags 0, nothing after the fixed header.
        12..=14 => flags == 0 && data.len() == 2,
        MQTT_PUBLISH => mqtt_publish(flags, data),
        MQTT_SUBSCRIBE => flags == 2 && data.len() >= 8,
        MQTT_UNSUBSCRIBE => flags == 2 && data.len() >= 7,
        MQTT_SUBACK => flags == 0 && data.len() >= 5,
        // CONNECT is only taken with its protocol name (above); 0 and 15 are reserved.
        _ => false,
    };
    proto_if(ok, ids::MQTT)
}

/// PUBLISH (§3.3): QoS 0–2, no DUP at QoS 0, a topic name that fits the packet and has no NUL or
/// wildcard (§4.7.3; nDPI only checks the sizes), then a packet id at QoS 1 and 2.
fn mqtt_publish(flags: u8, data: &[u8]) -> bool {
    let qos = (flags >> 1) & 3;
    let dup = flags & 8 != 0;
    if qos == 3 || (qos == 0 && dup) {
        return false;
    }
    let Some(topic_len) = be16(data, 2).map(usize::from) else {
        return false;
    };
    let id_len = if qos == 0 { 0 } else { 2 };
    let Some(topic) = data.get(4..4usize.saturating_add(topic_len)) else {
        return false;
    };
    topic_len > 0
        && 4usize.saturating_add(topic_len).saturating_add(id_len) <= data.len()
        && topic
            .iter()
            .all(|&b| b >= 0x20 && b != b'#' && b != b'+' && b != 0x7f)
}

// ---------------------------------------------------------------- TFTP (RFC 1350 §5)

pub const TFTP: Dissector = d("tftp", tftp, &[], &[69]);

/// RFC 1350 §5 opcodes, RFC 2347 §3 OACK.
const TFTP_RRQ: u16 = 1;
const TFTP_WRQ: u16 = 2;
const TFTP_DATA: u16 = 3;
const TFTP_ACK: u16 = 4;
const TFTP_ERROR: u16 = 5;
const TFTP_OACK: u16 = 6;
/// RFC 2348 §2: the largest block size an option may negotiate, plus the 4-byte header.
const TFTP_MAX_DATA: usize = 65_464 + 4;
/// RFC 2347–2349 and RFC 7440 option names a server may acknowledge.
const TFTP_OPTIONS: [&[u8]; 4] = [b"blksize", b"tsize", b"timeout", b"windowsize"];

/// The request goes to port 69; the transfer itself runs between two ephemeral ports (RFC 1350
/// §4), so its first datagram is what nDPI `src/lib/protocols/tftp.c` keys on: DATA block 1
/// followed by ACK block 1. Stateless, each of those first-datagram shapes is taken alone: DATA
/// block 1, ACK block 0 or 1 (4 bytes exactly), or an OACK listing known options.
fn tftp<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    let found = match be16(data, 0) {
        // RRQ/WRQ: filename NUL mode NUL.
        Some(TFTP_RRQ | TFTP_WRQ) if ctx.has_port(69) => tftp_request(data),
        Some(TFTP_DATA) => be16(data, 2) == Some(1) && data.len() <= TFTP_MAX_DATA,
        Some(TFTP_ACK) => data.len() == 4 && matches!(be16(data, 2), Some(0 | 1)),
        Some(TFTP_OACK) => tftp_oack(data.get(2..).unwrap_or(&[])),
        // ERROR: code 0–8 (RFC 1350 §5, RFC 2347), a message, NUL last.
        Some(TFTP_ERROR) => {
            be16(data, 2).is_some_and(|c| c <= 8)
                && data.len() > 4
                && data.last() == Some(&0)
                && data
                    .get(4..data.len().saturating_sub(1))
                    .is_some_and(|m| m.iter().all(|b| (0x20..0x7f).contains(b)))
        }
        _ => false,
    };
    proto_if(found, ids::TFTP)
}

fn tftp_request(data: &[u8]) -> bool {
    let rest = data.get(2..).unwrap_or(&[]);
    let mut m = [0u8; 8];
    if let Some(z) = rest.iter().position(|&b| b == 0)
        && let Some(mode) = rest.get(z.saturating_add(1)..)
    {
        for (d, s) in m.iter_mut().zip(mode) {
            *d = s.to_ascii_lowercase();
        }
    }
    m.starts_with(b"octet\0") || m.starts_with(b"netascii") || m.starts_with(b"mail\0")
}

/// OACK body: NUL-terminated name/value pairs, each name a known option, each value digits.
fn tftp_oack(body: &[u8]) -> bool {
    if body.last() != Some(&0) {
        return false;
    }
    let mut fields = body.split(|&b| b == 0);
    let mut pairs = 0usize;
    while let Some(name) = fields.next() {
        if name.is_empty() {
            // The empty piece after the last NUL.
            break;
        }
        let known = TFTP_OPTIONS.iter().any(|o| name.eq_ignore_ascii_case(o));
        let value_ok = fields
            .next()
            .is_some_and(|v| !v.is_empty() && v.iter().all(u8::is_ascii_digit));
        if !(known && value_ok) {
            return false;
        }
        pairs = pairs.saturating_add(1);
    }
    pairs > 0
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
    proto_if(
        find(line, b" sip:").is_some() && find(line, b"SIP/2.0").is_some(),
        ids::SIP,
    )
}

// ---------------------------------------------------------------- OpenVPN (openvpn ssl_pkt.h, reliable.h)

pub const OPENVPN: Dissector = d("openvpn", openvpn, &[1194], &[1194]);

/// Opcodes (top 5 bits) of the first control packet each side sends: P_CONTROL_HARD_RESET_CLIENT_V1,
/// _V2 and _V3 (tls-crypt-v2), P_CONTROL_HARD_RESET_SERVER_V1 and _V2; key id (low 3 bits) 0.
const OVPN_RESET_CLIENT: [u8; 3] = [1, 7, 10];
const OVPN_RESET_SERVER: [u8; 2] = [2, 8];
/// tls-auth HMAC sizes: MD5/MD4 16, SHA1 20, SHA256 32, SHA512 64.
const OVPN_HMACS: [usize; 4] = [16, 20, 32, 64];
/// tls-crypt: packet id, net time, then a 32-byte tag before the encrypted part.
const OVPN_TLS_CRYPT_TAG: usize = 32;
/// nDPI `openvpn.c`: resets are small (larger first packets are QUIC collisions).
const OVPN_MAX_RESET: usize = 1200;
/// A net time before 2000-01-01 is not a clock a peer would send.
const OVPN_MIN_TIME: u32 = 946_684_800;

/// A hard reset on any port (OpenVPN often runs on 443 or a random port). nDPI
/// `src/lib/protocols/openvpn.c` matches session ids across packets; stateless, the reset's own
/// layout is checked instead: opcode and session id; then nothing (no tls-auth), or an HMAC of a
/// known size followed by replay packet id 1 and a plausible net time; then the ACK array (empty
/// from a client, at most one id plus the peer's session id from a server) and message packet
/// id 0 ending the packet. With tls-crypt the client's reset is packet id 1, net time and the
/// 32-byte tag before its encrypted part. TCP adds the 2-byte packet length.
fn openvpn<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.stream_start {
        return Probe::NoMatch;
    }
    let p = if ctx.is_tcp() {
        if be16(data, 0)
            .map(usize::from)
            .and_then(|l| l.checked_add(2))
            != Some(data.len())
        {
            return Probe::NoMatch;
        }
        data.get(2..).unwrap_or(&[])
    } else {
        data
    };
    let (first, op) = (at(p, 0), at(p, 0) >> 3);
    let server = OVPN_RESET_SERVER.contains(&op);
    if !(server || OVPN_RESET_CLIENT.contains(&op)) || first & 7 != 0 || p.len() >= OVPN_MAX_RESET {
        return Probe::NoMatch;
    }
    let time_ok = |i: usize| be32(p, i).is_some_and(|t| t >= OVPN_MIN_TIME);
    let tail_ok = |pos: usize| ovpn_reset_tail(p, pos, server);
    let no_auth = tail_ok(9);
    let tls_auth = OVPN_HMACS.iter().any(|&h| {
        let pid = 9usize.saturating_add(h);
        be32(p, pid) == Some(1) && time_ok(pid.saturating_add(4)) && tail_ok(pid.saturating_add(8))
    });
    // tls-crypt: the encrypted ACK array and packet id follow the tag (5 bytes for V2; V3 adds
    // the wrapped client key).
    let crypt_len = 17usize.saturating_add(OVPN_TLS_CRYPT_TAG).saturating_add(5);
    let n = p.len();
    let tls_crypt = !server
        && be32(p, 9) == Some(1)
        && time_ok(13)
        && if op == 10 {
            n > crypt_len
        } else {
            n == crypt_len
        };
    proto_if(no_auth || tls_auth || tls_crypt, ids::OPENVPN)
}

/// From `pos`: the ACK array length (0, or 1 from a server), its packet id and the peer's session
/// id when 1, then message packet id 0 ending the packet.
fn ovpn_reset_tail(p: &[u8], pos: usize, server: bool) -> bool {
    let msg_id_at = match at(p, pos) {
        0 => pos.saturating_add(1),
        1 if server => pos.saturating_add(13),
        _ => return false,
    };
    p.len() == msg_id_at.saturating_add(4) && be32(p, msg_id_at) == Some(0)
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
            Probe::Match(Hit::with_host(ids::SMTP, b"mx.example"))
        );
        assert_eq!(mail(&server(6, 25), b"220 ESMTP ready\r\n"), hit(ids::SMTP));
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

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod midflow_tests {
    use super::*;

    #[test]
    fn mqtt_control_packets_mid_flow() {
        // nDPI's coap_mqtt.pcap: a broker connection captured after CONNECT (port 17501). PINGREQ,
        // PINGRESP, then a QoS 1 PUBLISH to topic "Bus17Info" and its PUBACK.
        let c = Ctx {
            stream_start: false,
            ..Ctx::client(6, 53522, 17501)
        };
        // Off the MQTT ports the two- and four-byte control packets are too weak (a PINGREQ is
        // `c0 00`); on 1883 they are taken.
        let on_port = Ctx {
            stream_start: false,
            ..Ctx::client(6, 53522, 1883)
        };
        for short in [&b"\xc0\x00"[..], b"\xd0\x00", b"\x40\x02\x00\x02"] {
            assert_eq!(mqtt(&c, short), Probe::NoMatch);
            assert_eq!(mqtt(&on_port, short), hit(ids::MQTT));
        }
        let mut publish = b"\x32\x00\x00\x09Bus17Info\x00\x04Update triggered".to_vec();
        publish[1] = (publish.len() - 2) as u8;
        assert_eq!(mqtt(&c, &publish), hit(ids::MQTT));
        // Remaining length that does not match the segment, reserved flags, a wildcard topic,
        // QoS 3, and UDP are all refused.
        assert_eq!(mqtt(&c, b"\xc0\x01"), Probe::NoMatch);
        assert_eq!(mqtt(&c, b"\xc1\x00"), Probe::NoMatch);
        assert_eq!(mqtt(&c, b"\x40\x02\x00"), Probe::NoMatch);
        assert_eq!(mqtt(&c, b"\x30\x05\x00\x03a/#"), Probe::NoMatch);
        assert_eq!(mqtt(&c, b"\x36\x07\x00\x03abc\x00\x01"), Probe::NoMatch);
        assert_eq!(mqtt(&c, b"\x30\x05\x00\x09abc"), Probe::NoMatch);
        assert_eq!(mqtt(&Ctx::client(17, 1, 2), b"\xc0\x00"), Probe::NoMatch);
        // A CONNECT without its protocol name is not MQTT.
        assert_eq!(mqtt(&c, b"\x10\x02\x00\x00"), Probe::NoMatch);
    }

    #[test]
    fn tftp_transfer_between_ephemeral_ports() {
        // nDPI's tftp.pcap: the first datagrams of three transfers, none on port 69.
        let u = Ctx::client(17, 50618, 3445);
        let mut data = b"\x00\x03\x00\x01\n\n\n\n\n\nNetwork Working Group".to_vec();
        data.resize(516, b' ');
        assert_eq!(tftp(&u, &data), hit(ids::TFTP));
        assert_eq!(tftp(&u, b"\x00\x04\x00\x00"), hit(ids::TFTP));
        assert_eq!(
            tftp(&u, b"\x00\x06blksize\x001468\x00tsize\x00100000\x00"),
            hit(ids::TFTP)
        );
        assert_eq!(
            tftp(&u, b"\x00\x05\x00\x01File not found\x00"),
            hit(ids::TFTP)
        );
        // Later blocks, long ACKs, unknown options, unterminated errors.
        assert_eq!(tftp(&u, b"\x00\x03\x00\x07abc"), Probe::NoMatch);
        assert_eq!(tftp(&u, b"\x00\x04\x00\x01\x00"), Probe::NoMatch);
        assert_eq!(tftp(&u, b"\x00\x04\x00\x09"), Probe::NoMatch);
        assert_eq!(tftp(&u, b"\x00\x06color\x00red\x00"), Probe::NoMatch);
        assert_eq!(tftp(&u, b"\x00\x06blksize\x00x\x00"), Probe::NoMatch);
        assert_eq!(tftp(&u, b"\x00\x06blksize\x001468"), Probe::NoMatch);
        assert_eq!(tftp(&u, b"\x00\x05\x00\x01oops"), Probe::NoMatch);
        // A request is only taken on port 69.
        assert_eq!(tftp(&u, b"\x00\x01file\x00octet\x00"), Probe::NoMatch);
    }

    #[test]
    fn openvpn_client_resets_on_any_port() {
        // nDPI's openvpn.pcap, first datagram of three flows on ports 443 and 13680.
        let no_auth = b"\x38\x33\x48\x57\x70\x3d\x96\xdb\x39\x00\x00\x00\x00\x00";
        let sha1: &[u8] = &[
            0x38, 0xb0, 0x2c, 0xcf, 0xf1, 0xb5, 0xf0, 0x17, 0x4f, 0xc0, 0x91, 0x66, 0x6e, 0x3b,
            0x12, 0x4b, 0xad, 0xa3, 0x91, 0x73, 0x31, 0x7b, 0x93, 0x97, 0x22, 0xd1, 0xfe, 0x63,
            0xbe, 0x00, 0x00, 0x00, 0x01, 0x57, 0xa1, 0xc1, 0x5f, 0x00, 0x00, 0x00, 0x00, 0x00,
        ];
        let u = Ctx::client(17, 41507, 13680);
        assert_eq!(openvpn(&u, no_auth), hit(ids::OPENVPN));
        assert_eq!(openvpn(&u, sha1), hit(ids::OPENVPN));
        // Over TCP with the length prefix; tls-crypt: packet id 1, time, 32-byte tag, 5 bytes.
        let mut crypt =
            b"\x00\x36\x38\x2a\x56\xd9\x79\xd9\x9e\xcc\xf4\x00\x00\x00\x01\x63\xcf\x4f\xf5"
                .to_vec();
        crypt.resize(56, 0xa5);
        let t = Ctx::client(6, 36138, 443);
        assert_eq!(openvpn(&t, &crypt), hit(ids::OPENVPN));
        let mut tcp_sha1 = vec![0x00, sha1.len() as u8];
        tcp_sha1.extend_from_slice(sha1);
        assert_eq!(openvpn(&t, &tcp_sha1), hit(ids::OPENVPN));
        // Wrong key id, a non-zero message id, a replay id other than 1, an old clock, a TCP
        // length that disagrees, a server opcode: all refused.
        let mut bad = sha1.to_vec();
        bad[0] = 0x39;
        assert_eq!(openvpn(&u, &bad), Probe::NoMatch);
        let mut bad = sha1.to_vec();
        bad[41] = 1;
        assert_eq!(openvpn(&u, &bad), Probe::NoMatch);
        let mut bad = sha1.to_vec();
        bad[32] = 2;
        assert_eq!(openvpn(&u, &bad), Probe::NoMatch);
        let mut bad = sha1.to_vec();
        bad[33] = 0x10;
        assert_eq!(openvpn(&u, &bad), Probe::NoMatch);
        tcp_sha1[1] += 1;
        assert_eq!(openvpn(&t, &tcp_sha1), Probe::NoMatch);
        // P_DATA_V2 (opcode 9) is not a reset.
        let mut bad = no_auth.to_vec();
        bad[0] = 0x48;
        assert_eq!(openvpn(&u, &bad), Probe::NoMatch);
        // The server's answer without tls-auth, acking the client's reset (same capture, port
        // 443): one ACK id and the client's session id.
        let server: &[u8] = &[
            0x40, 0xd3, 0x1c, 0x3a, 0x69, 0x64, 0x60, 0x2f, 0xa0, 0x01, 0x00, 0x00, 0x00, 0x00,
            0x33, 0x48, 0x57, 0x70, 0x3d, 0x96, 0xdb, 0x39, 0x00, 0x00, 0x00, 0x00,
        ];
        assert_eq!(openvpn(&u, server), hit(ids::OPENVPN));
        let mut bad = server.to_vec();
        bad[0] = 0x38;
        assert_eq!(openvpn(&u, &bad), Probe::NoMatch);
        assert_eq!(openvpn(&u, &crypt[2..55]), Probe::NoMatch);
    }

    #[test]
    fn netbios_datagram_with_source_port_zero() {
        // nDPI's 1kxun.pcap: a browser announcement whose datagram header says source port 0; the
        // DGM_LENGTH (bytes after the 14-byte header) identifies it.
        let mut dgm = vec![0x11, 0x02, 0x45, 0xee, 192, 168, 5, 45, 0, 0, 0, 0, 0, 0];
        dgm.resize(SMB_IN_DATAGRAM, b'A');
        dgm.extend_from_slice(b"\xffSMB\x25");
        dgm.resize(174, 0);
        let n = (dgm.len() - 14) as u16;
        dgm[10..12].copy_from_slice(&n.to_be_bytes());
        let u = Ctx::client(17, 138, 138);
        assert!(matches!(netbios(&u, &dgm), Probe::Match(h) if h.app == SMBV1));
        dgm[11] ^= 1;
        assert_eq!(netbios(&u, &dgm), Probe::NoMatch);
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
