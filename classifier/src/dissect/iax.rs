//! IAX2 (RFC 5456) call setup, as nDPI's `src/lib/protocols/iax.c` recognises it: UDP to or from
//! port 4569, a full frame (F bit set, §8.1.1) with outbound sequence 0 and inbound sequence 0
//! or 1, frame type 6 (IAX control) and a subclass ≤ 15 (NEW, PING, PONG, ACK, HANGUP, REJECT,
//! ACCEPT, AUTHREQ…), then either nothing or information elements (1-byte type, 1-byte length,
//! at most 15 of them, §8.6) that end exactly at the datagram's end.

use nfguard_proto::AppId;

use super::{Ctx, Dissector, Hit, Probe, ids};

const IAX: AppId = ids::IAX;
const PORT: u16 = 4569;
const HEADER_LEN: usize = 12;
const MAX_ELEMENTS: usize = 15;
const FRAME_TYPE_IAX: u8 = 0x06;

pub const DISSECTOR: Dissector = Dissector {
    name: "iax",
    probe,
    tcp_ports: &[],
    udp_ports: &[PORT],
    reassemble: false,
    emits: &[ids::IAX],
};

pub fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.is_udp() || !ctx.has_port(PORT) || data.len() < HEADER_LEN {
        return Probe::NoMatch;
    }
    let byte = |i: usize| data.get(i).copied().unwrap_or(0xff);
    let header_ok = byte(0) & 0x80 != 0
        && byte(8) == 0
        && (byte(9) == 0 || byte(9) == 1)
        && byte(10) == FRAME_TYPE_IAX
        && byte(11) <= 15;
    if !header_ok {
        return Probe::NoMatch;
    }
    let mut at = HEADER_LEN;
    for _ in 0..=MAX_ELEMENTS {
        if at == data.len() {
            return Probe::Match(Hit::proto(IAX));
        }
        let Some(&len) = data.get(at.saturating_add(1)) else {
            return Probe::NoMatch;
        };
        at = at.saturating_add(2).saturating_add(usize::from(len));
        if at > data.len() {
            return Probe::NoMatch;
        }
    }
    Probe::NoMatch
}

#[doc(hidden)]
pub fn fuzz_entry(data: &[u8]) {
    let _ = probe(&Ctx::client(17, 4569, 4569), data);
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    /// A NEW frame: source call 1, dest call 0, timestamp, oseq 0, iseq 0, type 6, subclass 1,
    /// then IEs VERSION (11, len 2, 2) and CALLED NUMBER (1, len 3, "100").
    const NEW: &[u8] = &[
        0x80, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x06, 0x01, 0x0b, 0x02, 0x00,
        0x02, 0x01, 0x03, b'1', b'0', b'0',
    ];

    #[test]
    fn new_frame_matches_and_broken_elements_do_not() {
        let ctx = Ctx::client(17, 4570, PORT);
        assert_eq!(probe(&ctx, NEW), Probe::Match(Hit::proto(IAX)));
        assert!(probe(&ctx, &NEW[..HEADER_LEN]).is_match());
        // Prefixes that cut an element are not IAX.
        for n in HEADER_LEN + 1..NEW.len() {
            if n != HEADER_LEN + 4 {
                assert_eq!(probe(&ctx, &NEW[..n]), Probe::NoMatch, "{n}");
            }
        }
        let mut mini = NEW.to_vec();
        mini[0] = 0x00; // a mini frame (media), not call setup
        assert_eq!(probe(&ctx, &mini), Probe::NoMatch);
        assert_eq!(probe(&Ctx::client(17, 4570, 5060), NEW), Probe::NoMatch);
    }
}
