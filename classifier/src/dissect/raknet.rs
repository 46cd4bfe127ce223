//! RakNet over UDP (Minecraft Bedrock, Roblox and other games). nDPI
//! `src/lib/protocols/raknet.c`, after the protocol reference it cites (wiki.vg `Raknet_Protocol`).
//!
//! nDPI takes one datagram as proof for a frame set (`0x80`–`0x8d`) or an ACK/NACK (`0xc0`/`0xa0`)
//! whose records fill it exactly, and for a full-MTU datagram (≥ 1200 bytes) carrying RakNet's
//! offline magic at offset 1, 9, 17 or 32 (the custom variant Roblox uses). For the offline
//! handshake messages it checks each one's length and fields, then waits for several packets; a
//! stateless probe takes those messages instead by the 16-byte offline magic every one of them
//! carries (wiki.vg) on top of nDPI's length and field checks. The connected control messages
//! nDPI counts packets for (`0x00`, `0x03`, `0x09`, `0x10`, `0x13`, `0x15`, `0xfe`) have no such
//! mark and are left out.

use super::{ANY, Ctx, Dissector, Hit, Probe, at, be16, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "raknet",
    probe,
    tcp_ports: &[],
    udp_ports: ANY,
    reassemble: false,
    emits: &[ids::RAKNET],
};

/// RakNet's "offline message" magic (wiki.vg; nDPI `is_custom_version`).
const MAGIC: [u8; 16] = [
    0x00, 0xff, 0xff, 0x00, 0xfe, 0xfe, 0xfe, 0xfe, 0xfd, 0xfd, 0xfd, 0xfd, 0x12, 0x34, 0x56, 0x78,
];
/// nDPI: shorter datagrams are not RakNet.
const MIN_LEN: usize = 7;
/// nDPI `is_custom_version`: a full-MTU datagram, and the offsets the magic was seen at.
const CUSTOM_MIN_LEN: usize = 1200;
const CUSTOM_MAGIC_AT: [usize; 4] = [1, 9, 17, 32];
/// Highest RakNet protocol version nDPI accepts, and the largest MTU (RakNet programming tips).
const MAX_PROTOCOL: u8 = 10;
const MAX_MTU: u16 = 1500;
/// Address family bytes before an address (4 or 6) and the bytes nDPI counts for each.
const IPV4: u8 = 4;
const IPV6: u8 = 6;

fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.is_udp() || data.len() < MIN_LEN {
        return Probe::NoMatch;
    }
    let custom = data.len() >= CUSTOM_MIN_LEN && CUSTOM_MAGIC_AT.iter().any(|&i| magic_at(data, i));
    proto_if(custom || message(data), ids::RAKNET)
}

fn magic_at(data: &[u8], i: usize) -> bool {
    i.checked_add(MAGIC.len())
        .and_then(|end| data.get(i..end))
        .is_some_and(|m| m == MAGIC)
}

/// The length nDPI `raknet_dissect_ip` gives the address whose family byte is at `i`.
fn address_len(data: &[u8], i: usize) -> Option<usize> {
    match data.get(i).copied()? {
        IPV4 => Some(4),
        IPV6 => Some(16),
        _ => None,
    }
}

fn mtu_ok(data: &[u8], i: usize) -> bool {
    be16(data, i).is_some_and(|m| m <= MAX_MTU)
}

/// One datagram's message checks (nDPI's `switch (op)`).
fn message(data: &[u8]) -> bool {
    let len = data.len();
    match at(data, 0) {
        // Unconnected Ping (and open-connections ping): time, magic, GUID. nDPI wants 32 bytes,
        // the layout in wiki.vg adds up to 33.
        0x01 | 0x02 => (len == 32 || len == 33) && magic_at(data, 9),
        // Open Connection Request 1: magic, protocol version, MTU padding.
        0x05 => len >= 18 && at(data, 17) <= MAX_PROTOCOL && magic_at(data, 1),
        // Open Connection Reply 1: magic, server GUID, security flag, MTU.
        0x06 => len == 28 && at(data, 25) <= 1 && mtu_ok(data, 26) && magic_at(data, 1),
        // Open Connection Request 2: magic, server address, MTU, client GUID.
        0x07 => {
            address_len(data, 17)
                .is_some_and(|a| len == a.saturating_add(30) && mtu_ok(data, a.saturating_add(20)))
                && magic_at(data, 1)
        }
        // Open Connection Reply 2: magic, server GUID, client address, MTU, encryption.
        0x08 => {
            address_len(data, 25)
                .is_some_and(|a| len == a.saturating_add(31) && mtu_ok(data, a.saturating_add(28)))
                && magic_at(data, 1)
        }
        // Incompatible Protocol Version.
        0x19 => len == 25 && at(data, 17) <= MAX_PROTOCOL && magic_at(data, 1),
        // Unconnected Pong: time, GUID, magic, then a length-prefixed server string filling it.
        0x1c => {
            len >= 35
                && be16(data, 33).is_some_and(|n| n > 0 && usize::from(n).saturating_add(35) == len)
                && magic_at(data, 17)
        }
        0x80..=0x8d => frame_set(data),
        0xa0 | 0xc0 => ack(data),
        _ => false,
    }
}

/// A frame set: a 3-byte sequence number, then frames (flags, length in bits, the reliability
/// fields their flags announce, the body) that end exactly with the datagram.
fn frame_set(data: &[u8]) -> bool {
    let mut off: usize = 4;
    loop {
        let flags = at(data, off);
        if flags & 0x0f != 0 {
            return false;
        }
        let size = match be16(data, off.saturating_add(1)) {
            Some(bits) if bits / 8 > 0 => usize::from(bits / 8),
            _ => return false,
        };
        let reliability = flags >> 5;
        let mut header: usize = 0;
        if (2..=4).contains(&reliability) {
            header = header.saturating_add(3); // reliable message index
        }
        if reliability == 1 || reliability == 4 {
            header = header.saturating_add(3); // sequenced index
        }
        if reliability == 3 || reliability == 7 {
            header = header.saturating_add(4); // ordered index and channel
        }
        if flags & 0x10 != 0 {
            header = header.saturating_add(10); // fragment count, id, index
        }
        off = off
            .saturating_add(header)
            .saturating_add(size)
            .saturating_add(3);
        if off.saturating_add(3) > data.len() {
            return off == data.len();
        }
    }
}

/// An ACK or NACK: a record count, then that many records (`00` range of two 3-byte numbers,
/// `01` one number) ending exactly with the datagram.
fn ack(data: &[u8]) -> bool {
    let Some(count) = be16(data, 1) else {
        return false;
    };
    let mut off: usize = 3;
    let mut seen: u16 = 0;
    loop {
        off = match at(data, off) {
            0 if off < data.len() => off.saturating_add(7),
            1 if off < data.len() => off.saturating_add(4),
            _ => return false,
        };
        seen = seen.saturating_add(1);
        if seen >= count || off.saturating_add(4) > data.len() {
            return seen == count && off == data.len();
        }
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    const RAKNET: Probe<Hit<'static>> = Probe::Match(Hit::proto(ids::RAKNET));

    fn ctx() -> Ctx {
        Ctx::client(17, 54321, 19132)
    }

    /// Open Connection Request 1 (wiki.vg): id, magic, protocol version 10, zero padding to the MTU.
    fn request1(len: usize) -> Vec<u8> {
        let mut p = vec![0x05];
        p.extend(MAGIC);
        p.push(10);
        p.resize(len, 0);
        p
    }

    #[test]
    fn offline_handshake() {
        assert_eq!(probe(&ctx(), &request1(1464)), RAKNET);
        // Reply 1: magic, GUID, no security, MTU 1464.
        let mut r1 = vec![0x06];
        r1.extend(MAGIC);
        r1.extend([0x11; 8]);
        r1.push(0);
        r1.extend(1464u16.to_be_bytes());
        assert_eq!(probe(&ctx(), &r1), RAKNET);
        // Request 2: magic, IPv4 server address (family, 4, port), MTU, GUID.
        let mut r2 = vec![0x07];
        r2.extend(MAGIC);
        r2.extend([4, 0x3f, 0x57, 0xfe, 0xfe, 0x4a, 0xbc]);
        r2.extend(1464u16.to_be_bytes());
        r2.extend([0x22; 8]);
        assert_eq!(r2.len(), 34);
        assert_eq!(probe(&ctx(), &r2), RAKNET);
        // Reply 2: magic, GUID, IPv4 client address, MTU, encryption off.
        let mut r3 = vec![0x08];
        r3.extend(MAGIC);
        r3.extend([0x11; 8]);
        r3.extend([4, 0x3f, 0x57, 0xfe, 0xfe, 0xd4, 0x31]);
        r3.extend(1464u16.to_be_bytes());
        r3.push(0);
        assert_eq!(r3.len(), 35);
        assert_eq!(probe(&ctx(), &r3), RAKNET);
    }

    #[test]
    fn recorded_mcstatus_ping() {
        // testdata/README.md: mcstatus 14.2.0's Unconnected Ping, 33 bytes as wiki.vg lays it out.
        let ping = include_bytes!("../../testdata/raknet_ping_mcstatus_lo.bin");
        assert_eq!(ping.len(), 33);
        assert_eq!(probe(&ctx(), ping), RAKNET);
        // Cut below nDPI's 32 bytes, or with the magic altered, it is not.
        assert_eq!(probe(&ctx(), &ping[..31]), Probe::NoMatch);
        let mut bad = ping.to_vec();
        bad[20] ^= 1;
        assert_eq!(probe(&ctx(), &bad), Probe::NoMatch);
    }

    #[test]
    fn ping_and_pong() {
        // Unconnected Ping: time, magic, GUID (33 bytes by wiki.vg).
        let mut ping = vec![0x01];
        ping.extend(7u64.to_be_bytes());
        ping.extend(MAGIC);
        ping.extend([0x33; 8]);
        assert_eq!(probe(&ctx(), &ping), RAKNET);
        // Unconnected Pong with a Bedrock server string.
        let motd = b"MCPE;Dedicated Server;390;1.14.60;0;10;13253860892328930865;";
        let mut pong = vec![0x1c];
        pong.extend(7u64.to_be_bytes());
        pong.extend([0x44; 8]);
        pong.extend(MAGIC);
        pong.extend((motd.len() as u16).to_be_bytes());
        pong.extend(motd);
        assert_eq!(probe(&ctx(), &pong), RAKNET);
        // The string length must fill the datagram.
        pong.push(0);
        assert_eq!(probe(&ctx(), &pong), Probe::NoMatch);
    }

    #[test]
    fn frame_sets_and_acks() {
        // Frame set 0x84, sequence 0, one reliable-ordered frame (reliability 3: index 3, order 4)
        // of 5 bytes (40 bits).
        let mut fs = vec![0x84, 0, 0, 0, 0x60, 0x00, 0x28];
        fs.extend([0; 3 + 4]);
        fs.extend([0x09, 1, 2, 3, 4]);
        assert_eq!(probe(&ctx(), &fs), RAKNET);
        // Unreliable (0) frame of 3 bytes, then a second one of 2.
        let two = [
            0x80, 1, 0, 0, 0x00, 0x00, 0x18, 0xaa, 0xbb, 0xcc, 0x00, 0x00, 0x10, 1, 2,
        ];
        assert_eq!(probe(&ctx(), &two), RAKNET);
        // A byte short or long, nonzero low flag bits, zero length.
        assert_eq!(probe(&ctx(), &fs[..fs.len() - 1]), Probe::NoMatch);
        let mut long = fs.clone();
        long.push(0);
        assert_eq!(probe(&ctx(), &long), Probe::NoMatch);
        let mut bad = fs.clone();
        bad[4] = 0x61;
        assert_eq!(probe(&ctx(), &bad), Probe::NoMatch);
        assert_eq!(probe(&ctx(), &[0x84, 0, 0, 0, 0, 0, 0, 0]), Probe::NoMatch);
        // ACK with two records: a range and a single number.
        let ack = [0xc0, 0, 2, 0, 1, 0, 0, 5, 0, 0, 1, 9, 0, 0];
        assert_eq!(probe(&ctx(), &ack), RAKNET);
        // One record too many announced, or an unknown record type.
        assert_eq!(
            probe(&ctx(), &[0xa0, 0, 3, 0, 1, 0, 0, 5, 0, 0, 1, 9, 0, 0]),
            Probe::NoMatch
        );
        assert_eq!(probe(&ctx(), &[0xc0, 0, 1, 2, 1, 0, 0]), Probe::NoMatch);
    }

    #[test]
    fn roblox_custom_variant() {
        // nDPI `is_custom_version`: a full-MTU datagram with the magic at offset 9.
        let mut p = vec![0x00; 9];
        p[0] = 0x81;
        p.extend(MAGIC);
        p.resize(1300, 0x5c);
        assert_eq!(probe(&ctx(), &p), RAKNET);
        // The same below 1200 bytes is nothing.
        assert_eq!(probe(&ctx(), &p[..1199]), Probe::NoMatch);
    }

    #[test]
    fn not_raknet() {
        // Request 1 without its magic, with protocol version 11, too short, or over TCP.
        let mut r = request1(100);
        r[5] = 0;
        assert_eq!(probe(&ctx(), &r), Probe::NoMatch);
        let mut r = request1(100);
        r[17] = 11;
        assert_eq!(probe(&ctx(), &r), Probe::NoMatch);
        assert_eq!(probe(&ctx(), &request1(17)), Probe::NoMatch);
        assert_eq!(
            probe(&Ctx::client(6, 54321, 19132), &request1(100)),
            Probe::NoMatch
        );
        // Connected control messages without a mark (Connected Ping) are left alone.
        assert_eq!(probe(&ctx(), &[0, 0, 0, 0, 0, 0, 0, 1]), Probe::NoMatch);
        // Every proper prefix of an exact-length message (Reply 1) is refused: a datagram is
        // whole, so a cut one is not the message.
        let mut r1 = vec![0x06];
        r1.extend(MAGIC);
        r1.extend([0x11; 8]);
        r1.extend([0, 0x05, 0xb8]);
        assert_eq!(probe(&ctx(), &r1), RAKNET);
        for n in 0..r1.len() {
            assert_eq!(probe(&ctx(), &r1[..n]), Probe::NoMatch, "{n}");
        }
    }
}
