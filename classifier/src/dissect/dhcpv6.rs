//! DHCPv6 (RFC 8415 §8): message type 1–13 and a 3-byte transaction id on UDP 546/547, followed
//! by well-formed options.

use super::{Ctx, Dissector, Hit, Probe, Reader, ids};

const CLIENT_PORT: u16 = 546;
const SERVER_PORT: u16 = 547;

pub const DISSECTOR: Dissector = Dissector {
    name: "dhcpv6",
    probe,
    tcp_ports: &[],
    udp_ports: &[CLIENT_PORT, SERVER_PORT],
    reassemble: false,
    emits: &[ids::DHCPV6],
};

pub fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !(ctx.has_port(CLIENT_PORT) && ctx.has_port(SERVER_PORT)) {
        return Probe::NoMatch;
    }
    let mut r = Reader::new(data);
    let Some(ty) = r.u8() else {
        return Probe::NoMatch;
    };
    if !(1..=13).contains(&ty) || r.skip(3).is_none() {
        return Probe::NoMatch;
    }
    // Options: code(2) len(2) value; they must tile the rest exactly.
    for _ in 0..64 {
        if r.is_empty() {
            return Probe::Match(Hit::proto(ids::DHCPV6));
        }
        if r.u16().is_none() || r.vec16().is_none() {
            return Probe::NoMatch;
        }
    }
    Probe::NoMatch
}

#[doc(hidden)]
pub fn fuzz_entry(data: &[u8]) {
    let _ = probe(&Ctx::client(17, 546, 547), data);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solicit() {
        // SOLICIT, xid 0x123456, option ELAPSED_TIME (8) = 0.
        let p = [1u8, 0x12, 0x34, 0x56, 0, 8, 0, 2, 0, 0];
        let ctx = Ctx::client(17, 546, 547);
        assert!(probe(&ctx, &p).is_match());
        assert_eq!(probe(&ctx, &p[..9]), Probe::NoMatch);
        assert_eq!(probe(&Ctx::client(17, 546, 548), &p), Probe::NoMatch);
    }
}
