//! CoAP: RFC 7252 §3 (version 1, token length ≤ 8, code classes 0/2/4/5) on UDP 5683/5684 and
//! 61616–61631. nDPI `src/lib/protocols/coap.c`.

use super::{Ctx, Dissector, Hit, Probe, at, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "coap",
    probe: coap,
    tcp_ports: &[],
    udp_ports: &[5683, 5684],
    reassemble: false,
    emits: &[ids::COAP],
};

/// nDPI `coap.c`: the ports besides 5683/5684 it accepts (a vendor's range).
const COAP_PORT_RANGE: std::ops::RangeInclusive<u16> = 61616..=61631;
const COAP_HEADER: usize = 4;
const COAP_MAX_TOKEN: u8 = 8;

fn coap<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    let port_ok = DISSECTOR.likely(ctx)
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
