//! Nintendo Switch online play: UDP datagrams longer than 48 bytes starting `32 ab 98 64 02`
//! (nDPI `src/lib/protocols/nintendo.c`).

use nfguard_proto::AppId;

use super::{ANY, Ctx, Dissector, Hit, Probe, ids, starts};

pub const NINTENDO: AppId = ids::NINTENDO;
const MAGIC: &[u8] = &[0x32, 0xab, 0x98, 0x64, 0x02];
const MIN_LEN: usize = 49;

pub const DISSECTOR: Dissector = Dissector {
    name: "nintendo",
    probe,
    tcp_ports: &[],
    udp_ports: ANY,
    reassemble: false,
    emits: &[ids::NINTENDO],
};

pub fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.is_udp() || data.len() < MIN_LEN {
        return Probe::NoMatch;
    }
    match starts(data, MAGIC) {
        Probe::Match(()) => Probe::Match(Hit::proto(NINTENDO)),
        _ => Probe::NoMatch,
    }
}

#[doc(hidden)]
pub fn fuzz_entry(data: &[u8]) {
    let _ = probe(&Ctx::client(17, 50000, 50001), data);
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;

    #[test]
    fn magic_and_length() {
        let ctx = Ctx::client(17, 52119, 50251);
        let mut d = MAGIC.to_vec();
        d.resize(MIN_LEN, 0);
        assert!(probe(&ctx, &d).is_match());
        assert_eq!(probe(&ctx, &d[..MIN_LEN - 1]), Probe::NoMatch);
        d[4] = 3;
        assert_eq!(probe(&ctx, &d), Probe::NoMatch);
    }
}
