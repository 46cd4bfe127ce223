//! S7Comm and S7CommPlus (Siemens PLCs) over ISO-on-TCP (RFC 1006 TPKT + ISO 8073 COTP) on port
//! 102. nDPI `src/lib/protocols/s7comm.c`: a TPKT header whose length is the segment's, more than
//! 17 bytes, and after TPKT (4) + COTP DT (3) either the S7CommPlus magic `0x72` repeated 4 bytes
//! before the end (the trailer), or the S7Comm magic `0x32` with a ROSCTR of Job (1), Ack (2),
//! Ack-Data (3) or Userdata (7) — nDPI accepts 0 too — followed by a zero reserved field. A
//! TPKT segment on port 102 that is neither (the COTP connection request) decides nothing.

use super::{Ctx, Dissector, Hit, Probe, at, be16, ids};

pub const DISSECTOR: Dissector = Dissector {
    name: "s7comm",
    probe,
    tcp_ports: &[TPKT_PORT],
    udp_ports: &[],
    reassemble: false,
    emits: &[ids::S7COMM, ids::S7COMM_PLUS],
};

/// ISO-on-TCP (RFC 1006 §4).
const TPKT_PORT: u16 = 102;
const TPKT_VERSION: u8 = 3;
/// nDPI looks at nothing of 17 bytes or fewer.
const MIN_LEN: usize = 18;
/// TPKT (4) + COTP DT TPDU (3): where the S7 header starts.
const S7_OFFSET: usize = 7;
const S7COMM_MAGIC: u8 = 0x32;
const S7COMM_PLUS_MAGIC: u8 = 0x72;
/// S7CommPlus repeats its magic at the start of the 4-byte trailer.
const PLUS_TRAILER: usize = 4;
/// S7Comm ROSCTR Userdata (Job, Ack and Ack-Data are 1–3).
const ROSCTR_USERDATA: u8 = 7;

fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.is_tcp() || !DISSECTOR.likely(ctx) {
        return Probe::NoMatch;
    }
    match tpkt(data) {
        Probe::Match(()) if data.len() >= MIN_LEN => {}
        Probe::NeedMore if ctx.stream_start => return Probe::NeedMore,
        _ => return Probe::NoMatch,
    }
    let plus_trailer = data.len().checked_sub(PLUS_TRAILER).map(|i| at(data, i));
    let rosctr = at(data, S7_OFFSET + 1);
    match at(data, S7_OFFSET) {
        S7COMM_PLUS_MAGIC if plus_trailer == Some(S7COMM_PLUS_MAGIC) => {
            Probe::Match(Hit::proto(ids::S7COMM_PLUS))
        }
        S7COMM_MAGIC
            if (rosctr <= 3 || rosctr == ROSCTR_USERDATA)
                && be16(data, S7_OFFSET + 2) == Some(0) =>
        {
            Probe::Match(Hit::proto(ids::S7COMM))
        }
        _ => Probe::NoMatch,
    }
}

/// nDPI's `tpkt_verify_hdr`: version 3, reserved 0, and a length equal to the segment's.
/// `NeedMore` while the bytes so far are a TPKT header announcing more.
pub(crate) fn tpkt(data: &[u8]) -> Probe<()> {
    if data.first().is_some_and(|&v| v != TPKT_VERSION) || data.get(1).is_some_and(|&r| r != 0) {
        return Probe::NoMatch;
    }
    match be16(data, 2).map(usize::from) {
        None => Probe::NeedMore,
        Some(n) if n == data.len() && n > 4 => Probe::Match(()),
        Some(n) if n > data.len() => Probe::NeedMore,
        Some(_) => Probe::NoMatch,
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

    /// `payload` after a TPKT header (RFC 1006 §6) and a COTP DT TPDU `02 f0 80` (ISO 8073 §13.7).
    fn iso_on_tcp(payload: &[u8]) -> Vec<u8> {
        let mut p = vec![3, 0];
        p.extend(u16::try_from(payload.len() + 7).unwrap().to_be_bytes());
        p.extend([0x02, 0xf0, 0x80]);
        p.extend_from_slice(payload);
        p
    }

    /// S7Comm Job "Setup Communication" (function 0xf0), the client's first request after COTP:
    /// magic 0x32, ROSCTR 1, reserved 0, PDU ref 0x0400, parameter length 8, data length 0,
    /// then max AmQ calling/called 1/1 and PDU length 480 (Wireshark `packet-s7comm.c` layout).
    fn setup_comm() -> Vec<u8> {
        iso_on_tcp(&[
            0x32, 0x01, 0x00, 0x00, 0x04, 0x00, 0x00, 0x08, 0x00, 0x00, 0xf0, 0x00, 0x00, 0x01,
            0x00, 0x01, 0x01, 0xe0,
        ])
    }

    #[test]
    fn s7comm_setup_communication_and_its_ack_data() {
        let ctx = Ctx::client(6, 40000, 102);
        let req = setup_comm();
        check_all_prefixes(&ctx, &req, req.len(), probe, |h| {
            assert_eq!(h.master, ids::S7COMM)
        });
        // Ack-Data (ROSCTR 3) from the PLC: the same header plus error class/code 0.
        let mut ack = req[7..].to_vec();
        ack[1] = 3;
        ack.splice(10..10, [0, 0]);
        assert_eq!(
            probe(&server(6, 102), &iso_on_tcp(&ack)),
            Probe::Match(Hit::proto(ids::S7COMM))
        );
    }

    #[test]
    fn s7comm_plus_magic_and_trailer() {
        // S7CommPlus frame: magic 0x72, version 1, length, data, trailer `72 01 00 00`
        // (nDPI's condition: the magic at the start and 4 bytes before the end).
        let mut frame = vec![0x72, 0x01, 0x00, 0x0a];
        frame.extend([0x31, 0x00, 0x00, 0x04, 0xca, 0x00, 0x00, 0x00, 0x01, 0x36]);
        frame.extend([0x72, 0x01, 0x00, 0x00]);
        let p = iso_on_tcp(&frame);
        assert_eq!(
            probe(&Ctx::client(6, 40000, 102), &p),
            Probe::Match(Hit::proto(ids::S7COMM_PLUS))
        );
    }

    #[test]
    fn not_s7comm() {
        let ctx = Ctx::client(6, 40000, 102);
        let req = setup_comm();
        // Another port, a wrong TPKT length, ROSCTR 4, a nonzero reserved field, no trailer.
        assert_eq!(probe(&Ctx::client(6, 40000, 1102), &req), Probe::NoMatch);
        let mut long = req.clone();
        long.push(0);
        assert_eq!(probe(&ctx, &long), Probe::NoMatch);
        for (i, v) in [(8, 4), (9, 1)] {
            let mut p = req.clone();
            p[i] = v;
            assert_eq!(probe(&ctx, &p), Probe::NoMatch, "byte {i} = {v}");
        }
        let mut plus = req.clone();
        plus[7] = 0x72;
        assert_eq!(probe(&ctx, &plus), Probe::NoMatch);
        // The COTP connection request (CR TPDU 0xe0) is ISO-on-TCP but not yet S7.
        let cr = [
            3, 0, 0, 22, 0x11, 0xe0, 0, 0, 0, 1, 0, 0xc1, 2, 1, 0, 0xc2, 2, 1, 2, 0xc0, 1, 0x0a,
        ];
        assert_eq!(probe(&ctx, &cr), Probe::NoMatch);
    }
}
