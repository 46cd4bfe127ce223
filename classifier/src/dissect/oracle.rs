//! Oracle TNS (Transparent Network Substrate: an 8-byte header — packet length, packet
//! checksum, type, flags, header checksum — on the listener port 1521). nDPI
//! `src/lib/protocols/oracle.c`: on port 1521, a segment starting `07 ff 00`, or one of at least
//! 232 bytes whose length field is below 512 with a nonzero low byte and a zero packet checksum
//! (a Connect with its descriptor); on any port, a 213-byte segment starting `00 d5 00 00` (a
//! TNS packet of exactly that length).

use super::{Ctx, Dissector, Hit, Probe, at, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "oracle",
    probe,
    tcp_ports: &[LISTENER_PORT],
    udp_ports: &[],
    reassemble: false,
    emits: &[ids::ORACLE],
};

const LISTENER_PORT: u16 = 1521;
const CONNECT_MIN_LEN: usize = 232;
const FIXED_LEN: usize = 213;

fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.is_tcp() || data.len() < 4 {
        return Probe::NoMatch;
    }
    let on_port = DISSECTOR.likely(ctx)
        && (data.starts_with(&[0x07, 0xff, 0x00])
            || (data.len() >= CONNECT_MIN_LEN
                && at(data, 0) <= 1
                && at(data, 1) != 0
                && at(data, 2) == 0
                && at(data, 3) == 0));
    proto_if(
        on_port || (data.len() == FIXED_LEN && data.starts_with(&[0x00, 0xd5, 0x00, 0x00])),
        ids::ORACLE,
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

    /// A TNS Connect (type 1) of `len` bytes: length, packet checksum 0, type 1, flags 0, header
    /// checksum 0, version 314, …, then a connect descriptor padding it out.
    fn connect(len: usize) -> Vec<u8> {
        let mut p = u16::try_from(len).unwrap().to_be_bytes().to_vec();
        p.extend([0, 0, 1, 0, 0, 0, 0x01, 0x3a, 0x01, 0x2c]);
        let desc = b"(DESCRIPTION=(CONNECT_DATA=(SERVICE_NAME=ORCL)(CID=(PROGRAM=sqlplus)))(ADDRESS=(PROTOCOL=TCP)(HOST=10.0.0.5)(PORT=1521)))";
        p.extend(desc.iter().cycle().take(len - p.len()));
        p
    }

    #[test]
    fn tns_connect_on_1521_and_213_anywhere() {
        let ctx = Ctx::client(6, 40000, 1521);
        assert_eq!(
            probe(&ctx, &connect(260)),
            Probe::Match(Hit::proto(ids::ORACLE))
        );
        assert!(probe(&ctx, &[0x07, 0xff, 0x00, 0x10, 0x20]).is_match());
        assert!(probe(&Ctx::client(6, 40000, 51521), &connect(FIXED_LEN)).is_match());
        // Every prefix of a Connect below nDPI's 232 bytes is refused.
        let c = connect(260);
        for n in 0..c.len() {
            assert_eq!(probe(&ctx, &c[..n]).is_match(), n >= CONNECT_MIN_LEN, "{n}");
        }
    }

    #[test]
    fn not_tns() {
        let ctx = Ctx::client(6, 40000, 1521);
        // Off 1521, a length of 512 or more, a nonzero packet checksum, a 214-byte 00 d5 packet.
        assert_eq!(
            probe(&Ctx::client(6, 40000, 1522), &connect(260)),
            Probe::NoMatch
        );
        assert_eq!(probe(&ctx, &connect(600)), Probe::NoMatch);
        let mut sum = connect(260);
        sum[3] = 1;
        assert_eq!(probe(&ctx, &sum), Probe::NoMatch);
        let mut long = connect(FIXED_LEN);
        long.push(0);
        assert_eq!(probe(&Ctx::client(6, 40000, 51521), &long), Probe::NoMatch);
    }
}
