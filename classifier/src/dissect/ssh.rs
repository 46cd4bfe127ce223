//! SSH (RFC 4253 §4.2): the identification string `SSH-protoversion-softwareversion` that both
//! sides send first. The banner (up to its CR LF) is reported as the flow's host, as nDPI does.

use super::{Ctx, Dissector, Hit, Probe, ids};

/// RFC 4253 §4.2: the identification line is at most 255 bytes including CR LF.
pub const MAX_BANNER_LEN: usize = 255;
const PREFIX: &[u8] = b"SSH-";

pub const DISSECTOR: Dissector = Dissector {
    name: "ssh",
    probe,
    tcp_ports: &[22, 2222],
    udp_ports: &[],
    reassemble: true,
    emits: &[ids::SSH],
};

pub fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.stream_start {
        return Probe::NoMatch;
    }
    match super::starts(data, PREFIX) {
        Probe::Match(()) => {}
        Probe::NeedMore => return Probe::NeedMore,
        Probe::NoMatch => return Probe::NoMatch,
    }
    // "SSH-2.0-" or "SSH-1.99-" (RFC 4253 §5.1 compatibility).
    let Some(nl) = data.iter().take(MAX_BANNER_LEN).position(|&b| b == b'\n') else {
        return if data.len() < MAX_BANNER_LEN {
            Probe::NeedMore
        } else {
            Probe::NoMatch
        };
    };
    let line = data.get(..nl).unwrap_or(&[]);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let ok = line.starts_with(b"SSH-2.0-")
        || line.starts_with(b"SSH-1.99-")
        || line.starts_with(b"SSH-1.5-");
    if !ok || !line.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        return Probe::NoMatch;
    }
    Probe::Match(Hit::with_host(ids::SSH, line))
}

#[doc(hidden)]
pub fn fuzz_entry(data: &[u8]) {
    let _ = probe(&Ctx::client(6, 40000, 22), data);
}

#[cfg(test)]
// Tests may index, unwrap and panic: a failure is the point.
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use crate::dissect::testutil::check_all_prefixes;

    /// The identification line OpenSSH 9.2p1 (Debian 12) sent on connect, recorded on lo.
    const OPENSSH: &[u8] = include_bytes!("../../testdata/ssh_client_banner.bin");

    #[test]
    fn openssh_all_prefixes() {
        let ctx = Ctx::client(6, 42006, 2222);
        check_all_prefixes(&ctx, OPENSSH, OPENSSH.len(), probe, |h| {
            assert_eq!(h.master, ids::SSH);
            assert!(h.host.starts_with(b"SSH-2.0-OpenSSH_9.2p1"));
            assert!(!h.host.ends_with(b"\r"));
        });
    }

    #[test]
    fn not_ssh() {
        let ctx = Ctx::client(6, 1, 22);
        assert_eq!(probe(&ctx, b"SSH-3.0-x\r\n"), Probe::NoMatch);
        assert_eq!(probe(&ctx, b"GET /"), Probe::NoMatch);
    }
}
