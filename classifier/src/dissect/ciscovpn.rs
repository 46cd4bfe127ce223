//! Cisco VPN client over UDP (IPsec/UDP encapsulation on port 10000). nDPI
//! `src/lib/protocols/ciscovpn.c`: a datagram between port 10000 on both sides that starts with
//! `fe 57 7e 2b`.

use super::{Ctx, Dissector, Hit, Probe, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "ciscovpn",
    probe,
    tcp_ports: &[],
    udp_ports: &[CISCO_VPN_PORT],
    reassemble: false,
    emits: &[ids::CISCOVPN],
};

const CISCO_VPN_PORT: u16 = 10000;
const PREFIX: [u8; 4] = [0xfe, 0x57, 0x7e, 0x2b];

pub fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    proto_if(
        ctx.is_udp()
            && ctx.client_port == CISCO_VPN_PORT
            && ctx.server_port == CISCO_VPN_PORT
            && data.starts_with(&PREFIX),
        ids::CISCOVPN,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_between_ports_10000() {
        let ctx = Ctx::client(17, 10000, 10000);
        assert!(probe(&ctx, &[0xfe, 0x57, 0x7e, 0x2b]).is_match());
        assert!(probe(&ctx, &[0xfe, 0x57, 0x7e, 0x2b, 0, 1, 2, 3]).is_match());
        let reply = Ctx {
            from_client: false,
            ..ctx
        };
        assert!(probe(&reply, &[0xfe, 0x57, 0x7e, 0x2b, 9]).is_match());
    }

    #[test]
    fn shapes_it_refuses() {
        let q = [0xfe, 0x57, 0x7e, 0x2b, 0, 1];
        // One side on another port, TCP, a shorter or different prefix.
        assert_eq!(probe(&Ctx::client(17, 40000, 10000), &q), Probe::NoMatch);
        assert_eq!(probe(&Ctx::client(6, 10000, 10000), &q), Probe::NoMatch);
        let ctx = Ctx::client(17, 10000, 10000);
        assert_eq!(probe(&ctx, &q[..3]), Probe::NoMatch);
        assert_eq!(probe(&ctx, &[0xfe, 0x57, 0x7e, 0x2c]), Probe::NoMatch);
    }
}
