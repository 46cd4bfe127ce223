//! NFS and its ONC RPC helpers (nDPI `src/lib/protocols/nfs.c`): an RPC call (RFC 5531 §9:
//! xid, msg_type 0 = CALL, rpcvers 2, program, version ≤ 4) to program 100003 (NFS), 100005
//! (mountd) or 100000 (portmapper), at least 40 bytes; over TCP after the 4-byte record marker
//! whose last-fragment bit is set and whose length is the rest of the segment.

use nfguard_proto::AppId;

use super::{Ctx, Dissector, Hit, Probe, be32, ids, proto_if};

pub const NFS: AppId = ids::NFS;
const MIN_LEN: usize = 40;
const PROGRAMS: [u32; 3] = [100_003, 100_005, 100_000];
const MAX_VERSION: u32 = 4;
const LAST_FRAGMENT: u32 = 0x8000_0000;

pub const DISSECTOR: Dissector = Dissector {
    name: "nfs",
    probe,
    tcp_ports: &[2049, 111],
    udp_ports: &[2049, 111],
    reassemble: false,
    emits: &[ids::NFS],
};

/// Either direction: the caller is whoever sends the CALL (msg_type 0), and a server calling back
/// (NLM, or mountd answered from a low port) starts its own flow from the "server" side; nDPI
/// `nfs.c` has no direction test either.
pub fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    let off = if ctx.is_tcp() { 4 } else { 0 };
    if data.len() < MIN_LEN.saturating_add(off) {
        return Probe::NoMatch;
    }
    if off != 0 {
        let marker = u32::try_from(data.len().saturating_sub(4))
            .ok()
            .and_then(|n| n.checked_add(LAST_FRAGMENT));
        if be32(data, 0) != marker {
            return Probe::NoMatch;
        }
    }
    let word = |i: usize| be32(data, off.saturating_add(i));
    let call = word(4) == Some(0) && word(8) == Some(2);
    let program = word(12).is_some_and(|p| PROGRAMS.contains(&p));
    let version = word(16).is_some_and(|v| v <= MAX_VERSION);
    proto_if(call && program && version, NFS)
}

#[doc(hidden)]
pub fn fuzz_entry(data: &[u8]) {
    let _ = probe(&Ctx::client(17, 1048, 2049), data);
    let _ = probe(&Ctx::client(6, 1048, 2049), data);
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    fn call(program: u32, version: u32) -> Vec<u8> {
        let mut v = Vec::new();
        for w in [0x1234_5678, 0, 2, program, version, 1] {
            v.extend(u32::to_be_bytes(w));
        }
        v.resize(64, 0);
        v
    }

    #[test]
    fn calls_from_the_low_port_side() {
        // nDPI's nfsv3.pcap: mountd (100005 v3) called from port 706 to 1048, so the flow's
        // "server" (the lower port) is the caller.
        let ctx = Ctx {
            from_client: false,
            ..Ctx::client(17, 1048, 706)
        };
        assert!(probe(&ctx, &call(100_005, 3)).is_match());
        // A reply (msg_type 1) is not a call.
        let mut reply = call(100_005, 3);
        reply[7] = 1;
        assert_eq!(probe(&ctx, &reply), Probe::NoMatch);
    }

    #[test]
    fn rpc_calls_over_udp_and_tcp() {
        let udp = Ctx::client(17, 1048, 722);
        assert!(probe(&udp, &call(100_005, 3)).is_match());
        assert!(probe(&udp, &call(100_003, 3)).is_match());
        assert_eq!(probe(&udp, &call(100_021, 3)), Probe::NoMatch);
        assert_eq!(probe(&udp, &call(100_003, 5)), Probe::NoMatch);
        assert_eq!(probe(&udp, &call(100_003, 3)[..39]), Probe::NoMatch);
        let body = call(100_003, 3);
        let mut tcp = (0x8000_0000u32 + body.len() as u32).to_be_bytes().to_vec();
        tcp.extend(&body);
        assert!(probe(&Ctx::client(6, 900, 2049), &tcp).is_match());
        tcp[3] ^= 1;
        assert_eq!(probe(&Ctx::client(6, 900, 2049), &tcp), Probe::NoMatch);
    }
}
