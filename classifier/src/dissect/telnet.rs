//! Telnet: IAC option negotiation at the stream start (RFC 854/855: IAC = 0xFF,
//! WILL/WONT/DO/DONT 0xFB–0xFE + option, SB … IAC SE). nDPI `src/lib/protocols/telnet.c` `search_iac`.

use super::{Ctx, Dissector, Hit, Probe, ids, proto_if};

pub const DISSECTOR: Dissector = Dissector {
    name: "telnet",
    probe: telnet,
    tcp_ports: &[23],
    udp_ports: &[],
    reassemble: false,
    emits: &[ids::TELNET],
};

const IAC: u8 = 0xff;
const SB: u8 = 0xfa;
const SE: u8 = 0xf0;
/// The first command must open a negotiation: SB or WILL/WONT/DO/DONT (nDPI `search_iac`:
/// command above 0xF9, not 0xFF).
const FIRST_CMD: std::ops::RangeInclusive<u8> = 0xfa..=0xfe;
/// Options nDPI accepts in the first negotiation (`payload[2] < 0x28`, the IANA telnet options
/// up to 39); later options may be anything.
const MAX_FIRST_OPTION: u8 = 0x27;
/// Bytes of the segment scanned for well-formed commands (nDPI scans the whole packet; the first
/// few commands decide just as well and keep the probe bounded).
const MAX_SCAN: usize = 64;
/// Away from port 23 one negotiation could be chance: ask for this many commands.
const MIN_COMMANDS_OFF_PORT: usize = 2;

fn telnet<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.stream_start {
        return Probe::NoMatch;
    }
    let first_ok = data.first().is_none_or(|&b| b == IAC)
        && data.get(1).is_none_or(|c| FIRST_CMD.contains(c))
        && data.get(2).is_none_or(|&o| o <= MAX_FIRST_OPTION);
    if !first_ok {
        return Probe::NoMatch;
    }
    if data.len() < 3 {
        return Probe::NeedMore;
    }
    let Some(commands) = count_commands(data.get(..MAX_SCAN.min(data.len())).unwrap_or(&[])) else {
        return Probe::NoMatch;
    };
    let needed = if ctx.has_port(23) {
        1
    } else {
        MIN_COMMANDS_OFF_PORT
    };
    proto_if(commands >= needed, ids::TELNET)
}

/// Counts the IAC commands in `buf`, `None` when an IAC is followed by something that is not a
/// command (RFC 854: 0xF0–0xFE, or 0xFF for an escaped data byte).
fn count_commands(buf: &[u8]) -> Option<usize> {
    let mut i = 0usize;
    let mut n = 0usize;
    let mut in_sb = false;
    while let Some(&b) = buf.get(i) {
        i = i.checked_add(1)?;
        if b != IAC {
            continue;
        }
        let Some(&cmd) = buf.get(i) else { break };
        i = i.checked_add(1)?;
        match cmd {
            IAC => {}
            SE if in_sb => {
                in_sb = false;
                n = n.checked_add(1)?;
            }
            SB if !in_sb => {
                in_sb = true;
                i = i.checked_add(1)?; // the option
            }
            0xfb..=0xfe if !in_sb => {
                n = n.checked_add(1)?;
                i = i.checked_add(1)?;
            }
            0xf1..=0xf9 if !in_sb => n = n.checked_add(1)?,
            _ => return None,
        }
    }
    Some(n)
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;
    use crate::dissect::testutil::check_all_prefixes;

    /// The first segment a Linux `telnet` client sends (DO SUPPRESS-GO-AHEAD, WILL TERMINAL-TYPE,
    /// WILL NAWS, WILL TSPEED, WILL LFLOW, WILL LINEMODE, WILL NEW-ENVIRON, DO STATUS,
    /// WILL XDISPLOC: RFC 858, 1091, 1073, 1079, 1372, 1184, 1572, 859, 1096).
    const TELNET_CLIENT: &[u8] = &[
        0xff, 0xfd, 0x03, 0xff, 0xfb, 0x18, 0xff, 0xfb, 0x1f, 0xff, 0xfb, 0x20, 0xff, 0xfb, 0x21,
        0xff, 0xfb, 0x22, 0xff, 0xfb, 0x27, 0xff, 0xfd, 0x05, 0xff, 0xfb, 0x23,
    ];

    #[test]
    fn telnet_negotiation_all_prefixes() {
        let ctx = Ctx::client(6, 1550, 23);
        check_all_prefixes(&ctx, TELNET_CLIENT, 3, telnet, |h| {
            assert_eq!(h.master, ids::TELNET)
        });
        // Off port 23 one command is not enough, two are.
        let off = Ctx::client(6, 1550, 2323);
        assert_eq!(telnet(&off, &TELNET_CLIENT[..3]), Probe::NoMatch);
        assert!(telnet(&off, &TELNET_CLIENT[..6]).is_match());
        // A subnegotiation (NAWS 80x32) counts once it is closed by IAC SE.
        let sb = [
            0xff, 0xfa, 0x1f, 0x00, 0x50, 0x00, 0x20, 0xff, 0xf0, 0xff, 0xfd, 0x03,
        ];
        assert!(telnet(&off, &sb).is_match());
    }

    #[test]
    fn telnet_rejects_other_binary_starts() {
        let ctx = Ctx::client(6, 1550, 23);
        assert_eq!(
            telnet(&ctx, b"\xff\xff\xff\xff\x54\x53\x6f"),
            Probe::NoMatch
        );
        assert_eq!(telnet(&ctx, b"\xff\xfb\x80"), Probe::NoMatch);
        assert_eq!(telnet(&ctx, b"\xff\xfd\x03\xff\x10"), Probe::NoMatch);
        assert_eq!(telnet(&ctx, b"login: "), Probe::NoMatch);
    }
}
