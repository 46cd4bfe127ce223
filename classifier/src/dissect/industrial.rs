//! Industrial and IoT protocols: Modbus/TCP, DNP3, IEC 60870-5-104 and CoAP.
//!
//! Facts: Modbus Messaging on TCP/IP Implementation Guide v1.0b §3.1.3 (MBAP header: transaction
//! id, protocol id 0, length of unit id + PDU, unit id; function codes 1–127, exceptions | 0x80)
//! and nDPI `src/lib/protocols/modbus.c`; IEEE 1815 (DNP3) §9.2 (link header 0x05 0x64, length ≥ 5,
//! control, destination, source, CRC-16 poly 0x3D65) and nDPI `dnp3.c`; IEC 60870-5-104 §5
//! (APDU start 0x68, APDU length 4..=253, I/S/U control field formats) and nDPI
//! `iec60870-5-104.c`; RFC 7252 §3 (CoAP version 1, token length ≤ 8, code classes 0/2/4/5) and
//! nDPI `coap.c` (UDP 5683/5684 and 61616–61631).

use super::{Ctx, Dissector, Hit, Probe, at, be16, ids, proto_if};

// ---------------------------------------------------------------- Modbus/TCP

pub const MODBUS_DISSECTOR: Dissector = Dissector {
    name: "modbus",
    probe: modbus,
    tcp_ports: &[502],
    udp_ports: &[],
    reassemble: false,
};

/// MBAP header (7) + function code.
const MBAP_PDU: usize = 8;
/// Guide §4.1: the PDU is at most 253 bytes, so the MBAP length (unit id + PDU) is at most 254.
const MBAP_MAX_LEN: u16 = 254;

fn modbus<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    // Protocol id 0 and a matching length are only 4 bytes of signature: keep to port 502.
    if !MODBUS_DISSECTOR.likely(ctx) || data.len() < MBAP_PDU {
        return Probe::NoMatch;
    }
    let len = be16(data, 4).unwrap_or(0);
    let function = at(data, 7) & 0x7f;
    proto_if(
        be16(data, 2) == Some(0)
            && (2..=MBAP_MAX_LEN).contains(&len)
            && usize::from(len).checked_add(6) == Some(data.len())
            && function != 0,
        ids::MODBUS,
    )
}

// ---------------------------------------------------------------- DNP3

pub const DNP3_DISSECTOR: Dissector = Dissector {
    name: "dnp3",
    probe: dnp3,
    tcp_ports: &[20000],
    udp_ports: &[20000],
    reassemble: false,
};

/// Link header: start (2), length, control, destination (2), source (2), CRC (2).
const DNP3_HEADER: usize = 10;
/// The length counts control, addresses and user data (without CRCs): at least 5.
const DNP3_MIN_LEN: u8 = 5;
/// IEEE 1815 Annex E: CRC-16-DNP, polynomial 0x3D65 bit-reversed, result complemented.
const DNP3_CRC_POLY: u16 = 0xa6bc;

fn dnp3<'a>(_ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    match super::starts(data, b"\x05\x64") {
        Probe::Match(()) => {}
        Probe::NeedMore => return Probe::NeedMore,
        Probe::NoMatch => return Probe::NoMatch,
    }
    let Some(header) = data.get(..DNP3_HEADER) else {
        return Probe::NeedMore;
    };
    let body = header.get(..8).unwrap_or(&[]);
    let stored = u16::from_le_bytes([at(header, 8), at(header, 9)]);
    proto_if(
        at(header, 2) >= DNP3_MIN_LEN && dnp3_crc(body) == stored,
        ids::DNP3,
    )
}

fn dnp3_crc(bytes: &[u8]) -> u16 {
    let mut crc = 0u16;
    for &b in bytes {
        crc ^= u16::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ DNP3_CRC_POLY
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

// ---------------------------------------------------------------- IEC 60870-5-104

pub const IEC104_DISSECTOR: Dissector = Dissector {
    name: "iec60870",
    probe: iec104,
    tcp_ports: &[2404],
    udp_ports: &[],
    reassemble: false,
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
            len > IEC104_MIN_LEN
                && at(data, 4) & 0x01 == 0
                && (IEC104_DISSECTOR.likely(ctx) || asdu_ok)
        }
    };
    proto_if(format_ok, ids::IEC60870)
}

// ---------------------------------------------------------------- CoAP

pub const COAP_DISSECTOR: Dissector = Dissector {
    name: "coap",
    probe: coap,
    tcp_ports: &[],
    udp_ports: &[5683, 5684],
    reassemble: false,
};

/// nDPI `coap.c`: the ports besides 5683/5684 it accepts (a vendor's range).
const COAP_PORT_RANGE: std::ops::RangeInclusive<u16> = 61616..=61631;
const COAP_HEADER: usize = 4;
const COAP_MAX_TOKEN: u8 = 8;

fn coap<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    let port_ok = COAP_DISSECTOR.likely(ctx)
        || COAP_PORT_RANGE.contains(&ctx.client_port)
        || COAP_PORT_RANGE.contains(&ctx.server_port);
    if !ctx.is_udp() || !port_ok || data.len() < COAP_HEADER {
        return Probe::NoMatch;
    }
    let b0 = at(data, 0);
    let (version, tkl) = (b0 >> 6, b0 & 0x0f);
    let code = at(data, 1);
    let (class, detail) = (code >> 5, code & 0x1f);
    // Class 0: empty (0.00) or a method 0.01–0.07 (RFC 7252 §12.1.1, RFC 8132); responses 2.xx,
    // 4.xx, 5.xx.
    let code_ok = match class {
        0 => detail <= 7,
        2 | 4 | 5 => true,
        _ => false,
    };
    // An empty message is exactly the header (§4.1).
    let empty_ok = code != 0 || (tkl == 0 && data.len() == COAP_HEADER);
    let token_fits = usize::from(tkl)
        .checked_add(COAP_HEADER)
        .is_some_and(|n| n <= data.len());
    proto_if(
        version == 1 && tkl <= COAP_MAX_TOKEN && code_ok && empty_ok && token_fits,
        ids::COAP,
    )
}

#[doc(hidden)]
pub fn fuzz_entry(data: &[u8]) {
    for ctx in [
        Ctx::client(6, 2074, 502),
        Ctx::client(6, 2789, 20000),
        Ctx::client(6, 2789, 2404),
        Ctx::client(17, 46819, 5683),
    ] {
        let _ = modbus(&ctx, data);
        let _ = dnp3(&ctx, data);
        let _ = iec104(&ctx, data);
        let _ = coap(&ctx, data);
    }
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
    use crate::dissect::testutil::check_all_prefixes;

    #[test]
    fn modbus_read_holding_registers() {
        // Guide §4.2 shape: transaction 0x00d1, protocol 0, length 6, unit 1, function 3
        // (Read Holding Registers), start 1, quantity 1; the answer: length 5, 1 register.
        let ctx = Ctx::client(6, 2074, 502);
        let req = [0x00, 0xd1, 0, 0, 0, 6, 1, 3, 0, 1, 0, 1];
        assert!(matches!(modbus(&ctx, &req), Probe::Match(h) if h.master.name() == "Modbus"));
        let resp = [0x00, 0xd1, 0, 0, 0, 5, 1, 3, 2, 0, 0];
        assert!(modbus(&ctx, &resp).is_match());
        assert_eq!(modbus(&ctx, &req[..11]), Probe::NoMatch);
        assert_eq!(modbus(&Ctx::client(6, 2074, 8502), &req), Probe::NoMatch);
    }

    #[test]
    fn not_modbus() {
        let ctx = Ctx::client(6, 2074, 502);
        assert_eq!(
            modbus(&ctx, &[0, 0xd1, 0, 1, 0, 6, 1, 3, 0, 1, 0, 1]),
            Probe::NoMatch
        );
        assert_eq!(modbus(&ctx, b"GET / HTTP/1.1\r\n"), Probe::NoMatch);
    }

    /// DNP3 REQUEST LINK STATUS from master 1 to outstation 1024 (IEEE 1815 §9.2.4.1.3: length 5,
    /// control 0xC9), with its header CRC.
    const DNP3_LINK_STATUS: &[u8] = &[0x05, 0x64, 0x05, 0xc9, 0x01, 0x00, 0x00, 0x04, 0xa6, 0x57];

    #[test]
    fn dnp3_link_header_all_prefixes() {
        let ctx = Ctx::client(6, 2789, 20000);
        check_all_prefixes(&ctx, DNP3_LINK_STATUS, DNP3_HEADER, dnp3, |h| {
            assert_eq!(h.master.name(), "DNP3")
        });
        let mut bad = DNP3_LINK_STATUS.to_vec();
        bad[8] ^= 1;
        assert_eq!(dnp3(&ctx, &bad), Probe::NoMatch);
        assert_eq!(dnp3(&ctx, b"\x16\x03\x01"), Probe::NoMatch);
    }

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

    #[test]
    fn coap_get_and_ack() {
        let ctx = Ctx::client(17, 46819, 5683);
        // RFC 7252 Figure 16 shape: CON GET, token 0x71, Uri-Path "temperature".
        let get = b"\x41\x01\x7d\x34\x71\xbbtemperature";
        assert!(matches!(coap(&ctx, get), Probe::Match(h) if h.master.name() == "COAP"));
        // Empty ACK (4 bytes) and a 2.05 Content piggy-backed response.
        assert!(coap(&ctx, b"\x60\x00\x7d\x34").is_match());
        assert!(coap(&ctx, b"\x61\x45\x7d\x34\x71\xff22.5 C").is_match());
        assert_eq!(coap(&Ctx::client(17, 46819, 5000), get), Probe::NoMatch);
    }

    #[test]
    fn not_coap() {
        let ctx = Ctx::client(17, 46819, 5683);
        assert_eq!(coap(&ctx, b"\x49\x01\x00\x01abcdefgh"), Probe::NoMatch); // token 9
        assert_eq!(coap(&ctx, b"\x81\x01\x00\x01"), Probe::NoMatch); // version 2
        assert_eq!(coap(&ctx, b"\x40\x61\x00\x01"), Probe::NoMatch); // class 3
        assert_eq!(coap(&ctx, b"\x48\x01\x00\x01ab"), Probe::NoMatch); // token past the end
    }
}
