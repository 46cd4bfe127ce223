//! RADIUS (RFC 2865 §3, RFC 2866 §3): code, identifier, a 16-bit length equal to the datagram's
//! (20..=4096 bytes), then the 16-byte authenticator. nDPI's `src/lib/protocols/radius.c` checks
//! the same length and a code up to 13; the probe also wants a RADIUS port, as the length check
//! alone is a weak signature on arbitrary UDP.

use super::{Ctx, Dissector, Hit, Probe, at, be16, ids, proto_if};

/// Authentication and accounting, current (RFC 2865/2866) and pre-standard ports.
const PORTS: &[u16] = &[1812, 1813, 1645, 1646];

pub const DISSECTOR: Dissector = Dissector {
    name: "radius",
    probe,
    tcp_ports: &[],
    udp_ports: PORTS,
    reassemble: false,
    emits: &[ids::RADIUS],
};

/// RFC 2865 §3: "The minimum length is 20 and maximum length is 4096."
const MIN_LEN: usize = 20;
const MAX_LEN: usize = 4096;
/// Access-Request/Accept/Reject, Accounting-Request/Response (1–5), Access-Challenge (11),
/// Status-Server/-Client (12, 13; RFC 5997).
const CODES: [u8; 8] = [1, 2, 3, 4, 5, 11, 12, 13];

pub fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !PORTS.iter().any(|&p| ctx.has_port(p)) {
        return Probe::NoMatch;
    }
    let len = be16(data, 2).map(usize::from);
    proto_if(
        (MIN_LEN..=MAX_LEN).contains(&data.len())
            && CODES.contains(&at(data, 0))
            && len == Some(data.len()),
        ids::RADIUS,
    )
}

#[doc(hidden)]
pub fn fuzz_entry(data: &[u8]) {
    let _ = probe(&Ctx::client(17, 40000, 1812), data);
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

    /// RFC 2865 §7.1 example: Access-Request for user "nemo" (code 1, id 0, length 56), the
    /// authenticator, User-Name, User-Password, NAS-IP-Address 192.168.1.16, NAS-Port 3.
    const ACCESS_REQUEST: &[u8] = &[
        0x01, 0x00, 0x00, 0x38, 0x0f, 0x40, 0x3f, 0x94, 0x73, 0x97, 0x80, 0x57, 0xbd, 0x83, 0xd5,
        0xcb, 0x98, 0xf4, 0x22, 0x7a, 0x01, 0x06, 0x6e, 0x65, 0x6d, 0x6f, 0x02, 0x12, 0x0d, 0xbe,
        0x70, 0x8d, 0x93, 0xd4, 0x13, 0xce, 0x31, 0x96, 0xe4, 0x3f, 0x78, 0x2a, 0x0a, 0xee, 0x04,
        0x06, 0xc0, 0xa8, 0x01, 0x10, 0x05, 0x06, 0x00, 0x00, 0x00, 0x03,
    ];

    #[test]
    fn rfc_access_request() {
        let ctx = Ctx::client(17, 40000, 1812);
        assert_eq!(ACCESS_REQUEST.len(), 56);
        assert!(
            matches!(probe(&ctx, ACCESS_REQUEST), Probe::Match(h) if h.master.name() == "Radius")
        );
        // A datagram is whole: any truncation breaks the length field.
        for n in 0..ACCESS_REQUEST.len() {
            assert_eq!(probe(&ctx, &ACCESS_REQUEST[..n]), Probe::NoMatch, "{n}");
        }
        // Off the RADIUS ports the same bytes are not taken.
        assert_eq!(
            probe(&Ctx::client(17, 40000, 5000), ACCESS_REQUEST),
            Probe::NoMatch
        );
    }

    #[test]
    fn not_radius() {
        let ctx = Ctx::client(17, 40000, 1812);
        let mut bad_code = ACCESS_REQUEST.to_vec();
        bad_code[0] = 7;
        assert_eq!(probe(&ctx, &bad_code), Probe::NoMatch);
        // A DNS query to port 1812 whose id bytes happen to read as code 1.
        let dns = b"\x01\x00\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01";
        assert_eq!(probe(&ctx, dns), Probe::NoMatch);
    }
}
