//! Ether-S-I/O (Saia-Burgess PCD's S-Bus over UDP, Saia "Ether-S-IO" header: `ESIO`, a zero
//! byte, the message type, a zero byte, …). nDPI `src/lib/protocols/ethersio.c`: a UDP datagram
//! of at least 20 bytes, on any port, starting `ESIO 00`, a type up to 2, then `00`.

use super::{ANY, Ctx, Dissector, Hit, Probe, at, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "ethersio",
    probe,
    tcp_ports: &[],
    udp_ports: ANY,
    reassemble: false,
    emits: &[ids::ETHERSIO],
};

const MIN_LEN: usize = 20;
const MAX_TYPE: u8 = 2;

fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    proto_if(
        ctx.is_udp()
            && data.len() >= MIN_LEN
            && data.starts_with(b"ESIO\x00")
            && at(data, 5) <= MAX_TYPE
            && at(data, 6) == 0,
        ids::ETHERSIO,
    )
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;

    /// A datagram to nDPI's conditions: `ESIO`, 0, type 1, 0, then 13 bytes of message.
    fn esio(ty: u8) -> Vec<u8> {
        let mut p = b"ESIO\x00".to_vec();
        p.extend([ty, 0]);
        p.extend([0x11; 13]);
        p
    }

    #[test]
    fn ethersio_types_0_to_2() {
        for ty in 0..=2 {
            assert_eq!(
                probe(&Ctx::client(17, 6060, 6060), &esio(ty)),
                Probe::Match(Hit::proto(ids::ETHERSIO))
            );
        }
        let p = esio(1);
        for n in 0..p.len() {
            assert_eq!(probe(&Ctx::client(17, 6060, 6060), &p[..n]), Probe::NoMatch);
        }
    }

    #[test]
    fn not_ethersio() {
        let ctx = Ctx::client(17, 6060, 6060);
        assert_eq!(probe(&ctx, &esio(3)), Probe::NoMatch);
        for (i, v) in [(4, 1), (6, 1), (0, b'e')] {
            let mut p = esio(0);
            p[i] = v;
            assert_eq!(probe(&ctx, &p), Probe::NoMatch, "byte {i} = {v}");
        }
        assert_eq!(probe(&Ctx::client(6, 6060, 6060), &esio(0)), Probe::NoMatch);
    }
}
