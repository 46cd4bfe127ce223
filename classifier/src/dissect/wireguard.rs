//! WireGuard (whitepaper §5.4): handshake initiation, response and cookie messages, known by
//! type byte, zero reserved bytes and exact length. nDPI `src/lib/protocols/wireguard.c`.

use super::{Ctx, Dissector, Hit, Probe, at, hit, ids};

pub const DISSECTOR: Dissector = Dissector {
    name: "wireguard",
    probe: wireguard,
    tcp_ports: &[],
    udp_ports: &[51820, 0],
    reassemble: false,
    emits: &[ids::WIREGUARD],
};

fn wireguard<'a>(_ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    // Type byte then three reserved zero bytes; initiation is 148 bytes, response 92, cookie 64.
    if data.get(1..4) != Some(&[0, 0, 0]) {
        return Probe::NoMatch;
    }
    match (at(data, 0), data.len()) {
        (1, 148) | (2, 92) | (3, 64) => hit(ids::WIREGUARD),
        _ => Probe::NoMatch,
    }
}

#[cfg(test)]
// Tests may index: a failure is the point.
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn each_small_protocol_wireguard() {
        let u = |p| Ctx::client(17, 40000, p);
        let mut wg = vec![1u8, 0, 0, 0];
        wg.resize(148, 7);
        assert_eq!(wireguard(&u(51820), &wg), hit(ids::WIREGUARD));
        assert_eq!(wireguard(&u(51820), &wg[..147]), Probe::NoMatch);
    }
}
