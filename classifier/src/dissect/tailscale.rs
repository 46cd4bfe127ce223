//! Tailscale disco (tailscale `disco/disco.go`): the NAT-traversal messages peers exchange
//! beside their WireGuard traffic, each opening with the 6-byte magic `TS💬` before the sender's
//! disco key, nonce and sealed box. nDPI `src/lib/protocols/tailscale.c`: the magic and more
//! on UDP with 41641 (Tailscale's default port, KB 1082) on either side.

use super::{Ctx, Dissector, Hit, Probe, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "tailscale",
    probe,
    tcp_ports: &[],
    udp_ports: &[TAILSCALE_PORT],
    reassemble: false,
    emits: &[ids::TAILSCALE],
};

const TAILSCALE_PORT: u16 = 41641;
/// "TS" and U+1F4AC in UTF-8 (disco.go `Magic`).
const MAGIC: &[u8] = b"TS\xf0\x9f\x92\xac";

pub fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    proto_if(
        ctx.is_udp()
            && ctx.has_port(TAILSCALE_PORT)
            && data.len() > MAGIC.len()
            && data.starts_with(MAGIC),
        ids::TAILSCALE,
    )
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;
    use crate::dissect::testutil::server;

    /// A disco ping as disco.go lays it out: magic, 32-byte sender key, 24-byte nonce, then the
    /// sealed message (type 1 ping, version 0, 12-byte tx id, 32-byte node key, Poly1305 tag).
    fn ping() -> Vec<u8> {
        let mut p = MAGIC.to_vec();
        p.extend([0x11; 32]);
        p.extend([0x22; 24]);
        p.extend([0x33; 2 + 12 + 32 + 16]);
        p
    }

    #[test]
    fn disco_ping_both_directions_on_the_tailscale_port() {
        let p = ping();
        for ctx in [
            Ctx::client(17, 41641, 41641),
            server(17, 41641),
            Ctx::client(17, 41641, 3478),
        ] {
            assert!(probe(&ctx, &p).is_match(), "{ctx:?}");
        }
    }

    #[test]
    fn shapes_it_refuses() {
        let p = ping();
        // Another port on both sides (nDPI requires 41641), TCP, the magic alone, a changed byte.
        assert_eq!(probe(&Ctx::client(17, 40000, 41642), &p), Probe::NoMatch);
        assert_eq!(probe(&Ctx::client(6, 40000, 41641), &p), Probe::NoMatch);
        assert_eq!(probe(&Ctx::client(17, 40000, 41641), MAGIC), Probe::NoMatch);
        let mut bad = p.clone();
        bad[5] ^= 1;
        assert_eq!(probe(&Ctx::client(17, 40000, 41641), &bad), Probe::NoMatch);
        // WireGuard data on the same port is not disco.
        let mut wg = vec![4u8, 0, 0, 0];
        wg.extend([0x44; 60]);
        assert_eq!(probe(&Ctx::client(17, 40000, 41641), &wg), Probe::NoMatch);
    }
}
