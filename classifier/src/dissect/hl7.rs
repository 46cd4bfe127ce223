//! HL7 version 2.x (HL7 v2.5 §2.5: a message starts with the MSH segment, whose first field is
//! the field separator `|` and whose second the encoding characters `^~\&`; over MLLP the frame
//! starts with 0x0b). nDPI `src/lib/protocols/hl7.c`: a TCP segment of more than 100 bytes, on
//! any port, containing `MSH|^~\&|`.

use super::{Ctx, Dissector, Hit, Probe, find, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "hl7",
    probe,
    tcp_ports: &[2575],
    udp_ports: &[],
    reassemble: false,
    emits: &[ids::HL7],
};

/// nDPI looks at nothing of 100 bytes or fewer.
const MIN_LEN: usize = 101;
const MSH: &[u8] = b"MSH|^~\\&|";

fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    proto_if(
        ctx.is_tcp() && data.len() >= MIN_LEN && find(data, MSH).is_some(),
        ids::HL7,
    )
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;
    use crate::dissect::testutil::server;

    /// An ADT^A01 in an MLLP frame (HL7 v2.5 §2.5 MSH fields, MLLP 0x0b … 0x1c 0x0d).
    const ADT_A01: &[u8] = b"\x0bMSH|^~\\&|ADT1|GOOD HEALTH HOSPITAL|GHH LAB|GHH|200801011200||ADT^A01^ADT_A01|MSG00001|P|2.5\rEVN|A01|200801011200\rPID|1||PATID1234^^^GOOD HEALTH HOSPITAL^MR||EVERYMAN^ADAM\r\x1c\r";

    #[test]
    fn hl7_adt_message_and_ack() {
        assert_eq!(
            probe(&Ctx::client(6, 40000, 2575), ADT_A01),
            Probe::Match(Hit::proto(ids::HL7))
        );
        let mut ack = b"\x0bMSH|^~\\&|GHH LAB|GHH|ADT1|GOOD HEALTH HOSPITAL|200801011201||ACK^A01^ACK|ACK00001|P|2.5\rMSA|AA|MSG00001\r\x1c\r".to_vec();
        ack.resize(120, b' ');
        assert!(probe(&server(6, 40001), &ack).is_match());
    }

    #[test]
    fn not_hl7() {
        // Every prefix: nothing up to nDPI's 100 bytes, then the pattern decides.
        let ctx = Ctx::client(6, 40000, 2575);
        for n in 0..=ADT_A01.len() {
            assert_eq!(probe(&ctx, &ADT_A01[..n]).is_match(), n >= MIN_LEN, "{n}");
        }
        let ctx = Ctx::client(6, 40000, 2575);
        // 100 bytes, other encoding characters, over UDP.
        assert_eq!(probe(&ctx, &ADT_A01[..100]), Probe::NoMatch);
        let other = String::from_utf8_lossy(ADT_A01).replace("^~\\&", "^~\\#");
        assert_eq!(probe(&ctx, other.as_bytes()), Probe::NoMatch);
        assert_eq!(
            probe(&Ctx::client(17, 40000, 2575), ADT_A01),
            Probe::NoMatch
        );
    }
}
