//! ISO 9506-1 MMS (IEC 61850 station bus) over ISO-on-TCP. nDPI
//! `src/lib/protocols/iso9506-1-mms.c`: from the client, a segment of more than 60 bytes with a
//! TPKT header (RFC 1006) whose length is the segment's, a COTP DT TPDU `02 f0 80` (ISO 8073), an
//! ISO 8327-1 session CONNECT (13) or ACCEPT (14) SPDU whose length runs to the segment's end,
//! and the bytes `80 02` 37 or 40 bytes before the end, or `80 03` 38 bytes before it, where the
//! MMS initiate request's tail puts them. Any port.

use super::{Ctx, Dissector, Hit, Probe, at, ids, s7comm::tpkt};

pub const DISSECTOR: Dissector = Dissector {
    name: "iso9506_mms",
    probe,
    tcp_ports: &[102],
    udp_ports: &[],
    reassemble: false,
    emits: &[ids::ISO9506_1_MMS],
};

/// nDPI looks at nothing of 60 bytes or fewer.
const MIN_LEN: usize = 61;
const COTP_DT: [u8; 3] = [0x02, 0xf0, 0x80];
/// ISO 8327-1 SPDU types CONNECT and ACCEPT.
const SPDU_CONNECT: u8 = 13;
const SPDU_ACCEPT: u8 = 14;
/// TPKT (4) + COTP DT (3) + SPDU type (1) + SPDU length (1).
const SPDU_BODY: usize = 9;
/// (distance from the end, the two bytes there) of nDPI's MMS signatures.
const SIGNATURES: [(usize, [u8; 2]); 3] =
    [(37, [0x80, 0x02]), (38, [0x80, 0x03]), (40, [0x80, 0x02])];

fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.is_tcp() || !ctx.from_client {
        return Probe::NoMatch;
    }
    match tpkt(data) {
        Probe::Match(()) if data.len() >= MIN_LEN => {}
        Probe::NeedMore if ctx.stream_start => return Probe::NeedMore,
        _ => return Probe::NoMatch,
    }
    let spdu_len = data.len().checked_sub(SPDU_BODY);
    let signed = SIGNATURES.iter().any(|(back, sig)| {
        data.len()
            .checked_sub(*back)
            .and_then(|i| data.get(i..i.checked_add(2)?))
            == Some(sig.as_slice())
    });
    let found = data.get(4..7) == Some(COTP_DT.as_slice())
        && (SPDU_CONNECT..=SPDU_ACCEPT).contains(&at(data, 7))
        && spdu_len == Some(usize::from(at(data, 8)))
        && signed;
    if found {
        Probe::Match(Hit::proto(ids::ISO9506_1_MMS))
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

    /// A session CONNECT SPDU of `body_len` bytes whose `80 02` sits 37 bytes before the end,
    /// built to nDPI's conditions (TPKT, COTP DT, SPDU 13 and its length, the signature).
    fn connect(body_len: usize) -> Vec<u8> {
        let mut body = vec![0x5a; body_len];
        let at = body_len + SPDU_BODY - 37 - SPDU_BODY;
        body[at..at + 2].copy_from_slice(&[0x80, 0x02]);
        let total = body_len + SPDU_BODY;
        let mut p = vec![3, 0];
        p.extend(u16::try_from(total).unwrap().to_be_bytes());
        p.extend(COTP_DT);
        p.extend([SPDU_CONNECT, u8::try_from(body_len).unwrap()]);
        p.extend(body);
        p
    }

    #[test]
    fn mms_initiate_in_a_session_connect() {
        let ctx = Ctx::client(6, 40000, 102);
        let p = connect(180);
        check_all_prefixes(&ctx, &p, p.len(), probe, |h| {
            assert_eq!(h.master, ids::ISO9506_1_MMS)
        });
        let mut accept = p.clone();
        accept[7] = SPDU_ACCEPT;
        assert!(probe(&Ctx::client(6, 40000, 3102), &accept).is_match());
    }

    #[test]
    fn not_mms() {
        let p = connect(180);
        let ctx = Ctx::client(6, 40000, 102);
        // From the server, SPDU type 1 (DATA), a wrong SPDU length, no signature, a COTP CR.
        assert_eq!(probe(&server(6, 102), &p), Probe::NoMatch);
        for (i, v) in [(7, 1), (8, 170), (p.len() - 37, 0x81), (5, 0xe0)] {
            let mut q = p.clone();
            q[i] = v;
            assert_eq!(probe(&ctx, &q), Probe::NoMatch, "byte {i} = {v}");
        }
        assert_eq!(probe(&ctx, &connect(40)), Probe::NoMatch);
    }
}
