//! Telegram (nDPI `src/lib/protocols/telegram.c`): MTProto over TCP to port 443, 80 or 25 whose
//! first byte is 0xef (the abridged transport tag) and whose second byte is 0x7f or a length
//! (in 4-byte words) that fits the segment, in segments longer than 56 bytes; and the voice
//! transport over UDP, from or to ports 500–600, whose first run of 0xff bytes is exactly 12
//! long, in datagrams of at least 40 bytes.

use nfguard_proto::AppId;

use super::{ANY, Ctx, Dissector, Hit, Probe, at, ids, proto_if};

pub const TELEGRAM: AppId = ids::TELEGRAM;
const ABRIDGED: u8 = 0xef;
const TCP_MIN_LEN: usize = 57;
const TCP_PORTS: [u16; 3] = [443, 80, 25];
const UDP_MIN_LEN: usize = 40;
const UDP_PORTS: std::ops::RangeInclusive<u16> = 500..=600;
const FF_RUN: usize = 12;

pub const DISSECTOR: Dissector = Dissector {
    name: "telegram",
    probe,
    tcp_ports: &TCP_PORTS,
    udp_ports: ANY,
    reassemble: false,
    emits: &[ids::TELEGRAM],
};

pub fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    let n = data.len();
    if ctx.is_tcp() {
        let fits = at(data, 1) == 0x7f || usize::from(at(data, 1)).saturating_mul(4) < n;
        let ok = ctx.from_client
            && ctx.stream_start
            && n >= TCP_MIN_LEN
            && at(data, 0) == ABRIDGED
            && TCP_PORTS.contains(&ctx.server_port)
            && fits;
        return proto_if(ok, TELEGRAM);
    }
    let ports = UDP_PORTS.contains(&ctx.client_port) || UDP_PORTS.contains(&ctx.server_port);
    if !ports || n < UDP_MIN_LEN {
        return Probe::NoMatch;
    }
    let run = data
        .iter()
        .skip_while(|&&b| b != 0xff)
        .take_while(|&&b| b == 0xff)
        .count();
    proto_if(run == FF_RUN, TELEGRAM)
}

#[doc(hidden)]
pub fn fuzz_entry(data: &[u8]) {
    let _ = probe(&Ctx::client(17, 23174, 536), data);
    let _ = probe(&Ctx::client(6, 40000, 443), data);
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    #[test]
    fn udp_voice_and_tcp_abridged() {
        let udp = Ctx::client(17, 23174, 536);
        let mut d = vec![0u8; 64];
        d[8..20].fill(0xff);
        assert!(probe(&udp, &d).is_match());
        assert_eq!(probe(&Ctx::client(17, 23174, 4000), &d), Probe::NoMatch);
        d[20] = 0xff; // a run of 13
        assert_eq!(probe(&udp, &d), Probe::NoMatch);
        d[20] = 0;
        assert_eq!(probe(&udp, &d[..39]), Probe::NoMatch);
        let tcp = Ctx::client(6, 40000, 443);
        let mut m = vec![0u8; 80];
        m[0] = ABRIDGED;
        m[1] = 0x10;
        assert!(probe(&tcp, &m).is_match());
        m[1] = 0x40; // 256 bytes announced in an 80-byte segment
        assert_eq!(probe(&tcp, &m), Probe::NoMatch);
        m[1] = 0x7f;
        assert!(probe(&tcp, &m).is_match());
        assert_eq!(probe(&Ctx::client(6, 40000, 8080), &m), Probe::NoMatch);
        assert_eq!(probe(&tcp, &m[..56]), Probe::NoMatch);
    }
}
