//! Teredo (RFC 4380): IPv6 over UDP port 3544; nDPI (`src/lib/protocols/teredo.c`) accepts any
//! datagram to or from 3544 that can hold an IPv6 header (40 bytes). nDPI also excludes IPv4
//! multicast destinations, which never reach the engine as a server address here.

use nfguard_proto::AppId;

use super::{Ctx, Dissector, Hit, Probe, ids, proto_if};

pub const TEREDO: AppId = ids::TEREDO;
const PORT: u16 = 3544;
const IPV6_HEADER_LEN: usize = 40;

pub const DISSECTOR: Dissector = Dissector {
    name: "teredo",
    probe,
    tcp_ports: &[],
    udp_ports: &[PORT],
    reassemble: false,
    emits: &[ids::TEREDO],
};

pub fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    proto_if(
        ctx.is_udp() && ctx.has_port(PORT) && data.len() >= IPV6_HEADER_LEN,
        TEREDO,
    )
}

#[doc(hidden)]
pub fn fuzz_entry(data: &[u8]) {
    let _ = probe(&Ctx::client(17, 52513, PORT), data);
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    #[test]
    fn port_and_length() {
        let d = [0x60u8; IPV6_HEADER_LEN];
        assert!(probe(&Ctx::client(17, 52513, PORT), &d).is_match());
        assert_eq!(
            probe(&Ctx::client(17, 52513, PORT), &d[..39]),
            Probe::NoMatch
        );
        assert_eq!(probe(&Ctx::client(17, 52513, 3545), &d), Probe::NoMatch);
        assert_eq!(probe(&Ctx::client(6, 52513, PORT), &d), Probe::NoMatch);
    }
}
