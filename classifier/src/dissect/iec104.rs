//! IEC 60870-5-104 §5: APDU start 0x68, APDU length 4..=253, I/S/U control field formats.
//! nDPI `src/lib/protocols/iec60870-5-104.c`.

use super::{Ctx, Dissector, Hit, Probe, at, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "iec60870",
    probe: iec104,
    tcp_ports: &[2404],
    udp_ports: &[],
    reassemble: false,
    emits: &[ids::IEC60870],
};

const IEC104_START: u8 = 0x68;
/// APCI: start, length, 4 control octets.
const IEC104_APCI: usize = 6;
const IEC104_MIN_LEN: u8 = 4;
const IEC104_MAX_LEN: u8 = 253;
/// U-format functions: STARTDT/STOPDT/TESTFR act or con, exactly one bit (§5.3).
const U_FUNCTIONS: [u8; 6] = [0x04, 0x08, 0x10, 0x20, 0x40, 0x80];
/// ASDU type identifications defined by IEC 60870-5-101/-104 (process information 1–40,
/// commands 45–51 and 58–64, end of initialisation 70, system commands 100–107, parameters
/// 110–113, file transfer 120–127).
const IEC104_TYPES: [std::ops::RangeInclusive<u8>; 7] = [
    1..=40,
    45..=51,
    58..=64,
    70..=70,
    100..=107,
    110..=113,
    120..=127,
];

fn iec104<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.is_tcp() || at(data, 0) != IEC104_START || data.len() < IEC104_APCI {
        return Probe::NoMatch;
    }
    let len = at(data, 1);
    // nDPI: the APDU fills the segment exactly.
    if !(IEC104_MIN_LEN..=IEC104_MAX_LEN).contains(&len)
        || usize::from(len).checked_add(2) != Some(data.len())
    {
        return Probe::NoMatch;
    }
    let c1 = at(data, 2);
    let format_ok = match c1 & 0x03 {
        // S-format: the rest of the first two octets is zero, no ASDU.
        0x01 => c1 == 0x01 && at(data, 3) == 0 && len == IEC104_MIN_LEN,
        // U-format: one function bit, other octets zero, no ASDU.
        0x03 => {
            U_FUNCTIONS.contains(&(c1 & 0xfc))
                && data.get(3..6) == Some(&[0, 0, 0])
                && len == IEC104_MIN_LEN
        }
        // I-format: carries an ASDU, so it is longer than the APCI; the receive sequence
        // number's low bit is 0. Off port 2404 the ASDU must also start sensibly: a defined type
        // id and a cause of transmission in 1..=47 (IEC 60870-5-101 §7.2.1, §7.2.3).
        _ => {
            let asdu_ok = IEC104_TYPES.iter().any(|r| r.contains(&at(data, 6)))
                && (1..=47).contains(&(at(data, 8) & 0x3f));
            len > IEC104_MIN_LEN && at(data, 4) & 0x01 == 0 && (DISSECTOR.likely(ctx) || asdu_ok)
        }
    };
    proto_if(format_ok, ids::IEC60870)
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

    #[test]
    fn iec104_frames() {
        let ctx = Ctx::client(6, 40000, 2404);
        // STARTDT act (U-format), S-format ack of 2, and an I-format C_IC_NA_1 interrogation.
        assert!(
            matches!(iec104(&ctx, &[0x68, 4, 0x07, 0, 0, 0]), Probe::Match(h) if h.master.name() == "IEC60870")
        );
        assert!(iec104(&ctx, &[0x68, 4, 0x01, 0, 0x04, 0]).is_match());
        let i = [
            0x68, 0x0e, 0x00, 0x00, 0x00, 0x00, 0x64, 0x01, 0x06, 0x00, 0x01, 0x00, 0x00, 0x00,
            0x00, 0x14,
        ];
        assert!(iec104(&ctx, &i).is_match());
        // Two function bits at once, a wrong length, 'h' text.
        assert_eq!(iec104(&ctx, &[0x68, 4, 0x0f, 0, 0, 0]), Probe::NoMatch);
        assert_eq!(iec104(&ctx, &i[..15]), Probe::NoMatch);
        assert_eq!(iec104(&ctx, b"hello world\r\n"), Probe::NoMatch);
        // Off port the I-format ASDU must look like one: the interrogation passes, 'h' text
        // whose second byte happens to be its length does not.
        let off = Ctx::client(6, 40000, 8080);
        assert!(iec104(&off, &i).is_match());
        let mut text = b"ht".to_vec();
        text.resize(0x74 + 2, b'b');
        assert_eq!(iec104(&off, &text), Probe::NoMatch);
    }
}
