//! FIX (Financial Information eXchange, FIX Trading Community; tag=value messages starting with
//! `8=BeginString`). nDPI `src/lib/protocols/fix.c`: a TCP segment of more than 5 bytes, on any
//! port, starting `8=FIX.` (FIX.4.x; not FIXT.1.1, which nDPI leaves alone too) or `8=O\x019=` (nDPI's second pattern, kept as
//! it is).

use super::{ANY, Ctx, Dissector, Hit, Probe, ids, starts};

pub const DISSECTOR: Dissector = Dissector {
    name: "fix",
    probe,
    tcp_ports: ANY,
    udp_ports: &[],
    reassemble: false,
    emits: &[ids::FIX],
};

const PATTERNS: &[&[u8; 6]] = &[b"8=FIX.", b"8=O\x019="];

fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.is_tcp() {
        return Probe::NoMatch;
    }
    let mut answer = Probe::NoMatch;
    for pat in PATTERNS {
        match starts(data, *pat) {
            Probe::Match(()) => return Probe::Match(Hit::proto(ids::FIX)),
            Probe::NeedMore if ctx.stream_start => answer = Probe::NeedMore,
            _ => {}
        }
    }
    answer
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;
    use crate::dissect::testutil::{check_all_prefixes, server};

    /// A FIX 4.4 Logon (MsgType A), SOH-separated, as the FIX 4.4 spec Vol. 2 lays it out.
    const LOGON: &[u8] = b"8=FIX.4.4\x019=65\x0135=A\x0149=CLIENT\x0156=BROKER\x0134=1\x0152=20260101-00:00:00\x0198=0\x01108=30\x0110=062\x01";

    #[test]
    fn fix_logon_both_directions() {
        check_all_prefixes(&Ctx::client(6, 40000, 9876), LOGON, 6, probe, |h| {
            assert_eq!(h.master, ids::FIX)
        });
        assert!(probe(&server(6, 9876), b"8=FIX.4.2\x019=70\x0135=A\x01").is_match());
        assert!(probe(&server(6, 9876), b"8=O\x019=12\x01").is_match());
    }

    #[test]
    fn not_fix() {
        let ctx = Ctx::client(6, 40000, 9876);
        assert_eq!(probe(&ctx, b"8=FIZ.4.4\x01"), Probe::NoMatch);
        assert_eq!(probe(&ctx, b"8=FIXT.1.1\x01"), Probe::NoMatch);
        assert_eq!(probe(&ctx, b"9=FIX.4.4\x01"), Probe::NoMatch);
        assert_eq!(probe(&Ctx::client(17, 40000, 9876), LOGON), Probe::NoMatch);
        let mid = Ctx {
            stream_start: false,
            ..ctx
        };
        assert_eq!(probe(&mid, b"8=FI"), Probe::NoMatch);
    }
}
