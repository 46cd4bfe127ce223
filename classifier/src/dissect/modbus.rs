//! Modbus/TCP: Modbus Messaging on TCP/IP Implementation Guide v1.0b §3.1.3 (MBAP header:
//! transaction id, protocol id 0, length of unit id + PDU, unit id; function codes 1–127,
//! exceptions | 0x80). nDPI `src/lib/protocols/modbus.c`.

use super::{Ctx, Dissector, Hit, Probe, at, be16, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "modbus",
    probe: modbus,
    tcp_ports: &[502],
    udp_ports: &[],
    reassemble: false,
    emits: &[ids::MODBUS],
};

/// MBAP header (7) + function code.
const MBAP_PDU: usize = 8;
/// Guide §4.1: the PDU is at most 253 bytes, so the MBAP length (unit id + PDU) is at most 254.
const MBAP_MAX_LEN: u16 = 254;

fn modbus<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    // Protocol id 0 and a matching length are only 4 bytes of signature: keep to port 502.
    if !DISSECTOR.likely(ctx) || data.len() < MBAP_PDU {
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
}
