//! CrossFire over UDP. nDPI `src/lib/protocols/crossfire.c`: a 25-byte datagram with
//! `c7 d9 19 99` at 0, `02 00` at 4 and `7d 00` at 22, on any port. (Its TCP check, a
//! `GET /notice/login_…/index.asp` to a `crossfire…` host, is a web page request the HTTP
//! dissector and host list already name.)

use super::{ANY, Ctx, Dissector, Hit, Probe, be16, be32, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "crossfire",
    probe,
    tcp_ports: &[],
    udp_ports: ANY,
    reassemble: false,
    emits: &[ids::CROSSFIRE],
};

const LEN: usize = 25;
const MAGIC: u32 = 0xc7d9_1999;
const AT_4: u16 = 0x0200;
const AT_22: u16 = 0x7d00;

fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    let found = ctx.is_udp()
        && data.len() == LEN
        && be32(data, 0) == Some(MAGIC)
        && be16(data, 4) == Some(AT_4)
        && be16(data, 22) == Some(AT_22);
    proto_if(found, ids::CROSSFIRE)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    /// Built from nDPI crossfire.c's three fields.
    fn datagram() -> Vec<u8> {
        let mut p = MAGIC.to_be_bytes().to_vec();
        p.extend(AT_4.to_be_bytes());
        p.resize(22, 0x33);
        p.extend(AT_22.to_be_bytes());
        p.push(0x01);
        p
    }

    #[test]
    fn udp_fields() {
        let c = Ctx::client(17, 50000, 47123);
        assert_eq!(
            probe(&c, &datagram()),
            Probe::Match(Hit::proto(ids::CROSSFIRE))
        );
        for n in 0..LEN {
            assert_eq!(probe(&c, &datagram()[..n]), Probe::NoMatch, "{n}");
        }
        for i in [0, 5, 22] {
            let mut p = datagram();
            p[i] ^= 1;
            assert_eq!(probe(&c, &p), Probe::NoMatch, "byte {i}");
        }
        assert_eq!(
            probe(&Ctx::client(6, 50000, 47123), &datagram()),
            Probe::NoMatch
        );
    }
}
