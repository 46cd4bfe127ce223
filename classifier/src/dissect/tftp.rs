//! TFTP (RFC 1350 §5, RFC 2347 options): requests on port 69 and the first data, ACK, OACK
//! or error datagram of a transfer between ephemeral ports. nDPI `src/lib/protocols/tftp.c`.

use super::{Ctx, Dissector, Hit, Probe, be16, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "tftp",
    probe: tftp,
    tcp_ports: &[],
    udp_ports: &[69],
    reassemble: false,
    emits: &[ids::TFTP],
};

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

#[cfg(test)]
// Tests may index: a failure is the point.
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::dissect::hit;

    #[test]
    fn each_small_protocol_tftp() {
        let u = |p| Ctx::client(17, 40000, p);
        assert_eq!(
            tftp(&u(69), b"\x00\x01file.bin\x00octet\x00"),
            hit(ids::TFTP)
        );
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
}
