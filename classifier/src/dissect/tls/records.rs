//! TLS seen mid-flow: a TCP segment made of whole TLS records, the first of them Application Data
//! (RFC 8446 §5.1, RFC 5246 §6.2.1: type, legacy version 3.x, 2-byte length ≤ 2^14 + 2048). The
//! handshake was missed (the capture or the flow table started late, or the flow was re-keyed
//! across an idle time-out), yet nDPI `src/lib/protocols/tls.c` still names such flows TLS from
//! their Application Data records (`app_data_seen`); so does this probe, which runs on any segment
//! and asks for exact record framing so random bytes starting 0x17 0x03 are not taken.

use crate::dissect::{ANY, Ctx, Dissector, Hit, Probe, at, be16, ids};

const CONTENT_CHANGE_CIPHER_SPEC: u8 = 20;
const CONTENT_APPLICATION_DATA: u8 = 23;
const RECORD_HEADER: usize = 5;
/// RFC 5246 §6.2.3: TLSCiphertext.length is at most 2^14 + 2048.
const MAX_RECORD: usize = (1 << 14) + 2048;
/// Records read per segment (a full-sized segment holds a few dozen small ones at most).
const MAX_RECORDS: usize = 64;

pub const DISSECTOR: Dissector = Dissector {
    name: "tls-records",
    probe,
    tcp_ports: ANY,
    udp_ports: &[],
    reassemble: false,
    emits: &[ids::TLS],
};

pub fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.is_tcp() || at(data, 0) != CONTENT_APPLICATION_DATA {
        return Probe::NoMatch;
    }
    let mut rest = data;
    for _ in 0..MAX_RECORDS {
        if rest.is_empty() {
            // The implicit-TLS mail ports name their protocol as a handshake would (`tls.rs`).
            let id = super::mail_over_tls(ctx).unwrap_or(ids::TLS);
            return Probe::Match(Hit::proto(id));
        }
        let ct = at(rest, 0);
        let version_ok = at(rest, 1) == 3 && at(rest, 2) <= 4;
        let Some(len) = be16(rest, 3).map(usize::from) else {
            return Probe::NoMatch;
        };
        if !(CONTENT_CHANGE_CIPHER_SPEC..=CONTENT_APPLICATION_DATA).contains(&ct)
            || !version_ok
            || len == 0
            || len > MAX_RECORD
        {
            return Probe::NoMatch;
        }
        let Some(next) = len
            .checked_add(RECORD_HEADER)
            .and_then(|end| rest.get(end..))
        else {
            // A record running past the segment: framing cannot be confirmed from this one.
            return Probe::NoMatch;
        };
        rest = next;
    }
    Probe::NoMatch
}

#[doc(hidden)]
pub fn fuzz_entry(data: &[u8]) {
    let _ = probe(&Ctx::client(6, 36351, 80), data);
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    /// nDPI's anydesk.pcap: an AnyDesk client's segment on port 80 in a flow whose handshake is
    /// not in the capture: one TLS 1.2 Application Data record of 46 bytes.
    fn anydesk_segment() -> Vec<u8> {
        let mut v = vec![0x17, 0x03, 0x03, 0x00, 0x2e];
        v.extend_from_slice(&[
            0xe6, 0xcf, 0xd9, 0xaf, 0xed, 0x5e, 0x68, 0xa7, 0xcb, 0x83, 0xce, 0xb5, 0x65, 0xc9,
            0x8c, 0xc6, 0x3c, 0xe6, 0xb6, 0xda, 0x2e, 0x12, 0x21, 0x1b, 0xff, 0x72, 0xdc, 0xd5,
            0x50, 0xc5, 0xb2, 0xa8, 0x9c, 0xe1, 0xc0, 0x87, 0x52, 0x74, 0xaf, 0xd0, 0x77, 0xb0,
            0xc9, 0xad, 0xc2, 0x9c,
        ]);
        v
    }

    #[test]
    fn whole_application_data_records() {
        let ctx = Ctx {
            stream_start: false,
            ..Ctx::client(6, 36351, 80)
        };
        let one = anydesk_segment();
        assert!(matches!(probe(&ctx, &one), Probe::Match(h) if h.master == ids::TLS));
        // Two records back to back (data then an alert).
        let mut two = one.clone();
        two.extend_from_slice(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x01, 0x00]);
        assert!(probe(&ctx, &two).is_match());
        let imaps = Ctx::client(6, 40000, 993);
        assert!(matches!(probe(&imaps, &one), Probe::Match(h) if h.master == ids::MAIL_IMAPS));
    }

    #[test]
    fn anything_else_is_not() {
        let ctx = Ctx::client(6, 36351, 80);
        let one = anydesk_segment();
        // Truncated, one byte too many, a bad version, a handshake first, UDP.
        assert_eq!(probe(&ctx, &one[..one.len() - 1]), Probe::NoMatch);
        let mut more = one.clone();
        more.push(0);
        assert_eq!(probe(&ctx, &more), Probe::NoMatch);
        let mut bad = one.clone();
        bad[1] = 2;
        assert_eq!(probe(&ctx, &bad), Probe::NoMatch);
        let mut hs = one.clone();
        hs[0] = 0x16;
        assert_eq!(probe(&ctx, &hs), Probe::NoMatch);
        assert_eq!(probe(&Ctx::client(17, 1, 2), &one), Probe::NoMatch);
        assert_eq!(probe(&ctx, &[0x17, 0x03, 0x03, 0x00, 0x00]), Probe::NoMatch);
        assert_eq!(probe(&ctx, b"\x17GET / HTTP/1.1\r\n"), Probe::NoMatch);
    }
}
